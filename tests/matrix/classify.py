"""What a real `pulumi up` would do to each resource when one config value changes.

Two evaluations of the program under mocks (before and after the change) give the
inputs; the provider model (tests/providers) says, for the previous inputs, what the
provider stored, and for each changed field whether it is updated, replaced or
dropped. The result is the change matrix the README's "What happens when I change X"
table is generated from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from config import ConfigError, parse_stack_config
from tests import harness
from tests.providers import REGISTRY, docker
from tests.providers.model import outcome, planned_changes, read_back

Outcome = str  # "create" | "delete" | "replace" | "update" | "dropped" | "state"


@dataclass(frozen=True)
class ResourceEffect:
    name: str
    type: str
    outcome: Outcome
    fields: tuple[str, ...]  # the changed input paths behind the outcome
    stateful: str | None  # why replacing or deleting it loses or interrupts data
    protected: bool

    @property
    def runs_on_data(self) -> bool:
        """A container whose data lives on a volume: replacing it restarts it, the data stays."""
        return self.stateful is not None and self.type == docker.CONTAINER.type

    @property
    def loses_data(self) -> bool:
        """Replacing or deleting it takes the data with it (a volume, a bucket, the VM)."""
        return self.stateful is not None and not self.runs_on_data and self.outcome in ("replace", "delete")


@dataclass
class Verdict:
    refused: str | None = None  # the loader's ConfigError, when the change is refused up front
    effects: list[ResourceEffect] = field(default_factory=list)

    def of(self, name: str) -> ResourceEffect | None:
        return next((e for e in self.effects if e.name == name), None)


def _by_urn(run: harness.Evaluation) -> dict[str, harness.Registered]:
    return {harness.normalized_urn(r.urn): r for r in run.monitor.registered if r.custom}


def _effect(r: harness.Registered, kind: Outcome, paths: tuple[str, ...]) -> ResourceEffect:
    facts = REGISTRY[r.type]
    return ResourceEffect(
        name=r.name,
        type=r.type,
        outcome=kind,
        fields=paths,
        stateful=facts.stateful(harness.unwrap(r.inputs)),
        protected=r.protect,
    )


def compare(before: harness.Evaluation, after: harness.Evaluation) -> Verdict:
    old, new = _by_urn(before), _by_urn(after)
    verdict = Verdict()
    for urn in sorted(old.keys() - new.keys()):
        verdict.effects.append(_effect(old[urn], "delete", ()))
    for urn in sorted(new.keys() - old.keys()):
        verdict.effects.append(_effect(new[urn], "create", ()))
    for urn in sorted(old.keys() & new.keys()):
        prev, cur = old[urn], new[urn]
        facts = REGISTRY[cur.type]
        state = read_back(harness.unwrap(prev.inputs), facts)
        changes = planned_changes(
            state,
            harness.unwrap(cur.inputs),
            facts,
            ignore_changes=cur.ignore_changes,
            replace_on_changes=cur.replace_on_changes,
        )
        kind = outcome(changes)
        if kind is not None:
            verdict.effects.append(_effect(cur, kind, tuple(sorted(p for p, c in changes.items() if c == kind))))
    return verdict


def evaluate_change(stack: str, values: dict, secret_keys: list[str], baseline: harness.Evaluation) -> Verdict:
    secret = frozenset(k.split(":", 1)[1] for k in secret_keys)
    try:
        parse_stack_config(harness.raw_config(values), secret)
        after = harness.evaluate(stack, values, secret_keys)
    except ConfigError as err:  # the loader's, or the target's (an unreadable key file)
        return Verdict(refused=str(err.problems[0]))
    return compare(baseline, after)
