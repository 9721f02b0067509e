"""The OzMirror gateway (examples/ozmirror/Pulumi.pi.yaml) on its extra names, run by the real caddy binary.

The example serves mirror.local plus gateway.extraNames (localhost, 127.0.0.1, the Pi's LAN IP) with Caddy's
internal CA. Here on loopback: a client that trusts only the root fetched the way the gatewayRootCertCommand output
fetches it (the file under Caddy's data dir, $XDG_DATA_HOME being /data in the image) completes a verified TLS
handshake for each name; the Pi's LAN IP, unreachable here, has its certificate issued and verifying against that
root with an IP SAN; HSTS is max-age=0; and plain HTTP on a name redirects to HTTPS on the same name (the kiosk's
http://localhost:80).
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from config.derived import gateway_hsts_max_age_seconds
from renderers.caddyfile import CADDY_DATA_DIR, CaddyConfig, render_caddyfile, root_cert_command
from stack.compose import app_routes

from .caddy_process import Gateway, admin_socket_path, https_get, root_ca_path, running_caddy, tls_socket
from .caddy_stubs import recording_server
from .processes import free_tcp_ports
from .test_ozmirror_routes_real import APPS, StubNetwork, ozmirror_config

LAN_IP = "192.168.1.20"


def root_from_command(home: Path) -> Path:
    """The file the gatewayRootCertCommand output `cat`s inside the container, at the same place under the test's
    data dir: the image's XDG_DATA_HOME=/data is the test's home/data (caddy_process.caddy_env)."""
    command = root_cert_command(container="gateway-caddy")
    (container_path,) = [w for w in command.split() if w.startswith(f"{CADDY_DATA_DIR}/")]
    return home / "data" / PurePosixPath(container_path).relative_to(CADDY_DATA_DIR)


@dataclass(frozen=True)
class Kiosk:
    gw: Gateway
    names: tuple[str, ...]


def _ready(gw: Gateway) -> bool:
    if not root_from_command(gw.home).exists():
        return False
    try:
        for name in (gw.cfg.domain, *gw.cfg.extra_names):
            if name != LAN_IP:
                tls_socket(gw, name).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiosk]:
    cfg = ozmirror_config()
    assert cfg.gateway.tls == "internal"
    assert cfg.gateway.extra_names == ("localhost", "127.0.0.1", LAN_IP)
    home = tmp_path_factory.mktemp("caddy-kiosk")
    # tls_socket trusts exactly this file: the one the output's command copies out of the container.
    assert root_from_command(home) == root_ca_path(home)
    http_port, https_port, health_port = free_tcp_ports(3)
    with ExitStack() as stack:
        stubs = {name: stack.enter_context(recording_server(name)) for name in APPS}
        gw = Gateway(
            cfg=CaddyConfig(
                # What stack/compose.py hands the gateway for this config, on free loopback ports.
                domain=cfg.domain,
                tls=cfg.gateway.tls,
                routes=tuple(app_routes(cfg, StubNetwork(stubs))),
                extra_names=cfg.gateway.extra_names,
                hsts_max_age_seconds=gateway_hsts_max_age_seconds(cfg),
                http_port=http_port,
                https_port=https_port,
                health_port=health_port,
                admin_socket=admin_socket_path(home),
            ),
            home=home,
        )
        stack.enter_context(running_caddy(render_caddyfile(gw.cfg), home, ready=lambda: _ready(gw)))
        yield Kiosk(gw=gw, names=(cfg.domain, *cfg.gateway.extra_names))


@pytest.mark.parametrize("name", ["mirror.local", "localhost", "127.0.0.1"])
def test_each_name_handshakes_against_the_fetched_root_and_reaches_the_ui(kiosk: Kiosk, name: str) -> None:
    # tls_socket trusts only Caddy's root and checks the name (an IP against the certificate's IP SANs; Python sends
    # no SNI for an IP, so Caddy picks the certificate by the connection's local address).
    with tls_socket(kiosk.gw, name) as sock:
        cert = sock.getpeercert()
    sans = {value for kind, value in cert["subjectAltName"]}
    assert name in sans, cert["subjectAltName"]
    path = f"/widgets/{uuid.uuid4().hex}"
    status, headers, body = https_get(kiosk.gw, path, host=name)
    assert status == 200, body
    assert json.loads(body)["upstream"] == "ui"
    # RFC 6797 section 6.1.1: max-age=0, so a kiosk that once saw a one-year pin forgets it.
    assert headers.get_all("Strict-Transport-Security") == ["max-age=0"]


def test_the_lan_ip_gets_its_own_certificate_from_the_same_root(kiosk: Kiosk) -> None:
    issued = kiosk.gw.home / "data" / "caddy" / "certificates" / "local" / LAN_IP / f"{LAN_IP}.crt"
    for _ in range(100):  # issued in the background alongside the others
        if issued.exists():
            break
        time.sleep(0.1)
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(root_from_command(kiosk.gw.home)), "-untrusted", str(issued), str(issued)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(issued)],
                          capture_output=True, text=True, check=True).stdout
    assert f"IP Address:{LAN_IP}" in text, text


def test_a_client_without_the_root_is_refused(kiosk: Kiosk) -> None:
    # What the review saw on the kiosk before trusting the root: the handshake fails, it is not an HTTP error.
    raw = socket.create_connection(("127.0.0.1", kiosk.gw.cfg.https_port), timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    raw.close()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_plain_http_on_a_name_redirects_to_https_on_that_name(kiosk: Kiosk, name: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", kiosk.gw.cfg.http_port, timeout=5)
    try:
        conn.request("GET", "/callback?code=x", headers={"Host": f"{name}:{kiosk.gw.cfg.http_port}"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    # 308 to https://{http.request.host}{uri}: the request's host without its port, and no port appended when the
    # target is Caddy's https_port (modules/caddyhttp/autohttps.go:544-562@v2.11.7 makeRedirRoute), so on the Pi
    # (https_port 443) the kiosk's http://localhost:80/callback lands on https://localhost/callback.
    assert response.status == 308
    assert response.headers["Location"] == f"https://{name}/callback?code=x"
