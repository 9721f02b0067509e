"""The rendered dev gateway, run by the real caddy binary against loopback stubs.

Every assertion goes through a real client with TLS verification on, trusting
only the root that this Caddy generated, so each setting of the renderer is
checked by its effect rather than by its spelling.
"""
from __future__ import annotations

import gzip
import http.client
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from renderers.caddyfile import (
    ADMIN_SOCKET,
    ADMIN_SOCKET_MODE,
    HEALTH_BODY,
    LETSENCRYPT_STAGING_DIRECTORY,
    CaddyConfig,
    Route,
    healthcheck_command,
    render_caddyfile,
)

from .caddy_process import (
    DOMAIN,
    MEDIA_HOST,
    Gateway,
    admin_get,
    loopback_config,
    caddy_cli,
    gateway_ready,
    handlers,
    https_get,
    running_caddy,
    tls_socket,
)
from .caddy_stubs import echo_body, echo_server
from .caddy_websocket import ECHO_PREFIX, websocket_echo_server, websocket_roundtrip

HSTS_MAX_AGE = 4321  # not the default, so the header provably comes from the config
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("caddy-dev")
    with ExitStack() as stack:
        web = stack.enter_context(echo_server("web"))
        api = stack.enter_context(echo_server("api"))
        events = stack.enter_context(echo_server("events"))
        media = stack.enter_context(websocket_echo_server())
        cfg = loopback_config(
            home,
            routes=(
                Route(path="/*", upstream=web),
                Route(path="/api/*", upstream=api),
                Route(path="/events", upstream=events),
            ),
            media_upstream=media,
            hsts_max_age_seconds=HSTS_MAX_AGE,
        )
        gw = Gateway(cfg=cfg, home=home)
        # Entered last, so Caddy is stopped before the stubs it proxies to.
        stack.enter_context(running_caddy(render_caddyfile(cfg), home, ready=lambda: gateway_ready(gw)))
        yield gw


def test_https_verifies_against_caddys_internal_root(gateway: Gateway) -> None:
    status, _, body = https_get(gateway, "/health")
    assert (status, body) == (200, HEALTH_BODY.encode())
    # The same handshake against the system trust store must fail: the
    # certificate really comes from Caddy's local CA, and verification is on.
    raw = socket.create_connection(("127.0.0.1", gateway.cfg.https_port), timeout=5)
    with raw, pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname=DOMAIN)


def test_internal_ca_covers_every_site_and_leaves_trust_store_alone(gateway: Gateway) -> None:
    # localhost names would get the internal CA anyway; the adapted config shows
    # local_certs makes it the only issuer for any domain (e.g. sslip.io in dev).
    result = caddy_cli(["adapt", "--adapter", "caddyfile", "--config", str(gateway.home / "Caddyfile")], gateway.home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["apps"]["tls"]["automation"]["policies"] == [{"issuers": [{"module": "internal"}]}]
    assert "trust store installation disabled" in (gateway.home / "caddy.log").read_text()


def test_http_redirects_to_https(gateway: Gateway) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gateway.cfg.http_port, timeout=5)
    try:
        conn.request("GET", "/api/items?page=2", headers={"Host": DOMAIN})
        response = conn.getresponse()
        location = response.getheader("Location")
    finally:
        conn.close()
    assert response.status == 308
    # Caddy treats https_port as internal (the public side is 443), so the
    # redirect carries no port: caddyhttp/autohttps.go makeRedirRoute.
    assert location == f"https://{DOMAIN}/api/items?page=2"
    target = urlsplit(location)
    status, _, body = https_get(gateway, f"{target.path}?{target.query}", host=target.hostname)
    assert status == 200 and body == echo_body("api", "/api/items?page=2")


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/users?id=7", "api"),
        ("/api/", "api"),
        ("/events", "events"),
        ("/events/more", "web"),  # "/events" is an exact match, not a prefix
        ("/", "web"),
        ("/some/page", "web"),
    ],
)
def test_routes_reach_their_upstream(gateway: Gateway, path: str, upstream: str) -> None:
    status, _, body = https_get(gateway, path)
    assert status == 200
    assert body == echo_body(upstream, path)


def test_health_is_answered_by_caddy_not_the_catch_all(gateway: Gateway) -> None:
    status, headers, body = https_get(gateway, "/health")
    assert (status, body) == (200, b"OK")
    assert headers.get_content_type() == "text/plain"


def test_websocket_passes_through_media_site(gateway: Gateway) -> None:
    with tls_socket(gateway, MEDIA_HOST) as sock:
        status, _, reply = websocket_roundtrip(sock, MEDIA_HOST, "/rtc?access_token=t", b"hello livekit")
    assert status.startswith("HTTP/1.1 101 ")
    assert reply == ECHO_PREFIX + b"hello livekit"


