"""TimeSeries (InfluxDB) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import pulumi
import pytest

from components.networking import BridgeNetwork, HostNetwork
from components.time_series import FIRST_BOOT_ONLY, TOKEN_LENGTH, TYPE, TimeSeries, TimeSeriesArgs
from renderers.influxdb import InfluxSettings, render_app_token_script, render_extra_buckets_script
from tests import harness
from tests.components.helpers import (
    assert_hardened,
    build,
    changes,
    component_of,
    env_of,
    image_of,
    plaintext_inputs,
    published,
    resolve,
)

PASSWORD = harness.mock_password("timeseries-password")
TOKEN = harness.mock_password("timeseries-token")
DIGEST = "sha256:" + "0f" * 32
IMAGE = "influxdb:2.7.12-alpine"
COMMAND = "command:local:Command"
CHILDREN = {
    "timeseries-password",
    "timeseries-token",
    "timeseries-data",
    "timeseries-config",
    "timeseries-influxdb-image",
    "timeseries-influxdb",
    "timeseries-app-token",
}
EXTRA = (("raw", "30d"), ("rollup", "0"))


def bridge_ts(**overrides) -> TimeSeries:
    return TimeSeries("timeseries", TimeSeriesArgs(network=BridgeNetwork("net"), **overrides))


@pulumi.runtime.test
async def test_image_healthcheck_and_hardening():
    monitor, _ = await build(bridge_ts)
    container = monitor.one("timeseries-influxdb")
    assert_hardened(monitor, container, image=IMAGE, memory_mb=512)
    assert container.inputs["cpus"] == "0.5"
    assert "platform" not in image_of(monitor, "timeseries-influxdb").inputs
    # The image's entrypoint runs the first-boot setup, then influxd as user influxdb.
    assert "command" not in container.inputs and "entrypoints" not in container.inputs
    assert container.inputs["healthcheck"] == {
        "tests": ["CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", "http://127.0.0.1:8086/health"],
        "interval": "10s",
        "timeout": "5s",
        "retries": 5,
        "startPeriod": "30s",
    }


@pulumi.runtime.test
async def test_digest_pin_keeps_the_alpine_tag_before_the_digest():
    monitor, _ = await build(lambda: bridge_ts(version=f"2.7.12@{DIGEST}"))
    assert image_of(monitor, "timeseries-influxdb").inputs["name"] == f"{IMAGE}@{DIGEST}"


@pulumi.runtime.test
async def test_component_type_and_children_names():
    monitor, _ = await build(lambda: bridge_ts(extra_buckets=EXTRA))
    component = component_of(monitor)
    assert (component.type, component.name) == (TYPE, "timeseries")
    children = [r for r in monitor.registered if r.custom]
    assert {r.name for r in children} == CHILDREN | {"timeseries-buckets"}
    assert all(r.parent == component.urn for r in children), [(r.name, r.parent) for r in children]


@pulumi.runtime.test
async def test_setup_env_is_secret_and_sized_to_the_memory_limit():
    monitor, _ = await build(bridge_ts)
    env = env_of(monitor.one("timeseries-influxdb"))  # fails unless the whole env is secret
    assert {k: v for k, v in env.items() if k.startswith("DOCKER_INFLUXDB_INIT_")} == {
        "DOCKER_INFLUXDB_INIT_MODE": "setup",
        "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
        "DOCKER_INFLUXDB_INIT_PASSWORD": PASSWORD,
        "DOCKER_INFLUXDB_INIT_ORG": "main",
        "DOCKER_INFLUXDB_INIT_BUCKET": "default",
        "DOCKER_INFLUXDB_INIT_RETENTION": "0",
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN": TOKEN,
    }
    assert env["INFLUXD_HTTP_BIND_ADDRESS"] == "0.0.0.0:8086"
    assert env["GOMEMLIMIT"] == "384MiB"  # 3/4 of the 512 MB container limit
    assert env["INFLUXD_REPORTING_DISABLED"] == "true"


@pulumi.runtime.test
async def test_password_and_token_reach_no_input_in_plaintext():
    monitor, _ = await build(lambda: bridge_ts(extra_buckets=EXTRA))
    assert plaintext_inputs(monitor, [PASSWORD, TOKEN]) == []
    # No uploads: the setup secrets go through the (secret) env, the bucket script through docker exec.
    assert not monitor.one("timeseries-influxdb").inputs.get("uploads")


@pulumi.runtime.test
async def test_token_is_generated_at_influxdbs_own_length():
    monitor, _ = await build(bridge_ts)
    token = monitor.one("timeseries-token")
    assert token.type == "random:index/randomPassword:RandomPassword"
    assert token.inputs["length"] == TOKEN_LENGTH == 88
    assert token.inputs["special"] is False
    assert monitor.one("timeseries-password").inputs["length"] == 32


@pulumi.runtime.test
async def test_given_password_and_token_are_used_and_nothing_is_generated():
    monitor, ts = await build(lambda: bridge_ts(password="GivenInfluxPw1", token="given-token=="))
    assert monitor.by_type("random:index/randomPassword:RandomPassword") == []
    env = env_of(monitor.one("timeseries-influxdb"))
    assert env["DOCKER_INFLUXDB_INIT_PASSWORD"] == "GivenInfluxPw1"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == "given-token=="
    assert plaintext_inputs(monitor, ["GivenInfluxPw1", "given-token=="]) == []
    assert await resolve(ts.password) == ("GivenInfluxPw1", True)
    assert await resolve(ts.token) == ("given-token==", True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bucket": "_system"}, "bucket"),
        ({"retention": "30m"}, "retention"),
        ({"extra_buckets": (("default", "0"),)}, "repeat"),
        ({"memory_mb": 64}, "memory_limit_mb"),
    ],
)
def test_bad_settings_fail_before_anything_is_registered(overrides: dict, message: str):
    monitor = harness.install_mocks()
    with pytest.raises(ValueError, match=message):
        bridge_ts(**overrides)
    assert monitor.registered == []


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_data_and_config_on_named_volumes_protected_with_protect_data(protect: bool):
    monitor, _ = await build(lambda: bridge_ts(protect_data=protect))
    for name in ("timeseries-data", "timeseries-config"):
        volume = monitor.one(name)
        assert volume.type == "docker:index/volume:Volume"
        assert volume.inputs == {"name": name}
        assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    container = monitor.one("timeseries-influxdb")
    assert container.protect is False
    assert container.inputs["volumes"] == [
        {"containerPath": "/var/lib/influxdb2", "volumeName": "timeseries-data"},
        {"containerPath": "/etc/influxdb2", "volumeName": "timeseries-config"},
    ]


@pulumi.runtime.test
async def test_bridge_network_publishes_only_on_loopback():
    monitor, ts = await build(bridge_ts)
    container = monitor.one("timeseries-influxdb")
    assert published(container) == {(8086, "tcp", "127.0.0.1")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["influxdb"]}]
    assert await resolve(ts.internal_url) == ("http://influxdb:8086", False)


@pulumi.runtime.test
async def test_host_network_publishes_nothing_binds_loopback_and_pulls_the_platform():
    monitor, ts = await build(
        lambda: TimeSeries("timeseries", TimeSeriesArgs(network=HostNetwork(), platform="linux/arm64"))
    )
    container = monitor.one("timeseries-influxdb")
    assert image_of(monitor, "timeseries-influxdb").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert env_of(container)["INFLUXD_HTTP_BIND_ADDRESS"] == "127.0.0.1:8086"
    assert await resolve(ts.internal_url) == ("http://127.0.0.1:8086", False)


@pulumi.runtime.test
async def test_outputs_and_which_are_secret():
    _, ts = await build(lambda: bridge_ts(port=18086, org="homeiq", bucket="events"))
    assert await resolve(ts.url) == ("http://127.0.0.1:18086", False)
    assert await resolve(ts.host) == ("127.0.0.1", False)
    assert await resolve(ts.port) == (18086, False)
    assert await resolve(ts.org) == ("homeiq", False)
    assert await resolve(ts.bucket) == ("events", False)
    assert await resolve(ts.username) == ("admin", False)
    assert await resolve(ts.token) == (TOKEN, True)
    assert await resolve(ts.password) == (PASSWORD, True)


@pulumi.runtime.test
async def test_no_extra_buckets_no_bucket_command():
    monitor, ts = await build(bridge_ts)
    assert [c.name for c in monitor.by_type(COMMAND)] == ["timeseries-app-token"]
    assert await ts.internal_url.resources() == {ts.container}


@pulumi.runtime.test
@pytest.mark.parametrize("extra", [(), EXTRA])
async def test_apps_get_a_token_scoped_to_the_buckets_never_the_operator_token(extra):
    monitor, ts = await build(lambda: bridge_ts(extra_buckets=extra))
    step = monitor.one("timeseries-app-token")
    script = render_app_token_script(
        InfluxSettings(org="main", bucket="default", username="admin", extra_buckets=extra)
    )
    assert step.inputs["create"] == step.inputs["update"] == "exec docker exec -i timeseries-influxdb sh -s\n"
    assert step.inputs["stdin"] == script
    assert step.inputs["triggers"] == [script, "timeseries-influxdb-id"]
    assert monitor.one("timeseries-influxdb").urn in step.dependencies
    if extra:
        assert monitor.one("timeseries-buckets").urn in step.dependencies, "the extra buckets must exist first"
    assert await resolve(ts.app_token) == (harness.MOCK_INFLUX_APP_TOKEN, True)
    assert await resolve(ts.token) == (TOKEN, True) and TOKEN != harness.MOCK_INFLUX_APP_TOKEN
    assert TOKEN not in script, "the script runs with the CLI's own admin config; no token in its text"


@pulumi.runtime.test
async def test_extra_buckets_are_created_in_the_running_container_and_users_wait_for_them():
    monitor, ts = await build(lambda: bridge_ts(extra_buckets=EXTRA))
    command = monitor.one("timeseries-buckets")
    script = render_extra_buckets_script(
        InfluxSettings(org="main", bucket="default", username="admin", extra_buckets=EXTRA)
    )
    assert command.inputs["create"] == command.inputs["update"] == "exec docker exec -i timeseries-influxdb sh -s\n"
    assert command.inputs["stdin"] == script
    assert "influx bucket create" in script and "ensure raw 30d" in script and "ensure rollup 0" in script
    assert command.inputs["triggers"] == [script, "timeseries-influxdb-id"]
    container = monitor.one("timeseries-influxdb")
    assert container.urn in command.dependencies, "the script needs the set-up, healthy server"
    assert await ts.internal_url.resources() >= {ts.container}
    assert len(await ts.internal_url.resources()) == 2, "sibling containers also wait for the extra buckets"


@pulumi.runtime.test
async def test_adding_a_bucket_later_runs_the_script_again_and_keeps_the_container():
    diff, _, _ = await changes(
        lambda: bridge_ts(extra_buckets=EXTRA[:1]), lambda: bridge_ts(extra_buckets=EXTRA)
    )
    # A new bucket set is a new app token too (the old one is deleted by the script).
    assert diff == {"timeseries-buckets": {"stdin", "triggers"}, "timeseries-app-token": {"stdin", "triggers"}}


@pulumi.runtime.test
@pytest.mark.parametrize("setting", ["org", "bucket", "username"])
async def test_first_boot_settings_change_only_the_setup_env(setting: str):
    # The container is replaced (its env changed) but the entrypoint skips setup on the existing volume: the
    # server keeps what it was set up with. TimeSeriesArgs says so; this pins that nothing else moves.
    assert setting in FIRST_BOOT_ONLY
    diff, _, _ = await changes(bridge_ts, lambda: bridge_ts(**{setting: "changed"}))
    expected = {"timeseries-influxdb": {"envs"}}
    if setting in ("org", "bucket"):
        # The app token is looked up in that org and bucket: on a server set up with the old ones the step fails,
        # naming the missing bucket, instead of `up` reporting success with apps pointed at nothing.
        expected["timeseries-app-token"] = {"stdin", "triggers"}
    assert diff == expected


@pulumi.runtime.test
async def test_version_change_touches_only_the_image():
    diff, _, new = await changes(bridge_ts, lambda: bridge_ts(version="2.7.13"))
    assert diff == {"timeseries-influxdb-image": {"name"}, "timeseries-influxdb": {"image"}}
    assert new["timeseries-influxdb-image"]["name"] == "influxdb:2.7.13-alpine"
