"""Per-route options (strip_prefix, cors_origins, compress), run by the real caddy binary.

Same harness as test_caddy_real: the rendered gateway with Caddy's internal CA,
clients verifying TLS against that root only, and loopback upstreams. Here every
upstream is a recording stub (caddy_stubs.recording_server): it answers with the
method, path and headers it saw, keeps every request so a test can show one never
arrived, grants CORS to any Origin like a permissive framework would, and takes
WebSocket upgrades.
"""
from __future__ import annotations

import gzip
import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest

from renderers.caddyfile import CORS_MAX_AGE_SECONDS, Route, render_caddyfile

from .caddy_process import (
    DOMAIN,
    Gateway,
    loopback_config,
    gateway_ready,
    https_get,
    https_request,
    running_caddy,
    tls_socket,
)
from .caddy_stubs import RecordingUpstream, recording_server
from .caddy_websocket import ECHO_PREFIX, websocket_roundtrip

ALLOWED = "https://app.example.com"
ALLOWED_DEV = "http://localhost:5173"
# Near misses of ALLOWED as well as strangers: exact match means exact.
DISALLOWED = [
    "https://evil.example",
    "https://app.example.com.evil.example",
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://APP.example.com",
    "null",
]
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class RoutesGateway:
    gw: Gateway
    api: RecordingUpstream  # /api/*, strip_prefix
    raw: RecordingUpstream  # /raw/*, no options
    cors: RecordingUpstream  # /cors/*, explicit origins
    public: RecordingUpstream  # /public/*, any origin
    plain: RecordingUpstream  # /plain/*, compress=False
    web: RecordingUpstream  # /*


@pytest.fixture(scope="module")
def routes_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoutesGateway]:
    home = tmp_path_factory.mktemp("caddy-routes")
    with ExitStack() as stack:
        up = {name: stack.enter_context(recording_server(name))
              for name in ("api", "raw", "cors", "public", "plain", "web")}
        cfg = loopback_config(
            home,
            routes=(
                Route(path="/*", upstream=up["web"].address),
                Route(path="/api/*", upstream=up["api"].address, strip_prefix=True),
                Route(path="/raw/*", upstream=up["raw"].address),
                Route(path="/cors/*", upstream=up["cors"].address, cors_origins=(ALLOWED, ALLOWED_DEV)),
                Route(path="/public/*", upstream=up["public"].address, cors_origins=("*",)),
                Route(path="/plain/*", upstream=up["plain"].address, compress=False),
            ),
        )
        gw = Gateway(cfg=cfg, home=home)
        # Entered last, so Caddy is stopped before the stubs it proxies to.
        stack.enter_context(running_caddy(render_caddyfile(cfg), home, ready=lambda: gateway_ready(gw)))
        yield RoutesGateway(gw=gw, **up)


def _unique(prefix: str) -> str:
    """A path no other test uses, so 'the upstream never saw it' is about this request only."""
    return f"{prefix}/{uuid.uuid4().hex}"


def _seen(headers: http.client.HTTPMessage, name: str) -> list[str]:
    """Every value of a response header, one per header line."""
    return headers.get_all(name) or []


def _vary(headers: http.client.HTTPMessage) -> set[str]:
    return {v.strip() for line in _seen(headers, "Vary") for v in line.split(",")}


def _preflight(rg: RoutesGateway, path: str, origin: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    return https_request(rg.gw, "OPTIONS", path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type, x-team-token",
    })


# --- strip_prefix -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "arrives_as"),
    [
        ("/api/users", "/users"),
        ("/api/users?id=7&sort=name", "/users?id=7&sort=name"),
        ("/api/", "/"),
        ("/api/v1/api/items", "/v1/api/items"),  # only the leading prefix goes
    ],
)
def test_strip_prefix_route_reaches_upstream_without_prefix(
    routes_gateway: RoutesGateway, path: str, arrives_as: str
) -> None:
    status, _, body = https_get(routes_gateway.gw, path)
    assert status == 200, body
    seen = json.loads(body)
    assert (seen["upstream"], seen["path"]) == ("api", arrives_as)


