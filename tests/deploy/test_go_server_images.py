"""The four Go server images run what the program gives them, on the real Docker engine.

images/{caddy,livekit-server,versitygw,rclone} rebuild the pinned official images on the project's
Debian base around binaries built from the Go module proxy (scripts/build-go-servers); scripts/build-images
builds them under the very references the program pins. Each test takes its container's image,
entrypoint, command, environment, uploads, limits and healthcheck from the program itself, evaluated
under the test mocks (the dev stack, database backups on, so the rclone uploader exists too), and
runs the container for real:

* caddy: the rendered Caddyfile is accepted, /health answers OK, and the gateway's reload command
  (validate + reload over the admin unix socket) succeeds in the running container;
* livekit-server: starts with the rendered LIVEKIT_CONFIG next to the program's Redis container, answers
  on 7880 and registers its node there;
* versitygw: creates the buckets and answers /_health;
* rclone: `rclone version` is v1.75.0, and the backup uploader's own script moves a finished backup
  into the versitygw bucket through S3.

Every probe is the program's own healthcheck argv, run inside the container as Docker runs it
(`docker exec`). Containers get no network (`--network none`) or share one container's namespace,
so all traffic stays on a loopback inside the engine; the Docker bridge is never used.
Nothing is skipped: a missing engine, image or helper program fails, naming what to run.
"""
from __future__ import annotations

import copy
import io
import re
import shlex
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from renderers.caddyfile import HEALTH_BODY, reload_command
from renderers.pg_backup import RCLONE_IMAGE, RCLONE_VERSION, SUMS_FILE, UPLOAD_JOB
from tests import harness

pytestmark = pytest.mark.real_engine

BUILD_IMAGES = "scripts/build-images"
NS = harness.PROJECT
STAMP = "20260101T000000Z"


def docker(*args: str, check: bool = True, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {shlex.join(args)[:300]} exited {result.returncode}:\n{result.stderr}{result.stdout}")
    return result


@pytest.fixture(scope="module")
def engine() -> None:
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed: install docker.io, start dockerd, then build the images with scripts/build-images")
    server = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    if server.returncode != 0:
        pytest.fail(f"no Docker engine answers: start dockerd, then build the images with scripts/build-images\n{server.stderr}")


@pytest.fixture(scope="module")
def program() -> dict[str, dict[str, Any]]:
    """Each container the dev stack (with backups) asks for: its inputs, and `image`: the pinned reference."""
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "backup": {"enabled": True}}
    evaluation = harness.evaluate("dev", values)
    images = {r.name: harness.unwrap(r.inputs)["name"] for r in evaluation.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    containers = {}
    for r in evaluation.monitor.by_type("docker:index/container:Container"):
        inputs = harness.unwrap(r.inputs)
        containers[r.name] = {**inputs, "image": images[f"{r.name}-image"]}
    return containers


def require_image(ref: str) -> str:
    if docker("image", "inspect", ref, check=False).returncode != 0:
        pytest.fail(f"image {ref} is not in the Docker engine: build it with {BUILD_IMAGES} (binary: scripts/build-go-servers)")
    return ref


def seconds(duration: str) -> float:
    """A Go duration as the provider writes it ("1m0s", "20s")."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    h, m, s = (int(p or 0) for p in parts.groups())
    return h * 3600 + m * 60 + s


def probe_argv(test: list[str]) -> list[str]:
    """A Docker healthcheck test as the argv Docker execs in the container."""
    kind, *rest = test
    if kind == "CMD":
        return rest
    assert kind == "CMD-SHELL", test
    return ["/bin/sh", "-c", rest[0]]


class Container:
    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.spec = spec

    def logs(self) -> str:
        out = docker("logs", "--tail", "80", self.name, check=False)
        return out.stdout + out.stderr

    def running(self) -> bool:
        state = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", self.name, check=False)
        return state.stdout.startswith("true")

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.name, *argv, check=check, timeout=60)

    def wait_healthy(self) -> str:
        """Run the program's healthcheck until it passes within its own budget; its output."""
        check = self.spec["healthcheck"]
        budget = seconds(check["startPeriod"]) + check["retries"] * (seconds(check["interval"]) + seconds(check["timeout"]))
        deadline = time.monotonic() + budget
        argv = probe_argv(check["tests"])
        while True:
            if not self.running():
                raise AssertionError(f"{self.name} stopped before its healthcheck passed:\n{self.logs()}")
            result = self.exec(*argv, check=False)
            if result.returncode == 0:
                return result.stdout
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: healthcheck {argv} still failing after {budget:.0f}s "
                    f"({result.returncode}: {result.stderr.strip()}):\n{self.logs()}"
                )
            time.sleep(1)


