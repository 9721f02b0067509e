"""Every policy of the pack, with its enforcement level.

Mandatory: security and data loss (and cost, which has its own opt-out: allowPaid).
Advisory: hygiene that is worth a warning but not a blocked deployment.
"""
from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy, StackValidationPolicy

from .containers import container_hardening, container_log_rotation, data_ports_on_loopback
from .exceptions import CAPABILITY_EXCEPTIONS
from .firewall import no_world_open_admin_ports
from .images import images_pinned, images_pinned_by_digest
from .instance import ALWAYS_FREE_SCHEMA, always_free, legacy_imds_disabled
from .storage import PROTECTED_STACKS_SCHEMA, buckets_private_and_versioned, stateful_storage_protected

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

POLICIES: list[Policy] = [
    StackValidationPolicy(
        name="data-ports-loopback-only",
        description="Database, cache and object-store ports are published on 127.0.0.1 only.",
        enforcement_level=MANDATORY,
        validate=data_ports_on_loopback,
    ),
    ResourceValidationPolicy(
        name="no-world-open-admin-ports",
        description="No security list or NSG rule opens SSH, RDP or all protocols to 0.0.0.0/0 or ::/0.",
        enforcement_level=MANDATORY,
        validate=no_world_open_admin_ports,
    ),
    ResourceValidationPolicy(
        name="container-hardening",
        description=(
            "Long-running containers have a healthcheck, a restart policy, a memory limit and "
            "no-new-privileges, are not privileged, and add capabilities only as policy/exceptions.py lists."
        ),
        enforcement_level=MANDATORY,
        validate=container_hardening(CAPABILITY_EXCEPTIONS),
    ),
    ResourceValidationPolicy(
        name="images-pinned",
        description="Images name a version tag or a digest, never 'latest'.",
        enforcement_level=MANDATORY,
        validate=images_pinned,
    ),
    ResourceValidationPolicy(
        name="buckets-private-versioned",
        description="Object Storage buckets are private (NoPublicAccess) and versioned (Enabled).",
        enforcement_level=MANDATORY,
        validate=buckets_private_and_versioned,
    ),
    ResourceValidationPolicy(
        name="stateful-storage-protected",
        description="In prod, volumes and buckets are protected against deletion.",
        enforcement_level=MANDATORY,
        config_schema=PROTECTED_STACKS_SCHEMA,
        validate=stateful_storage_protected,
    ),
    StackValidationPolicy(
        name="always-free",
        description="OCI instances and volumes stay inside the Always Free allowance unless allowPaid.",
        enforcement_level=MANDATORY,
        config_schema=ALWAYS_FREE_SCHEMA,
        validate=always_free,
    ),
    ResourceValidationPolicy(
        name="legacy-imds-disabled",
        description="OCI instances serve instance metadata over IMDS v2 only.",
        enforcement_level=MANDATORY,
        validate=legacy_imds_disabled,
    ),
    ResourceValidationPolicy(
        name="container-log-rotation",
        description="Long-running containers rotate their json-file logs.",
        enforcement_level=ADVISORY,
        validate=container_log_rotation,
    ),
    ResourceValidationPolicy(
        name="images-pinned-by-digest",
        description="Images are pinned by digest, so a re-pushed tag cannot change what runs.",
        enforcement_level=ADVISORY,
        validate=images_pinned_by_digest,
    ),
]
