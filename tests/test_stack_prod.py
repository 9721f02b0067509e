"""The whole prod stack, evaluated from Pulumi.prod.yaml (plus a user's own settings) under mocks."""
from __future__ import annotations

import base64
import json

import pytest
import yaml

from config.capacity import ALWAYS_FREE
from renderers.oci_rules import WORLD
from tests import harness
from renderers.cloud_init import DOCKER_DAEMON_JSON_PATH, DOCKER_MOUNT_DROPIN_PATH, DOCKER_SERVICE_STOP_TIMEOUT_SECONDS
from renderers.host_firewall import HOST_FIREWALL_SCRIPT_PATH
from renderers.host_os import AUTO_UPGRADES_PATH, SSHD_DROPIN_PATH, SYSCTL_PATH, UNATTENDED_UPGRADES_DROPIN_PATH
from tests.renderers.test_host_os import apt_values, install_payloads as host_os_payloads, sysctl_values
from tests.renderers.test_ports import install_payloads, parse_firewall_command, script_rule_lines
from tests.oci_view import port_rules, sources_reaching

# TURN's relay range too: LiveKit allocates relays there at the public IP (renderers/ports.MediaPorts).
PUBLIC_PORTS = [
    ("tcp", 80, 80),
    ("tcp", 443, 443),
    ("tcp", 7881, 7881),
    ("udp", 3478, 3478),
    ("udp", 30000, 40000),
    ("udp", 50000, 60000),
]


@pytest.fixture(scope="module")
def prod() -> harness.Evaluation:
    return harness.evaluate("prod")


def only(run: harness.Evaluation, typ: str) -> harness.Registered:
    found = run.monitor.by_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def world_and_admin_ingress(run):
    ingress = []
    for typ in ("oci:Core/securityList:SecurityList", "oci:Core/defaultSecurityList:DefaultSecurityList"):
        for r in run.monitor.by_type(typ):
            ingress += harness.unwrap(r.inputs).get("ingressSecurityRules", [])
    return ingress


def test_a1_flex_inside_always_free(prod):
    instance = harness.unwrap(only(prod, "oci:Core/instance:Instance").inputs)
    assert instance["shape"] == "VM.Standard.A1.Flex"
    assert instance["shapeConfig"]["ocpus"] <= ALWAYS_FREE.ocpus
    assert instance["shapeConfig"]["memoryInGbs"] <= ALWAYS_FREE.memory_gb
    volume = harness.unwrap(only(prod, "oci:Core/volume:Volume").inputs)
    boot = instance["sourceDetails"]["bootVolumeSizeInGbs"]
    assert float(boot) + float(volume["sizeInGbs"]) <= ALWAYS_FREE.storage_gb


def test_public_ingress_is_exactly_the_web_and_media_ports(prod):
    ingress = world_and_admin_ingress(prod)
    assert sorted(port_rules(ingress, source=WORLD)) == sorted(PUBLIC_PORTS)


def test_ssh_only_from_admin_cidrs(prod):
    ingress = world_and_admin_ingress(prod)
    assert sources_reaching(ingress, 22) == set(harness.PROD_PERSONAL_CONFIG["adminCidrs"])
    assert WORLD not in sources_reaching(ingress, 3389)


@pytest.mark.parametrize("port,protocol", [(5432, "tcp"), (6379, "tcp"), (7880, "tcp"), (9090, "tcp"), (9180, "tcp"), (2019, "tcp"), (7882, "udp")])
def test_no_internal_port_reachable_from_outside(prod, port, protocol):
    assert WORLD not in sources_reaching(world_and_admin_ingress(prod), port, protocol)


def test_containers_use_host_networking_and_internal_services_bind_loopback(prod):
    containers = {c.name: harness.unwrap(c.inputs) for c in prod.monitor.by_type("docker:index/container:Container")}
    for name, inputs in containers.items():
        assert inputs["networkMode"] == "host", name
        assert not inputs.get("ports"), name
    assert "listen_addresses=127.0.0.1" in containers["database-postgres"]["command"]
    redis_conf = containers["cache-redis"]["uploads"][0]["content"]
    assert "bind 127.0.0.1\n" in redis_conf
    livekit = yaml.safe_load(containers["media-livekit"]["envs"][0].split("=", 1)[1])
    assert livekit["bind_addresses"] == ["127.0.0.1"]
    assert livekit["rtc"]["use_external_ip"] is True
    assert (livekit["rtc"]["port_range_start"], livekit["rtc"]["port_range_end"]) == (50000, 60000)


