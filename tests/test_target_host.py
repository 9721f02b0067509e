"""The existing-host target: Docker over SSH to a machine the team already has, no cloud resources."""
from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.loader import parse_stack_config
from tests.provider_ssh_opts import opt, ssh_opts
from tests import harness

NS = harness.PROJECT


def host_values(**host) -> dict:
    values = {
        f"{NS}:target": "host",
        f"{NS}:domain": "mirror.example.com",
        f"{NS}:gateway": {"acmeEmail": "ops@example.com"},
        f"{NS}:mediaServer": {"enabled": False},
        f"{NS}:host": {
            "address": "pi.home.arpa", "sshUser": "pi", "sshPrivateKeyFile": harness.mock_ssh_key_file(),
            "hostKey": harness.MOCK_HOST_KEY + " root@pi", **host,
        },
    }
    return values


@pytest.fixture(scope="module")
def run() -> harness.Evaluation:
    return harness.evaluate("dev", host_values())


def test_no_cloud_resources_and_one_docker_engine_over_ssh(run):
    types = {r.type for r in run.monitor.registered}
    assert not [t for t in types if t.startswith("oci:") or t == "pulumi:providers:oci"], types
    (provider,) = run.monitor.by_type("pulumi:providers:docker")
    assert harness.unwrap(provider.inputs)["host"] == "ssh://pi@pi.home.arpa"


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
    assert harness.unwrap(ready.inputs)["connection"]["host"] == "pi.home.arpa"
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
        (lambda v: v[f"{NS}:host"].update(address="pi.local"), f"{NS}:host.address"),
        (lambda v: v[f"{NS}:host"].pop("hostKey"), f"{NS}:host.hostKey"),
        (lambda v: v[f"{NS}:host"].update(hostKey="ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"), f"{NS}:host.hostKey"),
        # An ed25519 name in front of an ecdsa key's data (a mangled paste): ssh.ParseAuthorizedKey would fail at `up`.
        (
            lambda v: v[f"{NS}:host"].update(hostKey="ssh-ed25519 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY="),
            f"{NS}:host.hostKey",
        ),
        (lambda v: v[f"{NS}:host"].update(sshAgent="sometimes"), f"{NS}:host.sshAgent"),
    ],
    ids=["missing", "bad-address", "too-small", "wrong-target", "mdns-name", "no-host-key", "rsa-host-key",
         "host-key-data-of-another-type", "agent-not-a-bool"],
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


def _connection(run: harness.Evaluation) -> dict:
    return harness.unwrap(run.monitor.one("host-ready").inputs)["connection"]


def test_missing_host_key_says_how_to_get_it():
    values = host_values(sshPort=2222)
    values[f"{NS}:host"].pop("hostKey")
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    (problem,) = [p for p in refused.value.problems if p.key == f"{NS}:host.hostKey"]
    assert "ssh-keyscan -t ed25519 -p 2222 pi.home.arpa" in problem.allowed, problem.allowed
    assert "/etc/ssh/ssh_host_ed25519_key.pub" in problem.allowed


def test_pulumi_command_checks_the_pinned_host_key_and_gets_the_key_file(run):
    connection = _connection(run)
    # The comment is dropped: ssh.ParseAuthorizedKey would take it, but OpenSSH's line needs none either.
    assert connection["hostKey"] == harness.MOCK_HOST_KEY
    assert connection["privateKey"] == harness.MOCK_SSH_PRIVATE_KEY
    # Never a per-session socket path in the inputs (pulumi-command reads SSH_AUTH_SOCK itself).
    assert "agentSocketPath" not in connection and "privateKeyPassword" not in connection
    # Every day-2 command connects the same way as the readiness check.
    assert harness.unwrap(run.monitor.one("database-password-rotation").inputs)["connection"] == connection


