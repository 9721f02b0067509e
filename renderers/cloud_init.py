"""cloud-init user-data for the prod VM (Oracle Cloud Ampere A1, Ubuntu 24.04 arm64).

Boots the host to "Docker running, all state on the block volume, public
ports open in the host firewall, security updates on, sshd and UDP buffers
tuned" (renderers/host_os.py); everything else is deployed over SSH.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

import yaml

from renderers.host_firewall import (
    HOST_FIREWALL_SCRIPT_PATH,
    HOST_FIREWALL_UNIT_NAME,
    HOST_FIREWALL_UNIT_PATH,
    host_firewall_script,
    host_firewall_unit,
)
from renderers.host_os import (
    SYSCTL_LOAD_COMMAND,
    UNATTENDED_UPGRADES_PACKAGE,
    HostOsSettings,
    host_os_files,
)
from renderers.names import LINUX_USER
from renderers.ports import PortRule

PREPARE_DATA_VOLUME_PATH = "/usr/local/sbin/prepare-data-volume"
DOCKER_DAEMON_JSON_PATH = "/etc/docker/daemon.json"
DOCKER_MOUNT_DROPIN_PATH = "/etc/systemd/system/docker.service.d/10-data-volume.conf"

# Formats only a device with no signature at all: blkid -p exit 2 means it
# found nothing; anything else (a filesystem, a partition table, a probe
# error) leaves the device untouched, so existing data is never overwritten.
PREPARE_DATA_VOLUME_SCRIPT = """\
#!/bin/bash
# Usage: prepare-data-volume DEVICE MOUNT_POINT WAIT_SECONDS FSTAB
# Makes DEVICE the filesystem at MOUNT_POINT, mounted through FSTAB by UUID.
# Safe to re-run.
set -euo pipefail
device=$1 mount_point=$2 wait_seconds=$3 fstab=$4
say() { echo "prepare-data-volume: $*" >&2; }

# OCI attaches the block volume after the instance is running.
deadline=$((SECONDS + wait_seconds))
until [ -b "$device" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "$device did not appear within ${wait_seconds}s"
    exit 1
  fi
  sleep 2
done

status=0
blkid -p "$device" >/dev/null || status=$?
case $status in
  0) ;;
  2) mkfs.ext4 -q -L data "$device" </dev/null ;;
  *) say "blkid failed on $device (exit $status); not formatting it"; exit 1 ;;
esac

uuid=$(blkid -p -s UUID -o value "$device" || true)
fstype=$(blkid -p -s TYPE -o value "$device" || true)
if [ -z "$uuid" ] || [ -z "$fstype" ]; then
  say "$device carries no filesystem (a partition table?); not touching it"
  exit 1
fi

# nofail: a missing volume must not drop the host into emergency mode (OCI's fstab advice).
existing=$(awk -v m="$mount_point" '$1 !~ /^#/ && $2 == m {print $1}' "$fstab")
if [ -z "$existing" ]; then
  printf 'UUID=%s %s %s defaults,nofail,_netdev 0 2\\n' "$uuid" "$mount_point" "$fstype" >>"$fstab"
elif [ "$existing" != "UUID=$uuid" ]; then
  say "$fstab already mounts $existing at $mount_point"
  exit 1
fi

mkdir -p "$mount_point"
# Let systemd generate the mount unit that docker's RequiresMountsFor= refers to.
if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
mountpoint -q "$mount_point" || mount --fstab "$fstab" "$mount_point"
backing=$(findmnt -n -o SOURCE --mountpoint "$mount_point" || true)
if [ "$backing" != "$(readlink -f "$device")" ]; then
  say "$mount_point is backed by '${backing}', not $device"
  exit 1
