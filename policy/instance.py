"""Rules for the OCI VM: stays inside Always Free unless paid use is allowed, legacy IMDS off."""
from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from .props import mapping, number
from .resource_types import OCI_INSTANCE, OCI_VOLUME

FREE_SHAPE = "VM.Standard.A1.Flex"
# The target sets this freeform tag on the instance when the stack's `oci.allowPaid` is
# true: the decision is then visible on the resource itself, in the console and here.
ALLOW_PAID_TAG = "allow-paid"

# Always Free allowance for a tenancy: A1 compute (since 2026-06-15, 1,500 OCPU hours and
# 9,000 GB hours a month, i.e. 2 OCPUs and 12 GB running all month; it was 4 and 24) and
# 200 GB of block storage, boot volumes included. Sources: Oracle's Always Free page as quoted
# in ripienaar/free-for-dev PR #4476, InfoQ 2026-07 "oracle-cloud-free-tier-limits". The same
# numbers as config/capacity.ALWAYS_FREE; policy config can lower them if Oracle does again.
LIMIT_DEFAULTS = {"maxOcpus": 2.0, "maxMemoryGb": 12.0, "maxBlockStorageGb": 200.0}
ALWAYS_FREE_SCHEMA = PolicyConfigSchema(
    properties={
        key: {"type": "number", "default": value, "description": f"Always Free limit: {key}"}
        for key, value in LIMIT_DEFAULTS.items()
    }
)
# What OCI allocates when no size is given: a boot volume gets the image's size (about
# 47-50 GB, counted as the 50 GB minimum); a block volume gets 1 TB.
DEFAULT_BOOT_VOLUME_GB = 50.0
DEFAULT_BLOCK_VOLUME_GB = 1024.0


def allows_paid(instance: PolicyResource) -> bool:
    return mapping(instance.props.get("freeformTags")).get(ALLOW_PAID_TAG) == "true"


def always_free_problems(resources: list[PolicyResource], limits: dict[str, float]) -> list[tuple[str, str]]:
    """(problem, urn) pairs; urn "" for a stack-wide total."""
    instances = [r for r in resources if r.resource_type == OCI_INSTANCE]
    if not instances or any(allows_paid(i) for i in instances):
        return []
    problems = []
    ocpus = memory = storage = 0.0
    for instance in instances:
        shape = instance.props.get("shape")
        if shape != FREE_SHAPE:
            problems.append((f"{instance.name} uses shape {shape!r}; only {FREE_SHAPE} is counted as Always Free", instance.urn))
        config = mapping(instance.props.get("shapeConfig"))
        ocpus += number(config.get("ocpus"), 0)
        memory += number(config.get("memoryInGbs"), 0)
        storage += number(mapping(instance.props.get("sourceDetails")).get("bootVolumeSizeInGbs"), DEFAULT_BOOT_VOLUME_GB)
    for volume in (r for r in resources if r.resource_type == OCI_VOLUME):
        storage += number(volume.props.get("sizeInGbs"), DEFAULT_BLOCK_VOLUME_GB)
    for total, key, unit in ((ocpus, "maxOcpus", "OCPUs"), (memory, "maxMemoryGb", "GB of memory"), (storage, "maxBlockStorageGb", "GB of block storage")):
        if total > limits[key]:
            problems.append((f"the stack asks for {total:g} {unit}; Always Free covers {limits[key]:g}", ""))
    return problems


def always_free(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A stack rule: the allowance is per tenancy, so every instance and volume counts together.

    Paid use is allowed by the freeform tag ``allow-paid: "true"`` on an instance.
    """
    limits = {key: float(args.get_config().get(key, default)) for key, default in LIMIT_DEFAULTS.items()}
    for problem, urn in always_free_problems(args.resources, limits):
        report_violation(f"{problem} (set oci.allowPaid to pay for more)", urn or None)


def legacy_imds_disabled(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """IMDS v1 answers requests without the "Authorization: Bearer Oracle" header v2 requires, so a
    request forgery in any service could read the instance's metadata and credentials."""
    if args.resource_type != OCI_INSTANCE:
        return
    if mapping(args.props.get("instanceOptions")).get("areLegacyImdsEndpointsDisabled") is not True:
        report_violation(f"{args.name} must set instance_options.are_legacy_imds_endpoints_disabled=True")
