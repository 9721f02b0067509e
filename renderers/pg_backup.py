"""Scheduled logical PostgreSQL backups to S3-compatible object storage, and the one command that restores them.

Two containers share a named volume mounted at BACKUP_VOLUME_PATH:

- dump: the database's own image (postgres:<version>-alpine, so pg_dump is the server's major). Every
  `interval_hours`, at whole multiples of that interval since 1970-01-01 00:00 UTC (a restart does not shift
  the schedule; 24 h means 00:00 UTC daily; there is no catch-up run at start), it writes
  <volume>/work/<stamp>/ with globals.sql (`pg_dumpall --globals-only`: roles, their password hashes,
  tablespaces), <db>.dump (`pg_dump -Fc`) of every non-template database that accepts connections, each checked
  with `pg_restore --list`, and SHA256SUMS; then renames the directory into <volume>/outbox/ (one rename on one
  file system: the uploader never sees half a backup).
- upload: rclone/rclone:RCLONE_VERSION. Every UPLOAD_POLL_S seconds it moves each outbox directory to
  <remote>:<bucket>/<prefix>/<stamp>/, SHA256SUMS last: a remote backup is complete once it has SHA256SUMS.
  After an upload it keeps the newest `keep` complete backups and deletes every backup directory older than
  the oldest one kept.

<stamp> is the dump's start in UTC, YYYYMMDDTHHMMSSZ, so sorting stamps as text sorts them by time.
Credentials reach the containers only as environment variables (dump_env, rclone_env); no script or command
here contains one. The restore command runs on the Docker host (operators, or SSH on the VM) and fetches
through the running upload container, so the object-store keys never pass through the host at all.

A scheduled job's state is in <volume>/status/<job>: "ok <stamp>" or "failed <stamp>"; the healthchecks report
a container unhealthy while the last attempt since it started failed.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from renderers.names import POSTGRES_IDENTIFIER, is_host
# The pieces every scheduled backup into the object store shares (renderers/object_backup.py); re-exported here,
# where components/database.py and the tests import them from.
from renderers.object_backup import (  # noqa: F401
    BACKUP_JOB_MEMORY_MB,
    BACKUP_VOLUME_PATH,
    ENTRYPOINT,
    RCLONE_IMAGE,
    RCLONE_VERSION,
    STAMP,
    SUMS_FILE,
    UPLOAD_POLL_S,
    _STAMP_GLOB,
    _healthcheck,
    _loop,
    _status,
    fetch_stamp_lines,
    rclone_env,
    store_location_problems,
    upload_once_script as shared_upload_once_script,
)

GLOBALS_FILE = "globals.sql"
DUMP_JOB = "pg-backup-dump"
UPLOAD_JOB = "pg-backup-upload"
FETCH_JOB = "pg-backup-fetch"
MAX_INTERVAL_HOURS = 7 * 24
MAX_KEEP = 365

# Databases whose names are safe as a file name, a shell word and a pg_dump -d argument (no '=': libpq would
# read it as a connection string). Others are reported, not dumped.
DATABASE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}\Z")
_DATABASE_SQL_RE = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    postgres_host: str  # as the dump container reaches the server: the bridge alias, or 127.0.0.1 on the VM
    postgres_user: str  # the superuser (POSTGRES_USER): pg_dumpall reads role password hashes
    postgres_port: int = 5432
    bucket: str
    # http://objectstore:9000 (versitygw), https://<namespace>.compat.objectstorage.<region>.oraclecloud.com (OCI)
    s3_endpoint: str
    s3_region: str  # versitygw's VGW_REGION; on OCI the OCI region (us-ashburn-1): both check the signing region
    interval_hours: int = 24
    keep: int = 7
    prefix: str = "postgres"
    remote: str = "backup"  # the rclone remote's name, defined by rclone_env

    @property
    def base(self) -> str:
        """rclone's path of the backups: <remote>:<bucket>/<prefix>, one directory per stamp below it."""
        return f"{self.remote}:{self.bucket}/{self.prefix}"


