"""The backup jobs' scripts and the restore command: valid sh, no secret anywhere in them, and retention that keeps
exactly the newest `keep` complete backups, for any settings.

Scripts run here under dash and busybox ash with stand-ins for rclone, date and sleep;
tests/real/test_pg_backup_real.py runs them with the real pg_dump, rclone and an S3 server.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from renderers.pg_backup import (
    BACKUP_VOLUME_PATH,
    DATABASE,
    DUMP_JOB,
    ENTRYPOINT,
    FETCH_JOB,
    RCLONE_IMAGE,
    RCLONE_VERSION,
    STAMP,
    SUMS_FILE,
    UPLOAD_JOB,
    UPLOAD_POLL_S,
    BackupSettings,
    backup_problems,
    dump_command,
    dump_env,
    dump_healthcheck,
    dump_loop_script,
    dump_once_script,
    fetch_script,
    rclone_env,
    RESTORE_JOB,
    restore_command,
    restore_script,
    upload_command,
    upload_healthcheck,
    upload_loop_script,
    upload_once_script,
)

TIMEOUT_S = 30
BUSYBOX = shutil.which("busybox") or "busybox"
SHELLS = {"dash": [shutil.which("dash") or "dash"], "busybox-ash": [BUSYBOX, "sh"]}
BASE = BackupSettings(postgres_host="postgres", postgres_user="app", bucket="app-backups",
                      s3_endpoint="http://objectstore:9000", s3_region="us-east-1")

IDENTIFIERS = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z")
HOSTS = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?(?:\.[a-z0-9]{1,10}){0,3}\Z") | st.ip_addresses().map(str)
SETTINGS = st.builds(
    BackupSettings,
    postgres_host=HOSTS,
    postgres_user=IDENTIFIERS,
    postgres_port=st.integers(1, 65535),
    bucket=st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z"),
    s3_endpoint=st.from_regex(r"\Ahttps?://[a-z0-9.-]{1,40}(:\d{1,5})?\Z"),
    s3_region=st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z"),
    interval_hours=st.integers(1, 168),
    keep=st.integers(1, 365),
    prefix=st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,20}(/[a-z0-9][a-z0-9_.-]{0,20}){0,4}\Z"),
    remote=st.from_regex(r"\A[a-z][a-z0-9_]{0,30}\Z"),
)
NAMES = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}\Z")
# Any text that could be a key or password; the marker makes a leak findable whatever the rest is.
SECRETS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1).map(
    lambda t: "LEAK-" + t
)
STAMPS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2999, 12, 31)).map(
    lambda d: d.strftime("%Y%m%dT%H%M%SZ")
)


def _syntax_ok(script: str) -> None:
    for shell in SHELLS.values():
        checked = subprocess.run([*shell, "-n", "-c", script], capture_output=True, text=True, timeout=TIMEOUT_S,
                                 check=False)
        assert checked.returncode == 0, f"{shell}: {checked.stderr}\n{script}"


def _once_in(loop: str) -> str:
    """The text the loop runs each time: its `once=<quoted>` line, unquoted."""
    words = shlex.split(loop, comments=False)
    found = [w[len("once="):] for w in words if w.startswith("once=")]
    assert len(found) == 1, loop
    return found[0]


# ---------------------------------------------------------------------------------------------------------------
# Shape of what is rendered.

@settings(max_examples=40, deadline=None)
@given(s=SETTINGS)
def test_every_script_is_valid_sh_and_each_loop_runs_its_own_once_script(s: BackupSettings) -> None:
    assert backup_problems(s) == []
    for script in (dump_once_script(s), dump_loop_script(s), upload_once_script(s), upload_loop_script(s),
                   fetch_script()):
        _syntax_ok(script)
    assert _once_in(dump_loop_script(s)) == dump_once_script(s)
    assert _once_in(upload_loop_script(s)) == upload_once_script(s)
    assert dump_command(s) == [dump_loop_script(s), DUMP_JOB, BACKUP_VOLUME_PATH]
    assert upload_command(s) == [upload_loop_script(s), UPLOAD_JOB, BACKUP_VOLUME_PATH]
    assert ENTRYPOINT == ("/bin/sh", "-c")


@settings(max_examples=40, deadline=None)
@given(s=SETTINGS, container=NAMES, uploader=NAMES, database=st.from_regex(DATABASE), stamp=st.none() | STAMPS)
def test_restore_command_is_valid_sh_and_fetches_through_the_uploader(
    s: BackupSettings, container: str, uploader: str, database: str, stamp: str | None
) -> None:
    wrapped = restore_command(s, container=container, uploader=uploader, database=database, stamp=stamp)
    _syntax_ok(wrapped)
    command = restore_script(s, container=container, uploader=uploader, database=database, stamp=stamp)
    # One command: the script in a shell of its own, so `eval` never runs its set -eu, trap or exit in the caller's.
    assert shlex.split(wrapped) == ["sh", "-c", command, RESTORE_JOB]
    _syntax_ok(command)
    fetch_part = command.partition("trap 'rm -f \"$dump\"' EXIT\n")[2].partition("\nif ! docker exec -i ")[0]
    assert shlex.split(fetch_part) == [
        "docker", "exec", uploader, "sh", "-c", fetch_script(), FETCH_JOB, s.base, database, stamp or "", ">", "$dump"
    ]
    restore = shlex.split(command.splitlines()[-5])
    assert restore[:6] == ["if", "!", "docker", "exec", "-i", container], command
    assert "--single-transaction" in restore[-4] and f"-d {shlex.quote(database)}" in restore[-4]


@pytest.mark.parametrize("database", ["", "-d", "a=b", "x y", "a/b", "$(id)", ".hidden", "a" * 64])
def test_restore_refuses_a_database_name_the_dump_job_never_writes(database: str) -> None:
    with pytest.raises(ValueError, match="database"):
        restore_command(BASE, container="db-postgres", uploader="db-backup-upload", database=database)


@pytest.mark.parametrize("stamp", ["", "latest", "20260101T000000", "2026-01-01T00:00:00Z", "20260101T000000Z/.."])
def test_restore_refuses_a_stamp_that_is_not_one(stamp: str) -> None:
    with pytest.raises(ValueError, match="stamp"):
        restore_command(BASE, container="db-postgres", uploader="db-backup-upload", database="app", stamp=stamp)


def test_images_and_env_names_are_what_rclone_reads() -> None:
    assert (RCLONE_IMAGE, RCLONE_VERSION) == ("rclone/rclone", "1.75.0")
    env = dict(entry.split("=", 1) for entry in rclone_env(replace(BASE, remote="offsite"), "AK", "SK"))
    assert env == {
        "RCLONE_CONFIG": "/dev/null",
        "RCLONE_CONFIG_OFFSITE_TYPE": "s3",
        "RCLONE_CONFIG_OFFSITE_PROVIDER": "Other",
        "RCLONE_CONFIG_OFFSITE_ENDPOINT": "http://objectstore:9000",
        "RCLONE_CONFIG_OFFSITE_REGION": "us-east-1",
        "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": "AK",
        "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": "SK",
        "RCLONE_CONFIG_OFFSITE_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_OFFSITE_NO_CHECK_BUCKET": "true",
        # What OCI's S3 API takes (renderers/pg_backup.py rclone_env): checksums only where an operation demands
        # one, no aws-chunked bodies, multipart above the cutoff.
        "RCLONE_CONFIG_OFFSITE_USE_DATA_INTEGRITY_PROTECTIONS": "false",
        "RCLONE_CONFIG_OFFSITE_USE_UNSIGNED_PAYLOAD": "true",
        "RCLONE_CONFIG_OFFSITE_USE_MULTIPART_UPLOADS": "true",
    }
    assert dump_env("pw") == ["PGPASSWORD=pw"]
    assert BASE.base == "backup:app-backups/postgres"


@settings(max_examples=60, deadline=None)
@given(s=SETTINGS, access_key=SECRETS, secret_key=SECRETS, password=SECRETS, database=st.from_regex(DATABASE),
       stamp=st.none() | STAMPS)
def test_no_secret_is_in_any_script_or_command(
    s: BackupSettings, access_key: str, secret_key: str, password: str, database: str, stamp: str | None
) -> None:
    secrets = (access_key, secret_key, password)
    assume(all(a not in b for a in secrets for b in secrets if a is not b))
    rendered = [dump_once_script(s), dump_loop_script(s), upload_once_script(s), upload_loop_script(s), fetch_script(),
                *dump_command(s), *upload_command(s), *dump_healthcheck(), *upload_healthcheck(),
                restore_command(s, container="db-postgres", uploader="db-backup-upload", database=database,
                                stamp=stamp)]
    for text in rendered:
        for secret in secrets:
            assert secret not in text
    # Each secret is in exactly the one env entry meant for it.
    env = rclone_env(s, access_key, secret_key)
    assert [e for e in env if access_key in e] == [f"RCLONE_CONFIG_{s.remote.upper()}_ACCESS_KEY_ID={access_key}"]
    assert [e for e in env if secret_key in e] == [f"RCLONE_CONFIG_{s.remote.upper()}_SECRET_ACCESS_KEY={secret_key}"]
    assert [e for e in env if password in e] == []
    assert [e for e in dump_env(password) if password in e] == [f"PGPASSWORD={password}"]


# ---------------------------------------------------------------------------------------------------------------
# Validation.

@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"interval_hours": 0}, "interval_hours"), ({"interval_hours": 169}, "interval_hours"),
        ({"keep": 0}, "keep"), ({"keep": 366}, "keep"),
        ({"bucket": "Backups"}, "bucket"), ({"bucket": "ab"}, "bucket"), ({"bucket": "a..b"}, "bucket"),
        ({"bucket": "a_b-c"}, "bucket"),
        ({"prefix": ""}, "prefix"), ({"prefix": "/pg"}, "prefix"), ({"prefix": "pg/"}, "prefix"),
        ({"prefix": "pg//x"}, "prefix"), ({"prefix": "pg x"}, "prefix"), ({"prefix": "../pg"}, "prefix"),
        ({"prefix": "a/b/c/d/e/f"}, "prefix"),
        ({"remote": "Backup"}, "remote"), ({"remote": "my-remote"}, "remote"), ({"remote": "1x"}, "remote"),
        ({"postgres_user": "App"}, "postgres_user"), ({"postgres_host": "a b"}, "postgres_host"),
        ({"postgres_port": 0}, "postgres_port"), ({"s3_endpoint": "objectstore:9000"}, "s3_endpoint"),
        ({"s3_endpoint": "http://x/$(id)"}, "s3_endpoint"), ({"s3_region": "US East"}, "s3_region"),
    ],
)
def test_each_bad_setting_is_reported_by_name(change: dict, field: str) -> None:
    problems = backup_problems(replace(BASE, **change))
    assert len(problems) == 1 and problems[0].startswith(f"{field}: got "), problems


@given(interval=st.integers(-10, 400), keep=st.integers(-10, 800))
def test_interval_and_keep_ranges(interval: int, keep: int) -> None:
    problems = backup_problems(replace(BASE, interval_hours=interval, keep=keep))
    assert any(p.startswith("interval_hours:") for p in problems) is not (1 <= interval <= 168)
    assert any(p.startswith("keep:") for p in problems) is not (1 <= keep <= 365)


@given(moments=st.lists(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)),
                        min_size=2, max_size=20, unique=True))
def test_stamps_sort_as_text_in_time_order(moments: list[datetime]) -> None:
    """Retention and "the newest" sort stamps as text (sort -r, sort | tail -n 1)."""
    stamps = [m.strftime("%Y%m%dT%H%M%SZ") for m in moments]
    assert all(STAMP.match(x) for x in stamps)
    assert sorted(stamps) == [m.strftime("%Y%m%dT%H%M%SZ") for m in sorted(moments)]


# ---------------------------------------------------------------------------------------------------------------
# Retention, run by the rendered upload script against a directory standing in for the bucket.

# rclone's sub-commands the scripts use, on `<remote>:<bucket>/<path>` mapped to $FAKE_BUCKET/<path>.
RCLONE_STUB = r"""#!/bin/sh
set -eu
echo "$*" >> "$FAKE_LOG"
local_path() { case $1 in *:*) p=${1#*:}; echo "$FAKE_BUCKET/${p#*/}" ;; *) echo "$1" ;; esac; }
case $1 in
  move) src=$(local_path "$2") dst=$(local_path "$3"); mkdir -p "$dst"
        for f in "$src"/*; do [ "$5" = "${f##*/}" ] || mv "$f" "$dst/"; done ;;
  moveto) src=$(local_path "$2") dst=$(local_path "$3"); mkdir -p "${dst%/*}"; mv "$src" "$dst" ;;
  lsf) dir=$(local_path "$4"); [ ! -d "$dir" ] || (cd "$dir" && find . -type f | sed 's|^\./||' | sort) ;;
  purge) rm -rf "$(local_path "$2")" ;;
  *) echo "rclone stub: unexpected $*" >&2; exit 2 ;;
