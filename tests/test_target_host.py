"""The existing-host target: Docker over SSH to a machine the team already has, no cloud resources."""
from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.loader import parse_stack_config
from tests import harness

NS = harness.PROJECT


def host_values(**host) -> dict:
    values = {
        f"{NS}:target": "host",
        f"{NS}:domain": "mirror.example.com",
        f"{NS}:gateway": {"acmeEmail": "ops@example.com"},
        f"{NS}:mediaServer": {"enabled": False},
        f"{NS}:host": {"address": "pi.local", "sshUser": "pi", "sshPrivateKeyFile": harness.mock_ssh_key_file(), **host},
    }
    return values


@pytest.fixture(scope="module")
def run() -> harness.Evaluation:
    return harness.evaluate("dev", host_values())


def test_no_cloud_resources_and_one_docker_engine_over_ssh(run):
    types = {r.type for r in run.monitor.registered}
    assert not [t for t in types if t.startswith("oci:") or t == "pulumi:providers:oci"], types
    (provider,) = run.monitor.by_type("pulumi:providers:docker")
    assert harness.unwrap(provider.inputs)["host"] == "ssh://pi@pi.local"
    ssh_opts = harness.unwrap(provider.inputs)["sshOpts"]
    assert "StrictHostKeyChecking=accept-new" in ssh_opts


def test_containers_use_host_networking_and_the_configured_platform(run):
    containers = run.monitor.by_type("docker:index/container:Container")
    assert {c.name for c in containers} >= {"database-postgres", "cache-redis", "object-store-s3", "gateway-caddy"}
    for c in containers:
        assert harness.unwrap(c.inputs).get("networkMode") == "host", c.name
        assert not harness.unwrap(c.inputs).get("ports"), f"{c.name}: host networking publishes nothing"
    for image in run.monitor.by_type("docker:index/remoteImage:RemoteImage"):
        assert harness.unwrap(image.inputs)["platform"] == "linux/arm64", image.name


def test_day_2_commands_run_over_ssh_after_the_readiness_check(run):
    ready = run.monitor.one("host-ready")
    assert "docker info" in harness.unwrap(ready.inputs)["create"]
    assert harness.unwrap(ready.inputs)["connection"]["host"] == "pi.local"
    rotation = run.monitor.one("database-password-rotation")
    assert rotation.type == "command:remote:Command"


def test_another_port_and_an_amd64_vps():
    run = harness.evaluate("dev", host_values(address="203.0.113.10", sshPort=2222, platform="linux/amd64"))
    (provider,) = run.monitor.by_type("pulumi:providers:docker")
    assert harness.unwrap(provider.inputs)["host"] == "ssh://pi@203.0.113.10:2222"
    assert {harness.unwrap(i.inputs)["platform"] for i in run.monitor.by_type("docker:index/remoteImage:RemoteImage")} == {"linux/amd64"}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda v: v.pop(f"{NS}:host"), f"{NS}:host"),
        (lambda v: v[f"{NS}:host"].update(address="bad..name"), f"{NS}:host.address"),
        (lambda v: v[f"{NS}:host"].update(memoryMb=1024), f"{NS}:host.memoryMb"),
        (lambda v: v.update({f"{NS}:target": "docker"}), f"{NS}:host"),
    ],
    ids=["missing", "bad-address", "too-small", "wrong-target"],
)
def test_bad_host_config_is_refused_naming_the_key(change, key):
    values = host_values()
    change(values)
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    assert key in [p.key for p in refused.value.problems], refused.value


@pytest.mark.parametrize("board", ["raspberry-pi-4", "raspberry-pi-3"])
def test_clickhouse_is_refused_on_an_armv8_0_board_naming_analytics_enabled(board: str):
    values = host_values(board=board) | {f"{NS}:analytics": {"enabled": True}}
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    (problem,) = [p for p in refused.value.problems if p.key == f"{NS}:analytics.enabled"]
    assert "ARMv8.2" in problem.allowed and "analytics.enabled: false" in problem.allowed


@pytest.mark.parametrize("board", ["raspberry-pi-5", "other"])
def test_clickhouse_on_another_board_gets_the_cpu_check_before_any_container(board: str):
    run = harness.evaluate("dev", host_values(board=board) | {f"{NS}:analytics": {"enabled": True}})
    create = harness.unwrap(run.monitor.one("host-ready").inputs)["create"]
    assert create.startswith("command -v docker") and "/proc/cpuinfo" in create and "atomics" in create
    (provider,) = run.monitor.by_type("pulumi:providers:docker")
    assert run.monitor.one("host-ready").urn in provider.dependencies, "containers deploy only after the check"


def test_a_pi_4_without_clickhouse_is_accepted_and_not_checked():
    run = harness.evaluate("dev", host_values(board="raspberry-pi-4"))
    assert "/proc/cpuinfo" not in harness.unwrap(run.monitor.one("host-ready").inputs)["create"]


def livekit_rtc(values: dict) -> dict:
    import yaml

    run = harness.evaluate("dev", values)
    env = dict(e.split("=", 1) for e in harness.unwrap(run.monitor.one("media-livekit").inputs)["envs"])
    return yaml.safe_load(env["LIVEKIT_CONFIG"])["rtc"]


def test_livekit_asks_stun_for_its_address_unless_one_is_given():
    values = host_values() | {f"{NS}:mediaServer": {"egress": {"enabled": False}}}
    rtc = livekit_rtc(values)
    assert rtc["use_external_ip"] is True and "node_ip" not in rtc
    values[f"{NS}:mediaServer"]["nodeIp"] = "192.168.1.20"  # a LAN-only Pi: no STUN server within reach
    rtc = livekit_rtc(values)
    assert rtc["use_external_ip"] is False and rtc["node_ip"] == "192.168.1.20"


def test_node_ip_is_refused_on_the_docker_target():
    raw = harness.raw_config(harness.stack_config_as_user_sets_it("dev") | {f"{NS}:mediaServer": {"udpMuxPort": 7882, "turnUdpPort": None, "nodeIp": "10.0.0.5"}})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    assert any(str(p).startswith(f"{NS}:mediaServer.nodeIp: got '10.0.0.5'") for p in caught.value.problems)
