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
