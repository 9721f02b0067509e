"""Structure and order of operations of the prod VM's cloud-init user-data."""
from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import yaml

from renderers.cloud_init import (
    DOCKER_SERVICE_STOP_TIMEOUT_SECONDS,
    DOCKER_DAEMON_JSON_PATH,
    DOCKER_MOUNT_DROPIN_PATH,
    PREPARE_DATA_VOLUME_PATH,
    CloudInitConfig,
    render_cloud_init,
)
from renderers.host_firewall import (
    HOST_FIREWALL_SCRIPT_PATH,
    HOST_FIREWALL_UNIT_NAME,
    HOST_FIREWALL_UNIT_PATH,
    host_firewall_script,
    host_firewall_unit,
)
from renderers.host_os import AUTO_UPGRADES_PATH, SSHD_DROPIN_PATH, SYSCTL_PATH, UNATTENDED_UPGRADES_DROPIN_PATH
from renderers.ports import MediaPorts, PortRule, public_ingress
from tests.renderers.test_ports import parse_firewall_command, script_rule_lines

INGRESS = public_ingress(MediaPorts())


def render(**overrides: Any) -> dict[str, Any]:
    text = render_cloud_init(CloudInitConfig(ingress=INGRESS, **overrides))
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def files(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in doc["write_files"]}


def index_of(runcmd: list[Any], predicate: Any) -> int:
    matches = [i for i, entry in enumerate(runcmd) if predicate(entry)]
    assert len(matches) == 1, f"expected exactly one match, got {matches}"
    return matches[0]


def as_text(entry: str | list[str]) -> str:
    return entry if isinstance(entry, str) else shlex.join(entry)


