"""Redis backups end to end: the dump job's own script against Debian's redis-server, the upload job's against
versitygw (the dev object store, built by scripts/build-go-servers) with Debian's rclone, then the rendered
restore command against a stand-in `docker` that stops, runs (the one-off put-back container) and starts a real
redis-server on the same data directory.

Redis runs the rendered redis.conf (`appendonly yes`): the test proves the restore's point, that a dump.rdb put
back alone would be ignored (the AOF wins at start), and that the AOF dir the restore writes is loaded and then
kept up to date (a key written after the restore survives a restart). Debian's redis-server is 7.0.15, the image
7.4.6: the AOF manifest format and start-up load are the same in both (renderers/service_backup.py cites both).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from renderers.object_backup import LOCKED_EXIT, STAMP, SUMS_FILE, StoreSettings, rclone_env, store_problems, upload_once_script
from renderers.redis_conf import RedisSettings, render_redis_conf
from renderers.service_backup import (
    REDIS_AOF_DIR,
    REDIS_JOB,
    RedisBackup,
    redis_dump_once_script,
    redis_backup_now_command,
    redis_dump_command,
    redis_restore_command,
)

from .postgres_process import install_busybox_applets
from .processes import free_tcp_ports, stop_process, wait_until_ready
from .redis_process import redis_binary, redis_client

pytestmark = pytest.mark.real_binary

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "cache'pa$s\\w0rd"
ACCESS_KEY = "redis-backup-access"
SECRET_KEY = "redis-backup-secret/+9Zr"
BUCKET = "app-backups"
CONTAINER = "cache-redis"
UPLOADER = "cache-backup-upload"
DUMP_JOB = "cache-backup-dump"
IMAGE = "redis:7.4.6-alpine"
BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = [["dash"], [BUSYBOX, "sh"]]
TIMEOUT_S = 60


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _env(entries: list[str]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries)


def versitygw_binary() -> str:
    run = subprocess.run([REPO / "scripts" / "build-go-servers", "versitygw", "v1.7.0"], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, f"scripts/build-go-servers versitygw v1.7.0 failed:\n{run.stderr[-3000:]}"
    return run.stdout.strip().splitlines()[-1]


def _pong(port: int) -> bool:
    try:
        with redis_client(port, PASSWORD) as client:
            return client.command("PING") == "PONG"
    except (OSError, ConnectionError, AssertionError):
        return False


# The stand-in `docker`: exec in the uploader (its env only) or the dump job (its env and volume), stop/start of the Redis "container" (a real
# redis-server on the data dir, pid in a file), and `run --rm -i --volumes-from` of the put-back container with
# /data mapped to the data dir. Every call is logged.
_SHIM = r'''
import json, os, signal, subprocess, sys, time
cfg = json.load(open(os.environ["SHIM_CONFIG"]))
args = sys.argv[1:]
with open(cfg["log"], "a") as log:
    log.write(json.dumps(args) + "\n")
def fail(message):
    print(message, file=sys.stderr); sys.exit(1)
def pid():
    try:
        return int(open(cfg["pidfile"]).read())
    except FileNotFoundError:
        return None
if args[:2] == ["exec", cfg["dump_job"]]:
    # The dump job's container: its env (REDISCLI_AUTH) and its volume, mounted at /backups there.
    rest = [cfg["volume"] if a == "/backups" else a for a in args[2:]]
    sys.exit(subprocess.run([cfg["busybox"], *rest], env=cfg["dump_env"]).returncode)
elif args[0] == "exec":
    args[1] == cfg["uploader"] or fail("unexpected exec into " + args[1])
    sys.exit(subprocess.run([cfg["busybox"], *args[2:]], env=cfg["uploader_env"]).returncode)
elif args[:2] == ["stop", cfg["container"]]:
    p = pid()
    if p:
        os.kill(p, signal.SIGTERM)
        for _ in range(200):
            try:
                os.kill(p, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        os.unlink(cfg["pidfile"])
    print(cfg["container"])
elif args[:2] == ["start", cfg["container"]]:
    pid() is None or fail("already running")
    log = open(cfg["server_log"], "ab")
    proc = subprocess.Popen([cfg["redis_server"], cfg["conf"]], stdout=log, stderr=log, start_new_session=True)
    open(cfg["pidfile"], "w").write(str(proc.pid))
    print(cfg["container"])
elif args[0] == "run":
    expected = ["run", "--rm", "-i", "--network", "none", "--volumes-from", cfg["container"], "--entrypoint", "sh",
                cfg["image"], "-c"]
    args[:len(expected)] == expected or fail("unexpected docker run " + " ".join(args[:12]))
    pid() is None or fail("the put-back container ran while Redis was running")
    script, name, *rest = args[len(expected):]
    rest = [cfg["data"] + a[len("/data"):] if a == "/data" or a.startswith("/data/") else a for a in rest]
    sys.exit(subprocess.run([cfg["busybox"], "sh", "-c", script, name, *rest], env=cfg["run_env"]).returncode)
else:
    fail("unexpected docker call: " + " ".join(args))
'''


@dataclass
class Rig:
    tmp: Path
    settings: RedisBackup
    port: int
    data: Path
    conf: Path
    volume: Path
    s3: object
    cfg: dict
    host_env: dict[str, str]
    dump_env: dict[str, str]
    upload_env: dict[str, str]

    def start(self) -> None:
        _ok(subprocess.run(["docker", "start", CONTAINER], env=self.host_env, capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False))
        self.wait_up()

    def wait_up(self) -> None:
        deadline = time.monotonic() + 20
        while not _pong(self.port):
            assert time.monotonic() < deadline, Path(self.cfg["server_log"]).read_text()[-2000:]
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run(["docker", "stop", CONTAINER], env=self.host_env, capture_output=True, timeout=TIMEOUT_S)

    def backup(self, shell: list[str]) -> str:
        before = set(os.listdir(self.volume / "outbox")) if (self.volume / "outbox").exists() else set()
        _ok(subprocess.run([*shell, "-c", redis_dump_once_script(self.settings), f"{REDIS_JOB}-once",
                            str(self.volume)], env=self.dump_env, capture_output=True, text=True, timeout=TIMEOUT_S,
                           check=False))
        [stamp] = set(os.listdir(self.volume / "outbox")) - before
        assert STAMP.match(stamp)
        _ok(subprocess.run([*shell, "-c", upload_once_script(self.settings.store, job="redis-backup-upload", tree=True),
                            "upload-once", str(self.volume)], env=self.upload_env, capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False))
        assert os.listdir(self.volume / "outbox") == []
        return stamp

    def backup_now(self) -> subprocess.CompletedProcess[str]:
        """cacheBackupNowCommand, as the operator runs it on the host (docker only, no password)."""
        command = redis_backup_now_command(self.settings, dump_job=DUMP_JOB)
        return subprocess.run(["/bin/sh", "-c", command], env=self.host_env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)

    def upload(self) -> None:
        _ok(subprocess.run([BUSYBOX, "sh", "-c", upload_once_script(self.settings.store, job="redis-backup-upload",
                                                                     tree=True),
                            "upload-once", str(self.volume)], env=self.upload_env, capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False))

    def restore(self, stamp: str | None = None) -> subprocess.CompletedProcess[str]:
        command = redis_restore_command(self.settings, container=CONTAINER, image=IMAGE, uploader=UPLOADER,
                                        stamp=stamp)
        return subprocess.run(["/bin/sh", "-c", command], env=self.host_env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)

    def keys(self) -> dict[bytes, bytes]:
        with redis_client(self.port, PASSWORD) as client:
            names = client.command("KEYS", "*")
            return {k: client.command("GET", k) for k in names}

    def set(self, **values: str) -> None:
        with redis_client(self.port, PASSWORD) as client:
            for k, v in values.items():
                assert client.command("SET", k, v) == "OK"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    gw_port, redis_port = free_tcp_ports(2)
    (tmp_path / "s3").mkdir()
    gw_log = (tmp_path / "versitygw.log").open("ab")
    gw = subprocess.Popen([versitygw_binary(), "--access", ACCESS_KEY, "--secret", SECRET_KEY, "--region",
                           "us-east-1", "--port", f"127.0.0.1:{gw_port}", "posix", str(tmp_path / "s3")],
                          stdout=gw_log, stderr=gw_log)
    endpoint = f"http://127.0.0.1:{gw_port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY)

    def gw_up() -> bool:
        try:
            s3.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    wait_until_ready(gw, gw_up, name="versitygw", timeout_s=20, log=lambda: (tmp_path / "versitygw.log").read_text())
    s3.create_bucket(Bucket=BUCKET)
    store = StoreSettings(bucket=BUCKET, s3_endpoint=endpoint, s3_region="us-east-1", prefix="redis", keep=2)
    assert store_problems(store) == []
    settings = RedisBackup(store=store, host="127.0.0.1", port=redis_port)
    data = tmp_path / "data"
    data.mkdir()
    conf = tmp_path / "redis.conf"
    conf.write_text(render_redis_conf(RedisSettings(password=PASSWORD, port=redis_port, bind_address="127.0.0.1",
                                                    data_dir=str(data))))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f"#!{sys.executable}\n{_SHIM}")
    (bin_dir / "docker").chmod(0o755)
    # The redis image's tools only: redis-cli and redis-check-rdb (symlinks to redis-server in the image).
    redis_tools = tmp_path / "redis-tools"
    redis_tools.mkdir()
    for tool in ("redis-cli", "redis-check-rdb"):
        os.symlink(redis_binary(tool), redis_tools / tool)
    # The rclone and redis images are alpine: busybox's sh, tar, find, sha256sum come first on their PATH.
    applets = install_busybox_applets(tmp_path / "busybox")
    upload_env = {"PATH": f"{applets}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
                  **_env(rclone_env(store, ACCESS_KEY, SECRET_KEY))}
    dump_env = {"PATH": f"{redis_tools}:{applets}:/usr/bin:/bin", "HOME": str(tmp_path), "REDISCLI_AUTH": PASSWORD}
    cfg = {"dump_job": DUMP_JOB, "dump_env": dump_env, "volume": str(tmp_path / "volume"),
           "log": str(tmp_path / "docker.log"), "pidfile": str(tmp_path / "redis.pid"), "container": CONTAINER,
           "uploader": UPLOADER, "image": IMAGE, "busybox": BUSYBOX, "uploader_env": upload_env,
           "redis_server": redis_binary(), "conf": str(conf), "server_log": str(tmp_path / "redis.log"),
           "data": str(data), "run_env": {"PATH": f"{redis_tools}:{applets}:/usr/bin:/bin"}}
    (bin_dir / "shim.json").write_text(json.dumps(cfg))
    # The host has docker and nothing else: no S3 keys, no Redis password.
    host_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SHIM_CONFIG": str(bin_dir / "shim.json"),
                "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    r = Rig(tmp_path, settings, redis_port, data, conf, tmp_path / "volume", s3, cfg, host_env, dump_env,
            upload_env)
    try:
        r.start()
        yield r
    finally:
        r.stop()
        stop_process(gw, timeout_s=10)
        gw_log.close()


def test_backup_upload_restore_brings_the_snapshot_back(rig: Rig) -> None:
    rig.set(**{"room:1": "alice", "queue:job": "x" * 10_000, "quote'key": "va$lue\\"})
    snapshot = rig.keys()
    first = rig.backup(SHELLS[0])
    names = sorted(o["Key"] for o in rig.s3.list_objects_v2(Bucket=BUCKET, Prefix="redis/")["Contents"])
    assert names == [f"redis/{first}/{SUMS_FILE}", f"redis/{first}/dump.rdb"]

    with redis_client(rig.port, PASSWORD) as client:
        assert client.command("FLUSHALL") == "OK"
    rig.set(written_after="gone after the restore")
    done = rig.restore()
    assert done.returncode == 0, done.stderr
    assert f"fetching backup:{BUCKET}/redis/{first}" in done.stderr
    rig.wait_up()  # the restore's `docker start` returns at once; the server loads its data
    assert rig.keys() == snapshot
    assert (rig.data / f"{REDIS_AOF_DIR}.before-restore").is_dir(), "the replaced AOF is kept"

    # The restored AOF is live: a write after the restore survives a restart.
    rig.set(after_restore="kept")
    rig.stop()
    rig.start()
    assert rig.keys() == {**snapshot, b"after_restore": b"kept"}

    calls = Path(rig.cfg["log"]).read_text()
    for secret in (ACCESS_KEY, SECRET_KEY, PASSWORD):
        assert secret not in calls and json.dumps(secret)[1:-1] not in calls


def test_a_dump_rdb_put_back_alone_is_ignored_by_redis(rig: Rig) -> None:
    """The control: why the restore writes an AOF dir. Redis with appendonly yes starts from the AOF only."""
    rig.set(k="in the rdb")
    rig.backup(SHELLS[1])
    obj = rig.s3.list_objects_v2(Bucket=BUCKET, Prefix="redis/")["Contents"]
    rdb = next(o["Key"] for o in obj if o["Key"].endswith("dump.rdb"))
    with redis_client(rig.port, PASSWORD) as client:
        client.command("FLUSHALL")
    rig.stop()
    (rig.data / "dump.rdb").write_bytes(rig.s3.get_object(Bucket=BUCKET, Key=rdb)["Body"].read())
    rig.start()
    assert rig.keys() == {}


def test_a_chosen_older_backup_and_retention(rig: Rig) -> None:
    stamps = []
    for n in range(3):
        rig.set(round=str(n))
        if stamps:
            while time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) <= stamps[-1]:
                time.sleep(0.1)
        stamps.append(rig.backup(SHELLS[n % 2]))
    listed = {o["Key"].split("/")[1] for o in rig.s3.list_objects_v2(Bucket=BUCKET, Prefix="redis/")["Contents"]}
    assert listed == set(stamps[1:]), "keep = 2"
    done = rig.restore(stamps[1])
    assert done.returncode == 0, done.stderr
    rig.wait_up()
    assert rig.keys() == {b"round": b"1"}
    gone = rig.restore(stamps[0])
    assert gone.returncode != 0 and f"no complete backup {stamps[0]}" in gone.stderr


def test_a_damaged_backup_is_refused_before_redis_is_stopped(rig: Rig) -> None:
    rig.set(k="v")
    stamp = rig.backup(SHELLS[0])
    rig.set(k="current")
    rig.s3.put_object(Bucket=BUCKET, Key=f"redis/{stamp}/dump.rdb", Body=b"REDIS0011garbage")
    done = rig.restore()
    assert done.returncode != 0
    assert "does not match its SHA256SUMS" in done.stderr and "nothing was restored" in done.stderr
    assert "stop" not in Path(rig.cfg["log"]).read_text(), "Redis was never stopped"
    assert rig.keys() == {b"k": b"current"}


def test_backup_now_takes_a_snapshot_the_uploader_stores_and_the_restore_brings_back(rig: Rig) -> None:
    rig.set(before_now="in the backup")
    done = rig.backup_now()
    assert done.returncode == 0, done.stderr
    [stamp] = os.listdir(rig.volume / "outbox")
    assert STAMP.match(stamp) and f"{REDIS_JOB}: {stamp} is in the outbox" in done.stdout
    assert f"moves it to backup:{BUCKET}/redis/<stamp>/ within 60 s" in done.stdout
    assert (rig.volume / "status" / REDIS_JOB).read_text().startswith("ok "), "the healthcheck sees this run"
    assert not (rig.volume / "status" / f"{REDIS_JOB}.running").exists(), "the lock goes with the run"
    rig.upload()
    names = sorted(o["Key"] for o in rig.s3.list_objects_v2(Bucket=BUCKET, Prefix="redis/")["Contents"])
    assert names == [f"redis/{stamp}/{SUMS_FILE}", f"redis/{stamp}/dump.rdb"]
    with redis_client(rig.port, PASSWORD) as client:
        assert client.command("FLUSHALL") == "OK"
    restored = rig.restore()
    assert restored.returncode == 0, restored.stderr
    rig.wait_up()
    assert rig.keys() == {b"before_now": b"in the backup"}
    calls = Path(rig.cfg["log"]).read_text()
    assert [json.loads(line)[:2] for line in calls.splitlines()][1] == ["exec", DUMP_JOB], "after the rig's start"
    for secret in (ACCESS_KEY, SECRET_KEY, PASSWORD):
        assert secret not in calls and json.dumps(secret)[1:-1] not in calls


def test_backup_now_refuses_as_the_scheduled_run_does(rig: Rig) -> None:
    """A full outbox (keep = 2 waiting for the uploader) and a backup already running are refused, with the
    scheduled run's messages, and no backup is added; the status file says failed, as after a scheduled run."""
    rig.set(k="v")
    for _ in range(2):
        before = set(os.listdir(rig.volume / "outbox")) if (rig.volume / "outbox").exists() else set()
        assert rig.backup_now().returncode == 0
        while time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) <= max(set(os.listdir(rig.volume / "outbox")) - before):
            time.sleep(0.1)
    full = rig.backup_now()
    assert full.returncode != 0
    assert "2 backups in" in full.stderr and "are not uploaded yet (keep = 2)" in full.stderr, full.stderr
    assert f"{REDIS_JOB}: no backup was taken" in full.stderr
    assert (rig.volume / "status" / REDIS_JOB).read_text().startswith("failed ")
    assert len(os.listdir(rig.volume / "outbox")) == 2
    rig.upload()

    (rig.volume / "status" / f"{REDIS_JOB}.running").mkdir()  # a scheduled run in progress
    status = (rig.volume / "status" / REDIS_JOB).read_text()
    busy = rig.backup_now()
    assert busy.returncode == LOCKED_EXIT and "another backup is being taken in this job" in busy.stderr, busy.stderr
    # Not a failed backup: the run that holds the lock writes the result, so the healthcheck's file is left alone.
    assert (rig.volume / "status" / REDIS_JOB).read_text() == status
    assert os.listdir(rig.volume / "outbox") == []
    assert (rig.volume / "status" / f"{REDIS_JOB}.running").is_dir(), "the other run's lock is left alone"


def test_the_scheduled_loop_clears_a_lock_a_killed_run_left_and_then_backs_up(rig: Rig) -> None:
    """The dump container's PID 1 (redis_dump_command) at its start: a stale lock on the volume does not stop it.
    Its first run waits for the next whole interval, so the loop here runs with `sleep` that returns at once."""
    rig.set(k="scheduled")
    (rig.volume / "status").mkdir(parents=True)
    (rig.volume / "status" / f"{REDIS_JOB}.running").mkdir()
    fast = rig.tmp / "fast-sleep"
    fast.mkdir()
    (fast / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (fast / "sleep").chmod(0o755)
    loop, name, _ = redis_dump_command(rig.settings)
    env = {**rig.dump_env, "PATH": f"{fast}:{rig.dump_env['PATH']}"}
    proc = subprocess.Popen([BUSYBOX, "sh", "-c", loop, name, str(rig.volume)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not (rig.volume / "outbox").exists() or not os.listdir(rig.volume / "outbox"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=5)
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=10)
