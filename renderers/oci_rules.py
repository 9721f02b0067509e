"""OCI security-list rules, derived from the same ``PortRule`` tuple as the host firewall.

Rules are plain dicts in the shape pulumi-oci accepts for ``ingress_security_rules`` /
``egress_security_rules``, so this module stays free of Pulumi imports and testable alone.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from renderers.ports import PortRule

WORLD = "0.0.0.0/0"
SSH_PORT = 22

# IANA protocol numbers, as the OCI API wants them.
PROTOCOL_NUMBERS = {"tcp": "6", "udp": "17"}
ICMP = "1"
ALL_PROTOCOLS = "all"

# ICMP "destination unreachable" (type 3), code 4 "fragmentation needed". Without it from
# everywhere, path-MTU discovery breaks and large TLS/WebRTC packets to clients behind
# tunnels or PPPoE silently vanish. It is the only ICMP OCI's own default list takes from
# the world, and it opens no port.
ICMP_DEST_UNREACHABLE = 3
ICMP_FRAGMENTATION_NEEDED = 4

Rule = dict[str, Any]


def _port_rule(rule: PortRule, *, source: str, description: str) -> Rule:
    options = {"min": rule.start, "max": rule.end}
    return {
        "protocol": PROTOCOL_NUMBERS[rule.protocol],
        "source": source,
        "source_type": "CIDR_BLOCK",
        "stateless": False,
        "description": description,
        f"{rule.protocol}_options": options,
    }


def public_ingress_rules(rules: Sequence[PortRule]) -> list[Rule]:
    """One world-open rule per ``PortRule``, in order: the cloud side of the one port list."""
    return [_port_rule(rule, source=WORLD, description=rule.purpose) for rule in rules]


def admin_ssh_rules(admin_cidrs: Sequence[str]) -> list[Rule]:
    """SSH from each admin CIDR only; a world-open CIDR is refused here as a last line of defence."""
    rules = []
    for cidr in admin_cidrs:
        if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
            raise ValueError(f"SSH must not be open to the world ({cidr!r})")
        ssh = PortRule(protocol="tcp", start=SSH_PORT, end=SSH_PORT, purpose="SSH from an admin address")
        rules.append(_port_rule(ssh, source=cidr, description=f"SSH from admin {cidr}"))
    return rules


def icmp_rules(vcn_cidr: str) -> list[Rule]:
    """Path-MTU discovery from anywhere; all "unreachable" messages from inside the VCN (OCI's defaults)."""
    return [
        {
            "protocol": ICMP,
            "source": WORLD,
            "source_type": "CIDR_BLOCK",
            "stateless": False,
            "description": "ICMP fragmentation needed, for path-MTU discovery",
            "icmp_options": {"type": ICMP_DEST_UNREACHABLE, "code": ICMP_FRAGMENTATION_NEEDED},
        },
        {
            "protocol": ICMP,
            "source": vcn_cidr,
            "source_type": "CIDR_BLOCK",
            "stateless": False,
            "description": "ICMP destination unreachable from inside the VCN",
            "icmp_options": {"type": ICMP_DEST_UNREACHABLE},
        },
    ]


def egress_all() -> list[Rule]:
    """Everything out: apt, image pulls, ACME, STUN and media to any client."""
    return [
        {
            "protocol": ALL_PROTOCOLS,
            "destination": WORLD,
            "destination_type": "CIDR_BLOCK",
            "stateless": False,
            "description": "all outbound traffic",
        }
    ]


def instance_ingress_rules(public: Sequence[PortRule], *, admin_cidrs: Sequence[str], vcn_cidr: str) -> list[Rule]:
    """The whole ingress list of the instance's subnet."""
    return [*public_ingress_rules(public), *admin_ssh_rules(admin_cidrs), *icmp_rules(vcn_cidr)]
