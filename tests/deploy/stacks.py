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
    """What an earlier, interrupted run left on the engine under this stack's names."""
    names = declared_docker_names(stack, values)
    for name in names["docker:index/container:Container"]:
        api.call("DELETE", f"/containers/{name}", query={"force": "true", "v": "true"}, ok_missing=True)
    for name in names["docker:index/network:Network"]:
        api.call("DELETE", f"/networks/{name}", ok_missing=True)
    for name in names["docker:index/volume:Volume"]:
        api.call("DELETE", f"/volumes/{name}", ok_missing=True)


def deploy(stack: str, values: dict[str, Any], secret_keys: list[str] = (), previous: Deployment | None = None,
           **mock_options: Any) -> Deployment:
    """`pulumi up`, as far as it can run here (tests/deploy/engine.py says how far): from empty, or a
    second up over ``previous``, which then deletes what the program no longer declares."""
    if previous is not None:
        mock_options = {"ssh_key_file": previous.mocks.ssh_key_file,
                        "ssh_known_hosts": previous.mocks.ssh_known_hosts} | mock_options
    mocks = engine.EngineMocks(previous=list(previous.mocks.created) if previous else [], **mock_options)
    try:
        evaluation = harness.evaluate(stack, values, list(secret_keys), mocks=mocks, monitor_type=engine.EngineMonitor)
    except BaseException:
        if previous is None:
            engine.destroy(mocks.created, set())
        raise
    deployment = Deployment(stack, evaluation, mocks)
    engine.destroy(mocks.removed(), deployment.retained())
    return deployment


def docker(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=check, timeout=300)