def test_route_without_strip_prefix_keeps_the_prefix(routes_gateway: RoutesGateway) -> None:
    status, _, body = https_get(routes_gateway.gw, "/raw/users?id=7")
    assert status == 200, body
    seen = json.loads(body)
    assert (seen["upstream"], seen["path"]) == ("raw", "/raw/users?id=7")


# --- cors_origins -------------------------------------------------------------


@pytest.mark.parametrize("origin", [ALLOWED, ALLOWED_DEV])
def test_preflight_from_allowed_origin_is_answered_by_the_gateway(routes_gateway: RoutesGateway, origin: str) -> None:
    path = _unique("/cors/items")
    status, headers, body = _preflight(routes_gateway, path, origin)
    assert (status, body) == (204, b"")
    assert _seen(headers, "Access-Control-Allow-Origin") == [origin]
    assert _seen(headers, "Access-Control-Allow-Credentials") == ["true"]
    assert "PUT" in [m.strip() for m in headers["Access-Control-Allow-Methods"].split(",")]
    assert headers["Access-Control-Allow-Headers"] == "content-type, x-team-token"
    assert headers["Access-Control-Max-Age"] == str(CORS_MAX_AGE_SECONDS)
    assert "Origin" in _vary(headers)
    assert path not in routes_gateway.cors.paths(), "the preflight reached the upstream"


@pytest.mark.parametrize("origin", DISALLOWED)
def test_preflight_from_other_origin_gets_no_cors_grant(routes_gateway: RoutesGateway, origin: str) -> None:
    path = _unique("/cors/items")
    status, headers, _ = _preflight(routes_gateway, path, origin)
    assert status == 403
    for name in ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"):
        assert _seen(headers, name) == [], (name, dict(headers))
    assert path not in routes_gateway.cors.paths(), "the preflight reached the upstream"


@pytest.mark.parametrize("origin", [ALLOWED, ALLOWED_DEV])
def test_request_from_allowed_origin_gets_its_origin_back(routes_gateway: RoutesGateway, origin: str) -> None:
    path = _unique("/cors/items")
    status, headers, body = https_get(routes_gateway.gw, path, headers={"Origin": origin})
    assert status == 200
    assert json.loads(body)["path"] == path  # reached the upstream, unstripped
    # Exactly the gateway's value: the upstream's own (reflected) grant was removed.
    assert _seen(headers, "Access-Control-Allow-Origin") == [origin]
    assert _seen(headers, "Access-Control-Allow-Credentials") == ["true"]
    assert "Origin" in _vary(headers)


@pytest.mark.parametrize("origin", DISALLOWED)
def test_request_from_other_origin_gets_no_cors_grant(routes_gateway: RoutesGateway, origin: str) -> None:
    path = _unique("/cors/items")
    status, headers, body = https_get(routes_gateway.gw, path, headers={"Origin": origin})
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == path and seen["headers"]["origin"] == origin  # the upstream did grant it...
    assert _seen(headers, "Access-Control-Allow-Origin") == []  # ...and the gateway took it back
    assert _seen(headers, "Access-Control-Allow-Credentials") == []
    assert "Origin" in _vary(headers)


def test_two_origin_headers_never_reflect_the_other_one(routes_gateway: RoutesGateway) -> None:
    # http.client sends both lines; the header matcher matches on the allowed one, and the
    # gateway answers with its literal, never with the joined request header.
    conn_headers = [("Origin", ALLOWED), ("Origin", "https://evil.example")]
    conn = http.client.HTTPConnection(DOMAIN, routes_gateway.gw.cfg.https_port, timeout=5)
    conn.sock = tls_socket(routes_gateway.gw, DOMAIN)
    try:
        conn.putrequest("GET", _unique("/cors/items"))
        for name, value in conn_headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert all("evil" not in v for v in _seen(response.headers, "Access-Control-Allow-Origin"))
    assert _seen(response.headers, "Access-Control-Allow-Origin") == [ALLOWED]


