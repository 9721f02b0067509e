"""MediaServer (LiveKit + Egress) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import pulumi
import pytest
import yaml

from components.media_server import MediaServer, MediaServerArgs
from components.networking import BridgeNetwork, HostNetwork
from components.object_store import S3Endpoint
from renderers.livekit import egress_cpu_costs
from renderers.ports import MediaPorts
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

API_KEY = "API" + harness.mock_password("media-api-key")
API_SECRET = harness.mock_password("media-api-secret")
REDIS_PASSWORD = "RedisPassw0rdForLiveKit"
S3_SECRET = "S3SecretKeyValue0123456789"
DIGEST = "sha256:" + "12" * 32
DEV_PORTS = MediaPorts(udp_mux_port=7882, turn_udp_port=None)


def recordings(internal_endpoint: str) -> S3Endpoint:
    return S3Endpoint(
        endpoint=pulumi.Output.from_input("http://127.0.0.1:9000"),
        internal_endpoint=pulumi.Output.from_input(internal_endpoint),
        region=pulumi.Output.from_input("us-east-1"),
        access_key=pulumi.Output.secret("S3AccessKey0123"),
        secret_key=pulumi.Output.secret(S3_SECRET),
        path_style=True,
    )


def dev_media(**overrides) -> MediaServer:
    """As the dev stack builds it: bridge network, one UDP mux port, a loopback candidate for Egress."""
    args = {
        "network": BridgeNetwork("net"),
        "redis_address": "redis:6379",
        "redis_password": pulumi.Output.secret(REDIS_PASSWORD),
        "ports": DEV_PORTS,
        "loopback_candidate": True,
        "recordings": recordings("http://objectstore:9000"),
        **overrides,
    }
    return MediaServer("media", MediaServerArgs(**args))


def vm_media() -> MediaServer:
    """As the VM builds it: host network, the UDP range, public IP found over STUN, arm64 images."""
    return MediaServer(
        "media",
        MediaServerArgs(
            network=HostNetwork(),
            redis_address="127.0.0.1:6379",
            redis_password=pulumi.Output.secret(REDIS_PASSWORD),
            use_external_ip=True,
            recordings=recordings("https://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com"),
            platform="linux/arm64",
        ),
    )


def config_body(container, variable: str) -> dict:
    env = env_of(container)
    assert list(env) == [variable]
    return yaml.safe_load(env[variable])


@pulumi.runtime.test
async def test_images_healthchecks_and_hardening():
    monitor, _ = await build(dev_media)
    livekit, egress = monitor.one("media-livekit"), monitor.one("media-egress")
    assert_hardened(monitor, livekit, image="livekit/livekit-server:v1.13.5", memory_mb=1024)
    assert_hardened(monitor, egress, image="livekit/egress:v1.14.1", memory_mb=2048)
    assert livekit.inputs["healthcheck"]["tests"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:7880/"]
    assert egress.inputs["healthcheck"]["tests"] == ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/"]
    assert egress.inputs["healthcheck"]["startPeriod"] == "1m0s"  # Go's Duration.String(), as the provider reads it back
    assert (livekit.inputs["cpus"], egress.inputs["cpus"]) == ("2.0", "2.0")  # the text the provider reads NanoCPUs back as


@pulumi.runtime.test
async def test_digest_pins_are_kept_as_given():
    monitor, _ = await build(lambda: dev_media(version=f"v1.13.5@{DIGEST}", egress_version=f"v1.14.1@{DIGEST}"))
    assert image_of(monitor, "media-livekit").inputs["name"] == f"livekit/livekit-server:v1.13.5@{DIGEST}"
    assert image_of(monitor, "media-egress").inputs["name"] == f"livekit/egress:v1.14.1@{DIGEST}"


@pulumi.runtime.test
async def test_generated_api_credentials():
    monitor, media = await build(dev_media)
    key = monitor.one("media-api-key")
    assert key.type == "random:index/randomString:RandomString"
    assert (key.inputs["length"], key.inputs["special"]) == (14, False)
    secret = monitor.one("media-api-secret")
    assert secret.type == "random:index/randomPassword:RandomPassword"
    assert secret.inputs["length"] == 48
    assert await resolve(media.api_key) == (API_KEY, False)
    assert await resolve(media.api_secret) == (API_SECRET, True)


@pulumi.runtime.test
async def test_livekit_config_is_secret_and_uses_the_udp_mux_port():
    monitor, _ = await build(dev_media)
    config = config_body(monitor.one("media-livekit"), "LIVEKIT_CONFIG")
    assert config == {
        "port": 7880,
        "rtc": {"tcp_port": 7881, "udp_port": 7882, "use_external_ip": False, "enable_loopback_candidate": True},
        "redis": {"address": "redis:6379", "password": REDIS_PASSWORD},
        "keys": {API_KEY: API_SECRET},
        "turn": {"enabled": False},
        "logging": {"level": "info"},
    }


@pulumi.runtime.test
async def test_bridge_publishes_media_publicly_and_signal_on_loopback_only():
    monitor, media = await build(dev_media)
    livekit = monitor.one("media-livekit")
    assert published(livekit) == {(7880, "tcp", "127.0.0.1"), (7881, "tcp", "0.0.0.0"), (7882, "udp", "0.0.0.0")}
    assert livekit.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["livekit"]}]
    assert await resolve(media.signal_address) == ("livekit:7880", False)


@pulumi.runtime.test
async def test_bridge_egress_joins_livekits_namespace():
    monitor, _ = await build(dev_media)
    livekit, egress = monitor.one("media-livekit"), monitor.one("media-egress")
    # The mock gives each resource the id "<name>-id".
    assert egress.inputs["networkMode"] == "container:media-livekit-id"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not egress.inputs.get(key), key
    assert harness.normalized_urn(livekit.urn) in egress.dependencies


@pulumi.runtime.test
async def test_egress_config_is_secret_and_uploads_path_style_to_the_store():
    monitor, _ = await build(dev_media)
    config = config_body(monitor.one("media-egress"), "EGRESS_CONFIG_BODY")
    assert config == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        # 127.0.0.1 in LiveKit's own namespace: the address LiveKit advertises in ICE.
        "ws_url": "ws://127.0.0.1:7880",
        "redis": {"address": "redis:6379", "password": REDIS_PASSWORD},
        "health_port": 9090,
        "logging": {"level": "info"},
        # Capped at the container's 2 CPUs, so room composites and web recordings are admitted.
        "cpu_cost": egress_cpu_costs(2.0),
        "storage": {
            "s3": {
                "access_key": "S3AccessKey0123",
                "secret": S3_SECRET,
                "region": "us-east-1",
                "endpoint": "http://objectstore:9000",
                "bucket": "recordings",
                "force_path_style": True,
            }
        },
    }


@pulumi.runtime.test
async def test_host_network_publishes_nothing_binds_signal_to_loopback_and_pulls_the_platform():
    monitor, media = await build(vm_media)
    livekit, egress = monitor.one("media-livekit"), monitor.one("media-egress")
    for container in (livekit, egress):
        assert image_of(monitor, container.name).inputs["platform"] == "linux/arm64"
        assert container.inputs["networkMode"] == "host"
        for key in ("ports", "networksAdvanced", "hosts"):
            assert not container.inputs.get(key), (container.name, key)
    config = config_body(livekit, "LIVEKIT_CONFIG")
    assert config["bind_addresses"] == ["127.0.0.1"]
    rtc = {"tcp_port": 7881, "port_range_start": 50000, "port_range_end": 60000, "use_external_ip": True}
    assert config["rtc"] == rtc
    assert config["turn"] == {"enabled": True, "udp_port": 3478, "relay_range_start": 30000, "relay_range_end": 40000}
    assert config_body(egress, "EGRESS_CONFIG_BODY")["ws_url"] == "ws://127.0.0.1:7880"
    assert await resolve(media.signal_address) == ("127.0.0.1:7880", False)


@pulumi.runtime.test
async def test_egress_switched_off_leaves_only_livekit():
    monitor, media = await build(lambda: dev_media(egress_enabled=False, recordings=None))
    assert media.egress is None
    assert [r.name for r in monitor.by_type("docker:index/container:Container")] == ["media-livekit"]
    assert [r.name for r in monitor.by_type("docker:index/remoteImage:RemoteImage")] == ["media-livekit-image"]


@pulumi.runtime.test
async def test_egress_without_a_store_is_refused():
    with pytest.raises(ValueError, match="no recordings store"):
        await build(lambda: dev_media(recordings=None))


@pulumi.runtime.test
async def test_udp_mux_port_change_touches_only_livekits_config_and_publish():
    moved = MediaPorts(udp_mux_port=7890, turn_udp_port=None)
    diff, old, new = await changes(dev_media, lambda: dev_media(ports=moved))
    assert diff == {"media-livekit": {"envs", "ports"}}
    before = yaml.safe_load(old["media-livekit"]["envs"][0].split("=", 1)[1])
    after = yaml.safe_load(new["media-livekit"]["envs"][0].split("=", 1)[1])
    assert after == {**before, "rtc": {**before["rtc"], "udp_port": 7890}}
    assert {p["external"] for p in new["media-livekit"]["ports"]} == {7880, 7881, 7890}
