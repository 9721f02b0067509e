"""Changing the running gateway's config in place, as the host-side reload command does.

Each test runs the real caddy on the rendered dev config (internal CA, loopback
stubs, same harness as test_caddy_real) and reloads it by running the rendered
in-container script, ``renderers.caddyfile.reload_script``, unchanged except for
the Caddyfile path (the container's /etc/caddy/Caddyfile is this test's file).
The script runs under busybox sh with nothing but busybox applets and caddy on
PATH: what caddy:<version>-alpine offers it. Its input is what
``reload_command`` pipes into ``docker exec -i``: the Caddyfile, base64-encoded.

The admin socket is the test's own (a config field); the container's /run path
would be shared by every run on this machine.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from renderers.caddyfile import (
    ADMIN_SOCKET_MODE,
    CaddyConfig,
    Route,
    reload_command,
    render_caddyfile,
)

from .caddy_process import (
    DOMAIN,
    MEDIA_HOST,
    Gateway,
    RunningCaddy,
    admin_get,
    loopback_config,
    caddy_binary,
    caddy_env,
    gateway_ready,
    https_get,
    listening_tcp_ports,
    running_caddy,
    tls_socket,
    busybox_bin as make_busybox_bin,
    run_reload_script,
)
from .caddy_stubs import Gate, echo_body, echo_server
from .caddy_websocket import ECHO_PREFIX, OP_TEXT, websocket_echo_server, websocket_exchange, websocket_open

HSTS_BEFORE = 1111
HSTS_AFTER = 2222  # a header change the reload must bring
CADDY_DEFAULT_ADMIN_PORT = 2019  # admin.go@v2.11.4 DefaultAdminListen "localhost:2019"
RELOAD_TIMEOUT_S = 60
CONTAINER = "gateway-caddy"


@dataclass(frozen=True)
class Upstreams:
    web: str
    api: str
    held: str  # answers only once `gate` is released
    new: str  # only routed to after the reload
    media: str  # WebSocket echo, behind the media site
    gate: Gate


@dataclass(frozen=True)
class Reloadable:
    gw: Gateway
    caddy: RunningCaddy
    upstreams: Upstreams
    busybox_bin: Path  # PATH for the script: busybox applets + caddy, like the image


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH directory of busybox applets plus caddy: the tool set of the alpine image."""
    return make_busybox_bin(tmp_path_factory.mktemp("busybox-bin"), caddy_binary())


def _routes(up: Upstreams, *, new_route: bool = False) -> tuple[Route, ...]:
    routes = (
        Route(path="/*", upstream=up.web),
        Route(path="/api/*", upstream=up.api),
        Route(path="/held", upstream=up.held),
    )
    return (*routes, Route(path="/new/*", upstream=up.new)) if new_route else routes


def _changed(cfg: CaddyConfig, up: Upstreams) -> CaddyConfig:
    """The change under test: one route more, one header different."""
    return replace(cfg, routes=_routes(up, new_route=True), hsts_max_age_seconds=HSTS_AFTER)


@pytest.fixture
def reloadable(tmp_path_factory: pytest.TempPathFactory, busybox_bin: Path) -> Iterator[Reloadable]:
    """A fresh gateway per test: every test changes its config."""
    home = tmp_path_factory.mktemp("gw")  # short: the admin socket path is limited to 107 bytes
    with ExitStack() as stack:
        gate = Gate()
        stack.callback(gate.release.set)  # never leave a stub thread waiting
        up = Upstreams(
            web=stack.enter_context(echo_server("web")),
            api=stack.enter_context(echo_server("api")),
            held=stack.enter_context(echo_server("held", gate=gate)),
            new=stack.enter_context(echo_server("new")),
            media=stack.enter_context(websocket_echo_server()),
            gate=gate,
        )
        cfg = loopback_config(home, routes=_routes(up), media_upstream=up.media, hsts_max_age_seconds=HSTS_BEFORE)
        gw = Gateway(cfg=cfg, home=home)
        caddy = stack.enter_context(running_caddy(render_caddyfile(gw.cfg), home, ready=lambda: gateway_ready(gw)))
        yield Reloadable(gw=gw, caddy=caddy, upstreams=up, busybox_bin=busybox_bin)


def _reload(r: Reloadable, cfg_or_text: CaddyConfig | str) -> subprocess.CompletedProcess[str]:
    """Run the rendered in-container script on the new Caddyfile, as `docker exec -i` would."""
    text = cfg_or_text if isinstance(cfg_or_text, str) else render_caddyfile(cfg_or_text)
    return run_reload_script(r.caddy, r.gw.home, r.busybox_bin, text, timeout_s=RELOAD_TIMEOUT_S)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _leftovers(r: Reloadable) -> list[str]:
    """Temp or backup files the script may have left next to the Caddyfile."""
    return sorted(p.name for p in r.caddy.config.parent.iterdir() if p.name.startswith("Caddyfile."))


