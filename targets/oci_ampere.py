"""The cloud target: an Oracle Cloud Ampere A1 VM (ARM64) running Docker, reached over SSH."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_oci as oci

from components.host_shell import RemoteShell
from components.networking import HostNetwork
from components.object_store import OciBucketBackend
from config.derived import OCI_PLATFORM, media_ports
from config.model import StackConfig
from renderers.cloud_init import CloudInitConfig, render_cloud_init
from renderers.ports import PortRule, public_ingress
from renderers.host_firewall import host_firewall_install_command
from renderers.host_os import HostOsSettings, host_os_install_command
from renderers import existing_host as pinned_ssh
from renderers.oci_host_key import host_key_command
from renderers.remote_host import (
    HOST_READY_COMMAND,
    authorized_keys_command,
    docker_host,
    docker_ssh_opts,
    ssh_command,
    sslip_domain,
)
from targets.base import Target, registry_auth
from targets.existing_host import control_dir
from targets.ssh_key import ssh_private_key
from targets.oci_iam import iam_error_hook, s3_user_email
from targets.oci_public_ip import instance_private_ip_id, reserved_public_ip
from targets.oci_instance import InstanceSpec, ampere_instance, availability_domain, capacity_error_hook
from targets.oci_network import public_network
from targets.oci_volume import DATA_DEVICE, data_volume

TYPE = "backing-services:index:AmpereHost"
PLATFORM = OCI_PLATFORM  # config/derived.py: the checks compare apps' platforms with it


@dataclass(frozen=True, kw_only=True)
class AmpereHostArgs:
    compartment_id: str
    region: str
    availability_domain: str | None
    image_id: str | None
    ocpus: int
    memory_gb: int
    boot_volume_gb: int
    data_volume_gb: int
    data_volume_backup_id: str | None  # create the data volume from this block-volume backup
    allow_paid: bool
    ssh_public_keys: tuple[str, ...]  # the first is installed at first boot; all are kept in step over SSH
    ssh_user: str
    ssh_private_key_file: str  # as configured; ssh expands a leading ~ itself
    ssh_private_key: pulumi.Input[str]  # the key's contents, for the readiness check
    admin_cidrs: tuple[str, ...]
    # Every port the internet may reach: the security list and the host firewall both come from it.
    ingress: tuple[PortRule, ...]
    host_os: HostOsSettings = HostOsSettings()
    protect_data: bool = True
    registry_auth: list[docker.ProviderRegistryAuthArgs] | None = None  # pull logins for apps' private images
    # The VM's SSH host key (oci.hostKey), pinned on both SSH paths; None: the first contact is trusted.
    host_key: str | None = None
    # Where ssh keeps the docker path's shared connection while host_key is pinned (targets/existing_host.control_dir).
    control_dir: str | None = None


class AmpereHost(pulumi.ComponentResource):
    """Network, firewall, VM, data volume, and a docker provider that deploys onto the VM."""

    def __init__(self, name: str, args: AmpereHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        # No profile and no auth mode: with either set, the provider insists on ~/.oci/config even when
        # OCI_TENANCY_OCID, OCI_USER_OCID, OCI_FINGERPRINT and OCI_PRIVATE_KEY are in the environment
        # (internal/provider/provider.go:404-409@v8.28.0). Unset, it reads the environment first and
        # ~/.oci/config's DEFAULT profile for what is missing (provider.go:401-403), so a laptop and CI both work.
        self.oci_provider = oci.Provider(f"{name}-oci", region=args.region, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=self.oci_provider)
        subnet = public_network(
            name,
            compartment_id=args.compartment_id,
            ingress=args.ingress,
            admin_cidrs=args.admin_cidrs,
            opts=child,
        )
        user_data = render_cloud_init(
            CloudInitConfig(
                ingress=args.ingress, login_user=args.ssh_user, data_device=DATA_DEVICE, host_os=args.host_os
            )
        )
        spec = InstanceSpec(
                compartment_id=args.compartment_id,
                availability_domain=args.availability_domain,
                image_id=args.image_id,
                ocpus=args.ocpus,
                memory_gb=args.memory_gb,
                boot_volume_gb=args.boot_volume_gb,
                allow_paid=args.allow_paid,
            ssh_public_key=args.ssh_public_keys[0],
            user_data=user_data,
            protect=args.protect_data,
        )
        # One lookup for the instance and its data volume, which must share the AD.
        ad = availability_domain(spec, pulumi.InvokeOutputOptions(parent=self, provider=self.oci_provider))
        instance = ampere_instance(
            name,
            spec,
            availability_domain=ad,
            subnet_id=subnet.id,
            parent=self,
            provider=self.oci_provider,
            on_error=capacity_error_hook(f"{name}-out-of-host-capacity", compartment_id=args.compartment_id),
        )
        attachment = data_volume(
            name,
            compartment_id=args.compartment_id,
            instance=instance,
            availability_domain=ad,
            size_gb=args.data_volume_gb,
            protect=args.protect_data,
            opts=child,
            backup_id=args.data_volume_backup_id,
        )
        address = reserved_public_ip(
            name,
            compartment_id=args.compartment_id,
            private_ip_id=instance_private_ip_id(
                instance, subnet.id, pulumi.InvokeOutputOptions(parent=self, provider=self.oci_provider)
            ),
            protect=args.protect_data,
            parent=self,
            provider=self.oci_provider,
        )
        # The reserved address: the same across VM replacements, so DNS, sslip.io names and TURN URLs stay valid.
        self.public_ip = address.ip_address
        # The VNIC's private address: what the VM's own interface carries (OCI NATs the public one to it).
        self.private_ip = instance.private_ip
        connection = command.remote.ConnectionArgs(
            host=self.public_ip,
            user=args.ssh_user,
            # Pinned, pulumi-command checks the server's key (ssh.FixedHostKey, offering only its type); unset, it
            # accepts any (ssh.InsecureIgnoreHostKey, provider/pkg/provider/remote/connection.go:85-98@v1.2.1).
            # Every remote Command here (readiness, firewall, host OS, keys, and each RemoteShell.run such as the
            # password rotation, which sends a secret on stdin) shares this connection.
            host_key=None if args.host_key is None else pinned_ssh.pinned_host_key(args.host_key),
            private_key=pulumi.Output.secret(args.ssh_private_key),
            # sshd answers a minute or two after the VM reports RUNNING; bounded, not forever.
            dial_error_limit=60,
            per_dial_timeout=10,
        )
        ready = command.remote.Command(
            f"{name}-ready",
            connection=connection,
            create=HOST_READY_COMMAND,
            # cloud-init needs the attached volume to finish; a failed attachment then fails by name, not as a timeout.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        self.shell = RemoteShell(connection, ready)
        # cloud-init's firewall ran once, at first boot; a changed port list must reach the running VM too.
        firewall_command = host_firewall_install_command(args.ingress)
        self.shell.run(f"{name}-firewall", script=firewall_command, triggers=[firewall_command], parent=self)
        # Likewise the OS settings (updates, sshd's MaxStartups, UDP buffers): a changed reboot time, or a
        # VM that first booted before a setting existed, gets them from here.
        host_os_command = host_os_install_command(args.host_os)
        host_os = self.shell.run(f"{name}-host-os", script=host_os_command, triggers=[host_os_command], parent=self)
        keys_command = authorized_keys_command(args.ssh_public_keys)
        self.shell.run(f"{name}-ssh-keys", script=keys_command, triggers=[keys_command], parent=self)
        self.docker_provider = docker.Provider(
            f"{name}-docker",
            host=self.public_ip.apply(lambda ip: docker_host(args.ssh_user, ip)),
            ssh_opts=(
                docker_ssh_opts(args.ssh_private_key_file)
                if args.host_key is None
                # The existing-host target's options: only the pinned key (KnownHostsCommand, StrictHostKeyChecking
                # =yes, no known_hosts file), over one shared connection (renderers/existing_host.docker_ssh_opts).
                else pinned_ssh.docker_ssh_opts(
                    host_key=args.host_key, private_key_file=args.ssh_private_key_file, control_dir=args.control_dir
                )
            ),
            registry_auth=args.registry_auth,
            # Docker on the VM answers only once cloud-init has installed it and added the user to its group;
            # and its burst of SSH connections must meet sshd's raised MaxStartups, which on a VM booted
            # before that setting only the host-os command brings (renderers/host_os.py).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready, host_os]),
        )
        self.ssh_command = self.public_ip.apply(
            lambda ip: ssh_command(args.ssh_user, ip, args.ssh_private_key_file)
        )
        # Read over OCI's API from the instance's serial console, not over the network path to the VM
        # (renderers/oci_host_key.py): what to set oci.hostKey to after the first `up` and after a VM replacement.
        self.host_key_command = instance.id.apply(lambda instance_id: host_key_command(instance_id, args.region))
        self.register_outputs(
            {"publicIp": self.public_ip, "sshCommand": self.ssh_command, "hostKeyCommand": self.host_key_command}
        )


def oci_ampere_target(cfg: StackConfig) -> Target:
    oci_cfg = cfg.oci
    assert oci_cfg is not None, "config validation requires the oci block for target 'oci'"
    ingress = public_ingress(media_ports(cfg), http_port=cfg.gateway.http_port, https_port=cfg.gateway.https_port)
    host = AmpereHost(
        "ampere",
        AmpereHostArgs(
            compartment_id=oci_cfg.compartment_id,
            region=oci_cfg.region,
            availability_domain=oci_cfg.availability_domain,
            image_id=oci_cfg.image_id,
            ocpus=oci_cfg.ocpus,
            memory_gb=oci_cfg.memory_gb,
            boot_volume_gb=oci_cfg.boot_volume_gb,
            data_volume_gb=oci_cfg.data_volume_gb,
            data_volume_backup_id=oci_cfg.data_volume_backup_id,
            allow_paid=oci_cfg.allow_paid,
            ssh_public_keys=(oci_cfg.ssh_public_key, *oci_cfg.extra_ssh_public_keys),
            ssh_user=oci_cfg.ssh_user,
            ssh_private_key_file=oci_cfg.ssh_private_key_file,
            ssh_private_key=pulumi.Output.secret(
                ssh_private_key(
                    oci_cfg.ssh_private_key_file, "oci.sshPrivateKeyFile", hint="give the private half of oci.sshPublicKey"
                )
            ),
            admin_cidrs=oci_cfg.admin_cidrs,
            ingress=ingress,
            host_os=HostOsSettings(
                unattended_upgrades=oci_cfg.unattended_upgrades.enabled,
                automatic_reboot=oci_cfg.unattended_upgrades.automatic_reboot,
                reboot_time_utc=oci_cfg.unattended_upgrades.reboot_time_utc,
            ),
            protect_data=cfg.protect_data,
            registry_auth=registry_auth(cfg),
            host_key=oci_cfg.host_key,
            control_dir=control_dir() if oci_cfg.host_key is not None else None,
        ),
    )
    domain = pulumi.Output.from_input(cfg.domain) if cfg.domain else host.public_ip.apply(sslip_domain)
    return Target(
        name="oci",
        docker_provider=host.docker_provider,
        network=HostNetwork(),
        platform=PLATFORM,
        domain=domain,
        object_store_backend=OciBucketBackend(
            compartment_id=oci_cfg.compartment_id,
            region=oci_cfg.region,
            protect_data=cfg.protect_data,
            s3_user_email=s3_user_email(oci_cfg.s3_user_email, cfg.gateway.acme_email, f"{pulumi.get_project()}-{pulumi.get_stack()}"),
            previous_version_retention_days=cfg.object_store.previous_version_retention_days,
            on_error=iam_error_hook(
                "object-store-iam", compartment_id=oci_cfg.compartment_id, region=oci_cfg.region, deployer_id=oci_cfg.user_id
            ),
        ),
        # The VM learns its public address over STUN; there is no NAT of ours to describe.
        media_use_external_ip=True,
        media_loopback_candidate=False,
        host_shell=host.shell,
        extra_outputs={"publicIp": host.public_ip, "sshCommand": host.ssh_command, "hostKeyCommand": host.host_key_command},
        turn_tls_upstream_host=cfg.media_server.turn_tls.upstream_address or host.private_ip,
        oci_provider=host.oci_provider,
    )
