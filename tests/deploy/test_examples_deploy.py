"""Every Docker-target example on the same engine, as a user would try one: up, healthy, a second up that
changes nothing, destroy. tests/deploy/engine.py says how far each step is the real thing."""
from __future__ import annotations

import pytest

from tests import examples
from tests.deploy import engine_api as api, provider_read, stacks

DOCKER_EXAMPLES = [e for e in examples.examples() if e.target == "docker"]


def test_there_are_docker_examples():
    assert {e.system for e in DOCKER_EXAMPLES} >= {"meeting", "homeiq", "cleanmatex", "triton"}


@pytest.mark.parametrize("example", DOCKER_EXAMPLES, ids=lambda e: e.stack)
def test_an_example_comes_up_healthy_changes_nothing_on_a_second_up_and_goes_away(example):
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    values = example.values()
    stacks.remove_leftovers(example.stack, values)
    first = stacks.deploy(example.stack, values)
    try:
        unhealthy = [c.name for c in first.containers()
                     if (api.inspect_container(c.id)["State"].get("Health") or {}).get("Status") != "healthy"]
        assert not unhealthy, f"{example.stack}: not healthy: {unhealthy}"
        disagreements = provider_read.second_up_disagreements(first.containers())
        assert not disagreements, "\n".join(disagreements)
        second = stacks.deploy(example.stack, values, previous=first)
        changed = {k: op for k, op in second.mocks.operations.items() if op != "same"}
        assert not changed, f"{example.stack}: a second up with the same config would change {changed}"
        first = second
    finally:
        first.destroy()
    names = stacks.declared_docker_names(example.stack, values)
    left = [n for n in names["docker:index/container:Container"] if api.inspect_container(n) is not None]
    assert not left, f"{example.stack}: containers left after destroy: {left}"
    # protectData: false in every Docker example: the volumes go with the stack (README "Tear down dev").
    assert values[f"{examples.NS}:protectData"] is False
    kept = [n for n in names["docker:index/volume:Volume"] if api.call("GET", f"/volumes/{n}", ok_missing=True)]
    kept += [n for n in names["docker:index/network:Network"] if api.call("GET", f"/networks/{n}", ok_missing=True)]
    assert not kept, f"{example.stack}: volumes or networks left after destroy: {kept}"
