"""The policy pack: every rule passes a good fixture and fails a bad one, and the whole
pack finds no mandatory violation in the dev and prod stacks.

Rules are called through each policy's ``validate`` with the argument objects the SDK
builds (tests/policy_fixtures.py); no test builds a ``PolicyPack`` in this process.
"""
from __future__ import annotations

import copy
import os
import selectors
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import exceptions as policy_exceptions
from policy.containers import container_hardening, container_repository
from policy.images import DATA_SERVICE_REPOSITORIES
from policy.resource_types import (
    DOCKER_CONTAINER,
    DOCKER_REMOTE_IMAGE,
    DOCKER_VOLUME,
    OCI_BUCKET,
    OCI_DEFAULT_SECURITY_LIST,
    OCI_INSTANCE,
    OCI_NSG_RULE,
    OCI_SECURITY_LIST,
    OCI_VOLUME,
)
from policy.rules import POLICIES
from tests import policy_fixtures as fx

POLICY = {p.name: p for p in POLICIES}
ROOT = Path(__file__).resolve().parent.parent


def test_each_rule_has_its_enforcement_level():
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert levels == {
        "data-ports-loopback-only": EnforcementLevel.MANDATORY,
        "no-world-open-admin-ports": EnforcementLevel.MANDATORY,
        "container-hardening": EnforcementLevel.MANDATORY,
        "images-pinned": EnforcementLevel.MANDATORY,
        "buckets-private-versioned": EnforcementLevel.MANDATORY,
        "stateful-storage-protected": EnforcementLevel.MANDATORY,
        "always-free": EnforcementLevel.MANDATORY,
        "legacy-imds-disabled": EnforcementLevel.MANDATORY,
        "container-log-rotation": EnforcementLevel.ADVISORY,
        "images-pinned-by-digest": EnforcementLevel.ADVISORY,
    }


# --- data-ports-loopback-only -------------------------------------------------------------


def _container_from(image: str, ports: list[dict], name: str = "svc") -> list[PolicyResource]:
    remote = fx.stack_resource(DOCKER_REMOTE_IMAGE, {"name": image}, name=f"{name}-image")
    container = fx.stack_resource(
        DOCKER_CONTAINER,
        {"image": "sha256:" + "a" * 64, "ports": ports},
        name=name,
        property_dependencies={"image": [remote]},
    )
    return [remote, container]


def _port(port: int, ip: str | None = "127.0.0.1", protocol: str = "tcp") -> dict:
    spec = {"internal": float(port), "external": float(port), "protocol": protocol}
    return spec if ip is None else {**spec, "ip": ip}


def test_data_ports_pass_on_loopback_and_public_ports_of_other_services_are_fine():
    resources = [
        *_container_from("postgres:18.1-alpine", [_port(5432)], "db"),
        *_container_from("redis:7.4.6-alpine", [_port(6379, "127.0.0.1/32")], "cache"),
        *_container_from("versity/versitygw:v1.7.0", [_port(9000, "::1")], "s3"),
        *_container_from("caddy:2.11.7-alpine", [_port(443, "0.0.0.0")], "gateway"),
    ]
    assert fx.violations(POLICY["data-ports-loopback-only"], fx.stack_args(resources)) == []


@pytest.mark.parametrize(
    "image, port",
    [
        ("postgres:18.1-alpine", _port(5432, "0.0.0.0")),
        ("docker.io/library/redis:7.4.6-alpine", _port(6379, ip=None)),  # Docker's default: every interface
        ("versity/versitygw:v1.7.0@sha256:" + "b" * 64, _port(9000, "192.168.1.20")),
        ("postgres:18.1-alpine", _port(5432, "::")),
    ],
)
def test_data_ports_fail_beyond_loopback(image, port):
    found = fx.violations(POLICY["data-ports-loopback-only"], fx.stack_args(_container_from(image, [port])))
    assert len(found) == 1 and f"{int(port['external'])}/tcp" in found[0]


def test_data_ports_recognise_a_container_whose_image_is_a_plain_reference():
    container = fx.stack_resource(DOCKER_CONTAINER, {"image": "redis:7.4.6", "ports": [_port(6379, "0.0.0.0")]}, name="c")
    assert len(fx.violations(POLICY["data-ports-loopback-only"], fx.stack_args([container]))) == 1


# --- no-world-open-admin-ports --------------------------------------------------------------


