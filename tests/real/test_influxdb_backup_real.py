"""The InfluxDB backup job's and restore's own scripts under the images' shells, around a stand-in `influx`.

No InfluxDB 2.x server or influx CLI runs here: Debian has influxdb 1.6 (no /api/v2), influxd 2.7 needs Rust
(flux) to build, and the Go module proxy answers 403 "not available" for github.com/influxdata/influx-cli/v2
v2.7.5 (tried with scripts/build-go-servers' recipe). So `influx` is a stand-in that takes exactly the argv the
pinned CLI does (influx-cli@v2.7.5 cmd/influx/backup.go and restore.go: `backup [--host] path`, `restore --full
path`, the token from INFLUX_TOKEN) and writes what clients/backup/backup.go writes: <stamp>.bolt.gz,
<stamp>.sqlite.gz, <stamp>.<shard>.tar.gz and <stamp>.manifest last. The scripts, busybox's tar and sha256sum and
the file handling are real; influx's own behaviour is not.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from renderers.object_backup import SUMS_FILE, StoreSettings
from renderers.service_backup import INFLUX_JOB, InfluxBackup, influx_dump_once_script, influx_restore_inside_script

from .postgres_process import install_busybox_applets

pytestmark = pytest.mark.real_binary

BUSYBOX = shutil.which("busybox") or "busybox"
TOKEN = "operator-token'$x"
STORE = StoreSettings(bucket="app-backups", s3_endpoint="http://objectstore:9000", s3_region="us-east-1",
                      prefix="influxdb", keep=2)
BACKUP = InfluxBackup(store=STORE, url="http://influxdb:8086")

_INFLUX = r'''
import json, os, sys
args = sys.argv[1:]
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps({"argv": args, "token": os.environ.get("INFLUX_TOKEN")}) + "\n")
if args[0] == "backup":
    assert args[1:3] == ["--host", "http://influxdb:8086"] and len(args) == 4, args
    path, base = args[3], "20260101T000000Z"
    os.makedirs(path, exist_ok=True)
    for name, size in ((base + ".bolt.gz", 3000), (base + ".sqlite.gz", 500), (base + ".s1.tar.gz", 70000)):
        with open(os.path.join(path, name), "wb") as f:
            f.write(os.urandom(size))
    with open(os.path.join(path, base + ".manifest"), "w") as f:
        json.dump({"kv": {"fileName": base + ".bolt.gz"}}, f)
elif args[:2] == ["restore", "--full"] and len(args) == 3:
    files = {n: open(os.path.join(args[2], n), "rb").read() for n in sorted(os.listdir(args[2]))}
    with open(os.environ["SHIM_RESTORED"], "w") as out:
        json.dump({n: __import__("hashlib").sha256(b).hexdigest() for n, b in files.items()}, out)
else:
    sys.exit("influx shim: unexpected " + " ".join(args))
'''


def _tools(tmp: Path) -> dict[str, str]:
    tools = tmp / "tools"
    tools.mkdir()
    (tools / "influx").write_text(f"#!{sys.executable}\n{_INFLUX}")
    (tools / "influx").chmod(0o755)
    applets = install_busybox_applets(tmp / "busybox")  # the image is alpine
    return {"PATH": f"{tools}:{applets}:/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp),
            "SHIM_LOG": str(tmp / "influx.log"), "SHIM_RESTORED": str(tmp / "restored.json")}


def test_a_backup_goes_back_to_influx_restore_full_file_for_file(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    volume = tmp_path / "volume"
    done = subprocess.run([BUSYBOX, "sh", "-c", influx_dump_once_script(BACKUP), f"{INFLUX_JOB}-once", str(volume)],
                          env={**env, "INFLUX_TOKEN": TOKEN}, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    [stamp] = os.listdir(volume / "outbox")
    backup = volume / "outbox" / stamp
    written = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in backup.iterdir() if p.name != SUMS_FILE}
    assert len(written) == 4 and any(n.endswith(".manifest") for n in written)
    sums = dict(reversed(line.split("  ", 1)) for line in (backup / SUMS_FILE).read_text().splitlines())
    assert sums == {f"./{n}": d for n, d in written.items()}
    [call] = [json.loads(line) for line in (tmp_path / "influx.log").read_text().splitlines()]
    assert call["token"] == TOKEN and TOKEN not in json.dumps(call["argv"])

    # What the uploader's fetch hands the host: a tar of the backup directory, SHA256SUMS included.
    tar_path = tmp_path / "backup.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(backup, arcname=".")
    with tar_path.open("rb") as stdin:
        restored = subprocess.run([BUSYBOX, "sh", "-c", influx_restore_inside_script(), "influx-restore"], env=env,
                                  stdin=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert restored.returncode == 0, restored.stderr
    assert json.loads((tmp_path / "restored.json").read_text()) == written, "exactly the backup's files, no more"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")], "the unpacked backup is removed"


def test_a_backup_without_a_manifest_is_not_put_in_the_outbox(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    (tmp_path / "tools" / "influx").write_text("#!/bin/sh\nmkdir -p \"$4\"; echo partial > \"$4/x.bolt.gz\"\n")
    volume = tmp_path / "volume"
    done = subprocess.run([BUSYBOX, "sh", "-c", influx_dump_once_script(BACKUP), f"{INFLUX_JOB}-once", str(volume)],
                          env={**env, "INFLUX_TOKEN": TOKEN}, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "influx backup wrote no manifest" in done.stderr
    assert os.listdir(volume / "outbox") == []


def test_no_token_no_backup(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    done = subprocess.run(["dash", "-c", influx_dump_once_script(BACKUP), f"{INFLUX_JOB}-once", str(tmp_path / "v")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "INFLUX_TOKEN" in done.stderr
    assert not (tmp_path / "influx.log").exists(), "influx never ran"