def firewall_rules(doc: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(protocol, first, last) of each ACCEPT in the host firewall script the user-data writes."""
    script = files(doc)[HOST_FIREWALL_SCRIPT_PATH]["content"]
    return [parse_firewall_command(line)[:3] for line in script_rule_lines(script)]


def test_only_the_modules_we_rely_on_are_used() -> None:
    # No `packages:`: it runs before runcmd, i.e. before the data volume is mounted, so Docker
    # is installed from runcmd; and iptables-persistent is no longer needed (nothing saves rules.v4).
    # ssh and ssh_key_console_blacklist are keys_to_console's (test_the_host_keys_reach_the_serial_console).
    assert set(render()) == {"package_update", "ssh", "ssh_key_console_blacklist", "write_files", "runcmd"}


def test_the_host_keys_reach_the_serial_console() -> None:
    """The stack output hostKeyCommand reads the ed25519 key from the console: keys_to_console must print it.

    cloud-init skips the module only when ssh.emit_keys_to_console is false (cc_keys_to_console.py:83@24.1.3)
    and write-ssh-key-fingerprints leaves out each type named in ssh_key_console_blacklist (its :52); the
    user-data outranks an image's cloud.cfg.d, so it says both, and generates no key types of its own choosing
    (ssh_genkeytypes: Ubuntu's default includes ed25519, cloud.cfg.tmpl:107).
    """
    doc = render()
    assert doc["ssh"] == {"emit_keys_to_console": True}
    assert doc["ssh_key_console_blacklist"] == []
    for key in ("ssh_genkeytypes", "ssh_keys", "ssh_fp_console_blacklist", "cloud_final_modules"):
        assert key not in doc


def test_nothing_saves_the_host_firewall() -> None:
    # Saving rules.v4 would be harmless before Docker starts but is wrong after; the boot unit replaces it.
    # (The script itself is checked in tests/renderers/test_ports.py.)
    doc = render()
    assert not any("netfilter-persistent" in as_text(e) or "iptables-save" in as_text(e) for e in doc["runcmd"])
    assert "packages" not in doc


def test_daemon_json_puts_everything_on_the_volume_with_bounded_logs() -> None:
    daemon = json.loads(files(render())[DOCKER_DAEMON_JSON_PATH]["content"])
    assert daemon == {
        "data-root": "/srv/data/docker",
        "features": {"containerd-snapshotter": False},
        "live-restore": False,
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
    }


def test_docker_waits_for_the_data_mount() -> None:
    dropin = files(render())[DOCKER_MOUNT_DROPIN_PATH]["content"]
    assert dropin.splitlines() == [
        "[Unit]",
        "RequiresMountsFor=/srv/data/docker",
        "",
        "[Service]",
        f"TimeoutStopSec={DOCKER_SERVICE_STOP_TIMEOUT_SECONDS}",
    ]


def test_written_files_have_explicit_modes() -> None:
    modes = {path: f["permissions"] for path, f in files(render()).items()}
    assert modes == {
        PREPARE_DATA_VOLUME_PATH: "0755",
        DOCKER_DAEMON_JSON_PATH: "0644",
        DOCKER_MOUNT_DROPIN_PATH: "0644",
        HOST_FIREWALL_SCRIPT_PATH: "0755",
        HOST_FIREWALL_UNIT_PATH: "0644",
        AUTO_UPGRADES_PATH: "0644",
        UNATTENDED_UPGRADES_DROPIN_PATH: "0644",
        SSHD_DROPIN_PATH: "0644",
        SYSCTL_PATH: "0644",
    }


def test_runcmd_fails_fast() -> None:
    assert render()["runcmd"][0] == "set -eu"


def test_order_volume_then_firewall_then_boot_unit_then_docker() -> None:
    runcmd = render()["runcmd"]
    volume = index_of(runcmd, lambda e: as_text(e).startswith(PREPARE_DATA_VOLUME_PATH))
    firewall = index_of(runcmd, lambda e: e == [HOST_FIREWALL_SCRIPT_PATH])
    enable = index_of(runcmd, lambda e: e == ["systemctl", "enable", HOST_FIREWALL_UNIT_NAME])
    install = index_of(runcmd, lambda e: "apt-get install" in as_text(e))
    group = index_of(runcmd, lambda e: as_text(e).startswith("usermod "))
    verify = index_of(runcmd, lambda e: "DockerRootDir" in as_text(e))
    assert volume < firewall < enable < install < group < verify


def test_volume_step_gets_device_mount_wait_and_fstab() -> None:
    runcmd = render(data_device="/dev/sdb", data_mount="/mnt/state", device_wait_seconds=30)["runcmd"]
    assert [PREPARE_DATA_VOLUME_PATH, "/dev/sdb", "/mnt/state", "30", "/etc/fstab"] in runcmd


def test_first_boot_runs_the_same_script_and_unit_that_pulumi_up_installs() -> None:
    # One script for first boot and every later `pulumi up`: the two cannot disagree on the firewall.
    doc = render()
    assert files(doc)[HOST_FIREWALL_SCRIPT_PATH]["content"] == host_firewall_script(INGRESS)
    assert files(doc)[HOST_FIREWALL_UNIT_PATH]["content"] == host_firewall_unit()
    assert firewall_rules(doc) == [(r.protocol, r.start, r.end) for r in INGRESS]
    assert not any(as_text(e).startswith("iptables") for e in doc["runcmd"]), "rules belong in the script only"


def test_ingress_change_changes_the_firewall() -> None:
    mux = public_ingress(MediaPorts(udp_mux_port=7882, turn_udp_port=None))
    rules = firewall_rules(yaml.safe_load(render_cloud_init(CloudInitConfig(ingress=mux))))
    assert rules == [("tcp", 80, 80), ("tcp", 443, 443), ("tcp", 7881, 7881), ("udp", 7882, 7882)]


def test_login_user_joins_the_docker_group() -> None:
    assert ["usermod", "-aG", "docker", "opc"] in render(login_user="opc")["runcmd"]


def test_docker_install_is_noninteractive_and_keeps_our_daemon_json() -> None:
    install = next(e for e in render()["runcmd"] if "apt-get install" in as_text(e))
    assert install.startswith("DEBIAN_FRONTEND=noninteractive ")
    assert "--force-confold" in install and "DPkg::Lock::Timeout=" in install
    assert install.split()[-1] == "docker.io"


def test_custom_mount_moves_docker_data_root() -> None:
    doc = render(data_mount="/mnt/state", docker_log_max_size="50m", docker_log_max_file=5)
    daemon = json.loads(files(doc)[DOCKER_DAEMON_JSON_PATH]["content"])
    assert daemon["data-root"] == "/mnt/state/docker"
    assert daemon["log-opts"] == {"max-size": "50m", "max-file": "5"}
    assert "RequiresMountsFor=/mnt/state/docker" in files(doc)[DOCKER_MOUNT_DROPIN_PATH]["content"]
    assert any("DockerRootDir" in as_text(e) and "/mnt/state/docker" in as_text(e) for e in doc["runcmd"])


def test_volume_script_never_formats_a_device_with_a_signature() -> None:
    script = files(render())[PREPARE_DATA_VOLUME_PATH]["content"]
    # mkfs only on the branch where blkid -p found nothing (exit 2); behaviour is tested for real in tests/real.
    mkfs_lines = [line.strip() for line in script.splitlines() if "mkfs" in line]
    assert mkfs_lines == ['2) mkfs.ext4 -q -L data "$device" </dev/null ;;']
    assert "defaults,nofail" in script


@pytest.mark.parametrize(
    "overrides",
    [
        {"data_mount": "relative/path"},
        {"data_mount": "/"},
        {"data_mount": "/srv/with space"},
        {"data_device": "/dev/sdb; rm -rf /"},
        {"login_user": "Root Admin"},
        {"docker_log_max_size": "10 MB"},
        {"docker_log_max_file": 0},
        {"device_wait_seconds": 0},
    ],
)
def test_unsafe_values_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        CloudInitConfig(ingress=INGRESS, **overrides)


def test_rendering_is_deterministic() -> None:
    cfg = CloudInitConfig(ingress=(PortRule(protocol="tcp", start=443, end=443, purpose="HTTPS"),))
    assert render_cloud_init(cfg) == render_cloud_init(cfg)
