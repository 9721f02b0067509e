"""Port derivation: public ingress, media port validation and the host firewall script."""
from __future__ import annotations

import base64
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from renderers.host_firewall import (
    HOST_FIREWALL_SCRIPT_PATH,
    HOST_FIREWALL_UNIT_NAME,
    HOST_FIREWALL_UNIT_PATH,
    host_firewall_install_command,
    host_firewall_script,
    host_firewall_unit,
)
from renderers.ports import (
    HOST_FIREWALL_CHAIN,
    OWNED_COMMENTS,
    MediaPorts,
    PortRule,
    host_firewall_chain_lines,
    media_port_problems,
    public_ingress,
)

# What the config layer passes: other services' ports (it includes the signal port too).
RESERVED = {22: "SSH", 80: "gateway.httpPort", 443: "gateway.httpsPort", 5432: "database.port",
            6379: "cache.port", 9000: "objectStore.port", 7880: "mediaServer.signalPort"}  # fmt: skip


def shape(rules: tuple[PortRule, ...] | list[PortRule]) -> list[tuple[str, int, int]]:
    return [(r.protocol, r.start, r.end) for r in rules]


def restore_tokens(line: str) -> list[str]:
    """Split one iptables-restore line as iptables-restore does: on spaces, outside double quotes."""
    return [token.strip('"') for token in re.findall(r'"[^"]*"|[^ ]+', line)]


def parse_firewall_command(command: str) -> tuple[str, int, int, str]:
    """(protocol, first, last, comment) of one rule line the host firewall script feeds to iptables-restore."""
    argv = restore_tokens(command)
    assert argv[:2] == ["-A", HOST_FIREWALL_CHAIN], command
    spec = argv[2:]
    opts = dict(zip(spec[::2], spec[1::2]))
    assert spec.count("-m") == 3 and opts["--state"] == "NEW" and opts["-j"] == "ACCEPT", spec
    assert opts["-m"] == "comment" and spec[spec.index("--dport") - 1] == opts["-p"], spec
    first, _, last = opts["--dport"].partition(":")
    return opts["-p"], int(first), int(last or first), opts["--comment"]


def script_rule_lines(script: str) -> list[str]:
    """The lines of the script's iptables-restore document that ACCEPT something."""
    document = script.split("<<'RULES'\n", 1)[1].split("\nRULES\n", 1)[0].splitlines()
    assert document[:3] == ["*filter", f":{HOST_FIREWALL_CHAIN} - [0:0]", f"-F {HOST_FIREWALL_CHAIN}"]
    assert document[-1] == "COMMIT"
    return document[3:-1]


def install_payloads(command: str) -> tuple[str, str, str]:
    """(script, unit, the command with both base64 bodies cut out) of a rendered install command."""
    found = re.findall(r"<<'([A-Z0-9-]+)'\n(.*?)\n\1\n", command, flags=re.S)
    assert [end for end, _ in found] == ["SCRIPT-BASE64-END", "UNIT-BASE64-END"], command
    script, unit = (base64.b64decode(body, validate=False).decode() for _, body in found)
    skeleton = command
    for _, body in found:
        skeleton = skeleton.replace(body, "<base64>")
    return script, unit, skeleton


# --- public_ingress ---------------------------------------------------------------------------