def test_the_docker_provider_pins_the_same_key_and_shares_one_connection(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    run = harness.evaluate("dev", host_values())
    opts = ssh_opts(run)
    assert opt(opts, "StrictHostKeyChecking") == "yes"
    assert opt(opts, "UserKnownHostsFile") == "/dev/null" and opt(opts, "GlobalKnownHostsFile") == "/dev/null"
    assert opt(opts, "KnownHostsCommand") == f"/bin/echo %H {harness.MOCK_HOST_KEY}"
    assert opt(opts, "HostKeyAlgorithms") == "ssh-ed25519" == _connection(run)["hostKey"].split()[0]
    assert opt(opts, "BatchMode") == "yes"
    assert opt(opts, "ControlMaster") == "auto"
    assert opt(opts, "ControlPath") == "/run/user/1000/bs-%C"
    assert opt(opts, "ControlPersist") == "60"
    assert opts[-2:] == ["-i", harness.mock_ssh_key_file()] and opt(opts, "IdentitiesOnly") == "yes"


def test_without_a_runtime_dir_the_control_socket_is_under_dot_ssh(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    run = harness.evaluate("dev", host_values())
    assert opt(ssh_opts(run), "ControlPath") == "~/.ssh/bs-%C"


def test_a_runtime_dir_too_long_for_a_socket_path_is_passed_over(monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/" + "x" * 60)
    monkeypatch.setenv("HOME", "/home/pi")
    assert opt(ssh_opts(harness.evaluate("dev", host_values())), "ControlPath") == "~/.ssh/bs-%C"
    monkeypatch.setenv("HOME", "/home/" + "y" * 60)
    assert not [o for o in ssh_opts(harness.evaluate("dev", host_values())) if o.startswith("Control")]


def test_with_the_agent_no_key_file_is_read_or_sent(monkeypatch, tmp_path):
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    run = harness.evaluate("dev", host_values(sshAgent=True, sshPrivateKeyFile=str(tmp_path / "absent")))
    connection = _connection(run)
    assert "privateKey" not in connection and "agentSocketPath" not in connection
    assert connection["hostKey"] == harness.MOCK_HOST_KEY
    opts = ssh_opts(run)
    assert "-i" not in opts and not [o for o in opts if o.startswith("IdentitiesOnly")]


def _refusal(values: dict) -> ConfigError:
    with pytest.raises(Exception) as caught:
        harness.evaluate("dev", values)
    err = caught.value  # the mocks' runner may wrap what the program raised
    while err is not None and not isinstance(err, ConfigError):
        err = err.__cause__ or err.__context__
    assert isinstance(err, ConfigError), repr(caught.value)
    return err


def test_up_with_the_agent_but_no_agent_is_refused(monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    err = _refusal(host_values(sshAgent=True))
    assert [p.key for p in err.problems] == [f"{NS}:host.sshAgent"]
    assert "SSH_AUTH_SOCK is not set" in err.problems[0].allowed


def _encrypted_openssh_key(cipher: bytes) -> str:
    import base64
    import struct

    blob = b"openssh-key-v1\x00" + struct.pack(">I", len(cipher)) + cipher + b"\x00" * 16
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{base64.b64encode(blob).decode()}\n-----END OPENSSH PRIVATE KEY-----\n"


def test_a_key_file_with_a_passphrase_is_refused_naming_the_agent(tmp_path, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = tmp_path / "id_ed25519"
    key.write_text(_encrypted_openssh_key(b"aes256-ctr"))
    err = _refusal(host_values(sshPrivateKeyFile=str(key)))
    assert [p.key for p in err.problems] == [f"{NS}:host.sshPrivateKeyFile"]
    assert f"ssh-add {key}" in err.problems[0].allowed and "host.sshAgent" in err.problems[0].allowed
    key.write_text(_encrypted_openssh_key(b"none"))  # the same file without a passphrase is sent as it is
    assert _connection(harness.evaluate("dev", host_values(sshPrivateKeyFile=str(key))))["privateKey"] == key.read_text()


@pytest.mark.parametrize(("platform", "arch"), [("linux/arm64", "aarch64|arm64"), ("linux/amd64", "x86_64|amd64")])
def test_the_readiness_check_asks_for_the_limits_and_the_platforms_architecture(platform, arch):
    """tests/real/test_ready_check_real.py runs it; here: it is the command the target runs, per platform."""
    run = harness.evaluate("dev", host_values(platform=platform))
    create = harness.unwrap(run.monitor.one("host-ready").inputs)["create"]
    assert "docker info --format '{{json .}}'" in create
    for needle in ('"MemoryLimit":true', '"SwapLimit":true', '"CpuCfsQuota":true', f"case $arch in {arch})"):
        assert needle in create, needle


def _firewall_script(firewall: dict) -> str:
    import base64
    import re

    encoded = re.search(r"<<'SCRIPT-BASE64-END'\n(.*?)SCRIPT-BASE64-END", firewall["create"], re.S)[1]
    return base64.b64decode("".join(encoded.split())).decode()


def _opened(script: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r"-p (tcp|udp) -m state --state NEW -m \w+ --dport (\S+)", script)


def test_the_firewall_is_opt_in_and_opens_ssh_the_gateway_and_media():
    assert not [r for r in harness.evaluate("dev", host_values()).monitor.registered if r.name == "host-firewall"]
    values = host_values(sshPort=2222, firewall={"enabled": True}) | {f"{NS}:mediaServer": {"egress": {"enabled": False}}}
    no_mdns = harness.unwrap(harness.evaluate("dev", values).monitor.one("host-firewall").inputs)
    assert ("udp", "5353") not in _opened(_firewall_script(no_mdns)), "mirror.example.com is found by DNS: no mDNS port"
    values[f"{NS}:domain"] = "mirror.local"
    firewall = harness.unwrap(harness.evaluate("dev", values).monitor.one("host-firewall").inputs)
    from renderers.host_firewall import host_firewall_remove_command
    from renderers.ports import existing_host_ingress, MediaPorts

    # mirror.local: mDNS stays open, or no kiosk could resolve the gateway's name.
    expected = existing_host_ingress(MediaPorts(), ssh_port=2222, mdns=True)
    assert firewall["create"] == firewall["update"]
    assert "triggers" not in firewall, "a trigger replaces create-first: the old delete would open the host"
    assert firewall["delete"] == host_firewall_remove_command()
    script = _firewall_script(firewall)
    ports = _opened(script)
    assert ports == [(r.protocol, str(r.start) if r.start == r.end else f"{r.start}:{r.end}") for r in expected]
    assert ports[:2] == [("tcp", "2222"), ("udp", "5353")] and ("tcp", "443") in ports and ("udp", "50000:60000") in ports
    assert script.rstrip().endswith("done") and "-j REJECT --reject-with tcp-reset" in script
