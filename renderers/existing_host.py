"""How the deploy reaches a machine the team already runs (a Raspberry Pi, a VPS): Docker over SSH.

Nothing is installed or changed on the machine besides the containers: it must already run Docker, and the
SSH user must be in its `docker` group (Kamal's `kamal server bootstrap` or get.docker.com do both).
"""
from __future__ import annotations

import ipaddress
import re
import shlex

from renderers.names import LINUX_USER
from renderers.remote_host import sslip_domain

_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")

# Run over SSH before anything is deployed: a clear failure instead of the docker provider's dial error.
_ENGINE_COMMAND = (
    "command -v docker >/dev/null || { echo 'Docker is not installed on this host: install it first "
    "(curl -fsSL https://get.docker.com | sh), then add this user to the docker group' >&2; exit 1; }; "
    "docker info >/dev/null || { echo \"$(id -un) cannot reach the Docker engine: sudo usermod -aG docker "
    "$(id -un), log in again, and run pulumi up again\" >&2; exit 1; }"
)

# What `uname -m` (docker info's Architecture, daemon/info.go:65@v28.5.2 platform.Architecture()) says
# on a machine that runs each host.platform's images.
ENGINE_ARCHITECTURES = {"linux/arm64": ("aarch64", "arm64"), "linux/amd64": ("x86_64", "amd64")}

# What every container's limits need from the engine, read from `docker info --format '{{json .}}'`
# (field names: api/types/system/info.go:22-49@v28.5.2, CPUCfsQuota as "CpuCfsQuota"). Without the
# memory cgroup (Raspberry Pi OS boots with cgroup_disable=memory) Docker discards each memory limit
# with a warning and runs the container unlimited (daemon/daemon_unix.go:423-426@v28.5.2), reads back
# memory 0, and every refresh shows a diff; without swap accounting it drops the swap cap ("Memory
# limited without swap", :428-430); without CFS bandwidth it refuses --cpus. The limits are what the
# capacity checks count on (config/capacity.py), so a machine that cannot enforce them is refused here.
_LIMIT_CHECKS = (
    (
        '"MemoryLimit":true',
        "the kernel has no memory cgroup, so Docker would drop every container's memory limit. On Raspberry "
        "Pi OS add 'cgroup_enable=memory cgroup_memory=1' to the one line of /boot/firmware/cmdline.txt "
        "(/boot/cmdline.txt before bookworm), reboot, and run pulumi up again",
    ),
    (
        '"SwapLimit":true',
        "the kernel has no swap accounting, so Docker would not cap containers' swap at their memory limit. "
        "Enable the memory cgroup as above; on a cgroup v1 kernel also add 'swapaccount=1' to the kernel "
        "command line, reboot, and run pulumi up again",
    ),
    (
        '"CpuCfsQuota":true',
        "the kernel has no CPU CFS quota (CONFIG_CFS_BANDWIDTH), so Docker refuses CPU limits: run a kernel "
        "built with it, reboot, and run pulumi up again",
    ),
)


def ready_command(platform: str) -> str:
    """POSIX sh, run over SSH before anything is deployed: Docker answers and can enforce the limits.

    Every failed check prints its fix; all of them are printed before the command exits 1. The JSON is
    matched as text (no jq on a stock Pi): docker prints it compact, so `"Key":value` has no spaces.
    """
    architectures = ENGINE_ARCHITECTURES[platform]
    checks = "".join(
        f"case $info in *{shlex.quote(needle)}*) ;; *) echo {shlex.quote('Not ready: ' + fix)} >&2; ok=1 ;; esac; "
        for needle, fix in _LIMIT_CHECKS
    )
    wanted = " or ".join(architectures)
    arch_fix = (
        f"host.platform is {platform}, so images are pulled for it, but this engine runs on $arch: set "
        "host.platform to the machine's platform (linux/arm64 for aarch64, linux/amd64 for x86_64), or install "
        f"the 64-bit OS the images need ({wanted})"
    )
    return (
        f"{_ENGINE_COMMAND}; "
        "info=$(docker info --format '{{json .}}') || exit 1; ok=0; "
        f"{checks}"
        r"""arch=$(printf '%s\n' "$info" | sed -n 's/.*"Architecture":"\([^"]*\)".*/\1/p'); """
        f"case $arch in {'|'.join(architectures)}) ;; *) echo \"Not ready: {arch_fix}\" >&2; ok=1 ;; esac; "
        "exit $ok"
    )


def _check(user: str, address: str) -> None:
    if not LINUX_USER.fullmatch(user):
        raise ValueError(f"user: {user!r} is not a valid Linux user name")
    if not _HOSTNAME.fullmatch(address):
        ipaddress.ip_address(address)  # raises for anything that is neither a host name nor an IP address


def docker_host(user: str, address: str, port: int) -> str:
    """The docker provider's ``host``: ssh://user@host[:port] (docker's connhelper reads the port from it)."""
    _check(user, address)
    host = f"[{address}]" if ":" in address else address
    return f"ssh://{user}@{host}" + (f":{port}" if port != 22 else "")


def default_domain(address: str) -> str:
    """What the gateway serves when no domain is configured: the host's name, or <ip>.sslip.io for an IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return sslip_domain(str(ip)) if ip.version == 4 else address