def _ingress(protocol: str, source: str, low: int | None = None, high: int | None = None, key: str = "tcpOptions") -> dict:
    rule = {"protocol": protocol, "source": source, "sourceType": "CIDR_BLOCK", "stateless": False}
    return rule if low is None else {**rule, key: {"min": float(low), "max": float(high or low)}}


def _nsg_rule(protocol: str, source: str, low: int | None = None, high: int | None = None, direction: str = "INGRESS") -> dict:
    rule = {"direction": direction, "protocol": protocol, "source": source, "sourceType": "CIDR_BLOCK", "networkSecurityGroupId": "ocid1.nsg"}
    if low is not None:
        rule["tcpOptions"] = {"destinationPortRange": {"min": float(low), "max": float(high or low)}}
    return rule


GOOD_INGRESS = [
    _ingress("6", "0.0.0.0/0", 443),
    _ingress("6", "0.0.0.0/0", 80),
    _ingress("17", "0.0.0.0/0", 50000, 60000, key="udpOptions"),
    _ingress("6", "198.51.100.7/32", 22),
    {"protocol": "1", "source": "0.0.0.0/0", "sourceType": "CIDR_BLOCK", "icmpOptions": {"type": 3.0, "code": 4.0}},
]


@pytest.mark.parametrize(
    "resource_type, props",
    [
        (OCI_SECURITY_LIST, {"ingressSecurityRules": GOOD_INGRESS, "egressSecurityRules": [{"protocol": "all", "destination": "0.0.0.0/0"}]}),
        (OCI_DEFAULT_SECURITY_LIST, {"ingressSecurityRules": [], "egressSecurityRules": [{"protocol": "all", "destination": "0.0.0.0/0"}]}),
        (OCI_NSG_RULE, _nsg_rule("6", "198.51.100.7/32", 22)),
        (OCI_NSG_RULE, _nsg_rule("all", "0.0.0.0/0", direction="EGRESS")),
        (OCI_NSG_RULE, {**_nsg_rule("6", "ocid1.networksecuritygroup.oc1..x", 22), "sourceType": "NETWORK_SECURITY_GROUP"}),
    ],
)
def test_admin_ports_pass_when_closed_to_the_world(resource_type, props):
    assert fx.violations(POLICY["no-world-open-admin-ports"], fx.resource_args(resource_type, props)) == []


@pytest.mark.parametrize(
    "resource_type, props, expected",
    [
        (OCI_SECURITY_LIST, {"ingressSecurityRules": [*GOOD_INGRESS, _ingress("6", "0.0.0.0/0", 22)]}, ["SSH (tcp/22)"]),
        # OCI's own default security list: SSH from anywhere.
        (OCI_DEFAULT_SECURITY_LIST, {"ingressSecurityRules": [_ingress("6", "0.0.0.0/0", 22)]}, ["SSH (tcp/22)"]),
        (OCI_SECURITY_LIST, {"ingressSecurityRules": [_ingress("6", "::/0", 3000, 4000)]}, ["RDP (tcp/3389)"]),
        (OCI_SECURITY_LIST, {"ingressSecurityRules": [_ingress("17", "0.0.0.0/0", 3389, key="udpOptions")]}, ["RDP (udp/3389)"]),
        # No port options: every port.
        (OCI_SECURITY_LIST, {"ingressSecurityRules": [_ingress("6", "0.0.0.0/0")]}, ["SSH (tcp/22)", "RDP (tcp/3389)"]),
        (OCI_SECURITY_LIST, {"ingressSecurityRules": [_ingress("all", "0.0.0.0/0")]}, ["all protocols"]),
        (OCI_NSG_RULE, _nsg_rule("6", "0.0.0.0/0", 20, 25), ["SSH (tcp/22)"]),
        (OCI_NSG_RULE, _nsg_rule("all", "0.0.0.0/0"), ["all protocols"]),
    ],
)
def test_admin_ports_fail_when_open_to_the_world(resource_type, props, expected):
    found = fx.violations(POLICY["no-world-open-admin-ports"], fx.resource_args(resource_type, props, name="fw"))
    assert len(found) == len(expected)
    for message, what in zip(found, expected):
        assert what in message


# --- container-hardening and container-log-rotation ------------------------------------------

