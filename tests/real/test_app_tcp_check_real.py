"""The app TCP healthcheck (renderers/app_health.py), run as Docker runs it: `/bin/sh -c <text>`.

The shell is busybox's (an alpine image's /bin/sh) with nothing on PATH but busybox applets and, per
case, the real bash, node or python3: the tool sets of node:*-alpine (node), python:*-slim (bash and
python3) and a busybox-only image. A listening loopback socket must pass, a closed port must fail,
and an image with none of the tools must fail (unhealthy), never pass.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.app_health import tcp_check_script

from .processes import free_tcp_ports

TOOLS = {
    "bash": lambda: shutil.which("bash"),
    "node": lambda: shutil.which("node"),  # nodejs (scripts/install-test-binaries)
    "python3": lambda: os.path.realpath(sys.executable),
}


def image_path(tmp_path: Path, tools: tuple[str, ...]) -> Path:
    busybox = shutil.which("busybox")
    assert busybox, "busybox not installed (scripts/install-test-binaries)"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        # Debian's busybox has no bash applet; never let a tool name stand for busybox.
        if "/" not in applet and applet not in TOOLS:
            (bindir / applet).symlink_to(busybox)
    for tool in tools:
        binary = TOOLS[tool]()
        assert binary and Path(binary).is_file(), f"{tool} not installed (scripts/install-test-binaries)"
        (bindir / tool).symlink_to(os.path.realpath(binary))
    return bindir


def run_check(bindir: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bindir / "sh"), "-c", tcp_check_script(port)],
        env={"PATH": str(bindir)}, capture_output=True, text=True, timeout=20, check=False,
    )


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed() -> int:
    (port,) = free_tcp_ports(1)
    return port


CASES = [("bash",), ("node",), ("python3",), ("bash", "python3"), ("bash", "node", "python3")]


@pytest.mark.parametrize("tools", CASES, ids="+".join)
def test_a_listening_port_passes(tmp_path: Path, listening: int, tools: tuple[str, ...]) -> None:
    result = run_check(image_path(tmp_path, tools), listening)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("tools", CASES, ids="+".join)
def test_a_closed_port_fails(tmp_path: Path, closed: int, tools: tuple[str, ...]) -> None:
    result = run_check(image_path(tmp_path, tools), closed)
    assert result.returncode != 0, (result.stdout, result.stderr)


def test_an_image_with_none_of_the_tools_fails_and_says_why(tmp_path: Path, listening: int) -> None:
    bindir = image_path(tmp_path, ())
    assert not (bindir / "bash").exists() and (bindir / "nc").exists()  # busybox's nc alone is not enough
    result = run_check(bindir, listening)
    assert result.returncode == 1
    assert "none of bash, node, python3" in result.stderr


def test_debian_busybox_nc_has_no_zero_io_mode() -> None:
    """Why the check does not use `nc -z`: this busybox (like any built without netcat 1.10) lacks it."""
    usage = subprocess.run([shutil.which("busybox"), "nc", "--help"], capture_output=True, text=True, check=False)
    assert "Usage: nc" in usage.stdout + usage.stderr and " -z" not in usage.stdout + usage.stderr
