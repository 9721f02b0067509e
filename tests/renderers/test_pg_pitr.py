"""renderers/pg_pitr.py: settings checks, the restore's window (the rendered plan script, run under dash and busybox
with a stand-in `rclone lsf`), the retention choice, and a bad target refused before any docker call.
tests/real/test_pg_pitr_real.py runs the same scripts with real PostgreSQL 15 and 18, rclone and versitygw."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers.pg_pitr import (
    PLAN_JOB,
    PitrSettings,
    _retention_awk,
    pitr_problems,
    pitr_server_args,
    plan_script,
    restore_command,
)

BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = {"dash": ["dash"], "busybox": [BUSYBOX, "sh"]}
BASE = PitrSettings(postgres_host="postgres", postgres_user="app", bucket="backups",
                    s3_endpoint="http://objectstore:9000", s3_region="us-east-1")
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def test_defaults_are_valid_and_the_server_gets_archive_timeout() -> None:
    assert pitr_problems(BASE) == []
    assert pitr_server_args(BASE.archive_timeout_s) == ["-c", "archive_timeout=300"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retention_days", 0, "retention_days: got 0; expected 1..35"),
        ("retention_days", 36, "retention_days: got 36"),
        ("archive_timeout_s", 9, "archive_timeout_s: got 9; expected 10..3600 seconds"),
        ("archive_timeout_s", 3601, "archive_timeout_s: got 3601"),
        ("base_backup_interval_hours", 0, "base_backup_interval_hours: got 0"),
        ("base_backup_interval_hours", 48, "expected at most retention_days * 24 = 24"),
        ("bucket", "Bad_Bucket", "bucket: got 'Bad_Bucket'"),
        ("s3_endpoint", "ftp://x", "s3_endpoint: got 'ftp://x'"),
    ],
)
def test_each_bad_setting_is_named(field: str, value: object, message: str) -> None:
    s = PitrSettings(**{**BASE.__dict__, "retention_days": 1 if field == "base_backup_interval_hours" else 7,
                        field: value})
    assert any(message in p for p in pitr_problems(s)), pitr_problems(s)


def _fake_rclone(tmp: Path, listing: str) -> dict[str, str]:
    """`rclone lsf ...` prints the listing, as the real one prints `<time>|<path>` with --format tp."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp / "listing").write_text(listing)
    rclone = bin_dir / "rclone"
    rclone.write_text(f"#!/bin/sh\n[ \"$1\" = lsf ] || exit 9\ncat {shlex.quote(str(tmp / 'listing'))}\n")
    rclone.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def _plan(shell: str, tmp: Path, listing: str, target: str) -> subprocess.CompletedProcess[str]:
    env = _fake_rclone(tmp, listing)
    if shell == "busybox":
        # The rclone image is alpine: busybox's awk, mktemp, rm and cat, not this machine's.
        applets = tmp / "busybox-bin"
        applets.mkdir(exist_ok=True)
        for name in ("awk", "mktemp", "rm", "cat"):
            if not (applets / name).exists():
                (applets / name).symlink_to(BUSYBOX)
        env["PATH"] = f"{tmp / 'bin'}:{applets}:/usr/bin:/bin"
    return subprocess.run([*SHELLS[shell], "-c", plan_script(), PLAN_JOB, "pitr:backups/postgres-pitr", target],
                          env=env, capture_output=True, text=True, timeout=30, check=False)


def _listing(bases: list[datetime], wal: list[datetime], incomplete: list[datetime]) -> str:
    lines = []
    for b in bases:
        for name in ("base.tar.gz", "START_WAL", "SHA256SUMS"):
            lines.append(f"{b:%Y-%m-%d %H:%M:%S}|base/{_stamp(b)}/{name}")
    for b in incomplete:  # an upload in progress: no SHA256SUMS yet
        lines.append(f"{b:%Y-%m-%d %H:%M:%S}|base/{_stamp(b)}/base.tar.gz")
    for n, w in enumerate(wal):
        lines.append(f"{w:%Y-%m-%d %H:%M:%S}|wal/0000000100000000{n + 2:08X}.gz")
    lines.append(f"{EPOCH:%Y-%m-%d %H:%M:%S}|wal/00000002.history.gz")
    return "\n".join(lines) + "\n"


