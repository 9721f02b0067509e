"""The README's config reference stays in step with the config model."""
from __future__ import annotations

import re
from config.model import AppConfig
from tests.config_keys import config_keys
from tests.harness import ROOT

APP = "apps[]."  # the keys of each `apps` entry, documented as `apps[].<key>` rows


def documented_keys() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Config reference", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for cell in re.findall(r"^\| `([^|]+)` \|", section, flags=re.M):
        # "mediaServer.memoryMb` / `cpus" documents two keys of one object.
        parts = [p.strip(" `") for p in cell.split("/")]
        head = parts[0].rsplit(".", 1)[0] + "." if "." in parts[0] else ""
        keys.add(parts[0])
        keys.update(head + p for p in parts[1:])
    return keys


def test_every_config_key_is_documented():
    missing = [k for k in [*config_keys(), *config_keys(AppConfig, APP)] if k not in documented_keys()]
    assert not missing, f"README's config reference lacks: {missing}"


def test_no_documented_key_is_unknown():
    unknown = documented_keys() - {*config_keys(), *config_keys(AppConfig, APP)}
    assert not unknown, f"README documents keys the config does not have: {sorted(unknown)}"
