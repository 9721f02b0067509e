"""The `.env` text apps load to reach every service."""
from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+=,-]*$")


def render_env_file(values: Mapping[str, str]) -> str:
    """KEY=value lines; values that need it are double-quoted with escapes (dotenv syntax)."""
    lines = []
    for name, value in values.items():
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if "\n" in value or "\x00" in value:
            raise ValueError(f"{name}: value must be a single line")
        if not _PLAIN.match(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
        lines.append(f"{name}={value}")
    return "\n".join(lines) + "\n"
