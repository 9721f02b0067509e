"""The stack output hostKeyCommand, run by real shells on a console history cloud-init's own script printed.

The block is printed by cloud-init's tools/write-ssh-key-fingerprints as Debian's cloud-init package installs it
(/usr/lib/cloud-init/write-ssh-key-fingerprints, the same text as at tag 24.1.3), over host keys `ssh-keygen`
made; it reaches the console as cc_keys_to_console.py:107-108@24.1.3 writes it (stdout stripped, one newline)
through a serial tty (LF becomes CR LF), between boot noise. A stand-in `oci` on PATH answers the two OCI CLI
calls as oci-cli would print them (see _FAKE_OCI). The printed key, set as oci.hostKey, then lets the docker
path's real ssh into a real sshd holding that host key and refuses one holding another.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from config import parse_stack_config
from renderers.existing_host import docker_ssh_opts
from renderers.oci_host_key import CONSOLE_LENGTH, NOT_FOUND, host_key_command, printed_key_problem
from tests import harness

from .sshd_process import docker_ssh_argv, keygen, public_line, run_ssh, running_sshd

INSTANCE_ID = "ocid1.instance.oc1.eu-frankfurt-1.antheljtexampleinstance"
HISTORY_ID = "ocid1.consolehistory.oc1.eu-frankfurt-1.antheljtexamplehistory"
REGION = "eu-frankfurt-1"
CLOUD_INIT_SCRIPT = Path("/usr/lib/cloud-init/write-ssh-key-fingerprints")
HOST_KEY_GLOB = "/etc/ssh/ssh_host_*key.pub"
TIMEOUT_S = 60

# oci-cli v3.89.3 as the command calls it. capture: the global --query/--raw-output print the bare OCID and a
# newline (cli_util.py:795-796), the wait notice goes to stderr (compute_cli.py:1062); past --max-wait-seconds it
# prints the same and exits 2 (:1064-1068). get-content: the content's bytes as they are, to stdout with
# `--file -` (:4813). Anything else is a usage error, exit 2, as click's.
_FAKE_OCI = f"""#!/bin/sh
echo "$*" >> "$OCI_CALLS"
capture="compute console-history capture --region {REGION} --instance-id {INSTANCE_ID} --wait-for-state SUCCEEDED \
--max-wait-seconds 300 --query data.id --raw-output"
content="compute console-history get-content --region {REGION} --instance-console-history-id {HISTORY_ID} \
--length {CONSOLE_LENGTH} --file -"
if [ "$*" = "$capture" ]; then
  echo "Action completed. Waiting until the resource has entered state: ('SUCCEEDED',)" >&2
  echo {HISTORY_ID}
  exit "${{OCI_CAPTURE_EXIT:-0}}"
elif [ "$*" = "$content" ]; then
  cat "$OCI_CONSOLE"
else
  echo "Error: No such command or options: $*" >&2
  exit 2
fi
"""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise AssertionError(f"{name} not found: scripts/install-test-binaries installs it")
    return found


@pytest.fixture(scope="module")
def host_keys(tmp_path_factory) -> Path:
    """The host keys cloud-init's cc_ssh generates on Ubuntu (ssh_genkeytypes rsa, ecdsa, ed25519)."""
    d = tmp_path_factory.mktemp("etc-ssh")
    for kind in ("rsa", "ecdsa", "ed25519"):
        subprocess.run(
            [_tool("ssh-keygen"), "-q", "-t", kind, "-N", "", "-C", "root@ampere", "-f", str(d / f"ssh_host_{kind}_key")],
            check=True, timeout=TIMEOUT_S,
        )  # fmt: skip
    return d


