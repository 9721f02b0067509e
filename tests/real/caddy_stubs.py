"""Upstreams for the gateway test: plain HTTP echo servers on loopback.

Each one answers with its own name and the path it saw, so a test can tell
which upstream a route really reached and what path arrived there. The
recording upstream also echoes the headers and keeps every request, so a test
can tell that a request never reached it.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .caddy_websocket import serve_websocket_echo
from .processes import serving_in_thread

# Caddy's encode skips bodies under 512 bytes; the padding keeps every stub
# answer compressible so the compression test measures the gateway, not luck.
PADDING = "padding " * 600


def echo_body(name: str, path: str) -> bytes:
    return f"upstream={name} path={path}\n{PADDING}\n".encode()


GATE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Gate:
    """Holds every request at the upstream until released: a request provably in flight."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _handler_for(name: str, gate: Gate | None) -> type[BaseHTTPRequestHandler]:
    class EchoHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if gate is not None:
                gate.arrived.set()
                gate.release.wait(GATE_TIMEOUT_S)
            body = echo_body(name, self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Keep pytest output clean; Caddy's log is the one that matters."""

    return EchoHandler


@contextmanager
def echo_server(name: str, *, gate: Gate | None = None) -> Iterator[str]:
    """Serve in a thread; yields the upstream as 'host:port'. With ``gate``, answers wait for it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(name, gate))
    server.daemon_threads = True
    with serving_in_thread(server) as upstream:
        yield upstream


# --- a recording upstream for the per-route options (tests/real/test_caddy_routes_real.py) ---


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str  # as it arrived at the upstream: after any prefix the gateway stripped
    headers: dict[str, str]  # lower-cased names


@dataclass(frozen=True)
class RecordingUpstream:
    """A loopback upstream that keeps every request it got (WebSocket upgrades included)."""

    address: str  # 'host:port', for Route.upstream
    name: str
    seen: list[SeenRequest]

    def paths(self) -> list[str]:
        return [r.path for r in list(self.seen)]


def recorded_body(name: str, request: SeenRequest) -> bytes:
    """What the recording upstream answers: who it is and the request as it saw it, padded to compress."""
    return json.dumps(
        {"upstream": name, "method": request.method, "path": request.path,
         "headers": request.headers, "padding": PADDING},
        sort_keys=True,
    ).encode()


def _recording_handler_for(name: str, seen: list[SeenRequest]) -> type[BaseHTTPRequestHandler]:
    class RecordingHandler(BaseHTTPRequestHandler):
        """Answers any method with the request echoed as JSON; switches to a WebSocket echo on upgrade.

        Like a permissive app framework, it grants CORS to whatever Origin asks (credentials
        included), so a test sees whether the gateway keeps that from reaching the client.
        """

        def _answer(self) -> None:
            request = SeenRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            seen.append(request)
            if self.headers.get("Upgrade", "").lower() == "websocket" and "Sec-WebSocket-Key" in self.headers:
                self._websocket_echo(self.headers["Sec-WebSocket-Key"])
                return
            body = b"" if self.command == "HEAD" else recorded_body(name, request)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if "Origin" in self.headers:
                self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
                self.send_header("Access-Control-Allow-Credentials", "true")
            self.end_headers()
            self.wfile.write(body)

        def _websocket_echo(self, key: str) -> None:
            self.close_connection = True
            # Written raw: send_response would say HTTP/1.0, this handler's protocol_version.
            serve_websocket_echo(self.rfile, self.wfile, key)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Keep pytest output clean; Caddy's log is the one that matters."""

    return RecordingHandler


@contextmanager
def recording_server(name: str) -> Iterator[RecordingUpstream]:
    """Serve a recording upstream in a thread (see RecordingHandler)."""
    seen: list[SeenRequest] = []  # list.append is atomic: handler threads only append
    server = ThreadingHTTPServer(("127.0.0.1", 0), _recording_handler_for(name, seen))
    server.daemon_threads = True
    with serving_in_thread(server) as address:
        yield RecordingUpstream(address=address, name=name, seen=seen)
