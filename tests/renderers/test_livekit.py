"""livekit-server / egress config bodies and their container healthchecks."""
from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.livekit import (
    EgressConfig,
    LiveKitServerConfig,
    S3Upload,
    egress_healthcheck,
    livekit_healthcheck,
    render_egress_yaml,
    render_livekit_yaml,
)
from renderers.ports import MediaPorts

SECRET = "s" * 32


def livekit_cfg(**overrides) -> LiveKitServerConfig:
    values = dict(
        ports=MediaPorts(udp_mux_port=7882, turn_udp_port=None),
        api_key="APIkey1",
        api_secret=SECRET,
        redis_address="redis:6379",
        redis_password="redispw",
    )
    values.update(overrides)
    return LiveKitServerConfig(**values)


def s3_upload() -> S3Upload:
    return S3Upload(
        endpoint="http://minio:9000",
        region="us-east-1",
        bucket="recordings",
        access_key="AKIA1",
        secret_key="s3secret",
    )


def egress_cfg(**overrides) -> EgressConfig:
    values = dict(
        api_key="APIkey1",
        api_secret=SECRET,
        ws_url="ws://livekit:7880",
        redis_address="redis:6379",
        redis_password="redispw",
        s3=s3_upload(),
        cpus=2.0,
    )
    values.update(overrides)
    return EgressConfig(**values)


def test_dev_mux_config_has_exactly_the_expected_structure():
    cfg = livekit_cfg(enable_loopback_candidate=True)
    assert yaml.safe_load(render_livekit_yaml(cfg)) == {
        "port": 7880,
        "rtc": {"tcp_port": 7881, "udp_port": 7882, "use_external_ip": False, "enable_loopback_candidate": True},
        "redis": {"address": "redis:6379", "password": "redispw"},
        "keys": {"APIkey1": SECRET},
        "turn": {"enabled": False},
        "logging": {"level": "info"},
    }


def test_prod_range_config_has_exactly_the_expected_structure():
    cfg = livekit_cfg(
        ports=MediaPorts(udp_range_start=50000, udp_range_end=50100, turn_udp_port=3478),
        bind_addresses=("127.0.0.1",),
        use_external_ip=True,
        log_level="warn",
    )
    assert yaml.safe_load(render_livekit_yaml(cfg)) == {
        "port": 7880,
        "bind_addresses": ["127.0.0.1"],
        "rtc": {"tcp_port": 7881, "port_range_start": 50000, "port_range_end": 50100, "use_external_ip": True},
        "redis": {"address": "redis:6379", "password": "redispw"},
        "keys": {"APIkey1": SECRET},
        "turn": {"enabled": True, "udp_port": 3478, "relay_range_start": 30000, "relay_range_end": 40000},
        "logging": {"level": "warn"},
    }


def test_mux_mode_never_emits_a_range_and_range_mode_never_emits_a_mux_port():
    # LiveKit prefers the range when both are present, and falls back to
    # 50000-60000 when neither is: exactly one of them must be there.
    mux = yaml.safe_load(render_livekit_yaml(livekit_cfg(ports=MediaPorts(udp_mux_port=7882))))["rtc"]
    rng = yaml.safe_load(render_livekit_yaml(livekit_cfg(ports=MediaPorts()))) ["rtc"]
    assert "port_range_start" not in mux and "port_range_end" not in mux and mux["udp_port"] == 7882
    assert "udp_port" not in rng and (rng["port_range_start"], rng["port_range_end"]) == (50000, 60000)


def test_turn_is_udp_only_without_tls_port_domain_or_certificate():
    turn = yaml.safe_load(render_livekit_yaml(livekit_cfg(ports=MediaPorts(turn_udp_port=443))))["turn"]
    assert turn == {"enabled": True, "udp_port": 443, "relay_range_start": 30000, "relay_range_end": 40000}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"api_key": ""}, "api_key"),
        ({"api_secret": "short"}, "at least 32"),
        ({"api_secret": "x" * 31 + "\x00"}, "NUL"),
        ({"redis_address": "redis"}, "host:port"),
        ({"redis_address": "redis:0"}, "host:port"),
        ({"bind_addresses": ("localhost",)}, "does not appear to be an IPv4 or IPv6 address"),
        ({"node_ip": "not-an-ip"}, "does not appear to be an IPv4 or IPv6 address"),
        ({"node_ip": "203.0.113.7", "use_external_ip": True}, "ignored"),
        ({"node_ip": "127.0.0.1", "enable_loopback_candidate": True}, "loopback candidate"),
        ({"log_level": "verbose"}, "log_level"),
    ],
)
def test_livekit_config_rejects_inputs_livekit_would_reject_or_ignore(overrides, message):
    with pytest.raises(ValueError, match=message):
        livekit_cfg(**overrides)


