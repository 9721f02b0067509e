"""The existing host's readiness command (renderers/existing_host.ready_command), run in real shells.

A stub `docker` on PATH prints a `docker info --format '{{json .}}'` document: good_amd64_host.json is
this machine's real engine (Docker 20.10.24, cgroup v1, ID and name replaced); cgroupless_pi.json is
that document with what a Raspberry Pi OS engine booted with cgroup_disable=memory reports instead
(MemoryLimit/SwapLimit false and daemon/info_unix.go:91-96@v28.5.2's two warnings, aarch64). Not a
capture from a real Pi: none is reachable here. The last test runs the command against the real engine.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from renderers.existing_host import ready_command

SAMPLES = Path(__file__).parent / "docker_info"
SHELLS = ["dash", "bash"]


def _stub(tmp_path: Path, document: dict | None) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "info.json").write_text(json.dumps(document, separators=(",", ":")) + "\n")
    stub = bin_dir / "docker"
    # `docker info` (reachability) prints text; with --format '{{json .}}', the compact JSON the CLI prints.
    stub.write_text(
        "#!/bin/sh\n"
        '[ "$1" = info ] || exit 64\n'
        f'if [ "$2" = --format ] && [ "$3" = \'{{{{json .}}}}\' ]; then cat {tmp_path / "info.json"}; exit 0; fi\n'
        '[ $# -eq 1 ] && { echo "Server Version: 28.5.2"; exit 0; }\n'
        "exit 64\n"
    )
    stub.chmod(0o755)
    return bin_dir


def _run(shell: str, platform: str, bin_dir: Path) -> subprocess.CompletedProcess:
    path = f"{bin_dir}:/usr/bin:/bin"
    return subprocess.run(
        [shutil.which(shell), "-c", ready_command(platform)],
        env={"PATH": path}, capture_output=True, text=True, timeout=30,
    )


def _sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.mark.parametrize("shell", SHELLS)
def test_a_good_host_is_ready(tmp_path, shell):
    result = _run(shell, "linux/amd64", _stub(tmp_path, _sample("good_amd64_host.json")))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_cgroupless_pi_is_refused_with_the_cmdline_fix(tmp_path, shell):
    result = _run(shell, "linux/arm64", _stub(tmp_path, _sample("cgroupless_pi.json")))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines  # memory and swap; CPU quota and architecture are fine
    assert "no memory cgroup" in lines[0]
    assert "'cgroup_enable=memory cgroup_memory=1'" in lines[0] and "/boot/firmware/cmdline.txt" in lines[0]
    assert "reboot" in lines[0]
    assert "no swap accounting" in lines[1]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_pi_with_the_memory_cgroup_on_is_ready(tmp_path, shell):
    fixed = _sample("cgroupless_pi.json") | {"MemoryLimit": True, "SwapLimit": True, "Warnings": None}
    result = _run(shell, "linux/arm64", _stub(tmp_path, fixed))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("shell", SHELLS)
def test_no_cpu_quota_is_refused(tmp_path, shell):
    document = _sample("good_amd64_host.json") | {"CpuCfsQuota": False, "Warnings": ["WARNING: No cpu cfs quota support"]}
    result = _run(shell, "linux/amd64", _stub(tmp_path, document))
    assert result.returncode == 1 and "CONFIG_CFS_BANDWIDTH" in result.stderr, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    "platform, sample, arch",
    [("linux/arm64", "good_amd64_host.json", "x86_64"), ("linux/amd64", "cgroupless_pi.json", "aarch64")],
)
def test_the_engine_architecture_must_match_host_platform(tmp_path, shell, platform, sample, arch):
    document = _sample(sample) | {"MemoryLimit": True, "SwapLimit": True}
    result = _run(shell, platform, _stub(tmp_path, document))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert f"host.platform is {platform}" in line and f"this engine runs on {arch}" in line, line


@pytest.mark.parametrize("shell", SHELLS)
def test_no_docker_says_how_to_install_it(tmp_path, shell):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [shutil.which(shell), "-c", ready_command("linux/arm64")],
        env={"PATH": f"{empty}:/bin"} if not Path("/bin/docker").exists() else {"PATH": str(empty)},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1 and "get.docker.com" in result.stderr, result.stderr


def test_this_machines_engine_is_ready():
    """The real engine and CLI here (amd64, cgroups on): the JSON the command matches is what docker prints."""
    arch = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout.strip()
    platform = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}[arch]
    result = subprocess.run(["dash", "-c", ready_command(platform)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
