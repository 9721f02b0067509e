"""Scheduled Redis, InfluxDB and ClickHouse backups in the whole stack (Pulumi mocks): the two containers per
service, their images and secrets, the store they use, ClickHouse's extra mount and config, the outputs."""
from __future__ import annotations

import copy
import shlex

import pytest
from pulumi.runtime import rpc

from renderers.object_backup import RCLONE_IMAGE, RCLONE_VERSION
from renderers.service_backup import BACKUP_CONFIG_D_PATH, CLICKHOUSE_JOB, INFLUX_JOB, REDIS_JOB
from tests import harness

NS = harness.PROJECT
SERVICES = {
    # service: (config key, component name, server container, output, env var the dump job gets)
    "redis": ("cache", "cache", "cache-redis", "cacheRestoreCommand", "REDISCLI_AUTH"),
    "influxdb": ("timeSeries", "time-series", "time-series-influxdb", "timeSeriesRestoreCommand", "INFLUX_TOKEN"),
    "clickhouse": ("analytics", "analytics", "analytics-clickhouse", "analyticsRestoreCommand", "CLICKHOUSE_PASSWORD"),
}


def with_backups(stack: str) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    for key, *_ in SERVICES.values():
        section = values.get(f"{NS}:{key}", {})
        values[f"{NS}:{key}"] = {**section, "enabled": True, "backup": {"enabled": True, "keep": 3, "intervalHours": 6}}
    return harness.evaluate(stack, values)


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request):
    return request.param, with_backups(request.param)


