"""Deploy-path benchmark: how big and how deep each stack is, measured under mocks.

    venv/bin/python scripts/bench.py

For each stack it prints the number of resources, the longest chain of dependent
resources (the sequential create steps `pulumi up` must wait through), the sum of
container memory limits against the target's capacity, and the program's
evaluation time under mocks.
"""
from __future__ import annotations

import statistics
import sys
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.capacity import container_limits, target_capacity  # noqa: E402
from config.loader import parse_stack_config  # noqa: E402
from tests import harness  # noqa: E402

RUNS = 5


def longest_chain(run: harness.Evaluation) -> list[str]:
    """Longest path of custom resources, following dependencies, parents' dependencies and providers."""
    resources = {r.urn: r for r in run.monitor.registered}
    children: dict[str, list[str]] = {}
    for r in resources.values():
        children.setdefault(r.parent, []).append(r.urn)

    def custom_under(urn: str) -> list[str]:
        r = resources.get(urn)
        if r is None:
            return []
        if r.custom:
            return [urn]
        return [u for child in children.get(urn, []) for u in custom_under(child)]

    def waits_for(urn: str) -> set[str]:
        r = resources[urn]
        deps: set[str] = set()
        # Depending on a component means depending on everything inside it.
        for dep in r.dependencies:
            deps.update(custom_under(dep))
        if r.provider:
            deps.add(r.provider.rsplit("::", 1)[0])  # a provider reference is "<urn>::<id>"
        ancestor = r.parent
        while ancestor in resources:
            for dep in resources[ancestor].dependencies:
                deps.update(custom_under(dep))
            ancestor = resources[ancestor].parent
        return {d for d in deps if d in resources and d != urn}

    @cache
    def chain(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in waits_for(urn):
            candidate = chain(dep)
            if len(candidate) > len(best):
                best = candidate
        return (*best, urn)

    customs = [u for u, r in resources.items() if r.custom]
    return [u.rsplit("::", 1)[1] for u in max((chain(u) for u in customs), key=len)]


def bench(stack: str) -> None:
    cfg = parse_stack_config(harness.raw_config(harness.stack_config_as_user_sets_it(stack)))
    timings = []
    run = None
    for _ in range(RUNS):
        start = time.perf_counter()
        run = harness.evaluate(stack)
        timings.append(time.perf_counter() - start)
    assert run is not None
    customs = [r for r in run.monitor.registered if r.custom]
    chain = longest_chain(run)
    limits = container_limits(cfg)
    total_mb = sum(m for m, _ in limits.values())
    cap = target_capacity(cfg)
    print(f"stack {stack} (target {cfg.target})")
    print(f"  resources:             {len(run.monitor.registered)} ({len(customs)} custom, {len(run.monitor.registered) - len(customs)} components)")
    print(f"  longest create chain:  {len(chain)} steps: {' -> '.join(chain)}")
    print(f"  container memory:      {total_mb} MB of {cap.memory_mb} MB ({100 * total_mb / cap.memory_mb:.0f}%)")
    print(f"  evaluation under mocks: median {statistics.median(timings) * 1000:.0f} ms over {RUNS} runs")


if __name__ == "__main__":
    for name in sys.argv[1:] or ["dev", "prod"]:
        bench(name)
