"""Scheduled PostgreSQL backups in the whole stack: the two containers, their secrets, the store they use."""
from __future__ import annotations

import copy

import pytest
from pulumi.runtime import rpc

from renderers.pg_backup import RCLONE_IMAGE, RCLONE_VERSION
from tests import harness

NS = harness.PROJECT


def with_backups(stack: str) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "backup": {"enabled": True, "keep": 3, "intervalHours": 6}}
    return harness.evaluate(stack, values)


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request):
    return request.param, with_backups(request.param)


def test_dump_runs_in_the_servers_image_and_upload_in_pinned_rclone(run):
    stack, evaluation = run
    images = {i.name: harness.unwrap(i.inputs)["name"] for i in evaluation.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    assert images["database-backup-dump-image"] == images["database-postgres-image"]
    assert images["database-backup-upload-image"] == f"{RCLONE_IMAGE}:{RCLONE_VERSION}"
    for name in ("database-backup-dump", "database-backup-upload"):
        inputs = harness.unwrap(evaluation.monitor.one(name).inputs)
        assert inputs["restart"] == "unless-stopped" and inputs["securityOpts"] == ["no-new-privileges:true"]
        assert [v["containerPath"] for v in inputs["volumes"]] == ["/backups"]
    dump_script = harness.unwrap(evaluation.monitor.one("database-backup-dump").inputs)["command"][0]
    upload_script = harness.unwrap(evaluation.monitor.one("database-backup-upload").inputs)["command"][0]
    assert "sleep $((21600 - $(date +%s) % 21600))" in dump_script, "intervalHours 6 must reach the dump loop"
    assert "keeps the newest 3" in upload_script, "keep 3 must reach the upload loop"


def test_credentials_are_secret_and_the_store_is_the_stacks_own(run):
    stack, evaluation = run
    dump = evaluation.monitor.one("database-backup-dump")
    upload = evaluation.monitor.one("database-backup-upload")
    assert rpc.is_rpc_secret(dump.inputs["envs"]) and rpc.is_rpc_secret(upload.inputs["envs"])
    env = dict(e.split("=", 1) for e in harness.unwrap(upload.inputs["envs"]))
    endpoint = env["RCLONE_CONFIG_BACKUP_ENDPOINT"]
    if stack == "dev":
        assert endpoint == "http://objectstore:9000"
    else:
        assert "compat.objectstorage.eu-frankfurt-1.oraclecloud.com" in endpoint
        # The key of the dedicated, bucket-scoped S3 user (targets/oci_iam.py), not the deployer's.
        key = evaluation.monitor.one("object-store-s3-key")
        assert harness.unwrap(key.inputs)["userId"] != harness.PROD_PERSONAL_CONFIG["userId"]
    restore = evaluation.outputs["databaseRestoreCommand"]
    assert "docker exec database-backup-upload" in restore and "database-postgres" in restore


def test_a_backup_bucket_that_is_not_one_of_the_stores_is_refused():
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "backup": {"enabled": True, "bucket": "elsewhere"}}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    assert f"{NS}:database.backup.bucket" in [p.key for p in refused.value.problems]
