"""A trusted way to learn the OCI VM's SSH host key: the instance's own serial console, read over OCI's API.

At the first boot of every instance cloud-init generates the host keys (Ubuntu's cloud.cfg: ``ssh_deletekeys:
true``, ``ssh_genkeytypes: ['rsa', 'ecdsa', 'ed25519']``, config/cloud.cfg.tmpl:106-107@24.1.3) and its
keys_to_console module (cloud_final_modules, cloud.cfg.tmpl:212@24.1.3; PER_INSTANCE,
cloudinit/config/cc_keys_to_console.py:66) runs tools/write-ssh-key-fingerprints, whose stdout goes to
/dev/console (cc_keys_to_console.py:105-108, cloudinit/util.py:456-462 multi_log@24.1.3). That script prints
every ``/etc/ssh/ssh_host_*key.pub`` whose type is not in ``ssh_key_console_blacklist`` (default empty,
cc_keys_to_console.py:101-103) between two marker lines, each line the .pub file as it is
(tools/write-ssh-key-fingerprints:46-61@24.1.3; unchanged at 25.1.4):

    -----BEGIN SSH HOST KEY KEYS-----
    ecdsa-sha2-nistp256 AAAA... root@host
    ssh-ed25519 AAAA... root@host
    ssh-rsa AAAA... root@host
    -----END SSH HOST KEY KEYS-----

OCI keeps the serial console's output; CaptureConsoleHistory snapshots "up to a megabyte of the most recent
console history" and GetConsoleHistoryContent returns it (oci-cli services/core/src/oci_cli_compute/generated/
compute_cli.py:1010-1013@v3.89.3). The snapshot comes over the OCI API, authenticated and over TLS, not over the
network path to the VM that a man in the middle could sit on: what it shows is what the VM itself printed.

Limits: the block is printed once, at the end of the instance's first boot (keys_to_console comes after
scripts_user, i.e. runcmd: cloud.cfg.tmpl:209-212@24.1.3), minutes after the VM starts. The history holds only the last ~1 MB of
console output, so on a VM that has printed more since (many reboots, a chatty kernel) the block is gone and
the command says so instead of printing a key. A replaced VM (a new instance) prints a new block at its own
first boot.
"""
from __future__ import annotations

import re
import shlex

from renderers.existing_host import host_key_problem

KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"  # tools/write-ssh-key-fingerprints:54@24.1.3
KEYS_END = "-----END SSH HOST KEY KEYS-----"  # :60
# The type both SSH paths pin best (renderers/existing_host.HOST_KEY_TYPES); every sshd since OpenSSH 6.5 has one.
KEY_TYPE = "ssh-ed25519"
# Every ed25519 public key blob starts with the SSH string "ssh-ed25519" (RFC 8709 section 4) and the 32-byte key's
# length: base64 of 00 00 00 0b "ssh-ed25519" 00 00 00 20 is this prefix.
_ED25519_BLOB_PREFIX = "AAAAC3NzaC1lZDI1NTE5AAAAI"
# GetConsoleHistoryContent's length: the API refuses less than 10240 (its reference); a capture holds up to a
# megabyte, so 1 MiB asks for all of it.
CONSOLE_LENGTH = 1024 * 1024
# How long the capture may take to reach SUCCEEDED; oci-cli's default would be 1200 s (compute_cli.py:1024@v3.89.3).
CAPTURE_WAIT_SECONDS = 300

NOT_FOUND = (
    "No complete " + KEYS_BEGIN + " block with an " + KEY_TYPE + " key in the instance console history. "
    "cloud-init prints it once, at the end of the first boot of an instance (after its runcmd, minutes after the "
    "VM starts: try again later), and the history holds only the last ~1 MB of console output: on a VM that has "
    "printed more since, this cannot show the key. See the README, Pin the VM host key."
)

# POSIX awk (mawk, gawk, BSD awk): the serial console ends lines with CR LF; only a block with both markers counts
# (a block the 1 MB window cut into is ignored); the last such block wins (a later boot of the same instance
# does not print one: keys_to_console is PER_INSTANCE). Prints `ssh-ed25519 <base64>`, without the comment.
CONSOLE_KEY_AWK = (
    '{ sub(/\\r$/, "") } '
    f'index($0, "{KEYS_BEGIN}") {{ inside = 1; key = ""; next }} '
    f'index($0, "{KEYS_END}") {{ if (inside && key != "") found = key; inside = 0; next }} '
    f'inside && $1 == "{KEY_TYPE}" && index($2, "{_ED25519_BLOB_PREFIX}") == 1 {{ key = $1 " " $2 }} '
    f'END {{ if (found == "") {{ print "{NOT_FOUND}" > "/dev/stderr"; exit 1 }} print found }}'
)

_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]+")
_REGION = re.compile(r"[a-z]{2}-[a-z]+-\d")


def console_key_filter() -> str:
    """The text pipeline after the OCI CLI: console bytes on stdin, the ed25519 host key line on stdout."""
    return f"awk {shlex.quote(CONSOLE_KEY_AWK)}"


def host_key_command(instance_id: str, region: str) -> str:
    """One line to paste into a shell (sh, bash, zsh) with the OCI CLI configured: prints the VM's ed25519 host
    key as oci.hostKey takes it, read from the instance's serial console history.

    Every subcommand and flag is oci-cli's (v3.89.3):
    - ``oci compute console-history capture --instance-id`` (compute_cli.py:1010, :1015; the group is added to
      ``compute``, compute_cli_extended.py:267): CaptureConsoleHistory. ``--wait-for-state SUCCEEDED`` polls
      GetConsoleHistory until then (:1023, :1052-1063); past ``--max-wait-seconds`` (:1024) it prints the last
      state and exits 2 (:1064-1068), which ``&&`` stops at.
    - ``--query data.id --raw-output``: global options (cli_root.py:447, :453), which the root group takes after
      the subcommand too (allow_interspersed_args, cli_root.py:415); the response is rendered as
      ``{"data": <ConsoleHistory>}`` (cli_util.py render, :754-760) and a string result is printed bare
      (:795-796), so stdout is the console history's OCID.
    - ``oci compute console-history get-content`` (renamed from get-console-history-content,
      compute_cli_extended.py:268) ``--instance-console-history-id --length --file -`` (compute_cli.py:4788-4792):
      GetConsoleHistoryContent, whose data is written as it is to the file, ``-`` being stdout (:4790, :4808-4813).
    - ``--region`` (cli_root.py:438): the stack's region, whatever ~/.oci/config's profile names.
    """
    if not _INSTANCE_ID.fullmatch(instance_id):
        raise ValueError(f"instance_id: {instance_id!r} is not an OCID")
    if not _REGION.fullmatch(region):
        raise ValueError(f"region: {region!r} is not an OCI region name")
    capture = (
        f"oci compute console-history capture --region {region} --instance-id {shlex.quote(instance_id)} "
        f"--wait-for-state SUCCEEDED --max-wait-seconds {CAPTURE_WAIT_SECONDS} --query data.id --raw-output"
    )
    content = (
        f'oci compute console-history get-content --region {region} --instance-console-history-id "$history_id" '
        f"--length {CONSOLE_LENGTH} --file -"
    )
    return f"history_id=$({capture}) && {content} | {console_key_filter()}"


def printed_key_problem(line: str) -> str | None:
    """Why what the command printed cannot be oci.hostKey, or None (the tests hold the command to this)."""
    if not line.startswith(KEY_TYPE + " "):
        return f"expected an {KEY_TYPE} line"
    return host_key_problem(line)
