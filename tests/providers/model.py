"""A model of how the real providers treat what this program sends.

The Pulumi mocks hand every input back unchanged, so under them a second `up` can
never show a diff. A real provider stores the value it reads back from its API (the
docker provider stores `cpus` as Docker reports NanoCPUs, not as sent) and decides,
field by field, whether a changed value is updated in place, forces a replacement,
or is stored without ever reaching the running thing. Each fact here carries the
upstream file, line and tag it was read from; `tests/providers/docker.py`,
`oci.py` and `others.py` hold the facts, this module only applies them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# update: applied to the running resource in place.
# replace: the provider deletes and recreates the resource (ForceNew / RequiresReplace).
# dropped: neither updatable nor force-new: the new value lands in state, the resource never sees it.
# state: a setting of the provider's own (timeouts, wait flags): stored, used by later operations, nothing to apply.
Change = Literal["update", "replace", "dropped", "state"]


def same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Fact:
    change: Change
    source: str  # "<upstream path>:<line>@<tag>"
    read_back: Callable[[Any], Any] = same  # what the provider stores after create, from what was sent
    unordered: bool = False  # a set in the provider's schema: order never makes a diff


@dataclass(frozen=True)
class ResourceFacts:
    type: str  # Pulumi type token
    fields: Mapping[str, Fact]  # engine-form path ("healthcheck.interval", "metadata.user_data") -> fact
    # Why replacing this resource loses or interrupts data, or None when it holds none.
    stateful: Callable[[Mapping[str, Any]], str | None] = lambda inputs: None

    def fact(self, path: str) -> Fact:
        """The fact for ``path``, or for its nearest modelled parent (a block modelled as a whole)."""
        probe = path
        while True:
            if probe in self.fields:
                return self.fields[probe]
            if "." not in probe:
                raise KeyError(f"{self.type}: no provider fact for input {path!r}; read the provider source and add one")
            probe = probe.rsplit(".", 1)[0]


def flatten(inputs: Mapping[str, Any], facts: ResourceFacts, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted paths down to the level the facts are written at; lists stay whole."""
    flat: dict[str, Any] = {}
    for key, value in inputs.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in facts.fields:
            flat |= flatten(value, facts, f"{path}.")
        else:
            flat[path] = value
    return flat


def read_back(inputs: Mapping[str, Any], facts: ResourceFacts) -> dict[str, Any]:
    """The state a real provider keeps after creating the resource from ``inputs``."""
    return {path: facts.fact(path).read_back(value) for path, value in flatten(inputs, facts).items()}


def _canonical(value: Any) -> Any:
    """A hashable, order-free form of a set element (dicts and lists inside it keep their meaning)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_canonical(v) for v in value)
    return value


def _equal(fact: Fact, old: Any, new: Any) -> bool:
    if fact.unordered and isinstance(old, list) and isinstance(new, list):
        return sorted(map(repr, map(_canonical, old))) == sorted(map(repr, map(_canonical, new)))
    return old == new


def _ignored(path: str, ignore_changes: list[str]) -> bool:
    return any(path == p or path.startswith(f"{p}.") for p in ignore_changes)


def planned_changes(
    state: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    facts: ResourceFacts,
    *,
    ignore_changes: list[str] = (),
    replace_on_changes: list[str] = (),
) -> dict[str, Change]:
    """What the provider does with each path whose new value differs from the stored one.

    ``state`` is what ``read_back`` gave for the previous inputs. The provider compares the
    value as sent against the value it stored, so a read-back form that differs from the
    sent form is a change on every run.
    """
    new = flatten(new_inputs, facts)
    changes: dict[str, Change] = {}
    for path in sorted(set(state) | set(new)):
        if _ignored(path, list(ignore_changes)):
            continue
        fact = facts.fact(path)
        if path in state and path in new and _equal(fact, state[path], new[path]):
            continue
        forced = any(path == p or path.startswith(f"{p}.") for p in replace_on_changes)
        changes[path] = "replace" if forced else fact.change
    return changes


def outcome(changes: Mapping[str, Change]) -> Change | None:
    """The resource-level effect of field changes: one replacing field replaces everything."""
    for kind in ("replace", "update", "dropped", "state"):
        if kind in changes.values():
            return kind  # type: ignore[return-value]
    return None


@dataclass
class Registry:
    by_type: dict[str, ResourceFacts] = field(default_factory=dict)

    def add(self, *facts: ResourceFacts) -> None:
        for f in facts:
            self.by_type[f.type] = f

    def __getitem__(self, typ: str) -> ResourceFacts:
        if typ not in self.by_type:
            raise KeyError(f"no provider model for resource type {typ}; read its provider source and add one")
        return self.by_type[typ]
