"""The laptop target: the local Docker engine (Docker Desktop, Colima, or Docker on Linux)."""
from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.host_shell import LocalShell
from components.networking import BridgeNetwork
from config.model import StackConfig
from targets.base import Target, container_object_store, registry_auth

TYPE = "backing-services:index:LocalDockerHost"


class LocalDockerHost(pulumi.ComponentResource):
    """The Docker engine on this machine and the bridge network the services share."""

    def __init__(self, name: str, registry_auth=None, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        # Uses DOCKER_HOST or the default socket, like the docker CLI does.
        self.provider = docker.Provider(
            f"{name}-engine", registry_auth=registry_auth, opts=pulumi.ResourceOptions(parent=self)
        )
        self.network = docker.Network(
            f"{name}-network",
            name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
            driver="bridge",
            # Create-first fails on a fixed name ("network with name ... already exists").
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, delete_before_replace=True),
        )
        self.register_outputs({"network": self.network.name})


def local_docker_target(cfg: StackConfig) -> Target:
    host = LocalDockerHost("local", registry_auth=registry_auth(cfg))
    network = BridgeNetwork(host.network.name)
    return Target(
        name="docker",
        docker_provider=host.provider,
        network=network,
        platform=None,  # the engine's own architecture: arm64 on Apple silicon, amd64 elsewhere
        domain=pulumi.Output.from_input(cfg.domain or "localhost"),
        object_store_backend=container_object_store(cfg, network, platform=None),
        media_use_external_ip=False,
        media_loopback_candidate=True,
        host_shell=LocalShell(),
    )
