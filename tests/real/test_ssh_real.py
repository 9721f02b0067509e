"""The existing-host target's SSH options against Debian's real sshd, ssh, ssh-agent and ssh-keygen on loopback.

docker's ssh helper runs OpenSSH's `ssh` with the provider's ssh_opts; these tests run that very argument
list (sshd_process.docker_ssh_argv) with the options the program renders (renderers/existing_host.docker_ssh_opts).
"""
from __future__ import annotations

import concurrent.futures
import os
import tempfile
from pathlib import Path

import pytest

from renderers.existing_host import control_dir_fits, docker_ssh_opts, host_key_problem
from targets.ssh_key import is_encrypted_private_key

from .sshd_process import (
    PASSPHRASE,
    agent_holding,
    docker_ssh_argv,
    keygen,
    public_line,
    run_ssh,
    running_sshd,
    stop_master,
)


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    """A machine with an ed25519 host key and a user key with a passphrase, held by a running ssh-agent."""
    d = tmp_path_factory.mktemp("ssh")
    os.chmod(d, 0o700)
    host_key = keygen(d / "host_key")
    user_key = keygen(d / "user_key", passphrase=PASSPHRASE)
    authorized = d / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    with running_sshd(d, host_key=host_key, authorized=authorized) as sshd, agent_holding(d, user_key, PASSPHRASE) as agent:
        yield d, sshd, host_key, user_key, agent


def _argv(machine, opts: list[str], remote: str = "echo ok", port: int | None = None) -> list[str]:
    _, sshd, *_ = machine
    return docker_ssh_argv("root", "127.0.0.1", port or sshd.port, opts, remote)


def _opts(machine, name: str, *, key_file: bool, host_key: str | None = None) -> list[str]:
    _, _, host, user_key, _ = machine
    # A short directory, as a runtime dir is: pytest's tmp_path is too long for a socket path.
    control = tempfile.mkdtemp(prefix="cm", dir="/tmp")
    assert control_dir_fits(control)
    return docker_ssh_opts(
        host_key=host_key or public_line(host), private_key_file=str(user_key) if key_file else None, control_dir=control
    )


def test_the_socket_length_rule_is_the_one_ssh_binds_by(machine):
    """ssh binds <dir>/bs-<40 hex>.<16 random>: on Linux (sun_path[108]) a 46-character directory works and
    47 does not. control_dir_fits allows 4 fewer, for macOS's sun_path[104] (not testable on this machine)."""
    _, sshd, host, user_key, agent = machine
    base = tempfile.mkdtemp(prefix="cm", dir="/tmp")

    def directory(length: int) -> str:
        path = base + "/" + "d" * (length - len(base) - 1)
        os.makedirs(path, exist_ok=True)
        return path

    assert control_dir_fits(directory(42)) and not control_dir_fits(directory(43))
    for length, works in ((46, True), (47, False)):
        opts = docker_ssh_opts(host_key=public_line(host), private_key_file=str(user_key), control_dir=directory(length))
        argv = _argv(machine, opts)
        try:
            done = run_ssh(argv, agent=agent)
        finally:
            stop_master(argv, agent=agent)
        assert (done.returncode == 0) is works, (length, done.stderr)
        if not works:
            assert "too long for Unix domain socket" in done.stderr, done.stderr


def test_the_pinned_host_key_passes_the_programs_own_check(machine):
    _, _, host, *_ = machine
    assert host_key_problem(public_line(host)) is None
    assert host_key_problem(Path(f"{host}.pub").read_text().strip() + " root@machine") is None


@pytest.mark.parametrize("key_file", [True, False], ids=["key-file-signed-by-the-agent", "agent-only"])
def test_a_key_with_a_passphrase_logs_in_through_the_agent_without_a_prompt(machine, key_file):
    _, _, _, user_key, agent = machine
    argv = _argv(machine, _opts(machine, f"agent-{key_file}", key_file=key_file))
    try:
        done = run_ssh(argv, agent=agent)
        assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    finally:
        stop_master(argv, agent=agent)
    # The same, with no agent: BatchMode refuses at once instead of asking for the passphrase (and hanging).
    argv = _argv(machine, _opts(machine, f"no-agent-{key_file}", key_file=key_file))
    done = run_ssh(argv, agent=None)
    assert done.returncode == 255 and "Permission denied (publickey)" in done.stderr, done.stderr


