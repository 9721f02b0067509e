"""Security-list rules: the cloud side of the one port list, SSH for admins only, path-MTU ICMP."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.oci_rules import (
    WORLD,
    admin_ssh_rules,
    egress_all,
    icmp_rules,
    instance_ingress_rules,
    public_ingress_rules,
)
from renderers.ports import MediaPorts, PortRule, public_ingress

VCN = "10.0.0.0/16"
ADMIN = ("198.51.100.7/32",)


def opened(rules: list[dict], source: str) -> list[tuple[str, int, int]]:
    """(protocol, first, last) of every TCP/UDP rule from ``source``, in order."""
    names = {"6": "tcp", "17": "udp"}
    found = []
    for rule in rules:
        if rule["source"] == source and rule["protocol"] in names:
            name = names[rule["protocol"]]
            found.append((name, rule[f"{name}_options"]["min"], rule[f"{name}_options"]["max"]))
    return found


def test_each_port_rule_becomes_one_stateful_world_rule_in_order() -> None:
    ports = public_ingress(MediaPorts())
    rules = public_ingress_rules(ports)
    assert rules[0] == {
        "protocol": "6",
        "source": WORLD,
        "source_type": "CIDR_BLOCK",
        "stateless": False,
        "description": ports[0].purpose,
        "tcp_options": {"min": 80, "max": 80},
    }
    assert rules[-1]["protocol"] == "17"
    assert rules[-1]["udp_options"] == {"min": 50000, "max": 60000}
    assert "tcp_options" not in rules[-1]
    expected = [("tcp", 80, 80), ("tcp", 443, 443), ("tcp", 7881, 7881), ("udp", 3478, 3478), ("udp", 30000, 40000), ("udp", 50000, 60000)]
    assert opened(rules, WORLD) == expected


def test_ssh_rules_come_only_from_the_admin_cidrs() -> None:
    rules = admin_ssh_rules(("198.51.100.7/32", "2001:db8::/64"))
    assert [(r["source"], r["tcp_options"]) for r in rules] == [
        ("198.51.100.7/32", {"min": 22, "max": 22}),
        ("2001:db8::/64", {"min": 22, "max": 22}),
    ]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.1/0"])
def test_world_open_ssh_is_refused(cidr: str) -> None:
    with pytest.raises(ValueError, match="SSH must not be open to the world"):
        admin_ssh_rules(("198.51.100.7/32", cidr))


def test_world_icmp_is_fragmentation_needed_only() -> None:
    rules = icmp_rules(VCN)
    world = [r["icmp_options"] for r in rules if r["source"] == WORLD]
    assert world == [{"type": 3, "code": 4}]
    assert [r["source"] for r in rules if r["source"] != WORLD] == [VCN]
    assert all(r["protocol"] == "1" for r in rules)


def test_egress_is_everything_to_everywhere() -> None:
    assert [(r["protocol"], r["destination"]) for r in egress_all()] == [("all", WORLD)]


_port = st.integers(min_value=1024, max_value=65535)


@st.composite
def media_ports(draw: st.DrawFn) -> MediaPorts:
    start = draw(_port)
    return MediaPorts(
        tcp_port=draw(_port),
        udp_mux_port=draw(st.none() | _port),
        udp_range_start=start,
        udp_range_end=draw(st.integers(min_value=start, max_value=65535)),
        turn_udp_port=draw(st.none() | _port),
    )


@given(media_ports(), st.lists(st.integers(0, 255).map(lambda n: f"198.51.100.{n}/32"), min_size=1, max_size=4))
def test_world_sees_exactly_the_port_list_and_ssh_only_admins(media: MediaPorts, admins: list[str]) -> None:
    public = public_ingress(media)
    rules = instance_ingress_rules(public, admin_cidrs=tuple(admins), vcn_cidr=VCN)
    assert opened(rules, WORLD) == [(r.protocol, r.start, r.end) for r in public]
    ssh_sources = {r["source"] for r in rules if r.get("tcp_options") == {"min": 22, "max": 22}}
    assert ssh_sources == set(admins)
    assert all(r["source"] != WORLD or r["protocol"] != "1" or r["icmp_options"] == {"type": 3, "code": 4} for r in rules)


_rule = st.builds(
    lambda p, s, n: PortRule(protocol=p, start=s, end=s + n, purpose="x"),
    st.sampled_from(["tcp", "udp"]),
    st.integers(1, 60000),
    st.integers(0, 5000),
)


@given(st.lists(_rule, max_size=8))
def test_any_rule_list_round_trips(rules: list[PortRule]) -> None:
    assert opened(public_ingress_rules(rules), WORLD) == [(r.protocol, r.start, r.end) for r in rules]
