"""Database (PostgreSQL) under Pulumi mocks: the inputs Docker would actually receive."""
from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import rpc

from components.database import Database, DatabaseArgs
from components.networking import BridgeNetwork, HostNetwork
from renderers.postgres import PostgresSettings, postgres_healthcheck_script
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

GENERATED = harness.mock_password("database-password")
DIGEST = "sha256:" + "ab" * 32


def bridge_db(**overrides) -> Database:
    return Database("database", DatabaseArgs(network=BridgeNetwork("net"), **overrides))


@pulumi.runtime.test
async def test_image_healthcheck_and_hardening():
    monitor, _ = await build(bridge_db)
    container = monitor.one("database-postgres")
    assert_hardened(monitor, container, image="postgres:18.1-alpine", memory_mb=512)
    assert "platform" not in image_of(monitor, "database-postgres").inputs
    assert container.inputs["healthcheck"] == {
        # Logs in as the app does, with the container's password (renderers/postgres.postgres_healthcheck).
        "tests": ["CMD-SHELL", postgres_healthcheck_script(PostgresSettings(version="18.1", user="app", database="app"))],
        "interval": "10s",
        "timeout": "5s",
        "retries": 5,
        "startPeriod": "30s",
    }
    # Fast shutdown checkpoints; Docker's default 10 s would cut it short.
    assert container.inputs["destroyGraceSeconds"] == 60
    assert container.inputs["shmSize"] == 128


@pulumi.runtime.test
async def test_digest_pin_keeps_the_alpine_tag_before_the_digest():
    monitor, _ = await build(lambda: bridge_db(version=f"18.1@{DIGEST}"))
    assert image_of(monitor, "database-postgres").inputs["name"] == f"postgres:18.1-alpine@{DIGEST}"


@pulumi.runtime.test
@pytest.mark.parametrize(
    ("version", "path"),
    [
        ("18.1", "/var/lib/postgresql"),
        ("18.0", "/var/lib/postgresql"),
        ("17.6", "/var/lib/postgresql/data"),
        ("16.10", "/var/lib/postgresql/data"),
    ],
)
async def test_data_volume_at_the_images_data_path(version: str, path: str):
    monitor, _ = await build(lambda: bridge_db(version=version))
    container = monitor.one("database-postgres")
    assert image_of(monitor, "database-postgres").inputs["name"] == f"postgres:{version}-alpine"
    assert container.inputs["volumes"] == [{"containerPath": path, "volumeName": "database-data"}]


@pulumi.runtime.test
@pytest.mark.parametrize("protect", [True, False])
async def test_volume_protection_follows_protect_data(protect: bool):
    monitor, _ = await build(lambda: bridge_db(protect_data=protect))
    volume = monitor.one("database-data")
    assert volume.type == "docker:index/volume:Volume"
    assert volume.inputs == {"name": "database-data"}
    assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    # The container itself is replaceable whatever protect_data says.
    assert monitor.one("database-postgres").protect is False


@pulumi.runtime.test
async def test_env_is_secret_and_carries_generated_password():
    monitor, _ = await build(bridge_db)
    password = monitor.one("database-password")
    assert password.type == "random:index/randomPassword:RandomPassword"
    assert password.inputs["length"] == 32 and password.inputs["special"] is False
    assert env_of(monitor.one("database-postgres")) == {
        "POSTGRES_USER": "app",
        "POSTGRES_DB": "app",
        "POSTGRES_PASSWORD": GENERATED,
        "POSTGRES_INITDB_ARGS": "--auth-local=scram-sha-256 --auth-host=scram-sha-256",
        "PGPORT": "5432",
    }


@pulumi.runtime.test
async def test_given_password_is_used_and_nothing_is_generated():
    monitor, db = await build(lambda: bridge_db(password="GivenPassw0rd"))
    assert monitor.by_type("random:index/randomPassword:RandomPassword") == []
    assert env_of(monitor.one("database-postgres"))["POSTGRES_PASSWORD"] == "GivenPassw0rd"
    assert await resolve(db.password) == ("GivenPassw0rd", True)


@pulumi.runtime.test
async def test_bridge_network_publishes_only_on_loopback():
    monitor, _ = await build(bridge_db)
    container = monitor.one("database-postgres")
    assert published(container) == {(5432, "tcp", "127.0.0.1")}
    assert container.inputs["networksAdvanced"] == [{"name": "net", "aliases": ["postgres"]}]
    assert "networkMode" not in container.inputs
    # Inside its own network namespace postgres may listen everywhere: the publish decides exposure.
    assert "listen_addresses=0.0.0.0" in container.inputs["command"]


