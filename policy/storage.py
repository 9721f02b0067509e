"""Rules for stored data: buckets private and versioned, stateful storage protected in prod."""
from __future__ import annotations

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs

from .props import stack_of
from .resource_types import DOCKER_VOLUME, OCI_BUCKET, OCI_VOLUME

PRIVATE_ACCESS = "NoPublicAccess"  # also what OCI creates when accessType is not given
VERSIONING_ENABLED = "Enabled"

# Resources whose deletion deletes data that exists nowhere else.
STATEFUL_TYPES = frozenset({DOCKER_VOLUME, OCI_VOLUME, OCI_BUCKET})
PROTECTED_STACKS_KEY = "protectedStacks"
DEFAULT_PROTECTED_STACKS = ("prod",)
PROTECTED_STACKS_SCHEMA = PolicyConfigSchema(
    properties={
        PROTECTED_STACKS_KEY: {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_PROTECTED_STACKS),
            "description": "Stacks whose stateful storage must be protected",
        }
    }
)


def buckets_private_and_versioned(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != OCI_BUCKET:
        return
    access = args.props.get("accessType") or PRIVATE_ACCESS
    if access != PRIVATE_ACCESS:
        report_violation(f"{args.name} has accessType {access!r}; it must be {PRIVATE_ACCESS!r}")
    versioning = args.props.get("versioning")
    if versioning != VERSIONING_ENABLED:
        # OCI creates buckets with versioning Disabled: an overwrite or delete is then final.
        report_violation(f"{args.name} has versioning {versioning!r}; it must be {VERSIONING_ENABLED!r}")


def stateful_storage_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """In the protected stacks, volumes and buckets carry ``protect``, so no update or destroy deletes them.

    ``protect`` is a resource option, not a property: the engine passes it to every
    policy as ``args.opts.protect``. The stack comes from the resource's URN.
    """
    if args.resource_type not in STATEFUL_TYPES:
        return
    stack = stack_of(args.urn)
    if stack not in args.get_config().get(PROTECTED_STACKS_KEY, DEFAULT_PROTECTED_STACKS):
        return
    if not args.opts.protect:
        report_violation(f"{args.name} holds data in stack {stack!r} but is not protected (protect=True)")