def test_a_changed_host_key_is_refused_and_nothing_runs(machine):
    d, sshd, _, user_key, agent = machine
    other = keygen(d / "other_host_key")  # the machine reinstalled, or another machine on its address
    marker = d / "ran"
    with running_sshd(d, host_key=other, authorized=d / "authorized_keys") as impostor:
        argv = _argv(machine, _opts(machine, "changed", key_file=True), remote=f"touch {marker}", port=impostor.port)
        done = run_ssh(argv, agent=agent)
        stop_master(argv, agent=agent)
        assert done.returncode == 255, done
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr, done.stderr
        assert "Host key verification failed." in done.stderr, done.stderr
        assert not marker.exists()
        assert impostor.accepted_logins() == 0
        # A user's ssh config that would accept any key (as ~/.ssh/config would be read) changes nothing: ssh
        # keeps the first value of each option, and command-line options come before every config file.
        lax = d / "lax_config"
        lax.write_text(
            f"Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile {d}/lax_known_hosts\n"
            f"  KnownHostsCommand /bin/echo %H {public_line(other)}\n"
        )
        argv = _argv(machine, _opts(machine, "lax", key_file=True), remote=f"touch {marker}", port=impostor.port)
        done = run_ssh([argv[0], "-F", str(lax), *argv[1:]], agent=agent)
        stop_master(argv, agent=agent)
        assert done.returncode == 255 and "Host key verification failed." in done.stderr, done.stderr
        assert not marker.exists() and impostor.accepted_logins() == 0
        # The control: pinned to the impostor's own key, the same command runs there.
        argv = _argv(machine, _opts(machine, "changed-ok", key_file=True, host_key=public_line(other)), remote=f"touch {marker}", port=impostor.port)
        try:
            done = run_ssh(argv, agent=agent)
        finally:
            stop_master(argv, agent=agent)
        assert done.returncode == 0, done.stderr
        assert marker.exists()


def test_several_commands_share_one_tcp_connection(machine):
    d, sshd, _, _, agent = machine
    opts = _opts(machine, "mux", key_file=True)
    argv = _argv(machine, opts)
    before = sshd.accepted_logins()
    try:
        first = run_ssh(argv, agent=agent)  # becomes the master (ControlMaster=auto), then persists
        assert first.returncode == 0 and first.stdout == "ok\n", first.stderr
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:  # a parallel `up`'s dials
            results = list(pool.map(lambda _: run_ssh(argv, agent=agent), range(8)))
        assert [r.stdout for r in results] == ["ok\n"] * 8, [r.stderr for r in results]
        assert sshd.accepted_logins() - before == 1
    finally:
        stop_master(argv, agent=agent)
    # The control: the same nine commands without the ControlMaster options are nine logins.
    plain = [o for i, o in enumerate(opts) if not (o.startswith("Control") or (o == "-o" and opts[i + 1].startswith("Control")))]
    assert len(plain) == len(opts) - 6
    before = sshd.accepted_logins()
    for _ in range(9):
        assert run_ssh(_argv(machine, plain), agent=agent).returncode == 0
    assert sshd.accepted_logins() - before == 9


@pytest.mark.parametrize(
    ("passphrase", "kind", "fmt", "encrypted"),
    [
        ("", "ed25519", None, False),
        (PASSPHRASE, "ed25519", None, True),
        ("", "rsa", "PEM", False),
        (PASSPHRASE, "rsa", "PEM", True),
        (PASSPHRASE, "ecdsa", "PKCS8", True),
        ("", "ecdsa", "PKCS8", False),
    ],
)
def test_a_passphrase_is_recognised_in_every_format_ssh_keygen_writes(tmp_path, passphrase, kind, fmt, encrypted):
    key = keygen(tmp_path / "key", passphrase=passphrase, kind=kind, fmt=fmt)
    assert is_encrypted_private_key(key.read_text()) is encrypted