HARDENED = {
    "name": "database-postgres",
    "image": "sha256:" + "c" * 64,
    "restart": "unless-stopped",
    "healthcheck": {"tests": ["CMD-SHELL", "pg_isready"], "interval": "10s", "retries": 5.0},
    "memory": 512.0,
    "memorySwap": 512.0,
    "securityOpts": ["no-new-privileges:true"],
    "privileged": False,
    "logDriver": "json-file",
    "logOpts": {"max-size": "10m", "max-file": "5"},
}


def test_hardened_container_passes():
    args = fx.resource_args(DOCKER_CONTAINER, HARDENED, name="database-postgres")
    assert fx.violations(POLICY["container-hardening"], args) == []
    assert fx.violations(POLICY["container-log-rotation"], args) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"healthcheck": None}, "no healthcheck"),
        ({"healthcheck": {"tests": ["NONE"]}}, "no healthcheck"),
        ({"restart": "no"}, "no restart policy"),
        ({"restart": None}, "no restart policy"),
        ({"memory": None}, "no memory limit"),
        ({"memory": 0.0}, "no memory limit"),
        ({"securityOpts": []}, "no-new-privileges"),
        ({"securityOpts": ["no-new-privileges:true", "no-new-privileges=false"]}, "no-new-privileges"),
        ({"privileged": True}, "runs privileged"),
        ({"capabilities": {"adds": ["SYS_ADMIN"]}}, "adds capabilities ['SYS_ADMIN']"),
        ({"capabilities": {"adds": ["cap_net_admin"]}}, "adds capabilities ['NET_ADMIN']"),
    ],
)
def test_container_hardening_fails_without_each_setting(change, expected):
    props = {k: v for k, v in {**HARDENED, **change}.items() if v is not None}
    found = fx.violations(POLICY["container-hardening"], fx.resource_args(DOCKER_CONTAINER, props, name="database-postgres"))
    assert len(found) == 1 and expected in found[0]


def test_a_listed_exception_grants_exactly_its_capability_to_exactly_its_container():
    granted = policy_exceptions.CapabilityException(container="media-egress", capability="SYS_ADMIN", reason="fixture")
    validate = container_hardening([granted])
    props = {**HARDENED, "capabilities": {"adds": ["CAP_SYS_ADMIN"]}}
    found: list[str] = []
    validate(fx.resource_args(DOCKER_CONTAINER, props, name="media-egress"), lambda m, urn=None: found.append(m))
    assert found == []
    validate(fx.resource_args(DOCKER_CONTAINER, props, name="media-livekit"), lambda m, urn=None: found.append(m))
    more = {**HARDENED, "capabilities": {"adds": ["SYS_ADMIN", "NET_ADMIN"]}}
    validate(fx.resource_args(DOCKER_CONTAINER, more, name="media-egress"), lambda m, urn=None: found.append(m))
    assert len(found) == 2 and "['SYS_ADMIN']" in found[0] and "['NET_ADMIN']" in found[1]


def test_one_off_containers_are_not_long_running_services():
    job = {"image": "sha256:" + "d" * 64, "rm": True}
    assert fx.violations(POLICY["container-hardening"], fx.resource_args(DOCKER_CONTAINER, job)) == []
    assert fx.violations(POLICY["container-hardening"], fx.resource_args(DOCKER_CONTAINER, {**job, "rm": False})) != []


def test_every_listed_exception_is_reviewable():
    for entry in policy_exceptions.CAPABILITY_EXCEPTIONS:
        assert entry.reason.strip() and "\n" not in entry.reason, entry
        assert entry.capability == policy_exceptions.normalize_capability(entry.capability), entry
        assert entry.container, entry


@pytest.mark.parametrize(
    "change",
    [{"logDriver": "json-file", "logOpts": {"max-file": "5"}}, {"logDriver": None, "logOpts": None}],
)
def test_log_rotation_fails_for_unbounded_json_logs(change):
    props = {k: v for k, v in {**HARDENED, **change}.items() if v is not None}
    found = fx.violations(POLICY["container-log-rotation"], fx.resource_args(DOCKER_CONTAINER, props, name="c"))
    assert len(found) == 1 and "max-size" in found[0]


def test_log_rotation_passes_for_the_local_driver():
    props = {**HARDENED, "logDriver": "local", "logOpts": {}}
    assert fx.violations(POLICY["container-log-rotation"], fx.resource_args(DOCKER_CONTAINER, props)) == []


# --- images-pinned and images-pinned-by-digest ----------------------------------------------

DIGEST = "@sha256:" + "e" * 64
LATEST = "latest"  # the floating tag the policy must refuse


