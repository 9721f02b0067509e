"""What every scheduled backup into the object store shares: the outbox volume, the rclone upload job, the loop.

Moved here from renderers/pg_backup.py (which re-exports these names) so that PostgreSQL, Redis, InfluxDB and
ClickHouse backups are one mechanism (renderers/service_backup.py): a job writes <volume>/outbox/<stamp>/ with a
SHA256SUMS, the upload container (rclone) moves it to <remote>:<bucket>/<prefix>/<stamp>/, SHA256SUMS last, and
keeps the newest `keep` complete backups. See pg_backup.py's docstring for the whole design.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

# Docker Hub's rclone/rclone:<version> is a manifest list for linux/amd64, 386, arm64, arm/v7, arm/v6, built and
# pushed by rclone's CI on every release tag (.github/workflows/build_publish_docker_image.yml@v1.75.0: build
# matrix `platform`, merge job `imagetools create` with tags type=semver,pattern={{version}}, i.e. no "v").
RCLONE_IMAGE = "rclone/rclone"
RCLONE_VERSION = "1.75.0"
# The image is Alpine (busybox sh, sed, sort, sha256sum, mktemp), runs as root, ENTRYPOINT ["rclone"]
# (Dockerfile@v1.75.0); both containers get ENTRYPOINT below instead.
ENTRYPOINT = ("/bin/sh", "-c")
BACKUP_VOLUME_PATH = "/backups"
BACKUP_JOB_MEMORY_MB = 128  # each of the two containers: pg_dump streams, rclone uploads one file at a time
UPLOAD_POLL_S = 60
SUMS_FILE = "SHA256SUMS"
# <volume>/status/<job><RUNNING_SUFFIX>: the directory a dump job's run holds while it takes a backup.
RUNNING_SUFFIX = ".running"
# The once-script's exit when another backup holds the job's lock: not a failure of the backup, so neither the
# scheduled loop nor backup_now_script writes `failed` to the status file for it (sysexits.h EX_TEMPFAIL).
LOCKED_EXIT = 75
_CONTAINER = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}\Z")

STAMP = re.compile(r"\A\d{8}T\d{6}Z\Z")
_STAMP_GLOB = "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z"  # sh `case` pattern of STAMP
_STAMP_BRE = r"[0-9]\{8\}T[0-9]\{6\}Z"  # sed (POSIX BRE) pattern of STAMP
_BUCKET = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_PREFIX = re.compile(r"\A[a-z0-9][a-z0-9_.-]{0,62}(/[a-z0-9][a-z0-9_.-]{0,62}){0,4}\Z")
# An rclone remote defined by environment variables: its name must fit in a variable name (docs/content/docs.md
# "Config file"@v1.75.0).
_REMOTE = re.compile(r"\A[a-z][a-z0-9_]{0,30}\Z")
_ENDPOINT = re.compile(r"\Ahttps?://[A-Za-z0-9.-]+(:\d{1,5})?/?\Z")
_REGION = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")


def rclone_env(s: "StoreSettings | object", access_key: str, secret_key: str) -> list[str]:
    """The upload container's environment: the S3 remote defined entirely by variables, no config file.

    RCLONE_CONFIG_<REMOTE>_<OPTION> (fs/config.go ConfigToEnv@v1.75.0), options of backend/s3/s3.go@v1.75.0.
    """
    p = f"RCLONE_CONFIG_{s.remote.upper()}_"
    return [
        # No config file is read or written: "/dev/null" keeps the config in memory (docs/content/docs.md
        # "--config string"@v1.75.0), so a stray rclone.conf cannot redefine the remote.
        "RCLONE_CONFIG=/dev/null",
        f"{p}TYPE=s3",
        # "Other" (backend/s3/provider/Other.yaml@v1.75.0) serves versitygw and OCI's S3 compatibility API alike;
        # its quirk force_path_style: true is what lets path style stand: setQuirks turns FORCE_PATH_STYLE off for
        # providers without it (backend/s3/s3.go setQuirks@v1.75.0). rclone has no OCI S3 provider (OCI's native
        # API is the separate oracleobjectstorage backend).
        f"{p}PROVIDER=Other",
        f"{p}ENDPOINT={s.s3_endpoint}",
        # Empty would sign for us-east-1 (s3.go, `if opt.Region == ""`@v1.75.0); OCI and versitygw want theirs.
        f"{p}REGION={s.s3_region}",
        f"{p}ACCESS_KEY_ID={access_key}",
        f"{p}SECRET_ACCESS_KEY={secret_key}",
        f"{p}FORCE_PATH_STYLE=true",
        # The bucket exists (the ObjectStore component makes it): never try to create it (no_check_bucket).
        f"{p}NO_CHECK_BUCKET=true",
        # What OCI's S3 compatibility API has been reported to refuse from newer AWS SDKs (aws-chunked uploads,
        # CRC32 request checksums; components/object_store.py OCI_S3_CLIENT_ENV) rclone does not send with these.
        # Each is what v1.75.0 already picks for provider Other, written out so that an image bump cannot change
        # it unseen; that is why they are set on every target (versitygw sees exactly what it saw before):
        # - no data integrity protections: RequestChecksumCalculation and ResponseChecksumValidation become
        #   WhenRequired, so no CRC32 on requests that do not demand one and no checksum trailer (s3.go:607-612,
        #   :1603-1606, default false :1804);
        f"{p}USE_DATA_INTEGRITY_PROTECTIONS=false",
        # - a single-part PutObject signs UNSIGNED-PAYLOAD over TLS and sends the body as is, never aws-chunked
        #   (s3.go:581-591, :4775-4779, default true :1811);
        f"{p}USE_UNSIGNED_PAYLOAD=true",
        # - files over upload_cutoff (200 MiB) go up in parts, which OCI's S3 API offers (s3.go:739-749, :1807).
        f"{p}USE_MULTIPART_UPLOADS=true",
        # Retention's purge deletes one DeleteObject per object (Object.Remove,
        # s3.go:5172-5192): rclone's s3 backend never sends DeleteObjects, whose checksum no setting can drop.
    ]


def _status(job: str, state: str) -> str:
    return f'echo "{state} $(date -u +%Y%m%dT%H%M%SZ)" > "$root/status/{job}"'


def _loop(job: str, once: str, *, sleep_first: str | None, sleep_after: str | None, banner: str,
          start: Sequence[str] = (), locked_exit: int | None = None) -> str:
    """The job's PID 1: runs `once` (the very text of the *_once_script) in a child sh each time.

    A child process, not a function: `set -e` is ignored inside anything tested by `if`/`||` (POSIX 2.14 `set -e`),
    so the once-script's checks would silently stop applying. `sleep & wait` lets docker stop's SIGTERM end the
    loop at once (a trap runs only after a foreground command finishes). `start`: lines run once, first.
    `locked_exit`: the once-script's exit for "another backup holds the lock": the run is skipped, the status
    file keeps the last result.
    """
    return "\n".join(line for line in [
        "set -u",
        f"once={shlex.quote(once)}",
        "root=$1",
        "trap 'exit 0' TERM INT",
        'mkdir -p "$root/status"',
        f'rm -f "$root/status/{job}"',
        *start,
        f'echo "{job}: {banner}"',
        "while :; do",
        f"  sleep {sleep_first} &" if sleep_first else None,
        "  wait $!" if sleep_first else None,
        f'  sh -c "$once" {job}-once "$root" &',
        "  if wait $!; then",
        f"    {_status(job, 'ok')}",
        *([] if locked_exit is None else [
            f"  elif [ $? -eq {locked_exit} ]; then",
            f'    echo "{job}: skipped: a backup taken now holds the lock"',
        ]),
        "  else",
        f"    {_status(job, 'failed')}",
        "  fi",
        f"  sleep {sleep_after} &" if sleep_after else None,
        "  wait $!" if sleep_after else None,
        "done",
    ] if line is not None) + "\n"


def upload_once_script(s, *, job: str, tree: bool = False) -> str:
    """sh script, $1 the volume: move finished backups to the store, then apply retention; non-zero on failure.

    `s` is any settings with `base` and `keep` (pg_backup.BackupSettings, StoreSettings); `job` names it in logs.
    `tree`: the backup has subdirectories (InfluxDB, ClickHouse). `rclone move` moves files and leaves their
    directories behind (found by tests/real/test_clickhouse_backup_real.py: the `rmdir` below then fails), so
    --delete-empty-src-dirs removes them; PostgreSQL's flat backups render without it, as before.
    """
    return "\n".join([
        "set -eu",
        f"root=$1 outbox=$1/outbox base={shlex.quote(s.base)}",
        "uploaded=0",
        'for dir in "$outbox"/*/; do',
        '  if [ ! -d "$dir" ]; then continue; fi',
        '  stamp=${dir%/}',
        '  stamp=${stamp##*/}',
        "  case $stamp in",
        f"    {_STAMP_GLOB}) ;;",
        f'    *) echo "{job}: skipping $dir: not a backup" >&2; continue ;;',
        "  esac",
        # rclone move checks each upload's MD5 against the ETag and deletes the local file after; a rerun skips
        # files already there. SHA256SUMS goes last: it marks the remote backup complete.
        f'  rclone move "$outbox/$stamp" "$base/$stamp" --exclude {SUMS_FILE}'
        + (" --delete-empty-src-dirs" if tree else ""),
        f'  rclone moveto "$outbox/$stamp/{SUMS_FILE}" "$base/$stamp/{SUMS_FILE}"',
        '  rmdir "$outbox/$stamp"',
        "  uploaded=$((uploaded + 1))",
        f'  echo "{job}: uploaded $stamp to $base/$stamp"',
        "done",
        'if [ "$uploaded" -eq 0 ]; then exit 0; fi',
        "list=$(mktemp)",
        "trap 'rm -f \"$list\"' EXIT",
        'rclone lsf -R --files-only "$base" > "$list"',
        # Newest first: keep every directory down to the keep-th complete backup, delete everything older
        # (incomplete ones too: newer incomplete ones are an upload in progress).
        "complete=0",
        f"for stamp in $(sed -n 's|^\\({_STAMP_BRE}\\)/.*|\\1|p' \"$list\" | sort -r -u); do",
        f'  if [ "$complete" -ge {s.keep} ]; then',
        '    rclone purge "$base/$stamp"',
        f'    echo "{job}: deleted $base/$stamp (keep = {s.keep})"',
        f'  elif grep -Fqx "$stamp/{SUMS_FILE}" "$list"; then',
        "    complete=$((complete + 1))",
        "  fi",
        "done",
    ]) + "\n"


def _healthcheck(job: str) -> tuple[str, ...]:
    # No status file (nothing attempted since the start) or "ok ...": healthy.
    return ("CMD-SHELL", f"! grep -q '^failed' {BACKUP_VOLUME_PATH}/status/{job} 2>/dev/null")




# ---------------------------------------------------------------------------------------------------------------
# New here (not in pg_backup.py): what the Redis, InfluxDB and ClickHouse jobs share.

@dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """Where one service's backups go and how many are kept: pg_backup.BackupSettings without PostgreSQL."""

    bucket: str
    s3_endpoint: str  # as the upload container reaches the store (objectstore:9000, OCI's compat endpoint)
    s3_region: str
    prefix: str  # one per service: redis, influxdb, clickhouse
    interval_hours: int = 24
    keep: int = 7
    remote: str = "backup"

    @property
    def base(self) -> str:
        return f"{self.remote}:{self.bucket}/{self.prefix}"


