"""Cache (Redis) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import pulumi
import pytest

from components.cache import CONF_PATH, Cache, CacheArgs
from components.networking import BridgeNetwork, HostNetwork
from tests import harness
from tests.components.helpers import (
    assert_hardened,
    build,
    changes,
    env_of,
    image_of,
    published,
    resolve,
    uploads_of,
)

GENERATED = harness.mock_password("cache-password")
DIGEST = "sha256:" + "cd" * 32


def bridge_cache(**overrides) -> Cache:
    return Cache("cache", CacheArgs(network=BridgeNetwork("net"), **overrides))


def redis_conf(monitor) -> list[str]:
    """redis.conf as uploaded; fails unless the upload is secret (it holds requirepass)."""
    uploads = uploads_of(monitor.one("cache-redis"))
    assert list(uploads) == [CONF_PATH]
    content, secret = uploads[CONF_PATH]
    assert secret, "redis.conf carries the password and must be secret"
    return content.splitlines()


@pulumi.runtime.test
async def test_image_command_healthcheck_and_hardening():
    monitor, _ = await build(bridge_cache)
    container = monitor.one("cache-redis")
    assert_hardened(monitor, container, image="redis:7.4.6-alpine", memory_mb=256)
    assert container.inputs["command"] == ["redis-server", CONF_PATH]
    health = container.inputs["healthcheck"]
    # An unauthenticated PING answers NOAUTH with exit 0: only matching PONG proves the password works.
    assert health["tests"] == ["CMD-SHELL", "redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG"]
    assert (health["interval"], health["timeout"], health["retries"]) == ("10s", "5s", 5)


@pulumi.runtime.test
async def test_digest_pin_keeps_the_alpine_tag_before_the_digest():
    monitor, _ = await build(lambda: bridge_cache(version=f"7.4.6@{DIGEST}"))
    assert image_of(monitor, "cache-redis").inputs["name"] == f"redis:7.4.6-alpine@{DIGEST}"


@pulumi.runtime.test
async def test_env_is_secret_and_only_authenticates_the_probe():
    monitor, _ = await build(bridge_cache)
    assert env_of(monitor.one("cache-redis")) == {"REDISCLI_AUTH": GENERATED}
    password = monitor.one("cache-password")
    assert password.type == "random:index/randomPassword:RandomPassword"
    assert password.inputs["special"] is False


@pulumi.runtime.test
async def test_redis_conf_is_secret_with_password_and_aof_everysec():
    monitor, _ = await build(bridge_cache)
    conf = redis_conf(monitor)
    assert f'requirepass "{GENERATED}"' in conf
    lines = ("bind 0.0.0.0", "port 6379", "protected-mode yes", "dir /data", "appendonly yes", "appendfsync everysec")
    for line in lines:
        assert line in conf, line
    assert "maxmemory 192mb" in conf  # 3/4 of the 256 MB container limit


@pulumi.runtime.test
async def test_given_password_is_used_and_nothing_is_generated():
    monitor, cache = await build(lambda: bridge_cache(password="GivenRedisPw1"))
    assert monitor.by_type("random:index/randomPassword:RandomPassword") == []
    assert 'requirepass "GivenRedisPw1"' in redis_conf(monitor)
    assert env_of(monitor.one("cache-redis")) == {"REDISCLI_AUTH": "GivenRedisPw1"}
    assert await resolve(cache.password) == ("GivenRedisPw1", True)


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_data_volume_at_data_and_protection_follows_protect_data(protect: bool):
    monitor, _ = await build(lambda: bridge_cache(protect_data=protect))
    volume = monitor.one("cache-data")
    assert volume.type == "docker:index/volume:Volume"
    assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    assert monitor.one("cache-redis").inputs["volumes"] == [{"containerPath": "/data", "volumeName": "cache-data"}]


@pulumi.runtime.test
async def test_bridge_network_publishes_only_on_loopback():
    monitor, cache = await build(bridge_cache)
    container = monitor.one("cache-redis")
    assert published(container) == {(6379, "tcp", "127.0.0.1")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["redis"]}]
    assert await resolve(cache.internal_address) == ("redis:6379", False)


@pulumi.runtime.test
async def test_host_network_publishes_nothing_binds_loopback_and_pulls_the_platform():
    monitor, cache = await build(lambda: Cache("cache", CacheArgs(network=HostNetwork(), platform="linux/arm64")))
    container = monitor.one("cache-redis")
    assert image_of(monitor, "cache-redis").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert "bind 127.0.0.1" in redis_conf(monitor)
    assert await resolve(cache.internal_address) == ("127.0.0.1:6379", False)


@pulumi.runtime.test
async def test_outputs_url_is_secret():
    _, cache = await build(lambda: bridge_cache(port=6380))
    assert await resolve(cache.url) == (f"redis://default:{GENERATED}@127.0.0.1:6380/0", True)
    assert await resolve(cache.password) == (GENERATED, True)
    assert await resolve(cache.host) == ("127.0.0.1", False)
    assert await resolve(cache.port) == (6380, False)


@pulumi.runtime.test
async def test_version_change_touches_only_the_image():
    diff, _, new = await changes(bridge_cache, lambda: bridge_cache(version="7.4.7"))
    assert diff == {"cache-redis-image": {"name"}, "cache-redis": {"image"}}
    assert new["cache-redis-image"]["name"] == "redis:7.4.7-alpine"


@pulumi.runtime.test
async def test_memory_change_touches_only_limits_and_maxmemory():
    diff, old, new = await changes(bridge_cache, lambda: bridge_cache(memory_mb=512))
    assert diff == {"cache-redis": {"memory", "memorySwap", "uploads"}}
    conf_before = old["cache-redis"]["uploads"][0]["content"].splitlines()
    conf_after = new["cache-redis"]["uploads"][0]["content"].splitlines()
    assert set(conf_after) - set(conf_before) == {"maxmemory 384mb"}