@pytest.mark.parametrize(
    "resource_type, props",
    [
        (DOCKER_REMOTE_IMAGE, {"name": "postgres:18.1-alpine"}),
        (DOCKER_REMOTE_IMAGE, {"name": "livekit/egress:v1.14.1"}),
        (DOCKER_REMOTE_IMAGE, {"name": "localhost:5000/team/redis:7.4.6"}),
        (DOCKER_REMOTE_IMAGE, {"name": "redis" + DIGEST}),
        (DOCKER_CONTAINER, {"image": "sha256:" + "f" * 64}),
        (DOCKER_CONTAINER, {"image": UNKNOWN_STRING_VALUE}),  # a preview: the RemoteImage's ID is not known yet
        (DOCKER_CONTAINER, {"image": "caddy:2.11.7-alpine"}),
    ],
)
def test_pinned_images_pass(resource_type, props):
    assert fx.violations(POLICY["images-pinned"], fx.resource_args(resource_type, props)) == []


@pytest.mark.parametrize(
    "resource_type, props, expected",
    [
        (DOCKER_REMOTE_IMAGE, {"name": "postgres"}, "no tag"),
        (DOCKER_REMOTE_IMAGE, {"name": f"postgres:{LATEST}"}, "'latest'"),
        (DOCKER_REMOTE_IMAGE, {"name": f"redis:{LATEST}" + DIGEST}, "'latest'"),
        (DOCKER_REMOTE_IMAGE, {"name": "localhost:5000/team/redis"}, "no tag"),
        (DOCKER_REMOTE_IMAGE, {"name": "caddy:alpine"}, "names no version"),
        (DOCKER_CONTAINER, {"image": f"nginx:{LATEST}"}, "'latest'"),
    ],
)
def test_unpinned_images_fail(resource_type, props, expected):
    found = fx.violations(POLICY["images-pinned"], fx.resource_args(resource_type, props, name="img"))
    assert len(found) == 1 and expected in found[0]


def test_digest_pinning_is_advised():
    by_tag = fx.resource_args(DOCKER_REMOTE_IMAGE, {"name": "postgres:18.1-alpine"})
    by_digest = fx.resource_args(DOCKER_REMOTE_IMAGE, {"name": "postgres:18.1-alpine" + DIGEST})
    assert len(fx.violations(POLICY["images-pinned-by-digest"], by_tag)) == 1
    assert fx.violations(POLICY["images-pinned-by-digest"], by_digest) == []


# --- buckets-private-versioned ----------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [{"accessType": "NoPublicAccess", "versioning": "Enabled"}, {"versioning": "Enabled"}],  # OCI's default is private
)
def test_private_versioned_bucket_passes(props):
    assert fx.violations(POLICY["buckets-private-versioned"], fx.resource_args(OCI_BUCKET, props)) == []


@pytest.mark.parametrize(
    "props, expected",
    [
        ({"accessType": "ObjectRead", "versioning": "Enabled"}, "ObjectRead"),
        ({"accessType": "ObjectReadWithoutList", "versioning": "Enabled"}, "ObjectReadWithoutList"),
        ({"accessType": "NoPublicAccess", "versioning": "Disabled"}, "versioning 'Disabled'"),
        ({"accessType": "NoPublicAccess"}, "versioning None"),  # OCI creates it Disabled
    ],
)
def test_public_or_unversioned_bucket_fails(props, expected):
    found = fx.violations(POLICY["buckets-private-versioned"], fx.resource_args(OCI_BUCKET, props, name="b"))
    assert len(found) == 1 and expected in found[0]


# --- stateful-storage-protected -----------------------------------------------------------------


@pytest.mark.parametrize("resource_type", [DOCKER_VOLUME, OCI_VOLUME, OCI_BUCKET])
def test_storage_in_prod_must_be_protected(resource_type):
    rule = POLICY["stateful-storage-protected"]
    assert fx.violations(rule, fx.resource_args(resource_type, {}, stack="prod", protect=True)) == []
    found = fx.violations(rule, fx.resource_args(resource_type, {}, name="data", stack="prod", protect=False))
    assert len(found) == 1 and "'prod'" in found[0]


def test_storage_outside_the_protected_stacks_may_be_deleted():
    rule = POLICY["stateful-storage-protected"]
    assert fx.violations(rule, fx.resource_args(DOCKER_VOLUME, {}, stack="dev", protect=False)) == []
    staging = {"protectedStacks": ["prod", "staging"]}
    assert len(fx.violations(rule, fx.resource_args(DOCKER_VOLUME, {}, stack="staging", config=staging))) == 1