def test_options_that_is_not_a_preflight_reaches_the_upstream(routes_gateway: RoutesGateway) -> None:
    path = _unique("/cors/items")
    status, headers, body = https_request(routes_gateway.gw, "OPTIONS", path, headers={"Origin": ALLOWED})
    assert status == 200 and json.loads(body)["method"] == "OPTIONS"
    assert path in routes_gateway.cors.paths()
    assert _seen(headers, "Access-Control-Allow-Origin") == [ALLOWED]


@pytest.mark.parametrize("origin", [ALLOWED, "https://anyone.example"])
def test_any_origin_route_answers_preflight_with_wildcard_and_no_credentials(
    routes_gateway: RoutesGateway, origin: str
) -> None:
    path = _unique("/public/items")
    status, headers, _ = _preflight(routes_gateway, path, origin)
    assert status == 204
    assert _seen(headers, "Access-Control-Allow-Origin") == ["*"]
    assert _seen(headers, "Access-Control-Allow-Credentials") == []
    assert headers["Access-Control-Max-Age"] == str(CORS_MAX_AGE_SECONDS)
    assert path not in routes_gateway.public.paths(), "the preflight reached the upstream"
    status, headers, _ = https_get(routes_gateway.gw, path, headers={"Origin": origin})
    assert status == 200
    assert _seen(headers, "Access-Control-Allow-Origin") == ["*"]  # not the upstream's reflection
    assert _seen(headers, "Access-Control-Allow-Credentials") == []


def test_route_without_cors_leaves_the_upstreams_headers_alone(routes_gateway: RoutesGateway) -> None:
    # Without cors_origins the gateway does no CORS: the app's own answer passes unchanged.
    _, headers, _ = https_get(routes_gateway.gw, "/raw/x", headers={"Origin": "https://evil.example"})
    assert _seen(headers, "Access-Control-Allow-Origin") == ["https://evil.example"]
    assert "Origin" not in _vary(headers)


# --- compress -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_compress_false_route_is_not_encoded(routes_gateway: RoutesGateway, encoding: str) -> None:
    status, headers, body = https_get(routes_gateway.gw, "/plain/big", headers={"Accept-Encoding": encoding})
    assert status == 200
    assert "Content-Encoding" not in headers
    assert len(body) > 4000 and json.loads(body)["path"] == "/plain/big"


@pytest.mark.parametrize("path", ["/raw/big", "/api/big", "/cors/big", "/big"])
@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_other_routes_still_compress(routes_gateway: RoutesGateway, path: str, encoding: str) -> None:
    status, headers, body = https_get(routes_gateway.gw, path, headers={"Accept-Encoding": encoding})
    assert status == 200
    assert headers["Content-Encoding"] == encoding
    if encoding == "gzip":
        body = gzip.decompress(body)
        assert json.loads(body)["path"] in (path, "/big")
    else:
        assert body.startswith(ZSTD_MAGIC)


def test_health_still_answered_without_site_wide_encode(routes_gateway: RoutesGateway) -> None:
    status, _, body = https_get(routes_gateway.gw, "/health", headers={"Accept-Encoding": "gzip"})
    assert (status, body) == (200, b"OK")


# --- WebSocket --------------------------------------------------------------------


def test_websocket_through_strip_prefix_route(routes_gateway: RoutesGateway) -> None:
    token = uuid.uuid4().hex
    with tls_socket(routes_gateway.gw, DOMAIN) as sock:
        status, _, reply = websocket_roundtrip(sock, DOMAIN, f"/api/chat/{token}", b"hello team")
    assert status.startswith("HTTP/1.1 101 "), status
    assert reply == ECHO_PREFIX + b"hello team"
    upgrades = [r for r in routes_gateway.api.seen if r.headers.get("upgrade", "").lower() == "websocket"]
    assert f"/chat/{token}" in [r.path for r in upgrades]
