"""Zero-downtime app rollouts on the real engine: real containers behind the real gateway, a client looping
requests through it while an `up` moves the app to a new revision.

What is real: the containers, Docker's healthchecks and `wait`, Docker's DNS for the revision's name, the
gateway's switch command writing the upstream file in the running Caddy, and the order in which the engine
applier carries the steps out, which follows the engine's (tests/deploy/engine.py): the new container is
created beside the old one (the program does not ask for delete_before_replace), the switch runs once the new
container's name resolves, i.e. once it is healthy, and the old one is deleted in the post-steps, after the
program has completed; a failed create cancels the post-steps, so the old one stays and keeps serving.

The app is the stand-in image (images/app-standin) of one of the examples' apps: it answers with the names of
its environment variables, so each answer says which revision served it (ROLLOUT_<n>).
"""
from __future__ import annotations

import copy
import re
import time

import pytest

from tests import harness
from tests.deploy import engine, engine_api as api, stacks
from tests.deploy.looping import looping

STACK = "dev"
NS = "backing-services"
APP = "weather-api"
APP_IMAGE = "ghcr.io/homeiq/weather-api:1.0.0"  # built by scripts/build-images from images/app-standin
APP_PORT = 8002  # the port that stand-in's tag listens on (images/pinned.py)
ROLLOUTS = 3
# Docker names of this app's revisions: <pulumi name>-<10 hex> (components/container.revision_name).
REVISION_NAME = re.compile(rf"\A/?{APP}-app-[0-9a-f]{{10}}\Z")


def rollout_values(revision: int, *, health_path: str = "/health") -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(STACK))
    for section in ("database", "cache", "objectStore", "mediaServer"):
        values[f"{NS}:{section}"] = {"enabled": False}
    values[f"{NS}:gateway"] = dict(values[f"{NS}:gateway"], routes=[])
    values[f"{NS}:apps"] = [{
        "name": APP,
        "image": APP_IMAGE,
        "port": APP_PORT,
        "env": {f"ROLLOUT_{revision}": "1"},
        "healthPath": health_path,
        "routes": [{"path": "/weather/*", "stripPrefix": True}],
        "rollout": "zero-downtime",
    }]
    return values


def app_containers() -> list[dict]:
    """Every container of the app's revisions the tests made, running or not."""
    found = api.call("GET", "/containers/json", query={"all": "true"}) or []
    return [c for c in found if engine.TEST_LABEL in (c.get("Labels") or {})
            and any(REVISION_NAME.match(n) for n in c.get("Names") or [])]


def remove_revisions() -> None:
    for c in app_containers():
        api.call("DELETE", f"/containers/{c['Id']}", query={"force": "true", "v": "true"}, ok_missing=True)


def wait_for(predicate, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    values = rollout_values(1)
    stacks.remove_leftovers(STACK, values)
    remove_revisions()
    deployment = stacks.deploy(STACK, values)
    ca = tmp_path_factory.mktemp("ca") / "caddy-root.crt"
    stacks.docker("cp", "gateway-caddy:/data/caddy/pki/authorities/local/root.crt", str(ca))
    state = {"deployment": deployment, "values": values, "ca": str(ca)}
    try:
        yield state
    finally:
        state["deployment"].destroy()
        stacks.remove_leftovers(STACK, state["values"])
        remove_revisions()


def serving(deployment: stacks.Deployment) -> str:
    app = next(c for c in deployment.containers() if c.name == f"{APP}-app")
    return str(app.inputs["name"])


def test_rollouts_move_the_route_and_not_one_request_fails(running):
    fresh = looping(running["ca"], fresh=True, path="/weather/")
    keep_alive = looping(running["ca"], fresh=False, path="/weather/")
    with fresh as client, keep_alive as kept:
        wait_for(lambda: len(client.answers) >= 5 and len(kept.answers) >= 5)
        for revision in range(2, 2 + ROLLOUTS):
            before = running["deployment"]
            old_name = serving(before)
            values = rollout_values(revision)
            after = stacks.deploy(STACK, values, previous=before)
            running["deployment"], running["values"] = after, values
            new_name = serving(after)
            assert new_name != old_name and REVISION_NAME.match(new_name)
            assert after.mocks.operations[("docker:index/container:Container", f"{APP}-app")] == "replace"
            # The old revision is gone after the up, the new one is the only one left.
            assert [n.lstrip("/") for c in app_containers() for n in c["Names"]] == [new_name]
            wait_for(lambda: client.answers[-1:] == kept.answers[-1:] == [f"ROLLOUT_{revision}"])
            mark = (len(client.answers), len(kept.answers))
            wait_for(lambda: len(client.answers) > mark[0] + 5 and len(kept.answers) > mark[1] + 5)
    assert not client.failures and not kept.failures, (client.failures[:5], kept.failures[:5])
    expected = [f"ROLLOUT_{n}" for n in range(1, 2 + ROLLOUTS)]
    assert client.revisions() == kept.revisions() == expected
    assert len(client.answers) > 20 and len(kept.answers) > 20


def test_a_new_revision_that_never_turns_healthy_leaves_the_old_one_serving_and_fails_the_up(running):
    before = running["deployment"]
    old_name = serving(before)
    # /nope: the stand-in answers 404 there, so the new revision's healthcheck never passes.
    values = rollout_values(99, health_path="/nope")
    with looping(running["ca"], fresh=True, path="/weather/") as client:
        wait_for(lambda: len(client.answers) >= 5)
        with pytest.raises(stacks.UpFailed) as failed:
            stacks.deploy(STACK, values, previous=before)
        assert "failed to be in healthy state" in str(failed.value.__cause__)
        mark = len(client.answers)
        wait_for(lambda: len(client.answers) > mark + 5)
    assert not client.failures, client.failures[:5]
    # Every answer, during and after the failed up, came from the old revision.
    assert len(set(client.answers)) == 1 and client.answers[0] != "ROLLOUT_99"
    names = sorted(n.lstrip("/") for c in app_containers() for n in c["Names"])
    # The old one runs on; the failed one stays (the provider recorded it before waiting) until removed.
    assert old_name in names and len(names) == 2
    assert api.inspect_container(old_name)["State"]["Running"] is True
    # The failed one is removed by hand, as the README tells a user; the stack stays on the old revision.
    for name in names:
        if name != old_name:
            api.call("DELETE", f"/containers/{name}", query={"force": "true", "v": "true"}, ok_missing=True)
    assert [n.lstrip("/") for c in app_containers() for n in c["Names"]] == [old_name]
