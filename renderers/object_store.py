"""The dev S3 server: Versity S3 Gateway (versitygw) over a plain directory.

Why versitygw: MinIO stopped publishing community images in 2025, LocalStack now
needs an account token, and Garage needs a layout plus CLI calls before a bucket
exists. versitygw is maintained, multi-arch (amd64/arm64), Apache-2.0, keeps
objects as plain files, and with its posix backend a bucket is a top-level
directory, so buckets exist after a `mkdir` with no client or init job.
"""
from __future__ import annotations

import ipaddress
import re
import shlex

S3_DATA_PATH = "/data"
HEALTH_PATH = "/_health"  # the underscore cannot clash with a bucket name
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


IMAGE_REPOSITORY = "versity/versitygw"
ENTRYPOINT = ("/bin/sh", "-c")


def s3_server_command(*, buckets: tuple[str, ...]) -> list[str]:
    """Create every configured bucket (idempotent), then serve the directory over S3."""
    for bucket in buckets:
        if not _BUCKET.match(bucket):
            raise ValueError(f"bucket {bucket!r} is not a valid S3 bucket name")
    dirs = " ".join(shlex.quote(f"{S3_DATA_PATH}/{b}") for b in buckets)
    return [f"mkdir -p {dirs} && exec versitygw posix {S3_DATA_PATH}"]


def s3_listen_address(bind_address: str, port: int) -> str:
    """VGW_PORT: versitygw listens on ``<ip>:<port>`` or ``:<port>`` (every address)
    (cmd/versitygw/main.go:199-204@v1.7.0, the ``port`` flag read from VGW_PORT).

    Under host networking the container's addresses are the host's, so the store binds
    loopback there: ``:9000`` would listen on the LAN too, past the gateway. In a bridge
    container it stays ``:<port>`` (the published port, on 127.0.0.1, decides exposure), as
    the docker target always rendered it: the env is create-only, so new text would replace
    every dev stack's S3 container for nothing.
    """
    address = ipaddress.ip_address(bind_address)
    if address.is_unspecified:
        return f":{port}"
    return f"{address}:{port}" if address.version == 4 else f"[{address}]:{port}"


def s3_server_env(access_key: str, secret_key: str, region: str, port: int, bind_address: str = "0.0.0.0") -> list[str]:
    return [
        f"ROOT_ACCESS_KEY_ID={access_key}",
        f"ROOT_SECRET_ACCESS_KEY={secret_key}",
        # versitygw rejects signatures made for any other region.
        f"VGW_REGION={region}",
        f"VGW_PORT={s3_listen_address(bind_address, port)}",
        f"VGW_HEALTH={HEALTH_PATH}",
    ]


def s3_server_healthcheck(port: int) -> tuple[str, ...]:
    # The image is Alpine: busybox wget, no curl. The health path needs no credentials.
    return ("CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{HEALTH_PATH}")
