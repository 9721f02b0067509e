"""A team's own container: pinned image, env that may reference the services, routed by the gateway."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from components.container import (
    ContainerSpec,
    CreateFirst,
    Healthcheck,
    container_image,
    data_volume,
    revision_material,
    revision_name,
    run_container,
)
from components.host_shell import HostShell, LocalShell
from components.networking import ContainerNetwork
from components.secrets import generated_password
from renderers.app_env import APP_BIND_ADDRESS_ENV, APP_PORT_ENV, references, resolve_env
from renderers.app_health import LOOPBACK, tcp_check
from renderers.app_slot import parse_slot, pick_slot_command
from renderers.caddyfile import upstream_host_file

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
    # "zero-downtime": a new image or env starts a second container beside the running one (see App).
    rollout: Literal["replace", "zero-downtime"] = "replace"
    # Zero-downtime under host networking: (port, the second port); each revision listens on the one the
    # running revision does not, told in APP_PORT_ENV, chosen on the host (renderers/app_slot.py) by a
    # command in ``host_shell`` that reads the upstream file in ``gateway_container``.
    port_slots: tuple[int, int] | None = None
    host_shell: HostShell = LocalShell()
    gateway_container: str = "gateway-caddy"


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

        def check_on(port: int) -> tuple[str, ...]:
            return tcp_check(port) if args.tcp_health_port is not None else http_healthcheck(port, args.health_path)

        # The TCP check's port is apps[].port or another the app opens (config/checks.py); with two port slots it
        # is refused unless it is apps[].port, and the check follows the slot (below).
        check = check_on(args.tcp_health_port if args.tcp_health_port is not None else args.port)
        # Zero-downtime rollout, the order the engine runs it in:
        #  1. the new container `<name>-<revision>` is created beside the old one (create-before-delete, its
        #     own Docker name: components/container.CreateFirst) and `wait`s until Docker reports it healthy
        #     (resource_docker_container_funcs.go:590-624@v4.5.0); until then its `name` output is unresolved;
        #  2. the gateway's routes to the app read their host from a file in the gateway container, and the
        #     gateway's switch command (components/gateway.py) writes `self.upstream_host`, that output, into it:
        #     it has the new container as a dependency and runs only after step 1. No Caddy reload: the
        #     Caddyfile is the same for every revision (a reload drops a request: renderers/caddyfile.py
        #     UPSTREAM_HOST_FILE_DIR); requests already sent to the old container finish there;
        #  3. the old container is deleted only after the program has finished and every step of it has
        #     completed, the reload included: replaced resources are deleted in the engine's post-steps
        #     (deployment_executor.go:326-331 and 486-501, step_generator.go:2388-2422@v3.259.0).
        # A new container that never turns healthy fails its create: the old one is only marked for deletion
        # (step.go:466-472@v3.259.0), the failed step cancels the deployment before the post-steps run, the
        # new name never resolves, so the switch never runs: the old container keeps serving and `up` fails.
        # The failed container stays (the provider sets its id before waiting, funcs.go:455-460) under the
        # revision's name: a fixed image or env is a new revision and name; to retry the same one, remove it
        # (`docker rm -f <name>-<revision>`; the later delete ignores "No such container", funcs.go:1105-1109).
        #
        # Under host networking (port_slots) both revisions share the host's ports, so each listens on its own:
        #  0. before the new container, `<name>-port-slot` runs on the host and prints the slot the gateway's
        #     upstream file for the app does not point at (renderers/app_slot.py); that port is the new
        #     container's APP_PORT_ENV, its healthcheck's port and what the switch writes (`127.0.0.1:<port>`),
        #     and, being in the env, a part of the revision name. Its `triggers` are the revision material
        #     without that port: it runs again, picking again, exactly when there is a new revision; an
        #     unchanged `up` has nothing to replace, keeps the stdout in its state (`triggers` is the only
        #     replacing input, provider/pkg/provider/common/inputs.go:10@v1.2.1), so the port and the name stay.
        create_first = None
        spec = ContainerSpec(
            image=args.image,
            alias=name,
            command=tuple(args.command),
            env=env,
            healthcheck=Healthcheck(test=check),
            memory_mb=args.memory_mb,
            cpus=args.cpus,
            # The plain names (each volume's Docker name is its config name): a zero-downtime revision's name
            # hashes the spec, which an Output would change on every run (container._revision_material_static).
            volumes={path: name for name, path in args.volumes.items()},
        )
        image = None
        self.port_slot = None
        self.port: pulumi.Output[int] = pulumi.Output.from_input(args.port)
        if args.rollout == "zero-downtime":
            salt = generated_password(f"{name}-revision-salt", parent=self)
            create_first = CreateFirst(salt=salt, own_port=args.port_slots is not None)
        # Zero-downtime under host networking: each revision on its own port.
        slotted = create_first is not None and args.port_slots is not None
        if slotted:
            slots = args.port_slots
            image = container_image(f"{name}-app", spec, platform=args.platform, parent=self)
            # The revision without its port: what the app is made of, keyed like its name (nothing secret shows).
            portless = pulumi.Output.unsecret(
                pulumi.Output.all(
                    salt, revision_material(spec, platform=args.platform, image_id=image.image_id, network=args.network)
                ).apply(lambda v: revision_name(f"{name}-app", v[0], v[1]))
            )
            where = {"gateway_container": args.gateway_container, "host_file": upstream_host_file(name), "slots": slots}
            self.port_slot = args.host_shell.run(
                f"{name}-port-slot",
                script=pick_slot_command(**where),
                triggers=[portless],
                # A new connection or script text (not a new revision) updates it: it then prints the port the
                # serving revision has, so nothing rolls out (renderers/app_slot.pick_slot_command `keep`).
                update=pick_slot_command(**where, keep=True),
                parent=self,
            )
            self.port = self.port_slot.stdout.apply(lambda out: parse_slot(out, slots))
            spec = dataclasses.replace(
                spec,
                env=pulumi.Output.secret(pulumi.Output.all(env, self.port).apply(lambda v: [*v[0], f"{APP_PORT_ENV}={v[1]}"])),
                healthcheck=Healthcheck(test=self.port.apply(lambda port: list(check_on(port)))),
            )
        self.container = run_container(
            f"{name}-app",
            spec,
            image=image,
            network=args.network,
            platform=args.platform,
            parent=self,
            # dependsOn: the provider's Create returns only once such a container reports healthy (`wait`,
            # internal/provider/resource_docker_container_funcs.go:590-627@v4.5.0), so waiting on it is
            # "after that app is healthy". Only when containers are created: Docker restarts them all at
            # once after a reboot.
            # and the volumes: mounted by their plain names above, so the order is not implied by an Output.
            depends_on=[*(other.container for other in args.after), *self.volumes],
            create_first=create_first,
        )
        self.address = pulumi.Output.from_input(args.network.address(name, args.port))
        # Zero-downtime: the host the gateway's routes dial, this revision's container by its Docker name (on a
        # user-defined bridge network Docker's DNS answers container names as well as aliases), never the alias
        # the old and new container share while both run, which would also send requests to a new container
        # before it is healthy, or to one that never turns healthy.
        self.upstream_host = self.container.name if create_first is not None else None
        if slotted:
            # Under host networking: this revision's port on loopback, resolved only once the container exists.
            self.upstream_host = pulumi.Output.all(self.container.name, self.port).apply(lambda v: f"{LOOPBACK}:{v[1]}")
        self.register_outputs({"address": self.address})

