"""Rules for docker Containers: data ports stay on loopback, hardening, log rotation."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from .exceptions import CapabilityException, allowed_capabilities, normalize_capability
from .images import DATA_SERVICE_REPOSITORIES, is_image_id, parse_image
from .props import is_loopback, items, known, mapping, number
from .resource_types import DOCKER_CONTAINER, DOCKER_REMOTE_IMAGE

# What Docker binds a published port to when no address is given: every interface.
DOCKER_DEFAULT_PUBLISH_ADDRESS = "0.0.0.0"
NO_NEW_PRIVILEGES = "no-new-privileges"


def is_long_running(props: Mapping[str, Any]) -> bool:
    """False for one-off jobs: removed on exit, waited on until exit, or not kept running."""
    return not props.get("rm") and not props.get("attach") and props.get("mustRun") is not False


def container_repository(container: PolicyResource) -> str | None:
    """The image repository a container runs, e.g. "postgres"; None when it cannot be known.

    A container made from a RemoteImage only gets the image's ID (sha256:...), so the
    repository comes from the RemoteImage its ``image`` property depends on.
    """
    for dependency in container.property_dependencies.get("image", []):
        if dependency.resource_type == DOCKER_REMOTE_IMAGE:
            name = known(dependency.props, "name")
            if isinstance(name, str):
                return parse_image(name).repository
    image = known(container.props, "image")
    if isinstance(image, str) and not is_image_id(image):
        return parse_image(image).repository
    return None


def data_ports_on_loopback(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Database, cache and object-store ports may only be published on a loopback address.

    A stack rule, because only the stack shows which RemoteImage a container runs.
    With host networking Docker publishes nothing: exposure is then the service's own
    bind address (set by its component) and the cloud firewall (the security list
    the target renders from its one port list).
    """
    for resource in args.resources:
        if resource.resource_type != DOCKER_CONTAINER:
            continue
        repository = container_repository(resource)
        if repository not in DATA_SERVICE_REPOSITORIES:
            continue
        for port in items(resource.props.get("ports")):
            address = port.get("ip") or DOCKER_DEFAULT_PUBLISH_ADDRESS
            if not is_loopback(address):
                report_violation(
                    f"{resource.name} ({repository}) publishes port {number(port.get('external'), 0):g}/"
                    f"{port.get('protocol') or 'tcp'} on {address}; publish it on 127.0.0.1 only",
                    resource.urn,
                )


def _no_new_privileges(security_opts: Sequence[Any]) -> bool:
    """Docker accepts "no-new-privileges", "no-new-privileges:true" and "=true"; the last one given wins."""
    enabled = False
    for option in security_opts:
        name, _, value = str(option).replace("=", ":", 1).partition(":")
        if name == NO_NEW_PRIVILEGES:
            enabled = value in ("", "true")
    return enabled


def hardening_problems(props: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    problems = []
    tests = items(mapping(props.get("healthcheck")).get("tests"))
    if not tests or tests[0] == "NONE":
        problems.append("has no healthcheck")
    if (props.get("restart") or "no") == "no":
        problems.append("has no restart policy (restart is 'no')")
    if number(props.get("memory"), 0) <= 0:
        problems.append("has no memory limit")
    if not _no_new_privileges(items(props.get("securityOpts"))):
        problems.append(f"lacks '{NO_NEW_PRIVILEGES}:true' in security_opts")
    if props.get("privileged"):
        problems.append("runs privileged")
    added = {normalize_capability(str(c)) for c in items(mapping(props.get("capabilities")).get("adds"))}
    unlisted = sorted(added - allowed)
    if unlisted:
        problems.append(f"adds capabilities {unlisted} that policy/exceptions.py does not list for it")
    return problems


def container_hardening(exceptions: Iterable[CapabilityException]) -> ResourceValidation:
    """Every long-running container: healthcheck, restart policy, memory limit, no-new-privileges,
    not privileged, and extra capabilities only where ``exceptions`` grants them."""
    granted = tuple(exceptions)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != DOCKER_CONTAINER or not is_long_running(args.props):
            return
        for problem in hardening_problems(args.props, allowed_capabilities(args.name, granted)):
            report_violation(f"{args.name} {problem}")

    return validate


def container_log_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """json-file logs (Docker's default driver) grow without bound unless max-size is set."""
    if args.resource_type != DOCKER_CONTAINER or not is_long_running(args.props):
        return
    driver = args.props.get("logDriver") or "json-file"
    if driver == "json-file" and not mapping(args.props.get("logOpts")).get("max-size"):
        report_violation(f"{args.name} logs with json-file without a 'max-size' log option")
