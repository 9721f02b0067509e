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
    EMPTIED_EXIT,
    FRESH_FAILED_EXIT,
    NOT_EMPTY_EXIT,
    PLAN_JOB,
    PREPARE_JOB,
    RESTORE_WAL_DIR,
    UNCHANGED_EXIT,
    WAY_BACK_SCRIPT,
    PitrSettings,
    _retention_awk,
    pitr_pgdata,
    pitr_problems,
    pitr_server_args,
    plan_script,
    prepare_in_place_script,
    receive_once_script,
    restore_command,
)

BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = {"dash": ["dash"], "busybox": [BUSYBOX, "sh"]}
BASE = PitrSettings(postgres_host="postgres", postgres_user="app", bucket="backups",
                    s3_endpoint="http://objectstore:9000", s3_region="us-east-1", postgres_major=18)
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
        ("postgres_major", 13, "postgres_major: got 13; expected 14 or later"),
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


@pytest.mark.parametrize(("major", "compress", "pgdata"), [
    (14, "--compress=6", "/var/lib/postgresql/data"),  # 14: a gzip level only
    (15, "--compress=gzip", "/var/lib/postgresql/data"),
    (16, "--compress=gzip", "/var/lib/postgresql/data"),
    (17, "--compress=gzip", "/var/lib/postgresql/data"),
    (18, "--compress=gzip", "/var/lib/postgresql/18/docker"),
])
def test_the_receivers_compress_form_and_pgdata_follow_the_major(major: int, compress: str, pgdata: str) -> None:
    s = PitrSettings(**{**BASE.__dict__, "postgres_major": major})
    assert pitr_problems(s) == []
    [line] = [x for x in receive_once_script(s).splitlines() if x.startswith("exec pg_receivewal")]
    assert line == f'exec pg_receivewal -w -D "$1/wal" --slot=pitr_receiver {compress} --no-loop'
    assert pitr_pgdata(major) == pgdata


def test_pitr_pgdata_refuses_a_major_before_14() -> None:
    with pytest.raises(ValueError, match="PITR needs 14 or later"):
        pitr_pgdata(13)


# prepare_in_place_script under busybox sh with busybox's find, stat, cp, tar...: the pinned image is alpine.
def _applets(tmp: Path, wrap_cp: str | None = None) -> str:
    applets = tmp / "applets"
    if not applets.exists():
        applets.mkdir()
        subprocess.run([BUSYBOX, "--install", "-s", str(applets)], check=True, timeout=30)
    path = str(applets)
    if wrap_cp is not None:  # a cp that does its job, then the given damage to the copy
        wrapped = tmp / "wrapped"
        wrapped.mkdir(exist_ok=True)
        (wrapped / "cp").write_text(f"#!{BUSYBOX} sh\n{BUSYBOX} cp \"$@\" || exit $?\n{wrap_cp}\n")
        (wrapped / "cp").chmod(0o755)
        path = f"{wrapped}:{path}"
    return path


def _cluster(pgdata: Path, files: dict[str, bytes]) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (pgdata / name).parent.mkdir(parents=True, exist_ok=True)
        (pgdata / name).write_bytes(data)


def _fetched_set(tmp: Path) -> bytes:
    """What fetch_script writes: base.tar.gz, pg_wal.tar.gz and wal/ with a segment and a history file."""
    src = tmp / "src"
    _cluster(src / "data", {"PG_VERSION": b"16\n", "base/1/1259": b"new-catalog", "postgresql.auto.conf": b"",
                            f"{RESTORE_WAL_DIR}/stale.gz": b"from an earlier restore"})
    (src / "data" / "pg_wal").mkdir()
    _cluster(src / "walfiles", {"000000010000000000000002": b"wal-in-backup"})
    (src / "set" / "wal").mkdir(parents=True)
    (src / "set" / "wal" / "000000010000000000000003.gz").write_bytes(b"segment")
    (src / "set" / "wal" / "00000002.history.gz").write_bytes(b"history")
    subprocess.run(["tar", "-czf", str(src / "set" / "base.tar.gz"), "-C", str(src / "data"), "."], check=True)
    subprocess.run(["tar", "-czf", str(src / "set" / "pg_wal.tar.gz"), "-C", str(src / "walfiles"), "."], check=True)
    return subprocess.run(["tar", "-cf", "-", "-C", str(src / "set"), "."], check=True, capture_output=True).stdout


