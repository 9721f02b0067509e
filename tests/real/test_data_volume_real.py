"""The data-volume script from the user-data, run for real against loop devices.

Its one hard promise: a device that carries anything is never formatted.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from renderers.cloud_init import PREPARE_DATA_VOLUME_PATH, CloudInitConfig, render_cloud_init
from renderers.ports import MediaPorts, public_ingress

TIMEOUT_S = 60
VOLUME_BYTES = 64 * 1024 * 1024


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise AssertionError(f"{name} not found: install util-linux, mount, e2fsprogs and fdisk")
    return found


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    user_data = yaml.safe_load(render_cloud_init(CloudInitConfig(ingress=public_ingress(MediaPorts()))))
    content = next(f["content"] for f in user_data["write_files"] if f["path"] == PREPARE_DATA_VOLUME_PATH)
    path = tmp_path / "prepare-data-volume"
    path.write_text(content)
    path.chmod(0o755)
    return path


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "srv-data"
    yield path
    if _run([_tool("mountpoint"), "-q", str(path)]).returncode == 0:
        _run([_tool("umount"), str(path)]).check_returncode()


@pytest.fixture
def device(tmp_path: Path, mount_point: Path) -> Iterator[str]:
    # Depends on mount_point so the volume is unmounted before its loop device is detached.
    image = tmp_path / "volume.img"
    with image.open("wb") as f:
        f.truncate(VOLUME_BYTES)
    dev = _run([_tool("losetup"), "--find", "--show", str(image)])
    assert dev.returncode == 0, f"losetup failed: {dev.stderr}"
    try:
        yield dev.stdout.strip()
    finally:
        _run([_tool("losetup"), "--detach", dev.stdout.strip()]).check_returncode()


@pytest.fixture
def fstab(tmp_path: Path) -> Path:
    path = tmp_path / "fstab"
    path.write_text("# <file system> <mount point> <type> <options> <dump> <pass>\n")
    return path


def prepare(script: Path, device: str, mount_point: Path, fstab: Path, wait_s: int = 5) -> subprocess.CompletedProcess[str]:
    return _run([str(script), device, str(mount_point), str(wait_s), str(fstab)])


def blkid(device: str, tag: str) -> str:
    return _run([_tool("blkid"), "-p", "-s", tag, "-o", "value", device]).stdout.strip()


def mounted_source(mount_point: Path) -> str:
    return _run([_tool("findmnt"), "-n", "-o", "SOURCE", "--mountpoint", str(mount_point)]).stdout.strip()


def unmount(mount_point: Path) -> None:
    _run([_tool("umount"), str(mount_point)]).check_returncode()


def test_blank_volume_is_formatted_mounted_and_in_fstab(script: Path, device: str, mount_point: Path, fstab: Path) -> None:
    result = prepare(script, device, mount_point, fstab)

    assert result.returncode == 0, result.stderr
    uuid = blkid(device, "UUID")
    assert blkid(device, "TYPE") == "ext4" and uuid
    assert fstab.read_text().splitlines()[1:] == [f"UUID={uuid} {mount_point} ext4 defaults,nofail,_netdev 0 2"]
    assert mounted_source(mount_point) == device


def test_rerun_keeps_data_and_fstab(script: Path, device: str, mount_point: Path, fstab: Path) -> None:
    assert prepare(script, device, mount_point, fstab).returncode == 0
    (mount_point / "pg").mkdir()
    (mount_point / "pg" / "marker").write_text("keep me")
    uuid, table = blkid(device, "UUID"), fstab.read_text()

    again_mounted = prepare(script, device, mount_point, fstab)
    unmount(mount_point)
    after_reboot = prepare(script, device, mount_point, fstab)

    assert again_mounted.returncode == 0 and after_reboot.returncode == 0, after_reboot.stderr
    assert blkid(device, "UUID") == uuid
    assert fstab.read_text() == table
    assert (mount_point / "pg" / "marker").read_text() == "keep me"


def test_existing_filesystem_is_never_reformatted(script: Path, device: str, mount_point: Path, fstab: Path) -> None:
    _run([_tool("mkfs.ext4"), "-q", "-L", "old", device]).check_returncode()
    uuid = blkid(device, "UUID")

    result = prepare(script, device, mount_point, fstab)

    assert result.returncode == 0, result.stderr
    assert blkid(device, "UUID") == uuid and blkid(device, "LABEL") == "old"


def test_partitioned_volume_is_left_alone(script: Path, device: str, mount_point: Path, fstab: Path) -> None:
    _run([_tool("sfdisk"), "--quiet", device], input="label: gpt\n").check_returncode()
    table = fstab.read_text()

    result = prepare(script, device, mount_point, fstab)

    assert result.returncode != 0
    assert "carries no filesystem" in result.stderr
    assert blkid(device, "PTTYPE") == "gpt" and blkid(device, "TYPE") == ""
    assert fstab.read_text() == table and mounted_source(mount_point) == ""


def test_waits_for_a_late_volume(script: Path, device: str, mount_point: Path, fstab: Path, tmp_path: Path) -> None:
    # Like /dev/oracleoci/oraclevdb, which udev creates once OCI attaches the volume.
    late = tmp_path / "oraclevdb"
    process = subprocess.Popen(
        [str(script), str(late), str(mount_point), "20", str(fstab)], stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(3)
        assert process.poll() is None, "gave up before the volume appeared"
        late.symlink_to(device)
        _, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert mounted_source(mount_point) == device


def test_missing_volume_fails_after_the_wait(script: Path, mount_point: Path, fstab: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result = prepare(script, str(tmp_path / "never"), mount_point, fstab, wait_s=2)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert "did not appear within 2s" in result.stderr
    assert 2 <= elapsed < 15


def test_refuses_a_mount_point_fstab_gives_to_another_filesystem(
    script: Path, device: str, mount_point: Path, fstab: Path
) -> None:
    fstab.write_text(f"UUID=00000000-0000-0000-0000-000000000000 {mount_point} ext4 defaults 0 2\n")

    result = prepare(script, device, mount_point, fstab)

    assert result.returncode != 0
    assert "already mounts UUID=00000000-0000-0000-0000-000000000000" in result.stderr
    assert mounted_source(mount_point) == ""
