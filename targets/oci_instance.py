"""The Ampere A1 instance: image and availability-domain lookup, launch, capacity retries."""
from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

import pulumi
import pulumi_oci as oci

from renderers.oci_capacity import RetryPolicy, capacity_decision

SHAPE = "VM.Standard.A1.Flex"
IMAGE_OS = "Canonical Ubuntu"
IMAGE_OS_VERSION = "24.04"  # "24.04 Minimal" is a different version string, so minimal images are left out
IMAGE_ARCH = "aarch64"
# Freeform tag recording the stack's `oci.allowPaid` on the instance itself: visible in the
# console, and what the policy pack's Always Free rule reads.
ALLOW_PAID_TAG = "allow-paid"


@dataclass(frozen=True, kw_only=True)
class InstanceSpec:
    compartment_id: str
    availability_domain: str | None  # None: the first of the tenancy's ADs
    image_id: str | None  # None: the newest Canonical Ubuntu 24.04 aarch64 image for the shape
    ocpus: int
    memory_gb: int
    boot_volume_gb: int
    allow_paid: bool
    ssh_public_key: str  # installed by cloud-init at first boot; later key changes go over SSH
    user_data: str  # the cloud-init document, plain text
    protect: bool = True


def _newest(images: list[oci.core.outputs.GetImagesImageResult]) -> str:
    # The API lists them newest first (sort_by TIMECREATED, DESC).
    if not images:
        raise ValueError(
            f"no {IMAGE_OS} {IMAGE_OS_VERSION} {IMAGE_ARCH} image for {SHAPE} found in this region; "
            "pin one with `pulumi config set --path oci.imageId <ocid>`"
        )
    return images[0].id


def _first(ads: list[oci.identity.outputs.GetAvailabilityDomainsAvailabilityDomainResult]) -> str:
    if not ads:
        raise ValueError("the tenancy lists no availability domains; set oci.availabilityDomain")
    # Oracle does not promise a stable order; sorting keeps "the first" from moving, which
    # would otherwise replace the instance (and fail on the protected volume).
    return sorted(ad.name for ad in ads)[0]


def image_id(spec: InstanceSpec, opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    if spec.image_id is not None:
        return pulumi.Output.from_input(spec.image_id)
    found = oci.core.get_images_output(
        compartment_id=spec.compartment_id,
        operating_system=IMAGE_OS,
        operating_system_version=IMAGE_OS_VERSION,
        shape=SHAPE,
        state="AVAILABLE",
        sort_by="TIMECREATED",
        sort_order="DESC",
        filters=[{"name": "display_name", "values": [IMAGE_ARCH], "regex": True}],
        opts=opts,
    )
    return found.images.apply(_newest)


def availability_domain(spec: InstanceSpec, opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    """The configured AD, or the tenancy's first; the instance and its data volume both use this one value."""
    if spec.availability_domain is not None:
        return pulumi.Output.from_input(spec.availability_domain)
    found = oci.identity.get_availability_domains_output(compartment_id=spec.compartment_id, opts=opts)
    return found.availability_domains.apply(_first)


def capacity_error_hook(name: str, *, compartment_id: str, policy: RetryPolicy = RetryPolicy()) -> pulumi.ErrorHook:
    """Retries a launch that failed for lack of A1 capacity, saying what to do if it keeps failing."""

    async def on_error(args: pulumi.ErrorHookArgs) -> bool:
        ad = (args.new_inputs or {}).get("availabilityDomain")
        decision = capacity_decision(
            args.errors,
            availability_domain=ad if isinstance(ad, str) else None,
            compartment_id=compartment_id,
            policy=policy,
        )
        if decision.message is not None:
            pulumi.log.warn(decision.message)
        if decision.retry:
            await asyncio.sleep(decision.delay_seconds)
        return decision.retry

    return pulumi.ErrorHook(name, on_error)


def ampere_instance(
    name: str,
    spec: InstanceSpec,
    *,
    availability_domain: pulumi.Input[str],
    subnet_id: pulumi.Input[str],
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    on_error: pulumi.ErrorHook,
) -> oci.core.Instance:
    invoke_opts = pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    label = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    return oci.core.Instance(
        f"{name}-instance",
        compartment_id=spec.compartment_id,
        availability_domain=availability_domain,
        display_name=label,
        freeform_tags={ALLOW_PAID_TAG: str(spec.allow_paid).lower()},
        shape=SHAPE,
        shape_config={"ocpus": spec.ocpus, "memory_in_gbs": spec.memory_gb},
        source_details={
            "source_type": "image",
            "source_id": image_id(spec, invoke_opts),
            "boot_volume_size_in_gbs": str(spec.boot_volume_gb),
        },
        # The address is the reserved public IP's, assigned to this VNIC's private IP (targets/oci_public_ip.py);
        # a private IP holds one public IP at most.
        create_vnic_details={"subnet_id": subnet_id, "assign_public_ip": "false"},
        metadata={
            "ssh_authorized_keys": spec.ssh_public_key,
            # OCI's metadata service hands user_data to cloud-init base64-encoded.
            "user_data": base64.b64encode(spec.user_data.encode()).decode(),
        },
        # IMDSv1 answers any process's plain GET, the classic SSRF target; v2 needs a header.
        instance_options={"are_legacy_imds_endpoints_disabled": True},
        # After a host failure OCI restarts the VM elsewhere instead of leaving it stopped.
        availability_config={"recovery_action": "RESTORE_INSTANCE"},
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            # Only first boot reads these. A new image id would reimage the boot disk in place, and a changed
            # user_data or ssh_authorized_keys forces a new instance (core_instance_resource.go:1053-1060@v8.28.0);
            # the firewall and SSH keys are kept in step over SSH instead (targets/oci_ampere.py).
            ignore_changes=["sourceDetails.sourceId", "metadata.user_data", "metadata.ssh_authorized_keys"],
            # Two A1 instances at once exceed Always Free's 2 OCPUs, and the volume cannot attach to both.
            delete_before_replace=True,
            # Everything runs here; replacing it means a re-provisioned host and minutes of downtime, so prod refuses
            # in preview. The public address survives it (targets/oci_public_ip.py).
            protect=spec.protect,
            hooks=pulumi.ResourceHookBinding(on_error=[on_error]),
        ),
    )
