"""Re-running is safe, and a change to one service touches only that service."""
from __future__ import annotations

import copy

import pytest

from tests import harness

NS = harness.PROJECT


def inputs_by_urn(run: harness.Evaluation) -> dict[str, dict]:
    return {harness.normalized_urn(r.urn): harness.unwrap(r.inputs) for r in run.monitor.registered}


def changed_resources(before: harness.Evaluation, after: harness.Evaluation) -> set[str]:
    a, b = inputs_by_urn(before), inputs_by_urn(after)
    assert a.keys() == b.keys(), "a config change must not add or remove resources here"
    return {urn.rsplit("::", 1)[1] for urn in a if a[urn] != b[urn]}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_evaluating_twice_gives_identical_inputs(stack):
    first, second = harness.evaluate(stack), harness.evaluate(stack)
    assert inputs_by_urn(first) == inputs_by_urn(second)
    print(f"\n{stack}: {len(first.monitor.registered)} resources, 0 changed on re-evaluation")


def _patched(stack: str, key: str, patch) -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:{key}"] = patch(values.get(f"{NS}:{key}", {}))
    return values


CHANGES = [
    # (stack, config key, patch, the only resources allowed to change)
    # The container's first-boot Caddyfile input changes but is ignored; the reload carries it (tests/test_change_matrix.py).
    ("dev", "gateway", lambda g: {**g, "routes": [*g["routes"][:-1], {"path": "/admin/*", "upstream": "host.docker.internal:3002"}, g["routes"][-1]]}, {"gateway-caddy", "gateway-reload"}),
    ("dev", "database", lambda d: {**d, "memoryMb": 1024}, {"database-postgres"}),
    ("dev", "cache", lambda c: {**c, "version": "7.4.5"}, {"cache-redis-image", "cache-redis"}),
    ("dev", "mediaServer", lambda m: {**m, "egress": {**m["egress"], "memoryMb": 3072}}, {"media-egress"}),
    ("dev", "objectStore", lambda o: {**o, "buckets": [*o["buckets"], "avatars"]}, {"object-store-s3"}),
    ("prod", "gateway", lambda g: {**g, "acmeStaging": False}, {"gateway-caddy", "gateway-reload"}),
    ("prod", "database", lambda d: {**d, "memoryMb": 3072}, {"database-postgres"}),
]


@pytest.mark.parametrize("stack,key,patch,allowed", CHANGES, ids=[f"{c[0]}-{c[1]}" for c in CHANGES])
def test_a_change_to_one_service_touches_only_that_service(stack, key, patch, allowed):
    before = harness.evaluate(stack)
    after = harness.evaluate(stack, _patched(stack, key, patch))
    changed = changed_resources(before, after)
    print(f"\n{stack} {key}: {len(changed)} of {len(before.monitor.registered)} resources changed: {sorted(changed)}")
    assert changed == allowed
