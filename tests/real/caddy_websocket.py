"""Just enough RFC 6455 to prove a WebSocket passes through the gateway.

Hand-rolled (handshake + single unfragmented frames) so the real-binary
tests need no extra package; LiveKit signalling is exactly such an upgrade.
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import socketserver
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from .processes import serving_in_thread

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT = 0x1
OP_CLOSE = 0x8
ECHO_PREFIX = b"echo:"


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def encode_frame(payload: bytes, *, opcode: int = OP_TEXT, mask: bool) -> bytes:
    """One final frame; clients must mask, servers must not (RFC 6455 5.1)."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _read_exact(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise ConnectionError(f"peer closed after {len(data)} of {size} bytes")
    return data


def read_frame(reader: BinaryIO) -> tuple[int, bytes]:
    first, second = _read_exact(reader, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exact(reader, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exact(reader, 8))
    key = _read_exact(reader, 4) if second & 0x80 else None
    payload = _read_exact(reader, length)
    if key is not None:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


def read_http_head(reader: BinaryIO) -> tuple[str, dict[str, str]]:
    """Start line and lower-cased headers of an HTTP/1.1 message."""
    start = reader.readline(65536).decode("latin-1").rstrip("\r\n")
    headers: dict[str, str] = {}
    for _ in range(100):
        line = reader.readline(65536).decode("latin-1").rstrip("\r\n")
        if not line:
            return start, headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ConnectionError("too many header lines")


class _EchoHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        _, headers = read_http_head(self.rfile)
        key = headers.get("sec-websocket-key")
        if headers.get("upgrade", "").lower() != "websocket" or key is None:
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        serve_websocket_echo(self.rfile, self.wfile, key)


def serve_websocket_echo(rfile, wfile, key: str) -> None:
    """Answer the upgrade with 101, then echo every frame (prefixed) until the peer closes."""
    wfile.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
    )
    while True:
        try:
            opcode, payload = read_frame(rfile)
        except ConnectionError:
            return  # the proxy dropped the stream between frames: a plain TCP close
        if opcode == OP_CLOSE:
            wfile.write(encode_frame(payload, opcode=OP_CLOSE, mask=False))
            return
        wfile.write(encode_frame(ECHO_PREFIX + payload, opcode=opcode, mask=False))


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def websocket_echo_server() -> Iterator[str]:
    """Serve in a thread; yields the upstream as 'host:port'."""
    with serving_in_thread(_Server(("127.0.0.1", 0), _EchoHandler)) as upstream:
        yield upstream


def websocket_open(sock: socket.socket, host: str, path: str) -> tuple[str, dict[str, str], BinaryIO | None]:
    """Upgrade on ``sock``; return (status line, headers, reader), the reader None if refused."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    reader = sock.makefile("rb")
    status, headers = read_http_head(reader)
    if status.split(" ")[1:2] != ["101"]:
        return status, headers, None
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise AssertionError(f"bad Sec-WebSocket-Accept in {headers}")
    return status, headers, reader


def websocket_exchange(sock: socket.socket, reader: BinaryIO, message: bytes) -> tuple[int, bytes]:
    """Send one text message on an open WebSocket; return the (opcode, payload) that comes back."""
    sock.sendall(encode_frame(message, mask=True))
    return read_frame(reader)


def websocket_close(sock: socket.socket) -> None:
    sock.sendall(encode_frame(b"", opcode=OP_CLOSE, mask=True))


def websocket_roundtrip(sock: socket.socket, host: str, path: str, message: bytes) -> tuple[str, dict[str, str], bytes]:
    """Upgrade on ``sock``, send one text message, return (status line, headers, reply).

    The reply is empty when the upgrade was refused.
    """
    status, headers, reader = websocket_open(sock, host, path)
    if reader is None:
        return status, headers, b""
    _, reply = websocket_exchange(sock, reader, message)
    websocket_close(sock)
    return status, headers, reply
