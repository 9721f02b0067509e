"""A machine the team already has (OzMirror's Raspberry Pi 4, any VPS): Docker over SSH, no cloud resources.

The same strategies as the VM: host networking (internal services on 127.0.0.1), day-2 commands over SSH,
LiveKit discovering its public address over STUN. Unlike the VM nothing here provisions the machine: the
program runs containers on the Docker engine that is already there and, with host.firewall.enabled only,
installs the VM's firewall script closing every port but SSH, HTTP/HTTPS and the media ports.
"""
from __future__ import annotations

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components.host_shell import RemoteShell
from components.networking import HostNetwork
from config.model import StackConfig
from config.derived import media_ports
from renderers.host_firewall import host_firewall_install_command, host_firewall_remove_command
from renderers.ports import existing_host_ingress
from renderers.existing_host import default_domain, docker_host, ready_command
from renderers.remote_host import docker_ssh_opts
from targets.base import Target, container_object_store, registry_auth
from targets.ssh_key import ssh_private_key

TYPE = "backing-services:index:ExistingHost"


class ExistingHost(pulumi.ComponentResource):
    """The SSH connection, a readiness check, and a docker provider that deploys onto the machine."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        host = cfg.host
        assert host is not None, "config validation requires the host block for target 'host'"
        connection = command.remote.ConnectionArgs(
            host=host.address,
            port=host.ssh_port,
            user=host.ssh_user,
            private_key=pulumi.Output.secret(ssh_private_key(host.ssh_private_key_file, "host.sshPrivateKeyFile")),
            # A machine at home may be slow to answer; bounded, not forever.
            dial_error_limit=10,
            per_dial_timeout=10,
        )
        # Checks the engine can enforce the limits and runs host.platform's images. A changed text (another
        # host.platform) is an update that runs `create` again (remote/commandController.go:63-82@v1.2.1),
        # before the provider and every pull that depend on it.
        ready = command.remote.Command(
            f"{name}-ready",
            connection=connection,
            create=ready_command(host.platform),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.shell = RemoteShell(connection, ready)
        if host.firewall.enabled:
            ingress = existing_host_ingress(
                media_ports(cfg) if cfg.media_server.enabled else None,
                ssh_port=host.ssh_port,
                http_port=cfg.gateway.http_port,
                https_port=cfg.gateway.https_port,
                mdns=host.address.endswith(".local"),
            )
            install = host_firewall_install_command(ingress, closing=True)
            command.remote.Command(
                f"{name}-firewall",
                connection=connection,
                # A changed port list runs `update` in place (remote/commandController.go:63-82@v1.2.1).
                # No triggers: they force a replacement (common/inputs.go:10@v1.2.1), whose create-first
                # order would run the old resource's delete after the new install and open the host.
                create=install,
                update=install,
                # Turning it off (or destroying the stack) gives the host back as it was: no chain, no unit.
                delete=host_firewall_remove_command(),
                # Docker must answer first: the same check stops a host that cannot run the stack at all.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ready]),
            )
        self.docker_provider = docker.Provider(
            f"{name}-docker",
            host=docker_host(host.ssh_user, host.address, host.ssh_port),
            ssh_opts=docker_ssh_opts(host.ssh_private_key_file),
            registry_auth=registry_auth(cfg),
            # Deploying before the check passed would fail on a dial error instead of saying what is missing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready]),
        )
        self.register_outputs({"address": host.address})


def existing_host_target(cfg: StackConfig) -> Target:
    host = cfg.host
    assert host is not None, "config validation requires the host block for target 'host'"
    machine = ExistingHost("host", cfg)
    network = HostNetwork()
    return Target(
        name="host",
        docker_provider=machine.docker_provider,
        network=network,
        platform=host.platform,
        domain=pulumi.Output.from_input(cfg.domain or default_domain(host.address)),
        object_store_backend=container_object_store(cfg, network, platform=host.platform),
        media_use_external_ip=True,
        media_loopback_candidate=False,
        host_shell=machine.shell,
        extra_outputs={"hostAddress": host.address},
        # The loader requires upstreamAddress when host.address is a name (config/checks.py).
        turn_tls_upstream_host=cfg.media_server.turn_tls.upstream_address or host.address,
    )
