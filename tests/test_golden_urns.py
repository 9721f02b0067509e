"""Resource names are part of the contract: a rename without an alias would delete and
recreate the resource (for a volume or bucket: lose its data). These lists catch that.

After an intended change, add an alias for any renamed resource and regenerate with
`UPDATE_GOLDEN=1 scripts/test tests/test_golden_urns.py`.
"""
from __future__ import annotations

import os

import pytest

from tests import harness

GOLDEN = harness.ROOT / "tests" / "golden"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_urns_match_the_golden_list(stack):
    run = harness.evaluate(stack)
    urns = sorted(harness.normalized_urn(r.urn) for r in run.monitor.registered)
    path = GOLDEN / f"{stack}.urns"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text("\n".join(urns) + "\n")
    expected = path.read_text().split()
    missing = sorted(set(expected) - set(urns))
    added = sorted(set(urns) - set(expected))
    assert not missing and not added, (
        f"{stack} URNs changed.\n  gone (would be DELETED): {missing}\n  new: {added}\n"
        "If this is a rename, add `aliases=[...]` to the resource; then regenerate the list (see module docstring)."
    )


# Examples whose stateful names are a team's contract: the OzMirror Pi keeps the seed's volume names
# (config-data, clock-data) next to the services' own.
GOLDEN_EXAMPLES = ["ozmirror-pi"]


@pytest.mark.parametrize("stack", GOLDEN_EXAMPLES)
def test_example_urns_match_the_golden_list(stack):
    from tests import examples

    (example,) = [e for e in examples.examples() if e.stack == stack]
    run = examples.evaluate(example)
    urns = sorted(harness.normalized_urn(r.urn) for r in run.monitor.registered)
    path = GOLDEN / f"{stack}.urns"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text("\n".join(urns) + "\n")
    expected = path.read_text().split()
    missing = sorted(set(expected) - set(urns))
    added = sorted(set(urns) - set(expected))
    assert not missing and not added, (
        f"{stack} URNs changed.\n  gone (would be DELETED): {missing}\n  new: {added}\n"
        "If this is a rename, add `aliases=[...]` to the resource; then regenerate the list (see module docstring)."
    )
    # The Docker names themselves, which `docker volume ls` shows and the URNs alone do not pin.
    volumes = {harness.unwrap(v.inputs)["name"] for v in run.monitor.by_type("docker:index/volume:Volume")}
    assert {"config-data", "clock-data"} <= volumes, volumes