# --- always-free and legacy-imds-disabled -----------------------------------------------------


def _instance(ocpus: float = 2, memory: float = 12, boot: str | None = "50", shape: str = "VM.Standard.A1.Flex", tags=None, name="vm") -> PolicyResource:
    props = {
        "shape": shape,
        "shapeConfig": {"ocpus": float(ocpus), "memoryInGbs": float(memory)},
        "sourceDetails": {"sourceType": "image", "sourceId": "ocid1.image.oc1..x"},
        "freeformTags": tags if tags is not None else {"allow-paid": "false"},
        "instanceOptions": {"areLegacyImdsEndpointsDisabled": True},
    }
    if boot is not None:
        props["sourceDetails"]["bootVolumeSizeInGbs"] = boot
    return fx.stack_resource(OCI_INSTANCE, props, name=name, stack="prod")


def _volume(size: str | None = "150", name: str = "data") -> PolicyResource:
    return fx.stack_resource(OCI_VOLUME, {} if size is None else {"sizeInGbs": size}, name=name, stack="prod")


def test_always_free_passes_at_the_allowance():
    assert fx.violations(POLICY["always-free"], fx.stack_args([_instance(), _volume()])) == []
    assert fx.violations(POLICY["always-free"], fx.stack_args([_instance(1, 6, boot=None), _volume("100")])) == []


@pytest.mark.parametrize(
    "resources, expected",
    [
        ([_instance(ocpus=6), _volume()], "6 OCPUs"),
        ([_instance(memory=32), _volume()], "32 GB of memory"),
        ([_instance(shape="VM.Standard.E4.Flex", ocpus=1, memory=6), _volume()], "VM.Standard.E4.Flex"),
        ([_instance(), _volume("200")], "250 GB of block storage"),
        ([_instance(), _volume(None)], "1074 GB of block storage"),  # OCI's default volume: 1 TB
        ([_instance(1, 6, name="a"), _instance(2, 6, name="b")], "3 OCPUs"),
    ],
)
def test_always_free_fails_beyond_the_allowance(resources, expected):
    found = fx.violations(POLICY["always-free"], fx.stack_args(resources))
    assert len(found) == 1 and expected in found[0]


def test_allow_paid_tag_lifts_the_allowance_and_config_can_lower_it():
    rule = POLICY["always-free"]
    assert fx.violations(rule, fx.stack_args([_instance(ocpus=8, memory=48, tags={"allow-paid": "true"})])) == []
    assert len(fx.violations(rule, fx.stack_args([_instance(ocpus=8, tags={"allow-paid": "false"})]))) == 1
    halved = {"maxOcpus": 1, "maxMemoryGb": 6}
    assert len(fx.violations(rule, fx.stack_args([_instance(), _volume()], halved))) == 2


def test_always_free_defaults_are_the_configs_allowance():
    # The pack and config/checks.py guard the same allowance (2 OCPUs, 12 GB, 200 GB since 2026-06-15).
    from config.capacity import ALWAYS_FREE
    from policy.instance import LIMIT_DEFAULTS

    assert LIMIT_DEFAULTS == {
        "maxOcpus": ALWAYS_FREE.ocpus, "maxMemoryGb": ALWAYS_FREE.memory_gb, "maxBlockStorageGb": ALWAYS_FREE.storage_gb,
    }
    assert fx.violations(POLICY["always-free"], fx.stack_args([_instance(ocpus=3), _volume()])) != []
    assert fx.violations(POLICY["always-free"], fx.stack_args([_instance(memory=13), _volume()])) != []


def test_legacy_imds_must_be_disabled():
    rule = POLICY["legacy-imds-disabled"]
    off = {"shape": "VM.Standard.A1.Flex", "instanceOptions": {"areLegacyImdsEndpointsDisabled": True}}
    assert fx.violations(rule, fx.resource_args(OCI_INSTANCE, off)) == []
    for props in ({"instanceOptions": {"areLegacyImdsEndpointsDisabled": False}}, {"shape": "VM.Standard.A1.Flex"}):
        assert len(fx.violations(rule, fx.resource_args(OCI_INSTANCE, props))) == 1


# --- the whole pack over the stacks -----------------------------------------------------------


