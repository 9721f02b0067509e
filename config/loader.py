"""Load and validate the whole stack configuration, once, before any resource exists."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from config.checks import semantic_problems
from config.errors import ConfigError, Problem, problems_from_validation
from config.model import SECRET_KEYS, StackConfig

PROJECT = "backing-services"


def parse_stack_config(raw: Mapping[str, Any], secret_keys: frozenset[str] = frozenset(), ns: str = PROJECT) -> StackConfig:
    """Validate raw config (keys without the namespace, values as Pulumi hands them over).

    Raises ConfigError listing every problem found.
    """
    values = {key: _decode(value) for key, value in raw.items()}
    problems = [
        Problem(f"{ns}:{key}", "<plaintext>", f"must be set with `pulumi config set --secret {key}`")
        for key in SECRET_KEYS
        if key in values and key not in secret_keys
    ]
    try:
        cfg = StackConfig.model_validate(values)
    except ValidationError as err:
        raise ConfigError(problems + problems_from_validation(ns, err)) from None
    problems += semantic_problems(cfg, ns)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_stack_config(ns: str = PROJECT) -> StackConfig:
    """Read every `<ns>:*` key of the running stack and validate it."""
    # pulumi.Config cannot list keys, so unknown keys (typos, unsupported services)
    # would go unnoticed; the runtime's config map can.
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{ns}:"
    raw = {key[len(prefix):]: value for key, value in everything.items() if key.startswith(prefix)}
    env_secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys = frozenset(
        key for key in raw if runtime_config.is_config_secret(prefix + key) or prefix + key in env_secret_keys
    )
    return parse_stack_config(raw, secret_keys, ns)


def _decode(value: Any) -> Any:
    """Structured values arrive JSON-encoded; scalars arrive as strings that pydantic coerces."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