esac
"""


def _stub_bin(tmp: Path) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "rclone"
    stub.write_text(RCLONE_STUB)
    stub.chmod(0o755)
    return bin_dir


def _run_upload_once(shell: list[str], s: BackupSettings, root: Path, bucket: Path, bin_dir: Path):
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_BUCKET": str(bucket), "FAKE_LOG": str(root / "rclone.log")}
    return subprocess.run([*shell, "-c", upload_once_script(s), f"{UPLOAD_JOB}-once", str(root)], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _backup_dir(path: Path, complete: bool = True) -> None:
    path.mkdir(parents=True)
    (path / "app.dump").write_text("dump")
    if complete:
        (path / SUMS_FILE).write_text("sums")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(), keep=st.integers(1, 8), shell=st.sampled_from(sorted(SHELLS)),
    stamps=st.lists(STAMPS, min_size=1, max_size=14, unique=True),
)
def test_retention_keeps_exactly_the_newest_complete_backups(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, keep: int, shell: str, stamps: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("retention")
    new, *remote = stamps  # one backup waiting in the outbox, the rest already in the bucket
    incomplete = set(data.draw(st.lists(st.sampled_from(remote), unique=True), label="incomplete") if remote else [])
    s = replace(BASE, keep=keep, prefix="pg/nightly")
    root, bucket = tmp / "volume", tmp / "bucket"
    _backup_dir(root / "outbox" / new)
    for stamp in remote:
        _backup_dir(bucket / "pg/nightly" / stamp, complete=stamp not in incomplete)

    done = _run_upload_once(SHELLS[shell], s, root, bucket, _stub_bin(tmp))
    assert done.returncode == 0, done.stderr

    complete = sorted((set(stamps) - incomplete), reverse=True)
    kept_complete = complete[:keep]
    cutoff = kept_complete[-1] if len(complete) >= keep else ""
    left = sorted(p.name for p in (bucket / "pg/nightly").iterdir())
    assert left == sorted(x for x in stamps if x >= cutoff)
    assert sorted(x for x in left if (bucket / "pg/nightly" / x / SUMS_FILE).exists()) == sorted(kept_complete)
    assert len(kept_complete) == min(len(complete), keep)
    if new >= cutoff:
        assert sorted(p.name for p in (bucket / "pg/nightly" / new).iterdir()) == [SUMS_FILE, "app.dump"]
    assert list((root / "outbox").iterdir()) == []


def test_nothing_uploaded_means_nothing_listed_or_deleted(tmp_path: Path) -> None:
    (tmp_path / "volume" / "outbox" / "not-a-stamp").mkdir(parents=True)
    done = _run_upload_once(SHELLS["dash"], BASE, tmp_path / "volume", tmp_path / "bucket", _stub_bin(tmp_path))
    assert done.returncode == 0 and "skipping" in done.stderr
    assert not (tmp_path / "volume" / "rclone.log").exists()


def test_a_failed_upload_stops_before_retention(tmp_path: Path) -> None:
    bin_dir = _stub_bin(tmp_path)
    (bin_dir / "rclone").write_text('#!/bin/sh\necho "$*" >> "$FAKE_LOG"\n[ "$1" != moveto ]\n')
    _backup_dir(tmp_path / "volume" / "outbox" / "20260101T000000Z")
    done = _run_upload_once(SHELLS["busybox-ash"], BASE, tmp_path / "volume", tmp_path / "bucket", bin_dir)
    assert done.returncode != 0
    assert [line.split()[0] for line in (tmp_path / "volume" / "rclone.log").read_text().splitlines()] == [
        "move", "moveto"]
    assert (tmp_path / "volume" / "outbox" / "20260101T000000Z").is_dir(), "retried on the next poll"


# ---------------------------------------------------------------------------------------------------------------
# The loops (PID 1 of each container): schedule, status for the healthcheck, a prompt stop.

def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize("shell", sorted(SHELLS))
@pytest.mark.parametrize(("hours", "now", "expected"), [(24, 86400 * 20000 + 3600, 82800), (1, 7200, 3600),
                                                        (6, 6 * 3600 * 5 + 1, 6 * 3600 - 1)])
def test_the_dump_loop_sleeps_to_the_next_multiple_of_the_interval(
    tmp_path: Path, shell: str, hours: int, now: int, expected: int
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `date +%s` is the given time; `sleep` records its argument, then stops the loop as docker stop would.
    _fake(bin_dir, "date", f'if [ "$1" = +%s ]; then echo {now}; else /bin/date "$@"; fi\n')
    _fake(bin_dir, "sleep", f'echo "$1" > {tmp_path}/slept\nkill -TERM "$PPID"\n')
    loop = dump_loop_script(replace(BASE, interval_hours=hours))
    done = subprocess.run([*SHELLS[shell], "-c", loop, DUMP_JOB, str(tmp_path / "volume")],
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert int((tmp_path / "slept").read_text()) == expected
    assert not (tmp_path / "volume" / "status" / DUMP_JOB).exists(), "stopped before the first dump"


def _healthy(check: tuple[str, ...], volume: Path) -> bool:
    assert check[0] == "CMD-SHELL"
    command = check[1].replace(BACKUP_VOLUME_PATH, str(volume))
    return subprocess.run(["dash", "-c", command], timeout=TIMEOUT_S, check=False).returncode == 0


@pytest.mark.parametrize("shell", sorted(SHELLS))
@pytest.mark.parametrize("outcome", ["ok", "failed"])
def test_the_upload_loop_runs_at_once_records_the_outcome_and_stops_on_sigterm(
    tmp_path: Path, shell: str, outcome: str
) -> None:
    bin_dir = _stub_bin(tmp_path)
    if outcome == "failed":
        _fake(bin_dir, "rclone", "exit 1\n")
    volume = tmp_path / "volume"
    (volume / "status").mkdir(parents=True)
    (volume / "status" / UPLOAD_JOB).write_text("failed 20000101T000000Z\n")  # from before a restart
    _backup_dir(volume / "outbox" / "20260101T000000Z")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_BUCKET": str(tmp_path / "bucket"),
           "FAKE_LOG": str(tmp_path / "rclone.log")}
    proc = subprocess.Popen([*SHELLS[shell], "-c", upload_loop_script(BASE), UPLOAD_JOB, str(volume)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status = volume / "status" / UPLOAD_JOB
        deadline = time.monotonic() + TIMEOUT_S
        while not (status.exists() and status.read_text().strip() and "20000101" not in status.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert status.read_text().split()[0] == outcome
        assert STAMP.match(status.read_text().split()[1])
        assert _healthy(upload_healthcheck(), volume) is (outcome == "ok")
        # Now in `sleep UPLOAD_POLL_S`: SIGTERM must end it without waiting for the sleep.
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < min(10, UPLOAD_POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "bucket" / "postgres" / "20260101T000000Z" / SUMS_FILE).exists() is (outcome == "ok")


def test_healthchecks_pass_until_an_attempt_fails(tmp_path: Path) -> None:
    for check, job in ((dump_healthcheck(), DUMP_JOB), (upload_healthcheck(), UPLOAD_JOB)):
        assert _healthy(check, tmp_path), "nothing attempted yet"
        (tmp_path / "status").mkdir(exist_ok=True)
        (tmp_path / "status" / job).write_text("ok 20260101T000000Z\n")
        assert _healthy(check, tmp_path)
        (tmp_path / "status" / job).write_text("failed 20260101T010000Z\n")
        assert not _healthy(check, tmp_path)


def test_the_dump_job_refuses_to_run_without_a_password(tmp_path: Path) -> None:
    done = subprocess.run(["dash", "-c", dump_once_script(BASE), f"{DUMP_JOB}-once", str(tmp_path)],
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode != 0 and "PGPASSWORD" in done.stderr
    assert not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("pending", [2, 3])
def test_the_dump_job_stops_adding_to_a_full_outbox(tmp_path: Path, pending: int) -> None:
    for n in range(pending):
        (tmp_path / "outbox" / f"2026010{n + 1}T000000Z").mkdir(parents=True)
    done = subprocess.run(["dash", "-c", dump_once_script(replace(BASE, keep=2)), f"{DUMP_JOB}-once", str(tmp_path)],
                          env={"PATH": "/usr/bin:/bin", "PGPASSWORD": "x"}, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert done.returncode == 1 and f"{pending} backups in {tmp_path}/outbox are not uploaded yet" in done.stderr
    assert len(list((tmp_path / "outbox").iterdir())) == pending
    assert list((tmp_path / "work").iterdir()) == []


def test_stamps_are_utc(tmp_path: Path) -> None:
    """The dump's stamp is `date -u`: the same stamp whatever the container's TZ."""
    assert "stamp=$(date -u +%Y%m%dT%H%M%SZ)" in dump_once_script(BASE)
    out = subprocess.run(["dash", "-c", "date -u +%Y%m%dT%H%M%SZ"], env={"TZ": "Pacific/Kiritimati",
                                                                        "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True, timeout=TIMEOUT_S).stdout.strip()
    now = datetime.now(timezone.utc)
    assert abs((datetime.strptime(out, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc) - now).total_seconds()) < 60
