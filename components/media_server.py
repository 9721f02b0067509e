"""LiveKit server, and LiveKit Egress uploading recordings to the object store."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from components.container import ContainerSpec, Healthcheck, image_ref, run_container
from components.networking import ANY, ContainerNetwork, PublishedPort, sidecar_network
from components.object_store import S3Endpoint
from components.secrets import generated_password
from renderers.livekit import (
    EGRESS_CONFIG_ENV,
    EGRESS_HEALTH_PORT,
    LIVEKIT_CONFIG_ENV,
    EgressConfig,
    LiveKitServerConfig,
    S3Upload,
    egress_healthcheck,
    livekit_healthcheck,
    render_egress_yaml,
    render_livekit_yaml,
)
from renderers.ports import MediaPorts

TYPE = "backing-services:index:MediaServer"
LIVEKIT_REPOSITORY = "livekit/livekit-server"
EGRESS_REPOSITORY = "livekit/egress"


@dataclass(frozen=True, kw_only=True)
class MediaServerArgs:
    network: ContainerNetwork
    redis_address: pulumi.Input[str]
    redis_password: pulumi.Input[str]
    ports: MediaPorts = MediaPorts()
    version: str = "v1.13.5"
    memory_mb: int = 1024
    cpus: float = 2.0
    use_external_ip: bool = False
    # The address advertised in ICE candidates; when set, no STUN lookup (renderers/livekit.LiveKitServerConfig).
    node_ip: str | None = None
    loopback_candidate: bool = False
    # The TURN/TLS name clients use on 443; with ports.turn_tls_port (renderers/turn_tls.py).
    turn_domain: pulumi.Input[str] | None = None
    egress_enabled: bool = True
    egress_version: str = "v1.14.1"
    egress_memory_mb: int = 2048
    egress_cpus: float = 2.0
    recordings: S3Endpoint | None = None  # required when egress is enabled
    recordings_bucket: str = "recordings"
    platform: str | None = None


class MediaServer(pulumi.ComponentResource):
    def __init__(self, name: str, args: MediaServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        if args.egress_enabled and args.recordings is None:
            raise ValueError(f"{name}: egress is enabled but no recordings store was given")
        api_key = random.RandomString(
            f"{name}-api-key", length=14, special=False, opts=pulumi.ResourceOptions(parent=self)
        ).result.apply(lambda s: f"API{s}")
        api_secret = generated_password(f"{name}-api-secret", parent=self, length=48)
        ports = args.ports
        # On the VM the signal port is reached through the gateway on loopback only.
        bind = (args.network.bind_address,) if args.network.bind_address != ANY else ()

        def livekit_config(values: list[str]) -> LiveKitServerConfig:
            key, secret, redis_address, redis_password, turn_domain = values
            return LiveKitServerConfig(
                ports=ports,
                api_key=key,
                api_secret=secret,
                redis_address=redis_address,
                redis_password=redis_password,
                bind_addresses=bind,
                use_external_ip=args.use_external_ip and args.node_ip is None,
                node_ip=args.node_ip,
                enable_loopback_candidate=args.loopback_candidate,
                turn_domain=turn_domain,
            )

        livekit_env = pulumi.Output.all(api_key, api_secret, args.redis_address, args.redis_password, args.turn_domain).apply(
            lambda values: [f"{LIVEKIT_CONFIG_ENV}={render_livekit_yaml(livekit_config(values))}"]
        )
        published = [
            PublishedPort(port=ports.signal_port),  # server SDKs on the host call the API directly
            PublishedPort(port=ports.tcp_port, public=True),
        ]
        if ports.udp_mux_port is not None:
            published.append(PublishedPort(port=ports.udp_mux_port, protocol="udp", public=True))
        if ports.turn_udp_port is not None:
            published.append(PublishedPort(port=ports.turn_udp_port, protocol="udp", public=True))
        self.livekit = run_container(
            f"{name}-livekit",
            ContainerSpec(
                image=image_ref(LIVEKIT_REPOSITORY, args.version),
                alias="livekit",
                env=pulumi.Output.secret(livekit_env),
                healthcheck=Healthcheck(test=tuple(livekit_healthcheck(signal_port=ports.signal_port, bind_addresses=bind))),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                ports=tuple(published),
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
        )
        self.signal_address = pulumi.Output.from_input(args.network.address("livekit", ports.signal_port))

        self.egress = None
        if args.egress_enabled and args.recordings is not None:
            self.egress = self._egress(name, args, api_key, api_secret)

        self.api_key = api_key
        self.api_secret = api_secret
        self.register_outputs({"apiKey": api_key, "apiSecret": api_secret, "signalAddress": self.signal_address})

    def _egress(self, name: str, args: MediaServerArgs, api_key, api_secret):
        store = args.recordings
        network = sidecar_network(args.network, self.livekit)
        ws_url = f"ws://{network.address('livekit', args.ports.signal_port)}"

        def egress_config(values: list[str]) -> EgressConfig:
            key, secret, redis_address, redis_password, endpoint, region, access_key, secret_key = values
            return EgressConfig(
                api_key=key,
                api_secret=secret,
                ws_url=ws_url,
                redis_address=redis_address,
                redis_password=redis_password,
                s3=S3Upload(
                    endpoint=endpoint,
                    region=region,
                    bucket=args.recordings_bucket,
                    access_key=access_key,
                    secret_key=secret_key,
                    force_path_style=store.path_style,
                ),
                cpus=args.egress_cpus,
            )

        values = pulumi.Output.all(
            api_key,
            api_secret,
            args.redis_address,
            args.redis_password,
            store.internal_endpoint,
            store.region,
            store.access_key,
            store.secret_key,
        )
        # The store's client settings (OCI: checksums only where required, components/object_store.py
        # OCI_S3_CLIENT_ENV): Egress's S3 client is aws-sdk-go-v2 built by config.LoadDefaultConfig, which reads
        # them (livekit/storage s3.go:133@078f23c; Egress v1.14.1 pins a later commit, go.mod:28). Its config
        # file has no checksum setting (storage config.go:47-65 S3Config); its uploads to *.oraclecloud.com already swap
        # the SDK's checksum middleware for Content-MD5 (s3.go:199-210), and these cover every other request.
        env = values.apply(
            lambda v: [f"{EGRESS_CONFIG_ENV}={render_egress_yaml(egress_config(v))}", *store.client_env]
        )
        return run_container(
            f"{name}-egress",
            ContainerSpec(
                image=image_ref(EGRESS_REPOSITORY, args.egress_version),
                alias="egress",
                env=pulumi.Output.secret(env),
                healthcheck=Healthcheck(test=tuple(egress_healthcheck(EGRESS_HEALTH_PORT)), start_period_seconds=60),
                memory_mb=args.egress_memory_mb,
                cpus=args.egress_cpus,
            ),
            network=network,
            platform=args.platform,
            parent=self,
            # Egress registers with LiveKit through Redis at start; LiveKit must be serving first.
            depends_on=[self.livekit],
        )
