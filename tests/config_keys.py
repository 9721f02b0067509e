"""Every user-settable config key, walked from the pydantic model (so a new key cannot be missed)."""
from __future__ import annotations

import typing

from pydantic import BaseModel

from config.model import StackConfig


def config_keys(model: type[BaseModel] = StackConfig, prefix: str = "") -> list[str]:
    """Dotted camelCase keys, as users `pulumi config set --path` them; lists of objects are one key."""
    keys = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        # An object (or an optional one) is walked into; a list or map of objects (routes, apps, registry
        # logins) is set as one value.
        is_list = typing.get_origin(field.annotation) in (tuple, list, dict)
        nested = [c for c in (field.annotation, *typing.get_args(field.annotation)) if isinstance(c, type) and issubclass(c, BaseModel)]
        if nested and not is_list:
            keys += config_keys(nested[0], key + ".")
        else:
            keys.append(key)
    return keys
