"""The stack the real-engine TURN/TLS test deploys: LiveKit and the gateway on the existing-host target.

One definition for the test (tests/deploy/test_turn_tls_deploy.py) and for images/pinned.py, which builds
what it needs (the gateway-l4 Dockerfile's base images) from this module's values like any example's.
"""
from __future__ import annotations

import copy
from typing import Any

from tests import harness

NS = harness.PROJECT
STACK = "dev"
TURN_DOMAIN = "turn.localhost"


def values(*, ssh_port: int, key_file: str, upstream_address: str, host_key: str = harness.MOCK_HOST_KEY) -> dict[str, Any]:
    """The dev stack moved onto this machine as a host reached over SSH, with TURN/TLS on its 443."""
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(STACK))
    values[f"{NS}:target"] = "host"
    values[f"{NS}:host"] = {
        "address": "127.0.0.1", "sshPort": ssh_port, "sshUser": "root", "sshPrivateKeyFile": key_file,
        "hostKey": host_key,
        # The images here are built for this machine, as a team with an amd64 VPS sets it.
        "platform": "linux/amd64", "memoryMb": 8192, "cpus": 4,
    }
    values[f"{NS}:database"] = {"enabled": False}
    values[f"{NS}:objectStore"] = {"enabled": False}
    media = values[f"{NS}:mediaServer"]
    media["egress"] = {"enabled": False}
    media["turnTls"] = {"enabled": True, "upstreamAddress": upstream_address}
    # This machine has no route to public STUN servers; LiveKit would not start asking them.
    media["nodeIp"] = upstream_address
    values[f"{NS}:gateway"] = {**values[f"{NS}:gateway"], "routes": []}
    return values


def for_image_builds() -> dict[str, Any]:
    """The same stack with placeholder connection values: what images/pinned.py evaluates."""
    return values(ssh_port=22, key_file=harness.mock_ssh_key_file(), upstream_address="192.0.2.2")
