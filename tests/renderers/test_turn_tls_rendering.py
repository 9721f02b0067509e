"""The gateway's TURN/TLS route and LiveKit's TURN/TLS section, rendered (renderers/turn_tls.py)."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from renderers.caddyfile import CaddyConfig, render_caddyfile
from renderers.livekit import LiveKitServerConfig, render_livekit_yaml
from renderers.ports import MediaPorts
from renderers.turn_tls import gateway_l4_image, layer4_server_options

BASE = {"domain": "example.com", "tls": "acme", "acme_email": "ops@example.com", "media_upstream": "127.0.0.1:7880"}


def test_the_router_is_rendered_only_with_turn_tls():
    assert "layer4" not in render_caddyfile(CaddyConfig(**BASE))
    text = render_caddyfile(CaddyConfig(**BASE, https_port=8443, turn_domain="turn.example.com", turn_upstream="10.0.0.2:5349"))
    assert "\n".join(layer4_server_options(https_port=8443, turn_domain="turn.example.com", turn_upstream="10.0.0.2:5349")) in text
    assert "\nturn.example.com {\n" in text, "a site block, so Caddy manages the TURN name's certificate"


@pytest.mark.parametrize("name", ["example.com", "livekit.example.com"])
def test_the_turn_name_must_differ_from_the_names_https_serves(name):
    with pytest.raises(ValueError, match="turn_domain must differ"):
        CaddyConfig(**BASE, turn_domain=name, turn_upstream="10.0.0.2:5349")


@pytest.mark.parametrize("half", [{"turn_domain": "turn.example.com"}, {"turn_upstream": "10.0.0.2:5349"}])
def test_domain_and_upstream_go_together(half):
    with pytest.raises(ValueError, match="go together"):
        CaddyConfig(**BASE, **half)


@pytest.mark.parametrize("upstream", ["10.0.0.2", "10.0.0.2:0", "bad host:1", "10.0.0.2:5349 {"])
def test_a_malformed_upstream_is_refused(upstream):
    with pytest.raises(ValueError, match="turn_upstream"):
        CaddyConfig(**BASE, turn_domain="turn.example.com", turn_upstream=upstream)


def livekit(ports: MediaPorts, turn_domain: str | None) -> dict:
    return yaml.safe_load(render_livekit_yaml(LiveKitServerConfig(
        ports=ports, api_key="APIkey", api_secret="s" * 40, redis_address="127.0.0.1:6379", redis_password="pw",
        turn_domain=turn_domain,
    )))["turn"]


@given(udp=st.none() | st.just(3478), tls=st.integers(min_value=1024, max_value=65535))
def test_livekit_gets_external_tls_the_domain_and_its_relays_with_or_without_udp(udp, tls):
    turn = livekit(MediaPorts(turn_udp_port=udp, turn_tls_port=tls), "turn.example.com")
    assert turn["enabled"] and turn["external_tls"] and turn["tls_port"] == tls and turn["domain"] == "turn.example.com"
    assert ("udp_port" in turn) is (udp is not None)
    assert (turn["relay_range_start"], turn["relay_range_end"]) == (30000, 40000)


def test_livekit_refuses_a_domain_without_a_port_and_a_name_livekit_would_refuse():
    with pytest.raises(ValueError, match="go together"):
        livekit(MediaPorts(), "turn.example.com")
    with pytest.raises(ValueError, match="at least one dot"):
        livekit(MediaPorts(turn_tls_port=5349), "localhost")  # pkg/service/utils.go IsValidDomain@v1.13.5


def test_the_image_name_changes_with_either_pinned_version():
    assert gateway_l4_image("2.11.7") != gateway_l4_image("2.11.6")
    assert gateway_l4_image("2.11.7").endswith("-l4-v0.1.2")
