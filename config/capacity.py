"""How much a target can hold, and what the Always Free tier allows."""
from __future__ import annotations

from dataclasses import dataclass

from config.derived import object_store_in_a_container
from config.model import StackConfig
from renderers.pg_backup import BACKUP_JOB_MEMORY_MB

# Memory kept back on the VM for the OS, Docker and cloud-init.
HOST_RESERVED_MB = 1024


@dataclass(frozen=True)
class AlwaysFree:
    """Oracle Cloud's Always Free allowance for Ampere A1 (per tenancy)."""

    ocpus: int = 4
    memory_gb: int = 24
    storage_gb: int = 200  # boot volumes plus block volumes


ALWAYS_FREE = AlwaysFree()


@dataclass(frozen=True)
class Capacity:
    memory_mb: int
    cpus: float
    key: str  # the config key that sets this capacity, for error messages


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
    if cfg.database.enabled and cfg.database.backup.enabled:
        limits["database.backup"] = (2 * BACKUP_JOB_MEMORY_MB, 1.0)  # the dump and upload containers, 0.5 CPU each
    if cfg.database.enabled and cfg.database.pooler.enabled:
        limits["database.pooler"] = (cfg.database.pooler.memory_mb, cfg.database.pooler.cpus)
    for i, app in enumerate(cfg.apps):
        limits[f"apps[{i}]"] = (app.memory_mb, app.cpus)
    return limits