def test_egress_config_has_exactly_the_expected_structure():
    assert yaml.safe_load(render_egress_yaml(egress_cfg())) == {
        "api_key": "APIkey1",
        "api_secret": SECRET,
        "ws_url": "ws://livekit:7880",
        "redis": {"address": "redis:6379", "password": "redispw"},
        "health_port": 9090,
        "logging": {"level": "info"},
        "cpu_cost": {
            "room_composite_cpu_cost": 2.0,
            "audio_room_composite_cpu_cost": 1.0,
            "web_cpu_cost": 2.0,
            "audio_web_cpu_cost": 1.0,
            "participant_cpu_cost": 2.0,
            "track_composite_cpu_cost": 1.0,
            "track_cpu_cost": 0.5,
        },
        "storage": {
            "s3": {
                "access_key": "AKIA1",
                "secret": "s3secret",
                "region": "us-east-1",
                "endpoint": "http://minio:9000",
                "bucket": "recordings",
                "force_path_style": True,
            }
        },
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ws_url": "http://livekit:7880"}, "ws_url"),
        ({"health_port": 0}, "health_port"),
        ({"redis_address": "redis"}, "host:port"),
        ({"log_level": "trace"}, "log_level"),
    ],
)
def test_egress_config_rejects_bad_inputs(overrides, message):
    with pytest.raises(ValueError, match=message):
        egress_cfg(**overrides)


def test_s3_upload_rejects_an_endpoint_without_scheme():
    with pytest.raises(ValueError, match="endpoint"):
        replace(s3_upload(), endpoint="minio:9000")


ports = st.integers(min_value=1024, max_value=65535)


@st.composite
def media_ports(draw) -> MediaPorts:
    start = draw(ports)
    return MediaPorts(
        signal_port=draw(ports),
        tcp_port=draw(ports),
        udp_mux_port=draw(st.none() | ports),
        udp_range_start=start,
        udp_range_end=draw(st.integers(min_value=start, max_value=65535)),
        turn_udp_port=draw(st.none() | ports),
    )


@given(media_ports())
def test_rendered_ports_match_the_inputs_exactly(mp):
    doc = yaml.safe_load(render_livekit_yaml(livekit_cfg(ports=mp)))
    expected_rtc = {"tcp_port": mp.tcp_port, "use_external_ip": False}
    if mp.udp_mux_port is None:
        expected_rtc |= {"port_range_start": mp.udp_range_start, "port_range_end": mp.udp_range_end}
    else:
        expected_rtc["udp_port"] = mp.udp_mux_port
    assert doc["port"] == mp.signal_port
    assert doc["rtc"] == expected_rtc
    expected_turn = {"enabled": False} if mp.turn_udp_port is None else {
        "enabled": True,
        "udp_port": mp.turn_udp_port,
        "relay_range_start": mp.turn_relay_range_start,
        "relay_range_end": mp.turn_relay_range_end,
    }
    assert doc["turn"] == expected_turn


# Anything an environment variable can carry: every code point except NUL and
# the lone surrogates that no UTF-8 text (hence no YAML document) can hold.
env_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1)

NASTY = ["null", "~", "", "true", "no", "0x1F", "1e3", "0o17", "- a", "a: b", "#x", "'", '"', "@x", "`x", "%x", " x ", "a\nb"]