def postgres_problems(s: "BackupSettings | object") -> list[str]:
    """The problems of the database's half of the settings (postgres_user, _host, _port); pg_pitr's too."""
    problems = []
    if not POSTGRES_IDENTIFIER.match(s.postgres_user):
        problems.append(f"postgres_user: got {s.postgres_user!r}; expected a lower-case SQL identifier")
    if not is_host(s.postgres_host):
        problems.append(f"postgres_host: got {s.postgres_host!r}; expected a host name or an IP address")
    if not 1 <= s.postgres_port <= 65535:
        problems.append(f"postgres_port: got {s.postgres_port!r}; expected 1..65535")
    return problems


def backup_problems(s: BackupSettings) -> list[str]:
    """Every problem with the settings, each naming the value and what is allowed; empty when valid."""
    problems = []
    if not 1 <= s.interval_hours <= MAX_INTERVAL_HOURS:
        problems.append(f"interval_hours: got {s.interval_hours!r}; expected 1..{MAX_INTERVAL_HOURS} (one week)")
    if not 1 <= s.keep <= MAX_KEEP:
        problems.append(f"keep: got {s.keep!r}; expected 1..{MAX_KEEP} backups")
    return problems + store_location_problems(
        s, server=postgres_problems(s),
        prefix_detail=" (each starting with a letter or digit), no leading or trailing '/'",
    )


def dump_env(password: str) -> list[str]:
    """The dump container's only secret: libpq reads PGPASSWORD (libpq-envars), so it is in no argv or file."""
    return [f"PGPASSWORD={password}"]


# ---------------------------------------------------------------------------------------------------------------
# The dump job (postgres image: busybox sh on alpine, dash on Debian).

# Names pg_dump can take are listed as themselves, others as '-' and their JSON text (to report them).
_LIST_DATABASES_SQL = (
    f"SELECT CASE WHEN datname ~ '{_DATABASE_SQL_RE}' THEN datname ELSE '-' || to_json(datname)::text END "
    "FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
)
# pg_dumpall's last lines (src/bin/pg_dump/pg_dumpall.c; the same in 15 and 18): present only if it finished.
_DUMPALL_COMPLETE = "^-- PostgreSQL database cluster dump complete"


def dump_once_script(s: BackupSettings) -> str:
    """sh script, $1 the volume: one backup of every database into <volume>/outbox/<stamp>/, or a non-zero exit."""
    q = shlex.quote
    return "\n".join([
        "set -eu",
        "umask 077",
        'root=$1 outbox=$1/outbox work=$1/work',
        # libpq's environment (libpq-envars): no host, user or password on any command line.
        f"export PGHOST={q(s.postgres_host)} PGPORT={s.postgres_port} PGUSER={q(s.postgres_user)} "
        "PGDATABASE=postgres PGCONNECT_TIMEOUT=10",
        ': "${PGPASSWORD:?is not set: the dump job takes the database password from its environment only}"',
        'mkdir -p "$outbox" "$work"',
        "pending=0",
        'for d in "$outbox"/*/; do if [ -d "$d" ]; then pending=$((pending + 1)); fi; done',
        # The volume is bounded even if the object store stays unreachable.
        f'if [ "$pending" -ge {s.keep} ]; then',
        f'  echo "{DUMP_JOB}: $pending backups in $outbox are not uploaded yet (keep = {s.keep}): is the object '
        'store reachable? No new dump until they are." >&2',
        "  exit 1",
        "fi",
        # Whatever an interrupted run left.
        'rm -rf "$work"',
        'mkdir "$work"',
        "stamp=$(date -u +%Y%m%dT%H%M%SZ)",
        'if [ -e "$outbox/$stamp" ]; then echo "' + DUMP_JOB + ': $outbox/$stamp exists already" >&2; exit 1; fi',
        'tmp=$work/$stamp',
        'mkdir "$tmp"',
        f'pg_dumpall -w --globals-only -f "$tmp/{GLOBALS_FILE}"',
        f'if ! grep -q {q(_DUMPALL_COMPLETE)} "$tmp/{GLOBALS_FILE}"; then',
        f'  echo "{DUMP_JOB}: pg_dumpall --globals-only did not finish its output" >&2; exit 1',
        "fi",
        f'psql -X -w -At -v ON_ERROR_STOP=1 -o "$work/databases" -c {q(_LIST_DATABASES_SQL)}',
        'count=0 skipped=""',
        "while IFS= read -r db; do",
        '  case $db in -*) skipped="$skipped ${db#-}"; continue ;; esac',
        '  pg_dump -w -Fc -d "$db" -f "$tmp/$db.dump"',
        '  if ! pg_restore --list "$tmp/$db.dump" > /dev/null; then',
        f'    echo "{DUMP_JOB}: pg_restore cannot read the new dump of $db" >&2; exit 1',
        "  fi",
        "  count=$((count + 1))",
        'done < "$work/databases"',
        'rm -f "$work/databases"',
        f'if [ "$count" -eq 0 ]; then echo "{DUMP_JOB}: no database to dump" >&2; exit 1; fi',
        # The restore command checks the dump it fetched against this (an object replaced or damaged in the store).
        f'(cd "$tmp" && sha256sum {GLOBALS_FILE} *.dump > {SUMS_FILE})',
        'mv "$tmp" "$outbox/$stamp"',
        f'echo "{DUMP_JOB}: $stamp: $count database(s) and the globals are in the outbox"',
        'if [ -n "$skipped" ]; then',
        f'  echo "{DUMP_JOB}: not dumped, their names are more than letters, digits, _ . - :$skipped" >&2; exit 1',
        "fi",
    ]) + "\n"


