"""The one way every service container is run.

Whatever the service, its container gets: a pinned image pulled for the target's
platform, a healthcheck that Pulumi waits on, ``restart: unless-stopped``, json-file
log rotation, memory and CPU limits, ``no-new-privileges``, never privileged mode,
and its stateful paths on named volumes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.networking import ContainerNetwork, PublishedPort

LOG_MAX_SIZE = "10m"
LOG_MAX_FILES = "5"


@dataclass(frozen=True, kw_only=True)
class Healthcheck:
    test: tuple[str, ...]  # Docker form: ("CMD", ...) or ("CMD-SHELL", "...")
    interval_seconds: int = 10
    timeout_seconds: int = 5
    retries: int = 5
    start_period_seconds: int = 20


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    image: str  # repository:tag[@digest]; never "latest" (config validation guarantees it)
    alias: str  # how sibling containers reach it on a bridge network
    healthcheck: Healthcheck
    memory_mb: int
    cpus: float
    command: Sequence[pulumi.Input[str]] = ()
    entrypoint: Sequence[str] = ()  # empty: the image's own
    env: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None  # pass a secret Output when it holds secrets
    volumes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # path in the container -> volume name
    ports: tuple[PublishedPort, ...] = ()
    uploads: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # path -> file content
    capabilities: tuple[str, ...] = ()  # extra Linux capabilities; see policy/exceptions.py
    shm_size_mb: int | None = None
    stop_grace_seconds: int = 30


def image_ref(repository: str, version: str, variant: str | None = None) -> str:
    """`repository:version[-variant][@digest]`: a digest pin goes after the whole tag."""
    tag, at, digest = version.partition("@")
    suffix = f"-{variant}" if variant else ""
    return f"{repository}:{tag}{suffix}{at}{digest}"


def run_container(
    name: str,
    spec: ContainerSpec,
    *,
    network: ContainerNetwork,
    platform: str | None,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> docker.Container:
    """Create ``<name>-image`` and the ``<name>`` container, children of ``parent``."""
    image = docker.RemoteImage(
        f"{name}-image",
        name=spec.image,
        platform=platform,
        # Other stacks or a rollback may still use the image; removing it gains nothing.
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return docker.Container(
        name,
        name=name,
        image=image.image_id,
        command=list(spec.command) or None,
        entrypoints=list(spec.entrypoint) or None,
        envs=spec.env,
        restart="unless-stopped",
        # `pulumi up` returns only once the service reports healthy, so dependants start on a ready service.
        wait=True,
        wait_timeout=spec.healthcheck.start_period_seconds
        + spec.healthcheck.retries * (spec.healthcheck.interval_seconds + spec.healthcheck.timeout_seconds),
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(spec.healthcheck.test),
            interval=f"{spec.healthcheck.interval_seconds}s",
            timeout=f"{spec.healthcheck.timeout_seconds}s",
            retries=spec.healthcheck.retries,
            start_period=f"{spec.healthcheck.start_period_seconds}s",
        ),
        memory=spec.memory_mb,
        # Without a swap limit a memory-capped container can still swap without bound.
        memory_swap=spec.memory_mb,
        cpus=f"{spec.cpus:g}",
        log_driver="json-file",
        log_opts={"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILES},
        security_opts=["no-new-privileges:true"],
        privileged=False,
        capabilities=docker.ContainerCapabilitiesArgs(adds=list(spec.capabilities)) if spec.capabilities else None,
        shm_size=spec.shm_size_mb,
        destroy_grace_seconds=spec.stop_grace_seconds,
        volumes=[
            docker.ContainerVolumeArgs(container_path=path, volume_name=volume) for path, volume in spec.volumes.items()
        ],
        uploads=[docker.ContainerUploadArgs(file=path, content=content) for path, content in spec.uploads.items()],
        **network.container_args(spec.alias, spec.ports),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),  # the caller says why, where it passes them
            # The replacement binds the same ports and volumes, so the old container must stop first.
            delete_before_replace=True,
        ),
    )


def data_volume(name: str, *, protect: bool, parent: pulumi.Resource) -> docker.Volume:
    """A named volume for a stateful path; protected where its data matters."""
    return docker.Volume(
        name,
        name=name,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect),
    )
