"""Real clients for a deployed stack's outputs: psql, redis-cli, boto3, curl, LiveKit's server API."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config


def run(argv: list[str], *, input: str | None = None, timeout: float = 60) -> str:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def psql(url: str, sql: str) -> str:
    return run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAc", sql]).strip()


def redis(url: str, *command: str) -> str:
    # --no-auth-warning: the password is in the URL, as an app holds it.
    return run(["redis-cli", "--no-auth-warning", "-u", url, *command]).strip()


def s3(outputs: dict) -> "boto3.client":
    return boto3.client(
        "s3",
        endpoint_url=outputs["s3Endpoint"],
        region_name=outputs["s3Region"],
        aws_access_key_id=outputs["s3AccessKeyId"],
        aws_secret_access_key=outputs["s3SecretAccessKey"],
        config=Config(s3={"addressing_style": "path" if outputs["s3ForcePathStyle"] else "virtual"},
                      retries={"max_attempts": 2}),
    )


def https_get(url: str, ca_file: Path, *, resolve_to: str = "127.0.0.1", headers: dict | None = None,
              data: str | None = None) -> tuple[int, str]:
    """curl with the given root CA only, the hostname pinned to this machine (as /etc/hosts would)."""
    parsed = urlparse(url)
    port = parsed.port or 443
    argv = ["curl", "-sS", "--max-time", "15", "--cacert", str(ca_file), "--resolve", f"{parsed.hostname}:{port}:{resolve_to}",
            "-o", "-", "-w", "\n%{http_code}"]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    if data is not None:
        argv += ["--data", data]
    body, _, code = run(argv + [url]).rpartition("\n")
    return int(code), body


def livekit_token(api_key: str, api_secret: str, grants: dict, ttl_s: int = 600) -> str:
    """An access token as LiveKit's server SDKs sign it: HS256 JWT, iss = API key, grants under `video`."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": api_key, "sub": "backing-services-tests", "nbf": now - 5, "exp": now + ttl_s,
                              "video": grants}).encode())
    signature = hmac.new(api_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def livekit_twirp(base_https: str, ca_file: Path, api_key: str, api_secret: str, method: str, body: dict,
                  grants: dict) -> tuple[int, str]:
    """A RoomService call over LiveKit's Twirp API (POST /twirp/livekit.RoomService/<Method>, JSON)."""
    token = livekit_token(api_key, api_secret, grants)
    return https_get(f"{base_https}/twirp/livekit.RoomService/{method}", ca_file,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                     data=json.dumps(body))
