"""The docker provider's ssh_opts as a program registered them, for the SSH target tests."""
from __future__ import annotations

import json

from tests import harness


def ssh_opts(run: harness.Evaluation) -> list[str]:
    (provider,) = run.monitor.by_type("pulumi:providers:docker")
    # A provider's inputs arrive as the engine sends provider config: a list is JSON text.
    return json.loads(harness.unwrap(provider.inputs)["sshOpts"])


def opt(opts: list[str], name: str) -> str:
    """The one `-o name=value` among ``opts``: its value."""
    values = [opts[i + 1].split("=", 1)[1] for i, o in enumerate(opts[:-1]) if o == "-o" and opts[i + 1].startswith(name + "=")]
    assert len(values) == 1, (name, opts)
    return values[0]
