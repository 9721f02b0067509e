"""Upstreams for the gateway test: plain HTTP echo servers on loopback.

Each one answers with its own name and the path it saw, so a test can tell
which upstream a route really reached and what path arrived there.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .processes import serving_in_thread

# Caddy's encode skips bodies under 512 bytes; the padding keeps every stub
# answer compressible so the compression test measures the gateway, not luck.
PADDING = "padding " * 600


def echo_body(name: str, path: str) -> bytes:
    return f"upstream={name} path={path}\n{PADDING}\n".encode()


def _handler_for(name: str) -> type[BaseHTTPRequestHandler]:
    class EchoHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
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
def echo_server(name: str) -> Iterator[str]:
    """Serve in a thread; yields the upstream as 'host:port'."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(name))
    server.daemon_threads = True
    with serving_in_thread(server) as upstream:
        yield upstream
