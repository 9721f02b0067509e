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