@pytest.fixture(scope="module")
def dev() -> list[fx.Captured]:
    return fx.capture_stack("dev")


@pytest.fixture(scope="module")
def prod() -> list[fx.Captured]:
    return fx.capture_stack("prod")


def _mandatory(found: list[fx.Violation]) -> list[fx.Violation]:
    return [v for v in found if v.level == EnforcementLevel.MANDATORY]


def test_dev_stack_has_no_mandatory_violation(dev):
    found = fx.run_pack(POLICIES, dev)
    assert _mandatory(found) == []
    # The pack really looked: its only advice is digest pinning, once for each of the six images.
    images = {c.urn for c in dev if c.resource_type == DOCKER_REMOTE_IMAGE}
    assert len(images) == 6
    assert sorted((v.policy, v.urn) for v in found) == sorted(("images-pinned-by-digest", urn) for urn in images)


def test_the_data_port_rule_recognises_the_dev_data_services(dev):
    repositories = {r.name: container_repository(r) for r in fx.stack_resources(dev) if r.resource_type == DOCKER_CONTAINER}
    data = {name for name, repo in repositories.items() if repo in DATA_SERVICE_REPOSITORIES}
    assert data == {"database-postgres", "cache-redis", "object-store-s3"}


def test_the_pack_catches_a_data_port_opened_in_the_dev_capture(dev):
    broken = copy.deepcopy(dev)
    database = next(c for c in broken if c.name == "database-postgres")
    database.outputs["ports"][0]["ip"] = "0.0.0.0"
    found = _mandatory(fx.run_pack(POLICIES, broken))
    assert [(v.policy, v.urn) for v in found] == [("data-ports-loopback-only", database.urn)]


def test_prod_stack_has_no_mandatory_violation(prod):
    types = {c.resource_type for c in prod}
    # The rules had real prod resources to look at.
    assert {OCI_INSTANCE, OCI_SECURITY_LIST, OCI_DEFAULT_SECURITY_LIST, OCI_VOLUME, OCI_BUCKET, DOCKER_CONTAINER} <= types
    assert _mandatory(fx.run_pack(POLICIES, prod)) == []


def test_the_pack_catches_unprotected_data_in_the_prod_capture(prod):
    broken = copy.deepcopy(prod)
    volume = next(c for c in broken if c.resource_type == OCI_VOLUME)
    volume.options.protect = False
    found = _mandatory(fx.run_pack(POLICIES, broken))
    assert [(v.policy, v.urn) for v in found] == [("stateful-storage-protected", volume.urn)]


# --- the real entry point, served the way the CLI runs it --------------------------------------


def test_pack_manifest_runs_python_from_its_own_venv():
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert manifest["runtime"]["options"]["virtualenv"] == "venv"
    assert "pulumi-policy" in (ROOT / "policy" / "requirements.txt").read_text()


@pytest.fixture
def served_pack():
    """policy/__main__.py in its own process, as `pulumi-language-python` starts a pack
    (`python -m pulumi.policy <engine> <pack dir>`); the test talks to it over gRPC on loopback."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        cwd=ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Nothing of the project on the path: the pack must load from its own directory.
        env={**os.environ, "PYTHONPATH": ""},
    )
    try:
        port_line = _read_line(process, timeout=30)
        channel = grpc.insecure_channel(f"127.0.0.1:{port_line.strip()}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        process.kill()
        raise AssertionError(f"the pack printed no port within {timeout}s; stderr: {process.stderr.read()}")
    line = process.stdout.readline()
    assert line.strip().isdigit(), f"expected the gRPC port, got {line!r}; stderr: {process.stderr.read()}"
    return line


def test_served_pack_lists_every_policy_and_blocks_a_privileged_container(served_pack):
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
    assert info.name == "backing-services"
    assert {p.name for p in info.policies} == set(POLICY)

    properties = struct_pb2.Struct()
    properties.update({**HARDENED, "privileged": True})
    request = proto.AnalyzeRequest(
        type=DOCKER_CONTAINER,
        properties=properties,
        urn=fx.urn_of("dev", DOCKER_CONTAINER, "database-postgres"),
        name="database-postgres",
        options=proto.AnalyzerResourceOptions(protect=False),
    )
    response = served_pack.Analyze(request, timeout=10)
    found = [(d.policyName, d.enforcementLevel) for d in response.diagnostics]
    assert found == [("container-hardening", proto.MANDATORY)]
