"""Caddy in front of everything: TLS, routes to apps, LiveKit signalling, /health."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import pulumi

from components.container import ContainerSpec, Healthcheck, ImageBuild, image_ref, data_volume, run_container
from components.host_shell import HostShell, LocalShell
from components.networking import ContainerNetwork, PublishedPort
from renderers.caddyfile import (
    CADDYFILE_PATH,
    HEALTH_PORT,
    CaddyConfig,
    Route,
    healthcheck_command,
    reload_command,
    render_caddyfile,
    root_cert_command,
    switch_upstream_command,
    upstream_host_file,
)
from renderers.turn_tls import CADDY_L4_MODULE, CADDY_L4_VERSION, GATEWAY_L4_BUILD_CONTEXT, gateway_l4_image

TYPE = "backing-services:index:Gateway"


def caddy_container_name(name: str) -> str:
    """The gateway container's Docker name (fixed: it is not created first), which the apps' slot pickers read."""
    return f"{name}-caddy"


@dataclass(frozen=True, kw_only=True)
class SwitchedUpstream:
    """A zero-downtime app's current upstream: what its routes' file in the gateway holds."""

    app: str  # names the file (renderers/caddyfile.upstream_host_file) and the switch command
    # Its current container's Docker name on a bridge network; `127.0.0.1:<port>` under host networking,
    # where each revision listens on its own port (renderers/app_slot.py; with_port).
    host: pulumi.Input[str]
    with_port: bool = False


@dataclass(frozen=True, kw_only=True)
class GatewayArgs:
    network: ContainerNetwork
    domain: pulumi.Input[str]
    version: str = "2.11.7"
    tls: Literal["internal", "acme"] = "acme"
    acme_email: str | None = None
    acme_staging: bool = False
    http_port: int = 80
    https_port: int = 443
    routes: tuple[Route, ...] = ()
    # A route's upstream as written in `routes` -> the host it goes to now: a zero-downtime app's current
    # container (components/app.App.upstream_host). Those routes read their host from a file in the gateway
    # (Route.host_file), so the Caddyfile is the same for every revision and a rollout reloads nothing; the
    # switch below rewrites the file, and being an Output of the new container it runs only once that
    # container is healthy (its create `wait`s).
    upstreams: Mapping[str, "SwitchedUpstream"] = field(default_factory=dict)
    media_upstream: pulumi.Input[str] | None = None
    media_subdomain: str = "livekit"
    hsts_max_age_seconds: int = 31_536_000
    # More names the main site answers with the same routes (renderers/caddyfile.CaddyConfig.extra_names).
    extra_names: tuple[str, ...] = ()
    # TURN/TLS shares https_port by SNI (renderers/turn_tls.py): both or neither. The upstream is
    # LiveKit's plain-TCP TURN listener at the host's own non-loopback address.
    turn_domain: pulumi.Input[str] | None = None
    turn_upstream: pulumi.Input[str] | None = None
    memory_mb: int = 256
    cpus: float = 1.0
    platform: str | None = None
    protect_data: bool = True
    host_shell: HostShell = LocalShell()


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)

        if (args.turn_domain is None) != (args.turn_upstream is None):
            raise ValueError(f"{name}: turn_domain and turn_upstream go together")
        turn_tls = args.turn_domain is not None

        host_files = {upstream: upstream_host_file(u.app) for upstream, u in args.upstreams.items()}

        def caddy_config(values: list) -> CaddyConfig:
            domain, media_upstream, turn_domain, turn_upstream = values
            routes = tuple(
                replace(r, host_file=host_files[r.upstream], host_file_has_port=args.upstreams[r.upstream].with_port)
                if r.upstream in host_files
                else r
                for r in args.routes
            )
            return CaddyConfig(
                domain=domain,
                tls=args.tls,
                acme_email=args.acme_email,
                acme_staging=args.acme_staging,
                http_port=args.http_port,
                https_port=args.https_port,
                routes=routes,
                media_subdomain=args.media_subdomain,
                media_upstream=media_upstream,
                hsts_max_age_seconds=args.hsts_max_age_seconds,
                extra_names=args.extra_names,
                turn_domain=turn_domain,
                turn_upstream=turn_upstream,
            )

        config = pulumi.Output.all(args.domain, args.media_upstream, args.turn_domain, args.turn_upstream).apply(caddy_config)
        # Certificates and ACME account keys live in /data: losing them means re-issuing and rate limits.
        certificates = data_volume(f"{name}-data", protect=args.protect_data, parent=self)
        self.caddyfile = config.apply(render_caddyfile)
        container_name = caddy_container_name(name)
        self.container = run_container(
            container_name,
            ContainerSpec(
                # The official image has no layer4 module; with TURN/TLS the same release is built with it.
                image=gateway_l4_image(args.version) if turn_tls else image_ref("caddy", args.version, "alpine"),
                build=ImageBuild(
                    context=GATEWAY_L4_BUILD_CONTEXT,
                    args={
                        "CADDY_RELEASE": args.version,
                        "CADDY_L4_MODULE": CADDY_L4_MODULE,
                        "CADDY_L4_VERSION": CADDY_L4_VERSION,
                    },
                )
                if turn_tls
                else None,
                alias="gateway",
                # The upstream files too, so a new container's first requests already have a host to dial. The
                # provider writes each as one tar entry at its path, mode 0644 (resource_docker_container_funcs.go:
                # 543-580@v4.5.0), the mode the switch script keeps; `upload` is force-new and never read back
                # (resource_docker_container.go:987-1013, funcs.go:959@v4.5.0), hence first boot only, below.
                uploads={
                    CADDYFILE_PATH: self.caddyfile,
                    **{
                        host_files[upstream]: pulumi.Output.concat(u.host, "\n")
                        for upstream, u in args.upstreams.items()
                    },
                },
                healthcheck=Healthcheck(
                    test=tuple(healthcheck_command(HEALTH_PORT)),
                    # Issuing a first certificate over ACME can take a while.
                    start_period_seconds=60,
                ),
                # Routes, headers and names change in place: see the reload below.
                uploads_first_boot_only=True,
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes={"/data": certificates.name},
                ports=(
                    PublishedPort(port=args.http_port, public=True),
                    PublishedPort(port=args.https_port, public=True),
                ),
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
        )
        # Zero-downtime apps: point their routes at the current container. A new revision's name is an Output
        # of its create, which `wait`s for healthy, so this runs only after that; the old container is deleted
        # later, in the engine's post-steps (components/app.py). Again on a new gateway container, which starts
        # from the files it was first created with (uploads are first-boot only).
        switches = [
            args.host_shell.run(
                f"{name}-upstream-{u.app}",
                script=pulumi.Output.from_input(u.host).apply(
                    lambda h, f=host_files[upstream], p=u.with_port: switch_upstream_command(
                        h, container=container_name, host_file=f, with_port=p
                    )
                ),
                triggers=[u.host, self.container.id],
                parent=self,
                # Writes into the running container; it must exist and be healthy first.
                depends_on=[self.container],
            )
            for upstream, u in args.upstreams.items()
        ]
        # A changed Caddyfile is validated and loaded by the running Caddy: live HTTPS and WebSocket
        # connections stay up (renderers/caddyfile.py), though a request on a connection the old config accepted
        # just before can be closed unanswered (renderers/caddyfile.UPSTREAM_HOST_FILE_DIR): app rollouts never
        # reload. It runs again whenever the container is new, since a replacement starts from the Caddyfile
        # it was first created with.
        reload = self.caddyfile.apply(lambda text: reload_command(text, container=container_name))
        args.host_shell.run(
            f"{name}-reload",
            script=reload,
            triggers=[self.caddyfile, self.container.id],
            parent=self,
            # Reloads the running container; it must exist and be healthy first. After the switches: a
            # Caddyfile that newly reads an upstream file must find it written.
            depends_on=[self.container, *switches],
        )
        port_suffix = "" if args.https_port == 443 else f":{args.https_port}"
        self.url = pulumi.Output.format("https://{0}{1}", args.domain, port_suffix)
        self.health_url = pulumi.Output.format("{0}/health", self.url)
        self.media_url = pulumi.Output.format("wss://{0}.{1}{2}", args.media_subdomain, args.domain, port_suffix)
        outputs = {"url": self.url, "healthUrl": self.health_url, "mediaUrl": self.media_url}
        # With Caddy's internal CA: how to copy its root out of the running container, for clients to trust it
        # (README, "Trust the gateway's internal CA"). Nothing with ACME, whose roots clients already have.
        self.root_cert_command = None
        if args.tls == "internal":
            self.root_cert_command = pulumi.Output.from_input(root_cert_command(container=container_name))
            outputs["rootCertCommand"] = self.root_cert_command
        self.turn_tls_url = None
        if turn_tls:
            # What LiveKit hands clients (roommanager.go iceServersForParticipant@v1.13.5), for checks.
            self.turn_tls_url = pulumi.Output.format("turns:{0}:{1}?transport=tcp", args.turn_domain, args.https_port)
            outputs["turnTlsUrl"] = self.turn_tls_url
        self.register_outputs(outputs)
