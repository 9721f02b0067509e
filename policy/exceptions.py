"""The one reviewed list of exceptions to the policy pack, each with its reason.

An entry lets one container (by its Pulumi resource name, e.g. "media-egress") add
one Linux capability. Adding an entry is a security decision: it belongs in a
reviewed change, with a reason a reviewer can check.

Currently empty. LiveKit Egress is the usual candidate (SYS_ADMIN, for Chrome's
sandbox), but it needs none: since egress v1.7.8 Chrome runs with --no-sandbox and
--disable-dev-shm-usage by default (see renderers/livekit.py).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CapabilityException:
    container: str  # Pulumi resource name of the docker Container
    capability: str  # as Docker spells it, without "CAP_", e.g. "SYS_ADMIN"
    reason: str  # one line: why this container cannot work without it


CAPABILITY_EXCEPTIONS: tuple[CapabilityException, ...] = ()


def normalize_capability(name: str) -> str:
    """Docker accepts "sys_admin", "SYS_ADMIN" and "CAP_SYS_ADMIN" alike."""
    return name.upper().removeprefix("CAP_")


def allowed_capabilities(container: str, exceptions: Iterable[CapabilityException]) -> frozenset[str]:
    return frozenset(normalize_capability(e.capability) for e in exceptions if e.container == container)
