"""App (a team's own container) under Pulumi mocks."""
from __future__ import annotations

import pulumi

from components.app import App, AppArgs
from components.networking import BridgeNetwork, HostNetwork
from tests.components.helpers import assert_hardened, build, env_of, image_of, resolve

IMAGE = "ghcr.io/acme/web:1.4.2"
DB_URL = "postgresql://app:Secret-Pw1@postgres:5432/app"


def app(network=None, **overrides) -> App:
    args = {
        "network": network or BridgeNetwork("net"),
        "image": IMAGE,
        "port": 3000,
        "env": {"DATABASE_URL": "${database.url}", "MODE": "production", "BOTH": "${public.url}/x"},
        "references": {"database.url": pulumi.Output.secret(DB_URL), "public.url": "https://localhost"},
        **overrides,
    }
    return App("web", AppArgs(**args))


@pulumi.runtime.test
async def test_runs_hardened_with_a_secret_env_resolved_from_the_references():
    monitor, _ = await build(app)
    container = monitor.one("web-app")
    assert_hardened(monitor, container, image=IMAGE, memory_mb=256)
    # env_of fails unless the whole env reached the engine as a secret.
    assert env_of(container) == {"DATABASE_URL": DB_URL, "MODE": "production", "BOTH": "https://localhost/x"}


@pulumi.runtime.test
async def test_healthcheck_gets_the_health_path_with_wget_or_curl():
    monitor, _ = await build(lambda: app(health_path="/healthz"))
    assert monitor.one("web-app").inputs["healthcheck"]["tests"] == [
        "CMD-SHELL",
        "wget -q -O /dev/null http://127.0.0.1:3000/healthz || curl -fsS -o /dev/null http://127.0.0.1:3000/healthz",
    ]


@pulumi.runtime.test
async def test_bridge_alias_and_address_for_the_gateway():
    monitor, component = await build(app)
    assert monitor.one("web-app").inputs["networksAdvanced"] == [{"name": "net", "aliases": ["web"]}]
    assert await resolve(component.address) == ("web:3000", False)


@pulumi.runtime.test
async def test_vm_host_network_and_arm64_pull():
    monitor, component = await build(lambda: app(network=HostNetwork(), platform="linux/arm64"))
    assert monitor.one("web-app").inputs["networkMode"] == "host"
    assert image_of(monitor, "web-app").inputs["platform"] == "linux/arm64"
    assert await resolve(component.address) == ("127.0.0.1:3000", False)


@pulumi.runtime.test
async def test_only_the_references_used_are_awaited():
    """An env that names no reference needs none of the services."""
    monitor, _ = await build(lambda: app(env={"MODE": "x"}, references={}))
    assert env_of(monitor.one("web-app")) == {"MODE": "x"}
