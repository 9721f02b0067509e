"""ObjectStore under Pulumi mocks: the S3 container on a laptop, Oracle buckets in the cloud."""
from __future__ import annotations

import pulumi
import pytest

from components.networking import BridgeNetwork, HostNetwork
from components.object_store import ContainerBackend, ObjectStore, ObjectStoreArgs, OciBucketBackend
from tests import harness
from tests.components.helpers import (
    assert_hardened,
    build,
    changes,
    env_of,
    image_of,
    published,
    resolve,
)

ACCESS_KEY = harness.mock_password("object-store-access-key")
SECRET_KEY = harness.mock_password("object-store-secret-key")
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexamplecompartment"
BUCKET = "oci:ObjectStorage/bucket:Bucket"
SECRET_KEY_TYPE = "oci:Identity/customerSecretKey:CustomerSecretKey"


def container_store(buckets=("recordings", "uploads"), network=None, **backend) -> ObjectStore:
    backend = ContainerBackend(network=network or BridgeNetwork("net"), version="v1.7.0", **backend)
    return ObjectStore("object-store", ObjectStoreArgs(backend=backend, buckets=buckets))


def oci_store(protect_data: bool = True) -> ObjectStore:
    backend = OciBucketBackend(compartment_id=COMPARTMENT, region="eu-frankfurt-1", protect_data=protect_data)
    return ObjectStore("object-store", ObjectStoreArgs(backend=backend, buckets=("recordings", "uploads")))


@pulumi.runtime.test
async def test_container_image_command_healthcheck_and_hardening():
    monitor, _ = await build(container_store)
    container = monitor.one("object-store-s3")
    assert_hardened(monitor, container, image="versity/versitygw:v1.7.0", memory_mb=256)
    assert container.inputs["entrypoints"] == ["/bin/sh", "-c"]
    # Buckets are top-level directories of the posix backend: created before the server starts.
    assert container.inputs["command"] == ["mkdir -p /data/recordings /data/uploads && exec versitygw posix /data"]
    probe = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9000/_health"]
    assert container.inputs["healthcheck"]["tests"] == probe


@pulumi.runtime.test
async def test_container_env_is_secret_with_generated_credentials():
    monitor, _ = await build(container_store)
    assert env_of(monitor.one("object-store-s3")) == {
        "ROOT_ACCESS_KEY_ID": ACCESS_KEY,
        "ROOT_SECRET_ACCESS_KEY": SECRET_KEY,
        "VGW_REGION": "us-east-1",
        "VGW_PORT": ":9000",
        "VGW_HEALTH": "/_health",
    }
    lengths = {r.name: r.inputs["length"] for r in monitor.by_type("random:index/randomPassword:RandomPassword")}
    assert lengths == {"object-store-access-key": 20, "object-store-secret-key": 40}


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_container_data_volume_and_protection_follows_protect_data(protect: bool):
    monitor, _ = await build(lambda: container_store(protect_data=protect))
    volume = monitor.one("object-store-data")
    assert volume.type == "docker:index/volume:Volume"
    assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    volumes = monitor.one("object-store-s3").inputs["volumes"]
    assert volumes == [{"containerPath": "/data", "volumeName": "object-store-data"}]


@pulumi.runtime.test
async def test_container_bridge_publishes_only_on_loopback():
    monitor, store = await build(container_store)
    container = monitor.one("object-store-s3")
    assert published(container) == {(9000, "tcp", "127.0.0.1")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["objectstore"]}]
    assert await resolve(store.s3.internal_endpoint) == ("http://objectstore:9000", False)


@pulumi.runtime.test
async def test_container_host_network_publishes_nothing_and_pulls_the_platform():
    monitor, store = await build(lambda: container_store(network=HostNetwork(), platform="linux/arm64"))
    container = monitor.one("object-store-s3")
    assert image_of(monitor, "object-store-s3").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert await resolve(store.s3.internal_endpoint) == ("http://127.0.0.1:9000", False)


