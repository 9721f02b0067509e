"""Reading OCI security-list rules back out of what the mocks recorded (engine form: camelCase, floats)."""
from __future__ import annotations

from typing import Any

from renderers.oci_rules import ICMP, PROTOCOL_NUMBERS, WORLD

PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}


def port_rules(ingress: list[dict[str, Any]], *, source: str | None = None) -> list[tuple[str, int, int]]:
    """(protocol, first, last) of each TCP/UDP rule, in order; only those from ``source`` when given."""
    found = []
    for rule in ingress:
        if rule["protocol"] == ICMP or (source is not None and rule["source"] != source):
            continue
        name = PROTOCOL_NAMES[rule["protocol"]]
        options = rule[f"{name}Options"]
        found.append((name, int(options["min"]), int(options["max"])))
    return found


def sources_reaching(ingress: list[dict[str, Any]], port: int, protocol: str = "tcp") -> set[str]:
    """Every source CIDR that may reach ``port``: a rule without port options allows all ports."""
    sources = set()
    for rule in ingress:
        if rule["protocol"] == "all":
            sources.add(rule["source"])
        elif rule["protocol"] == PROTOCOL_NUMBERS[protocol]:
            options = rule.get(f"{protocol}Options")
            if options is None or int(options["min"]) <= port <= int(options["max"]):
                sources.add(rule["source"])
    return sources


def world_icmp(ingress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule.get("icmpOptions") for rule in ingress if rule["protocol"] == ICMP and rule["source"] == WORLD]