def test_every_image_is_arm64(prod):
    images = prod.monitor.by_type("docker:index/remoteImage:RemoteImage")
    assert len(images) == 5
    for image in images:
        assert harness.unwrap(image.inputs)["platform"] == "linux/arm64", image.name


def test_bucket_is_private_and_versioned(prod):
    bucket = only(prod, "oci:ObjectStorage/bucket:Bucket")
    inputs = harness.unwrap(bucket.inputs)
    assert inputs["accessType"] == "NoPublicAccess"
    assert inputs["versioning"] == "Enabled"


def test_s3_secret_key_is_kept_secret(prod):
    key = only(prod, "oci:Identity/customerSecretKey:CustomerSecretKey")
    assert "key" in key.additional_secret_outputs
    assert "s3SecretAccessKey" in prod.secret_outputs and "env" in prod.secret_outputs


def test_data_is_protected(prod):
    stateful = [
        *prod.monitor.by_type("oci:Core/volume:Volume"),
        *prod.monitor.by_type("oci:ObjectStorage/bucket:Bucket"),
        *prod.monitor.by_type("docker:index/volume:Volume"),
    ]
    assert len(stateful) == 5
    for r in stateful:
        assert r.protect and r.retain_on_delete, r.name


def test_no_secret_appears_in_plaintext(prod):
    secrets = [harness.MOCK_SSH_PRIVATE_KEY.strip().splitlines()[1]] + [
        harness.mock_password(r.name) for r in prod.monitor.by_type("random:index/randomPassword:RandomPassword")
    ]
    assert any(secrets[0] in str(harness.unwrap(r.inputs)) for r in prod.monitor.registered), "the key is used"
    for r in prod.monitor.registered:
        for text in harness.plaintext_strings(r.inputs):
            for secret in secrets:
                assert secret not in text, f"{r.urn} carries a secret in plaintext"


def test_cloud_init_opens_exactly_the_public_ports(prod):
    instance = harness.unwrap(only(prod, "oci:Core/instance:Instance").inputs)
    user_data = base64.b64decode(instance["metadata"]["user_data"]).decode()
    assert user_data.startswith("#cloud-config")
    written = {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}
    opened = sorted(parse_firewall_command(line)[:3] for line in script_rule_lines(written[HOST_FIREWALL_SCRIPT_PATH]))
    assert opened == sorted(PUBLIC_PORTS)


def test_docker_on_the_vm_gives_every_container_its_stop_timeout_at_shutdown(prod):
    """dockerd stops containers itself (no live-restore) and systemd waits longer than dockerd does."""
    instance = harness.unwrap(only(prod, "oci:Core/instance:Instance").inputs)
    user_data = yaml.safe_load(base64.b64decode(instance["metadata"]["user_data"]).decode())
    files = {f["path"]: f["content"] for f in user_data["write_files"]}
    assert json.loads(files[DOCKER_DAEMON_JSON_PATH])["live-restore"] is False
    longest = max(harness.unwrap(c.inputs)["stopTimeout"] for c in prod.monitor.by_type("docker:index/container:Container"))
    assert longest >= 60, "PostgreSQL's checkpoint needs its minute"
    assert f"TimeoutStopSec={DOCKER_SERVICE_STOP_TIMEOUT_SECONDS}" in files[DOCKER_MOUNT_DROPIN_PATH]
    assert DOCKER_SERVICE_STOP_TIMEOUT_SECONDS > longest + 5


