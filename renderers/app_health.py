"""An app's TCP healthcheck: healthy once something accepts a connection on the port.

Docker runs a CMD-SHELL check as `/bin/sh -c <text>` inside the container, so it has only the image's
own tools. POSIX sh cannot open a socket, and the usual one-liners each need something a minimal
image may lack: bash's `/dev/tcp` is bash's alone (busybox ash and dash have no such path), and
`nc -z` is absent from busybox built without its netcat-1.10 applet (Debian's busybox 1.35 `nc` has
no `-z`). So the check uses the first of these the image has, each connecting to 127.0.0.1:<port>:

- bash: `exec 3<>/dev/tcp/127.0.0.1/<port>` (a refused redirection makes bash exit 1);
- node: `net.connect`, exit 0 on "connect", 1 on "error" (node:*-alpine images have node but no bash);
- python3: `socket.create_connection` (python:*-slim has both bash and python3).

An image with none of them (busybox-only, e.g. nginx:alpine) fails the check with a message saying
so, never passes it; such an app should use an HTTP health path (busybox has wget). An image with no
/bin/sh (distroless, scratch) cannot run any CMD-SHELL check. tests/real/test_app_tcp_check_real.py
runs this text under busybox sh with each tool alone on PATH.
"""
from __future__ import annotations

LOOPBACK = "127.0.0.1"


def tcp_check_script(port: int) -> str:
    if not 1 <= port <= 65535:
        raise ValueError(f"{port} is not a TCP port")
    bash = f"exec 3<>/dev/tcp/{LOOPBACK}/{port}"
    node = (
        f'require("net").connect({port}, "{LOOPBACK}")'
        '.on("connect", () => process.exit(0)).on("error", () => process.exit(1))'
    )
    python = f'import socket; socket.create_connection(("{LOOPBACK}", {port}), 3).close()'
    return (
        f"if command -v bash >/dev/null 2>&1; then exec bash -c '{bash}'; "
        f"elif command -v node >/dev/null 2>&1; then exec node -e '{node}'; "
        f"elif command -v python3 >/dev/null 2>&1; then exec python3 -c '{python}'; "
        "else echo 'TCP healthcheck: the image has none of bash, node, python3' >&2; exit 1; fi"
    )


def tcp_check(port: int) -> tuple[str, ...]:
    """Docker's healthcheck `test`, in the form the provider reads back (a list: CMD-SHELL and the text)."""
    return ("CMD-SHELL", tcp_check_script(port))
