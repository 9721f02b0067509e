"""Port derivation: public ingress, media port validation and host firewall commands."""
from __future__ import annotations

import shlex

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from renderers.ports import (
    HOST_FIREWALL_PERSIST_COMMAND,
    MediaPorts,
    PortRule,
    host_firewall_commands,
    media_port_problems,
    public_ingress,
)

# What the config layer passes: other services' ports (it includes the signal port too).
RESERVED = {22: "SSH", 80: "gateway.httpPort", 443: "gateway.httpsPort", 5432: "database.port",
            6379: "cache.port", 9000: "objectStore.port", 7880: "mediaServer.signalPort"}  # fmt: skip


def shape(rules: tuple[PortRule, ...] | list[PortRule]) -> list[tuple[str, int, int]]:
    return [(r.protocol, r.start, r.end) for r in rules]


def parse_firewall_command(command: str) -> tuple[str, int, int, str]:
    """(protocol, first, last, comment) of one rendered command; asserts its check and insert agree."""
    check, sep, insert = command.partition(" 2>/dev/null || ")
    assert sep, f"no check-then-insert in {command!r}"
    check_argv = shlex.split(check)
    assert check_argv[:3] == ["iptables", "-C", "INPUT"], check
    spec = check_argv[3:]
    head, sep, insert_spec = insert.partition(')" ')
    assert sep and head.startswith('iptables -I INPUT "$(iptables -S INPUT | awk '), insert
    assert "-j REJECT" in head, "insert position must be computed from the REJECT rule"
    assert shlex.split(insert_spec) == spec, "check and insert must describe the same rule"

    opts = dict(zip(spec[::2], spec[1::2]))
    assert spec.count("-m") == 3 and opts["--state"] == "NEW" and opts["-j"] == "ACCEPT", spec
    first, _, last = opts["--dport"].partition(":")
    return opts["-p"], int(first), int(last or first), opts["--comment"]


# --- public_ingress ---------------------------------------------------------------------------


def test_default_ingress_is_exactly_the_public_ports_in_order() -> None:
    assert shape(public_ingress(MediaPorts())) == [
        ("tcp", 80, 80),
        ("tcp", 443, 443),
        ("tcp", 7881, 7881),
        ("udp", 3478, 3478),
        ("udp", 50000, 60000),
    ]


def test_mux_port_replaces_the_udp_range() -> None:
    rules = shape(public_ingress(MediaPorts(udp_mux_port=7882)))
    assert rules[-1] == ("udp", 7882, 7882)
    assert ("udp", 50000, 60000) not in rules


def test_turn_port_is_only_opened_when_set() -> None:
    assert ("udp", 3478, 3478) not in shape(public_ingress(MediaPorts(turn_udp_port=None)))


def test_signal_port_is_never_public() -> None:
    # Clients reach the signal port through Caddy on 443.
    assert all(not (r.start <= 7880 <= r.end) for r in public_ingress(MediaPorts()))


def test_gateway_ports_follow_arguments() -> None:
    assert shape(public_ingress(MediaPorts(), http_port=8080, https_port=8443))[:2] == [
        ("tcp", 8080, 8080),
        ("tcp", 8443, 8443),
    ]


# --- media_port_problems -----------------------------------------------------------------------


def test_defaults_have_no_problems() -> None:
    assert media_port_problems(MediaPorts(), reserved=RESERVED) == []


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        (MediaPorts(udp_range_start=5000, udp_range_end=6000), "udp_range_start..udp_range_end (5000-6000) includes port 5432, already used by database.port"),
        (MediaPorts(udp_range_start=6000, udp_range_end=7000), "includes port 6379, already used by cache.port"),
        (MediaPorts(udp_range_start=7000, udp_range_end=8000), "includes port 7880, already used by mediaServer.signalPort"),
        (MediaPorts(tcp_port=9000), "tcp_port (9000) includes port 9000, already used by objectStore.port"),
        (MediaPorts(turn_udp_port=443), "turn_udp_port (443) includes port 443"),
        (MediaPorts(udp_mux_port=80), "udp_mux_port (80) includes port 80"),
        (MediaPorts(udp_range_start=60000, udp_range_end=50000), "udp_range_start (60000) is greater than udp_range_end (50000)"),
        (MediaPorts(udp_range_start=900, udp_range_end=2000), "udp_range_start..udp_range_end: port 900 is outside 1024..65535"),
        (MediaPorts(signal_port=80), "signal_port: port 80 is outside 1024..65535"),
        (MediaPorts(turn_udp_port=55000), "turn_udp_port (55000) overlaps udp_range_start..udp_range_end (50000-60000)"),
        (MediaPorts(udp_mux_port=3478), "turn_udp_port (3478) overlaps udp_mux_port (3478)"),
        (MediaPorts(tcp_port=7880), "tcp_port (7880) includes port 7880"),
    ],
)
def test_each_problem_is_reported(media: MediaPorts, expected: str) -> None:
    problems = media_port_problems(media, reserved=RESERVED)
    assert any(expected in p for p in problems), problems


def test_signal_port_is_a_collision_target_even_when_not_reserved() -> None:
    problems = media_port_problems(MediaPorts(tcp_port=7880), reserved={})
    assert problems == ["tcp_port (7880) includes port 7880, already used by LiveKit signal (signal_port)"]


