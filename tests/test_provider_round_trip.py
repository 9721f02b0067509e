"""A second `pulumi up` changes nothing, as the real providers see it.

Every input the program sends, passed through what the pinned provider stores after
create (tests/providers), must compare equal to the same input sent again. The mocks
alone cannot show this: they hand every input back unchanged.
"""
from __future__ import annotations

import pytest

from tests import harness
from tests.providers import REGISTRY
from tests.providers.docker import nano_cpus_to_decimal_string
from tests.providers.model import flatten, planned_changes, read_back
from tests import examples
from tests.test_stack_apps import with_app


EXAMPLES = {e.id: e for e in examples.examples()}


@pytest.fixture(scope="module", params=["dev", "prod", "dev+app", "prod+app", *EXAMPLES])
def run(request) -> harness.Evaluation:
    """The checked-in stacks, each with a team's own app (its container, image and routes) added, and every
    example stack (PgBouncer, init SQL, ClickHouse, InfluxDB, the existing-host target)."""
    if request.param in EXAMPLES:
        return examples.evaluate(EXAMPLES[request.param])
    stack, _, app = request.param.partition("+")
    return with_app(stack) if app else harness.evaluate(stack)


def test_every_sent_input_has_a_provider_fact(run):
    unmodelled = []
    for r in run.monitor.registered:
        if not r.custom:
            continue
        facts = REGISTRY[r.type]
        for path in flatten(harness.unwrap(r.inputs), facts):
            try:
                facts.fact(path)
            except KeyError as err:
                unmodelled.append(str(err))
    assert not unmodelled, "\n".join(unmodelled)


def test_a_second_up_plans_no_change(run):
    drift = {}
    for r in run.monitor.registered:
        if not r.custom:
            continue
        facts = REGISTRY[r.type]
        inputs = harness.unwrap(r.inputs)
        changes = planned_changes(
            read_back(inputs, facts), inputs, facts, ignore_changes=r.ignore_changes, replace_on_changes=r.replace_on_changes
        )
        if changes:
            drift[r.name] = changes
    assert not drift, f"the provider would change these on every `pulumi up`: {drift}"


# The model's own facts, checked against the provider's Go code run on these inputs
# (helpers.go:133-149@v4.5.0, executed with Go 1.19 on this machine).
GO_NANO_CPUS = {
    500_000_000: "0.5",
    1_000_000_000: "1.0",
    2_000_000_000: "2.0",
    10_000_000_000: "10.",
    20_000_000_000: "20.",
    1_500_000_000: "1.5",
    250_000_000: "0.25",
    50_000_000: "0.1",
    10_000_000: "0.0",
}


@pytest.mark.parametrize("nanos,text", GO_NANO_CPUS.items())
def test_cpus_read_back_model_matches_the_providers_go_code(nanos, text):
    assert nano_cpus_to_decimal_string(nanos) == text


def test_the_model_sees_the_cpus_drift_a_real_provider_causes():
    """What this program sent before the fix ("1") replaces the container on the next run."""
    facts = REGISTRY["docker:index/container:Container"]
    sent = {"cpus": "1"}
    assert planned_changes(read_back(sent, facts), sent, facts) == {"cpus": "replace"}
