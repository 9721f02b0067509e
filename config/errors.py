"""Config problems are collected, then reported together in one error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from config.model import PATTERN_MEANINGS


@dataclass(frozen=True)
class Problem:
    key: str  # full config key as the user types it, e.g. "backing-services:database.memoryMb"
    got: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.key}: got {self.got!r}; {self.allowed}"


class ConfigError(Exception):
    """Raised before any resource is registered; lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


_MISSING = "<missing>"


def key_path(namespace: str, loc: tuple[Any, ...]) -> str:
    head, *rest = loc or ("",)
    path = f"{namespace}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def problems_from_validation(namespace: str, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        got = item.get("input", _MISSING)
        if item["type"] == "missing":
            got, allowed = _MISSING, "this key is required"
        elif item["type"] == "extra_forbidden":
            allowed = "unknown key; remove it or check its spelling"
        else:
            allowed = _allowed_from(item)
        problems.append(Problem(key_path(namespace, loc), got, allowed))
    return problems


def _allowed_from(item: dict[str, Any]) -> str:
    ctx = item.get("ctx") or {}
    if "pattern" in ctx:
        return "expected " + PATTERN_MEANINGS.get(ctx["pattern"], f"a value matching {ctx['pattern']}")
    msg = item["msg"]
    return msg[0].lower() + msg[1:] if msg else "invalid value"