@pulumi.runtime.test
async def test_host_network_publishes_nothing_listens_on_loopback_and_pulls_the_platform():
    monitor, db = await build(lambda: Database("database", DatabaseArgs(network=HostNetwork(), platform="linux/arm64")))
    container = monitor.one("database-postgres")
    assert image_of(monitor, "database-postgres").inputs["platform"] == "linux/arm64"
    assert container.inputs["networkMode"] == "host"
    for key in ("ports", "networksAdvanced", "hosts"):
        assert not container.inputs.get(key), key
    assert "listen_addresses=127.0.0.1" in container.inputs["command"]
    assert await resolve(db.internal_address) == ("127.0.0.1:5432", False)


@pulumi.runtime.test
async def test_outputs_password_and_url_are_secret():
    _, db = await build(bridge_db)
    assert await resolve(db.url) == (f"postgresql://app:{GENERATED}@127.0.0.1:5432/app", True)
    assert await resolve(db.password) == (GENERATED, True)
    assert await resolve(db.host) == ("127.0.0.1", False)
    assert await resolve(db.port) == (5432, False)
    assert await resolve(db.database) == ("app", False)
    assert await resolve(db.user) == ("app", False)
    assert await resolve(db.internal_address) == ("postgres:5432", False)


@pulumi.runtime.test
async def test_custom_port_reaches_server_probe_env_and_publish():
    monitor, db = await build(lambda: bridge_db(port=5433, database="orders", user="svc"))
    container = monitor.one("database-postgres")
    assert "port=5433" in container.inputs["command"]
    kind, probe = container.inputs["healthcheck"]["tests"]
    assert kind == "CMD-SHELL"
    assert 'PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -w -At -h 127.0.0.1 -p 5433 -U svc -d orders' \
        in probe
    assert env_of(container)["PGPORT"] == "5433"
    assert published(container) == {(5433, "tcp", "127.0.0.1")}
    assert (await resolve(db.url))[0] == f"postgresql://svc:{GENERATED}@127.0.0.1:5433/orders"


@pulumi.runtime.test
async def test_memory_change_touches_only_container_limits_and_sizing():
    diff, old, new = await changes(bridge_db, lambda: bridge_db(memory_mb=1024))
    assert diff == {"database-postgres": {"memory", "memorySwap", "shmSize", "command"}}
    before, after = old["database-postgres"], new["database-postgres"]
    assert (after["memory"], after["memorySwap"], after["shmSize"]) == (1024, 1024, 256)
    changed_args = {a for a in after["command"] if a not in before["command"]}
    assert changed_args == {"shared_buffers=256MB", "effective_cache_size=768MB"}


@pulumi.runtime.test
async def test_major_version_change_touches_only_image_and_data_path_after_the_check():
    diff, _, new = await changes(bridge_db, lambda: bridge_db(version="17.6"))
    assert diff == {
        "database-postgres-image": {"name"},
        "database-postgres": {"image", "volumes"},
        # Re-run with the new image against the volume, before the old container is deleted.
        "database-version-check": {"triggers", "create", "update"},
    }
    assert new["database-postgres-image"]["name"] == "postgres:17.6-alpine"
    assert "postgres:17.6-alpine" in new["database-version-check"]["create"]


@pulumi.runtime.test
async def test_the_container_waits_for_the_checks_and_the_password_rotation():
    monitor, _ = await build(bridge_db)
    container = monitor.one("database-postgres")
    check, rotation = monitor.one("database-version-check"), monitor.one("database-password-rotation")
    assert {check.urn, rotation.urn} <= set(container.dependencies)
    # The password goes over stdin and into the triggers, secret in both.
    assert rpc.is_rpc_secret(rotation.inputs["stdin"]) and rpc.is_rpc_secret(rotation.inputs["triggers"])
    assert "docker exec -i database-postgres" in harness.unwrap(rotation.inputs["create"])
    assert {"stdin", "stdout", "stderr"} <= set(rotation.additional_secret_outputs)
    assert container.inputs["stopTimeout"] == 60 and container.inputs["destroyGraceSeconds"] == 60


@pulumi.runtime.test
async def test_pg_stat_statements_is_preloaded_only_when_listed():
    monitor, _ = await build(lambda: bridge_db(extensions=("pgcrypto", "pg_stat_statements")))
    command = monitor.one("database-postgres").inputs["command"]
    at = command.index("shared_preload_libraries=pg_stat_statements")
    assert command[at - 1] == "-c"
    monitor, _ = await build(lambda: bridge_db(extensions=("pgcrypto",)))
    assert not any("shared_preload_libraries" in arg for arg in monitor.one("database-postgres").inputs["command"])


@pulumi.runtime.test
async def test_the_init_file_checks_extensions_against_the_configured_major():
    with pytest.raises(ValueError, match="'pg_walinspect' is not shipped with PostgreSQL 14"):
        await build(lambda: bridge_db(version="14.20", extensions=("pg_walinspect",)))
    monitor, _ = await build(lambda: bridge_db(version="15.15", extensions=("pg_walinspect",)))
    assert monitor.one("database-postgres")