@pulumi.runtime.test
async def test_container_outputs_secret_key_is_secret():
    _, store = await build(lambda: container_store(region="eu-central-1", port=9100))
    assert await resolve(store.endpoint) == ("http://127.0.0.1:9100", False)
    assert await resolve(store.region) == ("eu-central-1", False)
    assert await resolve(store.bucket) == ("recordings", False)
    assert await resolve(store.buckets) == (["recordings", "uploads"], False)
    assert await resolve(store.access_key) == (ACCESS_KEY, True)
    assert await resolve(store.secret_key) == (SECRET_KEY, True)
    assert await resolve(store.path_style) == (True, False)


@pulumi.runtime.test
async def test_invalid_bucket_name_is_refused():
    with pytest.raises(ValueError, match="Bad_Bucket"):
        await build(lambda: container_store(buckets=("Bad_Bucket",)))


@pulumi.runtime.test
async def test_bucket_change_touches_only_the_container_command():
    diff, _, new = await changes(container_store, lambda: container_store(buckets=("recordings", "uploads", "exports")))
    assert diff == {"object-store-s3": {"command"}}
    assert "/data/exports" in new["object-store-s3"]["command"][0]


@pulumi.runtime.test
async def test_oci_buckets_are_private_versioned_and_protected():
    monitor, _ = await build(oci_store, stack="prod")
    assert monitor.by_type("docker:index/container:Container") == []
    buckets = {r.name: r for r in monitor.by_type(BUCKET)}
    assert set(buckets) == {"object-store-recordings", "object-store-uploads"}
    for bucket_name in ("recordings", "uploads"):
        bucket = buckets[f"object-store-{bucket_name}"]
        assert bucket.inputs == {
            "compartmentId": COMPARTMENT,
            "namespace": harness.MOCK_NAMESPACE,
            "name": bucket_name,
            "accessType": "NoPublicAccess",
            "versioning": "Enabled",
            "storageTier": "Standard",
        }
        assert (bucket.protect, bucket.retain_on_delete) == (True, True)
    assert ("oci:ObjectStorage/getNamespace:getNamespace", {"compartmentId": COMPARTMENT}) in monitor.mocks.calls


@pulumi.runtime.test
async def test_oci_buckets_unprotected_when_protect_data_is_off():
    monitor, _ = await build(lambda: oci_store(protect_data=False), stack="prod")
    assert [(b.protect, b.retain_on_delete) for b in monitor.by_type(BUCKET)] == [(False, False), (False, False)]


@pulumi.runtime.test
async def test_oci_customer_secret_key_is_secret_in_state():
    monitor, _ = await build(oci_store, stack="prod")
    (key,) = monitor.by_type(SECRET_KEY_TYPE)
    assert key.name == "object-store-s3-key"
    # The stack's own S3 user's key, never the deployer's (tests/test_oci_least_privilege.py).
    assert key.inputs == {"userId": "object-store-s3-user-id", "displayName": "backing-services-prod-s3"}
    assert key.additional_secret_outputs == ["key"]


@pulumi.runtime.test
async def test_oci_outputs_use_the_s3_compatibility_endpoint():
    _, store = await build(oci_store, stack="prod")
    endpoint = f"https://{harness.MOCK_NAMESPACE}.compat.objectstorage.eu-frankfurt-1.oraclecloud.com"
    assert await resolve(store.endpoint) == (endpoint, False)
    assert await resolve(store.s3.internal_endpoint) == (endpoint, False)
    assert await resolve(store.region) == ("eu-frankfurt-1", False)
    # The Customer Secret Key's id is the access key half of the pair.
    assert await resolve(store.access_key) == ("object-store-s3-key-id", False)
    assert await resolve(store.secret_key) == ("MockOciSecretKeyValue9", True)
    assert await resolve(store.path_style) == (True, False)