@given(key=env_text, secret=env_text.map(lambda s: s + SECRET), password=st.sampled_from(NASTY) | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")))
def test_livekit_secrets_survive_a_yaml_round_trip(key, secret, password):
    doc = yaml.safe_load(render_livekit_yaml(livekit_cfg(api_key=key, api_secret=secret, redis_password=password)))
    assert doc["keys"] == {key: secret}
    assert doc["redis"]["password"] == password


@given(secret=env_text | st.sampled_from([n for n in NASTY if n]), api_secret=env_text)
def test_egress_secrets_survive_a_yaml_round_trip(secret, api_secret):
    s3 = replace(s3_upload(), secret_key=secret, access_key=secret)
    doc = yaml.safe_load(render_egress_yaml(egress_cfg(api_secret=api_secret, redis_password=secret, s3=s3)))
    assert doc["api_secret"] == api_secret
    assert doc["redis"]["password"] == secret
    assert doc["storage"]["s3"]["secret"] == secret and doc["storage"]["s3"]["access_key"] == secret


@pytest.mark.parametrize(
    "bind, url",
    [
        ((), "http://127.0.0.1:7880/"),
        (("0.0.0.0",), "http://127.0.0.1:7880/"),
        (("::",), "http://[::1]:7880/"),
        (("10.0.0.2", "127.0.0.1"), "http://10.0.0.2:7880/"),
        (("fd00::2",), "http://[fd00::2]:7880/"),
    ],
)
def test_livekit_healthcheck_dials_an_address_the_signal_port_listens_on(bind, url):
    assert livekit_healthcheck(signal_port=7880, bind_addresses=bind) == ["CMD", "wget", "-q", "-O", "/dev/null", url]


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"OK" if self.status == 200 else b"Not Ready")

    def log_message(self, *args) -> None:
        pass


@contextmanager
def http_server(status: int) -> Iterator[int]:
    handler = type("Handler", (_Handler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_probe(argv: list[str]) -> int:
    return subprocess.run(argv, capture_output=True, timeout=20).returncode


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; CI must install it (Debian package '{binary}')")
    return path


@pytest.mark.parametrize("status, healthy", [(200, True), (406, False)])
def test_livekit_healthcheck_with_busybox_wget_as_in_the_alpine_image(status, healthy):
    busybox = require("busybox")
    with http_server(status) as port:
        test = livekit_healthcheck(signal_port=port)
        assert test[:2] == ["CMD", "wget"]
        assert (run_probe([busybox, *test[1:]]) == 0) is healthy


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_egress_healthcheck_with_gnu_wget_as_in_the_ubuntu_image(status, healthy):
    wget = require("wget")
    with http_server(status) as port:
        test = egress_healthcheck(port)
        assert test[:2] == ["CMD", "wget"]
        assert (run_probe([wget, *test[2:]]) == 0) is healthy


def test_healthchecks_fail_when_nothing_listens():
    busybox, wget = require("busybox"), require("wget")
    with http_server(200) as port:
        pass  # closed again: the port is now free
    lk = livekit_healthcheck(signal_port=port)
    eg = egress_healthcheck(port)
    assert run_probe([busybox, *lk[1:]]) != 0
    assert run_probe([wget, *eg[2:]]) != 0


# --- Egress admission: its CPU limit and its cpu_cost agree -------------------------------------

from config.model import EgressConfig as EgressSettings  # noqa: E402
from renderers.livekit import EGRESS_DEFAULT_CPU_COSTS  # noqa: E402


def idle_admits(cpus: float, cost: float) -> bool:
    """Egress v1.14.1 with no active request: available = NumCPU, accepted when available >= cost
    (pkg/stats/monitor.go:230-235, :557-583); NumCPU is the container's CPU limit (cgroup cpu.max)."""
    return cpus >= cost




@settings(max_examples=200, deadline=None)
@given(tenths=st.integers(min_value=1, max_value=640))
def test_every_request_type_is_admitted_by_an_idle_egress_of_any_allowed_size(tenths):
    cpus = tenths / 10
    EgressSettings(cpus=cpus)  # every value drawn is one the config accepts
    document = yaml.safe_load(render_egress_yaml(egress_cfg(cpus=cpus)))
    costs = document["cpu_cost"]
    assert set(costs) == set(EGRESS_DEFAULT_CPU_COSTS)
    for request_type, cost in costs.items():
        assert cost > 0, "egress replaces a cost <= 0 with its default"
        assert idle_admits(cpus, cost), f"{request_type} costs {cost} but Egress has {cpus} CPUs"
        assert cost <= EGRESS_DEFAULT_CPU_COSTS[request_type], "never dearer than upstream's estimate"


def test_upstream_defaults_would_refuse_room_composites_on_two_cpus():
    """The defaults alone (what Egress used before cpu_cost was rendered) refuse a room composite on 2 CPUs."""
    assert not idle_admits(2.0, EGRESS_DEFAULT_CPU_COSTS["room_composite_cpu_cost"])
    assert idle_admits(2.0, yaml.safe_load(render_egress_yaml(egress_cfg(cpus=2.0)))["cpu_cost"]["room_composite_cpu_cost"])