@pytest.mark.parametrize("service", list(SERVICES))
def test_dump_runs_in_the_servers_image_and_upload_in_pinned_rclone(run, service):
    stack, evaluation = run
    _, name, server, _, _ = SERVICES[service]
    images = {i.name: harness.unwrap(i.inputs)["name"] for i in evaluation.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    assert images[f"{name}-backup-dump-image"] == images[f"{server}-image"]
    assert images[f"{name}-backup-upload-image"] == f"{RCLONE_IMAGE}:{RCLONE_VERSION}"
    for role in ("dump", "upload"):
        inputs = harness.unwrap(evaluation.monitor.one(f"{name}-backup-{role}").inputs)
        assert inputs["restart"] == "unless-stopped" and inputs["securityOpts"] == ["no-new-privileges:true"]
        assert [v["containerPath"] for v in inputs["volumes"]] == ["/backups"]
    dump = harness.unwrap(evaluation.monitor.one(f"{name}-backup-dump").inputs)["command"][0]
    upload = harness.unwrap(evaluation.monitor.one(f"{name}-backup-upload").inputs)["command"][0]
    assert "sleep $((21600 - $(date +%s) % 21600))" in dump, "intervalHours 6 must reach the dump loop"
    assert "keeps the newest 3" in upload and f"/{service}/<stamp>/" in upload
    assert "--delete-empty-src-dirs" in upload


@pytest.mark.parametrize("service", list(SERVICES))
def test_secrets_reach_the_jobs_as_secret_env_only(run, service):
    stack, evaluation = run
    _, name, _, output, variable = SERVICES[service]
    dump = evaluation.monitor.one(f"{name}-backup-dump")
    upload = evaluation.monitor.one(f"{name}-backup-upload")
    assert rpc.is_rpc_secret(dump.inputs["envs"]) and rpc.is_rpc_secret(upload.inputs["envs"])
    [entry] = harness.unwrap(dump.inputs["envs"])
    assert entry.startswith(f"{variable}=") and len(entry) > len(variable) + 1
    env = dict(e.split("=", 1) for e in harness.unwrap(upload.inputs["envs"]))
    endpoint = env["RCLONE_CONFIG_BACKUP_ENDPOINT"]
    if stack == "dev":
        assert endpoint == "http://objectstore:9000"
    else:
        assert "compat.objectstorage.eu-frankfurt-1.oraclecloud.com" in endpoint
    restore = evaluation.outputs[output]
    words = shlex.split(restore)
    assert words[:2] == ["sh", "-c"] and len(words) == 4, "one sh -c script: safe to eval"
    assert f"docker exec {name}-backup-upload" in words[2]
    secret = entry.split("=", 1)[1]
    assert secret not in restore and env["RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY"] not in restore


def test_clickhouse_mounts_the_outbox_and_may_write_file_backups_there_only(run):
    _, evaluation = run
    server = harness.unwrap(evaluation.monitor.one("analytics-clickhouse").inputs)
    job = harness.unwrap(evaluation.monitor.one("analytics-backup-dump").inputs)
    mounts = {v["containerPath"]: v["volumeName"] for v in server["volumes"]}
    assert mounts["/backups"] == job["volumes"][0]["volumeName"], "the server writes where the dump job reads"
    uploads = {u["file"]: u["content"] for u in server["uploads"]}
    assert "<allowed_path>/backups/</allowed_path>" in uploads[BACKUP_CONFIG_D_PATH]


def test_redis_restore_stops_and_starts_its_container_and_runs_the_same_image(run):
    _, evaluation = run
    restore = shlex.split(evaluation.outputs["cacheRestoreCommand"])[2]
    image = harness.unwrap(evaluation.monitor.one("cache-redis").inputs)["image"]
    assert "docker stop cache-redis" in restore and "docker start cache-redis" in restore
    assert "--volumes-from cache-redis" in restore
    images = {i.name: harness.unwrap(i.inputs)["name"] for i in evaluation.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    assert images["cache-redis-image"] in restore, (image, restore[:200])


def test_without_backups_there_are_no_jobs_and_no_outputs():
    evaluation = harness.evaluate("dev", harness.stack_config_as_user_sets_it("dev"))
    names = {r.name for r in evaluation.monitor.registered}
    assert "cache-redis" in names
    assert not {n for n in names if "-backup-" in n and not n.startswith("database")}
    assert not {"cacheRestoreCommand", "timeSeriesRestoreCommand", "analyticsRestoreCommand"} & set(evaluation.outputs)
    assert not {"cacheBackupNowCommand", "timeSeriesBackupNowCommand", "analyticsBackupNowCommand"} & set(
        evaluation.outputs)


@pytest.mark.parametrize("key", ["cache", "timeSeries", "analytics"])
def test_a_backup_bucket_that_is_not_one_of_the_stores_is_refused(key):
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    values[f"{NS}:{key}"] = {**values.get(f"{NS}:{key}", {}), "enabled": True,
                             "backup": {"enabled": True, "bucket": "elsewhere"}}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    assert f"{NS}:{key}.backup.bucket" in [p.key for p in refused.value.problems]


def test_the_capacity_check_counts_each_services_two_backup_containers(run):
    """config/capacity.container_limits is what the memory and CPU checks add up: it must see the jobs."""
    from config.capacity import container_limits
    from config.loader import parse_stack_config

    stack, evaluation = run
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    for key, *_ in SERVICES.values():
        values[f"{NS}:{key}"] = {**values.get(f"{NS}:{key}", {}), "enabled": True, "backup": {"enabled": True}}
    limits = container_limits(parse_stack_config(harness.raw_config(values)))
    for key, name, *_ in SERVICES.values():
        memory = sum(harness.unwrap(evaluation.monitor.one(f"{name}-backup-{role}").inputs)["memory"]
                     for role in ("dump", "upload"))
        assert limits[f"{key}.backup"][0] == memory


NOW_OUTPUTS = {"redis": ("cacheBackupNowCommand", REDIS_JOB), "influxdb": ("timeSeriesBackupNowCommand", INFLUX_JOB),
               "clickhouse": ("analyticsBackupNowCommand", CLICKHOUSE_JOB)}


def _once(script: str) -> str:
    """The once-script a loop or now-script carries in its `once='...'` line."""
    lexer = shlex.shlex(script[script.index("\nonce=") + len("\nonce="):], posix=True)
    lexer.whitespace_split = True
    return lexer.get_token()


@pytest.mark.parametrize("service", list(SERVICES))
def test_backup_now_runs_the_scheduled_jobs_own_script_in_its_container(run, service):
    _, evaluation = run
    _, name, _, _, variable = SERVICES[service]
    output, job = NOW_OUTPUTS[service]
    words = shlex.split(evaluation.outputs[output])
    assert words[:5] == ["docker", "exec", f"{name}-backup-dump", "sh", "-c"] and words[6:] == [f"{job}-now", "/backups"]
    loop = harness.unwrap(evaluation.monitor.one(f"{name}-backup-dump").inputs)["command"][0]
    assert _once(words[5]) == _once(loop), "the same once-script as the scheduled run: same refusals and messages"
    secret = harness.unwrap(evaluation.monitor.one(f"{name}-backup-dump").inputs["envs"])[0].split("=", 1)[1]
    assert secret not in evaluation.outputs[output] and variable in _once(loop)
