"""The one way every service container is run.

Whatever the service, its container gets: a pinned image pulled for the target's
platform, a healthcheck that Pulumi waits on, ``restart: unless-stopped``, json-file
log rotation, memory and CPU limits, ``no-new-privileges``, never privileged mode,
and its stateful paths on named volumes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.networking import ContainerNetwork, HostNetwork, PublishedPort

LOG_MAX_SIZE = "10m"
LOG_MAX_FILES = "5"


@dataclass(frozen=True, kw_only=True)
class Healthcheck:
    # Docker form: ("CMD", ...) or ("CMD-SHELL", "..."); an Output when it names a port chosen at deploy time
    # (a zero-downtime app under host networking, components/app.py), which a create-first name then hashes.
    test: tuple[str, ...] | pulumi.Output[Sequence[str]]
    interval_seconds: int = 10
    timeout_seconds: int = 5
    retries: int = 5
    start_period_seconds: int = 20


@dataclass(frozen=True, kw_only=True)
class ImageBuild:
    """Build the image on the target's engine from a Dockerfile in this repository, instead of pulling it.

    The docker provider tars ``context`` on the machine running Pulumi and builds it on the engine
    it talks to (over SSH on a VM), then finds the built image by its name: docker_image's
    ``build`` block (internal/provider/resource_docker_image_funcs.go resourceDockerImageCreate,
    buildImage, findImage@v4.5.0; every build field is force-new, resource_docker_image.go).
    ``context`` is relative to the project directory: the engine starts provider plugins there
    (sdk/go/common/resource/plugin/plugin.go:599 ``cmd.Dir = pwd`` with ctx.Pwd,
    provider_plugin.go:287@v3.259.0), so the state holds the same text on every teammate's checkout.
    The image name must change with what the build produces (pinned versions in the tag): the
    name is what makes a new image, and with it a new container.
    """

    context: str
    args: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    image: str  # repository:tag[@digest]; never "latest" (config validation guarantees it)
    alias: str  # how sibling containers reach it on a bridge network
    healthcheck: Healthcheck
    memory_mb: int
    cpus: float
    # The image's CMD when empty; an Output when the command is known only at deploy time.
    command: Sequence[pulumi.Input[str]] | pulumi.Output[Sequence[str]] = ()
    entrypoint: Sequence[str] = ()  # empty: the image's own
    env: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None  # pass a secret Output when it holds secrets
    volumes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # path in the container -> volume name
    ports: tuple[PublishedPort, ...] = ()
    uploads: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # path -> file content
    capabilities: tuple[str, ...] = ()  # extra Linux capabilities; see policy/exceptions.py
    shm_size_mb: int | None = None
    stop_grace_seconds: int = 30
    stop_signal: str | None = None  # None: the image's own STOPSIGNAL
    # Uploads written at creation only; later content reaches the running container another way
    # (the gateway reloads its Caddyfile in place instead of being replaced).
    uploads_first_boot_only: bool = False
    build: ImageBuild | None = None  # None: pull ``image``


@dataclass(frozen=True, kw_only=True)
class CreateFirst:
    """Replace the container create-before-delete, under a new name per revision (zero-downtime rollouts).

    The name is ``<name>-<revision>``: the revision is a hash of everything the container is made of
    (image id, resolved env, the rest of the spec, platform, network), keyed with ``salt`` (a secret
    random value of the caller's) so that the name, which is plaintext in the state, says nothing about
    the secrets in the env. Any change to those is a new name, so the new container can be created
    while the old one, under its old name, still runs and serves.

    Under host networking both would bind the same ports, so there ``own_port`` must say the caller gives
    each revision a port the running one does not hold (components/app.py, renderers/app_slot.py).
    """

    salt: pulumi.Input[str]
    own_port: bool = False


def revision_name(name: str, salt: str, material: Sequence[object]) -> str:
    """``<name>-<10 hex>``: keyed sha256 of ``material`` (JSON), the same text for the same inputs on every run."""
    digest = hashlib.sha256(salt.encode() + b"\0" + json.dumps(list(material), sort_keys=True).encode()).hexdigest()
    return f"{name}-{digest[:10]}"


def _revision_material_static(spec: ContainerSpec, platform: str | None) -> str:
    """The spec's plain fields as stable text; an Output there would make a new name on every run.

    An Output healthcheck test is left out here and hashed resolved (revision_material).
    """
    plain = dataclasses.replace(spec, env=None)
    if isinstance(spec.healthcheck.test, pulumi.Output):
        plain = dataclasses.replace(plain, healthcheck=dataclasses.replace(spec.healthcheck, test=()))
    outputs = [spec.command] if isinstance(spec.command, pulumi.Output) else list(spec.command)
    outputs += [*spec.volumes.values(), *spec.uploads.values()]
    if any(isinstance(value, pulumi.Output) for value in outputs):
        raise ValueError(f"{spec.alias}: a create-first container takes plain command, volumes and uploads")
    return repr((plain, platform))


def revision_material(
    spec: ContainerSpec, *, platform: str | None, image_id: pulumi.Input[str], network: ContainerNetwork
) -> pulumi.Output[list]:
    """Everything a create-first container is made of, resolved: what its revision name hashes.

    The list is the same as before Healthcheck.test could be an Output, so an existing app's name stays.
    """
    static = _revision_material_static(spec, platform)
    test = spec.healthcheck.test
    parts = [image_id, spec.env, getattr(network, "network_name", "")]
    if isinstance(test, pulumi.Output):
        parts.append(test)
    return pulumi.Output.all(*parts).apply(
        lambda v: [v[0], sorted(v[1] or []), static, v[2], *([list(v[3])] if len(v) > 3 else [])]
    )


def container_image(name: str, spec: ContainerSpec, *, platform: str | None, parent: pulumi.Resource) -> docker.RemoteImage:
    """``<name>-image``: the pinned image pulled (or built) for the target's platform."""
    build = spec.build
    return docker.RemoteImage(
        f"{name}-image",
        name=spec.image,
        platform=platform,
        build=docker.RemoteImageBuildArgs(context=build.context, build_args=dict(build.args), platform=platform)
        if build is not None
        else None,
        # Other stacks or a rollback may still use the image; removing it gains nothing.
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def docker_cpus(cpus: float) -> str:
    """``cpus`` in the exact text the docker provider reads back, so a second `up` sees no change.

    Read stores NanoCPUs through nanoInt64ToDecimalString (kreuzwerker/terraform-provider-docker
    internal/provider/helpers.go:133-149@v4.5.0): nine decimals, then "N.N" when that text holds
    exactly nine zeros, else trailing zeros trimmed. So 1 reads back as "1.0", 10 as "10.",
    0.5 as "0.5". `cpus` is force-new (resource_docker_container.go:1158-1163), so sending "1"
    would replace the container on every run. Config allows multiples of 0.1 only, which this
    form keeps exactly.
    """
    nanos = round(cpus * 1_000_000_000)
    whole, fraction = divmod(nanos, 1_000_000_000)
    nine = f"{whole}.{fraction:09d}"
    if nine.count("0") == 9:
        return f"{whole}.{round(fraction / 100_000_000)}"
    return nine.rstrip("0")


def go_duration(seconds: int) -> str:
    """Whole seconds as Go's time.Duration.String(), the form the provider reads healthcheck
    durations back in (resource_docker_container_funcs.go:960-971@v4.5.0): 60 -> "1m0s", not "60s".
    """
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


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
    create_first: CreateFirst | None = None,
    image: docker.RemoteImage | None = None,
) -> docker.Container:
    """Create ``<name>-image`` and the ``<name>`` container, children of ``parent``.

    With ``create_first`` the container's Docker name is ``<name>-<revision>`` (see CreateFirst) and a
    replacement is created before the old one is deleted; ``<name>`` stays its Pulumi name (URN).
    ``image``: one the caller made with ``container_image`` (it needs its id first); else made here.
    """
    if create_first is not None and isinstance(network, HostNetwork) and not create_first.own_port:
        # Both would bind the app's port on the host's one network stack (config/checks.py refuses this first).
        raise ValueError(f"{name}: create-first under host networking needs a port per revision (CreateFirst.own_port)")
    if image is None:
        image = container_image(name, spec, platform=platform, parent=parent)
    docker_name: pulumi.Input[str] = name
    if create_first is not None:
        material = revision_material(spec, platform=platform, image_id=image.image_id, network=network)
        docker_name = pulumi.Output.all(create_first.salt, material).apply(lambda v: revision_name(name, v[0], v[1]))
        # A keyed hash reveals nothing of the secrets in it; the name is what the gateway routes to.
        docker_name = pulumi.Output.unsecret(docker_name)
    return docker.Container(
        name,
        name=docker_name,
        image=image.image_id,
        command=spec.command if isinstance(spec.command, pulumi.Output) else list(spec.command) or None,
        entrypoints=list(spec.entrypoint) or None,
        envs=spec.env,
        restart="unless-stopped",
        # `pulumi up` returns only once the service reports healthy, so dependants start on a ready service.
        wait=True,
        wait_timeout=spec.healthcheck.start_period_seconds
        + spec.healthcheck.retries * (spec.healthcheck.interval_seconds + spec.healthcheck.timeout_seconds),
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=spec.healthcheck.test if isinstance(spec.healthcheck.test, pulumi.Output) else list(spec.healthcheck.test),
            interval=go_duration(spec.healthcheck.interval_seconds),
            timeout=go_duration(spec.healthcheck.timeout_seconds),
            retries=spec.healthcheck.retries,
            start_period=go_duration(spec.healthcheck.start_period_seconds),
        ),
        memory=spec.memory_mb,
        # Without a swap limit a memory-capped container can still swap without bound.
        memory_swap=spec.memory_mb,
        cpus=docker_cpus(spec.cpus),
        log_driver="json-file",
        log_opts={"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILES},
        security_opts=["no-new-privileges:true"],
        privileged=False,
        capabilities=docker.ContainerCapabilitiesArgs(adds=list(spec.capabilities)) if spec.capabilities else None,
        shm_size=spec.shm_size_mb,
        # Pulumi's own stop on replace/destroy (the provider kills at once when unset).
        destroy_grace_seconds=spec.stop_grace_seconds,
        # Docker's stop timeout: `docker stop`, daemon and host shutdown (moby stops each container
        # with its StopTimeout, default 10 s, and extends its own shutdown to the longest + 5 s).
        stop_timeout=spec.stop_grace_seconds,
        stop_signal=spec.stop_signal,
        volumes=[
            docker.ContainerVolumeArgs(container_path=path, volume_name=volume) for path, volume in spec.volumes.items()
        ],
        uploads=[docker.ContainerUploadArgs(file=path, content=content) for path, content in spec.uploads.items()],
        **network.container_args(spec.alias, spec.ports),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),  # the caller says why, where it passes them
            # The replacement binds the same ports and volumes, so the old container must stop first.
            # Create-first: it has its own name and no published ports (on a bridge network) or its own port
            # (under host networking, CreateFirst.own_port), so the old one keeps serving until the engine
            # deletes it, after everything else (see components/app.py).
            delete_before_replace=create_first is None,
            # The provider neither updates nor replaces on a healthcheck change (v4.5.0): the new check would never run.
            # Create-first: "*" also replaces a container whose create failed its `wait` (the bridge keeps it with
            # init errors, pkg/tfbridge/provider.go:1370-1413@v3.136.0); without it the next `up` would "update" it in
            # place (step_generator.go:2178-2191@v3.259.0), never wait for healthy (resourceDockerContainerUpdate,
            # resource_docker_container_funcs.go:991-1067@v4.5.0), and route to it. With "*" an init error is a
            # replacement (applyReplaceOnChanges, step_generator.go:3183-3201@v3.259.0), created and waited on anew.
            replace_on_changes=["*"] if create_first is not None else ["healthcheck"],
            # Uploads are force-new; a component that applies new content in place keeps its container.
            ignore_changes=["uploads"] if spec.uploads_first_boot_only else None,
        ),
    )


def data_volume(name: str, *, protect: bool, parent: pulumi.Resource) -> docker.Volume:
    """A named volume for a stateful path; protected where its data matters."""
    return docker.Volume(
        name,
        name=name,
        opts=pulumi.ResourceOptions(
            parent=parent,
            protect=protect,
            retain_on_delete=protect,
            # Create-first would "create" the same named volume (Docker returns the existing one), then force-delete it.
            delete_before_replace=True,
        ),
    )
