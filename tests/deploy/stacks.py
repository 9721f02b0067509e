"""A stack deployed to the real engine by tests/deploy/engine.py, and torn down again."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from tests import harness
from tests.matrix.changes import secret_keys
from tests.deploy import engine, engine_api as api

DOCKER_TYPES = ("docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume")


@dataclass
class Deployment:
    stack: str
    evaluation: harness.Evaluation
    mocks: engine.EngineMocks

    @property
    def outputs(self) -> dict[str, Any]:
        return self.evaluation.outputs

    def containers(self) -> list[engine.Created]:
        return [c for c in self.mocks.created if c.type == "docker:index/container:Container"]

    def retained(self) -> set[str]:
        return {r.name for r in self.evaluation.monitor.registered if r.retain_on_delete}

    def destroy(self) -> None:
        engine.destroy(self.mocks.created, self.retained())


def declared_docker_names(stack: str, values: dict[str, Any]) -> dict[str, list[str]]:
    """The engine-side names the program would create, from a plain mock run (nothing touches the engine)."""
    monitor = harness.evaluate(stack, values, secret_keys(values)).monitor
    return {typ: [str(harness.unwrap(r.inputs)["name"]) for r in monitor.by_type(typ)] for typ in DOCKER_TYPES}


def remove_leftovers(stack: str, values: dict[str, Any]) -> None:
    """What an earlier, interrupted test run left on the engine under this stack's names. Anything of those
    names that these tests did not create (no engine.TEST_LABEL) is a user's own stack: refuse, touch nothing."""
    names = declared_docker_names(stack, values)
    kinds = (("docker:index/container:Container", "containers", lambda o: o["Config"].get("Labels")),
             ("docker:index/network:Network", "networks", lambda o: o.get("Labels")),
             ("docker:index/volume:Volume", "volumes", lambda o: o.get("Labels")))
    found = [(path, name, labels(obj)) for typ, path, labels in kinds for name in names[typ]
             if (obj := api.call("GET", f"/{path}/{name}" + ("/json" if path == "containers" else ""), ok_missing=True))]
    theirs = [f"{path[:-1]} {name}" for path, name, labels in found if engine.TEST_LABEL not in (labels or {})]
    if theirs:
        raise RuntimeError(
            f"this engine runs a {stack} stack that is not the tests' ({', '.join(theirs)}): the deploy tests use "
            f"the same names. Destroy it (scripts/stack {stack} destroy) or run the tests against another engine "
            "(DOCKER_HOST)."
        )
    for path, name, _ in found:
        query = {"force": "true", "v": "true"} if path == "containers" else None
        api.call("DELETE", f"/{path}/{name}", query=query, ok_missing=True)


def deploy(stack: str, values: dict[str, Any], secret_keys: list[str] = (), previous: Deployment | None = None,
           **mock_options: Any) -> Deployment:
    """`pulumi up`, as far as it can run here (tests/deploy/engine.py says how far): from empty, or a
    second up over ``previous``, which then deletes what the program no longer declares."""
    if previous is not None:
        mock_options = {"ssh_known_hosts": previous.mocks.ssh_known_hosts} | mock_options
    mocks = engine.EngineMocks(previous=list(previous.mocks.created) if previous else [], **mock_options)
    try:
        evaluation = harness.evaluate(stack, values, list(secret_keys), mocks=mocks, monitor_type=engine.EngineMonitor)
    except BaseException as err:
        if previous is None:
            engine.destroy(mocks.created, set())
            raise
        # A failed second up leaves both: what it created (a failed container included: the provider records
        # its id before waiting) and the previous resources it did not get to delete.
        raise UpFailed(previous, mocks) from err
    deployment = Deployment(stack, evaluation, mocks)
    # The engine's post-steps, once every step has completed: the old halves of create-before-delete
    # replacements, then what the program no longer declares (not registered now: its options are the last up's).
    engine.destroy(mocks.replaced, set())
    engine.destroy(mocks.removed(), previous.retained() if previous else set())
    return deployment


class UpFailed(RuntimeError):
    """A second `up` failed part way: the engine holds the previous up's resources and what this one created."""

    def __init__(self, previous: Deployment, mocks: engine.EngineMocks):
        super().__init__(f"up of {previous.stack} failed")
        self.previous = previous
        self.mocks = mocks

    def destroy(self) -> None:
        """Tear down both halves (the test's cleanup)."""
        kept = {(c.type, c.name, c.id) for c in self.mocks.created}
        engine.destroy(self.mocks.created, set())
        engine.destroy([c for c in self.previous.mocks.created if (c.type, c.name, c.id) not in kept], set())


def docker(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=check, timeout=300)