def test_range_is_ignored_while_the_mux_port_is_used() -> None:
    media = MediaPorts(udp_mux_port=7882, udp_range_start=60000, udp_range_end=50000)
    assert media_port_problems(media, reserved=RESERVED) == []


def test_every_problem_is_reported_not_just_the_first() -> None:
    media = MediaPorts(tcp_port=443, turn_udp_port=5432, udp_range_start=6000, udp_range_end=6500)
    assert media_port_problems(media, reserved=RESERVED) == [
        "tcp_port: port 443 is outside 1024..65535",
        "tcp_port (443) includes port 443, already used by gateway.httpsPort",
        "turn_udp_port (5432) includes port 5432, already used by database.port",
        "udp_range_start..udp_range_end (6000-6500) includes port 6379, already used by cache.port",
    ]


# --- host_firewall_commands ------------------------------------------------------------------


def test_commands_insert_never_append() -> None:
    for command in host_firewall_commands(public_ingress(MediaPorts())):
        assert " -A " not in command
        assert command.count("iptables -I INPUT ") == 1


def test_persist_command_is_separate_from_the_rules() -> None:
    commands = host_firewall_commands(public_ingress(MediaPorts()))
    assert HOST_FIREWALL_PERSIST_COMMAND == "netfilter-persistent save"
    assert all("netfilter-persistent" not in c for c in commands)


def test_purpose_becomes_the_rule_comment() -> None:
    rule = PortRule(protocol="udp", start=50000, end=60000, purpose="LiveKit WebRTC media (UDP range)")
    assert parse_firewall_command(host_firewall_commands([rule])[0]) == (
        "udp", 50000, 60000, "LiveKit WebRTC media (UDP range)"
    )


@pytest.mark.parametrize("purpose", ["line\nbreak", "x" * 257])
def test_unusable_comments_are_refused(purpose: str) -> None:
    with pytest.raises(ValueError, match="purpose"):
        host_firewall_commands([PortRule(protocol="tcp", start=80, end=80, purpose=purpose)])


# --- properties -----------------------------------------------------------------------------

ports = st.integers(min_value=1024, max_value=65535)


@st.composite
def valid_media(draw: st.DrawFn) -> MediaPorts:
    """Any MediaPorts the config layer would accept (the validator is checked independently below)."""
    start = draw(ports)
    end = draw(st.integers(min_value=start, max_value=min(65535, start + 20000)))
    media = MediaPorts(
        signal_port=draw(ports),
        tcp_port=draw(ports),
        udp_mux_port=draw(st.none() | ports),
        udp_range_start=start,
        udp_range_end=end,
        turn_udp_port=draw(st.none() | ports),
    )
    used = [media.tcp_port, media.signal_port, *RESERVED]
    used += [p for p in (media.turn_udp_port, media.udp_mux_port) if p is not None]
    assume(len(used) == len(set(used)))
    if media.udp_mux_port is None:
        assume(not any(start <= p <= end for p in used))
    return media


@given(valid_media())
def test_disjoint_ports_have_no_problems(media: MediaPorts) -> None:
    assert media_port_problems(media, reserved=RESERVED) == []


@given(valid_media())
def test_host_firewall_matches_ingress_one_for_one(media: MediaPorts) -> None:
    rules = public_ingress(media)
    commands = host_firewall_commands(rules)
    parsed = [parse_firewall_command(c) for c in commands]
    assert [p[:3] for p in parsed] == shape(rules)
    assert [p[3] for p in parsed] == [r.purpose for r in rules]


@given(valid_media())
def test_ingress_covers_every_media_port_and_nothing_internal(media: MediaPorts) -> None:
    rules = public_ingress(media)
    opened = {(r.protocol, p) for r in rules for p in (r.start, r.end)}
    assert ("tcp", media.tcp_port) in opened
    if media.turn_udp_port is not None:
        assert ("udp", media.turn_udp_port) in opened
    if media.udp_mux_port is not None:
        assert ("udp", media.udp_mux_port) in opened
    else:
        assert {("udp", media.udp_range_start), ("udp", media.udp_range_end)} <= opened
    internal = [5432, 6379, 9000, media.signal_port]
    assert not any(r.start <= p <= r.end for r in rules for p in internal)


@given(
    taken=st.sampled_from(sorted(RESERVED)),
    below=st.integers(min_value=0, max_value=3000),
    above=st.integers(min_value=0, max_value=3000),
)
def test_any_range_over_a_taken_port_is_reported(taken: int, below: int, above: int) -> None:
    start, end = max(1, taken - below), min(65535, taken + above)
    problems = media_port_problems(MediaPorts(udp_range_start=start, udp_range_end=end), reserved=RESERVED)
    assert any(f"includes port {taken}," in p for p in problems), problems


@given(taken=st.sampled_from([22, 80, 443]), field=st.sampled_from(["tcp_port", "turn_udp_port", "udp_mux_port"]))
def test_any_single_port_on_ssh_or_gateway_is_reported_without_reserved(taken: int, field: str) -> None:
    problems = media_port_problems(MediaPorts(**{field: taken}), reserved={})
    assert any(p.startswith(f"{field} ({taken}) includes port {taken}") for p in problems), problems
