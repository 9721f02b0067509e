"""The backups merged without a run on the real engine, on the dev stack: `cache.backup` (redis-cli --rdb into the
object store, `cacheRestoreCommand`), `database.pitr` (pg_receivewal + pg_basebackup into the object store,
`databasePitrRestoreCommand`) and the PostgreSQL healthcheck that logs in with the container's password.

The stack is applied by tests/deploy/engine.py (its docstring says how far that is `pulumi up`); what is real is
every container, image, volume and network on the engine, and the restore commands: each output's text is run with
`sh -c`, as `eval "$(pulumi stack output ...)"` runs it, by this machine's docker CLI against the same engine.

Triggering: the Redis dump job sleeps to the next whole multiple of `intervalHours` (>= 1) before its first
backup (renderers/object_backup.py scheduled_loop_script), so the test runs the job's own once-script, read from
the running container's command, with `docker exec` in that container (its env, its volume); restarting the
upload container then uploads at once (its loop uploads first and sleeps after). PITR's base-backup job takes one
backup at its start and its uploader polls every 10 s (renderers/pg_pitr.py), so nothing is triggered there.
"""
from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from renderers.object_backup import BACKUP_VOLUME_PATH, STAMP, SUMS_FILE
from renderers.pg_pitr import START_FILE
from tests import harness
from tests.deploy import clients, engine_api as api, stacks
from tests.matrix.changes import NS, _set, secret_keys

STACK = "dev"
KEPT = f"kept-{uuid.uuid4().hex[:8]}"
LATER = f"later-{uuid.uuid4().hex[:8]}"


