"""The VM's OS settings: what the files say, and that first boot and every `up` install the same ones."""
from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml

from renderers.cloud_init import CloudInitConfig, render_cloud_init
from renderers.host_os import (
    AUTO_UPGRADES_PATH,
    SSHD_DROPIN_PATH,
    SYSCTL_PATH,
    UNATTENDED_UPGRADES_DROPIN_PATH,
    HostOsSettings,
    host_os_files,
    host_os_install_command,
)
from renderers.ports import MediaPorts, public_ingress

# What LiveKit asks for (livekit-docs docs/guides/deployment.md; livekit#3203).
LIVEKIT_MIN_UDP_BUFFER = 5_000_000
# `pulumi up`'s default parallelism on a 16-core machine: GOMAXPROCS*4 (up.go:71@v3.259.0).
PULUMI_PARALLEL_16_CORES = 64


def apt_values(text: str) -> dict[str, str]:
    """`Key "value";` lines of an apt.conf file; comments skipped, anything else is a test failure."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("//"):
            continue
        match = re.fullmatch(r'([A-Za-z:-]+) "([^"]*)";', line)
        assert match, f"not an apt assignment: {line!r}"
        values[match[1]] = match[2]
    return values


def sysctl_values(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = int(value.strip())
    return values


def by_path(settings: HostOsSettings = HostOsSettings()) -> dict[str, str]:
    return {f.path: f.content for f in host_os_files(settings)}


def install_payloads(command: str) -> list[str]:
    found = re.findall(r"<<'([A-Z0-9-]+)'\n(.*?)\n\1\n", command, flags=re.S)
    return [base64.b64decode(body).decode() for _, body in found]


def user_data(settings: HostOsSettings = HostOsSettings()) -> dict[str, Any]:
    return yaml.safe_load(render_cloud_init(CloudInitConfig(ingress=public_ingress(MediaPorts()), host_os=settings)))


def test_default_is_daily_security_updates_with_a_reboot_at_night_utc() -> None:
    files = by_path()
    assert apt_values(files[AUTO_UPGRADES_PATH]) == {
        "APT::Periodic::Update-Package-Lists": "1",
        "APT::Periodic::Unattended-Upgrade": "1",
    }
    assert apt_values(files[UNATTENDED_UPGRADES_DROPIN_PATH]) == {
        "Unattended-Upgrade::Automatic-Reboot": "true",
        "Unattended-Upgrade::Automatic-Reboot-WithUsers": "true",
        "Unattended-Upgrade::Automatic-Reboot-Time": "03:30",
    }


def test_settings_reach_the_apt_files() -> None:
    files = by_path(HostOsSettings(unattended_upgrades=False, automatic_reboot=False, reboot_time_utc="22:05"))
    assert apt_values(files[AUTO_UPGRADES_PATH])["APT::Periodic::Unattended-Upgrade"] == "0"
    dropin = apt_values(files[UNATTENDED_UPGRADES_DROPIN_PATH])
    assert dropin["Unattended-Upgrade::Automatic-Reboot"] == "false"
    assert dropin["Unattended-Upgrade::Automatic-Reboot-Time"] == "22:05"


def test_our_reboot_keys_are_read_after_ubuntus_50unattended_upgrades() -> None:
    # apt reads apt.conf.d in name order and the last assignment wins.
    name = UNATTENDED_UPGRADES_DROPIN_PATH.rsplit("/", 1)[1]
    assert "50unattended-upgrades" < name


@pytest.mark.parametrize("time", ["3:30", "24:00", "03:60", "0330", "03:30 ", "now", ""])
def test_a_reboot_time_that_is_not_hh_mm_is_refused(time: str) -> None:
    with pytest.raises(ValueError, match="reboot_time_utc"):
        HostOsSettings(reboot_time_utc=time)


def test_udp_buffers_are_at_least_what_livekit_asks_for() -> None:
    values = sysctl_values(by_path()[SYSCTL_PATH])
    assert set(values) == {"net.core.rmem_max", "net.core.wmem_max"}
    assert all(v >= LIVEKIT_MIN_UDP_BUFFER for v in values.values()), values


def test_sshd_admits_a_parallel_up_before_dropping_any_connection() -> None:
    lines = [line for line in by_path()[SSHD_DROPIN_PATH].splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1
    keyword, spec = lines[0].split()
    assert keyword == "MaxStartups"
    start, rate, full = (int(part) for part in spec.split(":"))
    assert start >= PULUMI_PARALLEL_16_CORES and 0 < rate <= 100 and full > start
    # sshd keeps the first value it reads: ours comes before cloud-init's 50-cloud-init.conf.
    assert SSHD_DROPIN_PATH.rsplit("/", 1)[1] < "50-cloud-init.conf"


def test_first_boot_writes_the_same_files_as_every_up() -> None:
    settings = HostOsSettings(automatic_reboot=False, reboot_time_utc="01:15")
    written = {f["path"]: f for f in user_data(settings)["write_files"]}
    for file in host_os_files(settings):
        assert written[file.path]["content"] == file.content
        assert written[file.path]["permissions"] == file.permissions == "0644"
        assert written[file.path]["owner"] == "root:root"
    assert install_payloads(host_os_install_command(settings)) == [f.content for f in host_os_files(settings)]


def test_first_boot_applies_sysctl_and_sshd_before_docker_is_installed() -> None:
    runcmd = [e if isinstance(e, str) else " ".join(e) for e in user_data()["runcmd"]]
    sysctl = runcmd.index(f"sysctl -p {SYSCTL_PATH}")
    reload = next(i for i, e in enumerate(runcmd) if "sshd -t" in e)
    # Checked before the reload, as separate commands so `set -eu` stops on a refused drop-in.
    assert runcmd[reload] == "if systemctl is-active --quiet ssh.service; then sshd -t; systemctl reload ssh.service; fi"
    install = next(i for i, e in enumerate(runcmd) if "apt-get install" in e)
    assert sysctl < install and reload < install
    assert "unattended-upgrades" in runcmd[install].split() and "UCF_FORCE_CONFFOLD=1" in runcmd[install]


def test_every_up_checks_sshd_before_reloading_it_and_loads_sysctl() -> None:
    command = host_os_install_command(HostOsSettings())
    lines = command.splitlines()
    assert lines[0] == "set -eu"
    check = next(i for i, line in enumerate(lines) if "sshd -t" in line)
    reload = lines.index("sudo systemctl try-reload-or-restart ssh.service")
    installs = [i for i, line in enumerate(lines) if line.startswith("sudo install ")]
    assert len(installs) == 4 and max(installs) < check < reload
    # A drop-in sshd refuses is removed before anything reloads sshd: a reload would stop it.
    assert f"sudo rm -f {SSHD_DROPIN_PATH}" in lines[check] and "exit 1" in lines[check]
    assert lines[-1] == f"sudo sysctl -p {SYSCTL_PATH}"


def test_the_install_command_changes_with_the_settings() -> None:
    # It is its own trigger: a changed reboot time must re-run it.
    assert host_os_install_command(HostOsSettings()) != host_os_install_command(HostOsSettings(reboot_time_utc="04:00"))
    assert host_os_install_command(HostOsSettings()) == host_os_install_command(HostOsSettings())
