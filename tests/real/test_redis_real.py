"""Debian's redis-server run on exactly the redis.conf the Cache component uploads.

Only the address, port and data dir differ from the component (loopback, a free
port, a temp dir); every other line is the renderer's, so each assertion checks
a rendered setting by its effect.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderers.redis_conf import MAXMEMORY_POLICY, RedisSettings, redis_healthcheck, render_redis_conf

from .processes import free_tcp_ports
from .redis_process import RedisServer, RespError, redis_binary, redis_client, running_redis

pytestmark = pytest.mark.real_binary

# Shell- and conf-hostile on purpose: quotes, $, and a backslash that redis.conf would read as an
# escape. Every server start AUTHs with it, so a conf that mangles it fails every test.
PASSWORD = "Pa$$'w0rd\\x41`!"
MEMORY_LIMIT_MB = 32  # small, so noeviction can be shown by filling it
KEY_COUNT = 1000
FSYNC_WAIT_S = 2.0  # appendfsync everysec: every acknowledged write is on disk within ~1 s
VALUE_1MB = b"v" * (1 << 20)


@dataclass(frozen=True)
class Cache:
    settings: RedisSettings
    conf_path: Path
    log_path: Path


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    (port,) = free_tcp_ports(1)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = RedisSettings(
        password=PASSWORD,
        port=port,
        bind_address="127.0.0.1",
        memory_limit_mb=MEMORY_LIMIT_MB,
        data_dir=str(data_dir),
    )
    conf_path = tmp_path / "redis.conf"
    conf_path.write_text(render_redis_conf(settings))
    redis_binary("redis-cli")  # the healthcheck needs it; fail early and clearly if absent
    return Cache(settings, conf_path, tmp_path / "redis.log")


@pytest.fixture
def server(cache: Cache) -> Iterator[RedisServer]:
    with running_redis(
        cache.conf_path, port=cache.settings.port, password=PASSWORD, log_path=cache.log_path
    ) as srv:
        yield srv


def _healthcheck(port: int, auth: str | None) -> subprocess.CompletedProcess[str]:
    """Run the container's CMD-SHELL test the way Docker does: ``/bin/sh -c <string>``."""
    kind, command = redis_healthcheck(port)
    assert kind == "CMD-SHELL"
    env = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if auth is not None:
        env["REDISCLI_AUTH"] = auth
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=15, check=False)


def _keys(count: int) -> dict[str, bytes]:
    return {f"room:{i}": hashlib.sha256(str(i).encode()).hexdigest().encode() for i in range(count)}


def test_unauthenticated_commands_are_refused(server: RedisServer) -> None:
    with redis_client(server.port) as anonymous:
        set_reply = anonymous.command("SET", "intruder", "1")
        get_reply = anonymous.command("GET", "anything")
        wrong_auth = anonymous.command("AUTH", "not-the-password")
    assert isinstance(set_reply, RespError) and set_reply.message.startswith("NOAUTH"), set_reply
    assert isinstance(get_reply, RespError) and get_reply.message.startswith("NOAUTH"), get_reply
    assert isinstance(wrong_auth, RespError) and wrong_auth.message.startswith("WRONGPASS"), wrong_auth
    with redis_client(server.port, PASSWORD) as client:
        assert client.command("EXISTS", "intruder") == 0


def test_healthcheck_passes_with_the_password_from_env(server: RedisServer) -> None:
    result = _healthcheck(server.port, PASSWORD)
    assert result.returncode == 0, f"healthcheck failed: rc={result.returncode} stderr={result.stderr!r}"


@pytest.mark.parametrize("auth", [None, "wrong-password"], ids=["no-REDISCLI_AUTH", "wrong-REDISCLI_AUTH"])
def test_healthcheck_fails_without_the_right_password(server: RedisServer, auth: str | None) -> None:
    result = _healthcheck(server.port, auth)
    assert result.returncode != 0, f"healthcheck passed with REDISCLI_AUTH={auth!r}: stdout={result.stdout!r}"


def test_healthcheck_fails_when_redis_is_down(cache: Cache) -> None:
    result = _healthcheck(cache.settings.port, PASSWORD)
    assert result.returncode != 0, "healthcheck passed with no redis-server running"


def test_acknowledged_writes_survive_kill_9(cache: Cache) -> None:
    keys = _keys(KEY_COUNT)
    with running_redis(cache.conf_path, port=cache.settings.port, password=PASSWORD, log_path=cache.log_path) as srv:
        with redis_client(srv.port, PASSWORD) as client:
            for key, value in keys.items():
                assert client.command("SET", key, value) == "OK"
        time.sleep(FSYNC_WAIT_S)
        srv.process.send_signal(signal.SIGKILL)
        assert srv.process.wait(timeout=10) == -signal.SIGKILL
    with running_redis(cache.conf_path, port=cache.settings.port, password=PASSWORD, log_path=cache.log_path) as srv:
        with redis_client(srv.port, PASSWORD) as client:
            size = client.command("DBSIZE")
            values = client.command("MGET", *keys)
    assert size == KEY_COUNT, f"{size} of {KEY_COUNT} keys survived kill -9; redis log:\n{srv.log()}"
    assert values == list(keys.values())


def test_memory_settings_are_applied(cache: Cache, server: RedisServer) -> None:
    with redis_client(server.port, PASSWORD) as client:
        config = client.command("CONFIG", "GET", "*")
    assert isinstance(config, list)
    values = dict(zip(config[::2], config[1::2]))
    maxmemory = int(values[b"maxmemory"])
    assert maxmemory == cache.settings.maxmemory_mb << 20
    assert 0 < maxmemory < MEMORY_LIMIT_MB << 20, "maxmemory must leave headroom under the container limit"
    assert values[b"maxmemory-policy"] == MAXMEMORY_POLICY.encode() == b"noeviction"
    assert values[b"appendonly"] == b"yes"
    assert values[b"appendfsync"] == b"everysec"


def test_full_cache_refuses_writes_instead_of_evicting(server: RedisServer) -> None:
    """noeviction: room state is never silently dropped; the write that does not fit fails loudly."""
    limit_writes = 4 * MEMORY_LIMIT_MB  # bounded: far more 1 MB values than maxmemory can hold
    written: list[str] = []
    with redis_client(server.port, PASSWORD) as client:
        for i in range(limit_writes):
            reply = client.command("SET", f"blob:{i}", VALUE_1MB)
            if isinstance(reply, RespError):
                assert reply.message.startswith("OOM"), reply
                break
            assert reply == "OK"
            written.append(f"blob:{i}")
        else:
            pytest.fail(f"{limit_writes} MB written into a {MEMORY_LIMIT_MB} MB cache without an OOM error")
        assert written, "not even one value fitted"
        assert client.command("EXISTS", *written) == len(written), "keys were evicted"