def wait_for(what: str, probe, timeout_s: float, every_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


def keys_under(out: dict, bucket: str, prefix: str) -> list[str]:
    s3 = clients.s3(out)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def container_logs(name: str) -> str:
    done = stacks.docker("logs", "--tail", "40", name, check=False)
    return f"--- docker logs {name}:\n{done.stdout}{done.stderr}"


def run_restore(command: str, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """`eval "$(pulumi stack output X) args"`: the output is `sh -c '<script>' name`, args become $1..."""
    text = " ".join([command, *map(shlex.quote, args)])
    return subprocess.run(["sh", "-c", text], capture_output=True, text=True, timeout=timeout_s)


@pytest.fixture(scope="module")
def running(request):
    """The dev stack; on its default PostgreSQL (18), or on the version a test asks for with an indirect parameter
    (the test at the end of this file: pytest tears the first stack down before it deploys that one, whose
    names are the same)."""
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    values = harness.stack_config_as_user_sets_it(STACK)
    if getattr(request, "param", None):
        _set(values, "database.version", request.param)
    _set(values, "cache.backup.enabled", True)
    _set(values, "database.pitr.enabled", True)
    # The smallest the loader takes (config/model.py DatabasePitrConfig): a segment reaches the store <= 20 s.
    _set(values, "database.pitr.archiveTimeoutSeconds", 10)
    stacks.remove_leftovers(STACK, values)
    deployment = stacks.deploy(STACK, values, secret_keys(values))
    # Both backups default to the first bucket (config/model.py BackupConfig, DatabasePitrConfig).
    bucket = values[f"{NS}:objectStore"]["buckets"][0]
    yield {"deployment": deployment, "values": values, "bucket": bucket}
    deployment.destroy()
    stacks.remove_leftovers(STACK, values)


def test_postgres_is_healthy_by_logging_in_and_a_wrong_password_is_unhealthy(running):
    """The deploy waited for Health.Status healthy (engine.py: wait=true); the check is a password login: run in
    the same container with another POSTGRES_PASSWORD, it fails and says why."""
    state = api.inspect_container("database-postgres")
    assert state["State"]["Health"]["Status"] == "healthy"
    test = state["Config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD-SHELL" and 'PGPASSWORD="$POSTGRES_PASSWORD"' in test[1]
    good = stacks.docker("exec", "database-postgres", "sh", "-c", test[1], check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = stacks.docker("exec", "-e", "POSTGRES_PASSWORD=not-the-password", "database-postgres", "sh", "-c", test[1],
                        check=False)
    assert bad.returncode == 1
    assert "cannot log in with this container's POSTGRES_PASSWORD" in bad.stdout


def test_redis_snapshot_reaches_the_store_and_the_restore_command_brings_it_back(running):
    out, bucket = running["deployment"].outputs, running["bucket"]
    assert clients.redis(out["redisUrl"], "SET", "backed-up", KEPT) == "OK"
    # The stack's own "back up now" (its first scheduled run is at the next whole hour): the dump job's
    # once-script, run in the job's container, as a user runs the output.
    dumped = run_restore(out["cacheBackupNowCommand"])
    assert dumped.returncode == 0, dumped.stdout + dumped.stderr + container_logs("cache-backup-dump")
    stacks.docker("restart", "cache-backup-upload")  # its loop uploads at start
    sums = wait_for("redis/<stamp>/SHA256SUMS in the store",
                    lambda: [k for k in keys_under(out, bucket, "redis/") if k.endswith("/" + SUMS_FILE)], 60)
    assert len(sums) == 1 and STAMP.match(sums[0].split("/")[1]), sums
    assert f"redis/{sums[0].split('/')[1]}/dump.rdb" in keys_under(out, bucket, "redis/")
    assert not stacks.docker("exec", "cache-backup-dump", "ls", f"{BACKUP_VOLUME_PATH}/outbox").stdout.strip(), \
        "the uploader left the backup in the outbox"

    # After the snapshot: a key the restore must not bring, then everything gone.
    assert clients.redis(out["redisUrl"], "SET", "after-backup", LATER) == "OK"
    assert clients.redis(out["redisUrl"], "FLUSHALL") == "OK"
    assert clients.redis(out["redisUrl"], "GET", "backed-up") == ""
    before = api.inspect_container("cache-redis")["Id"]

    done = run_restore(out["cacheRestoreCommand"])
    assert done.returncode == 0, done.stdout + done.stderr + container_logs("cache-redis")
    assert "restore: Redis restarted on the newest backup" in done.stdout
    # `docker start` returns before Redis has loaded: ask until it answers.
    wait_for("Redis answering after the restore",
             lambda: subprocess.run(["redis-cli", "--no-auth-warning", "-u", out["redisUrl"], "PING"],
                                    capture_output=True, text=True).stdout.strip() == "PONG", 30)
    assert clients.redis(out["redisUrl"], "GET", "backed-up") == KEPT
    assert clients.redis(out["redisUrl"], "GET", "after-backup") == ""
    assert api.inspect_container("cache-redis")["Id"] == before, "the restore is a stop/start, not a new container"
    kept = stacks.docker("exec", "cache-redis", "ls", "/data").stdout.split()
    assert "appendonlydir.before-restore" in kept and "appendonlydir" in kept, kept


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def pitr_story(running) -> subprocess.CompletedProcess:
    """A, a time, B; the restore to the time; A is back without B, on timeline 2, archived, writable."""
    out, bucket = running["deployment"].outputs, running["bucket"]
    db = out["databaseUrl"]
    # The base-backup job's first backup, taken at its start, uploaded within the 10 s poll.
    base = wait_for("postgres-pitr/base/<stamp>/SHA256SUMS in the store",
                    lambda: [k for k in keys_under(out, bucket, "postgres-pitr/base/") if k.endswith("/" + SUMS_FILE)],
                    90)
    stamp = base[0].split("/")[2]
    assert STAMP.match(stamp)
    files = keys_under(out, bucket, f"postgres-pitr/base/{stamp}/")
    assert {f"postgres-pitr/base/{stamp}/{n}" for n in ("base.tar.gz", "pg_wal.tar.gz", START_FILE)} <= set(files)

    clients.psql(db, f"CREATE TABLE pitr (v text); INSERT INTO pitr VALUES ('{KEPT}')")
    time.sleep(1.2)
    target = utc_now().replace(microsecond=0)  # after the first commit (whole seconds: the command's format)
    while utc_now() < target + timedelta(seconds=1.5):
        time.sleep(0.1)
    clients.psql(db, f"INSERT INTO pitr VALUES ('{LATER}')")
    # The segment holding the later commit; archive_timeout (10 s) completes it, the uploader moves it (10 s).
    segment = clients.psql(db, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    wait_for(f"WAL segment {segment} in the store",
             lambda: f"postgres-pitr/wal/{segment}.gz" in keys_under(out, bucket, "postgres-pitr/wal/"), 90)
    assert clients.psql(db, "SELECT count(*) FROM pitr") == "2"

    when = target.strftime("%Y-%m-%dT%H:%M:%SZ")
    done = run_restore(out["databasePitrRestoreCommand"], when)
    assert done.returncode == 0, done.stdout + done.stderr + container_logs("database-postgres")
    assert f"restore: the database is at {when} (from base backup {stamp})" in done.stdout
    assert clients.psql(db, "SELECT v FROM pitr") == KEPT, "restored to the time: the first row, not the later one"
    assert clients.psql(db, "SELECT pg_is_in_recovery()") == "f"
    # The recovered server accepts writes and is healthy by its own check again.
    clients.psql(db, "INSERT INTO pitr VALUES ('after-restore')")
    wait_for("database-postgres healthy after the restore",
             lambda: api.inspect_container("database-postgres")["State"]["Health"]["Status"] == "healthy", 60)
    assert api.inspect_container("database-pitr-receive")["State"]["Running"], "the receiver was started again"
    # The promoted server is on timeline 2; the receiver, started again, follows it into the archive.
    timeline = clients.psql(db, "SELECT timeline_id FROM pg_control_checkpoint()")
    assert timeline == "2", timeline
    wait_for("the new timeline's history file in the store",
             lambda: "postgres-pitr/wal/00000002.history.gz" in keys_under(out, bucket, "postgres-pitr/wal/"), 60)
    return done


def test_pitr_restores_to_a_time_before_a_later_change(running):
    pitr_story(running)
    aside = stacks.docker("exec", "database-postgres", "ls", "/var/lib/postgresql").stdout.split()
    assert any(d.startswith("pitr-previous-") for d in aside), aside


@pytest.mark.parametrize("running", ["16.11"], indirect=True)
def test_pitr_before_18_keeps_the_replaced_cluster_in_a_new_volume(running):
    """The same story on 16 (images/postgres builds 14-17 on Debian's 15: the stand-in's binaries are 15, its
    PGDATA and volume are the pre-18 image's, /var/lib/postgresql/data). The replaced cluster goes to a new Docker
    volume, named in the command's last line; the data volume's mount is unchanged; `docker volume rm` removes
    it, as the README says."""
    assert api.inspect_container("database-postgres")["Config"]["Env"].count("PGDATA=/var/lib/postgresql/data") == 1
    done = pitr_story(running)
    line = next(x for x in done.stdout.splitlines() if "the previous cluster is kept in Docker volume" in x)
    prev = line.split("Docker volume ", 1)[1].split(";", 1)[0]
    assert prev.startswith("database-data-pitr-previous-"), line
    assert line.endswith(f"remove it with: docker volume rm {prev}"), line
    try:
        mounts = api.inspect_container("database-postgres")["Mounts"]
        assert [(m["Name"], m["Destination"]) for m in mounts if m["Type"] == "volume"] == [
            ("database-data", "/var/lib/postgresql/data")], mounts
        listed = stacks.docker("run", "--rm", "-v", f"{prev}:/previous", "--entrypoint", "ls",
                               "postgres:16.11-alpine", "-A", "/previous").stdout.split()
        assert {"PG_VERSION", "global", "base", "pg_wal"} <= set(listed), listed
        here = stacks.docker("exec", "database-postgres", "ls", "-A", "/var/lib/postgresql/data").stdout.split()
        assert not [d for d in here if d.startswith("pitr-")], here
    finally:
        stacks.docker("volume", "rm", prev)
    assert stacks.docker("volume", "inspect", prev, check=False).returncode != 0
