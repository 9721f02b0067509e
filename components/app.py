"""A team's own container: pinned image, env that may reference the services, routed by the gateway."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from components.container import ContainerSpec, Healthcheck, data_volume, run_container
from components.networking import ContainerNetwork
from renderers.app_env import APP_BIND_ADDRESS_ENV, references, resolve_env
from renderers.app_health import tcp_check

TYPE = "backing-services:index:App"


def http_healthcheck(port: int, path: str) -> tuple[str, ...]:
    """Whichever HTTP client the image has: busybox/GNU wget, else curl; a non-2xx answer fails."""
    url = f"http://127.0.0.1:{port}{path}"
    return ("CMD-SHELL", f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url}")


def store_client_env(env: Mapping[str, str], client_env: Sequence[str]) -> list[str]:
    """The store's client settings an app does not set itself: a value in apps[].env wins."""
    return [entry for entry in client_env if entry.split("=", 1)[0] not in env]


@dataclass(frozen=True, kw_only=True)
class AppArgs:
    network: ContainerNetwork
    image: str  # [registry/]repository:tag[@sha256:...], validated by the config loader
    port: int
    command: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # values may hold ${service.output} references
    references: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # what those resolve to
    # The object store's client settings (S3Endpoint.client_env), given to an app that references `${s3.*}`:
    # that app talks to the store with whatever AWS SDK it has, and the AWS_* names are the SDKs' shared ones.
    s3_client_env: Sequence[str] = ()
    health_path: str = "/health"
    tcp_health_port: int | None = None  # set: a TCP connect check (renderers/app_health.py) instead of GETting health_path
    # Docker volume name -> path in the container; each volume is named exactly so (config checks keep names unique).
    volumes: Mapping[str, str] = field(default_factory=dict)
    protect_data: bool = True
    # Apps this one is created after; their containers `wait` for healthy, so this one starts after they are.
    after: Sequence["App"] = ()
    memory_mb: int = 256
    cpus: float = 0.5
    platform: str | None = None
    # Told to the app in APP_BIND_ADDRESS_ENV; None: the network's own (loopback under host networking).
    bind_address: str | None = None


class App(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        used = sorted({ref for value in args.env.values() for ref in references(value)})
        values = pulumi.Output.all(**{ref: args.references[ref] for ref in used})
        # Always secret: a reference may carry a password, and literal values may be credentials too.
        client_env = store_client_env(args.env, args.s3_client_env) if any(r.startswith("s3.") for r in used) else []
        # Under host networking the app's listener is the host's: told loopback, only the gateway and the
        # host reach it. The loader refuses an env entry of the same name (config/checks.py).
        bind = f"{APP_BIND_ADDRESS_ENV}={args.bind_address or args.network.bind_address}"
        env = pulumi.Output.secret(values.apply(lambda resolved: [*client_env, *resolve_env(args.env, resolved), bind]))
        # Named like the services' volumes (the name is the Docker volume's and the resource's): protected and
        # retained on delete with protectData (the default), so a rename or a removed app never deletes the team's data.
        self.volumes = [data_volume(volume, protect=args.protect_data, parent=self) for volume in args.volumes]
        check = tcp_check(args.tcp_health_port) if args.tcp_health_port is not None else http_healthcheck(args.port, args.health_path)
        self.container = run_container(
            f"{name}-app",
            ContainerSpec(
                image=args.image,
                alias=name,
                command=tuple(args.command),
                env=env,
                healthcheck=Healthcheck(test=check),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes={path: volume.name for volume, path in zip(self.volumes, args.volumes.values())},
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
            # dependsOn: the provider's Create returns only once such a container reports healthy (`wait`,
            # internal/provider/resource_docker_container_funcs.go:590-627@v4.5.0), so waiting on it is
            # "after that app is healthy". Only when containers are created: Docker restarts them all at
            # once after a reboot.
            depends_on=[other.container for other in args.after],
        )
        self.address = pulumi.Output.from_input(args.network.address(name, args.port))
        self.register_outputs({"address": self.address})

