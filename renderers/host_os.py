"""The prod VM's own OS settings: unattended security upgrades, sshd's start-up limit, UDP buffers.

cloud-init writes these files at first boot (renderers/cloud_init.py). cloud-init user data is
ignored after that (and the instance ignores changes to it, targets/oci_instance.py), so every
`pulumi up` also installs the same files over SSH (``host_os_install_command``) and applies them,
as it does for the host firewall. Each file is read where it takes effect:

- apt reads ``/etc/apt/apt.conf.d`` at every run of apt-daily-upgrade.service: nothing to reload.
- sshd reads its drop-in when it starts or is reloaded: reloaded after ``sshd -t`` accepts it.
- the kernel takes sysctl.d at boot (systemd-sysctl.service, long before cloud-init writes the
  file on first boot) or when ``sysctl -p`` loads it: loaded at first boot and by every `up`.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

# Ubuntu's own switch file: the unattended-upgrades package's README ("Manual Setup") names these two
# keys, and its postinst writes this file (data/20auto-upgrades@2.9.1). "1": run daily.
AUTO_UPGRADES_PATH = "/etc/apt/apt.conf.d/20auto-upgrades"
# After Ubuntu's 50unattended-upgrades (which keeps the security-only Allowed-Origins,
# data/50unattended-upgrades.Ubuntu:6-14@2.9.1): apt parses apt.conf.d in name order and a later
# assignment wins, so these reboot keys override its commented-out defaults and nothing else.
UNATTENDED_UPGRADES_DROPIN_PATH = "/etc/apt/apt.conf.d/52backing-services-unattended-upgrades"
# sshd keeps the FIRST value it reads for a keyword (sshd_config(5)); Ubuntu's sshd_config Includes
# sshd_config.d/*.conf in name order at its top, so a low number wins over cloud-init's 50-cloud-init.conf.
SSHD_DROPIN_PATH = "/etc/ssh/sshd_config.d/10-backing-services.conf"
SYSCTL_PATH = "/etc/sysctl.d/60-backing-services.conf"

# sshd's default MaxStartups is 10:30:100: from 10 connections that have not yet authenticated it drops
# new ones at random (30 %, rising to all at 100). The docker provider dials one `ssh ... docker system
# dial-stdio` per connection of its HTTP client (connhelper.GetConnectionHelperWithSSHOpts,
# internal/provider/config.go:168@v4.5.0 of kreuzwerker/terraform-provider-docker), and `pulumi up`
# runs GOMAXPROCS*4 operations at once (defaultParallel, pkg/cmd/pulumi/operations/up.go:71@v3.259.0):
# 16 on a 4-core CI runner, 64 on a 16-core laptop. Past 10 sshd resets some of them
# ("kex_exchange_identification: Connection closed by remote host", terraform-provider-docker#262).
# 100 unauthenticated connections before any is dropped covers that with room to spare. The cost is
# small here: port 22 is open only to oci.adminCidrs (targets/oci_network.py), so strangers never count.
#
# Why not ssh multiplexing (ControlMaster) in the provider's ssh_opts instead: with ControlMaster=auto,
# connections started together before a master socket exists each dial sshd on their own, which is
# exactly the burst at the start of `up`; it would also leave control sockets and a lingering master
# process on the deploying machine, and change the docker provider's inputs on every stack.
SSHD_MAX_STARTUPS = "100:30:200"

# LiveKit asks for a UDP receive buffer maximum of at least 5,000,000 bytes and warns at start below it
# (livekit/livekit-docs docs/guides/deployment.md, "Increasing UDP Receive Buffer"; livekit#3203).
# The kernel caps what a socket may ask for with SO_RCVBUF/SO_SNDBUF at these maxima; Ubuntu's are
# 212992. LiveKit runs with host networking on the VM, so the host's values are the ones it gets.
UDP_BUFFER_MAX_BYTES = 5_000_000

_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
# Heredoc terminators for base64 text: '-' is outside the base64 alphabet.
_FILE_END = "HOST-OS-BASE64-END"


@dataclass(frozen=True, kw_only=True)
class HostOsSettings:
    # Install security updates daily with Ubuntu's unattended-upgrades (its own security-only origins).
    unattended_upgrades: bool = True
    # Reboot when an update asks for it (/var/run/reboot-required), at reboot_time_utc.
    automatic_reboot: bool = True
    # HH:MM; handed to `shutdown -r`, which reads it in the VM's time zone: UTC on Canonical's images,
    # and nothing here changes it.
    reboot_time_utc: str = "03:30"

    def __post_init__(self) -> None:
        if not _TIME.fullmatch(self.reboot_time_utc):
            raise ValueError(f"reboot_time_utc: {self.reboot_time_utc!r} must be HH:MM, 00:00 to 23:59")


@dataclass(frozen=True)
class HostFile:
    path: str
    permissions: str
    content: str


def _flag(value: bool) -> str:
    return "1" if value else "0"


def auto_upgrades_config(settings: HostOsSettings) -> str:
    # Both keys from the package README's "Manual Setup" (README.md:99-100@2.9.1). The package lists
    # stay fresh either way (apt-daily.service), so `apt list --upgradable` tells the truth when off.
    return (
        "// Written by backing-services (renderers/host_os.py); every `pulumi up` overwrites it.\n"
        'APT::Periodic::Update-Package-Lists "1";\n'
        f'APT::Periodic::Unattended-Upgrade "{_flag(settings.unattended_upgrades)}";\n'
    )


def unattended_upgrades_dropin(settings: HostOsSettings) -> str:
    # unattended-upgrade's reboot_if_requested_and_needed (unattended-upgrade:1653-1685@2.9.1): after an
    # upgrade run, if /var/run/reboot-required exists and Automatic-Reboot is true, it runs
    # `/sbin/shutdown -r <Automatic-Reboot-Time>`; shutdown schedules a past HH:MM for the next day, so
    # the reboot happens at that time after the daily run (apt-daily-upgrade.timer, 06:00-07:00).
    # Automatic-Reboot-WithUsers true (README.md:232@2.9.1): an SSH session left open must not put the
    # reboot, and the kernel fix it brings, off forever. dockerd stops each container with its own stop
    # timeout on the way down (renderers/cloud_init.py) and brings them back at boot.
    reboot = "true" if settings.automatic_reboot else "false"
    return (
        "// Written by backing-services (renderers/host_os.py); every `pulumi up` overwrites it.\n"
        f'Unattended-Upgrade::Automatic-Reboot "{reboot}";\n'
        'Unattended-Upgrade::Automatic-Reboot-WithUsers "true";\n'
        f'Unattended-Upgrade::Automatic-Reboot-Time "{settings.reboot_time_utc}";\n'
    )


def sshd_dropin() -> str:
    return (
        "# Written by backing-services (renderers/host_os.py); every `pulumi up` overwrites it.\n"
        "# The docker provider opens many SSH connections at once during `pulumi up`.\n"
        f"MaxStartups {SSHD_MAX_STARTUPS}\n"
    )


def sysctl_config() -> str:
    return (
        "# Written by backing-services (renderers/host_os.py); every `pulumi up` overwrites it.\n"
        "# LiveKit's UDP sockets (WebRTC media) may ask for buffers this large.\n"
        f"net.core.rmem_max = {UDP_BUFFER_MAX_BYTES}\n"
        f"net.core.wmem_max = {UDP_BUFFER_MAX_BYTES}\n"
    )


def host_os_files(settings: HostOsSettings) -> tuple[HostFile, ...]:
    return (
        HostFile(AUTO_UPGRADES_PATH, "0644", auto_upgrades_config(settings)),
        HostFile(UNATTENDED_UPGRADES_DROPIN_PATH, "0644", unattended_upgrades_dropin(settings)),
        HostFile(SSHD_DROPIN_PATH, "0644", sshd_dropin()),
        HostFile(SYSCTL_PATH, "0644", sysctl_config()),
    )


# Canonical's server images ship unattended-upgrades; installed anyway so another image still patches itself.
UNATTENDED_UPGRADES_PACKAGE = "unattended-upgrades"
SYSCTL_LOAD_COMMAND = ["sysctl", "-p", SYSCTL_PATH]


def host_os_install_command(settings: HostOsSettings) -> str:
    """POSIX sh, run over SSH by the login user with passwordless sudo: install the files and apply them.

    The sshd drop-in is checked with ``sshd -t`` before sshd is reloaded, and removed if it fails:
    a reload with a bad config would stop sshd and lock everyone out. ``try-reload-or-restart`` leaves
    a socket-activated sshd that is not running alone (it reads the file when next started).
    The files travel base64-encoded in quoted heredocs, so the shell never parses them; no secret.
    """
    lines = [
        "set -eu",
        "work=$(mktemp -d)",
        "trap 'rm -rf \"$work\"' EXIT",
        # Lock timeout: apt-daily may hold the lock for minutes; wait rather than fail the `up`. Installed
        # before our files go in; UCF_FORCE_CONFFOLD anyway, for its postinst's ucf (debian/postinst@2.9.1).
        f"dpkg-query -W -f='${{Status}}' {UNATTENDED_UPGRADES_PACKAGE} 2>/dev/null | grep -q 'install ok installed'"
        f" || sudo DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y -o DPkg::Lock::Timeout=600 {UNATTENDED_UPGRADES_PACKAGE}",
    ]
    for index, file in enumerate(host_os_files(settings)):
        encoded = base64.encodebytes(file.content.encode()).decode()
        lines += [
            f"base64 -d >\"$work/{index}\" <<'{_FILE_END}'\n{encoded}{_FILE_END}",
            f"sudo install -o root -g root -m {file.permissions} \"$work/{index}\" {file.path}",
        ]
    lines += [
        f"if ! sudo sshd -t; then sudo rm -f {SSHD_DROPIN_PATH}; echo 'sshd refused {SSHD_DROPIN_PATH}; removed it' >&2; exit 1; fi",
        "sudo systemctl try-reload-or-restart ssh.service",
        "sudo " + " ".join(SYSCTL_LOAD_COMMAND),
    ]
    return "\n".join(lines) + "\n"
