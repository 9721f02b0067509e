"""The OCI Ampere target under Pulumi mocks, built from a realistic prod config."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.networking import HostNetwork
from components.object_store import OciBucketBackend
from config import ConfigError, StackConfig, parse_stack_config
from config.capacity import ALWAYS_FREE
from renderers.cloud_init import CloudInitConfig, render_cloud_init
from renderers.oci_backup import FREE_VOLUME_BACKUPS, most_backups_alive
from renderers.oci_capacity import RetryPolicy
from renderers.oci_host_key import host_key_command
from renderers.oci_rules import WORLD
from renderers.ports import public_ingress
from renderers.remote_host import HOST_READY_COMMAND
from stack.compose import media_ports
from targets.oci_ampere import oci_ampere_target
from policy.instance import ALLOW_PAID_TAG as POLICY_ALLOW_PAID_TAG
from targets.oci_instance import ALLOW_PAID_TAG, capacity_error_hook
from targets.oci_volume import DATA_DEVICE
from tests import harness
from tests.components.helpers import build
from tests.oci_view import port_rules, sources_reaching, world_icmp

NS = harness.PROJECT
PERSONAL = harness.PROD_PERSONAL_CONFIG
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtestkeymaterial\n-----END OPENSSH PRIVATE KEY-----\n"
)
NEWEST_IMAGE = "ocid1.image.oc1.eu-frankfurt-1.newest"
FIRST_AD = "Uocm:EU-FRANKFURT-1-AD-1"

VCN = "oci:Core/vcn:Vcn"
SECURITY_LIST = "oci:Core/securityList:SecurityList"
DEFAULT_SECURITY_LIST = "oci:Core/defaultSecurityList:DefaultSecurityList"
INSTANCE = "oci:Core/instance:Instance"
VOLUME = "oci:Core/volume:Volume"

# Every resource the target creates, by name: the contract with the whole-stack tests and the golden URNs.
EXPECTED_RESOURCES = {
    ("backing-services:index:AmpereHost", "ampere"),
    ("pulumi:providers:oci", "ampere-oci"),
    (VCN, "ampere-vcn"),
    ("oci:Core/internetGateway:InternetGateway", "ampere-internet-gateway"),
    ("oci:Core/routeTable:RouteTable", "ampere-routes"),
    (DEFAULT_SECURITY_LIST, "ampere-default-security-list"),
    (SECURITY_LIST, "ampere-security-list"),
    ("oci:Core/subnet:Subnet", "ampere-subnet"),
    (INSTANCE, "ampere-instance"),
    ("oci:Core/publicIp:PublicIp", "ampere-public-ip"),
    (VOLUME, "ampere-data"),
    ("oci:Core/volumeBackupPolicy:VolumeBackupPolicy", "ampere-data-backup-policy"),
    ("oci:Core/volumeBackupPolicyAssignment:VolumeBackupPolicyAssignment", "ampere-data-backup"),
    ("oci:Core/volumeAttachment:VolumeAttachment", "ampere-data-attachment"),
    ("command:remote:Command", "ampere-ready"),
    ("command:remote:Command", "ampere-firewall"),
    ("command:remote:Command", "ampere-host-os"),
    ("command:remote:Command", "ampere-ssh-keys"),
    ("pulumi:providers:docker", "ampere-docker"),
}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text(PRIVATE_KEY)
    return path


def prod_config(key_file: Path, *, protect_data: bool = True, domain: str | None = None, **oci: Any) -> StackConfig:
    """Pulumi.prod.yaml plus the README's personal settings, as the loader would parse them."""
    raw = {key.removeprefix(f"{NS}:"): value for key, value in harness.stack_config_as_user_sets_it("prod").items()}
    raw["oci"] = {**raw["oci"], "sshPrivateKeyFile": str(key_file), **oci}
    raw["protectData"] = protect_data
    if domain is not None:
        raw["domain"] = domain
    return parse_stack_config(raw)


async def build_target(cfg: StackConfig):
    return await build(lambda: oci_ampere_target(cfg), stack="prod")


def inputs(monitor: harness.RecordingMonitor, name: str) -> dict[str, Any]:
    return harness.unwrap(monitor.one(name).inputs)


def urn(monitor: harness.RecordingMonitor, name: str) -> str:
    return harness.normalized_urn(monitor.one(name).urn)


