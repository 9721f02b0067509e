"""Upstreams for the gateway test: plain HTTP echo servers on loopback.

Each one answers with its own name and the path it saw, so a test can tell
which upstream a route really reached and what path arrived there.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