fi
"""

_PATH = re.compile(r"/[A-Za-z0-9._/-]+")
_LOG_SIZE = re.compile(r"[1-9][0-9]*[kmg]")


@dataclass(frozen=True, kw_only=True)
class CloudInitConfig:
    ingress: tuple[PortRule, ...]
    login_user: str = "ubuntu"
    # OCI's consistent device path; exists only when the volume attachment names it as its `device`.
    data_device: str = "/dev/oracleoci/oraclevdb"
    data_mount: str = "/srv/data"
    docker_log_max_size: str = "10m"
    docker_log_max_file: int = 3
    device_wait_seconds: int = 600
    # Unattended upgrades, sshd's start-up limit, UDP buffers (renderers/host_os.py).
    host_os: HostOsSettings = HostOsSettings()

    def __post_init__(self) -> None:
        # Paths end up in fstab and shell commands: no whitespace, no shell syntax.
        for name in ("data_device", "data_mount"):
            value = getattr(self, name)
            if not _PATH.fullmatch(value) or value.rstrip("/") == "":
                raise ValueError(f"{name}: {value!r} must be an absolute path of [A-Za-z0-9._/-]")
        if not LINUX_USER.fullmatch(self.login_user):
            raise ValueError(f"login_user: {self.login_user!r} is not a valid Linux user name")
        if not _LOG_SIZE.fullmatch(self.docker_log_max_size):
            raise ValueError(f"docker_log_max_size: {self.docker_log_max_size!r} must look like 10m (k, m or g)")
        if self.docker_log_max_file < 1:
            raise ValueError(f"docker_log_max_file: {self.docker_log_max_file} must be at least 1")
        if self.device_wait_seconds < 1:
            raise ValueError(f"device_wait_seconds: {self.device_wait_seconds} must be at least 1")

    @property
    def docker_data_root(self) -> str:
        return f"{self.data_mount.rstrip('/')}/docker"


def docker_daemon_config(cfg: CloudInitConfig) -> dict[str, object]:
    return {
        "data-root": cfg.docker_data_root,
        # Docker >= 29 defaults fresh installs to the containerd image store, which keeps
        # images under /var/lib/containerd on the boot disk; pin the classic store so
        # everything stays under data-root. Ubuntu backports new Docker majors to LTS.
        "features": {"containerd-snapshotter": False},
        # Off, so stopping dockerd (host shutdown, reboot) stops each container with its own stop signal
        # and StopTimeout (SIGINT and 60 s for PostgreSQL's checkpoint). With it on, dockerd leaves
        # containers running at shutdown (moby daemon/daemon.go Shutdown@v28.5.2) and systemd later
        # SIGTERMs them with no regard for StopTimeout. The cost: a docker.io upgrade restarts them.
        "live-restore": False,
        "log-driver": "json-file",
        # Docker requires log-opts values to be strings.
        "log-opts": {"max-size": cfg.docker_log_max_size, "max-file": str(cfg.docker_log_max_file)},
    }


# dockerd's own shutdown waits for the longest container StopTimeout + 5 s (moby daemon.ShutdownTimeout
# @v28.5.2); docker.service sets no TimeoutStopSec, so systemd's 90 s default would cut it short
# for any container given more than 85 s. This bound must exceed every container's stop_timeout + 5.
DOCKER_SERVICE_STOP_TIMEOUT_SECONDS = 180


def _docker_mount_dropin(cfg: CloudInitConfig) -> str:
    # Without RequiresMountsFor, a reboot where the volume is late (nofail) would start Docker on an
    # empty directory of the boot disk; this way Docker waits for the mount or fails.
    return (
        f"[Unit]\nRequiresMountsFor={cfg.docker_data_root}\n"
        f"\n[Service]\nTimeoutStopSec={DOCKER_SERVICE_STOP_TIMEOUT_SECONDS}\n"
    )


def _runcmd(cfg: CloudInitConfig) -> list[str | list[str]]:
    data_root = shlex.quote(cfg.docker_data_root)
    return [
        # runcmd is one /bin/sh script that otherwise carries on after a failure; a host
        # whose volume is missing must not go on to install Docker on the boot disk.
        "set -eu",
        # Before Docker is installed: its first start must already find data-root mounted.
        [PREPARE_DATA_VOLUME_PATH, cfg.data_device, cfg.data_mount, str(cfg.device_wait_seconds), "/etc/fstab"],
        # The same script every `pulumi up` runs over SSH; the unit re-runs it at every boot,
        # after the image's netfilter-persistent has restored Oracle's rules.v4.
        [HOST_FIREWALL_SCRIPT_PATH],
        ["systemctl", "enable", HOST_FIREWALL_UNIT_NAME],
        # systemd-sysctl.service applied sysctl.d long before write_files ran; from the next boot on it
        # applies our file itself. Before Docker, so LiveKit's first start already gets the larger buffers.
        SYSCTL_LOAD_COMMAND,
        # sshd may have started (a readiness probe, socket activation) before the drop-in existed: check
        # it, then reload a running sshd so the docker provider's burst of connections meets the new limit.
        # Only when running: `sshd -t` as root needs /run/sshd, which ssh.service creates when it starts;
        # a not-yet-started sshd reads the drop-in when it starts. Two commands, so set -e sees each.
        "if systemctl is-active --quiet ssh.service; then sshd -t; systemctl reload ssh.service; fi",
        # Installed here, not via `packages:`: that module runs before runcmd, i.e. before the mount.
        # --force-confold keeps our daemon.json. unattended-upgrades (Canonical's images already have it;
        # another image gets it here) manages 20auto-upgrades with ucf in its postinst
        # (debian/postinst@2.9.1): UCF_FORCE_CONFFOLD keeps the file write_files put there.
        "DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y -o DPkg::Lock::Timeout=600"
        f" -o Dpkg::Options::=--force-confold {UNATTENDED_UPGRADES_PACKAGE} docker.io",
        ["usermod", "-aG", "docker", cfg.login_user],
        f"test \"$(docker info --format '{{{{.DockerRootDir}}}}')\" = {data_root}"
        f" || {{ echo 'docker data-root is not '{data_root} >&2; exit 1; }}",
    ]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks so the user-data stays readable on the VM."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def render_cloud_init(cfg: CloudInitConfig) -> str:
    document = {
        # Final stage, before runcmd: a fresh index for the docker.io install.
        "package_update": True,
        # keys_to_console prints the host keys generated at first boot to the serial console, which is how the
        # stack output hostKeyCommand learns the VM's key (renderers/oci_host_key.py). Both are cloud-init's
        # defaults (cloudinit/config/cc_keys_to_console.py:83, :101-103@24.1.3), said here because user-data
        # outranks an image's /etc/cloud/cloud.cfg.d (instance configs override base ones, cloudinit/helpers.py:
        # 237-258@24.1.3); an empty list prints every type, ed25519 included (tools/write-ssh-key-fingerprints:47-57).
        "ssh": {"emit_keys_to_console": True},
        "ssh_key_console_blacklist": [],
        # Init stage, i.e. before runcmd: Docker finds its config on first start, runcmd finds the scripts.
        "write_files": [
            {
                "path": PREPARE_DATA_VOLUME_PATH,
                "owner": "root:root",
                "permissions": "0755",
                "content": PREPARE_DATA_VOLUME_SCRIPT,
            },
            {
                "path": DOCKER_DAEMON_JSON_PATH,
                "owner": "root:root",
                "permissions": "0644",
                "content": json.dumps(docker_daemon_config(cfg), indent=2, sort_keys=True) + "\n",
            },
            {
                "path": DOCKER_MOUNT_DROPIN_PATH,
                "owner": "root:root",
                "permissions": "0644",
                "content": _docker_mount_dropin(cfg),
            },
            {
                "path": HOST_FIREWALL_SCRIPT_PATH,
                "owner": "root:root",
                "permissions": "0755",
                "content": host_firewall_script(cfg.ingress),
            },
            {
                "path": HOST_FIREWALL_UNIT_PATH,
                "owner": "root:root",
                "permissions": "0644",
                "content": host_firewall_unit(),
            },
            # The same files every `pulumi up` installs over SSH (host_os_install_command).
            *(
                {"path": f.path, "owner": "root:root", "permissions": f.permissions, "content": f.content}
                for f in host_os_files(cfg.host_os)
            ),
        ],
        "runcmd": _runcmd(cfg),
    }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)
    return "#cloud-config\n" + body