def cloud_init_block(keys: Path, tmp: Path, *, key_blacklist: str = "") -> str:
    """What cc_keys_to_console writes to the console: the script's stdout, stripped, plus a newline."""
    text = CLOUD_INIT_SCRIPT.read_text()
    # The script reads /etc/ssh only; this copy reads the test's keys, and nothing else in it changes.
    assert text.count(HOST_KEY_GLOB) == 2, "cloud-init's script changed: read it again"
    script = tmp / "write-ssh-key-fingerprints"
    script.write_text(text.replace(HOST_KEY_GLOB, f"{keys}/ssh_host_*key.pub"))
    # No syslog socket here, where util-linux's `logger -s` would print only its own error: a stand-in prints the
    # message to stderr as `logger -s -t cloud-init` does on the VM (the script sends stderr to stdout, :22).
    bin_dir = tmp / "logger-bin"
    bin_dir.mkdir(exist_ok=True)
    logger = bin_dir / "logger"
    logger.write_text('#!/bin/sh\nfor last; do :; done\necho "<14>Dec  2 07:00:01 cloud-init: $last" >&2\n')
    logger.chmod(0o755)
    # Its arguments as cc_keys_to_console.py:106 passes them: the fingerprint and key blacklists, comma-joined.
    out = subprocess.run(
        [_tool("sh"), str(script), "", key_blacklist], capture_output=True, text=True, check=True, timeout=TIMEOUT_S,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    ).stdout
    assert "-----BEGIN SSH HOST KEY FINGERPRINTS-----" in out and "(ED25519)" in out, out
    return out.strip() + "\n"


def serial(text: str) -> bytes:
    """A serial tty's output: onlcr turns every LF into CR LF."""
    return text.replace("\n", "\r\n").encode()


BOOT_NOISE = (
    "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x413fd0c1]\n"
    "[   12.345678] cloud-init[812]: Cloud-init v. 24.1.3-0ubuntu3 running 'modules:final'\n"
)
LOGIN_NOISE = "\nUbuntu 24.04 LTS ampere ttyAMA0\n\nampere login: "


