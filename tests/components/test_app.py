"""App (a team's own container) under Pulumi mocks."""
from __future__ import annotations

import pulumi
import pytest

from components.app import App, AppArgs
from components.networking import BridgeNetwork, HostNetwork
from renderers.app_health import tcp_check_script
from tests.components.helpers import assert_hardened, build, component_of, env_of, image_of, resolve

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
    # HOST: where the app is told to listen (apps[].bindAddress); every address in a bridge network's own namespace.
    assert env_of(container) == {"DATABASE_URL": DB_URL, "MODE": "production", "BOTH": "https://localhost/x", "HOST": "0.0.0.0"}


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
    assert env_of(monitor.one("web-app")) == {"MODE": "x", "HOST": "0.0.0.0"}


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_named_volumes_are_the_docker_names_and_follow_protect_data(protect: bool):
    volumes = {"config-data": "/app/data", "config-cache": "/var/cache/app"}
    monitor, _ = await build(lambda: app(volumes=volumes, protect_data=protect))
    registered = {v.name: v for v in monitor.by_type("docker:index/volume:Volume")}
    assert sorted(registered) == sorted(volumes)
    for name, volume in registered.items():
        # The Docker name is the config's, verbatim: `docker volume ls` shows what the team wrote.
        assert volume.inputs["name"] == name
        assert (volume.protect, volume.retain_on_delete, volume.delete_before_replace) == (protect, protect, True)
        assert volume.parent == component_of(monitor).urn  # a child of the app, like the services' volumes
    mounts = monitor.one("web-app").inputs["volumes"]
    assert sorted((m["containerPath"], m["volumeName"]) for m in mounts) == sorted((p, n) for n, p in volumes.items())
    # The container is replaceable whatever protectData says; only the volumes hold data.
    assert monitor.one("web-app").protect is False


@pulumi.runtime.test
async def test_tcp_port_replaces_the_http_check():
    monitor, _ = await build(lambda: app(tcp_health_port=8080, health_path="/ignored"))
    tests = monitor.one("web-app").inputs["healthcheck"]["tests"]
    assert tests == ["CMD-SHELL", tcp_check_script(8080)]
    assert "/ignored" not in " ".join(tests) and "/dev/tcp/127.0.0.1/8080" in tests[1]


@pulumi.runtime.test
async def test_after_makes_the_container_wait_for_the_other_apps_healthy_container():
    def two() -> tuple[App, App]:
        first = App("config-service", AppArgs(network=BridgeNetwork("net"), image=IMAGE, port=8000))
        second = App("clock", AppArgs(network=BridgeNetwork("net"), image=IMAGE, port=3001, after=(first,)))
        return first, second

    monitor, _ = await build(two)
    first, second = monitor.one("config-service-app"), monitor.one("clock-app")
    assert first.inputs["wait"] is True, "without wait the dependency's Create returns before it is healthy"
    assert first.urn in second.dependencies
    assert second.urn not in first.dependencies and not [d for d in first.dependencies if d.endswith("-app")]