@pulumi.runtime.test
async def test_creates_exactly_the_expected_resources_all_children_of_the_host(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    assert {(r.type, r.name) for r in monitor.registered} == EXPECTED_RESOURCES
    host = monitor.one("ampere")
    for r in monitor.registered:
        if r is not host:
            assert r.parent == host.urn, f"{r.name} is not a child of the AmpereHost"


@pulumi.runtime.test
async def test_every_oci_resource_uses_the_explicit_provider_for_the_configured_region(key_file):
    monitor, target = await build_target(prod_config(key_file))
    provider = monitor.one("ampere-oci")
    assert provider.inputs["region"] == PERSONAL["region"]
    # With a profile or auth mode set, the provider insists on ~/.oci/config even when CI gives
    # OCI_* variables (provider.go:404-409@v8.28.0); unset, it takes the environment, then the file.
    assert "configFileProfile" not in provider.inputs and "auth" not in provider.inputs
    provider_ref = f"{provider.urn}::ampere-oci-id"
    oci_resources = [r for r in monitor.registered if r.type.startswith("oci:")]
    assert len(oci_resources) == len([t for t, _ in EXPECTED_RESOURCES if t.startswith("oci:")])
    for r in oci_resources:
        assert r.provider == provider_ref, f"{r.name} does not use the explicit OCI provider"
    assert target.oci_provider is not None


@pulumi.runtime.test
async def test_instance_is_a1_flex_within_always_free(key_file):
    cfg = prod_config(key_file)
    monitor, _ = await build_target(cfg)
    instance = inputs(monitor, "ampere-instance")
    assert instance["shape"] == "VM.Standard.A1.Flex"
    assert instance["shapeConfig"] == {"ocpus": cfg.oci.ocpus, "memoryInGbs": cfg.oci.memory_gb}
    assert instance["shapeConfig"]["ocpus"] <= ALWAYS_FREE.ocpus
    assert instance["shapeConfig"]["memoryInGbs"] <= ALWAYS_FREE.memory_gb
    boot = int(instance["sourceDetails"]["bootVolumeSizeInGbs"])
    data = int(inputs(monitor, "ampere-data")["sizeInGbs"])
    assert (boot, data) == (cfg.oci.boot_volume_gb, cfg.oci.data_volume_gb)
    assert boot + data <= ALWAYS_FREE.storage_gb
    assert instance["freeformTags"] == {"allow-paid": "false"}


@pulumi.runtime.test
async def test_paid_shapes_carry_the_tag_the_policy_pack_reads(key_file):
    assert ALLOW_PAID_TAG == POLICY_ALLOW_PAID_TAG
    monitor, _ = await build_target(prod_config(key_file, allowPaid=True, ocpus=8, memoryGb=48))
    instance = inputs(monitor, "ampere-instance")
    assert instance["shapeConfig"] == {"ocpus": 8, "memoryInGbs": 48}
    assert instance["freeformTags"] == {ALLOW_PAID_TAG: "true"}


@pulumi.runtime.test
async def test_security_list_world_ingress_is_exactly_the_public_port_list(key_file):
    cfg = prod_config(key_file)
    monitor, _ = await build_target(cfg)
    ingress = inputs(monitor, "ampere-security-list")["ingressSecurityRules"]
    expected = [("tcp", 80, 80), ("tcp", 443, 443), ("tcp", 7881, 7881), ("udp", 3478, 3478), ("udp", 30000, 40000), ("udp", 50000, 60000)]
    assert port_rules(ingress, source=WORLD) == expected
    # The same tuple the host firewall and livekit.yaml are derived from.
    derived = public_ingress(media_ports(cfg), http_port=cfg.gateway.http_port, https_port=cfg.gateway.https_port)
    assert [(r.protocol, r.start, r.end) for r in derived] == expected
    for rule in ingress:
        assert rule["stateless"] is False and rule["sourceType"] == "CIDR_BLOCK", rule


@pulumi.runtime.test
async def test_ssh_only_from_admin_cidrs_and_no_internal_port_from_the_world(key_file):
    monitor, _ = await build_target(prod_config(key_file, adminCidrs=["198.51.100.7/32", "2001:db8::/64"]))
    ingress = inputs(monitor, "ampere-security-list")["ingressSecurityRules"]
    assert sources_reaching(ingress, 22) == {"198.51.100.7/32", "2001:db8::/64"}
    for internal in (5432, 6379, 7880, 9000, 9090, 9180):
        assert WORLD not in sources_reaching(ingress, internal), internal
        assert WORLD not in sources_reaching(ingress, internal, "udp"), internal


@pulumi.runtime.test
async def test_world_icmp_is_only_what_path_mtu_discovery_needs(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    ingress = inputs(monitor, "ampere-security-list")["ingressSecurityRules"]
    assert world_icmp(ingress) == [{"type": 3, "code": 4}]


@pulumi.runtime.test
async def test_default_security_list_is_taken_over_and_closed(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    default = inputs(monitor, "ampere-default-security-list")
    assert default["manageDefaultResourceId"] == "ampere-vcn-default-security-list-id"
    assert default.get("ingressSecurityRules", []) == []
    assert [r["destination"] for r in default["egressSecurityRules"]] == [WORLD]


@pulumi.runtime.test
async def test_subnet_is_public_routed_through_the_gateway_and_uses_only_our_list(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    subnet = inputs(monitor, "ampere-subnet")
    assert subnet["securityListIds"] == ["ampere-security-list-id"]
    assert subnet["routeTableId"] == "ampere-routes-id"
    assert subnet["prohibitPublicIpOnVnic"] is False
    routes = inputs(monitor, "ampere-routes")["routeRules"]
    gateway = {"networkEntityId": "ampere-internet-gateway-id", "destination": WORLD, "destinationType": "CIDR_BLOCK"}
    assert routes == [gateway]


@pulumi.runtime.test
async def test_instance_hardening_and_replacement_guards(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    instance = monitor.one("ampere-instance")
    assert instance.inputs["instanceOptions"] == {"areLegacyImdsEndpointsDisabled": True}
    assert instance.inputs["availabilityConfig"] == {"recoveryAction": "RESTORE_INSTANCE"}
    # Its address is the reserved public IP's (a private IP holds one public IP at most).
    assert instance.inputs["createVnicDetails"]["assignPublicIp"] == "false"
    assert instance.ignore_changes == ["sourceDetails.sourceId", "metadata.user_data", "metadata.ssh_authorized_keys"]
    assert instance.on_error_hooks == ["ampere-out-of-host-capacity"]
    # Two A1 instances at once exceed Always Free, and the data volume attaches to one at a time.
    assert instance.delete_before_replace and monitor.one("ampere-data-attachment").delete_before_replace
    assert instance.protect


@pulumi.runtime.test
async def test_newest_image_and_first_availability_domain_by_default(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    instance = inputs(monitor, "ampere-instance")
    assert instance["sourceDetails"]["sourceType"] == "image"
    assert instance["sourceDetails"]["sourceId"] == NEWEST_IMAGE
    assert instance["availabilityDomain"] == FIRST_AD
    (images_call,) = [args for token, args in monitor.mocks.calls if token == "oci:Core/getImages:getImages"]
    assert images_call["operatingSystem"] == "Canonical Ubuntu"
    assert images_call["operatingSystemVersion"] == "24.04"
    assert images_call["shape"] == "VM.Standard.A1.Flex"
    assert (images_call["sortBy"], images_call["sortOrder"]) == ("TIMECREATED", "DESC")
    assert images_call["filters"] == [{"name": "display_name", "values": ["aarch64"], "regex": True}]


@pulumi.runtime.test
async def test_pinned_image_and_availability_domain_skip_the_lookups(key_file):
    image = "ocid1.image.oc1.eu-frankfurt-1.pinned"
    monitor, _ = await build_target(prod_config(key_file, imageId=image, availabilityDomain="Uocm:EU-FRANKFURT-1-AD-3"))
    instance = inputs(monitor, "ampere-instance")
    assert instance["sourceDetails"]["sourceId"] == image
    assert instance["availabilityDomain"] == "Uocm:EU-FRANKFURT-1-AD-3"
    tokens = {token for token, _ in monitor.mocks.calls}
    assert "oci:Core/getImages:getImages" not in tokens
    assert "oci:Identity/getAvailabilityDomains:getAvailabilityDomains" not in tokens


@pulumi.runtime.test
async def test_user_data_is_the_rendered_cloud_init_for_the_same_ports(key_file):
    cfg = prod_config(key_file)
    monitor, _ = await build_target(cfg)
    metadata = inputs(monitor, "ampere-instance")["metadata"]
    assert metadata["ssh_authorized_keys"] == PERSONAL["sshPublicKey"]
    ingress = public_ingress(media_ports(cfg), http_port=cfg.gateway.http_port, https_port=cfg.gateway.https_port)
    expected = render_cloud_init(CloudInitConfig(ingress=ingress, login_user="ubuntu", data_device=DATA_DEVICE))
    assert base64.b64decode(metadata["user_data"]).decode() == expected
    assert DATA_DEVICE in expected


@pulumi.runtime.test
async def test_data_volume_is_protected_backed_up_and_attached_at_the_consistent_path(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    volume = monitor.one("ampere-data")
    assert volume.protect is True and volume.retain_on_delete is True
    # Same AD as the instance, taken from it: the volume waits for a successful launch.
    assert volume.inputs["availabilityDomain"] == FIRST_AD
    assert urn(monitor, "ampere-instance") in volume.dependencies

    schedules = inputs(monitor, "ampere-data-backup-policy")["schedules"]
    as_sent = [{"period": s["period"], "retention_seconds": int(s["retentionSeconds"])} for s in schedules]
    assert 1 <= most_backups_alive(as_sent) <= FREE_VOLUME_BACKUPS
    assert {s["backupType"] for s in schedules} == {"FULL", "INCREMENTAL"}
    assignment = inputs(monitor, "ampere-data-backup")
    assert assignment == {"assetId": "ampere-data-id", "policyId": "ampere-data-backup-policy-id"}

    attachment = inputs(monitor, "ampere-data-attachment")
    assert attachment["attachmentType"] == "paravirtualized"
    assert attachment["device"] == DATA_DEVICE
    assert (attachment["instanceId"], attachment["volumeId"]) == ("ampere-instance-id", "ampere-data-id")


@pulumi.runtime.test
async def test_data_volume_unprotected_when_protect_data_is_off(key_file):
    monitor, _ = await build_target(prod_config(key_file, protect_data=False))
    volume = monitor.one("ampere-data")
    assert volume.protect is False and volume.retain_on_delete is False


BACKUP = "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaaaaaarestorepoint"


@pulumi.runtime.test
async def test_data_volume_is_blank_unless_a_backup_is_configured(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    assert "sourceDetails" not in inputs(monitor, "ampere-data")


@pulumi.runtime.test
async def test_data_volume_from_a_backup_names_it_and_stays_protected(key_file):
    # allowPaid: at 150 GB the old volume a restore keeps is beyond Always Free (README, "Restore").
    monitor, _ = await build_target(prod_config(key_file, dataVolumeBackupId=BACKUP, allowPaid=True))
    volume = monitor.one("ampere-data")
    # The provider's VolumeSourceFromVolumeBackupDetails (core_volume_resource.go:894-900@v8.28.0).
    assert harness.unwrap(volume.inputs)["sourceDetails"] == {"type": "volumeBackup", "id": BACKUP}
    # Force-new: on a running stack this is a replacement, which protection stops in preview.
    assert volume.protect and volume.retain_on_delete
    assert inputs(monitor, "ampere-data-attachment")["volumeId"] == "ampere-data-id"


def test_data_volume_backup_must_be_a_volume_backup_ocid(key_file):
    with pytest.raises(ConfigError) as err:
        prod_config(key_file, dataVolumeBackupId="ocid1.volume.oc1.eu-frankfurt-1.aaaaaaaathevolume")
    assert f"{NS}:oci.dataVolumeBackupId" in str(err.value) and "ocid1.volumebackup." in str(err.value)


@pulumi.runtime.test
async def test_ready_command_waits_for_cloud_init_over_ssh_with_a_secret_key(key_file):
    monitor, _ = await build_target(prod_config(key_file))
    ready = monitor.one("ampere-ready")
    assert ready.inputs["create"] == HOST_READY_COMMAND
    connection = ready.inputs["connection"]
    assert rpc.is_rpc_secret(connection)
    for resource in monitor.registered:
        assert PRIVATE_KEY not in harness.plaintext_strings(resource.inputs), resource.name
    plain = harness.unwrap(connection)
    assert plain["privateKey"] == PRIVATE_KEY
    assert (plain["host"], plain["user"]) == (harness.MOCK_PUBLIC_IP, "ubuntu")
    assert 0 < plain["dialErrorLimit"] <= 100, "dialing must be bounded"
    assert urn(monitor, "ampere-data-attachment") in ready.dependencies


@pulumi.runtime.test
async def test_docker_provider_reaches_the_vm_over_ssh_after_it_is_ready(key_file):
    monitor, target = await build_target(prod_config(key_file))
    provider = monitor.one("ampere-docker")
    assert provider.inputs["host"] == f"ssh://ubuntu@{harness.MOCK_PUBLIC_IP}"
    assert "StrictHostKeyChecking=accept-new" in provider.inputs["sshOpts"]
    assert str(key_file) in provider.inputs["sshOpts"]
    assert urn(monitor, "ampere-ready") in provider.dependencies
    assert target.docker_provider is not None


@pulumi.runtime.test
async def test_target_contract(key_file):
    cfg = prod_config(key_file)
    _, target = await build_target(cfg)
    assert target.name == "oci"
    assert target.platform == "linux/arm64"
    assert isinstance(target.network, HostNetwork)
    assert (target.media_use_external_ip, target.media_loopback_candidate) == (True, False)
    assert await target.domain.future() == "203-0-113-10.sslip.io"
    assert target.object_store_backend == OciBucketBackend(
        compartment_id=PERSONAL["compartmentId"],
        region=PERSONAL["region"],
        protect_data=True,
        # gateway.acmeEmail, plus-addressed: identity domains require an email, unique in the tenancy.
        s3_user_email="ops+backing-services-prod-s3@example.com",
        previous_version_retention_days=30,
    )
    assert target.object_store_backend.on_error is not None
    outputs = {name: await pulumi.Output.from_input(value).future() for name, value in target.extra_outputs.items()}
    assert outputs == {
        "publicIp": harness.MOCK_PUBLIC_IP,
        "sshCommand": f"ssh -i {key_file} ubuntu@{harness.MOCK_PUBLIC_IP}",
        # The mock's instance id; the command itself: tests/test_target_oci_host_key.py, tests/real/test_oci_host_key_real.py.
        "hostKeyCommand": host_key_command("ampere-instance-id", PERSONAL["region"]),
    }


@pulumi.runtime.test
async def test_configured_domain_wins_over_sslip(key_file):
    _, target = await build_target(prod_config(key_file, domain="media.example.com"))
    assert await target.domain.future() == "media.example.com"


def test_unreadable_private_key_is_a_config_error_naming_the_key(tmp_path):
    harness.install_mocks("prod")
    cfg = prod_config(tmp_path / "missing")
    with pytest.raises(ConfigError) as err:
        oci_ampere_target(cfg)
    assert f"{NS}:oci.sshPrivateKeyFile" in str(err.value)
    assert str(tmp_path / "missing") in str(err.value)


def _hook_args(errors: list[str]) -> pulumi.ErrorHookArgs:
    return pulumi.ErrorHookArgs(
        urn="urn:pulumi:prod::backing-services::oci:Core/instance:Instance::ampere-instance",
        id="",
        name="ampere-instance",
        type=INSTANCE,
        new_inputs={"availabilityDomain": FIRST_AD},
        failed_operation="create",
        errors=errors,
    )


@pulumi.runtime.test
async def test_capacity_hook_retries_capacity_errors_a_bounded_number_of_times():
    harness.install_mocks("prod")
    policy = RetryPolicy(max_attempts=3, delay_seconds=0)
    hook = capacity_error_hook("capacity", compartment_id=PERSONAL["compartmentId"], policy=policy)
    capacity = "500-InternalError, Out of host capacity."
    assert await hook(_hook_args([capacity])) is True
    assert await hook(_hook_args([capacity, capacity])) is True
    assert await hook(_hook_args([capacity] * 3)) is False
    assert await hook(_hook_args(["400-InvalidParameter, bad shape"])) is False


@pulumi.runtime.test
async def test_the_public_address_is_reserved_on_the_instances_private_ip_and_protected(key_file):
    monitor, target = await build_target(prod_config(key_file))
    address = monitor.one("ampere-public-ip")
    assert address.inputs["lifetime"] == "RESERVED", "an ephemeral IP dies with the instance"
    assert address.inputs["privateIpId"] == "ocid1.privateip.oc1.eu-frankfurt-1.10.0.0.2"
    assert address.protect
    lookups = [a for token, a in monitor.mocks.calls if token == "oci:Core/getPrivateIps:getPrivateIps"]
    assert lookups == [{"subnetId": "ampere-subnet-id", "ipAddress": "10.0.0.2"}], lookups
