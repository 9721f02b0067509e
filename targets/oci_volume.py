"""The block volume that holds all service data (Docker's data-root), with scheduled backups."""
from __future__ import annotations

import pulumi
import pulumi_oci as oci

from renderers.oci_backup import BackupPlan, backup_schedules

# OCI's consistent device path for the first attached block volume. The attachment names
# it, and cloud-init formats and mounts exactly this path, so the two cannot disagree.
DATA_DEVICE = "/dev/oracleoci/oraclevdb"


def data_volume(
    name: str,
    *,
    compartment_id: str,
    instance: oci.core.Instance,
    availability_domain: pulumi.Input[str],
    size_gb: int,
    protect: bool,
    opts: pulumi.ResourceOptions,
    backup_id: str | None = None,
) -> oci.core.VolumeAttachment:
    """Volume, backup policy and its assignment, and the paravirtualized attachment to ``instance``.

    ``opts`` carries the parent and the provider every child shares. With ``backup_id`` the volume is
    created from that block-volume backup: source_details is force-new, so setting it on a running
    stack replaces the volume, which protection stops until it is lifted on purpose (README, "Restore").
    """
    label = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    volume = oci.core.Volume(
        f"{name}-data",
        compartment_id=compartment_id,
        # The same lookup as the instance's, not the instance's output: an instance being replaced has
        # an unknown AD in preview, and availability_domain is force-new here (core_volume_resource.go@v8.28.0).
        availability_domain=availability_domain,
        size_in_gbs=str(size_gb),
        display_name=f"{label}-data",
        # type/id as the provider maps them to VolumeSourceFromVolumeBackupDetails (core_volume_resource.go:894-900@v8.28.0).
        source_details={"type": "volumeBackup", "id": backup_id} if backup_id is not None else None,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                protect=protect,
                retain_on_delete=protect,
                # Created only once a launch succeeded: after "Out of host capacity", moving to another AD
                # meets no protected volume left behind in the old one.
                depends_on=[instance],
            ),
        ),
    )
    policy = oci.core.VolumeBackupPolicy(
        f"{name}-data-backup-policy",
        compartment_id=compartment_id,
        display_name=f"{label}-data-always-free",
        schedules=backup_schedules(BackupPlan()),
        opts=opts,
    )
    oci.core.VolumeBackupPolicyAssignment(
        f"{name}-data-backup",
        asset_id=volume.id,
        policy_id=policy.id,
        opts=opts,
    )
    return oci.core.VolumeAttachment(
        f"{name}-data-attachment",
        attachment_type="paravirtualized",
        instance_id=instance.id,
        volume_id=volume.id,
        device=DATA_DEVICE,
        display_name=f"{label}-data",
        # Every field is force-new (no update function); a volume attaches to one instance at a time.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