_times = st.integers(min_value=0, max_value=10 * 86400).map(lambda s: EPOCH + timedelta(seconds=s))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bases=st.lists(_times, min_size=1, max_size=4, unique=True), wal=st.lists(_times, max_size=4),
       incomplete=st.lists(_times, max_size=1), target=_times, shell=st.sampled_from(sorted(SHELLS)))
def test_the_plan_picks_the_newest_base_backup_before_the_target_or_refuses(
    tmp_path: Path, bases: list[datetime], wal: list[datetime], incomplete: list[datetime], target: datetime,
    shell: str,
) -> None:
    done = _plan(shell, tmp_path, _listing(bases, wal, [i for i in incomplete if i not in bases]), _stamp(target))
    start, end = min(bases), max([*bases, *wal])
    if target < start:
        assert done.returncode == 4, done
        assert f"is before the window, which starts at the oldest base backup {_stamp(start)}" in done.stderr
        assert "nothing was changed" in done.stderr and done.stdout == ""
    elif target > end:
        assert done.returncode == 4, done
        assert f"is after the window, which ends at the newest archived WAL {_stamp(end)}" in done.stderr
        assert "nothing was changed" in done.stderr and done.stdout == ""
    else:
        assert done.returncode == 0, done
        assert done.stdout.strip() == _stamp(max(b for b in bases if b <= target))


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_latest_is_the_newest_complete_base_backup(tmp_path: Path, shell: str) -> None:
    bases = [EPOCH, EPOCH + timedelta(days=1)]
    done = _plan(shell, tmp_path, _listing(bases, [EPOCH + timedelta(days=2)], [EPOCH + timedelta(days=3)]), "")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == _stamp(bases[1])


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_no_complete_base_backup_is_refused(tmp_path: Path, shell: str) -> None:
    done = _plan(shell, tmp_path, _listing([], [EPOCH], [EPOCH]), "")
    assert done.returncode == 3
    assert "no complete base backup under pitr:backups/postgres-pitr; nothing was changed" in done.stderr


@settings(max_examples=40, deadline=None)
@given(bases=st.lists(_times, min_size=1, max_size=6, unique=True), cutoff=_times)
def test_retention_keeps_the_window_and_the_newest_backup_before_it(bases: list[datetime], cutoff: datetime) -> None:
    listing = "".join(f"base/{_stamp(b)}/{n}\n" for b in bases for n in ("base.tar.gz", "SHA256SUMS"))
    runs = [subprocess.run([*awk, "-v", f"cutoff={_stamp(cutoff)}", _retention_awk(BASE)], input=listing,
                           capture_output=True, text=True, timeout=30, check=True).stdout
            for awk in (["awk"], [BUSYBOX, "awk"])]  # this machine's and the rclone image's (busybox)
    assert runs[0] == runs[1]
    out = runs[0].split("\n")
    newest_first = sorted(bases, reverse=True)
    kept = [b for b in newest_first if b >= cutoff]
    older = [b for b in newest_first if b < cutoff]
    kept += older[:1]
    assert sorted(line for line in out if line.startswith("purge ")) == sorted(f"purge {_stamp(b)}" for b in older[1:])
    assert f"oldest {_stamp(min(kept))}" in out


@pytest.mark.parametrize("target", ["", "yesterday", "2026-01-01 00:00:00", "2026-01-01T00:00:00", "2026-1-01T00:00:00Z"])
def test_a_target_that_is_not_a_utc_time_is_refused_before_any_docker_call(tmp_path: Path, target: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    (bin_dir / "docker").write_text(f"#!/bin/sh\necho \"$@\" >> {shlex.quote(str(log))}\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    command = restore_command(BASE, container="db-postgres", uploader="db-pitr-upload", receiver="db-pitr-receive",
                              image="postgres:18.1-alpine", rclone_image="rclone/rclone:1.75.0", data_volume="db-data",
                              volume_path="/var/lib/postgresql", pgdata="/var/lib/postgresql/18/docker",
                              pitr_volume="db-pitr", postgres_port=5432, postgres_user="app")
    done = subprocess.run(["dash", "-c", f"{command} {shlex.quote(target)}"], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "usage: <command> latest | <command> YYYY-MM-DDTHH:MM:SSZ (UTC)" in done.stderr
    assert "nothing was changed" in done.stderr
    assert not log.exists(), "no docker command ran"
