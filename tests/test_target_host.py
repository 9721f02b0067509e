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


@pytest.mark.parametrize(("platform", "arch"), [("linux/arm64", "aarch64|arm64"), ("linux/amd64", "x86_64|amd64")])
def test_the_readiness_check_asks_for_the_limits_and_the_platforms_architecture(platform, arch):
    """tests/real/test_ready_check_real.py runs it; here: it is the command the target runs, per platform."""
    run = harness.evaluate("dev", host_values(platform=platform))
    create = harness.unwrap(run.monitor.one("host-ready").inputs)["create"]
    assert "docker info --format '{{json .}}'" in create
    for needle in ('"MemoryLimit":true', '"SwapLimit":true', '"CpuCfsQuota":true', f"case $arch in {arch})"):
        assert needle in create, needle


def test_the_firewall_is_opt_in_and_opens_ssh_the_gateway_and_media():
    assert not [r for r in harness.evaluate("dev", host_values()).monitor.registered if r.name == "host-firewall"]
    values = host_values(sshPort=2222, firewall={"enabled": True}) | {f"{NS}:mediaServer": {"egress": {"enabled": False}}}
    firewall = harness.unwrap(harness.evaluate("dev", values).monitor.one("host-firewall").inputs)
    from renderers.host_firewall import host_firewall_remove_command
    from renderers.ports import existing_host_ingress, MediaPorts

    # pi.local: mDNS stays open, or nobody could resolve the name the config reaches it by.
    expected = existing_host_ingress(MediaPorts(), ssh_port=2222, mdns=True)
    assert firewall["create"] == firewall["update"]
    assert "triggers" not in firewall, "a trigger replaces create-first: the old delete would open the host"
    assert firewall["delete"] == host_firewall_remove_command()
    import base64, re

    script = base64.b64decode("".join(re.search(r"<<'SCRIPT-BASE64-END'\n(.*?)SCRIPT-BASE64-END", firewall["create"], re.S)[1].split())).decode()
    ports = re.findall(r"-p (tcp|udp) -m state --state NEW -m \w+ --dport (\S+)", script)
    assert ports == [(r.protocol, str(r.start) if r.start == r.end else f"{r.start}:{r.end}") for r in expected]
    assert ports[:2] == [("tcp", "2222"), ("udp", "5353")] and ("tcp", "443") in ports and ("udp", "50000:60000") in ports
    assert script.rstrip().endswith("done") and "-j REJECT --reject-with tcp-reset" in script
