"""Zero-downtime rollouts through the real Caddy 2.11.7: no request fails while the route moves.

The steps are the engine's order for apps[].rollout "zero-downtime" (components/app.py): the new app
server starts beside the old one, is checked with the app's own healthcheck command
(components/app.http_healthcheck, run here with the host's wget/curl as Docker runs it in the
container), the gateway's upstream file is switched to it by the rendered switch script (under
busybox, as `docker exec` runs it in the alpine image), and only then does the old server stop. The
Caddyfile is the program's, rendered once: a rollout does not reload Caddy.

Each revision listens on the app's port at its own loopback address (127.0.0.2, .3, ...), as each
container does at its own IP on the bridge network; the file holds that address where Docker's would
hold the container's name. A client loops requests through the gateway the whole time, each on a fresh
TLS connection and never retried, over several rollouts in a row: a reload loses about one such request
each time (renderers/caddyfile.UPSTREAM_HOST_FILE_DIR), so even a rare loss would show here. A second
client does the same on one keep-alive connection, which a reload would close.

With a new server that fails its healthcheck, the engine's create fails (`wait`), its name never
resolves and the switch never runs (tests/test_app_rollout.py): the old server keeps serving.
"""
from __future__ import annotations

import http.client
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.app import http_healthcheck
from renderers.caddyfile import CaddyConfig, Route, render_caddyfile

from .caddy_process import (
    Gateway,
    busybox_bin as make_busybox_bin,
    caddy_binary,
    gateway_ready,
    https_get,
    loopback_config,
    root_ca_path,
    run_switch_script,
    running_caddy,
)
from .processes import free_tcp_ports, running_in_thread, serving_in_thread

HEALTH_PATH = "/health"
ROLLOUTS = 5
LOOP_SECONDS_AFTER = 1.0  # keep requesting this long after each old server is gone


