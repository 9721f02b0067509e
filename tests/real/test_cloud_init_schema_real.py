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
