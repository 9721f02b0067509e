"""The Redis, InfluxDB and ClickHouse backup jobs and restore commands as text: each restore is one
`sh -c '<script>' <name>` (safe to eval), every script parses under dash and busybox sh (the images' /bin/sh),
and the upstream commands are spelled as the pinned sources take them."""
from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.object_backup import (
    RUNNING_SUFFIX,
    StoreSettings,
    backup_now_command,
    fetch_tree_script,
    snapshot_once_script,
    store_problems,
)
from renderers.service_backup import (
    CLICKHOUSE_JOB,
    CLICKHOUSE_RESTORE,
    INFLUX_JOB,
    INFLUX_RESTORE,
    REDIS_JOB,
    REDIS_MANIFEST_LINE,
    REDIS_RESTORE,
    ClickHouseBackup,
    InfluxBackup,
    RedisBackup,
    clickhouse_backup_config_xml,
    clickhouse_backup_now_command,
    clickhouse_backup_sql,
    clickhouse_dump_command,
    clickhouse_dump_once_script,
    clickhouse_restore_command,
    clickhouse_restore_script,
    clickhouse_restore_sql,
    influx_backup_now_command,
    influx_dump_command,
    influx_dump_once_script,
    influx_restore_command,
    influx_restore_inside_script,
    influx_restore_script,
    redis_backup_now_command,
    redis_dump_command,
    redis_dump_once_script,
    redis_put_back_script,
    redis_restore_command,
    redis_restore_script,
)

STORE = StoreSettings(bucket="app-backups", s3_endpoint="http://objectstore:9000", s3_region="us-east-1",
                      prefix="redis", keep=3, interval_hours=6)
REDIS = RedisBackup(store=STORE, host="redis", port=6379)
INFLUX = InfluxBackup(store=StoreSettings(**{**STORE.__dict__, "prefix": "influxdb"}), url="http://influxdb:8086")
CLICKHOUSE = ClickHouseBackup(store=StoreSettings(**{**STORE.__dict__, "prefix": "clickhouse"}), host="clickhouse",
                              port=9004, user="analytics", database="analytics")
SHELLS = [["dash"], [shutil.which("busybox") or "busybox", "sh"]]


def commands(stamp: str | None = None) -> dict[str, tuple[str, str, str]]:
    """name -> (command, its script, the $0 it must run as)."""
    r = {"container": "cache-redis", "image": "redis:7.4.6-alpine", "uploader": "cache-backup-upload", "stamp": stamp}
    i = {"container": "time-series-influxdb", "uploader": "time-series-backup-upload", "stamp": stamp}
    c = {"dump_job": "analytics-backup-dump", "uploader": "analytics-backup-upload", "stamp": stamp}
    return {
        "redis": (redis_restore_command(REDIS, **r), redis_restore_script(REDIS, **r), REDIS_RESTORE),
        "influxdb": (influx_restore_command(INFLUX, **i), influx_restore_script(INFLUX, **i), INFLUX_RESTORE),
        "clickhouse": (clickhouse_restore_command(CLICKHOUSE, **c), clickhouse_restore_script(CLICKHOUSE, **c),
                       CLICKHOUSE_RESTORE),
    }


def now_commands() -> dict[str, tuple[str, str, str, str]]:
    """name -> (backup-now command, dump job container, job, the job's once-script)."""
    return {
        "redis": (redis_backup_now_command(REDIS, dump_job="cache-backup-dump"), "cache-backup-dump", REDIS_JOB,
                  redis_dump_once_script(REDIS)),
        "influxdb": (influx_backup_now_command(INFLUX, dump_job="time-series-backup-dump"), "time-series-backup-dump",
                     INFLUX_JOB, influx_dump_once_script(INFLUX)),
        "clickhouse": (clickhouse_backup_now_command(CLICKHOUSE, dump_job="analytics-backup-dump"),
                       "analytics-backup-dump", CLICKHOUSE_JOB, clickhouse_dump_once_script(CLICKHOUSE)),
    }