# --- the admin API ----------------------------------------------------------


def test_admin_api_listens_on_unix_socket_only(reloadable: Reloadable) -> None:
    r = reloadable
    cfg = r.gw.cfg
    # Every TCP listener Caddy holds is one of the three the config asks for:
    # no admin port, whatever its number (2019 or the harness's CADDY_ADMIN fallback).
    assert listening_tcp_ports(r.caddy.pid) == {cfg.http_port, cfg.https_port, cfg.health_port}
    assert _refused(CADDY_DEFAULT_ADMIN_PORT), "something answers on Caddy's default admin address"
    assert _refused(r.caddy.fallback_admin_port)

    mode = os.stat(cfg.admin_socket).st_mode
    assert stat.S_ISSOCK(mode)
    # Root (the test, the container) ignores it, but any other user is locked out.
    assert stat.S_IMODE(mode) == int(ADMIN_SOCKET_MODE, 8)

    status, body = admin_get(cfg.admin_socket, "/config/")
    assert status == 200, body
    assert json.loads(body)["admin"]["listen"] == f"unix/{cfg.admin_socket}|{ADMIN_SOCKET_MODE}"


# --- a reload keeps live traffic --------------------------------------------


def test_websocket_stays_open_across_reload_that_adds_route_and_changes_header(reloadable: Reloadable) -> None:
    r = reloadable
    with tls_socket(r.gw, MEDIA_HOST) as ws:
        status, _, reader = websocket_open(ws, MEDIA_HOST, "/rtc?access_token=t")
        assert status.startswith("HTTP/1.1 101 ") and reader is not None
        assert websocket_exchange(ws, reader, b"before") == (OP_TEXT, ECHO_PREFIX + b"before")
        assert https_get(r.gw, "/new/x")[2] == echo_body("web", "/new/x")  # not routed yet: catch-all

        result = _reload(r, _changed(r.gw.cfg, r.upstreams))
        assert result.returncode == 0, result.stderr

        # Same TCP/TLS connection, same upstream stream: without stream_close_delay Caddy
        # would have sent a close frame (1001 going away) and dropped it at the reload.
        for message in (b"after", b"and after that"):
            assert websocket_exchange(ws, reader, message) == (OP_TEXT, ECHO_PREFIX + message)

    status, headers, body = https_get(r.gw, "/new/x")
    assert (status, body) == (200, echo_body("new", "/new/x"))
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_AFTER}"
    _, media_headers, _ = https_get(r.gw, "/", host=MEDIA_HOST)
    assert media_headers["Strict-Transport-Security"] == f"max-age={HSTS_AFTER}"
    assert r.caddy.config.read_text() == render_caddyfile(_changed(r.gw.cfg, r.upstreams))
    assert _leftovers(r) == []


def test_keepalive_across_reload_in_flight_finishes_idle_is_closed_cleanly(reloadable: Reloadable) -> None:
    """What a reload does to HTTP keep-alive connections.

    Caddy cannot hand an accepted connection to the new config: the old servers are
    shut down with net/http's Server.Shutdown (modules/caddyhttp/app.go@v2.11.4 Stop),
    which closes idle keep-alive connections at once and lets active ones finish their
    request within grace_period, then closes them. So a keep-alive connection does NOT
    survive a reload; what it guarantees is that nothing is cut mid-request: an idle one
    gets a clean TLS close (close_notify, then EOF) before any new request is sent on it,
    which browsers and HTTP client pools treat as a stale connection and reconnect; the
    request in flight gets its whole response from the config it started under.
    """
    r = reloadable
    idle = tls_socket(r.gw, DOMAIN)
    in_flight = tls_socket(r.gw, DOMAIN)
    with idle, in_flight:
        idle_conn = http.client.HTTPConnection(DOMAIN, r.gw.cfg.https_port, timeout=5)
        idle_conn.sock = idle
        idle_conn.request("GET", "/api/first")
        first = idle_conn.getresponse()
        assert (first.status, first.read()) == (200, echo_body("api", "/api/first"))
        assert not first.will_close  # a keep-alive connection, now idle

        held_conn = http.client.HTTPConnection(DOMAIN, r.gw.cfg.https_port, timeout=30)
        held_conn.sock = in_flight
        held_conn.request("GET", "/held")
        assert r.upstreams.gate.arrived.wait(10), "the held request never reached its upstream"

        result = _reload(r, replace(r.gw.cfg, hsts_max_age_seconds=HSTS_AFTER))
        assert result.returncode == 0, result.stderr

        # The idle connection: closed by Caddy, cleanly (EOF, not a reset or a partial answer).
        idle.settimeout(10)
        assert idle.recv(1) == b"", "idle keep-alive connection still open after the reload"

        # The request in flight across the reload completes, from the old config.
        r.upstreams.gate.release.set()
        held = held_conn.getresponse()
        assert (held.status, held.read()) == (200, echo_body("held", "/held"))
        assert held.headers["Strict-Transport-Security"] == f"max-age={HSTS_BEFORE}"

    # What the client does next (reconnect) gets the new config.
    _, headers, body = https_get(r.gw, "/api/second")
    assert body == echo_body("api", "/api/second")
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_AFTER}"


