"""The prod user-data as judged by the real cloud-init and the real shells that will run it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from renderers.cloud_init import PREPARE_DATA_VOLUME_PATH, CloudInitConfig, render_cloud_init
from renderers.host_firewall import HOST_FIREWALL_SCRIPT_PATH, host_firewall_install_command
from renderers.host_os import (
    AUTO_UPGRADES_PATH,
    SSHD_DROPIN_PATH,
    SSHD_MAX_STARTUPS,
    UNATTENDED_UPGRADES_DROPIN_PATH,
    HostOsSettings,
    host_os_install_command,
)
from renderers.ports import MediaPorts, public_ingress

TIMEOUT_S = 120


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise AssertionError(f"{name} not found: install the Debian/Ubuntu package that provides it (cloud-init, dash, bash)")
    return found


def schema_problems(user_data: str, tmp_path: Path) -> list[str]:
    """What `cloud-init schema` objects to: errors and deprecations alike; empty when clean."""
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data)
    result = subprocess.run(
        [_tool("cloud-init"), "schema", "--config-file", str(path)],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    output = (result.stdout + result.stderr).replace(str(path), "<user-data>")
    problems = [line for line in output.splitlines() if any(w in line.lower() for w in ("deprecat", "error", "invalid"))]
    if result.returncode != 0 and not problems:
        problems.append(f"exit {result.returncode}: {output}")
    if result.returncode == 0 and "valid" not in output.lower():
        problems.append(f"no verdict in output: {output}")
    return problems


def prod_user_data(media: MediaPorts = MediaPorts()) -> str:
    return render_cloud_init(CloudInitConfig(ingress=public_ingress(media)))


def test_default_prod_user_data_is_valid_without_deprecations(tmp_path: Path) -> None:
    assert schema_problems(prod_user_data(), tmp_path) == []


def test_mux_variant_is_valid_without_deprecations(tmp_path: Path) -> None:
    assert schema_problems(prod_user_data(MediaPorts(udp_mux_port=7882, turn_udp_port=None)), tmp_path) == []


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"apt_update": True}, "deprecat"),
        ({"write_files": [{"path": "/x", "content": "x", "permissions": 420}]}, "permissions"),
    ],
)
def test_checker_reports_deprecations_and_errors(tmp_path: Path, bad: dict, expected: str) -> None:
    # Without this, an empty problem list could just mean the checker never looks.
    problems = schema_problems("#cloud-config\n" + yaml.safe_dump(bad), tmp_path)
    assert any(expected in p.lower() for p in problems), problems


def test_runcmd_script_parses_under_dash(tmp_path: Path) -> None:
    # cloud-init turns runcmd into a #!/bin/sh script with its own shellify(); Ubuntu's /bin/sh is dash.
    runcmd = yaml.safe_load(prod_user_data())["runcmd"]
    cloud_init_python = Path(_tool("cloud-init")).read_text().splitlines()[0].removeprefix("#!").split()[0]
    script = subprocess.run(
        [cloud_init_python, "-c", "import json, sys; from cloudinit.util import shellify; "
         "sys.stdout.write(shellify(json.load(sys.stdin)))"],
        input=json.dumps(runcmd), capture_output=True, text=True, check=True, timeout=TIMEOUT_S,
    ).stdout  # fmt: skip
    assert script.startswith("#!/bin/sh\nset -eu\n")
    (tmp_path / "runcmd").write_text(script)
    result = subprocess.run([_tool("dash"), "-n", str(tmp_path / "runcmd")], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr


def test_volume_script_parses_under_bash(tmp_path: Path) -> None:
    files = {f["path"]: f["content"] for f in yaml.safe_load(prod_user_data())["write_files"]}
    script = tmp_path / "prepare-data-volume"
    script.write_text(files[PREPARE_DATA_VOLUME_PATH])
    result = subprocess.run([_tool("bash"), "-n", str(script)], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_host_firewall_script_and_install_command_parse(tmp_path: Path, shell: str) -> None:
    # The script runs under /bin/sh (dash) at boot and in runcmd; the install command under the
    # SSH user's login shell (bash on Ubuntu). Running them for real is tests/real/test_host_firewall_real.py.
    files = {f["path"]: f["content"] for f in yaml.safe_load(prod_user_data())["write_files"]}
    sources = {
        "script": files[HOST_FIREWALL_SCRIPT_PATH],
        "install": host_firewall_install_command(public_ingress(MediaPorts())),
    }
    for name, source in sources.items():
        (tmp_path / name).write_text(source)
        result = subprocess.run([_tool(shell), "-n", str(tmp_path / name)], capture_output=True, text=True, timeout=TIMEOUT_S)
        assert result.returncode == 0, f"{name}: {result.stderr}"


# --- the OS settings (renderers/host_os.py) -----------------------------------------------------


def host_os_user_data(settings: HostOsSettings) -> dict:
    return yaml.safe_load(render_cloud_init(CloudInitConfig(ingress=public_ingress(MediaPorts()), host_os=settings)))


def test_user_data_without_updates_or_reboots_is_valid_too(tmp_path: Path) -> None:
    settings = HostOsSettings(unattended_upgrades=False, automatic_reboot=False, reboot_time_utc="23:59")
    text = render_cloud_init(CloudInitConfig(ingress=public_ingress(MediaPorts()), host_os=settings))
    assert schema_problems(text, tmp_path) == []


def sshd_verdict(dropin: str, tmp_path: Path) -> tuple[int, str]:
    """`sshd -t` and `sshd -T` on a config that Includes ``dropin`` first, as Ubuntu's sshd_config does."""
    (tmp_path / "dropin.conf").write_text(dropin)
    key = tmp_path / "host_key"
    if not key.exists():
        subprocess.run([_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=TIMEOUT_S)
    config = tmp_path / "sshd_config"
    config.write_text(f"Include {tmp_path / 'dropin.conf'}\nHostKey {key}\nPidFile none\n")
    checked = subprocess.run([_tool("sshd"), "-t", "-f", str(config)], capture_output=True, text=True, timeout=TIMEOUT_S)
    if checked.returncode != 0:
        return checked.returncode, checked.stderr
    dumped = subprocess.run([_tool("sshd"), "-T", "-f", str(config)], capture_output=True, text=True, timeout=TIMEOUT_S)
    return dumped.returncode, dumped.stdout


def test_real_sshd_accepts_the_dropin_and_takes_its_max_startups(tmp_path: Path) -> None:
    files = {f["path"]: f["content"] for f in host_os_user_data(HostOsSettings())["write_files"]}
    code, effective = sshd_verdict(files[SSHD_DROPIN_PATH], tmp_path)
    assert code == 0, effective
    assert f"maxstartups {SSHD_MAX_STARTUPS}" in effective.splitlines()


def test_real_sshd_check_refuses_a_bad_max_startups(tmp_path: Path) -> None:
    # Without this, a passing check above could mean sshd -t never reads the drop-in.
    code, output = sshd_verdict("MaxStartups 100:30\n", tmp_path)
    assert code != 0 and "MaxStartups" in output


@pytest.mark.parametrize("settings", [HostOsSettings(), HostOsSettings(unattended_upgrades=False, automatic_reboot=False, reboot_time_utc="22:05")])
def test_real_apt_reads_the_upgrade_settings(tmp_path: Path, settings: HostOsSettings) -> None:
    # `apt-config -c` parses each file as apt does apt.conf.d, after the system's own files.
    files = {f["path"]: f["content"] for f in host_os_user_data(settings)["write_files"]}
    args = []
    for path in (AUTO_UPGRADES_PATH, UNATTENDED_UPGRADES_DROPIN_PATH):
        local = tmp_path / path.rsplit("/", 1)[1]
        local.write_text(files[path])
        args += ["-c", str(local)]
    result = subprocess.run([_tool("apt-config"), *args, "dump"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    dumped = set(result.stdout.splitlines())
    expected = {
        f'APT::Periodic::Unattended-Upgrade "{1 if settings.unattended_upgrades else 0}";',
        'APT::Periodic::Update-Package-Lists "1";',
        f'Unattended-Upgrade::Automatic-Reboot "{str(settings.automatic_reboot).lower()}";',
        'Unattended-Upgrade::Automatic-Reboot-WithUsers "true";',
        f'Unattended-Upgrade::Automatic-Reboot-Time "{settings.reboot_time_utc}";',
    }
    assert expected <= dumped, expected - dumped


def test_real_apt_check_refuses_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text('Unattended-Upgrade::Automatic-Reboot "true"\n')
    result = subprocess.run([_tool("apt-config"), "-c", str(tmp_path / "bad"), "dump"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode != 0


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_host_os_install_command_parses(tmp_path: Path, shell: str) -> None:
    (tmp_path / "install").write_text(host_os_install_command(HostOsSettings()))
    result = subprocess.run([_tool(shell), "-n", str(tmp_path / "install")], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
