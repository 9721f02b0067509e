"""The two containers of a scheduled service backup (renderers/service_backup.py): a job in the service's own
image that writes each backup into an outbox volume, and the pinned rclone uploader that moves it into the object
store. The same shape as components/database.py's PostgreSQL backups."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi

from components.container import ContainerSpec, Healthcheck, data_volume, run_container
from components.networking import ContainerNetwork
from components.object_store import S3Endpoint
from renderers.object_backup import (
    BACKUP_JOB_MEMORY_MB,
    BACKUP_VOLUME_PATH,
    ENTRYPOINT,
    RCLONE_IMAGE,
    RCLONE_VERSION,
    StoreSettings,
    _healthcheck,
    rclone_env,
    upload_once_script,
    _loop,
    UPLOAD_POLL_S,
)


@dataclass(frozen=True, kw_only=True)
class BackupStore:
    """Where a service's backups go: the stack's object store, one of its buckets, a prefix per service."""

    store: S3Endpoint
    bucket: str = "backups"
    interval_hours: int = 24
    keep: int = 7


def store_settings(b: BackupStore, prefix: str) -> pulumi.Output[StoreSettings]:
    return pulumi.Output.all(b.store.internal_endpoint, b.store.region).apply(
        lambda er: StoreSettings(bucket=b.bucket, s3_endpoint=er[0], s3_region=er[1], prefix=prefix,
                                 interval_hours=b.interval_hours, keep=b.keep)
    )


def upload_command(s: StoreSettings, job: str) -> list[str]:
    # tree=True for all three: Redis's flat backup loses nothing by it, InfluxDB's and ClickHouse's need it.
    loop = _loop(job, upload_once_script(s, job=job, tree=True), sleep_first=None,
                 sleep_after=str(UPLOAD_POLL_S),
                 banner=f"uploads finished backups to {s.base}/<stamp>/ every {UPLOAD_POLL_S} s, "
                 f"keeps the newest {s.keep}")
    return [loop, job, BACKUP_VOLUME_PATH]


@dataclass(frozen=True)
class BackupJobs:
    outbox: pulumi.Resource  # the volume (name: .name)
    dump_name: str
    upload_name: str


def backup_jobs(
    name: str,
    *,
    backup: BackupStore,
    settings: pulumi.Output[StoreSettings],
    dump_image: str,
    dump_command: Callable[[StoreSettings], Sequence[str]],
    dump_job: str,
    upload_job: str,
    dump_env: pulumi.Output[Sequence[str]],
    network: ContainerNetwork,
    platform: str | None,
    parent: pulumi.Resource,
    dump_depends_on: Sequence[pulumi.Resource] = (),
    outbox: pulumi.Resource | None = None,
) -> BackupJobs:
    # A staging area only: a backup waits here until the uploader has moved it to the bucket.
    if outbox is None:
        outbox = data_volume(f"{name}-backups", protect=False, parent=parent)

    def job(role: str, image: str, command, env, test, depends_on=()) -> None:
        run_container(
            f"{name}-backup-{role}",
            ContainerSpec(
                image=image,
                alias=f"{name}-backup-{role}",
                entrypoint=ENTRYPOINT,
                command=settings.apply(command),
                env=pulumi.Output.secret(env),
                healthcheck=Healthcheck(test=test),
                memory_mb=BACKUP_JOB_MEMORY_MB,
                cpus=0.5,
                volumes={BACKUP_VOLUME_PATH: outbox.name},
            ),
            network=network,
            platform=platform,
            parent=parent,
            depends_on=depends_on,
        )

    # The service's own image: its own client of the same version. It backs up the running server; started
    # against none, its first run would fail, hence the dependency.
    job("dump", dump_image, dump_command, dump_env, _healthcheck(dump_job), depends_on=dump_depends_on)
    keys = pulumi.Output.all(settings, backup.store.access_key, backup.store.secret_key).apply(lambda v: rclone_env(*v))
    job("upload", f"{RCLONE_IMAGE}:{RCLONE_VERSION}", lambda s: upload_command(s, upload_job), keys,
        _healthcheck(upload_job))
    return BackupJobs(outbox=outbox, dump_name=f"{name}-backup-dump", upload_name=f"{name}-backup-upload")