def store_location_problems(s, *, server: Sequence[str] = (), prefix_detail: str = "") -> list[str]:
    """The problems of where `s` puts its backups: bucket, prefix, remote, s3_endpoint, s3_region.

    `s` is any settings with those fields (StoreSettings, pg_backup.BackupSettings, pg_pitr.PitrSettings).
    `server`, the caller's problems with its database's settings (pg_backup.postgres_problems), stand between
    remote and s3_endpoint, the order pg_backup and pg_pitr have always reported them in; `prefix_detail` is
    added to the prefix's message (pg_backup's longer wording, which it has always had).
    """
    problems = []
    if not _BUCKET.match(s.bucket) or ".." in s.bucket:
        problems.append(f"bucket: got {s.bucket!r}; expected an S3 bucket name (3-63 of a-z 0-9 . -)")
    if not _PREFIX.match(s.prefix):
        problems.append(f"prefix: got {s.prefix!r}; expected 1-5 '/'-separated parts of a-z 0-9 _ . -{prefix_detail}")
    if not _REMOTE.match(s.remote):
        problems.append(f"remote: got {s.remote!r}; expected a lower-case rclone remote name [a-z][a-z0-9_]*")
    problems.extend(server)
    if not _ENDPOINT.match(s.s3_endpoint):
        problems.append(f"s3_endpoint: got {s.s3_endpoint!r}; expected http(s)://host[:port]")
    if not _REGION.match(s.s3_region):
        problems.append(f"s3_region: got {s.s3_region!r}; expected a region name like us-east-1")
    return problems


