"""A client looping requests through the gateway during an `up`: what answered each one, and every failure."""
from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.real.processes import running_in_thread


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``server_name`` (SNI, certificate check, Host header) at 127.0.0.1, as /etc/hosts would send it."""

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass
class LoopingClient:
    """GET ``path`` without pause, never retried. Each answer is recorded as the ROLLOUT_<n> names in its body (the
    app stand-in lists its env's names: images/app-standin), a failure as what went wrong. ``fresh``: a new TLS
    connection per request; else one keep-alive connection, reopened only after a failure. ``ok``: the status
    codes the app itself answers on that path."""

    ca: str
    fresh: bool
    server_name: str = "localhost"
    path: str = "/"
    ok: tuple[int, ...] = (200,)
    answers: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _connect(self) -> http.client.HTTPSConnection:
        return PinnedHTTPSConnection(self.server_name, 443, timeout=10, context=ssl.create_default_context(cafile=self.ca))

    def run(self) -> None:
        conn = self._connect()
        while not self.stop.is_set():
            if self.fresh:
                conn.close()
                conn = self._connect()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read().decode()
                if response.status not in self.ok or "standInFor" not in body:
                    self.failures.append(f"{response.status} {body[:200]}")
                else:
                    self.answers.append(",".join(sorted(set(re.findall(r"ROLLOUT_\d+", body)))))
            except (OSError, http.client.HTTPException) as err:
                self.failures.append(repr(err))
                conn.close()
                conn = self._connect()
        conn.close()

    def revisions(self) -> list[str]:
        """The revisions in the order they served, each once."""
        seen: list[str] = []
        for answer in self.answers:
            if not seen or seen[-1] != answer:
                seen.append(answer)
        return seen


@contextmanager
def looping(ca: str, *, fresh: bool, **options) -> Iterator[LoopingClient]:
    client = LoopingClient(ca, fresh, **options)
    with running_in_thread(client.run, client.stop):
        yield client
