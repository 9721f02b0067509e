"""The dev stack from empty on the real Docker engine, each exported output used by a real client, then destroyed.

How far this is a real `pulumi up`: tests/deploy/engine.py (the program runs under the SDK's mock monitor; each
registration is carried out on the engine as the provider's Create does it).
"""
from __future__ import annotations

import subprocess
import uuid
from urllib.parse import urlparse

import pytest

from tests import harness
from tests.deploy import clients, engine_api as api, provider_read, stacks

STACK = "dev"


def dev_values() -> dict:
    return harness.stack_config_as_user_sets_it(STACK)


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    stacks.remove_leftovers(STACK, dev_values())
    deployment = stacks.deploy(STACK, dev_values())
    yield deployment
    deployment.destroy()


@pytest.fixture(scope="module")
def caddy_root(dev, tmp_path_factory):
    """Caddy's local root certificate, fetched the way the README tells a user to."""
    path = tmp_path_factory.mktemp("ca") / "caddy-root.crt"
    stacks.docker("cp", "gateway-caddy:/data/caddy/pki/authorities/local/root.crt", str(path))
    return path


def test_every_container_is_running_and_healthy(dev):
    containers = dev.containers()
    assert containers, "the dev stack created no container"
    for c in containers:
        state = api.inspect_container(c.id)["State"]
        assert state["Running"], f"{c.name} is not running: {state}"
        assert state["Health"]["Status"] == "healthy", f"{c.name}: {state['Health']}"


def test_the_engine_holds_the_limits_the_program_asked_for(dev):
    for c in dev.containers():
        host = api.inspect_container(c.id)["HostConfig"]
        assert host["Memory"] == int(c.inputs["memory"]) * 1024 * 1024, c.name
        assert host["NanoCpus"] == round(float(c.inputs["cpus"]) * 1e9), c.name
        assert host["RestartPolicy"]["Name"] == "unless-stopped", c.name
        assert "no-new-privileges:true" in host["SecurityOpt"], c.name


def test_postgres_answers_at_the_exported_url(dev):
    url = dev.outputs["databaseUrl"]
    assert clients.psql(url, "select current_user") == dev.outputs["databaseUser"]
    assert clients.psql(url, "select current_database()") == dev.outputs["databaseName"]


def test_redis_answers_at_the_exported_url_with_auth(dev):
    url = dev.outputs["redisUrl"]
    assert clients.redis(url, "PING") == "PONG"
    key = f"tests:{uuid.uuid4().hex}"
    assert clients.redis(url, "SET", key, "v") == "OK"
    assert clients.redis(url, "GET", key) == "v"


def test_redis_refuses_a_wrong_password(dev):
    url = dev.outputs["redisUrl"]
    password = urlparse(url).password
    done = subprocess.run(["redis-cli", "--no-auth-warning", "-u", url.replace(password, "wrong"), "PING"],
                                  capture_output=True, text=True)
    assert "PONG" not in done.stdout
    assert "WRONGPASS" in done.stdout + done.stderr


def test_s3_put_get_and_list_on_every_bucket_with_the_exported_keys(dev):
    s3 = clients.s3(dev.outputs)
    for bucket in dev.outputs["s3Buckets"]:
        key = f"tests/{uuid.uuid4().hex}.txt"
        s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tests/").get("Contents", [])]
        assert key in listed, bucket


def test_the_gateway_answers_health_over_https_trusting_caddys_local_ca(dev, caddy_root):
    code, body = clients.https_get(dev.outputs["healthUrl"], caddy_root)
    assert (code, body.strip()) == (200, "OK")


def test_livekits_server_api_answers_through_the_gateway_with_a_token_signed_by_the_exported_key(dev, caddy_root):
    base = dev.outputs["livekitUrl"].replace("wss://", "https://")
    key, secret = dev.outputs["livekitApiKey"], dev.outputs["livekitApiSecret"]
    room = f"tests-{uuid.uuid4().hex[:8]}"
    code, body = clients.livekit_twirp(base, caddy_root, key, secret, "CreateRoom", {"name": room}, {"roomCreate": True})
    assert code == 200, body
    code, body = clients.livekit_twirp(base, caddy_root, key, secret, "ListRooms", {}, {"roomList": True})
    assert code == 200 and room in body, body
    # A token signed with another secret is refused.
    code, _ = clients.livekit_twirp(base, caddy_root, key, "x" * 48, "ListRooms", {}, {"roomList": True})
    assert code == 401



def test_a_second_up_plans_no_change_to_any_container_from_what_the_engine_stores(dev):
    """The provider model's no-change claim, now against what the real engine stores (provider_read.py)."""
    disagreements = provider_read.second_up_disagreements(dev.containers())
    assert not disagreements, "\n".join(disagreements)


def test_destroy_leaves_no_container_network_or_volume_of_the_stack(dev):
    """Last in this file: `destroy` of dev removes every container, the network and, with `protectData: false`
    (Pulumi.dev.yaml), the volumes too, as README "Tear down dev" says."""
    assert dev_values()[f"{harness.PROJECT}:protectData"] is False
    dev.destroy()
    names = stacks.declared_docker_names(STACK, dev_values())
    assert names["docker:index/volume:Volume"], "dev declares no volume: nothing to check"
    left = [n for n in names["docker:index/container:Container"] if api.inspect_container(n) is not None]
    left += [n for n in names["docker:index/volume:Volume"] if api.call("GET", f"/volumes/{n}", ok_missing=True)]
    left += [n for n in names["docker:index/network:Network"] if api.call("GET", f"/networks/{n}", ok_missing=True)]
    assert not left, f"left after destroy: {left}"