def _app_handler(name: str, healthy: bool) -> type[BaseHTTPRequestHandler]:
    class App(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Caddy's transport pools connections

        def do_GET(self) -> None:
            if self.path == HEALTH_PATH and not healthy:
                status, body = 500, b"not ready\n"
            else:
                status, body = 200, f"app={name}\n".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return App


@contextmanager
def app_server(name: str, address: str, port: int, *, healthy: bool = True) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((address, port), _app_handler(name, healthy))
    server.daemon_threads = True
    with serving_in_thread(server):
        yield server


def healthcheck_passes(address: str, port: int) -> bool:
    """The app container's healthcheck command (CMD-SHELL), run by sh as Docker runs it.

    In the container 127.0.0.1 is the app itself; here the revision's own loopback address is.
    """
    kind, command = http_healthcheck(port, HEALTH_PATH)
    assert kind == "CMD-SHELL" and "127.0.0.1" in command
    command = command.replace("127.0.0.1", address)
    return subprocess.run(["sh", "-c", command], capture_output=True, timeout=10).returncode == 0


@dataclass
class Client:
    """Loops GET /app/ through the gateway in a thread, one fresh connection per request, never retrying."""

    gw: Gateway
    answers: list[tuple[int, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, _, body = https_get(self.gw, "/app/x")
                self.answers.append((status, body.decode().strip()))
            except OSError as err:
                self.errors.append((len(self.answers), repr(err)))

    def failures(self) -> list:
        return self.errors + [a for a in self.answers if a[0] != 200]

    def served_by(self) -> list[str]:
        return [body for status, body in self.answers if status == 200]

    def served_in_order(self) -> list[str]:
        """The revisions (their `app=` names) in the order they served, each once."""
        served = [body.removeprefix("app=") for body in self.served_by()]
        return [s for i, s in enumerate(served) if i == 0 or served[i - 1] != s]


@dataclass
class KeepAliveClient(Client):
    """The same loop on one HTTP/1.1 keep-alive connection: a request on a connection the gateway closed
    fails here too (never retried); a new connection is opened only after a failure, so `connections`
    counts how often the gateway closed one."""

    connections: int = 0

    def run(self) -> None:
        context = ssl.create_default_context(cafile=str(root_ca_path(self.gw.home)))
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection("localhost", self.gw.cfg.https_port, timeout=5, context=context)
                    self.connections += 1
                conn.request("GET", "/app/x")
                response = conn.getresponse()
                self.answers.append((response.status, response.read().decode().strip()))
                if response.will_close:
                    conn.close()
                    conn = None
            except OSError as err:
                self.errors.append((len(self.answers), repr(err)))
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_bin(tmp_path_factory.mktemp("busybox-bin"), caddy_binary())


def config_for(home: Path, port: int) -> CaddyConfig:
    """The program's route to a zero-downtime app: its alias's port, its host from the file."""
    return loopback_config(home, routes=(Route(path="/app/*", upstream=f"web:{port}", host_file=str(home / "upstream.web")),))


@contextmanager
def looping_client(gw: Gateway, kind: type[Client] = Client) -> Iterator[Client]:
    client = kind(gw)
    with running_in_thread(client.run, client.stop, join_s=10):
        yield client


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def gateway_on(home: Path, port: int, first_host: str) -> Iterator[tuple[Gateway, object, str]]:
    cfg = config_for(home, port)
    host_file = cfg.routes[0].host_file
    Path(host_file).write_text(f"{first_host}\n")  # the gateway container's first-boot upload
    gw = Gateway(cfg=cfg, home=home)
    caddyfile = render_caddyfile(cfg)
    assert "{file." + host_file + "}:" + str(port) in caddyfile
    with running_caddy(caddyfile, home, ready=lambda: gateway_ready(gw)) as caddy:
        yield gw, caddy, host_file
        # The Caddyfile Caddy runs is the one it started with: nothing reloaded it.
        assert caddy.config.read_text() == caddyfile


def test_five_rollouts_in_a_row_and_not_one_request_fails(tmp_path_factory, busybox_bin) -> None:
    home = tmp_path_factory.mktemp("gw")
    (port,) = free_tcp_ports(1)
    hosts = [f"127.0.0.{n}" for n in range(2, 3 + ROLLOUTS)]
    switch_marks = []
    with ExitStack() as stack:
        old = stack.enter_context(app_server(hosts[0], hosts[0], port))
        gw, caddy, host_file = stack.enter_context(gateway_on(home, port, hosts[0]))
        client = stack.enter_context(looping_client(gw))
        keep_alive = stack.enter_context(looping_client(gw, KeepAliveClient))
        wait_for(lambda: len(client.answers) >= 10 and len(keep_alive.answers) >= 10)
        for new_host in hosts[1:]:
            # 1. The new revision starts beside the old one and must pass its healthcheck first.
            new = stack.enter_context(app_server(new_host, new_host, port))
            assert healthcheck_passes(new_host, port)
            # 2. The program's switch script points the route at it.
            switched = run_switch_script(home, busybox_bin, host_file, new_host)
            assert switched.returncode == 0, switched.stderr
            assert Path(host_file).read_text() == f"{new_host}\n"
            wait_for(lambda: client.served_by()[-1:] == keep_alive.served_by()[-1:] == [f"app={new_host}"])
            switch_marks.append(len(client.answers))
            # 3. Only then does the old one go away (the engine's post-step delete).
            old.shutdown()
            old.server_close()
            seen = len(client.answers)
            time.sleep(LOOP_SECONDS_AFTER)
            assert len(client.answers) > seen + 5, "the client kept going"
            old = new
        client.stop.set()
        keep_alive.stop.set()

    for looping in (client, keep_alive):
        # Not one request failed: no error status, no connection closed or reset, across every rollout.
        assert looping.failures() == [], (type(looping).__name__, looping.failures()[:5])
        # Each rollout moved every later request to the new revision, in order, never back.
        order = looping.served_in_order()
        assert order == hosts, (type(looping).__name__, order)
    # The gateway never closed the keep-alive connection: no reload, no server shut down.
    assert keep_alive.connections == 1


def test_a_new_server_that_fails_its_healthcheck_leaves_the_old_one_serving(tmp_path_factory) -> None:
    home = tmp_path_factory.mktemp("gw")
    (port,) = free_tcp_ports(1)
    with ExitStack() as stack:
        stack.enter_context(app_server("old", "127.0.0.2", port))
        gw, caddy, host_file = stack.enter_context(gateway_on(home, port, "127.0.0.2"))
        client = stack.enter_context(looping_client(gw))
        stack.enter_context(app_server("broken", "127.0.0.3", port, healthy=False))
        # Docker's `wait` would time out on this: the create fails, the switch never runs.
        assert not healthcheck_passes("127.0.0.3", port)
        time.sleep(LOOP_SECONDS_AFTER * 2)
        assert Path(host_file).read_text() == "127.0.0.2\n", "the running gateway's upstream file is untouched"
        client.stop.set()

    assert client.failures() == [], client.failures()[:5]
    assert len(client.answers) > 10 and set(client.served_by()) == {"app=old"}
