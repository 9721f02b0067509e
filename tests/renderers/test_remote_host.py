"""The deploy path's shell and ssh pieces, run through real shells and the real ssh client."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from renderers.remote_host import HOST_READY_COMMAND, docker_host, docker_ssh_opts, ssh_command, sslip_domain

TIMEOUT_S = 30
STUB = """#!/bin/sh
echo "{name} $*" >> "$STUB_LOG"
{body}
"""
STUBS = {
    "cloud-init": 'exit "$STUB_CLOUD_INIT_RC"',
    # sg docker -c CMD: run CMD (the real one switches group first).
    "sg": '[ "$1" = docker ] && [ "$2" = -c ] || exit 99\nexec sh -c "$3"',
    "docker": 'exit "$STUB_DOCKER_RC"',
}


def _require(program: str) -> str:
    found = shutil.which(program)
    assert found, f"{program} is not installed; CI installs it (scripts/install-test-binaries)"
    return found


@pytest.fixture
def stub_path(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(STUB.format(name=name, body=body))
        stub.chmod(0o755)
    return bin_dir


def run_ready(shell: str, bin_dir: Path, cloud_init_rc: int, docker_rc: int) -> tuple[int, list[str]]:
    log = bin_dir.parent / "calls.log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "STUB_CLOUD_INIT_RC": str(cloud_init_rc),
        "STUB_DOCKER_RC": str(docker_rc),
    }
    done = subprocess.run([_require(shell), "-c", HOST_READY_COMMAND], env=env, timeout=TIMEOUT_S, capture_output=True)
    return done.returncode, log.read_text().splitlines()


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize(
    ("cloud_init_rc", "docker_rc", "ok", "docker_ran"),
    [
        (0, 0, True, True),
        (2, 0, True, True),  # finished with recoverable warnings (cloud-init >= 23.4)
        (1, 0, False, False),  # boot failed: never go on to deploy
        (124, 0, False, False),  # `timeout` gave up waiting
        (0, 1, False, True),  # Docker does not answer
    ],
)
def test_ready_command_outcomes(
    stub_path: Path, shell: str, cloud_init_rc: int, docker_rc: int, ok: bool, docker_ran: bool
) -> None:
    rc, calls = run_ready(shell, stub_path, cloud_init_rc, docker_rc)
    assert (rc == 0) is ok, (rc, calls)
    assert calls[0] == "cloud-init status --wait --long"
    assert ("docker info" in calls) is docker_ran, calls
    if docker_ran:
        assert "sg docker -c docker info" in calls


def test_docker_host_is_an_ssh_url() -> None:
    assert docker_host("ubuntu", "203.0.113.10") == "ssh://ubuntu@203.0.113.10"


@pytest.mark.parametrize(("user", "ip"), [("Ubuntu", "203.0.113.10"), ("ubuntu", "203.0.113"), ("a b", "203.0.113.10")])
def test_docker_host_refuses_malformed_parts(user: str, ip: str) -> None:
    with pytest.raises(ValueError):
        docker_host(user, ip)


def _ssh_settings(*args: str) -> tuple[list[str], str]:
    done = subprocess.run([_require("ssh"), "-G", *args], timeout=TIMEOUT_S, capture_output=True, text=True, check=True)
    return done.stdout.splitlines(), done.stderr


@pytest.mark.real_binary
def test_real_ssh_accepts_the_docker_options(tmp_path: Path) -> None:
    key = tmp_path / "deploy key"
    key.write_text("not a real key\n")
    settings, _ = _ssh_settings(*docker_ssh_opts(str(key)), "ubuntu@203.0.113.10")
    assert "stricthostkeychecking accept-new" in settings
    assert "identitiesonly yes" in settings
    assert f"identityfile {key}" in settings
    assert "user ubuntu" in settings and "hostname 203.0.113.10" in settings


@pytest.mark.real_binary
def test_real_ssh_expands_a_configured_tilde_itself() -> None:
    # ssh resolves ~ from the password database (not $HOME), so probe with a name that cannot
    # exist and read the path back from its warning, without touching the real ~/.ssh.
    name = f"no-such-key-{uuid.uuid4().hex}"
    _, stderr = _ssh_settings(*docker_ssh_opts(f"~/.ssh/{name}"), "ubuntu@203.0.113.10")
    assert f"{pwd.getpwuid(os.getuid()).pw_dir}/.ssh/{name}" in stderr


def test_ssh_command_survives_the_shell(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (bin_dir / "ssh").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": "/home/me"}
    for key, expanded in (("~/.ssh/id ed25519", "/home/me/.ssh/id ed25519"), ("/keys/it's", "/keys/it's")):
        command = ssh_command("ubuntu", "203.0.113.10", key)
        done = subprocess.run(
            [_require("sh"), "-c", command], env=env, timeout=TIMEOUT_S, capture_output=True, text=True, check=True
        )
        assert done.stdout.splitlines() == ["-i", expanded, "ubuntu@203.0.113.10"], command


def test_sslip_domain_dashes_the_address() -> None:
    assert sslip_domain("203.0.113.10") == "203-0-113-10.sslip.io"


@pytest.mark.parametrize("ip", ["2001:db8::1", "not-an-ip", "203.0.113.256"])
def test_sslip_domain_needs_an_ipv4_address(ip: str) -> None:
    with pytest.raises(ValueError):
        sslip_domain(ip)


# --- authorized keys, kept in step over SSH -------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from renderers.remote_host import authorized_keys_command  # noqa: E402

KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyMaterial user@laptop",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINextKeyMaterial it's the \"next\" key $HOME `id`",
]


def _run_keys_command(shell: str, home: Path, keys: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_require(shell), "-c", authorized_keys_command(keys)],
        env={"HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_authorized_keys_holds_exactly_the_configured_keys(tmp_path, shell):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-rsa OLDKEY old@key\n")
    done = _run_keys_command(shell, home, KEYS)
    assert done.returncode == 0, done.stderr
    path = home / ".ssh" / "authorized_keys"
    assert path.read_text().splitlines() == KEYS
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (home / ".ssh").iterdir()] == ["authorized_keys"], "no temporary file left behind"
    again = _run_keys_command(shell, home, KEYS)
    assert again.returncode == 0 and path.read_text().splitlines() == KEYS


def test_authorized_keys_creates_a_private_ssh_dir(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert _run_keys_command("sh", home, KEYS[:1]).returncode == 0
    assert (home / ".ssh").stat().st_mode & 0o777 == 0o700


@settings(max_examples=40, deadline=None)
@given(comment=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_any_key_comment_reaches_the_file_unchanged(tmp_path_factory, comment):
    key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyMaterial {comment}".strip()
    home = tmp_path_factory.mktemp("home")
    done = _run_keys_command("sh", home, [key])
    assert done.returncode == 0, done.stderr
    assert (home / ".ssh" / "authorized_keys").read_text() == key + "\n"


@pytest.mark.parametrize("keys", [[], ["ssh-ed25519 AAAA a\nssh-rsa BBBB b"], ["  "]])
def test_authorized_keys_refuses_what_would_lock_everyone_out(keys):
    with pytest.raises(ValueError):
        authorized_keys_command(keys)