def dump_loop_script(s: BackupSettings) -> str:
    """The dump container's sh script ($1: the volume): dump_once_script at every multiple of the interval."""
    seconds = s.interval_hours * 3600
    return _loop(
        DUMP_JOB, dump_once_script(s),
        # Sleep to the next whole multiple of the interval since the epoch: the same times whatever the restarts.
        sleep_first=f"$(({seconds} - $(date +%s) % {seconds}))", sleep_after=None,
        banner=f"a backup every {s.interval_hours} h at multiples of {s.interval_hours} h since 1970-01-01 00:00 "
        f"UTC, the newest {s.keep} kept",
    )


# ---------------------------------------------------------------------------------------------------------------
# The upload job (rclone image: busybox sh).

def upload_once_script(s: BackupSettings) -> str:
    """sh script, $1 the volume: move finished backups to the store, then apply retention; non-zero on failure."""
    return shared_upload_once_script(s, job=UPLOAD_JOB)


def upload_loop_script(s: BackupSettings) -> str:
    """The upload container's sh script ($1: the volume): upload_once_script now and every UPLOAD_POLL_S."""
    return _loop(
        UPLOAD_JOB, upload_once_script(s), sleep_first=None, sleep_after=str(UPLOAD_POLL_S),
        banner=f"uploads finished backups to {s.base}/<stamp>/ every {UPLOAD_POLL_S} s, keeps the newest {s.keep}",
    )


def dump_command(s: BackupSettings) -> list[str]:
    """The dump container's command, after ENTRYPOINT (sh -c): the loop, its $0 and its $1."""
    return [dump_loop_script(s), DUMP_JOB, BACKUP_VOLUME_PATH]


def upload_command(s: BackupSettings) -> list[str]:
    return [upload_loop_script(s), UPLOAD_JOB, BACKUP_VOLUME_PATH]


def dump_healthcheck() -> tuple[str, ...]:
    return _healthcheck(DUMP_JOB)


def upload_healthcheck() -> tuple[str, ...]:
    return _healthcheck(UPLOAD_JOB)


# ---------------------------------------------------------------------------------------------------------------
# Restore.

