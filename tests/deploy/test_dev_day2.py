"""Day 2 on the real engine: a sample of the change matrix's rows, one `up` after another on a running dev
stack, with data written before the first change.

The operation on each resource comes from the provider model (tests/deploy/engine.py says why); what is
real is everything the engine does with it: a replaced container comes back on the same volumes, the
password rotation runs inside the running PostgreSQL, Caddy loads the new routes in place, versitygw gets
its new bucket, the new image runs. After each step the row, the Redis key and the object written before
the first change must still be there, read with the credentials the stack exports *now*.
"""
from __future__ import annotations

import copy
import subprocess
import uuid

import pytest

from renderers.caddyfile import ADMIN_SOCKET
from tests import harness
from tests.deploy import clients, engine_api as api, stacks
from tests.matrix.changes import CHANGES, Change, _set, secret_keys

STACK = "dev"
# (matrix row key, what the step shows on the engine)
SAMPLE = (
    "gateway.routes",  # a route
    "objectStore.memoryMb",  # a memory limit, in place
    "cache.memoryMb",  # a memory limit that also changes redis.conf's maxmemory: a replacement
    "databasePassword",  # the database password
    "cachePassword",  # the cache password
    "objectStore.buckets",  # a new bucket
    "cache.version",  # an image patch version
)
ROW = f"kept-{uuid.uuid4().hex[:8]}"


def matrix_row(key: str) -> Change:
    return next(c for c in CHANGES if c.key == key and c.stack == STACK)


def build_patch_release(pinned: str, patched: str) -> None:
    """The next patch release of an image, as a user would pull it: another name and another image id.
    Built here from the pinned one (there is no registry), with one label so its id differs."""
    dockerfile = f"FROM {pinned}\nLABEL backing-services.test=patch-release\n"
    done = subprocess.run(["docker", "build", "-q", "-t", patched, "-"], input=dockerfile,
                                  capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def running():
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    values = harness.stack_config_as_user_sets_it(STACK)
    stacks.remove_leftovers(STACK, values)
    deployment = stacks.deploy(STACK, values)
    state = {"deployment": deployment, "values": values}
    out = deployment.outputs
    clients.psql(out["databaseUrl"], f"CREATE TABLE day2 (v text); INSERT INTO day2 VALUES ('{ROW}')")
    assert clients.redis(out["redisUrl"], "SET", "day2", ROW) == "OK"
    clients.s3(out).put_object(Bucket=out["s3Bucket"], Key="day2.txt", Body=ROW.encode())
    yield state
    state["deployment"].destroy()
    stacks.remove_leftovers(STACK, state["values"])


def data_still_there(outputs: dict) -> None:
    assert clients.psql(outputs["databaseUrl"], "SELECT v FROM day2") == ROW
    assert clients.redis(outputs["redisUrl"], "GET", "day2") == ROW
    body = clients.s3(outputs).get_object(Bucket=outputs["s3Bucket"], Key="day2.txt")["Body"].read()
    assert body.decode() == ROW


def apply(running: dict, key: str) -> stacks.Deployment:
    change = matrix_row(key)
    values = copy.deepcopy(running["values"])
    _set(values, change.key, change.value)
    before = running["deployment"]
    after = stacks.deploy(STACK, values, secret_keys(values), previous=before)
    running["deployment"], running["values"] = after, values
    return after


def container(deployment: stacks.Deployment, name: str) -> dict:
    found = next(c for c in deployment.containers() if c.name == name)
    return api.inspect_container(found.id)


def test_a_route_reaches_the_running_caddy_without_replacing_it(running):
    before = container(running["deployment"], "gateway-caddy")["Id"]
    after = apply(running, "gateway.routes")
    assert container(after, "gateway-caddy")["Id"] == before, "the gateway was replaced for a route"
    # The config the running Caddy serves from, read from its admin socket (renderers/caddyfile.py ADMIN_SOCKET).
    loaded = stacks.docker("exec", "gateway-caddy", "curl", "-sS", "--unix-socket", ADMIN_SOCKET, "http://localhost/config/").stdout
    assert "/admin/*" in loaded, "the running Caddy did not load the new route"
    data_still_there(after.outputs)


def test_a_memory_limit_is_applied_to_the_running_object_store_in_place(running):
    before = container(running["deployment"], "object-store-s3")["Id"]
    after = apply(running, "objectStore.memoryMb")
    now = container(after, "object-store-s3")
    assert now["HostConfig"]["Memory"] == 384 * 1024 * 1024
    assert now["Id"] == before, "memory alone is an in-place update (ContainerUpdate), not a replacement"
    data_still_there(after.outputs)


def test_redis_memory_replaces_the_container_and_keeps_its_data(running):
    """cache.memoryMb is also redis.conf's maxmemory, an upload: the container is replaced on the same volume."""
    before = container(running["deployment"], "cache-redis")["Id"]
    after = apply(running, "cache.memoryMb")
    now = container(after, "cache-redis")
    assert now["HostConfig"]["Memory"] == 384 * 1024 * 1024 and now["Id"] != before
    data_still_there(after.outputs)


def test_a_new_database_password_is_set_inside_the_running_postgres(running):
    old_url = running["deployment"].outputs["databaseUrl"]
    after = apply(running, "databasePassword")
    new_url = after.outputs["databaseUrl"]
    assert new_url != old_url and "N3w-Pa55word-from-config" in new_url
    data_still_there(after.outputs)
    refused = subprocess.run(["psql", old_url, "-tAc", "select 1"], capture_output=True, text=True)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_a_new_cache_password_is_the_only_one_redis_accepts(running):
    old_url = running["deployment"].outputs["redisUrl"]
    after = apply(running, "cachePassword")
    assert "N3w-Redis-pa55word" in after.outputs["redisUrl"]
    data_still_there(after.outputs)
    refused = subprocess.run(["redis-cli", "--no-auth-warning", "-u", old_url, "PING"], capture_output=True, text=True)
    assert "PONG" not in refused.stdout


def test_a_new_bucket_takes_objects_and_the_old_ones_keep_theirs(running):
    after = apply(running, "objectStore.buckets")
    assert "avatars" in after.outputs["s3Buckets"]
    s3 = clients.s3(after.outputs)
    s3.put_object(Bucket="avatars", Key="a.txt", Body=b"a")
    assert s3.get_object(Bucket="avatars", Key="a.txt")["Body"].read() == b"a"
    data_still_there(after.outputs)


def test_an_image_patch_version_runs_the_new_image_on_the_same_data(running):
    row = matrix_row("cache.version")
    old = container(running["deployment"], "cache-redis")
    pinned = next(c.inputs["name"] for c in running["deployment"].mocks.created
                  if c.type == "docker:index/remoteImage:RemoteImage" and c.name == "cache-redis-image")
    patched = f"redis:{row.value}-alpine"
    build_patch_release(pinned, patched)
    after = apply(running, "cache.version")
    new = container(after, "cache-redis")
    assert new["Id"] != old["Id"] and new["Image"] == api.image_id(patched) != old["Image"]
    data_still_there(after.outputs)
