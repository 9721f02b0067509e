"""What the engine hands to policies, built without an engine, and the pack run over mock captures.

``PolicyPack(...)`` starts a gRPC server and blocks forever, so tests never build
one: they call each policy's ``validate`` with the argument objects the SDK's
analyzer servicer would build (``pulumi_policy.policy._PolicyAnalyzerServicer``):
properties deserialized from engine form and wrapped in the unknown-checking proxy,
resource options as ``PolicyResourceOptions``, stack resources linked to their
parents and property dependencies.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import settings
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from tests import harness


def engine_props(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """Engine-form properties (camelCase, numbers as floats) as a policy sees them."""
    return unknown_checking_proxy(deserialize_properties(dict(props)))


def resource_options(*, protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def urn_of(stack: str, resource_type: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{harness.PROJECT}::{resource_type}::{name}"


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "subject",
    stack: str = "dev",
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type,
        engine_props(props),
        urn_of(stack, resource_type, name),
        name,
        resource_options(protect=protect),
        None,
        config,
    )


def stack_resource(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str,
    stack: str = "dev",
    property_dependencies: Mapping[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    return PolicyResource(
        resource_type,
        engine_props(props),
        urn_of(stack, resource_type, name),
        name,
        resource_options(),
        None,
        None,
        [d for deps in (property_dependencies or {}).values() for d in deps],
        dict(property_dependencies or {}),
    )


def stack_args(resources: Sequence[PolicyResource], config: Mapping[str, Any] | None = None) -> StackValidationArgs:
    return StackValidationArgs(list(resources), config)


def violations(policy: Policy, args: ResourceValidationArgs | StackValidationArgs) -> list[str]:
    """The messages ``policy`` reports for ``args`` (every rule here is synchronous)."""
    messages: list[str] = []
    result = policy.validate(args, lambda message, urn=None: messages.append(message))
    assert result is None, f"{policy.name} returned an awaitable; run_pack would not await it"
    return messages


@dataclass(frozen=True)
class Captured:
    """One registered resource: inputs for resource policies, outputs for stack policies (as the engine does)."""

    resource_type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    options: PolicyResourceOptions
    parent: str
    property_dependencies: dict[str, list[str]]


class PolicyCaptureMonitor(harness.RecordingMonitor):
    """The stack mocks, also keeping the raw request and response the engine would analyze."""

    def __init__(self, mocks: harness.RecordingMocks) -> None:
        super().__init__(mocks)
        self.captured: list[Captured] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.captured.append(
                Captured(
                    resource_type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=deserialize_properties(json_format.MessageToDict(request.object)),
                    outputs=deserialize_properties(json_format.MessageToDict(response.object)),
                    options=PolicyResourceOptions(
                        request.protect,
                        list(request.ignoreChanges),
                        request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
                        [],
                        PolicyCustomTimeouts(0, 0, 0),
                        list(request.additionalSecretOutputs),
                        request.parent or None,
                    ),
                    parent=request.parent,
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                )
            )
        return response


def capture_stack(stack: str, values: Mapping[str, Any] | None = None) -> list[Captured]:
    """Evaluate __main__.py for ``stack`` (its stack file plus what the README has users set, or ``values``)."""
    monitor = PolicyCaptureMonitor(harness.RecordingMocks())
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=harness.PROJECT, stack=stack, preview=False, monitor=monitor)
    harness.set_config(dict(values) if values is not None else harness.stack_config_as_user_sets_it(stack))

    @pulumi.runtime.test
    def run():
        harness.run_program()

    run()
    return monitor.captured


def stack_resources(captured: Sequence[Captured]) -> list[PolicyResource]:
    """The stack as ``AnalyzeStack`` sees it: outputs, parents and dependencies linked."""
    by_urn = {
        c.urn: PolicyResource(c.resource_type, unknown_checking_proxy(c.outputs), c.urn, c.name, c.options, None, None, [], {})
        for c in captured
    }
    for c in captured:
        resource = by_urn[c.urn]
        resource.parent = by_urn.get(c.parent)
        for key, urns in c.property_dependencies.items():
            deps = [by_urn[u] for u in urns if u in by_urn]
            resource.property_dependencies[key] = deps
            resource.dependencies.extend(d for d in deps if d not in resource.dependencies)
    return list(by_urn.values())


@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    message: str
    urn: str


def _reporter(found: list[Violation], policy: Policy, default_urn: str):
    def report(message: str, urn: str | None = None) -> None:
        found.append(Violation(policy.name, policy.enforcement_level, message, urn or default_urn))

    return report


def run_pack(policies: Sequence[Policy], captured: Sequence[Captured]) -> list[Violation]:
    """Every policy over every resource, as the engine's Analyze and AnalyzeStack calls would run them."""
    found: list[Violation] = []
    stack = stack_args(stack_resources(captured))
    for policy in policies:
        if isinstance(policy, ResourceValidationPolicy):
            for c in captured:
                args = ResourceValidationArgs(c.resource_type, unknown_checking_proxy(c.inputs), c.urn, c.name, c.options, None)
                policy.validate(args, _reporter(found, policy, c.urn))
        else:
            policy.validate(stack, _reporter(found, policy, ""))
    return found
