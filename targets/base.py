"""What a target hands to the components: where containers run and how they connect."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.host_shell import HostShell
from components.networking import ContainerNetwork
from components.object_store import ContainerBackend, ObjectStoreBackend
from config.model import StackConfig
from renderers.registry import auth_address


def registry_auth(cfg: StackConfig) -> list[docker.ProviderRegistryAuthArgs] | None:
    """Pull logins for the apps' private registries, for the docker provider (passwords as secrets).

    Username and password win over the provider's default config_file (~/.docker/config.json)
    (providerSetToRegistryAuth, internal/provider/provider.go:326-336@v4.5.0).
    """
    return [
        docker.ProviderRegistryAuthArgs(
            address=auth_address(host), username=login.username, password=pulumi.Output.secret(login.password)
        )
        for host, login in sorted(cfg.registry_credentials.items())
    ] or None


def container_object_store(cfg: StackConfig, network: ContainerNetwork, platform: str | None) -> ContainerBackend:
    """versitygw next to the services, for the targets that have no object storage of their own."""
    store = cfg.object_store
    return ContainerBackend(
        version=store.version,
        region=store.region,
        port=store.port,
        memory_mb=store.memory_mb,
        cpus=store.cpus,
        network=network,
        platform=platform,
        protect_data=cfg.protect_data,
    )


@dataclass(frozen=True)
class Target:
    name: str  # "docker" or "oci", for outputs only
    docker_provider: docker.Provider
    network: ContainerNetwork
    platform: str | None  # image platform to pull, e.g. "linux/arm64"
    domain: pulumi.Output[str]  # the name the gateway serves
    object_store_backend: ObjectStoreBackend
    # LiveKit's view of its own address: the VM discovers its public IP via STUN; on a
    # laptop it adds a loopback candidate for Egress in its namespace (see renderers/livekit.py).
    media_use_external_ip: bool
    media_loopback_candidate: bool
    # Where day-2 commands (password, Caddy reload, PostgreSQL major check) run.
    host_shell: HostShell
    extra_outputs: dict[str, pulumi.Input] = field(default_factory=dict)
    # The host's own non-loopback address, where the gateway reaches LiveKit's TURN/TLS listener
    # (renderers/turn_tls.py); None where TURN/TLS cannot run (docker).
    turn_tls_upstream_host: pulumi.Input[str] | None = None
    oci_provider: pulumi.ProviderResource | None = None
