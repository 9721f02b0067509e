"""What every real-binary test needs: free loopback ports and a bounded wait for a server."""
from __future__ import annotations

import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager


def free_tcp_ports(count: int) -> list[int]:
    """Distinct ports the kernel just handed out on loopback (all held until all are picked)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(closing(socket.socket())) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def wait_until_ready(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    name: str,
    timeout_s: float,
    log: Callable[[], str],
    poll_s: float = 0.2,
) -> None:
    """Return once ``ready()``; fail with the server's log if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not ready after {timeout_s}s:\n{log()}")
        time.sleep(poll_s)


@contextmanager
def serving_in_thread(server: socketserver.BaseServer) -> Iterator[str]:
    """Serve ``server`` (bound to loopback) in a thread; yields 'host:port'; always shut down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_in_thread(run: Callable[[], None], stop: threading.Event, *, join_s: float = 30) -> Iterator[None]:
    """``run`` in a daemon thread for the block's duration; then ``stop`` is set and the thread joined."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=join_s)


def stop_process(proc: subprocess.Popen, *, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """Ask ``proc`` to stop with ``sig``; kill it if it has not exited within ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
