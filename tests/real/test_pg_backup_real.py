"""Scheduled backups end to end: the jobs' own scripts with the real pg_dump and rclone, an S3 server, a restore.

Debian's PostgreSQL serves two databases; moto (requirements-dev.txt) is the S3 server, reached path-style as the
"Other" provider, as versitygw and OCI are. Each round runs the dump job's once-script (what its loop runs at
each multiple of the interval) and then the upload job's, alternately under dash and busybox ash (the postgres
and rclone images are alpine). The restore command runs exactly as rendered, with a stand-in `docker`
(tests/real/postgres_process.py): `docker exec` runs the command here with that container's environment only,
so the S3 keys are in the upload "container" and the host shell has none. The stand-in containers read stdin
through a pipe, as `docker exec -i` gives it to them, so pg_restore never gets a seekable file.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from renderers.pg_backup import (
    DUMP_JOB,
    GLOBALS_FILE,
    STAMP,
    SUMS_FILE,
    UPLOAD_JOB,
    BackupSettings,
    backup_problems,
    dump_env,
    dump_once_script,
    rclone_env,
    restore_command,
    upload_once_script,
)
from renderers.postgres import PostgresSettings

from .postgres_process import (
    CLIENT_TIMEOUT_S,
    Cluster,
    install_docker_shim,
    pg_bin,
    postgres_server,
    psql,
    run_host_command,
)
from .processes import free_tcp_ports

PASSWORD = "dump'me $Pa\\ss"
TARGET_PASSWORD = "rest0re'd \\$x"
ACCESS_KEY = "backup-access-key-7Q2"
SECRET_KEY = "backup-secret/+key'9Zr"
BUCKET = "app-backups"
KEEP = 2
ROUNDS = 4
PG_CONTAINER = "db-postgres"
UPLOADER = "db-backup-upload"
BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = [["dash"], [BUSYBOX, "sh"]]
APP_ROWS_PER_ROUND = 2_000
REPORT_ROWS_PER_ROUND = 10


def _rclone() -> str:
    found = shutil.which("rclone")
    if not found:
        raise AssertionError("rclone not found: install it (scripts/install-test-binaries does; CI runs it)")
    return found


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _env(entries: list[str]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries)


def _counts(cluster: Cluster, password: str) -> tuple[str, str]:
    """Row count and checksum of app.items, row count of reports.events."""
    app = _ok(psql(cluster, "SELECT count(*) || ' ' || md5(string_agg(id || '|' || label, ',' ORDER BY id)) "
                            "FROM items", password=password, database="app"))
    reports = _ok(psql(cluster, "SELECT count(*) FROM events", password=password, database="reports"))
    return app, reports


@dataclass
class Backups:
    settings: BackupSettings
    s3: object  # boto3 S3 client on the server
    volume: Path
    stamps: list[str]  # one per round, oldest first
    counts: list[tuple[str, str]]  # the source's counts at each round
    remote_after_round: list[list[str]]
    globals_sql: str


def _remote_stamps(s3, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    return sorted({obj["Key"][len(prefix) + 1:].split("/")[0] for obj in listed.get("Contents", [])})


def _run_job(shell: list[str], script: str, job: str, volume: Path, env: dict[str, str]):
    return subprocess.run([*shell, "-c", script, f"{job}-once", str(volume)], env=env, capture_output=True,
                          text=True, timeout=CLIENT_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def backups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backups]:
    tmp = tmp_path_factory.mktemp("pg-backup")
    _rclone()
    with ExitStack() as stack:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        stack.callback(server.stop)
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY)
        s3.create_bucket(Bucket=BUCKET)

        pg = PostgresSettings(version=f"{pg_bin().parent.name}.0", user="app_owner", database="app",
                              port=free_tcp_ports(1)[0], listen_address="127.0.0.1", memory_limit_mb=256)
        source = stack.enter_context(postgres_server(pg, PASSWORD))
        settings = BackupSettings(postgres_host="127.0.0.1", postgres_port=pg.port, postgres_user=pg.user,
                                  bucket=BUCKET, s3_endpoint=endpoint, s3_region="us-east-1", keep=KEEP,
                                  prefix="pg/nightly")
        assert backup_problems(settings) == []
        _ok(psql(source, "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)", password=PASSWORD))
        _ok(psql(source, "CREATE DATABASE reports", password=PASSWORD))
        _ok(psql(source, "CREATE TABLE events (id int)", password=PASSWORD, database="reports"))

        volume = tmp / "volume"
        # Only what the containers have: the image's PATH and the job's own env entries.
        dump_run_env = {"PATH": f"{pg_bin()}:/usr/bin:/bin", "HOME": str(tmp), **_env(dump_env(PASSWORD))}
        upload_run_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp),
                          **_env(rclone_env(settings, ACCESS_KEY, SECRET_KEY))}
        stamps, counts, remote_after = [], [], []
        for n in range(ROUNDS):
            first = n * APP_ROWS_PER_ROUND + 1
            _ok(psql(source, f"INSERT INTO items SELECT g, md5(g::text) || E'\\'\\\\' "
                             f"FROM generate_series({first}, {first + APP_ROWS_PER_ROUND - 1}) g", password=PASSWORD))
            _ok(psql(source, f"INSERT INTO events SELECT g FROM generate_series(1, {REPORT_ROWS_PER_ROUND}) g",
                     password=PASSWORD, database="reports"))
            counts.append(_counts(source, PASSWORD))
            if stamps:  # a new second, so a new stamp
                while time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) <= stamps[-1]:
                    time.sleep(0.1)
            shell = SHELLS[n % 2]
            dumped = _run_job(shell, dump_once_script(settings), DUMP_JOB, volume, dump_run_env)
            _ok(dumped)
            [stamp] = os.listdir(volume / "outbox")
            assert STAMP.match(stamp) and f"{stamp}: 3 database(s) and the globals" in dumped.stdout
            assert sorted(os.listdir(volume / "outbox" / stamp)) == sorted(
                [GLOBALS_FILE, SUMS_FILE, "app.dump", "postgres.dump", "reports.dump"])
            assert os.listdir(volume / "work") == [], "nothing half-written is left"
            stamps.append(stamp)
            uploaded = _run_job(shell, upload_once_script(settings), UPLOAD_JOB, volume, upload_run_env)
            _ok(uploaded)
            assert os.listdir(volume / "outbox") == []
            remote_after.append(_remote_stamps(s3, settings.prefix))
        globals_sql = s3.get_object(Bucket=BUCKET, Key=f"{settings.prefix}/{stamps[-1]}/{GLOBALS_FILE}")["Body"].read()
        yield Backups(settings=settings, s3=s3, volume=volume, stamps=stamps, counts=counts,
                      remote_after_round=remote_after, globals_sql=globals_sql.decode())


def test_retention_keeps_the_newest_backups_and_each_is_complete(backups: Backups) -> None:
    for n, remote in enumerate(backups.remote_after_round):
        assert remote == backups.stamps[max(0, n + 1 - KEEP):n + 1], f"after round {n + 1}"
    for stamp in backups.stamps[-KEEP:]:
        key = f"{backups.settings.prefix}/{stamp}"
        names = sorted(o["Key"].rsplit("/", 1)[1] for o in
                       backups.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{key}/")["Contents"])
        assert names == sorted([GLOBALS_FILE, SUMS_FILE, "app.dump", "postgres.dump", "reports.dump"])
        sums = dict(reversed(line.split("  ")) for line in
                    backups.s3.get_object(Bucket=BUCKET, Key=f"{key}/{SUMS_FILE}")["Body"].read().decode().splitlines())
        for name, digest in sums.items():
            body = backups.s3.get_object(Bucket=BUCKET, Key=f"{key}/{name}")["Body"].read()
            assert hashlib.sha256(body).hexdigest() == digest, name
    assert "CREATE ROLE app_owner;" in backups.globals_sql
    assert "SCRAM-SHA-256$" in backups.globals_sql, "the role's password hash comes along"


class Host:
    """The Docker host: a stand-in `docker`, the target database's container and the upload container."""

    def __init__(self, tmp: Path, target: Cluster, backups: Backups) -> None:
        self.cwd = tmp
        self.bin_dir = tmp / "docker-bin"
        self.bin_dir.mkdir()
        # `docker exec -i` hands the container a pipe, never the host's file.
        container_sh = self.bin_dir / "container-sh"
        container_sh.write_text(f'#!/bin/sh\ncat | exec {BUSYBOX} sh "$@"\n')
        container_sh.chmod(0o755)
        pg_env = {"PATH": f"{pg_bin()}:/usr/bin:/bin", "POSTGRES_USER": target.settings.user,
                  "POSTGRES_PASSWORD": target.password, "POSTGRES_DB": target.settings.database,
                  "PGPORT": str(target.settings.port), "PGPASSFILE": os.path.join(os.devnull, "pgpass")}
        self.host_tmp, self.uploader_tmp = tmp / "host-tmp", tmp / "uploader-tmp"
        self.host_tmp.mkdir()
        self.uploader_tmp.mkdir()
        uploader_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(self.uploader_tmp),
                        **_env(rclone_env(backups.settings, ACCESS_KEY, SECRET_KEY))}
        self.config = {"log": str(tmp / "docker.log"), "shell": [str(container_sh)], "run_path": "/usr/bin:/bin",
                       "volumes": {}, "containers": {PG_CONTAINER: {"running": True, "env": pg_env},
                                                     UPLOADER: {"running": True, "env": uploader_env}}}
        # The restore runs against the target's port (in the real container, the server's own).
        self.settings = replace(backups.settings, postgres_port=target.settings.port)

    def restore(self, database: str, stamp: str | None = None) -> subprocess.CompletedProcess[str]:
        command = restore_command(self.settings, container=PG_CONTAINER, uploader=UPLOADER, database=database,
                                  stamp=stamp)
        env = {**install_docker_shim(self.bin_dir, self.config), "HOME": str(self.cwd), "TMPDIR": str(self.host_tmp)}
        env["PATH"] = f"{self.bin_dir}:/usr/bin:/bin"  # no rclone credentials, no PG settings, no password
        return run_host_command(command, env=env, cwd=self.cwd)

    def docker_calls(self) -> str:
        return Path(self.config["log"]).read_text()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh server with the two databases created, empty (the restore needs the database to exist)."""
    pg = PostgresSettings(version=f"{pg_bin().parent.name}.0", user="app_owner", database="app",
                          port=free_tcp_ports(1)[0], listen_address="127.0.0.1", memory_limit_mb=256)
    with postgres_server(pg, TARGET_PASSWORD) as cluster:
        _ok(psql(cluster, "CREATE DATABASE reports", password=TARGET_PASSWORD))
        yield cluster


def test_restore_brings_back_the_newest_or_a_chosen_backup(tmp_path: Path, backups: Backups, target: Cluster) -> None:
    host = Host(tmp_path, target, backups)
    newest, older = backups.stamps[-1], backups.stamps[-2]

    done = host.restore("app")
    assert done.returncode == 0, done.stderr
    assert f"fetching {backups.settings.base}/{newest}/app.dump" in done.stderr
    assert done.stdout.strip() == "restore: app restored from the newest backup"
    _ok(host.restore("reports", stamp=older))
    assert _counts(target, TARGET_PASSWORD) == (backups.counts[-1][0], backups.counts[-2][1])

    # Over a populated database: --clean replaces what is there.
    _ok(host.restore("app", stamp=older))
    _ok(host.restore("reports"))
    assert _counts(target, TARGET_PASSWORD) == (backups.counts[-2][0], backups.counts[-1][1])

    calls = host.docker_calls()
    for secret in (ACCESS_KEY, SECRET_KEY, PASSWORD, TARGET_PASSWORD):
        assert secret not in calls and json.dumps(secret)[1:-1] not in calls
    assert os.listdir(host.host_tmp) == [] and os.listdir(host.uploader_tmp) == [], "fetched dumps are removed"


@pytest.mark.parametrize(
    ("database", "stamp", "message"),
    [
        ("app", "first", "no complete backup {stamp} under"),
        ("app", "20991231T235959Z", "no complete backup 20991231T235959Z under"),
        ("nosuchdb", None, "has no dump of database nosuchdb"),
    ],
)
def test_restore_refuses_what_is_not_there(
    tmp_path: Path, backups: Backups, target: Cluster, database: str, stamp: str | None, message: str
) -> None:
    stamp = backups.stamps[0] if stamp == "first" else stamp  # deleted by retention
    host = Host(tmp_path, target, backups)
    _ok(host.restore("app"))
    _ok(host.restore("reports"))
    before = _counts(target, TARGET_PASSWORD)
    done = host.restore(database, stamp=stamp)
    assert done.returncode != 0
    assert message.format(stamp=stamp) in done.stderr and "nothing was restored" in done.stderr, done.stderr
    assert _counts(target, TARGET_PASSWORD) == before


def _replace_object(s3, key: str, body: bytes, sums_key: str | None = None) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    if sums_key:
        name = key.rsplit("/", 1)[1]
        sums = s3.get_object(Bucket=BUCKET, Key=sums_key)["Body"].read().decode().splitlines()
        lines = [f"{hashlib.sha256(body).hexdigest()}  {name}" if line.endswith(f"  {name}") else line
                 for line in sums]
        s3.put_object(Bucket=BUCKET, Key=sums_key, Body=("\n".join(lines) + "\n").encode())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garbage", "does not match its SHA-256 in SHA256SUMS: the object is damaged or was replaced"),
        ("garbage-with-matching-sums", "the dump of app is not a readable pg_dump archive; nothing was restored"),
        ("truncated-with-matching-sums", "pg_restore failed and its transaction was rolled back: app is as it was"),
    ],
)
def test_a_damaged_dump_fails_loudly_and_changes_nothing(
    tmp_path: Path, backups: Backups, target: Cluster, damage: str, message: str
) -> None:
    host = Host(tmp_path, target, backups)
    _ok(host.restore("app"))
    _ok(host.restore("reports"))
    before = _counts(target, TARGET_PASSWORD)
    key = f"{backups.settings.prefix}/{backups.stamps[-1]}/app.dump"
    sums_key = f"{backups.settings.prefix}/{backups.stamps[-1]}/{SUMS_FILE}"
    original = {k: backups.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in (key, sums_key)}
    try:
        if damage == "garbage":
            _replace_object(backups.s3, key, os.urandom(4096))
        elif damage == "garbage-with-matching-sums":
            _replace_object(backups.s3, key, os.urandom(4096), sums_key)
        else:
            # The table of contents is intact (pg_restore --list passes); the last table's data is cut short.
            _replace_object(backups.s3, key, original[key][:-200], sums_key)
        done = host.restore("app")
    finally:
        for k, body in original.items():
            backups.s3.put_object(Bucket=BUCKET, Key=k, Body=body)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "restored from" not in done.stdout
    assert _counts(target, TARGET_PASSWORD) == before, "the target database is untouched"
    _ok(host.restore("app"))
