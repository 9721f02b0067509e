"""The whole dev stack, evaluated from Pulumi.dev.yaml under mocks."""
from __future__ import annotations

import pytest

from tests import harness

NS = harness.PROJECT
CONFIG_SECRETS = {"databasePassword": "DbFromConfig-7Qz9Lw2Xv", "cachePassword": "RedisFromConfig-8Kp3Nm5Tb"}


@pytest.fixture(scope="module")
def dev() -> harness.Evaluation:
    return harness.evaluate("dev")


@pytest.fixture(scope="module")
def dev_with_config_secrets() -> harness.Evaluation:
    values = harness.stack_config_as_user_sets_it("dev")
    values.update({f"{NS}:{k}": v for k, v in CONFIG_SECRETS.items()})
    return harness.evaluate("dev", values, secret_keys=[f"{NS}:{k}" for k in CONFIG_SECRETS])


def test_every_service_is_present(dev):
    components = {r.type.split(":")[-1] for r in dev.monitor.registered if not r.custom}
    assert components >= {"LocalDockerHost", "Database", "Cache", "ObjectStore", "MediaServer", "Gateway"}
    images = {harness.unwrap(r.inputs)["name"].split(":")[0] for r in dev.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    assert images == {"postgres", "redis", "versity/versitygw", "livekit/livekit-server", "livekit/egress", "caddy"}
    assert len(dev.monitor.by_type("docker:index/container:Container")) == 6


def test_every_container_is_hardened(dev):
    for c in dev.monitor.by_type("docker:index/container:Container"):
        inputs = harness.unwrap(c.inputs)
        assert inputs["restart"] == "unless-stopped", c.name
        assert inputs["healthcheck"]["tests"], c.name
        assert inputs["wait"] is True, c.name
        assert inputs["memory"] > 0 and inputs["memorySwap"] == inputs["memory"], c.name
        assert inputs["securityOpts"] == ["no-new-privileges:true"], c.name
        assert inputs["privileged"] is False, c.name
        assert inputs["logDriver"] == "json-file" and inputs["logOpts"]["max-size"], c.name
        assert c.delete_before_replace, c.name


def test_only_gateway_and_media_ports_are_public(dev):
    public = set()
    for c in dev.monitor.by_type("docker:index/container:Container"):
        for port in harness.unwrap(c.inputs).get("ports", []):
            assert port["ip"] in ("127.0.0.1", "0.0.0.0"), (c.name, port)
            if port["ip"] == "0.0.0.0":
                public.add((c.name, int(port["external"]), port["protocol"]))
    assert public == {
        ("gateway-caddy", 80, "tcp"),
        ("gateway-caddy", 443, "tcp"),
        ("media-livekit", 7881, "tcp"),
        ("media-livekit", 7882, "udp"),
    }


def test_stateful_paths_are_on_named_volumes(dev):
    mounts = {
        c.name: {v["containerPath"]: v["volumeName"] for v in harness.unwrap(c.inputs).get("volumes", [])}
        for c in dev.monitor.by_type("docker:index/container:Container")
    }
    assert mounts["database-postgres"] == {"/var/lib/postgresql": "database-data"}
    assert mounts["cache-redis"] == {"/data": "cache-data"}
    assert mounts["object-store-s3"] == {"/data": "object-store-data"}
    assert mounts["gateway-caddy"] == {"/data": "gateway-data"}


def test_no_secret_config_value_appears_in_plaintext(dev_with_config_secrets):
    run = dev_with_config_secrets
    generated = [
        harness.mock_password(r.name)
        for r in run.monitor.registered
        if r.type in ("random:index/randomPassword:RandomPassword",)
    ]
    secrets = list(CONFIG_SECRETS.values()) + generated
    # The config secrets really are used (otherwise this test could not fail).
    used = [s for s in CONFIG_SECRETS.values() if any(s in str(harness.unwrap(r.inputs)) for r in run.monitor.registered)]
    assert used == list(CONFIG_SECRETS.values())
    for r in run.monitor.registered:
        for text in harness.plaintext_strings(r.inputs):
            for secret in secrets:
                assert secret not in text, f"{r.urn} carries a secret in plaintext: {text[:80]!r}"


def test_credentials_are_exported_as_secrets(dev):
    assert dev.secret_outputs >= {
        "databaseUrl",
        "databasePassword",
        "redisUrl",
        "s3SecretAccessKey",
        "livekitApiSecret",
        "env",
    }
    assert "gatewayUrl" not in dev.secret_outputs


def test_urls_and_env(dev):
    out = dev.outputs
    assert out["gatewayUrl"] == "https://localhost"
    assert out["healthUrl"] == "https://localhost/health"
    assert out["livekitUrl"] == "wss://livekit.localhost"
    assert out["s3Endpoint"] == "http://127.0.0.1:9000"
    assert out["s3ForcePathStyle"] is True
    env = dict(line.split("=", 1) for line in out["env"].strip().splitlines())
    assert env["DATABASE_URL"] == out["databaseUrl"]
    assert env["REDIS_URL"] == out["redisUrl"]
    assert env["LIVEKIT_URL"] == "wss://livekit.localhost"
    assert set(env) == {
        "PUBLIC_URL", "DATABASE_URL", "REDIS_URL", "S3_ENDPOINT", "S3_REGION", "S3_BUCKET",
        "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "S3_FORCE_PATH_STYLE",
        "LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET",
    }


def test_dev_volumes_are_not_protected_so_destroy_works(dev):
    for v in dev.monitor.by_type("docker:index/volume:Volume"):
        assert not v.protect, v.name


def test_own_passwords_with_url_characters_are_escaped_in_urls():
    values = harness.stack_config_as_user_sets_it("dev")
    values[f"{NS}:databasePassword"] = "p@ss/w:rd"
    values[f"{NS}:cachePassword"] = "r@dis/pw"
    run = harness.evaluate("dev", values, secret_keys=[f"{NS}:databasePassword", f"{NS}:cachePassword"])
    assert run.outputs["databaseUrl"] == "postgresql://app:p%40ss%2Fw%3Ard@127.0.0.1:5432/app"
    assert run.outputs["redisUrl"] == "redis://default:r%40dis%2Fpw@127.0.0.1:6379/0"
    assert run.outputs["databasePassword"] == "p@ss/w:rd"


def test_livekit_waits_for_redis_and_egress_for_livekit_and_the_store(dev):
    urn = {r.name: r.urn for r in dev.monitor.registered}
    livekit, egress = dev.monitor.one("media-livekit"), dev.monitor.one("media-egress")
    assert urn["cache-redis"] in livekit.dependencies
    assert {urn["media-livekit"], urn["object-store-s3"], urn["cache-redis"]} <= set(egress.dependencies)
    # ...and nothing else in the media server waits for the cache.
    assert urn["cache-redis"] not in dev.monitor.one("media-livekit-image").dependencies