def test_default_ingress_is_exactly_the_public_ports_in_order() -> None:
    assert shape(public_ingress(MediaPorts())) == [
        ("tcp", 80, 80),
        ("tcp", 443, 443),
        ("tcp", 7881, 7881),
        ("udp", 3478, 3478),
        ("udp", 30000, 40000),
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


# --- host firewall script, unit and install command ---------------------------------------


def test_script_is_posix_sh_that_stops_at_the_first_failure() -> None:
    script = host_firewall_script(public_ingress(MediaPorts()))
    assert script.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in script
    assert "pipefail" not in script and "[[" not in script, "dash has neither"


def test_script_never_persists_docker_chains() -> None:
    # netfilter-persistent save (or iptables-save into rules.v4) once Docker runs would write its chains to disk.
    script = host_firewall_script(public_ingress(MediaPorts()))
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not any("netfilter-persistent" in line or "iptables-save" in line or "rules.v4" in line for line in code)


def test_script_rebuilds_the_chain_in_one_restore_document() -> None:
    script = host_firewall_script(public_ingress(MediaPorts()))
    assert "iptables-restore -w --noflush <<'RULES'\n" in script
    assert script_rule_lines(script) == host_firewall_chain_lines(public_ingress(MediaPorts()))


def test_only_our_comments_are_ever_deleted_from_input() -> None:
    script = host_firewall_script(public_ingress(MediaPorts()))
    assert sorted(re.findall(r'owned\["([^"]*)"\] = 1', script)) == sorted(OWNED_COMMENTS)
    assert "SSH" not in OWNED_COMMENTS and all("22" not in c for c in OWNED_COMMENTS)


def test_owned_comments_are_usable_as_rule_comments() -> None:
    # The script embeds them in a single-quoted awk program; host_firewall_chain_lines refuses quotes and backslashes.
    rules = [PortRule(protocol="tcp", start=80, end=80, purpose=c) for c in sorted(OWNED_COMMENTS)]
    assert len(host_firewall_chain_lines(rules)) == len(OWNED_COMMENTS)


def test_unit_runs_the_script_once_per_boot_after_oracles_rules_and_before_docker() -> None:
    unit = host_firewall_unit()
    sections: dict[str, dict[str, str]] = {}
    for line in unit.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            current[key] = value
    assert sections == {
        "Unit": {
            "Description": "Open the backing services' public ports in the host firewall",
            "After": "netfilter-persistent.service",
            "Before": "docker.service",
        },
        "Service": {"Type": "oneshot", "RemainAfterExit": "yes", "ExecStart": HOST_FIREWALL_SCRIPT_PATH},
        "Install": {"WantedBy": "multi-user.target"},
    }
    assert HOST_FIREWALL_UNIT_PATH == f"/etc/systemd/system/{HOST_FIREWALL_UNIT_NAME}"


def test_install_command_installs_enables_and_runs_the_script() -> None:
    command = host_firewall_install_command(public_ingress(MediaPorts()))
    script, unit, skeleton = install_payloads(command)
    assert script == host_firewall_script(public_ingress(MediaPorts()))
    assert unit == host_firewall_unit()
    steps = [line for line in skeleton.splitlines() if line.startswith("sudo ")]
    assert steps == [
        f'sudo install -o root -g root -m 0755 "$work/script" {HOST_FIREWALL_SCRIPT_PATH}',
        f'sudo install -o root -g root -m 0644 "$work/unit" {HOST_FIREWALL_UNIT_PATH}',
        "sudo systemctl daemon-reload",
        f"sudo systemctl enable {HOST_FIREWALL_UNIT_NAME}",
        f"sudo {HOST_FIREWALL_SCRIPT_PATH}",
    ]
    assert skeleton.startswith("set -eu\n")


def test_purpose_becomes_the_rule_comment() -> None:
    rule = PortRule(protocol="udp", start=50000, end=60000, purpose="LiveKit WebRTC media (UDP range)")
    assert parse_firewall_command(host_firewall_chain_lines([rule])[0]) == (
        "udp", 50000, 60000, "LiveKit WebRTC media (UDP range)"
    )


@pytest.mark.parametrize("purpose", ["line\nbreak", "x" * 257, "", 'say "hi"', "back\\slash", "it's"])
def test_unusable_comments_are_refused(purpose: str) -> None:
    with pytest.raises(ValueError, match="purpose"):
        host_firewall_chain_lines([PortRule(protocol="tcp", start=80, end=80, purpose=purpose)])
    with pytest.raises(ValueError, match="purpose"):
        host_firewall_script([PortRule(protocol="tcp", start=80, end=80, purpose=purpose)])


# --- properties -----------------------------------------------------------------------------

ports = st.integers(min_value=1024, max_value=65535)


@st.composite
def valid_media(draw: st.DrawFn) -> MediaPorts:
    """Any MediaPorts the config layer would accept (the validator is checked independently below)."""
    # Ranges of up to 5,000 and 3,000 ports: wide enough for every overlap case, narrow enough that most
    # draws keep clear of the single ports (wider ones made hypothesis discard too many draws).
    start = draw(ports)
    end = draw(st.integers(min_value=start, max_value=min(65535, start + 5000)))
    relay_start = draw(ports)
    relay_end = draw(st.integers(min_value=relay_start, max_value=min(65535, relay_start + 3000)))
    media = MediaPorts(
        signal_port=draw(ports),
        tcp_port=draw(ports),
        udp_mux_port=draw(st.none() | ports),
        udp_range_start=start,
        udp_range_end=end,
        turn_udp_port=draw(st.none() | ports),
        turn_relay_range_start=relay_start,
        turn_relay_range_end=relay_end,
        turn_tls_port=draw(st.none() | ports),
    )
    used = [media.tcp_port, media.signal_port, *RESERVED]
    used += [p for p in (media.turn_udp_port, media.udp_mux_port, media.turn_tls_port) if p is not None]
    assume(len(used) == len(set(used)))
    ranges = []
    if media.udp_mux_port is None:
        ranges.append((start, end))
    if media.turn_enabled:
        ranges.append((relay_start, relay_end))
    for first, last in ranges:
        assume(not any(first <= p <= last for p in used))
    if len(ranges) == 2:
        assume(ranges[0][1] < ranges[1][0] or ranges[1][1] < ranges[0][0])
    return media


@given(valid_media())
def test_disjoint_ports_have_no_problems(media: MediaPorts) -> None:
    assert media_port_problems(media, reserved=RESERVED) == []


@given(valid_media())
def test_host_firewall_script_accepts_ingress_one_for_one(media: MediaPorts) -> None:
    rules = public_ingress(media)
    parsed = [parse_firewall_command(line) for line in script_rule_lines(host_firewall_script(rules))]
    assert [p[:3] for p in parsed] == shape(rules)
    assert [p[3] for p in parsed] == [r.purpose for r in rules]


@given(valid_media())
def test_every_purpose_the_stack_writes_is_one_the_script_may_clean_up(media: MediaPorts) -> None:
    # Otherwise a rule an older release left in INPUT with that comment would never be removed.
    assert {r.purpose for r in public_ingress(media)} <= OWNED_COMMENTS


@given(valid_media(), valid_media())
def test_install_command_carries_the_rules_only_inside_base64(a: MediaPorts, b: MediaPorts) -> None:
    # Whatever the ports, the shell text around the payloads is the same, so no rule can change what the shell runs.
    script_a, _, skeleton_a = install_payloads(host_firewall_install_command(public_ingress(a)))
    _, _, skeleton_b = install_payloads(host_firewall_install_command(public_ingress(b)))
    assert skeleton_a == skeleton_b
    assert script_a == host_firewall_script(public_ingress(a))


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