@contextmanager
def run(spec: dict[str, Any], *, network: str, extra: tuple[str, ...] = ()) -> Iterator[Container]:
    """The program's container, created as run_container asks, uploads copied in, then started."""
    name = f"bs-test-{spec['name']}-{uuid.uuid4().hex[:8]}"
    args = ["create", "--name", name, f"--network={network}", *extra]
    args += [f"--memory={int(spec['memory'])}m", f"--memory-swap={int(spec['memorySwap'])}m", f"--cpus={spec['cpus']}"]
    for opt in spec.get("securityOpts") or ():
        args.append(f"--security-opt={opt}")
    command = list(spec.get("command") or ())
    entrypoint = list(spec.get("entrypoints") or ())
    if entrypoint:
        args.append(f"--entrypoint={entrypoint[0]}")
        command = entrypoint[1:] + command
    for env in spec.get("envs") or ():
        args += ["-e", env]
    args += [spec["image"], *command]
    docker(*args)
    container = Container(name, spec)
    try:
        for upload in spec.get("uploads") or ():
            _copy_in(name, upload["file"], upload["content"])
        docker("start", name)
        yield container
    finally:
        docker("rm", "-f", "-v", name, check=False)


def _copy_in(container: str, path: str, content: str) -> None:
    """The upload as a one-file tar stream into the created container (`docker cp -`), as the provider uploads it."""
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    result = subprocess.run(["docker", "cp", "-", f"{container}:/"], input=buffer.getvalue(), capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"docker cp {path} into {container}: {result.stderr.decode()}")


# --------------------------------------------------------------------------------------------------------------
# caddy


def test_caddy_takes_the_rendered_caddyfile_answers_health_and_reloads(engine, program):
    spec = program["gateway-caddy"]
    require_image(spec["image"])
    assert spec["image"] == "caddy:2.11.7-alpine"
    with run(spec, network="none") as caddy:
        assert caddy.wait_healthy().strip() == HEALTH_BODY
        assert caddy.exec("caddy", "version").stdout.startswith("v2.11.7 ")
        caddyfile = next(u["content"] for u in spec["uploads"] if u["file"] == "/etc/caddy/Caddyfile")
        # The gateway's in-place reload, as the host shell runs it: validate, swap the file, reload over the socket.
        script = reload_command(caddyfile, container=caddy.name)
        reloaded = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=120)
        assert reloaded.returncode == 0, reloaded.stderr + reloaded.stdout
        assert caddy.exec("cat", "/etc/caddy/Caddyfile").stdout == caddyfile
        assert caddy.wait_healthy().strip() == HEALTH_BODY


# --------------------------------------------------------------------------------------------------------------
# livekit-server


def test_livekit_starts_with_the_programs_config_and_answers_on_7880(engine, program):
    spec = program["media-livekit"]
    require_image(spec["image"])
    assert spec["image"] == "livekit/livekit-server:v1.13.5"
    config = yaml.safe_load(next(e for e in spec["envs"] if e.startswith("LIVEKIT_CONFIG=")).split("=", 1)[1])
    assert config["port"] == 7880
    redis_host, redis_port = config["redis"]["address"].rsplit(":", 1)
    redis = program["cache-redis"]
    require_image(redis["image"])
    assert redis_port == "6379" and f"port {redis_port}\n" in redis["uploads"][0]["content"]
    # LiveKit refuses to start without its Redis: the program's own Redis container, in whose network
    # namespace LiveKit runs, with the name the program gives it (its network alias) on loopback.
    with run(redis, network="none", extra=(f"--add-host={redis_host}:127.0.0.1",)) as cache:
        cache.wait_healthy()
        with run(spec, network=f"container:{cache.name}") as livekit:
            livekit.wait_healthy()
            assert livekit.exec("wget", "-q", "-O", "-", "http://127.0.0.1:7880/").stdout.strip() == "OK"
            assert "1.13.5" in livekit.exec("/livekit-server", "--version").stdout
            # It registered its node in that Redis.
            nodes = cache.exec("redis-cli", "-h", "127.0.0.1", "--no-auth-warning", "hkeys", "nodes").stdout.split()
            assert len(nodes) == 1, nodes