def all_scripts() -> dict[str, str]:
    scripts = {
        "fetch": fetch_tree_script(),
        "redis-once": redis_dump_once_script(REDIS),
        "redis-loop": redis_dump_command(REDIS)[0],
        "redis-put-back": redis_put_back_script(),
        "influx-once": influx_dump_once_script(INFLUX),
        "influx-loop": influx_dump_command(INFLUX)[0],
        "influx-inside": influx_restore_inside_script(),
        "clickhouse-once": clickhouse_dump_once_script(CLICKHOUSE),
        "clickhouse-loop": clickhouse_dump_command(CLICKHOUSE)[0],
    }
    for name, (command, _, _, _) in now_commands().items():
        scripts[f"{name}-now-command"] = command
        scripts[f"{name}-now"] = shlex.split(command)[5]
    for name, (command, script, _) in commands().items():
        scripts[f"{name}-restore-command"] = command
        scripts[f"{name}-restore"] = script
        # Every `sh -c` the restore hands to docker: the scripts inside the containers.
        words = shlex.split(script)
        for n, word in enumerate(words):
            if word == "-c" and n + 1 < len(words):
                scripts[f"{name}-restore-inner-{n}"] = words[n + 1]
    return scripts


@pytest.mark.parametrize("shell", SHELLS, ids=["dash", "busybox"])
def test_every_script_parses_in_the_images_shells(shell):
    for name, script in all_scripts().items():
        checked = subprocess.run([*shell, "-n", "-c", script], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


@pytest.mark.parametrize("service", ["redis", "influxdb", "clickhouse"])
@pytest.mark.parametrize("stamp", [None, "20260101T000000Z"])
def test_each_restore_is_one_sh_c_script_in_a_shell_of_its_own(service, stamp):
    command, script, name = commands(stamp)[service]
    assert shlex.split(command) == ["sh", "-c", script, name]
    assert script.startswith("set -eu\n"), "fails at the first error, inside its own shell only"
    if stamp:
        assert stamp in script


@settings(max_examples=30, deadline=None)
@given(stamp=st.one_of(st.none(), st.from_regex(r"\A\d{8}T\d{6}Z\Z")),
       keep=st.integers(1, 365), interval=st.integers(1, 168))
def test_for_all_settings_each_restore_stays_one_sh_c_word(stamp, keep, interval):
    store = StoreSettings(bucket="b-ups", s3_endpoint="https://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com",
                          s3_region="eu-frankfurt-1", prefix="redis", keep=keep, interval_hours=interval)
    assert store_problems(store) == []
    command = redis_restore_command(RedisBackup(store=store, host="127.0.0.1"), container="c", image="redis:7.4.6-alpine",
                                    uploader="u", stamp=stamp)
    words = shlex.split(command)
    assert len(words) == 4 and words[:2] == ["sh", "-c"] and words[3] == REDIS_RESTORE


@pytest.mark.parametrize("stamp", ["latest", "2026-01-01", "20260101T000000Z; rm -rf /"])
def test_a_stamp_that_is_not_one_is_refused(stamp):
    with pytest.raises(ValueError, match="stamp"):
        redis_restore_command(REDIS, container="c", image="i", uploader="u", stamp=stamp)


def test_redis_backup_is_the_servers_own_rdb_and_the_restore_writes_an_aof_base():
    once = redis_dump_once_script(REDIS)
    assert 'redis-cli -h redis -p 6379 --rdb "$tmp/dump.rdb"' in once
    assert "REDISCLI_AUTH" in once and "-a " not in once, "the password only from the environment"
    put_back = redis_put_back_script()
    assert REDIS_MANIFEST_LINE == "file appendonly.aof.1.base.rdb seq 1 type b"
    assert "appendonly.aof.manifest" in put_back and "redis-check-rdb" in put_back
    restore = redis_restore_script(REDIS, container="cache-redis", image="redis:7.4.6-alpine", uploader="u")
    # Stopped before the put-back, started after it, started again when it fails.
    order = [restore.index("docker stop cache-redis"), restore.index("--volumes-from cache-redis"),
             restore.rindex("docker start cache-redis")]
    assert order == sorted(order)
    assert restore.count("docker start cache-redis") == 2


def test_influx_uses_the_pinned_clis_flags():
    # influx-cli@v2.7.5 cmd/influx/backup.go: one positional path; global.go: --host, INFLUX_TOKEN.
    assert 'influx backup --host http://influxdb:8086 "$tmp"' in influx_dump_once_script(INFLUX)
    # restore.go: --full "Fully restore and replace all data on server", one positional path.
    assert 'influx restore --full "$dir"' in influx_restore_inside_script()
    assert "--token" not in influx_dump_once_script(INFLUX) + influx_restore_inside_script()


def test_clickhouse_sql_and_where_the_server_may_write():
    assert clickhouse_backup_sql("analytics", "/backups/work/x") == \
        "BACKUP DATABASE analytics TO File('/backups/work/x/')"
    assert clickhouse_restore_sql("analytics", "/backups/restore") == [
        "DROP DATABASE IF EXISTS analytics__restore SYNC",
        "RESTORE DATABASE analytics AS analytics__restore FROM File('/backups/restore/')",
        "DROP DATABASE IF EXISTS analytics SYNC",
        "RENAME DATABASE analytics__restore TO analytics",
    ]
    assert "<allowed_path>/backups/</allowed_path>" in clickhouse_backup_config_xml()
    once = clickhouse_dump_once_script(CLICKHOUSE)
    assert "CLICKHOUSE_PASSWORD" in once and "--password" not in once
    with pytest.raises(ValueError):
        ClickHouseBackup(store=STORE, host="h", port=1, user="u", database="a`b")


def test_the_snapshot_frame_refuses_a_backup_with_its_own_sums_and_an_empty_one():
    script = snapshot_once_script(job="j", keep=2, body=["true"])
    assert "wrote a SHA256SUMS of its own" in script and '[ -s "$work/files" ]' in script


@pytest.mark.parametrize("service", ["redis", "influxdb", "clickhouse"])
def test_backup_now_is_one_docker_exec_of_the_jobs_own_once_script(service):
    command, container, job, once = now_commands()[service]
    words = shlex.split(command)
    assert words[:5] == ["docker", "exec", container, "sh", "-c"] and words[6:] == [f"{job}-now", "/backups"]
    assert f"once={shlex.quote(once)}\n" in words[5], "the scheduled run's script, byte for byte"
    assert f'sh -c "$once" {job}-once "$root"' in words[5]
    # The same status file the loop writes and the healthcheck reads.
    assert f'> "$root/status/{job}"' in words[5]
    loop = {"redis": redis_dump_command(REDIS), "influxdb": influx_dump_command(INFLUX),
            "clickhouse": clickhouse_dump_command(CLICKHOUSE)}[service][0]
    assert f"once={shlex.quote(once)}\n" in loop


@pytest.mark.parametrize("service", ["redis", "influxdb", "clickhouse"])
def test_every_once_script_holds_the_jobs_lock_and_the_loop_clears_a_stale_one(service):
    _, _, job, once = now_commands()[service]
    lock = f"lock=$root/status/{job}{RUNNING_SUFFIX}"
    lines = once.splitlines()
    assert lines.index(lock) < lines.index('rm -rf "$work"'), "held before $work is emptied"
    assert 'if ! mkdir "$lock" 2> /dev/null; then' in lines and "trap 'rmdir \"$lock\"' EXIT" in lines
    loop = {"redis": redis_dump_command(REDIS), "influxdb": influx_dump_command(INFLUX),
            "clickhouse": clickhouse_dump_command(CLICKHOUSE)}[service][0]
    first_run = loop.index('sh -c "$once"')
    assert loop.index(f'rm -rf "$root/status/{job}{RUNNING_SUFFIX}"') < first_run


@pytest.mark.parametrize("container", ["", "-x", "a b", "x;rm -rf /", "x'y"])
def test_backup_now_refuses_a_container_name_that_is_not_one(container):
    with pytest.raises(ValueError, match="container"):
        backup_now_command(container=container, job=REDIS_JOB, once="true", store=STORE)


def test_a_scheduled_run_that_finds_the_lock_taken_is_skipped_and_keeps_the_status(tmp_path):
    """The loop, under dash with a `sleep` that returns at once and a once-script that finds the lock held
    (LOCKED_EXIT): it says it skipped, and the status file keeps the last result instead of turning `failed`."""
    from renderers.object_backup import LOCKED_EXIT, scheduled_loop_script

    fast = tmp_path / "bin"
    fast.mkdir()
    (fast / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (fast / "sleep").chmod(0o755)
    runs = tmp_path / "runs"
    # Stop the loop after its second run: the once-script counts its runs and the second kills the loop.
    once = f'echo x >> {runs}; if [ "$(wc -l < {runs})" -ge 2 ]; then kill -TERM $PPID; fi; exit {LOCKED_EXIT}'
    loop = scheduled_loop_script(job="job", once=once, interval_hours=1, keep=2)
    done = subprocess.run(["dash", "-c", loop, "job", str(tmp_path / "vol")], env={"PATH": f"{fast}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, check=False)
    assert "job: skipped: a backup taken now holds the lock" in done.stdout, done.stdout + done.stderr
    assert not (tmp_path / "vol" / "status" / "job").exists(), "no `failed` for a run that only found the lock"
