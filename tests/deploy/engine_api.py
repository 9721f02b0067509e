"""The Docker Engine API over its unix socket: the calls the docker provider itself makes.

No client library: each call is the HTTP request kreuzwerker/terraform-provider-docker v4.5.0 sends
through the moby client (internal/provider/resource_docker_container_funcs.go, resource_docker_network_funcs.go,
resource_docker_volume.go), so what the engine is asked is visible here.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import socket
import tarfile
import time
from typing import Any
from urllib.parse import quote, urlencode

SOCKET = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
# The newest API Debian's docker.io 20.10 speaks; the provider's client negotiates down to it too.
API = "/v1.41"


class EngineError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str):
        super().__init__(f"{method} {path}: {status} {body.strip()}")
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def call(method: str, path: str, body: Any = None, *, query: dict | None = None, raw: bytes | None = None,
         content_type: str = "application/json", timeout: float = 120, ok_missing: bool = False) -> Any:
    url = API + path + (("?" + urlencode(query)) if query else "")
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn = _UnixConnection(SOCKET, timeout)
    try:
        conn.request(method, url, body=data, headers={"Content-Type": content_type} if data is not None else {})
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    if response.status == 404 and ok_missing:
        return None
    # 304: already in that state (a stop of a stopped container), as the moby client treats it.
    if response.status >= 300 and response.status != 304:
        raise EngineError(method, url, response.status, payload.decode(errors="replace"))
    if not payload:
        return None
    try:
        return json.loads(payload)
    except json.JSONDecodeError:
        return payload.decode(errors="replace")


def reachable() -> bool:
    try:
        return call("GET", "/_ping", timeout=5) == "OK"
    except OSError:
        return False


def image_id(reference: str) -> str | None:
    found = call("GET", f"/images/{quote(reference, safe='')}/json", ok_missing=True)
    return found["Id"] if found else None


def upload(container_id: str, path: str, content: bytes, mode: int) -> None:
    """One file as a one-entry tar extracted at "/", as the provider uploads (funcs.go:546-580@v4.5.0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name=path)
        info.size, info.mode, info.mtime = len(content), mode, int(time.time())
        tar.addfile(info, io.BytesIO(content))
    call("PUT", f"/containers/{container_id}/archive", query={"path": "/"}, raw=buf.getvalue(),
         content_type="application/x-tar")


def inspect_container(name_or_id: str) -> dict | None:
    return call("GET", f"/containers/{quote(name_or_id, safe='')}/json", ok_missing=True)


def build(context_dir: str, *, tag: str, buildargs: dict[str, str], platform: str | None = None,
          labels: dict[str, str] | None = None, timeout: float = 600) -> str:
    """`docker build` of a directory, as the provider's legacy-builder path sends it (ImageBuild with the
    context tarred, Tags, BuildArgs, Platform, Remove: resource_docker_image_funcs.go buildImage@v4.5.0);
    the image's id. The engine streams JSON lines; one with "error" is the build failing."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(context_dir, arcname=".")
    query = {"t": tag, "buildargs": json.dumps(buildargs), "rm": "1", "forcerm": "1", "labels": json.dumps(labels or {})}
    if platform:
        query["platform"] = platform
    answer = call("POST", "/build", query=query, raw=buf.getvalue(), content_type="application/x-tar", timeout=timeout)
    lines = [answer] if isinstance(answer, dict) else [json.loads(line) for line in str(answer or "").splitlines() if line.strip()]
    errors = [line["error"] for line in lines if "error" in line]
    if errors:
        log = "".join(line.get("stream", "") for line in lines)
        raise EngineError("POST", "/build", 200, f"{errors[-1]}\n{log[-3000:]}")
    found = image_id(tag)
    if found is None:
        raise EngineError("POST", "/build", 200, f"no image {tag} after the build")
    return found
