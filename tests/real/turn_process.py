"""Real TURN servers and clients for the gateway's TURN/TLS route (renderers/turn_tls.py).

Debian's coturn: ``turnserver`` as a TURN server with a long-term credential, ``turnutils_peer``
as the echoing peer behind a relay, ``turnutils_uclient`` as the client. uclient speaks TLS but
sends no server name, so the TLS leg is socat's (``snihost``, verified against Caddy's root CA):
uclient talks TURN over TCP to socat, socat over TLS with SNI to the gateway.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .processes import free_tcp_ports, stop_process, wait_until_ready

USER, PASSWORD, REALM = "alice", "turn-test-secret", "backing-services.test"
STUN_MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS = 0x0001, 0x0101
ALLOCATE_REQUEST, ALLOCATE_ERROR = 0x0003, 0x0113
ATTR_ERROR_CODE, ATTR_REALM, ATTR_REQUESTED_TRANSPORT = 0x0009, 0x0014, 0x0019
UDP = 17


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found: install Debian's coturn and socat (scripts/install-test-binaries)")
    return found


def host_address() -> str:
    """The machine's first non-loopback IPv4 address: where the gateway reaches TURN, as on the VM."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True).stdout
    addresses = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    assert addresses, f"no non-loopback IPv4 address on this machine: {out!r}"
    return addresses[0]


def _accepts(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def coturn(home: Path, address: str) -> Iterator[int]:
    """turnserver on ``address``, TURN over TCP only (TLS is the gateway's), relays at ``address``."""
    home.mkdir(parents=True, exist_ok=True)
    (port,) = free_tcp_ports(1)
    log = home / "turnserver.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                binary("turnserver"), "-n", f"--listening-ip={address}", f"--listening-port={port}",
                f"--relay-ip={address}", "--no-tls", "--no-dtls", "--no-udp", "--no-cli", "--lt-cred-mech",
                f"--user={USER}:{PASSWORD}", f"--realm={REALM}", f"--userdb={home / 'turndb'}",
                f"--pidfile={home / 'turnserver.pid'}", "--log-file=stdout", "--simple-log",
            ],
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(proc, lambda: _accepts(address, port), name="turnserver", timeout_s=20, log=log.read_text)
        yield port
    finally:
        stop_process(proc, timeout_s=10)


@contextmanager
def udp_peer(address: str) -> Iterator[int]:
    """turnutils_peer: echoes every datagram the relay sends it."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((address, 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([binary("turnutils_peer"), "-L", address, "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        stop_process(proc, timeout_s=5)


@contextmanager
def sni_tunnel(https_port: int, server_name: str, ca_file: Path) -> Iterator[int]:
    """A loopback TCP port whose every connection socat carries over verified TLS with ``server_name`` as SNI."""
    (port,) = free_tcp_ports(1)
    proc = subprocess.Popen(
        [
            binary("socat"), f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            f"OPENSSL:127.0.0.1:{https_port},snihost={server_name},commonname={server_name},cafile={ca_file},verify=1",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_until_ready(proc, lambda: _accepts("127.0.0.1", port), name="socat", timeout_s=10, log=lambda: "")
        yield port
    finally:
        stop_process(proc, timeout_s=5)


@dataclass(frozen=True)
class UclientRun:
    sent: int
    received: int
    lost_percent: float
    output: str


def uclient(port: int, *, peer: tuple[str, int], messages: int = 10) -> UclientRun:
    """turnutils_uclient over TCP: allocate a relay, permit the peer, send ``messages`` there and back."""
    result = subprocess.run(
        [binary("turnutils_uclient"), "-t", "-u", USER, "-w", PASSWORD, "-p", str(port), "-e", peer[0], "-r",
         str(peer[1]), "-n", str(messages), "-m", "1", "127.0.0.1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    output = result.stdout + result.stderr
    totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", output)
    lost = re.findall(r"Total lost packets \d+ \(([\d.]+)%\)", output)
    if not totals or not lost:
        return UclientRun(0, 0, 100.0, output)
    sent, received = map(int, totals[-1])
    return UclientRun(sent, received, float(lost[-1]), output)


def stun_request(method: int, attributes: bytes = b"") -> tuple[bytes, bytes]:
    transaction = os.urandom(12)
    return struct.pack("!HHI", method, len(attributes), STUN_MAGIC_COOKIE) + transaction + attributes, transaction


def _read_exact(sock: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def stun_exchange(sock: ssl.SSLSocket, method: int, attributes: bytes = b"") -> tuple[int, dict[int, bytes]]:
    """Send one STUN request on a stream (RFC 5389 framing over TCP) and read its answer: (type, attributes)."""
    request, transaction = stun_request(method, attributes)
    sock.sendall(request)
    kind, length, cookie = struct.unpack("!HHI", _read_exact(sock, 8))
    assert cookie == STUN_MAGIC_COOKIE and _read_exact(sock, 12) == transaction
    body, found = _read_exact(sock, length), {}
    while body:
        attr, size = struct.unpack("!HH", body[:4])
        found[attr] = body[4:4 + size]
        body = body[4 + size + (-size % 4):]
    return kind, found


def allocate_without_credentials(sock: ssl.SSLSocket) -> tuple[int, int, str]:
    """An Allocate with no credentials: a TURN server answers 401 and names its realm. (type, code, realm)."""
    kind, attrs = stun_exchange(sock, ALLOCATE_REQUEST, struct.pack("!HHB3x", ATTR_REQUESTED_TRANSPORT, 4, UDP))
    error = attrs.get(ATTR_ERROR_CODE, b"\0\0\0\0")
    return kind, (error[2] & 0x7) * 100 + error[3], attrs.get(ATTR_REALM, b"").decode()
