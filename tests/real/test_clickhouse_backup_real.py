"""ClickHouse backups end to end on ClickHouse 26.3's own engine: chdb-core 26.3 (clickhouse-local as a library)
runs the rendered BACKUP and RESTORE statements with the rendered `backups.allowed_path`; the dump job's script
runs under dash and busybox sh, the upload to versitygw through Debian's rclone, the restore command as
rendered against a stand-in `docker`.

Debian's clickhouse-server is 18.16, which has no BACKUP statement at all, and no 26.x server installs here; so
`clickhouse-client` is a stand-in that sends its --query to chdb on the same data directory (one process at a
time) and refuses a password in its argv: what it proves is the SQL and the files ClickHouse 26.3 writes and
reads, not the native protocol or the server's privileges (the server runs as uid clickhouse in the image).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from renderers.object_backup import STAMP, SUMS_FILE, StoreSettings, rclone_env, upload_once_script
from renderers.service_backup import (
    CLICKHOUSE_JOB,
    ClickHouseBackup,
    clickhouse_backup_config_xml,
    clickhouse_dump_once_script,
    clickhouse_restore_command,
)

from .postgres_process import install_busybox_applets
from .processes import free_tcp_ports, stop_process, wait_until_ready
from .test_redis_backup_real import versitygw_binary

pytestmark = pytest.mark.real_binary

PASSWORD = "ch'pa$s"
ACCESS_KEY = "ch-backup-access"
SECRET_KEY = "ch-backup-secret/+9"
BUCKET = "app-backups"
DUMP_JOB = "analytics-backup-dump"
UPLOADER = "analytics-backup-upload"
BUSYBOX = shutil.which("busybox") or "busybox"
TIMEOUT_S = 120

_CLIENT = r'''
import os, sys
assert os.environ.get("CLICKHOUSE_PASSWORD"), "no CLICKHOUSE_PASSWORD in the environment"
args = sys.argv[1:]
assert "--password" not in args, "a password in argv"
query = args[args.index("--query") + 1]
import chdb
conn = chdb.connect(f"file:{os.environ['CHDB_PATH']}?config-file={os.environ['CHDB_CONFIG']}")
cur = conn.cursor()
statements = [q for q in query.split(";") if q.strip()] if "--multiquery" in args else [query]
try:
    for q in statements:
        cur.execute(q)
        for row in cur.fetchall():
            print("\t".join(map(str, row)))
except Exception as error:
    print(error, file=sys.stderr)
    sys.exit(1)
'''

_DOCKER = r'''
import json, os, subprocess, sys
cfg = json.load(open(os.environ["SHIM_CONFIG"]))
args = sys.argv[1:]
with open(cfg["log"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[0] != "exec":
    sys.exit("unexpected docker call: " + " ".join(args))
interactive = args[1] == "-i"
name, *argv = args[2:] if interactive else args[1:]
if name == cfg["uploader"]:
    env, rewrite = cfg["uploader_env"], False
elif name == cfg["dump_job"]:
    env, rewrite = cfg["dump_env"], True
else:
    sys.exit("no such container: " + name)
if rewrite:  # the volume is mounted at /backups in the containers
    argv = [a.replace("/backups", cfg["volume"]) for a in argv]
if argv[0] == "sh":
    argv = [cfg["busybox"], *argv]
sys.exit(subprocess.run(argv, env=env, stdin=None if interactive else subprocess.DEVNULL).returncode)
'''


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Rig:
    tmp: Path
    settings: ClickHouseBackup
    volume: Path
    s3: object
    client_env: dict[str, str]
    upload_env: dict[str, str]
    host_env: dict[str, str]
    log: Path

    def sql(self, query: str) -> str:
        return _ok(subprocess.run(["clickhouse-client", "--host", "x", "--port", "1", "--user", "analytics",
                                   "--multiquery", "--query", query], env=self.client_env, capture_output=True,
                                  text=True, timeout=TIMEOUT_S, check=False))

    def backup(self, shell: list[str]) -> str:
        _ok(subprocess.run([*shell, "-c", clickhouse_dump_once_script(self.settings), f"{CLICKHOUSE_JOB}-once",
                            str(self.volume)], env=self.client_env, capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False))
        [stamp] = os.listdir(self.volume / "outbox")
        assert STAMP.match(stamp)
        upload = upload_once_script(self.settings.store, job=UPLOADER, tree=True)
        _ok(subprocess.run([*shell, "-c", upload, "upload-once", str(self.volume)], env=self.upload_env,
                           capture_output=True, text=True, timeout=TIMEOUT_S, check=False))
        return stamp

    def restore(self) -> subprocess.CompletedProcess[str]:
        command = clickhouse_restore_command(self.settings, dump_job=DUMP_JOB, uploader=UPLOADER)
        return subprocess.run(["/bin/sh", "-c", command], env=self.host_env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    import chdb  # noqa: F401 - a dev requirement (requirements-dev.txt); missing, the test fails here

    [gw_port] = free_tcp_ports(1)
    (tmp_path / "s3").mkdir()
    gw_log = (tmp_path / "versitygw.log").open("ab")
    gw = subprocess.Popen([versitygw_binary(), "--access", ACCESS_KEY, "--secret", SECRET_KEY, "--port",
                           f"127.0.0.1:{gw_port}", "posix", str(tmp_path / "s3")], stdout=gw_log, stderr=gw_log)
    endpoint = f"http://127.0.0.1:{gw_port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY)

    def up() -> bool:
        try:
            s3.list_buckets()
            return True
        except Exception:  # noqa: BLE001
            return False

    wait_until_ready(gw, up, name="versitygw", timeout_s=20, log=lambda: (tmp_path / "versitygw.log").read_text())
    s3.create_bucket(Bucket=BUCKET)
    store = StoreSettings(bucket=BUCKET, s3_endpoint=endpoint, s3_region="us-east-1", prefix="clickhouse", keep=2)
    settings = ClickHouseBackup(store=store, host="127.0.0.1", port=9004, user="analytics", database="analytics")
    volume = tmp_path / "volume"
    volume.mkdir()
    config = tmp_path / "config.xml"
    # The rendered config.d element, with the volume's path here for /backups.
    config.write_text(clickhouse_backup_config_xml(str(volume)))
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "clickhouse-client").write_text(f"#!{sys.executable}\n{_CLIENT}")
    (tools / "clickhouse-client").chmod(0o755)
    (tools / "docker").write_text(f"#!{sys.executable}\n{_DOCKER}")
    (tools / "docker").chmod(0o755)
    client_env = {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path), "CLICKHOUSE_PASSWORD": PASSWORD,
                  "CHDB_PATH": str(tmp_path / "chdb"), "CHDB_CONFIG": str(config)}
    # The rclone image is alpine: busybox's tar, find and sha256sum first (the server's image is Ubuntu: GNU's).
    applets = install_busybox_applets(tmp_path / "busybox")
    upload_env = {"PATH": f"{applets}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
                  **dict(e.split("=", 1) for e in rclone_env(store, ACCESS_KEY, SECRET_KEY))}
    log = tmp_path / "docker.log"
    shim = {"log": str(log), "uploader": UPLOADER, "dump_job": DUMP_JOB, "uploader_env": upload_env,
            "dump_env": client_env, "volume": str(volume), "busybox": BUSYBOX}
    (tools / "shim.json").write_text(json.dumps(shim))
    host_env = {"PATH": f"{tools}:/usr/bin:/bin", "SHIM_CONFIG": str(tools / "shim.json"), "HOME": str(tmp_path),
                "TMPDIR": str(tmp_path)}
    try:
        yield Rig(tmp_path, settings, volume, s3, client_env, upload_env, host_env, log)
    finally:
        stop_process(gw, timeout_s=10)
        gw_log.close()


def test_backup_upload_and_restore_on_clickhouse_26_3(rig: Rig) -> None:
    rig.sql("CREATE DATABASE analytics; "
            "CREATE TABLE analytics.events (id UInt64, name String) ENGINE = MergeTree ORDER BY id; "
            "INSERT INTO analytics.events SELECT number, concat('e', toString(number)) FROM numbers(5000)")
    before = rig.sql("SELECT count(), sum(id) FROM analytics.events")
    stamp = rig.backup(["dash"])
    keys = [o["Key"] for o in rig.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"clickhouse/{stamp}/")["Contents"]]
    assert f"clickhouse/{stamp}/.backup" in keys and f"clickhouse/{stamp}/{SUMS_FILE}" in keys
    assert any("/data/analytics/events/" in k for k in keys)

    # Changed after the backup: more rows, a new table; the restore brings the backup's state back.
    rig.sql("INSERT INTO analytics.events SELECT number + 5000, 'late' FROM numbers(10); "
            "CREATE TABLE analytics.extra (x UInt8) ENGINE = MergeTree ORDER BY x")
    done = rig.restore()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restore: analytics restored from the newest backup" in done.stdout
    assert rig.sql("SELECT count(), sum(id) FROM analytics.events") == before
    assert rig.sql("SELECT name FROM system.tables WHERE database = 'analytics' ORDER BY name") == "events\n"
    assert rig.sql("SELECT count() FROM system.databases WHERE name = 'analytics__restore'") == "0\n"
    assert not (rig.volume / "restore").exists(), "the unpacked backup is removed"
    calls = rig.log.read_text()
    for secret in (ACCESS_KEY, SECRET_KEY, PASSWORD):
        assert secret not in calls and json.dumps(secret)[1:-1] not in calls


def test_a_backup_that_does_not_restore_leaves_the_database_as_it_was(rig: Rig) -> None:
    rig.sql("CREATE DATABASE analytics; "
            "CREATE TABLE analytics.events (id UInt64) ENGINE = MergeTree ORDER BY id; "
            "INSERT INTO analytics.events SELECT number FROM numbers(100)")
    stamp = rig.backup([BUSYBOX, "sh"])
    # A damaged table definition, with SHA256SUMS made to match: the checksum cannot catch it, RESTORE does.
    key = f"clickhouse/{stamp}/metadata/analytics/events.sql"
    bad = b"CREATE TABLE analytics.events (id UInt64) ENGINE = NoSuchEngine"
    rig.s3.put_object(Bucket=BUCKET, Key=key, Body=bad)
    sums_key = f"clickhouse/{stamp}/{SUMS_FILE}"
    import hashlib
    lines = rig.s3.get_object(Bucket=BUCKET, Key=sums_key)["Body"].read().decode().splitlines()
    lines = [f"{hashlib.sha256(bad).hexdigest()}  ./metadata/analytics/events.sql"
             if line.endswith("./metadata/analytics/events.sql") else line for line in lines]
    rig.s3.put_object(Bucket=BUCKET, Key=sums_key, Body=("\n".join(lines) + "\n").encode())
    rig.sql("INSERT INTO analytics.events SELECT number + 100 FROM numbers(1)")
    done = rig.restore()
    assert done.returncode != 0
    assert "restore: RESTORE DATABASE analytics AS analytics__restore failed: analytics is as it was" in done.stderr, \
        done.stderr
    assert rig.sql("SELECT count() FROM analytics.events") == "101\n", "the database is untouched"


def test_an_object_added_to_a_backup_is_refused(rig: Rig) -> None:
    rig.sql("CREATE DATABASE analytics; CREATE TABLE analytics.t (x UInt8) ENGINE = MergeTree ORDER BY x")
    stamp = rig.backup(["dash"])
    rig.s3.put_object(Bucket=BUCKET, Key=f"clickhouse/{stamp}/metadata/analytics/evil.sql", Body=b"x")
    done = rig.restore()
    assert done.returncode != 0 and "has files its SHA256SUMS does not list" in done.stderr, done.stderr
