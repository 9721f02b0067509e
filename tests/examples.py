"""The example stacks in examples/<system>/Pulumi.<target>.yaml, as a user would deploy them.

Each file is a stack config a team copies next to Pulumi.yaml (README: "Examples"). What the README has
users set themselves (their OCI ids and SSH key, their Pi's key file) is added here, as it is for prod.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests import harness

EXAMPLES = harness.ROOT / "examples"
NS = harness.PROJECT


@dataclass(frozen=True)
class Example:
    system: str  # the folder: ozmirror, meeting, homeiq, cleanmatex, triton
    path: Path

    @property
    def stack(self) -> str:
        """The stack name a user would give it, e.g. triton-dev."""
        return f"{self.system}-{self.path.stem.split('.', 1)[1]}"

    @property
    def id(self) -> str:
        return self.stack

    def file_config(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.path.read_text())["config"])

    @property
    def target(self) -> str:
        return self.file_config()[f"{NS}:target"]

    def values(self) -> dict[str, Any]:
        """The file, plus the keys each user sets for their own account or machine."""
        values = copy.deepcopy(self.file_config())
        if self.target == "oci":
            values[f"{NS}:oci"] = {
                **values.get(f"{NS}:oci", {}),
                **harness.PROD_PERSONAL_CONFIG,
                "sshPrivateKeyFile": harness.mock_ssh_key_file(),
            }
            gateway = values.setdefault(f"{NS}:gateway", {})
            gateway.setdefault("acmeEmail", "ops@example.com")
        if self.target == "host":
            values[f"{NS}:host"] = {**values[f"{NS}:host"], "sshPrivateKeyFile": harness.mock_ssh_key_file()}
        return values


def examples() -> list[Example]:
    found = [Example(d.name, f) for d in sorted(EXAMPLES.iterdir()) if d.is_dir() for f in sorted(d.glob("Pulumi.*.yaml"))]
    assert found, "no example stacks under examples/"
    return found


def evaluate(example: Example) -> harness.Evaluation:
    return harness.evaluate(example.stack, example.values())
