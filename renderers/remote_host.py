"""How the deploy reaches the VM: the readiness check, the SSH endpoints, the default domain."""
from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Sequence

from renderers.names import LINUX_USER


# Bounds the wait for first boot (apt update plus the Docker install take minutes, not tens).
CLOUD_INIT_TIMEOUT_SECONDS = 1200

# Run over SSH before anything is deployed. `cloud-init status --wait` exits 1 when boot
# failed and, since cloud-init 23.4, 2 when it finished with only recoverable warnings
# (cloud-init's own docs advise treating only 1 as failure); `timeout` exits 124. `sg docker`
# starts a process with a fresh group list: this SSH session may predate cloud-init adding
# the user to the docker group; the docker provider's later sessions will have it.
HOST_READY_COMMAND = (
    f"{{ timeout {CLOUD_INIT_TIMEOUT_SECONDS} cloud-init status --wait --long || [ $? -eq 2 ]; }}"
    " && sg docker -c 'docker info'"
)


def _check(user: str, ip: str) -> None:
    if not LINUX_USER.fullmatch(user):
        raise ValueError(f"user: {user!r} is not a valid Linux user name")
    ipaddress.ip_address(ip)


def docker_host(user: str, ip: str) -> str:
    """The docker provider's ``host``: the engine on the VM, through the ssh client."""
    _check(user, ip)
    return f"ssh://{user}@{ip}"


def docker_ssh_opts(private_key_file: str) -> list[str]:
    """Extra ssh arguments for the docker provider while oci.hostKey is unset.

    ``accept-new`` trusts the VM's key on first contact and refuses a changed one later,
    so no interactive prompt stalls `pulumi up` and a swapped host is still caught. With
    oci.hostKey the target uses renderers/existing_host.docker_ssh_opts instead: only that key.
    The key path stays as configured (ssh expands a leading ``~`` itself), so the
    provider's config does not change when the stack is deployed from another machine.
    """
    return ["-o", "StrictHostKeyChecking=accept-new", "-o", "IdentitiesOnly=yes", "-i", private_key_file]


def ssh_command(user: str, ip: str, private_key_file: str) -> str:
    """A command to paste into a shell; a leading ``~/`` is left unquoted so the shell expands it."""
    _check(user, ip)
    if private_key_file.startswith("~/"):
        key = "~/" + shlex.quote(private_key_file[2:])
    else:
        key = shlex.quote(private_key_file)
    return f"ssh -i {key} {user}@{ip}"


def sslip_domain(ip: str) -> str:
    """``<ip-with-dashes>.sslip.io``: a public name for the IP, so ACME works without DNS of one's own."""
    if ipaddress.ip_address(ip).version != 4:
        raise ValueError(f"{ip!r} is not an IPv4 address")
    return f"{ip.replace('.', '-')}.sslip.io"


def authorized_keys_command(public_keys: Sequence[str]) -> str:
    """Make ``~/.ssh/authorized_keys`` hold exactly ``public_keys``, over an SSH session.

    OCI reads an instance's ``ssh_authorized_keys`` metadata only at first boot (cloud-init)
    and its provider forces a new instance when it changes, so keys are kept in step over
    SSH instead. The file is replaced atomically: a half-written file would lock everyone out.
    """
    if not public_keys:
        raise ValueError("at least one public key is needed, or nobody can log in")
    for key in public_keys:
        if "\n" in key or "\r" in key or not key.strip():
            raise ValueError(f"a public key is one non-empty line, got {key!r}")
    lines = " ".join(shlex.quote(key.strip()) for key in public_keys)
    return (
        "set -eu; umask 077; mkdir -p ~/.ssh; "
        'tmp=$(mktemp ~/.ssh/authorized_keys.XXXXXX); '
        f'printf "%s\\n" {lines} > "$tmp"; '
        'mv -f "$tmp" ~/.ssh/authorized_keys'
    )
