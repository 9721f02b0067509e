"""TURN over TLS and HTTPS on one port, in the real Caddy built with caddy-l4 (renderers/turn_tls.py).

The Caddy is the gateway's pinned release with the layer4 module, built from the Go module proxy by
scripts/build-go-servers (as images/gateway-l4/Dockerfile's xcaddy does on the VM). It runs the
rendered gateway config on loopback, internal TLS, its HTTPS port standing in for 443. Behind the
SNI route: Debian's coturn (a full allocation, with data through the relay) and the real
livekit-server v1.13.5 with the rendered livekit.yaml (its TURN listener, external_tls). The
upstream is this machine's first non-loopback address, as on the VM.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

from config.model import GatewayConfig, MediaServerConfig
from renderers.caddyfile import Route, render_caddyfile
from renderers.livekit import LIVEKIT_CONFIG_ENV, LiveKitServerConfig, render_livekit_yaml
from renderers.ports import MediaPorts
from renderers.turn_tls import CADDY_L4_VERSION

from .caddy_process import (
    DOMAIN,
    MEDIA_HOST,
    Gateway,
    RunningCaddy,
    gateway_ready,
    https_get,
    loopback_config,
    root_ca_path,
    running_caddy,
    tls_socket,
    busybox_bin,
    run_reload_script,
)
from .caddy_stubs import echo_body, echo_server
from .caddy_websocket import OP_TEXT, websocket_echo_server, websocket_exchange, websocket_open
from .processes import free_tcp_ports, stop_process, wait_until_ready
from .redis_process import redis_binary
from .turn_process import (
    ALLOCATE_ERROR,
    BINDING_SUCCESS,
    BINDING_REQUEST,
    allocate_without_credentials,
    coturn,
    host_address,
    sni_tunnel,
    stun_exchange,
    stun_request,
    udp_peer,
    uclient,
)

REPO = Path(__file__).resolve().parents[2]
TURN_HOST = "turn.localhost"
HSTS_BEFORE, HSTS_AFTER = 1111, 2222
LIVEKIT_REALM = "livekit"  # pkg/service/turn.go LivekitRealm@v1.13.5


def build_go_server(*args: str) -> str:
    result = subprocess.run([REPO / "scripts" / "build-go-servers", *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"scripts/build-go-servers {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def l4_caddy() -> str:
    """The gateway's pinned Caddy with caddy-l4: the binary the built image carries."""
    return build_go_server("caddy-l4", GatewayConfig().version, CADDY_L4_VERSION)


@pytest.fixture(scope="module")
def livekit_binary() -> str:
    return build_go_server("livekit-server", MediaServerConfig().version)


@dataclass(frozen=True)
class TurnGateway:
    gw: Gateway
    caddy: RunningCaddy
    web: str
    media: str
    binary: str

    @property
    def ca(self) -> Path:
        return root_ca_path(self.gw.home)


def turn_ready(gw: Gateway) -> bool:
    if not gateway_ready(gw):
        return False
    try:
        tls_socket(gw, TURN_HOST).close()  # its certificate is issued too
        return True
    except OSError:
        return False


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory, l4_caddy: str) -> Iterator[tuple[TurnGateway, str, ExitStack]]:
    """The rendered gateway with TURN/TLS routed to coturn at this machine's own address."""
    home = tmp_path_factory.mktemp("l4gw")
    address = host_address()
    with ExitStack() as stack:
        turn_port = stack.enter_context(coturn(home / "coturn", address))
        web = stack.enter_context(echo_server("web"))
        media = stack.enter_context(websocket_echo_server())
        cfg = loopback_config(
            home,
            routes=(Route(path="/*", upstream=web),),
            media_upstream=media,
            hsts_max_age_seconds=HSTS_BEFORE,
            turn_domain=TURN_HOST,
            turn_upstream=f"{address}:{turn_port}",
        )
        gw = Gateway(cfg=cfg, home=home)
        caddy = stack.enter_context(
            running_caddy(render_caddyfile(cfg), home, ready=lambda: turn_ready(gw), binary=l4_caddy)
        )
        yield TurnGateway(gw=gw, caddy=caddy, web=web, media=media, binary=l4_caddy), address, stack


def test_a_real_turn_client_allocates_a_relay_over_tls_through_the_sni_route(gateway):
    tg, address, stack = gateway
    peer = stack.enter_context(udp_peer(address))
    tunnel = stack.enter_context(sni_tunnel(tg.gw.cfg.https_port, TURN_HOST, tg.ca))
    run = uclient(tunnel, peer=(address, peer))
    assert run.sent > 0 and run.received == run.sent and run.lost_percent == 0.0, run.output[-2000:]


