"""How the deploy reaches a machine the team already runs (a Raspberry Pi, a VPS): Docker over SSH.

Nothing is installed or changed on the machine besides the containers: it must already run Docker, and the
SSH user must be in its `docker` group (Kamal's `kamal server bootstrap` or get.docker.com do both).
"""
from __future__ import annotations

import ipaddress
import re

from renderers.names import LINUX_USER
from renderers.remote_host import sslip_domain

_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")

# Run over SSH before anything is deployed: a clear failure instead of the docker provider's dial error.
READY_COMMAND = (
    "command -v docker >/dev/null || { echo 'Docker is not installed on this host: install it first "
    "(curl -fsSL https://get.docker.com | sh), then add this user to the docker group' >&2; exit 1; }; "
    "docker info >/dev/null || { echo \"$(id -un) cannot reach the Docker engine: sudo usermod -aG docker "
    "$(id -un), log in again, and run pulumi up again\" >&2; exit 1; }"
)


# ClickHouse's arm64 packages (and so the image) are compiled with
# ``-march=armv8.2-a+simd+crypto+dotprod+ssbs+rcpc+bf16`` unless built with NO_ARMV81_OR_HIGHER, whose comment names
# the Raspberry Pi 4 as the hardware only that compat profile runs on (cmake/cpu_features.cmake as the search index
# holds it, a version with X86_ARCH_LEVEL whose commit it does not name; the copy stored at ClickHouse/ClickHouse@002c8d3a
# predates the aarch64 profiles). Issues #50852 and #66021 (clickhouse-server image on a Pi 4: "Illegal instruction"
# from its entrypoint) and #54911 (a maintainer: the DEB and RPM packages are built only for modern servers).
# The same file's own build-host check greps /proc/cpuinfo for ``atomic``. The features below are how the arm64
# kernel's /proc/cpuinfo names three the compiler may use anywhere: atomics (LSE, ARMv8.1), asimddp (dotprod),
# lrcpc (RCpc, LDAPR). A Pi 4's Cortex-A72 and a Pi 3's Cortex-A53 (ARMv8.0) have none of them; a Pi 5's
# Cortex-A76 and Ampere's Neoverse N1 have all three. (ssbs and bf16 are not checked: Neoverse N1, the OCI VM's
# CPU, lists no bf16, and the compiler emits BF16 instructions only for code written with them.)
CLICKHOUSE_CPU_FEATURES = ("atomics", "asimddp", "lrcpc")
CPUINFO = "/proc/cpuinfo"


def clickhouse_cpu_check(cpuinfo: str = CPUINFO) -> str:
    """Shell that fails, saying what to change, on an arm64 CPU ClickHouse's image cannot run on.

    Only ARM kernels write ``Features`` lines (x86's are ``flags``): elsewhere the check passes. ``cpuinfo`` is a
    parameter for the tests, which run it on sample files of real boards.
    """
    if not re.fullmatch(r"/[A-Za-z0-9._/-]+", cpuinfo):
        raise ValueError(f"cpuinfo: {cpuinfo!r} is not an absolute path of [A-Za-z0-9._/-]")
    features = " ".join(CLICKHOUSE_CPU_FEATURES)
    return (
        f"if grep -q '^Features' {cpuinfo}; then missing=; for f in {features}; do "
        f"grep -Eq '^Features[[:space:]]*:.*[[:space:]]'\"$f\"'([[:space:]]|$)' {cpuinfo} || missing=\"$missing $f\"; "
        "done; if [ -n \"$missing\" ]; then echo \"This host's CPU lacks$missing, which ClickHouse's arm64 image is "
        "built for (ARMv8.2: a Raspberry Pi 4 or 3 is ARMv8.0 and ClickHouse dies there with SIGILL). Turn it off: "
        "pulumi config set --path analytics.enabled false (and host.board raspberry-pi-4 so the next preview "
        "refuses it), or run ClickHouse on a Pi 5 or another ARMv8.2 machine.\" >&2; exit 1; fi; fi"
    )


def ready_command(*, clickhouse: bool) -> str:
    """READY_COMMAND, and with ClickHouse to run, the CPU check: it fails here, before any container is made."""
    return f"{READY_COMMAND}; {clickhouse_cpu_check()}" if clickhouse else READY_COMMAND


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
