"""How much a target can hold, and what the Always Free tier allows."""
from __future__ import annotations

from dataclasses import dataclass

from config.derived import object_store_in_a_container
from config.model import OciTargetConfig, StackConfig
from renderers.pg_backup import BACKUP_JOB_MEMORY_MB

# Memory kept back on the VM for the OS, Docker and cloud-init.
HOST_RESERVED_MB = 1024


@dataclass(frozen=True)
class AlwaysFree:
    """Oracle Cloud's Always Free allowance for Ampere A1 (per tenancy).

    Since 2026-06-15 A1 compute is 1,500 OCPU-hours and 9,000 GB-hours a month, i.e. 2 OCPUs and
    12 GB running all month (it was 3,000 and 18,000: 4 and 24). Sources: Oracle's Always Free page as
    quoted in ripienaar/free-for-dev PR #4476 (merged 2026-06-14), InfoQ 2026-07
    "oracle-cloud-free-tier-limits", mohankumarpaluru/oracle-freetier-instance-creation PR #85.
    Free accounts over it have their A1 instances stopped or terminated; paid accounts are billed.
    """

    ocpus: int = 2
    memory_gb: int = 12
    storage_gb: int = 200  # boot volumes plus block volumes


ALWAYS_FREE = AlwaysFree()


@dataclass(frozen=True)
class Capacity:
    memory_mb: int
    cpus: float
    key: str  # the config key that sets this capacity, for error messages


def oci_storage_gb(oci: OciTargetConfig) -> tuple[int, int]:
    """Block storage the stack holds in the tenancy, and how much of it is a retained old data volume.

    A restore (``dataVolumeBackupId``) creates the restored volume while the old one still exists, and
    ``retain_on_delete`` keeps the old one in Oracle Cloud afterwards (targets/oci_volume.py), so until
    ``retainedDataVolumeGb`` says it is gone (0) it is counted at ``dataVolumeGb``.
    """
    retained = oci.retained_data_volume_gb
    if retained is None:
        retained = oci.data_volume_gb if oci.data_volume_backup_id is not None else 0
    return oci.boot_volume_gb + oci.data_volume_gb + retained, retained


def target_capacity(cfg: StackConfig) -> Capacity:
    if cfg.target == "oci" and cfg.oci is not None:
        return Capacity(cfg.oci.memory_gb * 1024 - HOST_RESERVED_MB, float(cfg.oci.ocpus), "oci.memoryGb")
    if cfg.target == "host" and cfg.host is not None:
        return Capacity(cfg.host.memory_mb - HOST_RESERVED_MB, cfg.host.cpus, "host.memoryMb")
    return Capacity(cfg.docker.memory_mb, cfg.docker.cpus, "docker.memoryMb")


def container_limits(cfg: StackConfig) -> dict[str, tuple[int, float]]:
    """Memory (MB) and CPU limits of every container the config turns on, keyed by config path."""
    limits: dict[str, tuple[int, float]] = {}
    for key, svc in (("database", cfg.database), ("cache", cfg.cache), ("mediaServer", cfg.media_server)):
        if svc.enabled:
            limits[key] = (svc.memory_mb, svc.cpus)
    if object_store_in_a_container(cfg):
        limits["objectStore"] = (cfg.object_store.memory_mb, cfg.object_store.cpus)
    if cfg.media_server.enabled and cfg.media_server.egress.enabled:
        limits["mediaServer.egress"] = (cfg.media_server.egress.memory_mb, cfg.media_server.egress.cpus)
    limits["gateway"] = (cfg.gateway.memory_mb, cfg.gateway.cpus)
    for key, svc in (("analytics", cfg.analytics), ("timeSeries", cfg.time_series)):
        if svc.enabled:
            limits[key] = (svc.memory_mb, svc.cpus)
    for key, svc in (("database", cfg.database), ("cache", cfg.cache), ("analytics", cfg.analytics),
                     ("timeSeries", cfg.time_series)):
        if svc.enabled and svc.backup.enabled:
            limits[f"{key}.backup"] = (2 * BACKUP_JOB_MEMORY_MB, 1.0)  # the dump and upload containers, 0.5 CPU each
    if cfg.database.enabled and cfg.database.pooler.enabled:
        limits["database.pooler"] = (cfg.database.pooler.memory_mb, cfg.database.pooler.cpus)
    for i, app in enumerate(cfg.apps):
        limits[f"apps[{i}]"] = (app.memory_mb, app.cpus)
    return limits