# --- a bad file changes nothing ---------------------------------------------


def test_rejected_caddyfile_fails_with_caddys_error_and_changes_nothing(reloadable: Reloadable) -> None:
    r = reloadable
    before_file = r.caddy.config.read_bytes()
    _, before_config = admin_get(r.gw.cfg.admin_socket, "/config/")
    broken = render_caddyfile(replace(r.gw.cfg, hsts_max_age_seconds=HSTS_AFTER)) + "\nexample.com {\n\tno_such_directive\n}\n"

    with tls_socket(r.gw, MEDIA_HOST) as ws:
        _, _, reader = websocket_open(ws, MEDIA_HOST, "/rtc")
        assert reader is not None
        result = _reload(r, broken)
        assert result.returncode != 0
        assert "unrecognized directive: no_such_directive" in result.stderr, result.stderr
        assert "reload aborted" in result.stderr
        assert websocket_exchange(ws, reader, b"still") == (OP_TEXT, ECHO_PREFIX + b"still")

    assert r.caddy.config.read_bytes() == before_file
    assert _leftovers(r) == []
    assert admin_get(r.gw.cfg.admin_socket, "/config/")[1] == before_config
    status, headers, body = https_get(r.gw, "/api/x")
    assert (status, body) == (200, echo_body("api", "/api/x"))
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_BEFORE}"


def test_failed_reload_restores_the_previous_file(reloadable: Reloadable) -> None:
    """Valid, but Caddy cannot take it: the file on disk must stay what Caddy runs.

    A different admin address is such a file: `caddy reload` without --address reads
    the address from the file it loads (cmd/commandfuncs.go@v2.11.4
    DetermineAdminAPIAddress), and nothing listens there yet. (Changing the admin
    socket therefore takes a container restart, not a reload.)
    """
    r = reloadable
    before_file = r.caddy.config.read_bytes()
    moved = replace(r.gw.cfg, admin_socket=str(r.gw.home / "elsewhere.sock"), hsts_max_age_seconds=HSTS_AFTER)

    result = _reload(r, moved)

    assert result.returncode != 0
    assert "Valid configuration" in result.stdout + result.stderr  # it got past validation
    assert "elsewhere.sock" in result.stderr and "reload failed" in result.stderr, result.stderr
    assert r.caddy.config.read_bytes() == before_file
    assert _leftovers(r) == []
    _, headers, _ = https_get(r.gw, "/api/x")
    assert headers["Strict-Transport-Security"] == f"max-age={HSTS_BEFORE}"


# --- the host-side command --------------------------------------------------


def test_host_command_streams_the_file_through_docker_exec(reloadable: Reloadable, tmp_path: Path) -> None:
    """The whole rendered host command, with `docker` standing in for the container.

    The fake `docker` checks it is asked for `exec -i <container>` and runs the rest
    (`sh -c <script>`) right here, with the image's tool set: so the quoting, the
    base64 transport and the exit status of the exact command string are exercised.
    """
    r = reloadable
    fake = tmp_path / "docker-bin"
    fake.mkdir()
    docker = fake / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        f'[ "$1 $2 $3" = "exec -i {CONTAINER}" ] || {{ echo "fake docker: unexpected $*" >&2; exit 125; }}\n'
        "shift 3\n"
        'exec "$@"\n'
    )
    docker.chmod(0o755)
    new = _changed(r.gw.cfg, r.upstreams)
    env = {**caddy_env(r.gw.home), "PATH": f"{fake}:{r.busybox_bin}"}

    def run(text: str) -> subprocess.CompletedProcess[str]:
        command = reload_command(text, container=CONTAINER, caddyfile_path=str(r.caddy.config))
        return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True,
                              timeout=RELOAD_TIMEOUT_S, check=False)

    # Quotes, '$', backslashes and a would-be heredoc end must arrive byte for byte.
    tricky = render_caddyfile(new) + "# it's $HOME `x` \\ EOF\n"
    ok = run(tricky)
    assert ok.returncode == 0, ok.stderr
    assert r.caddy.config.read_text() == tricky
    assert https_get(r.gw, "/new/y")[2] == echo_body("new", "/new/y")

    bad = run(tricky + "example.com {\n\tno_such_directive\n}\n")
    assert bad.returncode != 0 and "no_such_directive" in bad.stderr, bad.stderr
    assert r.caddy.config.read_text() == tricky