def _prepare(tmp: Path, pgdata: Path, prev: Path, target: str, path: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([BUSYBOX, "sh", "-c", prepare_in_place_script(), PREPARE_JOB, str(pgdata), str(prev), target],
                          input=_fetched_set(tmp), env={"PATH": path}, capture_output=True, timeout=60, check=False)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


OLD = {"PG_VERSION": b"16\n", "base/1/1259": b"old-catalog" * 100, "global/pg_control": b"control",
       "pg_wal/000000010000000000000009": b"old-wal", "postgresql.auto.conf": b"# old\n"}


def test_in_place_the_old_cluster_is_copied_checked_and_replaced(tmp_path: Path) -> None:
    pgdata, prev = tmp_path / "volume", tmp_path / "previous"
    _cluster(pgdata, OLD)
    (pgdata / "pg_tblspc").mkdir()
    prev.mkdir()
    before = _tree(pgdata)
    done = _prepare(tmp_path, pgdata, prev, "2026-01-01 00:00:00+00", _applets(tmp_path))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"kept\n"
    assert _tree(prev) == before, "the previous cluster, whole, in the new volume"
    after = _tree(pgdata)
    assert after["base/1/1259"] == b"new-catalog" and after["pg_wal/000000010000000000000002"] == b"wal-in-backup"
    assert "global/pg_control" not in after and "pg_wal/000000010000000000000009" not in after, "PGDATA was emptied"
    assert sorted(k for k in after if k.startswith(RESTORE_WAL_DIR + "/")) == [
        f"{RESTORE_WAL_DIR}/000000010000000000000003.gz", f"{RESTORE_WAL_DIR}/00000002.history.gz"
    ], "the fetched WAL only (not the stale directory a base backup may hold, nor a nested wal/)"
    assert after["recovery.signal"] == b"" and "pitr-restore-set" not in after
    auto = after["postgresql.auto.conf"].decode()
    assert f"restore_command = 'if [ -f {pgdata}/{RESTORE_WAL_DIR}/%f.gz ]; then gunzip -c" in auto
    assert "recovery_target_time = '2026-01-01 00:00:00+00'\nrecovery_target_action = 'promote'\n" in auto
    assert oct(pgdata.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("damage", [
    "rm -f \"$(echo \"$@\" | awk '{print $NF}')/global/pg_control\"",  # a file missing from the copy
    "printf x >> \"$(echo \"$@\" | awk '{print $NF}')/base/1/1259\"",  # a size that differs
    "exit 1",  # cp fails
])
def test_in_place_a_bad_copy_leaves_pgdata_untouched(tmp_path: Path, damage: str) -> None:
    pgdata, prev = tmp_path / "volume", tmp_path / "previous"
    _cluster(pgdata, OLD)
    prev.mkdir()
    before = _tree(pgdata)
    done = _prepare(tmp_path, pgdata, prev, "", _applets(tmp_path, wrap_cp=damage))
    assert done.returncode == UNCHANGED_EXIT, done.stderr.decode()
    assert b"the cluster in PGDATA is untouched" in done.stderr and done.stdout == b""
    assert _tree(pgdata) == before


def test_in_place_a_new_volume_that_holds_files_is_refused(tmp_path: Path) -> None:
    pgdata, prev = tmp_path / "volume", tmp_path / "previous"
    _cluster(pgdata, OLD)
    _cluster(prev, {"someone-elses": b"x"})
    before = _tree(pgdata)
    done = _prepare(tmp_path, pgdata, prev, "", _applets(tmp_path))
    assert done.returncode == NOT_EMPTY_EXIT, done.stderr.decode()
    assert _tree(pgdata) == before and _tree(prev) == {"someone-elses": b"x"}


def test_in_place_an_empty_pgdata_keeps_nothing(tmp_path: Path) -> None:
    pgdata, prev = tmp_path / "volume", tmp_path / "previous"
    pgdata.mkdir()
    prev.mkdir()
    done = _prepare(tmp_path, pgdata, prev, "", _applets(tmp_path))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"empty\n" and _tree(prev) == {}
    assert (pgdata / "recovery.signal").exists()
    assert "recovery_target_time" not in (pgdata / "postgresql.auto.conf").read_text()


def _restore_with_failing_docker(tmp_path: Path, fails: str, rc: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The 16 stack's restore command under dash with a stand-in docker: plan and fetch answer, the docker call
    starting with ``fails`` ("<verb> <first argument>") exits ``rc``, the rest succeed; each call logged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    (bin_dir / "docker").write_text(f"""#!/bin/sh
echo "$*" | cut -c1-60 >> {shlex.quote(str(log))}
case "$1 $2" in
  "exec db-pitr-upload") case "$*" in *pitr-plan*) echo 20260101T000000Z ;; *) echo fetched-tar ;; esac ;;
  "{fails}"*) exit {rc} ;;
esac
exit 0
""")
    (bin_dir / "docker").chmod(0o755)
    done = subprocess.run(["dash", "-c", f"{_in_place_restore_command()} latest"], env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, check=False)
    return done, log.read_text().splitlines()


def _in_place_restore_command() -> str:
    """The restore command of a 16 stack: PGDATA is the data volume's root."""
    return restore_command(PitrSettings(**{**BASE.__dict__, "postgres_major": 16}), container="db-postgres",
                           uploader="db-pitr-upload", receiver="db-pitr-receive", image="postgres:16.11-alpine",
                           rclone_image="rclone/rclone:1.75.0", data_volume="db-data",
                           volume_path="/var/lib/postgresql/data", pgdata="/var/lib/postgresql/data",
                           pitr_volume="db-pitr", postgres_port=5432, postgres_user="app")


@pytest.mark.parametrize(("fails", "message"), [
    ("volume create", "cannot create Docker volume db-data-pitr-previous-"),
    ("run", "nothing was restored; the database runs again on its own, unchanged cluster"),
])
def test_in_place_a_failure_before_pgdata_changes_starts_the_database_again(tmp_path: Path, fails: str,
                                                                          message: str) -> None:
    """The host script with a stand-in docker: plan and fetch answer, the stops work, then `volume create` fails,
    or the prepare container exits UNCHANGED_EXIT (the copy did not match): both containers are started again."""
    done, calls = _restore_with_failing_docker(tmp_path, fails, 1 if fails == "volume create" else UNCHANGED_EXIT)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr, done.stderr
    stops = [i for i, c in enumerate(calls) if c.startswith("stop ")]
    starts = [c for c in calls[max(stops):] if c.startswith("start ")]
    assert [calls[i] for i in stops] == ["stop db-pitr-receive", "stop db-postgres"], calls
    assert starts == ["start db-postgres", "start db-pitr-receive"], calls
    assert any(c.startswith("volume rm db-data-pitr-previous-") for c in calls) == (fails == "run"), calls


@pytest.mark.parametrize(("rc", "message"), [
    (EMPTIED_EXIT, "failed after PGDATA was emptied; the database is stopped. The previous cluster is in Docker volume"),
    (125, "the prepare container ended with 125 before it said what it did"),
])
def test_in_place_a_failure_that_may_have_changed_pgdata_leaves_the_database_stopped_with_the_way_back(
        tmp_path: Path, rc: int, message: str) -> None:
    """After emptying, or an exit that is not the script's (Docker's 125): nothing is started (the cluster may be
    half-built), the new volume is kept, and the printed way back names it."""
    done, calls = _restore_with_failing_docker(tmp_path, "run --rm", rc)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not [c for c in calls if c.startswith(("start ", "volume rm"))], calls
    assert "copied into Docker volume db-data-pitr-previous-" in done.stderr, "said before the copy started"
    assert "db-data-pitr-previous-" in done.stderr.split(message, 1)[1] and "PG_VERSION" in done.stderr


def _failing(tmp: Path, applet: str) -> str:
    """PATH with busybox's applets, ``applet`` replaced by one that fails."""
    path = _applets(tmp)
    broken = tmp / f"broken-{applet}"
    broken.mkdir(exist_ok=True)
    (broken / applet).write_text(f"#!{BUSYBOX} sh\nexit 1\n")
    (broken / applet).chmod(0o755)
    return f"{broken}:{path}"


def test_in_place_a_failure_between_the_copy_and_its_check_is_unchanged(tmp_path: Path) -> None:
    """mktemp failing right after the copy (a full disk, say) is a set -e exit before PGDATA changed: the exit says
    unchanged, so the host script starts the database again instead of printing a way back."""
    pgdata, prev = tmp_path / "volume", tmp_path / "previous"
    _cluster(pgdata, OLD)
    prev.mkdir()
    before = _tree(pgdata)
    done = _prepare(tmp_path, pgdata, prev, "", _failing(tmp_path, "mktemp"))
    assert done.returncode == UNCHANGED_EXIT, done.stderr.decode()
    assert _tree(pgdata) == before


def test_in_place_a_failure_after_emptying_says_so_and_a_fresh_one_says_there_is_nothing_to_put_back(tmp_path: Path) -> None:
    for name, fill, expected in (("kept", OLD, EMPTIED_EXIT), ("fresh", {}, FRESH_FAILED_EXIT)):
        pgdata, prev = tmp_path / name / "volume", tmp_path / name / "previous"
        _cluster(pgdata, fill)
        prev.mkdir(parents=True)
        before = _tree(pgdata)
        done = _prepare(tmp_path / name, pgdata, prev, "", _failing(tmp_path / name, "tar"))
        assert done.returncode == expected, (name, done.stderr.decode())
        assert _tree(prev) == before, "the checked copy (or nothing) is in the new volume"


def test_the_way_back_refuses_a_volume_without_a_cluster_and_puts_a_kept_one_back(tmp_path: Path) -> None:
    """The printed way back (WAY_BACK_SCRIPT, in the restore command's text), under busybox as in the image."""
    command = _in_place_restore_command()
    assert "PG_VERSION" in command and "holds no cluster" in command
    pgdata, prev = tmp_path / "pgdata", tmp_path / "prev"
    _cluster(pgdata, {"PG_VERSION": b"16\n", "base/1/1": b"recovered-but-broken"})
    prev.mkdir()
    before = _tree(pgdata)

    def back() -> subprocess.CompletedProcess[str]:
        return subprocess.run([BUSYBOX, "sh", "-c", WAY_BACK_SCRIPT, PREPARE_JOB, str(pgdata), str(prev)],
                              env={"PATH": _applets(tmp_path)}, capture_output=True, text=True, timeout=30, check=False)

    done = back()
    assert done.returncode == 1 and "holds no cluster" in done.stderr
    assert _tree(pgdata) == before
    _cluster(prev, OLD)
    assert back().returncode == 0
    assert _tree(pgdata) == _tree(prev)


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=8).filter(
    lambda n: n not in (".", "..") and not n.startswith("-"))
_trees = st.dictionaries(st.lists(_names, min_size=1, max_size=3).map("/".join), st.binary(max_size=300),
                         min_size=1, max_size=12)


def _plant(pgdata: Path, files: dict[str, bytes], modes: list[int]) -> dict[str, bytes]:
    """Files at their paths (a path that is a prefix of another's directory becomes that directory), some modes."""
    planted = {}
    for n, (name, data) in enumerate(sorted(files.items())):
        path = pgdata / name
        if any(p.exists() and not p.is_dir() for p in path.parents if pgdata in p.parents) or path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(modes[n % len(modes)])
        planted[name] = data
    return planted


def _stat_tree(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.lstat().st_mode, p.lstat().st_uid,
                                       p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*"))}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_trees, modes=st.lists(st.sampled_from([0o600, 0o640, 0o644]), min_size=1, max_size=3),
       drop=st.integers(min_value=0))
def test_in_place_any_cluster_is_kept_whole_and_any_missing_file_is_caught(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], modes: list[int], drop: int,
) -> None:
    tmp = tmp_path_factory.mktemp("tree")
    pgdata, prev = tmp / "volume", tmp / "previous"
    pgdata.mkdir()
    prev.mkdir()
    planted = _plant(pgdata, files, modes)
    (pgdata / "pg_wal_link").symlink_to("pg_wal")  # a link is copied as a link
    before = _stat_tree(pgdata)
    done = _prepare(tmp, pgdata, prev, "", _applets(tmp))
    assert done.returncode == 0, done.stderr.decode()
    assert _stat_tree(prev) == before

    # The same cluster again, with one of its files left out of the copy: refused, PGDATA as it was.
    tmp2 = tmp_path_factory.mktemp("tree")
    pgdata2, prev2 = tmp2 / "volume", tmp2 / "previous"
    pgdata2.mkdir()
    prev2.mkdir()
    _plant(pgdata2, planted, modes)
    before2 = _stat_tree(pgdata2)
    victim = sorted(planted)[drop % len(planted)]
    damage = f"rm -f \"$(echo \"$@\" | awk '{{print $NF}}')/{victim}\""
    refused = _prepare(tmp2, pgdata2, prev2, "", _applets(tmp2, wrap_cp=damage))
    assert refused.returncode == UNCHANGED_EXIT, (victim, refused.stderr.decode())
    assert _stat_tree(pgdata2) == before2
