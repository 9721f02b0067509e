"""Debian's pgbouncer (bookworm: 1.18) on a rendered pgbouncer.ini, started the way the image starts it.

The image runs `/usr/bin/pgbouncer /etc/pgbouncer/pgbouncer.ini` in the foreground as an unprivileged user
(renderers/pgbouncer.py); pgbouncer itself refuses root ("PgBouncer should not run as root",
src/main.c@pgbouncer_1_18_0), so here it runs as the same OS user as the test's PostgreSQL. Its config and
auth file live in that server's work dir (readable by that user), and its log is the test's to read.

Clients are the packaged psql: one-shot (`psql -c`), or a session kept open on a pipe, for what only two
clients connected at the same time can show (transaction pooling hands one server connection to both).
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .postgres_process import CLIENT_TIMEOUT_S, _as_server_user, client_env, pg_tool
from .processes import stop_process, wait_until_ready

STARTUP_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10
SESSION_TIMEOUT_S = 10
CLOSE_TIMEOUT_S = 5
# One-shot clients that must not hang when pgbouncer makes them wait for a server connection.
QUERY_TIMEOUT_S = 15


def pgbouncer_binary() -> str:
    path = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.isfile(path):
        raise AssertionError("pgbouncer not found: install Debian's pgbouncer package (scripts/install-test-binaries)")
    return path


@dataclass(frozen=True)
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"

    def reload(self) -> None:
        """SIGHUP: re-read pgbouncer.ini and the auth file (the console's RELOAD)."""
        mark = len(self.log())
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        # 1.18 logs "got SIGHUP, re-reading config" once it has re-read it.
        while "re-reading config" not in self.log()[mark:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not reload:\n{self.log()[mark:]}")
            time.sleep(0.05)


def _accepts_tcp(port: int) -> bool:
    try:
        with closing(socket.create_connection(("127.0.0.1", port), timeout=1)):
            return True
    except OSError:
        return False


@contextmanager
def running_pgbouncer(ini: Path, *, port: int, log_path: Path) -> Iterator[PgBouncer]:
    """`pgbouncer <ini>` in the foreground until the block exits; stopped with SIGINT (the image's STOP_SIGNAL)."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            _as_server_user([pgbouncer_binary(), str(ini)]), cwd=ini.parent, stdout=log, stderr=subprocess.STDOUT
        )
    bouncer = PgBouncer(proc, port, log_path)
    try:
        wait_until_ready(
            proc, lambda: _accepts_tcp(port), name="pgbouncer", timeout_s=STARTUP_TIMEOUT_S, log=bouncer.log
        )
        yield bouncer
    finally:
        stop_process(proc, timeout_s=STOP_TIMEOUT_S, sig=signal.SIGINT)


def psql_via(
    port: int, sql: str, *, user: str, password: str | None, database: str, fields: bool = False
) -> subprocess.CompletedProcess[str]:
    """One statement through 127.0.0.1:<port>; -w: a missing password is an error, never a prompt.

    fields: unaligned with a header row and '|' between columns (for the console's SHOW output).
    """
    argv = [pg_tool("psql"), "-w", "-X", "-A", *([] if fields else ["-t"]), "-F", "|", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database, "-c", sql]
    return subprocess.run(
        argv, env=client_env(password), capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False
    )


def console_show(port: int, what: str, *, user: str, password: str) -> list[dict[str, str]]:
    """`SHOW <what>` on pgbouncer's admin console (database "pgbouncer"), one dict per row."""
    result = psql_via(port, f"SHOW {what}", user=user, password=password, database="pgbouncer", fields=True)
    assert result.returncode == 0, f"SHOW {what} failed: {result.stderr}"
    header, *rows = [line for line in result.stdout.splitlines() if line and not line.startswith("(")]
    names = header.split("|")
    return [dict(zip(names, row.split("|"))) for row in rows]


class PsqlSession:
    """psql kept connected, reading statements from a pipe: a client that stays connected between queries.

    Each query is followed by `\\echo <marker>`, and output is read (raw, from the pipe) up to the marker, so a
    reply is complete however psql buffers; anything on stderr by then fails the query.
    """

    _MARKER = b"--end-of-reply--\n"

    def __init__(self, port: int, *, user: str, password: str, database: str) -> None:
        argv = [pg_tool("psql"), "-w", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", str(port),
                "-U", user, "-d", database]
        self._proc = subprocess.Popen(
            argv, env=client_env(password), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert self._proc.stdout and self._proc.stderr
        self._out = self._proc.stdout.fileno()
        self._err = self._proc.stderr.fileno()
        os.set_blocking(self._err, False)
        self._buffer = b""

    def query(self, sql: str) -> str:
        self.send(sql)
        reply = self.receive(SESSION_TIMEOUT_S)
        if reply is None:
            raise AssertionError(f"no reply to {sql!r} within {SESSION_TIMEOUT_S}s; stderr: {self.errors()}")
        return reply

    def send(self, sql: str) -> None:
        assert self._proc.stdin
        # The ';' sends the statement; without it psql would keep it in its buffer and run the \\echo first.
        statement = sql if sql.rstrip().endswith(";") else f"{sql};"
        self._proc.stdin.write(f"{statement}\n\\echo {self._MARKER.decode().strip()}\n".encode())
        self._proc.stdin.flush()

    def receive(self, timeout_s: float) -> str | None:
        """The reply to the last send, or None if it has not come within timeout_s (call again to keep waiting)."""
        deadline = time.monotonic() + timeout_s
        while self._MARKER not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._out], [], [], max(0.0, remaining))
            if not ready:
                return None
            chunk = os.read(self._out, 65536)
            if not chunk:
                raise AssertionError(f"psql exited: {self.errors()}")
            self._buffer += chunk
        reply, self._buffer = self._buffer.split(self._MARKER, 1)
        errors = self.errors()
        if errors:
            raise AssertionError(f"psql reported: {errors}")
        return reply.decode().strip("\n")

    def errors(self) -> str:
        try:
            return os.read(self._err, 65536).decode(errors="replace")
        except BlockingIOError:
            return ""

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin
            self._proc.stdin.close()
            try:
                # psql quits at end of input at once, unless it still waits for a reply (a failing test's).
                self._proc.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=CLIENT_TIMEOUT_S)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream:
                stream.close()


@contextmanager
def psql_session(port: int, *, user: str, password: str, database: str) -> Iterator[PsqlSession]:
    session = PsqlSession(port, user=user, password=password, database=database)
    try:
        yield session
    finally:
        session.close()
