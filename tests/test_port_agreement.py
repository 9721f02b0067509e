"""One port list, three consumers: the OCI security list, the VM's iptables rules and LiveKit's
config are all derived from the same MediaPorts, so for any valid media ports they agree."""
from __future__ import annotations

import yaml
from hypothesis import given, settings

from renderers.livekit import LiveKitServerConfig, render_livekit_yaml
from renderers.oci_rules import PROTOCOL_NUMBERS, WORLD, public_ingress_rules
from renderers.ports import MediaPorts, host_firewall_chain_lines, public_ingress
from tests.renderers.test_ports import parse_firewall_command, valid_media

PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items()}
WEB = {("tcp", 80, 80), ("tcp", 443, 443)}


def cloud_ports(media: MediaPorts) -> set[tuple[str, int, int]]:
    found = set()
    for rule in public_ingress_rules(public_ingress(media)):
        assert rule["source"] == WORLD
        name = PROTOCOL_NAMES[rule["protocol"]]
        options = rule[f"{name}_options"]
        found.add((name, options["min"], options["max"]))
    return found


def host_ports(media: MediaPorts) -> set[tuple[str, int, int]]:
    return {parse_firewall_command(c)[:3] for c in host_firewall_chain_lines(public_ingress(media))}


def livekit_doc(media: MediaPorts) -> dict:
    """The rendered livekit.yaml for ``media``, parsed."""
    return yaml.safe_load(render_livekit_yaml(LiveKitServerConfig(
        ports=media, api_key="APIkey", api_secret="s" * 40, redis_address="127.0.0.1:6379", redis_password="pw",
        turn_domain="turn.example.com" if media.turn_tls_port is not None else None,
    )))


def livekit_ports(media: MediaPorts) -> set[tuple[str, int, int]]:
    """What LiveKit will listen on publicly, read back from the rendered livekit.yaml."""
    doc = livekit_doc(media)
    rtc, turn = doc["rtc"], doc["turn"]
    found = {("tcp", rtc["tcp_port"], rtc["tcp_port"])}
    if "udp_port" in rtc:
        found.add(("udp", rtc["udp_port"], rtc["udp_port"]))
    else:
        found.add(("udp", rtc["port_range_start"], rtc["port_range_end"]))
    if turn["enabled"]:
        if "udp_port" in turn:
            found.add(("udp", turn["udp_port"], turn["udp_port"]))
        found.add(("udp", turn["relay_range_start"], turn["relay_range_end"]))
    return found


def livekit_private_ports(media: MediaPorts) -> set[tuple[str, int, int]]:
    """What LiveKit listens on for the gateway only: TURN/TLS behind the SNI route (renderers/turn_tls.py)."""
    turn = livekit_doc(media)["turn"]
    return {("tcp", turn["tls_port"], turn["tls_port"])} if turn.get("external_tls") else set()


@settings(max_examples=200, deadline=None)
@given(valid_media())
def test_cloud_rules_host_rules_and_livekit_agree(media):
    cloud, host, livekit = cloud_ports(media), host_ports(media), livekit_ports(media)
    assert cloud == host
    assert cloud == WEB | livekit
    assert ("tcp", media.signal_port, media.signal_port) not in cloud
    # TURN/TLS: clients reach it on 443 (in WEB); LiveKit's own listener is never opened.
    private = livekit_private_ports(media)
    assert private == ({("tcp", media.turn_tls_port, media.turn_tls_port)} if media.turn_tls_port else set())
    assert not any(first <= port <= last for _, port, _ in private for _, first, last in cloud if _ == "tcp")
