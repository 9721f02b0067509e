# Sourced by scripts/up and scripts/stack: the environment a stack's `pulumi` commands need, set the same
# way for both, so a command the README gives after `scripts/up dev` works in a new shell too.
#
# The dev stack's secrets are generated for a laptop and never leave it: its passphrase is empty. The CLI
# reads it from PULUMI_CONFIG_PASSPHRASE (or _FILE) and, when neither is set and stdin or stdout is not a
# terminal (`> .env`), refuses to prompt (pkg/secrets/passphrase/manager.go, readPassphrase, v3.274.1), so
# an export inside scripts/up alone left `pulumi stack output ... > .env` failing afterwards.
stack_env() {
  case "$1" in
    dev)
      export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
      ;;
    prod)
      if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        echo "prod: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE); it encrypts the stack's secrets" >&2
        return 2
      fi
      ;;
    *)
      # Any other stack (an example's, say) is the user's own: their environment decides.
      ;;
  esac
}