def test_the_firewall_command_applies_the_same_script_as_first_boot(prod):
    """cloud-init runs once; the SSH command runs the same script on every change of the port list."""
    instance = harness.unwrap(only(prod, "oci:Core/instance:Instance").inputs)
    user_data = yaml.safe_load(base64.b64decode(instance["metadata"]["user_data"]).decode())
    at_boot = {f["path"]: f["content"] for f in user_data["write_files"]}[HOST_FIREWALL_SCRIPT_PATH]
    command = harness.unwrap(prod.monitor.one("ampere-firewall").inputs)
    script, _, _ = install_payloads(command["create"])
    assert script == at_boot
    assert command["triggers"] == [command["create"]]


def user_data_files(run: harness.Evaluation) -> dict[str, str]:
    instance = harness.unwrap(only(run, "oci:Core/instance:Instance").inputs)
    user_data = yaml.safe_load(base64.b64decode(instance["metadata"]["user_data"]).decode())
    return {f["path"]: f["content"] for f in user_data["write_files"]}


def test_the_vm_patches_itself_raises_sshds_limit_and_livekits_udp_buffers(prod):
    """Prod as the README sets it up: security updates on, reboots at night, sshd and sysctl tuned."""
    files = user_data_files(prod)
    assert apt_values(files[AUTO_UPGRADES_PATH])["APT::Periodic::Unattended-Upgrade"] == "1"
    dropin = apt_values(files[UNATTENDED_UPGRADES_DROPIN_PATH])
    assert dropin["Unattended-Upgrade::Automatic-Reboot"] == "true"
    assert dropin["Unattended-Upgrade::Automatic-Reboot-Time"] == "03:30"
    assert "MaxStartups 100:30:200" in files[SSHD_DROPIN_PATH].splitlines()
    assert min(sysctl_values(files[SYSCTL_PATH]).values()) >= 5_000_000


def test_the_running_vm_gets_the_same_os_files_over_ssh_before_the_docker_provider(prod):
    """cloud-init writes them once; the host-os command brings every later change, and an old VM, in step."""
    files = user_data_files(prod)
    command = harness.unwrap(prod.monitor.one("ampere-host-os").inputs)
    assert command["triggers"] == [command["create"]]
    installed = host_os_payloads(command["create"])
    assert installed == [files[p] for p in (AUTO_UPGRADES_PATH, UNATTENDED_UPGRADES_DROPIN_PATH, SSHD_DROPIN_PATH, SYSCTL_PATH)]
    # Its connections meet the raised MaxStartups even on a VM that booted before the drop-in existed.
    provider = prod.monitor.one("ampere-docker")
    assert prod.monitor.one("ampere-host-os").urn in provider.dependencies


def test_update_settings_reach_first_boot_and_the_running_vm():
    values = harness.stack_config_as_user_sets_it("prod")
    oci = f"{harness.PROJECT}:oci"
    values[oci] = {**values[oci], "unattendedUpgrades": {"enabled": False, "automaticReboot": False, "rebootTimeUtc": "22:05"}}
    run = harness.evaluate("prod", values)
    files = user_data_files(run)
    assert apt_values(files[AUTO_UPGRADES_PATH])["APT::Periodic::Unattended-Upgrade"] == "0"
    assert apt_values(files[UNATTENDED_UPGRADES_DROPIN_PATH]) == {
        "Unattended-Upgrade::Automatic-Reboot": "false",
        "Unattended-Upgrade::Automatic-Reboot-WithUsers": "true",
        "Unattended-Upgrade::Automatic-Reboot-Time": "22:05",
    }
    installed = host_os_payloads(harness.unwrap(run.monitor.one("ampere-host-os").inputs)["create"])
    assert installed[:2] == [files[AUTO_UPGRADES_PATH], files[UNATTENDED_UPGRADES_DROPIN_PATH]]


def test_outputs(prod):
    out = prod.outputs
    assert out["gatewayUrl"] == "https://203-0-113-10.sslip.io"
    assert out["livekitUrl"] == "wss://livekit.203-0-113-10.sslip.io"
    assert out["publicIp"] == harness.MOCK_PUBLIC_IP
    assert out["sshCommand"].endswith(f"ubuntu@{harness.MOCK_PUBLIC_IP}")
    assert out["s3Endpoint"] == f"https://{harness.MOCK_NAMESPACE}.compat.objectstorage.eu-frankfurt-1.oraclecloud.com"
    assert out["s3Bucket"] == "recordings"
