"""Running Debian's redis-server on a rendered redis.conf, and talking RESP to it.

redis-cli exits 0 even when the server answers with an error (NOAUTH, OOM), so
the tests speak the protocol themselves and see each reply's kind exactly;
redis-cli is only used where the component uses it (the healthcheck).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .processes import stop_process, wait_until_ready

STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RespError:
    """An error reply (``-NOAUTH ...``), never equal to a value reply."""

    message: str


Reply = None | int | bytes | str | RespError | list["Reply"]  # str: a simple-string reply such as OK


def redis_binary(name: str = "redis-server") -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} not found: install Debian's redis-server package (CI does)")
    return path


class RespClient:
    """One connection; commands are sent one at a time, like an application would."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self._reader = self._sock.makefile("rb")

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def command(self, *args: str | bytes) -> Reply:
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        frame = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self._sock.sendall(frame)
        return self._read()

    def _read(self) -> Reply:
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection closed mid-reply: {line!r}")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            return RespError(body.decode())
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self._reader.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise ConnectionError(f"unexpected RESP reply: {line!r}")


@contextmanager
def redis_client(port: int, password: str | None = None) -> Iterator[RespClient]:
    with closing(RespClient(port)) as client:
        if password is not None:
            reply = client.command("AUTH", password)
            assert reply == "OK", f"AUTH failed: {reply!r}"
        yield client


@dataclass(frozen=True)
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _answers_pong(port: int, password: str) -> bool:
    """Authenticated PING; LOADING (AOF replay in progress) is not ready yet.

    Any other AUTH error (wrong password, no password configured) never gets
    better by waiting, so it fails at once.
    """
    try:
        with closing(RespClient(port)) as client:
            auth = client.command("AUTH", password)
            if isinstance(auth, RespError) and not auth.message.startswith("LOADING"):
                raise AssertionError(f"redis-server refuses AUTH with the configured password: {auth.message}")
            return auth == "OK" and client.command("PING") == "PONG"
    except (OSError, ConnectionError):
        return False


@contextmanager
def running_redis(conf_path: Path, *, port: int, password: str, log_path: Path) -> Iterator[RedisServer]:
    """``redis-server <conf_path>`` in the foreground until the block exits (or the test kills it)."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen([redis_binary(), str(conf_path)], stdout=log, stderr=subprocess.STDOUT)
    server = RedisServer(proc, port, log_path)
    try:
        wait_until_ready(
            proc, lambda: _answers_pong(port, password), name="redis-server", timeout_s=STARTUP_TIMEOUT_S, log=server.log
        )
        yield server
    finally:
        stop_process(proc, timeout_s=STOP_TIMEOUT_S)
