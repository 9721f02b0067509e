"""Where day-2 commands run: a shell on the machine whose Docker engine runs the services.

Some changes cannot be expressed as a resource input the docker provider applies:
a new password must be set inside the running PostgreSQL, a new Caddyfile must be
loaded by the running Caddy, and a new PostgreSQL major must be checked against the
data before the old container is removed. The target says where `docker` reaches
that engine; components only hand over the command text.

- ``LocalShell`` (laptop): the `docker` CLI on this machine, the engine the provider uses.
- ``RemoteShell`` (the VM): SSH to the VM, as the user in its `docker` group.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_command as command


class HostShell(Protocol):
    def run(
        self,
        name: str,
        *,
        script: pulumi.Input[str],
        triggers: Sequence[pulumi.Input[Any]],
        parent: pulumi.Resource,
        stdin: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> pulumi.CustomResource: ...


def _secret_outputs(stdin: pulumi.Input[str] | None) -> list[str]:
    # A command fed a secret on stdin keeps its output out of the state in plaintext, in case it echoes.
    return ["stdin", "stdout", "stderr"] if stdin is not None else []


@dataclass(frozen=True)
class LocalShell:
    """Runs on the machine running `pulumi up`, where the docker CLI reaches the local engine."""

    def run(self, name, *, script, triggers, parent, stdin=None, depends_on=()):
        return command.local.Command(
            name,
            create=script,
            # pulumi-command runs `create` again when only `update` is unset; stated, not left to a default.
            update=script,
            stdin=stdin,
            triggers=list(triggers),
            interpreter=["/bin/sh", "-c"],
            opts=pulumi.ResourceOptions(
                parent=parent, depends_on=list(depends_on), additional_secret_outputs=_secret_outputs(stdin)
            ),
        )


@dataclass(frozen=True)
class RemoteShell:
    """Runs on the VM over SSH, once the VM reports cloud-init done and Docker up."""

    connection: command.remote.ConnectionArgs
    ready: pulumi.Resource

    def run(self, name, *, script, triggers, parent, stdin=None, depends_on=(), update=None):
        """``update``: what runs when an input other than ``triggers`` changes (the connection, the script's text);
        None: ``script`` again."""
        return command.remote.Command(
            name,
            connection=self.connection,
            create=script,
            update=script if update is None else update,
            stdin=stdin,
            triggers=list(triggers),
            opts=pulumi.ResourceOptions(
                parent=parent,
                # The VM must be up and Docker running before any command can reach it.
                depends_on=[self.ready, *depends_on],
                additional_secret_outputs=_secret_outputs(stdin),
            ),
        )
