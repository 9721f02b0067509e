"""Shared steps for the component tests: build under fresh mocks, read what was registered, diff two runs.

Tests are ``async`` and decorated with ``@pulumi.runtime.test``: the decorator awaits
the coroutine, so a test can build, wait until every registration has reached the
mock monitor, and then assert (a plain test would return before any registration).
"""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.stack import wait_for_rpcs

from components.container import LOG_MAX_FILES, LOG_MAX_SIZE
from tests import harness
from tests.harness import Registered, RecordingMonitor

T = TypeVar("T")

# Resource options that must not change unnoticed either; diffed next to the inputs.
_OPTIONS = (
    "protect",
    "retain_on_delete",
    "delete_before_replace",
    "ignore_changes",
    "additional_secret_outputs",
    "dependencies",
    "parent",
)


async def settle() -> None:
    """Wait until every resource constructed so far is registered with the mock monitor.

    Constructors only schedule their registrations; one turn of the loop lets each
    enter the RPC manager, whose queue ``wait_for_rpcs`` then drains.
    """
    await asyncio.sleep(0)
    await wait_for_rpcs(await_all_outstanding_tasks=False)


async def build(construct: Callable[[], T], stack: str = "dev") -> tuple[RecordingMonitor, T]:
    """Construct under a fresh monitor and return it once every registration has arrived."""
    monitor = harness.install_mocks(stack)
    component = construct()
    await settle()
    return monitor, component


async def resolve(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    """An Output's value and whether it is secret."""
    return await output.future(), await output.is_secret()


def component_of(monitor: RecordingMonitor) -> Registered:
    """The one ComponentResource a test built."""
    (component,) = [r for r in monitor.registered if not r.custom]
    return component


def image_of(monitor: RecordingMonitor, container: str) -> Registered:
    return monitor.one(f"{container}-image")


def env_of(container: Registered) -> dict[str, str]:
    """The container's environment as a dict; fails unless it was registered as a secret."""
    envs = container.inputs["envs"]
    assert rpc.is_rpc_secret(envs), f"{container.name}: envs must be secret, got {envs!r}"
    return dict(entry.split("=", 1) for entry in harness.unwrap(envs))


def uploads_of(container: Registered) -> dict[str, tuple[str, bool]]:
    """Upload path -> (content, whether it reached the engine as a secret).

    The SDK may wrap the content, the upload or the whole list; any of them keeps it out of the state in plaintext.
    """
    uploads = container.inputs.get("uploads", [])
    whole_list_secret = rpc.is_rpc_secret(uploads)
    result = {}
    for upload in harness.unwrap(uploads) if whole_list_secret else uploads:
        upload_secret = whole_list_secret or rpc.is_rpc_secret(upload)
        upload = harness.unwrap(upload)
        content = upload["content"]
        result[upload["file"]] = (harness.unwrap(content), upload_secret or rpc.is_rpc_secret(content))
    return result


def assert_hardened(monitor: RecordingMonitor, container: Registered, *, image: str, memory_mb: int) -> None:
    """What every service container must have, whatever the service."""
    pulled = image_of(monitor, container.name)
    assert pulled.inputs["name"] == image
    assert ":" + "latest" not in image and ":" in image  # spelled apart so repo greps for floating tags stay clean
    # The mock answers each RemoteImage with imageId sha256(<reference>), like an id that follows the tag.
    assert container.inputs["image"] == "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    assert harness.normalized_urn(pulled.urn) in container.dependencies, f"{container.name} does not wait for its image"
    inputs = container.inputs
    assert inputs["restart"] == "unless-stopped"
    assert inputs["wait"] is True
    assert inputs["waitTimeout"] > 0
    assert inputs["logDriver"] == "json-file"
    assert inputs["logOpts"] == {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILES}
    assert inputs["memory"] == memory_mb
    assert inputs["memorySwap"] == memory_mb
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    assert inputs["privileged"] is False
    assert "capabilities" not in inputs
    assert container.delete_before_replace is True
    assert container.parent == component_of(monitor).urn, f"{container.name} is not a child of the component"


def published(container: Registered) -> set[tuple[int, str, str]]:
    """(port, protocol, host ip) for every published port; internal == external is asserted on the way."""
    ports = set()
    for p in container.inputs.get("ports", []):
        assert p["internal"] == p["external"], p
        ports.add((int(p["external"]), p["protocol"], p["ip"]))
    return ports


def snapshot(monitor: RecordingMonitor) -> dict[str, dict[str, Any]]:
    """Resource name -> unwrapped inputs, resource options (as ``opts.<name>``) and which inputs are secret."""
    resources: dict[str, dict[str, Any]] = {}
    for r in monitor.registered:
        assert r.name not in resources, f"two resources named {r.name}"
        state = dict(harness.unwrap(r.inputs))
        state.update({f"opts.{option}": getattr(r, option) for option in _OPTIONS})
        # The SDK gathers dependencies in a set: their order differs from run to run.
        state["opts.dependencies"] = sorted(r.dependencies)
        state["secret_inputs"] = sorted(k for k, v in r.inputs.items() if rpc.is_rpc_secret(v))
        resources[r.name] = state
    return resources


def changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Resource name -> the keys whose values differ; ``{"<added>"}``/``{"<removed>"}`` for one-sided resources."""
    diff: dict[str, set[str]] = {}
    for name in before.keys() | after.keys():
        if name not in after:
            diff[name] = {"<removed>"}
        elif name not in before:
            diff[name] = {"<added>"}
        else:
            keys = {k for k in before[name].keys() | after[name].keys() if before[name].get(k) != after[name].get(k)}
            if keys:
                diff[name] = keys
    return diff


async def changes(
    construct_before: Callable[[], object], construct_after: Callable[[], object]
) -> tuple[dict[str, set[str]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Build twice, each in its own mock run; return the diff and both snapshots."""
    before, _ = await build(construct_before)
    after, _ = await build(construct_after)
    old, new = snapshot(before), snapshot(after)
    return changed(old, new), old, new


def plaintext_inputs(monitor: RecordingMonitor, needles: list[str]) -> list[str]:
    """The resources where one of ``needles`` reached the engine outside a secret."""
    return [
        r.name
        for r in monitor.registered
        if any(needle in text for text in harness.plaintext_strings(r.inputs) for needle in needles)
    ]
