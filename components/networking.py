"""How service containers are wired to each other: the target's network strategy.

- ``BridgeNetwork`` (laptop Docker, incl. Docker Desktop): every container joins one
  user-defined bridge network and is reached by its alias; only declared ports are
  published, internal ones on 127.0.0.1.
- ``HostNetwork`` (the VM): containers share the host's network stack. Nothing goes
  through Docker's userland proxy (a 10k-port UDP range published through it exhausts
  memory), internal services bind 127.0.0.1 and are reached over loopback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_docker as docker

LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"


@dataclass(frozen=True, kw_only=True)
class PublishedPort:
    """A container port apps or users must reach from outside the container network."""

    port: int
    protocol: Literal["tcp", "udp"] = "tcp"
    public: bool = False  # False: reachable from this machine only (127.0.0.1)


@dataclass(frozen=True)
class BridgeNetwork:
    network_name: pulumi.Input[str]
    # Address a service binds inside its own container: the bridge decides exposure.
    bind_address: str = ANY
    # How containers reach programs on the host (e.g. app upstreams on a laptop).
    host_gateway_name: str = "host.docker.internal"

    def address(self, alias: str, port: int) -> str:
        return f"{alias}:{port}"

    def container_args(self, alias: str, ports: tuple[PublishedPort, ...]) -> dict[str, Any]:
        return {
            "networks_advanced": [docker.ContainerNetworksAdvancedArgs(name=self.network_name, aliases=[alias])],
            "ports": [
                docker.ContainerPortArgs(
                    internal=p.port,
                    external=p.port,
                    protocol=p.protocol,
                    ip=ANY if p.public else LOOPBACK,
                )
                for p in ports
            ],
            # Docker Desktop resolves host.docker.internal by itself; Linux engines need this entry.
            "hosts": [docker.ContainerHostArgs(host=self.host_gateway_name, ip="host-gateway")],
        }


@dataclass(frozen=True)
class HostNetwork:
    bind_address: str = LOOPBACK

    def address(self, alias: str, port: int) -> str:
        return f"{LOOPBACK}:{port}"

    def container_args(self, alias: str, ports: tuple[PublishedPort, ...]) -> dict[str, Any]:
        return {"network_mode": "host"}


@dataclass(frozen=True)
class SharedNamespace:
    """Join another container's network namespace, as a sidecar.

    Egress must reach LiveKit's media at the address LiveKit advertises; on a laptop
    that is 127.0.0.1, which only means LiveKit from inside LiveKit's own namespace.
    """

    container_id: pulumi.Input[str]
    bind_address: str = LOOPBACK

    def address(self, alias: str, port: int) -> str:
        return f"{LOOPBACK}:{port}"

    def container_args(self, alias: str, ports: tuple[PublishedPort, ...]) -> dict[str, Any]:
        return {"network_mode": pulumi.Output.concat("container:", self.container_id)}


def sidecar_network(network: BridgeNetwork | HostNetwork, container: docker.Container) -> ContainerNetwork:
    """The network for a container that must share ``container``'s view of localhost."""
    return network if isinstance(network, HostNetwork) else SharedNamespace(container.id)


ContainerNetwork = BridgeNetwork | HostNetwork | SharedNamespace
