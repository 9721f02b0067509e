"""A machine the team already has (OzMirror's Raspberry Pi 4, any VPS): Docker over SSH, no cloud resources.

The same strategies as the VM: host networking (internal services on 127.0.0.1), day-2 commands over SSH,
LiveKit discovering its public address over STUN. Unlike the VM nothing here provisions the machine: the
program runs containers on the Docker engine that is already there and, with host.firewall.enabled only,
installs the VM's firewall script closing every port but SSH, HTTP/HTTPS and the media ports.
"""
from __future__ import annotations

import os

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components.host_shell import RemoteShell
from components.networking import HostNetwork
from config.model import StackConfig
from config.derived import media_ports
from config.errors import ConfigError, Problem
from config.loader import PROJECT
from renderers.existing_host import (
    control_dir_fits,
    default_domain,
    docker_host,
    docker_ssh_opts,
    pinned_host_key,
    ready_command,
)
from renderers.host_firewall import host_firewall_install_command, host_firewall_remove_command
from renderers.ports import existing_host_ingress
from targets.base import Target, container_object_store, registry_auth
from targets.ssh_key import is_encrypted_private_key, ssh_private_key

TYPE = "backing-services:index:ExistingHost"


class ExistingHost(pulumi.ComponentResource):
    """The SSH connection, a readiness check, and a docker provider that deploys onto the machine."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        host = cfg.host
        assert host is not None, "config validation requires the host block for target 'host'"
        assert host.host_key is not None, "config validation requires host.hostKey"
        # Both paths dial host.address as given: the loader refuses .local names, which only the system
        # resolver of docker's ssh could resolve (renderers/existing_host.mdns_name_problem).
        connection = command.remote.ConnectionArgs(
            host=host.address,
            port=host.ssh_port,
            user=host.ssh_user,
            # With it, pulumi-command checks the server's key (ssh.FixedHostKey, offering only its type);
            # without it, it would accept any (connection.go:85-98@v1.2.1).
            host_key=pinned_host_key(host.host_key),
            private_key=None if host.ssh_agent else pulumi.Output.secret(_private_key(host.ssh_private_key_file)),
            # No agentSocketPath: pulumi-command then dials SSH_AUTH_SOCK of its own process, which
            # inherits the CLI's environment (connection.go:131-145, connection_unix.go:12-17@v1.2.1). A path
            # here would be an input that differs per login session, and every remote Command runs its
            # script again when its connection changes (Update runs `update`, commandController.go:63-83).
            # A machine at home may be slow to answer; bounded, not forever.
            dial_error_limit=10,
            per_dial_timeout=10,
        )
        if host.ssh_agent:
            _require_agent()
        # Checks the engine can enforce the limits and runs host.platform's images, and with ClickHouse, the CPU
        # (its image dies with SIGILL on a Pi 4). A changed text (another host.platform, analytics turned on) is an
        # update that runs `create` again (remote/commandController.go:63-82@v1.2.1), before the provider and
        # every pull that depend on it.
        ready = command.remote.Command(
            f"{name}-ready",
            connection=connection,
            create=ready_command(host.platform, clickhouse=cfg.analytics.enabled),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.shell = RemoteShell(connection, ready)
        if host.firewall.enabled:
            ingress = existing_host_ingress(
                media_ports(cfg) if cfg.media_server.enabled else None,
                ssh_port=host.ssh_port,
                http_port=cfg.gateway.http_port,
                https_port=cfg.gateway.https_port,
                # The LAN finds a `.local` gateway name (OzMirror's mirror.local) by asking the host over mDNS.
                # host.address cannot be one (config/checks.py: pulumi-command does no mDNS).
                mdns=(cfg.domain or "").endswith(".local"),
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
            ssh_opts=docker_ssh_opts(
                host_key=host.host_key,
                private_key_file=None if host.ssh_agent else host.ssh_private_key_file,
                control_dir=control_dir(),
            ),
            registry_auth=registry_auth(cfg),
            # Deploying before the check passed would fail on a dial error instead of saying what is missing.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready]),
        )
        self.register_outputs({"address": host.address})


def _private_key(path: str) -> str:
    """The key file's contents for pulumi-command; a key with a passphrase is refused with what to do instead."""
    text = ssh_private_key(path, "host.sshPrivateKeyFile")
    if is_encrypted_private_key(text):
        raise ConfigError(
            [
                Problem(
                    f"{PROJECT}:host.sshPrivateKeyFile",
                    path,
                    "the key has a passphrase, which pulumi-command cannot ask for: add it to your ssh-agent "
                    f"(`ssh-add {path}`) and set host.sshAgent to true",
                )
            ]
        )
    return text


def _require_agent() -> None:
    """host.sshAgent signs with the agent at SSH_AUTH_SOCK; `up` without one could only fail at the first dial."""
    if pulumi.runtime.is_dry_run() or os.environ.get("SSH_AUTH_SOCK"):
        return  # a preview dials nothing (targets/ssh_key.py)
    raise ConfigError(
        [
            Problem(
                f"{PROJECT}:host.sshAgent",
                True,
                "SSH_AUTH_SOCK is not set here: start an ssh-agent (`eval $(ssh-agent)`), `ssh-add` the key, "
                "and run pulumi up from that shell",
            )
        ]
    )


def control_dir() -> str | None:
    """Where ssh keeps the shared connection's socket: the user's runtime dir (private, in memory, gone at
    logout), else ~/.ssh (ssh expands the ~ itself, ssh.c:1407-1410@V_9_2_P1); None when neither is short
    enough for a socket path (renderers/existing_host.control_dir_fits)."""
    for directory in (os.environ.get("XDG_RUNTIME_DIR"), "~/.ssh"):
        if directory and control_dir_fits(os.path.expanduser(directory)):
            return directory
    return None


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
