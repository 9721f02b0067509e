"""`eval "$(pulumi stack output cacheRestoreCommand)"` (and timeSeries, analytics), as the README says, in a real
interactive bash: as with databaseRestoreCommand (tests/real/test_restore_eval_real.py, whose session and docker
stubs this re-uses), a failed restore must not close the operator's shell, and neither outcome may leave its
`set -eu` or EXIT trap behind. The same for the backup-now commands (cacheBackupNowCommand...): one `docker exec`
each, whose script runs in the job's container, never in the operator's shell."""
from __future__ import annotations

import pytest

from renderers.object_backup import StoreSettings, backup_now_script
from renderers.service_backup import (
    CLICKHOUSE_JOB,
    ClickHouseBackup,
    InfluxBackup,
    RedisBackup,
    clickhouse_backup_now_command,
    clickhouse_dump_once_script,
    clickhouse_restore_command,
    clickhouse_restore_script,
    influx_backup_now_command,
    influx_restore_command,
    redis_backup_now_command,
    redis_restore_command,
)

from .test_restore_eval_real import interactive_session

STORE = StoreSettings(bucket="app-backups", s3_endpoint="http://objectstore:9000", s3_region="us-east-1", prefix="x")
COMMANDS = {
    "redis": (redis_restore_command(RedisBackup(store=STORE, host="redis"), container="cache-redis",
                                    image="redis:7.4.6-alpine", uploader="cache-backup-upload"),
              "restore: Redis restarted on the newest backup"),
    "influxdb": (influx_restore_command(InfluxBackup(store=STORE, url="http://influxdb:8086"),
                                        container="time-series-influxdb", uploader="time-series-backup-upload"),
                 "restore: InfluxDB restored from the newest backup"),
    "clickhouse": (clickhouse_restore_command(
        ClickHouseBackup(store=STORE, host="clickhouse", port=9004, user="analytics", database="analytics"),
        dump_job="analytics-backup-dump", uploader="analytics-backup-upload"),
        "restore: analytics restored from the newest backup"),
}


@pytest.mark.parametrize("service", list(COMMANDS))
@pytest.mark.parametrize("docker_exit,restored", [(1, False), (0, True)], ids=["docker-fails", "docker-succeeds"])
def test_the_operators_shell_survives_and_keeps_its_options(tmp_path, service, docker_exit, restored):
    command, done = COMMANDS[service]
    result, out = interactive_session(tmp_path, command, docker_exit)
    assert "shell still here" in result.stdout, (result.stdout, result.stderr)
    assert ("status=0" in result.stdout) is restored, result.stdout
    assert (out / "options-after").read_text() == (out / "options-before").read_text()
    assert (out / "traps-after").read_text() == (out / "traps-before").read_text()
    assert (done in result.stdout + result.stderr) is restored
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")], "the fetched backup is removed either way"


def test_the_bare_script_would_have_closed_the_shell(tmp_path):
    """The control: the same lines eval'd without their own shell end the operator's session."""
    script = clickhouse_restore_script(
        ClickHouseBackup(store=STORE, host="clickhouse", port=9004, user="analytics", database="analytics"),
        dump_job="analytics-backup-dump", uploader="analytics-backup-upload")
    result, _ = interactive_session(tmp_path, script, docker_exit=1)
    assert "shell still here" not in result.stdout


CH = ClickHouseBackup(store=STORE, host="clickhouse", port=9004, user="analytics", database="analytics")
NOW = {
    "redis": redis_backup_now_command(RedisBackup(store=STORE, host="redis"), dump_job="cache-backup-dump"),
    "influxdb": influx_backup_now_command(InfluxBackup(store=STORE, url="http://influxdb:8086"),
                                          dump_job="time-series-backup-dump"),
    "clickhouse": clickhouse_backup_now_command(CH, dump_job="analytics-backup-dump"),
}


@pytest.mark.parametrize("service", list(NOW))
@pytest.mark.parametrize("docker_exit", [1, 0], ids=["docker-fails", "docker-succeeds"])
def test_backup_now_leaves_the_operators_shell_and_its_options_alone(tmp_path, service, docker_exit):
    result, out = interactive_session(tmp_path, NOW[service], docker_exit)
    assert "shell still here" in result.stdout, (result.stdout, result.stderr)
    assert f"status={docker_exit}" in result.stdout, result.stdout
    assert (out / "options-after").read_text() == (out / "options-before").read_text()
    assert (out / "traps-after").read_text() == (out / "traps-before").read_text()


def test_the_bare_backup_now_script_would_have_left_set_u_in_the_shell(tmp_path):
    """The control: what the command runs in the container, eval'd in the operator's shell instead, leaves its
    `set -u` there (bash -i stops the eval at the first unbound variable rather than exiting)."""
    script = backup_now_script(job=CLICKHOUSE_JOB, once=clickhouse_dump_once_script(CH), store=STORE)
    result, out = interactive_session(tmp_path, script, docker_exit=1)
    assert "shell still here" in result.stdout
    before, after = (out / "options-before").read_text(), (out / "options-after").read_text()
    assert "nounset        \toff" in before and "nounset        \ton" in after, after
