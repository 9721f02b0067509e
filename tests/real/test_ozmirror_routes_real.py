"""The OzMirror example's gateway (examples/ozmirror/Pulumi.pi.yaml), every route run by the real caddy binary.

Its apps' routes come from the example file through the real loader and stack/compose.app_routes; each
app is a recording stub (caddy_stubs.recording_server) in place of its container. The Socket.IO client
of the plan (`io('http://<host>/ws', {transports: ['websocket']})`) names the namespace "/ws" and
connects to Socket.IO's default path, so what must reach the bridge is `/socket.io/?EIO=4&transport=...`:
both the upgrade and the HTTP long-polling requests.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from config.loader import parse_stack_config
from renderers.caddyfile import render_caddyfile
from stack.compose import app_routes
from tests import examples, harness

from .caddy_process import DOMAIN, Gateway, gateway_ready, https_get, https_request, loopback_config, running_caddy, tls_socket
from .caddy_stubs import RecordingUpstream, recording_server
from .caddy_websocket import ECHO_PREFIX, websocket_roundtrip

APPS = ("config-service", "websocket-bridge", "clock-module", "ui")


def ozmirror_config():
    (example,) = [e for e in examples.examples() if e.system == "ozmirror"]
    raw = harness.raw_config(example.values())
    return parse_stack_config({k.split(":", 1)[1] if ":" in k else k: v for k, v in raw.items()})


@dataclass(frozen=True)
class StubNetwork:
    """Each app's address as its stub's: what the host network's 127.0.0.1:<port> is on the Pi."""

    stubs: dict[str, RecordingUpstream]

    def address(self, alias: str, port: int) -> str:
        return self.stubs[alias].address


@dataclass(frozen=True)
class Mirror:
    gw: Gateway
    stubs: dict[str, RecordingUpstream]

    def only(self, app: str, path: str) -> bool:
        """`path` reached `app` and no other app."""
        return path in self.stubs[app].paths() and not any(path in s.paths() for n, s in self.stubs.items() if n != app)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    cfg = ozmirror_config()
    assert tuple(app.name for app in cfg.apps) == APPS
    home = tmp_path_factory.mktemp("caddy-ozmirror")
    with ExitStack() as stack:
        stubs = {name: stack.enter_context(recording_server(name)) for name in APPS}
        routes = tuple(app_routes(cfg, StubNetwork(stubs)))
        gw = Gateway(cfg=loopback_config(home, routes=routes), home=home)
        stack.enter_context(running_caddy(render_caddyfile(gw.cfg), home, ready=lambda: gateway_ready(gw)))
        yield Mirror(gw=gw, stubs=stubs)


def _unique(path: str) -> str:
    return f"{path}{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/api/config/layout/", "config-service"),
        ("/api/config/settings/", "config-service"),
        ("/api/modules/clock/time/", "clock-module"),
        ("/socket.io/?EIO=4&transport=polling&t=", "websocket-bridge"),  # Socket.IO's HTTP fallback
        ("/", "ui"),
        ("/widgets/clock/", "ui"),  # the SPA's own routes
        ("/ws/", "ui"),  # not Socket.IO's path: no Socket.IO client asks for it
    ],
)
def test_each_path_reaches_its_app_unchanged(mirror: Mirror, path: str, app: str) -> None:
    path = _unique(path)
    status, _, body = https_get(mirror.gw, path)
    assert status == 200, body
    assert json.loads(body)["upstream"] == app
    assert mirror.only(app, path), {n: s.paths()[-3:] for n, s in mirror.stubs.items()}


def test_socket_io_websocket_upgrade_reaches_the_bridge(mirror: Mirror) -> None:
    sid = uuid.uuid4().hex
    path = f"/socket.io/?EIO=4&transport=websocket&probe={sid}"
    with tls_socket(mirror.gw, DOMAIN) as sock:
        status, _, reply = websocket_roundtrip(sock, DOMAIN, path, b'40/ws,')  # Engine.IO "connect to /ws"
    assert status.startswith("HTTP/1.1 101 "), status
    assert reply == ECHO_PREFIX + b"40/ws,"
    upgrades = [r for r in mirror.stubs["websocket-bridge"].seen if r.headers.get("upgrade", "").lower() == "websocket"]
    assert path in [r.path for r in upgrades]
    assert not any(path in s.paths() for n, s in mirror.stubs.items() if n != "websocket-bridge"), "the UI got the upgrade"


@pytest.mark.parametrize("path", ["/api/config/layout", "/api/modules/clock/time"])
def test_the_apis_answer_any_origins_preflight_like_the_plans_nginx(mirror: Mirror, path: str) -> None:
    status, headers, body = https_request(mirror.gw, "OPTIONS", _unique(path + "/"), headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "PUT",
    })
    assert (status, body) == (204, b"")
    assert headers.get_all("Access-Control-Allow-Origin") == ["*"]


def test_the_gateway_answers_health_itself(mirror: Mirror) -> None:
    before = {n: len(s.seen) for n, s in mirror.stubs.items()}
    status, _, body = https_get(mirror.gw, "/health")
    assert (status, body) == (200, b"OK")
    assert {n: len(s.seen) for n, s in mirror.stubs.items()} == before