def store_problems(s: StoreSettings) -> list[str]:
    """The same rules as pg_backup.backup_problems for the store's half of the settings."""
    problems = []
    if not 1 <= s.interval_hours <= 7 * 24:
        problems.append(f"interval_hours: got {s.interval_hours!r}; expected 1..168 (one week)")
    if not 1 <= s.keep <= 365:
        problems.append(f"keep: got {s.keep!r}; expected 1..365 backups")
    return problems + store_location_problems(s)


def snapshot_once_script(*, job: str, keep: int, body: list[str], prepare: list[str] = ()) -> str:
    """sh script, $1 the volume: one backup into <volume>/outbox/<stamp>/, or a non-zero exit.

    The frame of pg_backup.dump_once_script: no new backup while `keep` wait for the uploader (the volume stays
    bounded when the store is unreachable), the backup is written into <volume>/work/<stamp>/ ($tmp, which
    `prepare` may hand to another user) by `body`, every file of it gets a line in SHA256SUMS (paths as
    `./name`, checked by `sha256sum -c` before any restore), and one rename moves it into the outbox.
    """
    return "\n".join([
        "set -eu",
        "umask 077",
        "root=$1 outbox=$1/outbox work=$1/work",
        # One backup at a time: a scheduled run and a "back up now" (backup_now_command) both run this script in
        # the same container, and each starts by emptying $work. mkdir is atomic; the lock goes with the run
        # (EXIT trap), and one a killed run left behind goes when the container restarts (scheduled_loop_script).
        'mkdir -p "$root/status"',
        f"lock=$root/status/{job}{RUNNING_SUFFIX}",
        'if ! mkdir "$lock" 2> /dev/null; then',
        f'  echo "{job}: another backup is being taken in this job ($lock exists); try again when it is done" >&2',
        f"  exit {LOCKED_EXIT}",
        "fi",
        "trap 'rmdir \"$lock\"' EXIT",
        'mkdir -p "$outbox" "$work"',
        "pending=0",
        'for d in "$outbox"/*/; do if [ -d "$d" ]; then pending=$((pending + 1)); fi; done',
        f'if [ "$pending" -ge {keep} ]; then',
        f'  echo "{job}: $pending backups in $outbox are not uploaded yet (keep = {keep}): is the object store '
        'reachable? No new backup until they are." >&2',
        "  exit 1",
        "fi",
        'rm -rf "$work"',
        'mkdir "$work"',
        "stamp=$(date -u +%Y%m%dT%H%M%SZ)",
        f'if [ -e "$outbox/$stamp" ]; then echo "{job}: $outbox/$stamp exists already" >&2; exit 1; fi',
        "tmp=$work/$stamp",
        'mkdir "$tmp"',
        *prepare,
        *body,
        f'if [ -e "$tmp/{SUMS_FILE}" ]; then echo "{job}: the backup wrote a {SUMS_FILE} of its own" >&2; exit 1; fi',
        f'(cd "$tmp" && find . -type f | sort > "$work/files" && [ -s "$work/files" ] && '
        f'while IFS= read -r f; do sha256sum "$f"; done < "$work/files" > "$work/{SUMS_FILE}")',
        f'mv "$work/{SUMS_FILE}" "$tmp/{SUMS_FILE}"',
        'rm -f "$work/files"',
        'mv "$tmp" "$outbox/$stamp"',
        f'echo "{job}: $stamp is in the outbox"',
    ]) + "\n"