def run_command(tmp: Path, console: bytes, *, shell: str = "sh", awk: str | None = None, capture_exit: int = 0):
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "oci"
    fake.write_text(_FAKE_OCI)
    fake.chmod(0o755)
    if awk is not None:
        (bin_dir / "awk").unlink(missing_ok=True)
        (bin_dir / "awk").symlink_to(awk)
    (tmp / "console").write_bytes(console)
    calls = tmp / "calls"
    calls.write_text("")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "OCI_CONSOLE": str(tmp / "console"),
        "OCI_CALLS": str(calls),
        "OCI_CAPTURE_EXIT": str(capture_exit),
    }
    result = subprocess.run(
        [_tool(shell), "-c", host_key_command(INSTANCE_ID, REGION)], capture_output=True, text=True, env=env, timeout=TIMEOUT_S
    )
    return result, calls.read_text().splitlines()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_prints_the_ed25519_key_cloud_init_printed(host_keys, tmp_path, shell):
    console = serial(BOOT_NOISE + cloud_init_block(host_keys, tmp_path) + LOGIN_NOISE)
    result, calls = run_command(tmp_path, console, shell=shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout == public_line(host_keys / "ssh_host_ed25519_key") + "\n"
    assert len(calls) == 2 and calls[0].startswith("compute console-history capture")
    # The block really holds all three types, the comment included: only the ed25519 line's first two fields are taken.
    block = cloud_init_block(host_keys, tmp_path)
    assert "-----BEGIN SSH HOST KEY KEYS-----" in block and "ssh-rsa " in block and "ecdsa-sha2-nistp256 " in block
    assert public_line(host_keys / "ssh_host_ed25519_key") + " root@ampere" in block


def test_busybox_awk_reads_it_alike(host_keys, tmp_path):
    """Another awk than Debian's mawk (a laptop's may be BSD awk or gawk): the program is POSIX awk."""
    busybox_awk = tmp_path / "busybox-awk"
    busybox_awk.write_text(f'#!/bin/sh\nexec {_tool("busybox")} awk "$@"\n')
    busybox_awk.chmod(0o755)
    console = serial(BOOT_NOISE + cloud_init_block(host_keys, tmp_path) + LOGIN_NOISE)
    result, _ = run_command(tmp_path, console, awk=str(busybox_awk))
    assert result.returncode == 0, result.stderr
    assert result.stdout == public_line(host_keys / "ssh_host_ed25519_key") + "\n"


def test_what_it_prints_is_what_oci_host_key_takes(host_keys, tmp_path):
    result, _ = run_command(tmp_path, serial(BOOT_NOISE + cloud_init_block(host_keys, tmp_path)))
    line = result.stdout.strip()
    assert printed_key_problem(line) is None
    values = harness.stack_config_as_user_sets_it("prod")
    values[f"{harness.PROJECT}:oci"] = {**values[f"{harness.PROJECT}:oci"], "hostKey": line}
    assert parse_stack_config(harness.raw_config(values)).oci.host_key == line


def test_a_block_the_history_window_cut_into_is_not_used(host_keys, tmp_path):
    """The history keeps only the last ~1 MB: its first bytes may start in the middle of the block."""
    block = cloud_init_block(host_keys, tmp_path)
    cut = block[block.index("ssh-ed25519") :]  # BEGIN and the lines before it fell out of the window
    result, _ = run_command(tmp_path, serial(cut + LOGIN_NOISE))
    assert (result.returncode, result.stdout) == (1, "")
    assert NOT_FOUND in result.stderr


def test_a_history_without_the_block_says_why(tmp_path):
    result, _ = run_command(tmp_path, serial(BOOT_NOISE * 100 + LOGIN_NOISE))
    assert (result.returncode, result.stdout) == (1, "")
    assert NOT_FOUND in result.stderr and "first boot" in result.stderr


def test_without_the_ed25519_line_nothing_is_printed(host_keys, tmp_path):
    """What the user-data's ssh_key_console_blacklist: [] prevents (renderers/cloud_init.py): no ed25519 printed."""
    block = cloud_init_block(host_keys, tmp_path, key_blacklist="ssh-ed25519")
    assert "-----BEGIN SSH HOST KEY KEYS-----" in block and "ssh-ed25519" not in block.split("KEYS-----", 1)[1]
    result, _ = run_command(tmp_path, serial(BOOT_NOISE + block))
    assert (result.returncode, result.stdout) == (1, "")


def test_a_failed_capture_stops_before_reading_content(host_keys, tmp_path):
    result, calls = run_command(tmp_path, serial(cloud_init_block(host_keys, tmp_path)), capture_exit=2)
    assert result.returncode == 2 and result.stdout == ""
    assert len(calls) == 1, calls


def test_the_printed_key_pins_the_vm_and_refuses_another(host_keys, tmp_path):
    """Set as oci.hostKey: the docker path's real ssh reaches an sshd with that host key, not one with another."""
    result, _ = run_command(tmp_path, serial(BOOT_NOISE + cloud_init_block(host_keys, tmp_path)))
    pinned = result.stdout.strip()
    d = tmp_path / "sshd"
    d.mkdir(mode=0o700)
    user_key = keygen(d / "user_key")
    authorized = d / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    opts = docker_ssh_opts(host_key=pinned, private_key_file=str(user_key), control_dir=None)
    with running_sshd(d, host_key=host_keys / "ssh_host_ed25519_key", authorized=authorized) as sshd:
        same = run_ssh(docker_ssh_argv("root", "127.0.0.1", sshd.port, opts, "echo ok"), agent=None)
    assert (same.returncode, same.stdout.strip()) == (0, "ok"), same.stderr
    replaced = keygen(d / "replaced_vm_host_key")
    with running_sshd(d, host_key=replaced, authorized=authorized) as sshd:
        other = run_ssh(docker_ssh_argv("root", "127.0.0.1", sshd.port, opts, "echo ok"), agent=None)
    assert other.returncode == 255 and "Host key verification failed" in other.stderr, other.stderr