def fetch_script() -> str:
    """sh script run in the upload container: $1 rclone base, $2 database, $3 stamp ('' for the newest complete).

    Writes the verified dump to stdout and nothing else; every refusal goes to stderr with a non-zero exit.
    """
    done = "nothing was restored"
    return "\n".join([
        "set -eu",
        "base=$1 db=$2 stamp=$3",
        *fetch_stamp_lines(done),
        'if ! grep -Fqx "$stamp/$db.dump" "$work/list"; then',
        f'  echo "restore: backup $stamp under $base has no dump of database $db; {done}" >&2; exit 1',
        "fi",
        'echo "restore: fetching $base/$stamp/$db.dump" >&2',
        f'rclone copyto "$base/$stamp/{SUMS_FILE}" "$work/sums"',
        'rclone copyto "$base/$stamp/$db.dump" "$work/dump"',
        'expected=""',
        'while read -r sum name; do if [ "$name" = "$db.dump" ]; then expected=$sum; fi; done < "$work/sums"',
        'actual=$(sha256sum "$work/dump")',
        'if [ -z "$expected" ] || [ "${actual%% *}" != "$expected" ]; then',
        f'  echo "restore: $base/$stamp/$db.dump does not match its SHA-256 in {SUMS_FILE}: the object is damaged '
        f'or was replaced; {done}" >&2',
        "  exit 1",
        "fi",
        'cat "$work/dump"',
    ]) + "\n"


# $0 of the restore's own shell: what its error messages and `ps` call it.
RESTORE_JOB = "database-restore"


def restore_command(
    s: BackupSettings, *, container: str, uploader: str, database: str, stamp: str | None = None
) -> str:
    """One host command that runs ``restore_script`` in a shell of its own: `sh -c '<script>' database-restore`.

    The README tells operators to ``eval "$(pulumi stack output databaseRestoreCommand)"``. Eval'd bare, the
    script's ``set -eu``, its EXIT trap and its ``exit 1`` would act on the operator's own shell: any failure
    would close an interactive shell or end the SSH session, and a success would leave ``set -eu`` and the trap
    on in it. In a child ``sh`` they end with the restore; the operator's shell gets its exit status only.
    """
    script = restore_script(s, container=container, uploader=uploader, database=database, stamp=stamp)
    return shlex.join(["sh", "-c", script, RESTORE_JOB])


def restore_script(
    s: BackupSettings, *, container: str, uploader: str, database: str, stamp: str | None = None
) -> str:
    """Host shell lines that restore one database's dump (the newest complete backup, or `stamp`) into the
    running PostgreSQL `container`, fetched through the running upload container `uploader`.

    The database must exist (the app's does; create others first). Everything is checked before anything is
    changed: the dump's SHA-256 against the backup's SHA256SUMS, then `pg_restore --list`; the restore itself
    runs in one transaction (--single-transaction, which also stops at the first error), so a dump that fails
    half-way leaves the database as it was. --clean --if-exists drops each object before recreating it;
    --no-owner makes the superuser own them. Apps see locks while it runs.
    """
    if not DATABASE.match(database):
        raise ValueError(f"database {database!r}: the dump job backs up only names matching {DATABASE.pattern}")
    if stamp is not None and not STAMP.match(stamp):
        raise ValueError(f"stamp {stamp!r}: expected a backup's UTC stamp like 20260101T000000Z")
    q = shlex.quote
    fetch = shlex.join(["docker", "exec", uploader, "sh", "-c", fetch_script(), FETCH_JOB, s.base, database,
                        stamp or ""])
    restore = (f'PGPASSWORD="$POSTGRES_PASSWORD" exec pg_restore -h 127.0.0.1 -p {s.postgres_port} '
               f"-U {q(s.postgres_user)} --clean --if-exists --no-owner --single-transaction -d {q(database)}")
    which = f"backup {stamp}" if stamp else "the newest backup"
    return "\n".join([
        "set -eu",
        # Private to the operator (mktemp makes it 0600): it holds every row of the database.
        "dump=$(mktemp)",
        "trap 'rm -f \"$dump\"' EXIT",
        f'{fetch} > "$dump"',
        f'if ! docker exec -i {q(container)} pg_restore --list < "$dump" > /dev/null; then',
        f'  echo "restore: the dump of {database} is not a readable pg_dump archive; nothing was restored" >&2',
        "  exit 1",
        "fi",
        f'if ! docker exec -i {q(container)} sh -c {q(restore)} < "$dump"; then',
        f'  echo "restore: pg_restore failed and its transaction was rolled back: {database} is as it was" >&2',
        "  exit 1",
        "fi",
        f'echo "restore: {database} restored from {which}"',
    ])
