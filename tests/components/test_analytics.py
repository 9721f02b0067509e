"""Analytics (ClickHouse) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pulumi
import pytest

from components.analytics import TYPE, Analytics, AnalyticsArgs
from components.networking import BridgeNetwork, HostNetwork
from renderers.clickhouse import CLIENT_CONFIG_PATH, CONFIG_D_PATH, STARTUP_SCRIPTS_PATH, SYSTEM_LOGS_PATH, USERS_D_PATH
from tests import harness
from tests.components.helpers import (
    assert_hardened,
    build,
    changes,
    component_of,
    image_of,
    plaintext_inputs,
    published,
    resolve,
    uploads_of,
)
from tests.harness import RecordingMonitor

GENERATED = harness.mock_password("analytics-password")
DIGEST = "sha256:" + "ef" * 32
IMAGE = "clickhouse/clickhouse-server:26.3.17.110"
CHILDREN = {
    "analytics-password",
    "analytics-data",
    "analytics-logs",
    "analytics-clickhouse-image",
    "analytics-clickhouse",
}


def bridge_analytics(**overrides) -> Analytics:
    return Analytics("analytics", AnalyticsArgs(network=BridgeNetwork("net"), **overrides))


def config_xml(monitor: RecordingMonitor, path: str = CONFIG_D_PATH) -> ET.Element:
    content, _ = uploads_of(monitor.one("analytics-clickhouse"))[path]
    return ET.fromstring(content)


@pulumi.runtime.test
async def test_image_healthcheck_and_hardening():
    monitor, _ = await build(bridge_analytics)
    container = monitor.one("analytics-clickhouse")
    assert_hardened(monitor, container, image=IMAGE, memory_mb=1024)
    assert container.inputs["cpus"] == "1.0"
    assert "platform" not in image_of(monitor, "analytics-clickhouse").inputs
    # The image's own entrypoint and command: it starts the server as uid clickhouse.
    assert "command" not in container.inputs and "entrypoints" not in container.inputs
    assert container.inputs["healthcheck"] == {
        "tests": ["CMD", "wget", "--spider", "-q", "-T", "3", "http://127.0.0.1:8123/ping"],
        "interval": "10s",
        "timeout": "5s",
        "retries": 5,
        "startPeriod": "20s",
    }


@pulumi.runtime.test
async def test_digest_pin_goes_after_the_tag():
    monitor, _ = await build(lambda: bridge_analytics(version=f"26.3.17.110@{DIGEST}"))
    assert image_of(monitor, "analytics-clickhouse").inputs["name"] == f"{IMAGE}@{DIGEST}"


@pulumi.runtime.test
async def test_component_type_and_children_names():
    monitor, _ = await build(bridge_analytics)
    component = component_of(monitor)
    assert (component.type, component.name) == (TYPE, "analytics")
    children = [r for r in monitor.registered if r.custom]
    assert {r.name for r in children} == CHILDREN
    # run_container parents the image and the container to the component, like the volumes and the password.
    assert all(r.parent == component.urn for r in children), [(r.name, r.parent) for r in children]


@pulumi.runtime.test
async def test_env_only_skips_the_entrypoints_user_setup():
    monitor, _ = await build(bridge_analytics)
    envs = monitor.one("analytics-clickhouse").inputs["envs"]
    # Nothing secret in it, so not wrapped: a wrapped env would hide real diffs.
    assert envs == ["CLICKHOUSE_SKIP_USER_SETUP=1"]


@pulumi.runtime.test
async def test_password_and_its_hash_reach_no_input_in_plaintext():
    monitor, _ = await build(bridge_analytics)
    digest = hashlib.sha256(GENERATED.encode()).hexdigest()
    assert plaintext_inputs(monitor, [GENERATED, digest]) == []
    uploads = uploads_of(monitor.one("analytics-clickhouse"))
    assert set(uploads) == {CONFIG_D_PATH, STARTUP_SCRIPTS_PATH, SYSTEM_LOGS_PATH, USERS_D_PATH, CLIENT_CONFIG_PATH}
    users, secret = uploads[USERS_D_PATH]
    assert secret, "users.d carries the password hash and must be secret"
    assert ET.fromstring(users).findtext("users/analytics/password_sha256_hex") == digest
    assert GENERATED not in users, "only the hash may be written"
    for path in (CONFIG_D_PATH, STARTUP_SCRIPTS_PATH, SYSTEM_LOGS_PATH, CLIENT_CONFIG_PATH):
        content, _ = uploads[path]
        assert GENERATED not in content and digest not in content, path


@pulumi.runtime.test
async def test_config_listens_on_the_bind_address_with_memory_below_the_limit():
    monitor, _ = await build(lambda: bridge_analytics(memory_mb=2048))
    assert monitor.one("analytics-clickhouse").inputs["memory"] == 2048
    config = config_xml(monitor)
    assert [e.text for e in config.findall("listen_host")] == ["0.0.0.0"]
    assert (config.findtext("http_port"), config.findtext("tcp_port")) == ("8123", "9004")
    assert int(config.findtext("max_server_memory_usage")) == (2048 << 20) * 3 // 4
    assert config.findtext("logger/log") == "/var/log/clickhouse-server/clickhouse-server.log"


@pulumi.runtime.test
async def test_database_is_created_by_the_server_at_startup():
    monitor, _ = await build(lambda: bridge_analytics(database="triton"))
    startup = config_xml(monitor, STARTUP_SCRIPTS_PATH)
    assert startup.findtext("startup_scripts/throw_on_error") == "true"
    assert [q.text for q in startup.iter("query")] == ["CREATE DATABASE IF NOT EXISTS triton"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"memory_mb": 256}, "memory_limit_mb"),
        ({"tcp_port": 8123}, "both 8123"),
        ({"database": "my-db"}, "database"),
        ({"database": "x; DROP"}, "database"),
    ],
)
def test_bad_settings_fail_before_anything_is_registered(overrides: dict, message: str):
    monitor = harness.install_mocks()
    with pytest.raises(ValueError, match=message):
        bridge_analytics(**overrides)
    assert monitor.registered == []


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_data_and_logs_on_named_volumes_protected_with_protect_data(protect: bool):
    monitor, _ = await build(lambda: bridge_analytics(protect_data=protect))
    for name in ("analytics-data", "analytics-logs"):
        volume = monitor.one(name)
        assert volume.type == "docker:index/volume:Volume"
        assert volume.inputs == {"name": name}
        assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    container = monitor.one("analytics-clickhouse")
    assert container.protect is False
    assert container.inputs["volumes"] == [
        {"containerPath": "/var/lib/clickhouse", "volumeName": "analytics-data"},
        {"containerPath": "/var/log/clickhouse-server", "volumeName": "analytics-logs"},
    ]


@pulumi.runtime.test
async def test_bridge_network_publishes_http_and_native_on_loopback_only():
    monitor, analytics = await build(bridge_analytics)
    container = monitor.one("analytics-clickhouse")
    assert published(container) == {(8123, "tcp", "127.0.0.1"), (9004, "tcp", "127.0.0.1")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["clickhouse"]}]
    assert await resolve(analytics.internal_url) == (f"http://analytics:{GENERATED}@clickhouse:8123/analytics", True)


@pulumi.runtime.test
async def test_host_network_publishes_nothing_listens_on_loopback_and_pulls_the_platform():
    monitor, analytics = await build(
        lambda: Analytics("analytics", AnalyticsArgs(network=HostNetwork(), platform="linux/arm64"))
    )
    container = monitor.one("analytics-clickhouse")
    assert image_of(monitor, "analytics-clickhouse").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert [e.text for e in config_xml(monitor).findall("listen_host")] == ["127.0.0.1"]
    assert container.inputs["healthcheck"]["tests"][-1] == "http://127.0.0.1:8123/ping"
    assert await resolve(analytics.internal_url) == (f"http://analytics:{GENERATED}@127.0.0.1:8123/analytics", True)


@pulumi.runtime.test
async def test_internal_url_waits_for_the_container():
    _, analytics = await build(bridge_analytics)
    assert analytics.container in await analytics.internal_url.resources()


@pulumi.runtime.test
async def test_outputs_and_which_are_secret():
    _, analytics = await build(lambda: bridge_analytics(http_port=18123, tcp_port=19004))
    assert await resolve(analytics.url) == (f"http://analytics:{GENERATED}@127.0.0.1:18123/analytics", True)
    assert await resolve(analytics.password) == (GENERATED, True)
    assert await resolve(analytics.host) == ("127.0.0.1", False)
    assert await resolve(analytics.http_port) == (18123, False)
    assert await resolve(analytics.tcp_port) == (19004, False)
    assert await resolve(analytics.user) == ("analytics", False)
    assert await resolve(analytics.database) == ("analytics", False)


@pulumi.runtime.test
async def test_given_password_is_url_quoted_and_nothing_is_generated():
    given = "Given:pw@/#1"
    monitor, analytics = await build(lambda: bridge_analytics(password=given))
    assert monitor.by_type("random:index/randomPassword:RandomPassword") == []
    assert plaintext_inputs(monitor, [given, hashlib.sha256(given.encode()).hexdigest()]) == []
    assert await resolve(analytics.url) == ("http://analytics:Given%3Apw%40%2F%231@127.0.0.1:8123/analytics", True)
    assert await resolve(analytics.password) == (given, True)


@pulumi.runtime.test
async def test_version_change_touches_only_the_image():
    diff, _, new = await changes(bridge_analytics, lambda: bridge_analytics(version="26.3.18.1"))
    assert diff == {"analytics-clickhouse-image": {"name"}, "analytics-clickhouse": {"image"}}
    assert new["analytics-clickhouse-image"]["name"] == "clickhouse/clickhouse-server:26.3.18.1"


@pulumi.runtime.test
async def test_password_change_touches_only_the_users_file():
    diff, old, new = await changes(
        lambda: bridge_analytics(password="FirstPw1"), lambda: bridge_analytics(password="SecondPw2")
    )
    assert diff == {"analytics-clickhouse": {"uploads"}}
    changed = [
        before["file"]
        for before, after in zip(old["analytics-clickhouse"]["uploads"], new["analytics-clickhouse"]["uploads"])
        if before != after
    ]
    assert changed == [USERS_D_PATH]


@pulumi.runtime.test
async def test_system_log_tables_get_the_configured_ttl():
    monitor, _ = await build(lambda: bridge_analytics(system_log_ttl_days=3))
    logs = config_xml(monitor, SYSTEM_LOGS_PATH)
    for table in ("query_log", "trace_log", "part_log", "text_log", "metric_log", "asynchronous_metric_log",
                  "latency_log", "error_log", "query_metric_log", "crash_log", "processors_profile_log"):
        assert logs.findtext(f"{table}/ttl") == "event_date + INTERVAL 3 DAY DELETE", table
    assert logs.findtext("opentelemetry_span_log/engine").endswith("TTL finish_date + INTERVAL 3 DAY DELETE")
    assert logs.find("asynchronous_insert_log") is None, "upstream keeps it 3 days already"
    assert logs.findtext("text_log/level") == "information"


@pulumi.runtime.test
@pytest.mark.parametrize("network", ["bridge", "host"])
async def test_the_client_in_the_container_and_the_printed_command_reach_this_server(network: str):
    net = BridgeNetwork("net") if network == "bridge" else HostNetwork()
    monitor, analytics = await build(
        lambda: Analytics("analytics", AnalyticsArgs(network=net, tcp_port=19004, user="reporting"))
    )
    client = config_xml(monitor, CLIENT_CONFIG_PATH)
    assert client.tag == "config"
    assert (client.findtext("host"), client.findtext("port"), client.findtext("user")) == ("127.0.0.1", "19004", "reporting")
    command, secret = await resolve(analytics.client_command)
    assert not secret
    assert command == ("docker exec -it analytics-clickhouse clickhouse-client --host 127.0.0.1 --port 19004 "
                       "--user reporting --ask-password")
