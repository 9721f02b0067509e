"""Every container that talks to the object store uses S3 settings the store accepts, under Pulumi mocks.

OCI's S3 compatibility API has been reported refusing newer AWS SDK defaults (aws-chunked uploads, CRC32 request
checksums; components/object_store.py OCI_S3_CLIENT_ENV). On prod, Egress and the apps that reference the store
get AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION = when_required, and so does the `.env`
output; the backup uploader's rclone remote sets its own equivalents. On dev (versitygw) nothing changes but
rclone's settings, which are the values rclone already used there.
"""
from __future__ import annotations

import copy

import pytest

from components.app import store_client_env
from components.object_store import OCI_S3_CLIENT_ENV
from tests import harness

NS = harness.PROJECT
CHECKSUMS = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
S3_APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.4.2",
    "port": 3100,
    "env": {"S3_ENDPOINT": "${s3.endpoint}", "S3_ACCESS_KEY_ID": "${s3.accessKey}"},
}
# An app that never references the store: its env stays exactly what it set.
PLAIN_APP = {"name": "api", "image": "ghcr.io/acme/api:2.0.0", "port": 3200, "env": {"MODE": "plain"}}
RCLONE_REMOTE = {
    "RCLONE_CONFIG_BACKUP_USE_DATA_INTEGRITY_PROTECTIONS": "false",
    "RCLONE_CONFIG_BACKUP_USE_UNSIGNED_PAYLOAD": "true",
    "RCLONE_CONFIG_BACKUP_USE_MULTIPART_UPLOADS": "true",
}


def evaluate(stack: str) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:database"] = {**values[f"{NS}:database"], "backup": {"enabled": True}}
    values[f"{NS}:mediaServer"] = {**values[f"{NS}:mediaServer"], "egress": {"enabled": True}}
    values[f"{NS}:apps"] = [S3_APP, PLAIN_APP]
    return harness.evaluate(stack, values)


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request):
    return request.param, evaluate(request.param)


def envs(evaluation: harness.Evaluation, name: str) -> dict[str, str]:
    return dict(e.split("=", 1) for e in harness.unwrap(evaluation.monitor.one(name).inputs)["envs"])


def checksum_settings(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("AWS_") and "CHECKSUM" in k}


def dotenv(evaluation: harness.Evaluation) -> dict[str, str]:
    lines = [line for line in evaluation.outputs["env"].splitlines() if "=" in line and not line.startswith("#")]
    return {k: v.strip('"') for k, v in (line.split("=", 1) for line in lines)}


def test_egress_uses_the_stores_checksum_settings(run):
    stack, evaluation = run
    env = envs(evaluation, "media-egress")
    assert "EGRESS_CONFIG_BODY" in env
    assert checksum_settings(env) == (CHECKSUMS if stack == "prod" else {})


def test_apps_that_talk_to_the_store_get_them_and_others_do_not(run):
    stack, evaluation = run
    web = envs(evaluation, "web-app")
    assert checksum_settings(web) == (CHECKSUMS if stack == "prod" else {})
    assert web["S3_ACCESS_KEY_ID"]  # the app's own entries are all still there
    # Nothing of the store's: only its own entry and HOST, where it is told to listen (apps[].bindAddress).
    assert envs(evaluation, "api-app") == {"MODE": "plain", "HOST": "127.0.0.1" if stack == "prod" else "0.0.0.0"}


def test_the_env_output_carries_them_next_to_the_s3_values(run):
    stack, evaluation = run
    values = dotenv(evaluation)
    assert "S3_ENDPOINT" in values
    assert checksum_settings(values) == (CHECKSUMS if stack == "prod" else {})


def test_the_backup_uploader_pins_rclones_settings_on_every_target(run):
    stack, evaluation = run
    env = envs(evaluation, "database-backup-upload")
    assert {k: env[k] for k in RCLONE_REMOTE} == RCLONE_REMOTE
    assert env["RCLONE_CONFIG_BACKUP_PROVIDER"] == "Other"


def test_an_apps_own_value_wins():
    assert store_client_env({"AWS_REQUEST_CHECKSUM_CALCULATION": "when_supported"}, OCI_S3_CLIENT_ENV) == [
        "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required"
    ]
    assert store_client_env({}, OCI_S3_CLIENT_ENV) == list(OCI_S3_CLIENT_ENV)
