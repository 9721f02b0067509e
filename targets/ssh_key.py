"""The SSH private key a remote target connects with, read once from the configured file."""
from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError, Problem
from config.loader import PROJECT


def read_private_key(path: str, key: str, *, hint: str = "give the SSH private key's file") -> str:
    """The key file's contents; a missing or unreadable file is a config problem naming ``key``."""
    try:
        return Path(path).expanduser().read_text()
    except OSError as err:
        problem = Problem(f"{PROJECT}:{key}", path, f"cannot read it ({err.strerror}); {hint}")
        raise ConfigError([problem]) from None