def test_the_main_name_on_the_same_port_is_never_routed_to_turn(gateway):
    """The route is the SNI: a STUN request sent under the main domain's name reaches HTTPS, which refuses it."""
    tg, _, _ = gateway
    for name, expect_stun in ((TURN_HOST, True), (DOMAIN, False)):
        sock = tls_socket(tg.gw, name)
        request, _ = stun_request(BINDING_REQUEST)
        # The blank line ends what an HTTP server reads as a (malformed) request head.
        sock.sendall(request + b"\r\n\r\n")
        answer = sock.recv(4)
        sock.close()
        assert (answer[:2] == b"\x01\x01") is expect_stun, (name, answer)
        assert (answer == b"HTTP") is not expect_stun, (name, answer)


def test_https_and_websockets_keep_working_on_the_shared_port(gateway):
    tg, _, _ = gateway
    status, headers, body = https_get(tg.gw, "/hello")
    assert (status, body) == (200, echo_body("web", "/hello"))
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_BEFORE}"
    sock = tls_socket(tg.gw, MEDIA_HOST)
    status_line, _, reader = websocket_open(sock, MEDIA_HOST, "/rtc")
    assert reader is not None, status_line
    assert websocket_exchange(sock, reader, b"signal")[0] == OP_TEXT
    sock.close()


@pytest.fixture
def busybox_with_l4_caddy(tmp_path: Path, l4_caddy: str) -> Path:
    return busybox_bin(tmp_path / "bin", l4_caddy)


def test_a_reload_keeps_an_open_websocket_and_an_open_turn_tls_connection(gateway, busybox_with_l4_caddy):
    tg, _, _ = gateway
    turn = tls_socket(tg.gw, TURN_HOST)
    assert stun_exchange(turn, BINDING_REQUEST)[0] == BINDING_SUCCESS
    ws = tls_socket(tg.gw, MEDIA_HOST)
    _, _, reader = websocket_open(ws, MEDIA_HOST, "/rtc")
    assert reader is not None

    changed = render_caddyfile(replace(tg.gw.cfg, hsts_max_age_seconds=HSTS_AFTER))
    result = run_reload_script(tg.caddy, tg.gw.home, busybox_with_l4_caddy, changed)
    assert result.returncode == 0, result.stderr
    assert https_get(tg.gw, "/")[1]["Strict-Transport-Security"] == f"max-age={HSTS_AFTER}", "the reload took effect"

    assert stun_exchange(turn, BINDING_REQUEST)[0] == BINDING_SUCCESS, "the open TURN/TLS connection survived"
    opcode, payload = websocket_exchange(ws, reader, b"after reload")
    assert opcode == OP_TEXT and payload.endswith(b"after reload"), ("the open WebSocket survived", payload)
    fresh = tls_socket(tg.gw, TURN_HOST)
    assert stun_exchange(fresh, BINDING_REQUEST)[0] == BINDING_SUCCESS, "new TURN/TLS connections still routed"
    for sock in (turn, ws, fresh):
        sock.close()


def test_livekits_own_turn_listener_answers_through_the_route_with_the_rendered_config(
    tmp_path: Path, l4_caddy: str, livekit_binary: str
):
    """livekit-server with the rendered livekit.yaml (turn.external_tls) behind the gateway's TURN route."""
    address = host_address()
    signal, tcp, mux, turn_tls, redis_port = free_tcp_ports(5)
    with ExitStack() as stack:
        redis = subprocess.Popen(
            [redis_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--requirepass", "pw", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        stack.callback(stop_process, redis, timeout_s=5)
        ports = MediaPorts(
            signal_port=signal, tcp_port=tcp, udp_mux_port=mux, turn_udp_port=None,
            turn_relay_range_start=31000, turn_relay_range_end=31100, turn_tls_port=turn_tls,
        )
        body = render_livekit_yaml(LiveKitServerConfig(
            ports=ports, api_key="APItest", api_secret="s" * 32, redis_address=f"127.0.0.1:{redis_port}",
            redis_password="pw", bind_addresses=("127.0.0.1",), turn_domain=TURN_HOST,
        ))
        assert yaml.safe_load(body)["turn"]["external_tls"] is True
        log = tmp_path / "livekit.log"
        with log.open("w") as out:
            livekit = subprocess.Popen([livekit_binary], env={LIVEKIT_CONFIG_ENV: body, "PATH": "/usr/bin:/bin"},
                                       stdout=out, stderr=subprocess.STDOUT)
        stack.callback(stop_process, livekit, timeout_s=10)
        wait_until_ready(livekit, lambda: "starting LiveKit server" in log.read_text(), name="livekit-server",
                         timeout_s=30, log=log.read_text)

        home = tmp_path / "gw"
        cfg = loopback_config(home, turn_domain=TURN_HOST, turn_upstream=f"{address}:{turn_tls}")
        gw = Gateway(cfg=cfg, home=home)
        stack.enter_context(running_caddy(render_caddyfile(cfg), home, ready=lambda: turn_ready(gw), binary=l4_caddy))
        sock = tls_socket(gw, TURN_HOST)
        kind, code, realm = allocate_without_credentials(sock)
        sock.close()
        assert (kind, code, realm) == (ALLOCATE_ERROR, 401, LIVEKIT_REALM), log.read_text()[-2000:]