def scheduled_loop_script(*, job: str, once: str, interval_hours: int, keep: int) -> str:
    """The job's PID 1: `once` at every whole multiple of the interval since the epoch (pg_backup's schedule).

    At its start no backup runs in the container (a `docker exec` ends with the container), so a lock left on the
    volume by a killed run (snapshot_once_script) is removed.
    """
    seconds = interval_hours * 3600
    return _loop(
        job, once, sleep_first=f"$(({seconds} - $(date +%s) % {seconds}))", sleep_after=None,
        banner=f"a backup every {interval_hours} h at multiples of {interval_hours} h since 1970-01-01 00:00 UTC, "
        f"the newest {keep} kept",
        start=[f'rm -rf "$root/status/{job}{RUNNING_SUFFIX}"'],
        locked_exit=LOCKED_EXIT,
    )


def scheduled_dump_command(*, job: str, once: str, store: StoreSettings) -> list[str]:
    """A service's dump job command: `once` on the store's schedule, in the staging volume."""
    loop = scheduled_loop_script(job=job, once=once, interval_hours=store.interval_hours, keep=store.keep)
    return [loop, job, BACKUP_VOLUME_PATH]


def backup_now_script(*, job: str, once: str, store: StoreSettings) -> str:
    """sh script, $1 the volume, run with `docker exec` in the dump job's container: one backup now.

    The scheduled loop's body once (scheduled_loop_script): the same once-script, so the same refusals and
    messages (a full outbox, a backup already being taken, the service's own errors), and the same status file,
    so the job's healthcheck reports this run as it would a scheduled one. The upload job picks it up within
    UPLOAD_POLL_S.
    """
    return "\n".join([
        "set -u",
        f"once={shlex.quote(once)}",
        "root=$1",
        'mkdir -p "$root/status"',
        f'sh -c "$once" {job}-once "$root"',
        "rc=$?",
        'if [ "$rc" -eq 0 ]; then',
        f"  {_status(job, 'ok')}",
        f'  echo "{job}: the upload job moves it to {store.base}/<stamp>/ within {UPLOAD_POLL_S} s"',
        f'elif [ "$rc" -eq {LOCKED_EXIT} ]; then',
        # The run that holds the lock writes its own result.
        f'  echo "{job}: no backup was taken now: one is being taken (see above)" >&2',
        f"  exit {LOCKED_EXIT}",
        "else",
        f"  {_status(job, 'failed')}",
        f'  echo "{job}: no backup was taken (see above)" >&2',
        "  exit 1",
        "fi",
    ]) + "\n"