# --------------------------------------------------------------------------------------------------------------
# versitygw


def test_versitygw_creates_the_buckets_and_answers_health(engine, program):
    spec = program["object-store-s3"]
    require_image(spec["image"])
    assert spec["image"] == "versity/versitygw:v1.7.0"
    with run(spec, network="none") as s3:
        s3.wait_healthy()
        buckets = set(s3.exec("ls", "/data").stdout.split())
        assert {"recordings", "uploads"} <= buckets
        assert "Version  : 1.7.0" in s3.exec("versitygw", "--version").stdout


# --------------------------------------------------------------------------------------------------------------
# rclone


def test_rclone_image_is_1_75_0(engine, program):
    image = require_image(f"{RCLONE_IMAGE}:{RCLONE_VERSION}")
    assert program["database-backup-upload"]["image"] == image
    out = docker("run", "--rm", "--network=none", image, "version").stdout
    assert out.splitlines()[0] == "rclone v1.75.0"


def test_backup_uploader_moves_a_finished_backup_into_the_versitygw_bucket(engine, program, tmp_path: Path):
    store, upload = program["object-store-s3"], program["database-backup-upload"]
    require_image(store["image"])
    require_image(upload["image"])
    env = dict(e.split("=", 1) for e in upload["envs"])
    endpoint = re.fullmatch(r"http://([a-z0-9.-]+):(\d+)", env["RCLONE_CONFIG_BACKUP_ENDPOINT"])
    assert endpoint, env["RCLONE_CONFIG_BACKUP_ENDPOINT"]
    # Where the uploader puts backups: <remote>:<bucket>/<prefix> in its script; the store makes that bucket.
    base = re.search(r"base='?backup:([a-z0-9.-]+)/([a-z0-9_./-]+?)'?\s", upload["command"][0])
    assert base, upload["command"][0][:500]
    bucket, prefix = base.groups()
    assert f"/data/{bucket}" in shlex.split(store["command"][0].split("&&")[0])[2:]  # mkdir -p /data/<bucket> ...
    # A backup the dump job finished: its files, SHA256SUMS last (renderers/pg_backup.py).
    outbox = tmp_path / "outbox" / STAMP
    outbox.mkdir(parents=True)
    (outbox / "app.dump").write_bytes(b"PGDMP fake dump\n")
    (outbox / "globals.sql").write_text("-- roles\n")
    (outbox / SUMS_FILE).write_text("0  app.dump\n0  globals.sql\n")
    # The uploader shares versitygw's network namespace; the endpoint's host name is its loopback.
    with run(store, network="none", extra=(f"--add-host={endpoint[1]}:127.0.0.1",)) as s3:
        s3.wait_healthy()
        with run(upload, network=f"container:{s3.name}", extra=("-v", f"{tmp_path}:/backups")) as uploader:
            status = tmp_path / "status" / UPLOAD_JOB
            deadline = time.monotonic() + 60
            while not (status.exists() and status.read_text().strip()):
                assert uploader.running(), uploader.logs()
                assert time.monotonic() < deadline, f"no upload attempt recorded in 60s:\n{uploader.logs()}"
                time.sleep(0.5)
            assert status.read_text().startswith("ok "), f"{status.read_text()}\n{uploader.logs()}"
            uploader.wait_healthy()
            # The posix backend keeps each object as a file: <bucket>/<key>.
            stored = s3.exec("ls", f"/data/{bucket}/{prefix}/{STAMP}").stdout.split()
            assert sorted(stored) == sorted(["app.dump", "globals.sql", SUMS_FILE])
            assert s3.exec("cat", f"/data/{bucket}/{prefix}/{STAMP}/app.dump").stdout == "PGDMP fake dump\n"
            assert not outbox.exists()
