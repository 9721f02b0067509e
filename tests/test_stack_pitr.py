"""Point-in-time recovery in the whole stack (Pulumi mocks): the three jobs, the server's archive_timeout, the
replication pg_hba line, the secrets, the restore command output, and the loader's refusals."""
from __future__ import annotations

import copy
import shlex

import pytest
from pulumi.runtime import rpc

from renderers.pg_backup import RCLONE_IMAGE, RCLONE_VERSION
from tests import harness

NS = harness.PROJECT
JOBS = ("database-pitr-receive", "database-pitr-base-backup", "database-pitr-upload")


def with_pitr(stack: str, **pitr) -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "pitr": {"enabled": True, **pitr}}
    return values


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request):
    values = with_pitr(request.param, retentionDays=3, archiveTimeoutSeconds=60, baseBackupIntervalHours=12)
    return request.param, harness.evaluate(request.param, values)


def test_jobs_run_in_the_servers_image_and_pinned_rclone_on_their_own_volume(run):
    _, evaluation = run
    images = {i.name: harness.unwrap(i.inputs)["name"] for i in evaluation.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    assert images["database-pitr-receive-image"] == images["database-postgres-image"]
    assert images["database-pitr-base-backup-image"] == images["database-postgres-image"]
    assert images["database-pitr-upload-image"] == f"{RCLONE_IMAGE}:{RCLONE_VERSION}"
    for name in JOBS:
        inputs = harness.unwrap(evaluation.monitor.one(name).inputs)
        assert inputs["restart"] == "unless-stopped" and inputs["securityOpts"] == ["no-new-privileges:true"]
        assert [(v["containerPath"], v["volumeName"]) for v in inputs["volumes"]] == [("/pitr", "database-pitr")]
    receive = harness.unwrap(evaluation.monitor.one("database-pitr-receive").inputs)["command"][0]
    base = harness.unwrap(evaluation.monitor.one("database-pitr-base-backup").inputs)["command"][0]
    upload = harness.unwrap(evaluation.monitor.one("database-pitr-upload").inputs)["command"][0]
    assert "pg_receivewal -w -D" in receive and "--slot=pitr_receiver" in receive
    assert "$((43200 - $(date +%s) % 43200))" in base, "baseBackupIntervalHours 12 must reach the loop"
    assert "keeps 3 days" in upload and "$(date +%s) - 259200" in upload, "retentionDays 3 must reach retention"


def test_the_server_gets_archive_timeout_and_the_replication_line(run):
    _, evaluation = run
    command = harness.unwrap(evaluation.monitor.one("database-postgres").inputs)["command"]
    assert command[-2:] == ["-c", "archive_timeout=60"]
    hba = harness.unwrap(evaluation.monitor.one("database-pitr-replication-hba").inputs)
    assert hba["create"].startswith("docker exec database-postgres sh -c ")
    assert "host replication app all scram-sha-256" in hba["create"]


def test_credentials_are_secret_and_the_restore_command_is_an_output(run):
    stack, evaluation = run
    for name in JOBS:
        assert rpc.is_rpc_secret(evaluation.monitor.one(name).inputs["envs"])
    env = dict(e.split("=", 1) for e in harness.unwrap(evaluation.monitor.one("database-pitr-upload").inputs["envs"]))
    endpoint = env["RCLONE_CONFIG_PITR_ENDPOINT"]
    assert endpoint == "http://objectstore:9000" if stack == "dev" else "oraclecloud.com" in endpoint
    restore = evaluation.outputs["databasePitrRestoreCommand"]
    argv = shlex.split(restore)
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["database-pitr-restore"], "one sh -c '<script>' name"
    for word in ("docker exec database-pitr-upload", "docker stop database-postgres", "database-data:/var/lib/postgresql",
                 "/var/lib/postgresql/18/docker", "database-pitr:/pitr"):
        assert word in argv[2], word
    for secret in (env["RCLONE_CONFIG_PITR_SECRET_ACCESS_KEY"], env["RCLONE_CONFIG_PITR_ACCESS_KEY_ID"]):
        assert secret not in restore


@pytest.mark.parametrize(("version", "compress"), [("14.20", "--compress=6"), ("16.11", "--compress=gzip")])
def test_before_18_pitr_loads_and_the_restore_keeps_the_old_cluster_in_a_new_volume(version: str, compress: str):
    # PGDATA stays the volume's root (no mount change for existing clusters); pg_receivewal's form is the major's.
    values = with_pitr("dev")
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "version": version}
    evaluation = harness.evaluate("dev", values)
    postgres = harness.unwrap(evaluation.monitor.one("database-postgres").inputs)
    assert [v["containerPath"] for v in postgres["volumes"]] == ["/var/lib/postgresql/data"]
    receive = harness.unwrap(evaluation.monitor.one("database-pitr-receive").inputs)["command"][0]
    assert f"--slot=pitr_receiver {compress} --no-loop" in receive
    script = shlex.split(evaluation.outputs["databasePitrRestoreCommand"])[2]
    for word in ("prev=database-data-pitr-previous-$(date -u +%Y%m%dT%H%M%SZ)", 'docker volume create "$prev"',
                 '-v database-data:/var/lib/postgresql/data -v "$prev:/pitr-previous"',
                 "remove it with: docker volume rm $prev"):
        assert word in script, word
    assert "/var/lib/postgresql/data/pitr-previous-" not in script and "pitr-restoring" not in script


def test_off_by_default_nothing_is_added():
    evaluation = harness.evaluate("dev", harness.stack_config_as_user_sets_it("dev"))
    names = set(evaluation.monitor.resources)
    assert not {n for n in names if "pitr" in n}
    assert "databasePitrRestoreCommand" not in evaluation.outputs
    assert not any("archive_timeout" in a for a in harness.unwrap(evaluation.monitor.one("database-postgres").inputs)["command"])


@pytest.mark.parametrize(
    ("database", "pitr", "key", "message"),
    [
        ({}, {"bucket": "elsewhere"}, "database.pitr.bucket", "not one of objectStore.buckets"),
        ({}, {"retentionDays": 1, "baseBackupIntervalHours": 48}, "database.pitr.baseBackupIntervalHours",
         "at most database.pitr.retentionDays * 24 = 24"),
        ({"version": "13.22"}, {}, "database.version", "database.pitr needs PostgreSQL 14 or later"),
    ],
)
def test_what_can_never_work_is_refused_naming_the_key(database: dict, pitr: dict, key: str, message: str):
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    values = with_pitr("dev", **pitr)
    values[f"{NS}:database"] = {**values[f"{NS}:database"], **database}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    found = {p.key: p.allowed for p in refused.value.problems}
    assert f"{NS}:{key}" in found and message in found[f"{NS}:{key}"], found