def backup_now_command(*, container: str, job: str, once: str, store: StoreSettings) -> str:
    """The host's one line: `docker exec <dump job> sh -c '<backup_now_script>' <job>-now <volume>`.

    One simple command, every argument single-quoted by shlex: pasted or `eval`ed in the operator's shell it sets
    no option and no trap there, and a failure is only its exit status (tests/real/test_service_restore_eval_real.py).
    The service's password stays in the job's environment; nothing secret is in the command.
    """
    if not _CONTAINER.match(container):
        raise ValueError(f"container: got {container!r}; expected a Docker container name")
    return shlex.join(["docker", "exec", container, "sh", "-c", backup_now_script(job=job, once=once, store=store),
                       f"{job}-now", BACKUP_VOLUME_PATH])


def fetch_stamp_lines(done: str) -> list[str]:
    """sh lines of a fetch script in the upload container, once $base and $stamp are set: everything under $base
    is listed into $work/list ($work a fresh temporary directory, removed on exit), then an empty $stamp becomes
    the newest complete backup's (the newest stamp with a SHA256SUMS), and a $stamp without one is refused.

    Each refusal goes to stderr, ending with `done`, with exit 1. fetch_tree_script and pg_backup.fetch_script.
    """
    return [
        "work=$(mktemp -d)",
        "trap 'rm -rf \"$work\"' EXIT",
        'if ! rclone lsf -R --files-only "$base" > "$work/list"; then',
        f'  echo "restore: cannot list $base; {done}" >&2; exit 1',
        "fi",
        'if [ -z "$stamp" ]; then',
        f"  stamp=$(sed -n 's|^\\({_STAMP_BRE}\\)/{SUMS_FILE}$|\\1|p' \"$work/list\" | sort | tail -n 1)",
        f'  if [ -z "$stamp" ]; then echo "restore: no complete backup under $base; {done}" >&2; exit 1; fi',
        f'elif ! grep -Fqx "$stamp/{SUMS_FILE}" "$work/list"; then',
        f'  echo "restore: no complete backup $stamp under $base; {done}" >&2; exit 1',
        "fi",
    ]


