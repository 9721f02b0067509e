"""Gateway (Caddy) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import pulumi
import pytest

from components.gateway import CADDYFILE_PATH, Gateway, GatewayArgs
from components.networking import BridgeNetwork, HostNetwork
from renderers.caddyfile import CaddyConfig, Route, render_caddyfile
from tests.components.helpers import (
    assert_hardened,
    build,
    changes,
    image_of,
    published,
    resolve,
    uploads_of,
)

DEV_ROUTES = (
    Route(path="/api/*", upstream="host.docker.internal:3001"),
    Route(path="/*", upstream="host.docker.internal:3000"),
)
DIGEST = "sha256:" + "ef" * 32


def dev_gateway(**overrides) -> Gateway:
    args = {
        "network": BridgeNetwork("net"),
        "domain": pulumi.Output.from_input("localhost"),
        "tls": "internal",
        "routes": DEV_ROUTES,
        "media_upstream": pulumi.Output.from_input("livekit:7880"),
        **overrides,
    }
    return Gateway("gateway", GatewayArgs(**args))


def caddyfile(monitor) -> str:
    uploads = uploads_of(monitor.one("gateway-caddy"))
    assert list(uploads) == [CADDYFILE_PATH]
    content, _ = uploads[CADDYFILE_PATH]
    return content


@pulumi.runtime.test
async def test_image_healthcheck_and_hardening():
    monitor, _ = await build(dev_gateway)
    container = monitor.one("gateway-caddy")
    assert_hardened(monitor, container, image="caddy:2.11.7-alpine", memory_mb=256)
    # The probe hits Caddy's plain-HTTP loopback listener, so it does not depend on certificates.
    assert container.inputs["healthcheck"]["tests"] == ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1:9180/health"]
    assert container.inputs["healthcheck"]["startPeriod"] == "1m0s"  # Go's Duration.String(), as the provider reads it back
    assert "envs" not in container.inputs


@pulumi.runtime.test
async def test_digest_pin_keeps_the_alpine_tag_before_the_digest():
    monitor, _ = await build(lambda: dev_gateway(version=f"2.11.7@{DIGEST}"))
    assert image_of(monitor, "gateway-caddy").inputs["name"] == f"caddy:2.11.7-alpine@{DIGEST}"


@pulumi.runtime.test
async def test_caddyfile_is_the_renderers_output_for_the_args():
    monitor, gateway = await build(dev_gateway)
    expected = render_caddyfile(
        CaddyConfig(domain="localhost", tls="internal", routes=DEV_ROUTES, media_upstream="livekit:7880")
    )
    assert caddyfile(monitor) == expected
    assert await resolve(gateway.caddyfile) == (expected, False)
    for line in (
        "local_certs",
        "reverse_proxy host.docker.internal:3001",
        "livekit.localhost {",
        "reverse_proxy livekit:7880",
        "encode zstd gzip",
    ):
        assert line in expected, line


@pulumi.runtime.test
async def test_without_media_upstream_there_is_no_media_site():
    monitor, _ = await build(lambda: dev_gateway(media_upstream=None))
    assert "livekit.localhost" not in caddyfile(monitor)


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_certificates_volume_at_data_and_protection_follows_protect_data(protect: bool):
    monitor, _ = await build(lambda: dev_gateway(protect_data=protect))
    volume = monitor.one("gateway-data")
    assert volume.type == "docker:index/volume:Volume"
    assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    assert monitor.one("gateway-caddy").inputs["volumes"] == [{"containerPath": "/data", "volumeName": "gateway-data"}]


@pulumi.runtime.test
async def test_bridge_publishes_http_and_https_on_every_interface_and_nothing_else():
    monitor, _ = await build(dev_gateway)
    container = monitor.one("gateway-caddy")
    assert published(container) == {(80, "tcp", "0.0.0.0"), (443, "tcp", "0.0.0.0")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["gateway"]}]
    # Routes to apps on the laptop go through host.docker.internal, which Linux engines only know from this entry.
    assert container.inputs["hosts"] == [{"host": "host.docker.internal", "ip": "host-gateway"}]


@pulumi.runtime.test
async def test_host_network_publishes_nothing_and_pulls_the_platform():
    monitor, _ = await build(
        lambda: dev_gateway(
            network=HostNetwork(), domain="example.com", tls="acme", acme_email="ops@example.com", platform="linux/arm64"
        )
    )
    container = monitor.one("gateway-caddy")
    assert image_of(monitor, "gateway-caddy").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert "email ops@example.com" in caddyfile(monitor)


@pulumi.runtime.test
async def test_outputs_urls():
    _, gateway = await build(dev_gateway)
    assert await resolve(gateway.url) == ("https://localhost", False)
    assert await resolve(gateway.health_url) == ("https://localhost/health", False)
    assert await resolve(gateway.media_url) == ("wss://livekit.localhost", False)


@pulumi.runtime.test
async def test_outputs_carry_a_non_default_https_port():
    monitor, gateway = await build(lambda: dev_gateway(http_port=8080, https_port=8443))
    assert published(monitor.one("gateway-caddy")) == {(8080, "tcp", "0.0.0.0"), (8443, "tcp", "0.0.0.0")}
    assert await resolve(gateway.url) == ("https://localhost:8443", False)
    assert await resolve(gateway.media_url) == ("wss://livekit.localhost:8443", False)


@pulumi.runtime.test
async def test_route_change_touches_only_the_caddyfile():
    routes = (*DEV_ROUTES, Route(path="/ws", upstream="host.docker.internal:8080"))
    diff, _, new = await changes(dev_gateway, lambda: dev_gateway(routes=routes))
    # The container keeps its first-boot Caddyfile (uploads ignored); the reload carries the new one.
    assert diff == {"gateway-caddy": {"uploads"}, "gateway-reload": {"triggers", "create", "update"}}
    assert "uploads" in new["gateway-caddy"]["opts.ignore_changes"]
    assert "reverse_proxy host.docker.internal:8080" in new["gateway-caddy"]["uploads"][0]["content"]
    assert "docker exec -i gateway-caddy" in new["gateway-reload"]["create"]