def test_websocket_on_main_site_does_not_reach_media(gateway: Gateway) -> None:
    with tls_socket(gateway, DOMAIN) as sock:
        status, _, reply = websocket_roundtrip(sock, DOMAIN, "/rtc", b"hello")
    assert not status.startswith("HTTP/1.1 101 ") and reply == b""


@pytest.mark.parametrize(("host", "path"), [(DOMAIN, "/api/x"), (DOMAIN, "/health"), (MEDIA_HOST, "/")])
def test_security_headers(gateway: Gateway, host: str, path: str) -> None:
    _, headers, _ = https_get(gateway, path, host=host)
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_MAX_AGE}"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # Both Caddy and the Python stub send one; neither may leak.
    assert "Server" not in headers


@pytest.mark.parametrize("encoding", ["gzip", "zstd"])
def test_responses_are_compressed(gateway: Gateway, encoding: str) -> None:
    plain = echo_body("api", "/api/big")
    _, headers, body = https_get(gateway, "/api/big", headers={"Accept-Encoding": encoding})
    assert headers["Content-Encoding"] == encoding
    assert len(body) < len(plain) // 4
    if encoding == "gzip":
        assert gzip.decompress(body) == plain
    else:
        assert body.startswith(ZSTD_MAGIC)


def test_identity_when_client_does_not_ask_for_compression(gateway: Gateway) -> None:
    _, headers, body = https_get(gateway, "/api/big", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in headers
    assert body == echo_body("api", "/api/big")


def test_container_healthcheck_command_succeeds(gateway: Gateway) -> None:
    # The caddy alpine image's wget is busybox's; run that same implementation.
    busybox = shutil.which("busybox")
    assert busybox, "busybox not installed (apt-get install busybox): needed to run the HEALTHCHECK as the image does"
    command = healthcheck_command(gateway.cfg.health_port)
    assert command[0] == "CMD"
    ok = subprocess.run([busybox, *command[1:]], capture_output=True, text=True, timeout=30, check=False)
    assert (ok.returncode, ok.stdout) == (0, HEALTH_BODY), ok.stderr
    # And it must be able to report unhealthy: a non-200 makes wget exit non-zero.
    broken = [busybox, *command[1:-1], command[-1].replace("/health", "/nope")]
    assert subprocess.run(broken, capture_output=True, timeout=30, check=False).returncode != 0


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket in LISTEN on ``port``, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(address_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(packed)))
    return found


def test_health_listener_is_loopback_only(gateway: Gateway) -> None:
    assert _listening_addresses(gateway.cfg.health_port) == {"127.0.0.1"}
    # Sanity check of the parser: the public listener is on the wildcard address.
    assert _listening_addresses(gateway.cfg.https_port) & {"0.0.0.0", "::"}


def test_running_config_has_admin_socket_and_reload_safe_proxies(gateway: Gateway) -> None:
    # Asked of the running Caddy itself, over the socket the Caddyfile names.
    status, body = admin_get(gateway.cfg.admin_socket, "/config/")
    assert status == 200, body
    live = json.loads(body)
    assert live["admin"]["listen"] == f"unix/{gateway.cfg.admin_socket}|{ADMIN_SOCKET_MODE}"
    assert live["apps"]["http"]["grace_period"] > 0
    proxies = [h for h in handlers(live) if h["handler"] == "reverse_proxy"]
    assert len(proxies) == len(gateway.cfg.routes) + 1  # every route and the media site
    assert all(h.get("stream_close_delay", 0) > 0 for h in proxies), proxies


def test_prod_staging_config_validates_and_targets_staging_ca(tmp_path: Path) -> None:
    cfg = CaddyConfig(
        domain="app.example.com",
        tls="acme",
        acme_email="ops@example.com",
        acme_staging=True,
        routes=(Route(path="/*", upstream="web:3000"),),
        media_upstream="livekit:7880",
    )
    path = tmp_path / "Caddyfile"
    path.write_text(render_caddyfile(cfg))
    validated = caddy_cli(["validate", "--adapter", "caddyfile", "--config", str(path)], tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "Valid configuration" in validated.stdout + validated.stderr
    adapted = caddy_cli(["adapt", "--adapter", "caddyfile", "--config", str(path)], tmp_path)
    assert adapted.returncode == 0, adapted.stderr
    assert LETSENCRYPT_STAGING_DIRECTORY in adapted.stdout
    config = json.loads(adapted.stdout)
    issuers = [i for p in config["apps"]["tls"]["automation"]["policies"] for i in p["issuers"]]
    assert issuers and all(i["module"] == "acme" and i["ca"] == LETSENCRYPT_STAGING_DIRECTORY for i in issuers)
    # The container's own admin socket (the dev gateway above uses a per-test one).
    assert config["admin"] == {"listen": f"unix/{ADMIN_SOCKET}|{ADMIN_SOCKET_MODE}"}
    proxies = [h for h in handlers(config) if h["handler"] == "reverse_proxy"]
    assert len(proxies) == 2 and all(h.get("stream_close_delay", 0) > 0 for h in proxies), proxies
