"""Debian's openssh-server on loopback, an ssh-agent holding a key with a passphrase, and the ssh
argument list docker's ssh helper builds, run with the OpenSSH client like the docker provider runs it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .processes import free_tcp_ports, stop_process, wait_until_ready

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
SSH_TIMEOUT_S = 30.0
PASSPHRASE = "correct horse battery staple"


def openssh_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if name == "sshd" else None)
    if path is None or not os.path.exists(path):
        package = "openssh-server" if name == "sshd" else "openssh-client"
        raise AssertionError(f"{name} not found: scripts/install-test-binaries installs Debian's {package}")
    return path


def keygen(path: Path, *, passphrase: str = "", kind: str = "ed25519", fmt: str | None = None) -> Path:
    """A new key pair at ``path`` (and ``path``.pub), as `ssh-keygen` writes it."""
    args = [openssh_binary("ssh-keygen"), "-q", "-t", kind, "-N", passphrase, "-C", "", "-f", str(path)]
    if fmt is not None:
        args += ["-m", fmt]
    subprocess.run(args, check=True, capture_output=True, timeout=SSH_TIMEOUT_S)
    return path


def public_line(path: Path) -> str:
    """``<type> <base64>`` of a .pub file (what host.hostKey holds)."""
    kind, blob = Path(f"{path}.pub").read_text().split()[:2]
    return f"{kind} {blob}"


@dataclass(frozen=True)
class Sshd:
    port: int
    log: Path

    def accepted_logins(self) -> int:
        """Authenticated connections so far: sshd logs one line per connection, not per session."""
        return self.log.read_text().count("Accepted publickey for root")


@contextmanager
def running_sshd(directory: Path, *, host_key: Path, authorized: Path, port: int | None = None) -> Iterator[Sshd]:
    """sshd -D on 127.0.0.1, root by key only, logging to a file (a pipe nobody reads would block it)."""
    port = port or free_tcp_ports(1)[0]
    config = directory / f"sshd_config-{port}"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPidFile none\nLogLevel INFO\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
    log_path = directory / f"sshd-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([openssh_binary("sshd"), "-D", "-e", "-f", str(config)], stderr=log)
        try:
            wait_until_ready(
                proc, lambda: _listening(port), name="sshd", timeout_s=STARTUP_TIMEOUT_S, log=log_path.read_text
            )
            yield Sshd(port, log_path)
        finally:
            stop_process(proc, timeout_s=STOP_TIMEOUT_S)


def _listening(port: int) -> bool:
    with closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def agent_holding(directory: Path, key: Path, passphrase: str) -> Iterator[str]:
    """A real ssh-agent with ``key`` added (ssh-add given the passphrase by SSH_ASKPASS); yields SSH_AUTH_SOCK."""
    sock = directory / "agent.sock"
    proc = subprocess.Popen([openssh_binary("ssh-agent"), "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(proc, sock.exists, name="ssh-agent", timeout_s=STARTUP_TIMEOUT_S, log=lambda: "")
        askpass = directory / "askpass"
        askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' '{passphrase}'\n")
        askpass.chmod(0o700)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
        subprocess.run(
            [openssh_binary("ssh-add"), str(key)], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL,
            timeout=SSH_TIMEOUT_S,
        )
        yield str(sock)
    finally:
        stop_process(proc, timeout_s=STOP_TIMEOUT_S)


def docker_ssh_argv(user: str, host: str, port: int, ssh_opts: Sequence[str], remote: str) -> list[str]:
    """What docker's ssh helper executes for ssh://user@host:port with the provider's ssh_opts: -l, -p, the
    opts, its own ConnectTimeout and -T, then `--` host and the remote command (cli/connhelper/ssh/ssh.go:103-135,
    connhelper.go:48-56, :82-97@v28.5.2); ``remote`` stands in for `docker system dial-stdio`."""
    return [openssh_binary("ssh"), "-l", user, "-p", str(port), *ssh_opts, "-o ConnectTimeout=30", "-T", "--", host, remote]


def run_ssh(argv: Sequence[str], *, agent: str | None) -> subprocess.CompletedProcess[str]:
    """Run like docker's commandconn: this environment (with or without the agent), pipes, no terminal."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"} | ({"SSH_AUTH_SOCK": agent} if agent else {})
    # start_new_session: no controlling terminal, as commandconn's setsid (createSession), so ssh cannot prompt.
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=SSH_TIMEOUT_S,
        start_new_session=True,
    )


def stop_master(argv: Sequence[str], *, agent: str | None) -> None:
    """`ssh -O exit` on the control socket the argv's options name, so no master outlives a test."""
    opts = list(argv[1 : argv.index("--")])
    subprocess.run([openssh_binary("ssh"), *opts, "-O", "exit", "--", argv[argv.index("--") + 1]],
                   env={**os.environ, **({"SSH_AUTH_SOCK": agent} if agent else {})}, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=SSH_TIMEOUT_S)  # fmt: skip
