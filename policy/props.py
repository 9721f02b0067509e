"""Reading resource properties the way the engine hands them to policies.

Properties arrive in engine form: camelCase keys, every number a float, numeric OCI
fields as strings ("150"), secrets already unwrapped, and, during a preview, values
that are not known yet. Reading an unknown value raises ``UnknownValueError``, which
the SDK reports as "can't run policy during preview" (advisory), so rules only catch
it where an unknown value has a meaning of its own.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError


def known(props: Mapping[str, Any], key: str) -> Any:
    """``props[key]``, or None when it is absent or not known until the update runs."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def mapping(value: Any) -> Mapping[str, Any]:
    """An optional object property, as a mapping (absent: empty)."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> Sequence[Any]:
    """An optional list property, as a sequence (absent: empty). Strings are not lists."""
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def number(value: Any, default: float) -> float:
    """A numeric property that may be a float, an int or a numeric string; absent: ``default``."""
    if value is None or value == "":
        return default
    return float(value)


def stack_of(urn: str) -> str:
    """The stack a URN belongs to: ``urn:pulumi:<stack>::<project>::...``."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def is_world(cidr: Any) -> bool:
    """True for a CIDR that matches every address (0.0.0.0/0, ::/0); False for anything else, e.g. an OCID."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_network(address, strict=False).is_loopback
    except ValueError:
        return False