FETCH_TREE_JOB = "backup-fetch"


def fetch_tree_script() -> str:
    """sh script run in the upload container: $1 rclone base, $2 stamp ('' for the newest complete backup).

    Writes a tar of the whole verified backup directory to stdout and nothing else: every file is checked against
    SHA256SUMS, and a file SHA256SUMS does not list (an object added to the store) is refused too. Every refusal
    goes to stderr with a non-zero exit.
    """
    done = "nothing was restored"
    return "\n".join([
        "set -eu",
        "base=$1 stamp=$2",
        *fetch_stamp_lines(done),
        'echo "restore: fetching $base/$stamp" >&2',
        'mkdir "$work/tree"',
        'rclone copy "$base/$stamp" "$work/tree"',
        f'if ! (cd "$work/tree" && sha256sum -c {SUMS_FILE} > /dev/null); then',
        f'  echo "restore: $base/$stamp does not match its {SUMS_FILE}: an object is damaged or was replaced; '
        f'{done}" >&2',
        "  exit 1",
        "fi",
        f'listed=$(wc -l < "$work/tree/{SUMS_FILE}")',
        f'present=$(cd "$work/tree" && find . -type f ! -path ./{SUMS_FILE} | wc -l)',
        'if [ "$listed" -ne "$present" ]; then',
        f'  echo "restore: $base/$stamp has files its {SUMS_FILE} does not list; {done}" >&2; exit 1',
        "fi",
        'tar -cf - -C "$work/tree" .',
    ]) + "\n"


def fetch_tree_command(s: StoreSettings, *, uploader: str, stamp: str | None) -> str:
    """The host's `docker exec` of fetch_tree_script (stdout: the tar); the S3 keys stay in the uploader."""
    if stamp is not None and not STAMP.match(stamp):
        raise ValueError(f"stamp {stamp!r}: expected a backup's UTC stamp like 20260101T000000Z")
    return shlex.join(["docker", "exec", uploader, "sh", "-c", fetch_tree_script(), FETCH_TREE_JOB, s.base,
                       stamp or ""])


def own_shell(script: str, name: str) -> str:
    """`sh -c '<script>' name`: safe to paste and to `eval` (see pg_backup.restore_command for why)."""
    return shlex.join(["sh", "-c", script, name])
