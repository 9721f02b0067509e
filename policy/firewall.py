"""Rule for OCI firewalls: no admin port and no all-protocol rule open to the whole internet."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .props import is_world, items, mapping, number
from .resource_types import OCI_DEFAULT_SECURITY_LIST, OCI_NSG_RULE, OCI_SECURITY_LIST

# IANA protocol numbers, as the OCI API takes them.
TCP = "6"
UDP = "17"
ALL_PROTOCOLS = "all"
# (protocol, port, what listens there). RDP also has a UDP transport.
ADMIN_PORTS = ((TCP, 22, "SSH"), (TCP, 3389, "RDP"), (UDP, 3389, "RDP"))
PORT_MIN, PORT_MAX = 1, 65535
_OPTIONS_KEY = {TCP: "tcpOptions", UDP: "udpOptions"}


def _ingress_rules(args: ResourceValidationArgs) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Each ingress rule with its destination port range (``min``/``max``; empty: every port).

    Security lists carry the range directly in ``tcpOptions``; an NSG rule is one
    resource per rule and nests it under ``destinationPortRange``.
    """
    if args.resource_type in (OCI_SECURITY_LIST, OCI_DEFAULT_SECURITY_LIST):
        for rule in items(args.props.get("ingressSecurityRules")):
            protocol = str(rule.get("protocol")).lower()
            yield rule, mapping(rule.get(_OPTIONS_KEY.get(protocol, "")))
    elif args.resource_type == OCI_NSG_RULE and args.props.get("direction") == "INGRESS":
        protocol = str(args.props.get("protocol")).lower()
        options = mapping(args.props.get(_OPTIONS_KEY.get(protocol, "")))
        yield args.props, mapping(options.get("destinationPortRange"))


def world_open_problems(args: ResourceValidationArgs) -> list[str]:
    problems = []
    for rule, ports in _ingress_rules(args):
        source = rule.get("source")
        # Other source types (a service CIDR label, another NSG) are never "the internet".
        if (rule.get("sourceType") or "CIDR_BLOCK") != "CIDR_BLOCK" or not is_world(source):
            continue
        protocol = str(rule.get("protocol")).lower()
        if protocol == ALL_PROTOCOLS:
            problems.append(f"allows all protocols from {source}")
            continue
        low, high = number(ports.get("min"), PORT_MIN), number(ports.get("max"), PORT_MAX)
        for admin_protocol, port, service in ADMIN_PORTS:
            if protocol == admin_protocol and low <= port <= high:
                problems.append(f"opens {service} ({'tcp' if protocol == TCP else 'udp'}/{port}) to {source}")
    return problems


def no_world_open_admin_ports(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for problem in world_open_problems(args):
        report_violation(f"{args.name} {problem}; allow admin access from the admin CIDRs only")
