"""Scheduled backups of Redis, InfluxDB and ClickHouse into the object store, and the command restoring each.

Each is pg_backup's mechanism (renderers/object_backup.py): a job in the service's own image writes a backup into
the shared outbox volume every `interval_hours` (at whole multiples since the epoch), the rclone upload job moves
it to <remote>:<bucket>/<prefix>/<stamp>/ and keeps the newest `keep`. A restore fetches one whole backup through
the running upload container (fetch_tree_script: every file checked against SHA256SUMS), so the object-store keys
never reach the host, and is one `sh -c '<script>' <name>` command, safe to paste and to `eval`.

- Redis: `redis-cli --rdb` asks the server for an RDB snapshot over its own replication protocol (the server
  forks and streams it; redis-cli writes and fsyncs the file and exits non-zero on any failure:
  src/redis-cli.c getRDB, lines 8704-8795@7.4.1), checked with redis-check-rdb. No volume is shared with the
  server. Restore: stop the container, put the RDB back as the AOF's base (below), start it.
- InfluxDB: `influx backup` (operator token; authorizer/backup.go:31,41@v2.7.12) of metadata and every bucket;
  restore: `influx restore --full` (authorizer/restore.go:31-51@v2.7.12), which replaces all data and metadata.
- ClickHouse: `BACKUP DATABASE <db> TO File('<outbox volume>/work/<stamp>/')`, written by the server itself into
  the outbox volume it mounts (config.d backups.allowed_path); restore: RESTORE into a staging database, then
  the staging database replaces <db>.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from renderers.object_backup import (
    BACKUP_VOLUME_PATH,
    StoreSettings,
    backup_now_command,
    fetch_tree_command,
    own_shell,
    scheduled_dump_command,
    snapshot_once_script,
)
from renderers.names import is_host

REDIS_JOB = "redis-backup-dump"
INFLUX_JOB = "influxdb-backup-dump"
CLICKHOUSE_JOB = "clickhouse-backup-dump"
UPLOAD_JOBS = {"redis": "redis-backup-upload", "influxdb": "influxdb-backup-upload",
               "clickhouse": "clickhouse-backup-upload"}
REDIS_RDB = "dump.rdb"

# Redis 7 with `appendonly yes` loads only the AOF at start, never dump.rdb (src/server.c loadDataFromDisk,
# lines 6643-6648@7.4.1; 6587-6592@7.0.15: Debian's here is 7.0.15, the image 7.4.6, a tag the redis mirror
# lacks): a dump.rdb put back on its own would be ignored (tests/real/test_redis_backup_real.py shows it), and an
# empty AOF dir makes an empty base (aof.c:708-712@7.4.1). So the restore writes a fresh AOF dir whose one BASE
# file is the RDB (a base may be RDB: ".rdb" suffix, aof.c:65-69@7.4.1) and a manifest naming it, in the
# format aofInfoFormat writes ("file %s seq %lld type %c\n", aof.c:108-111@7.4.1, type 'b' = AOF_FILE_TYPE_BASE,
# server.h:1501@7.4.1), under the default names appendfilename "appendonly.aof" and appenddirname
# "appendonlydir" (config.c:3109-3110@7.4.1; renderers/redis_conf.py sets neither). On start Redis loads the
# base and opens a new INCR file (aof.c:722-730@7.4.1).
REDIS_AOF_DIR = "appendonlydir"
REDIS_AOF_BASE = "appendonly.aof.1.base.rdb"
REDIS_AOF_MANIFEST = "appendonly.aof.manifest"
REDIS_MANIFEST_LINE = f"file {REDIS_AOF_BASE} seq 1 type b"
# What the restore keeps of the replaced data, next to it on the volume (one generation: the previous restore's
# is deleted first).
BEFORE_RESTORE_SUFFIX = ".before-restore"


@dataclass(frozen=True, kw_only=True)
class RedisBackup:
    store: StoreSettings
    host: str  # as the job container reaches Redis: the bridge alias, or 127.0.0.1 on the VM
    port: int = 6379

    def __post_init__(self) -> None:
        if not is_host(self.host) or not 1 <= self.port <= 65535:
            raise ValueError(f"redis host/port: got {self.host!r}:{self.port!r}")


def redis_dump_once_script(b: RedisBackup) -> str:
    """The dump job's once-script (redis image; REDISCLI_AUTH in its env: redis-cli.c:62@7.4.1)."""
    q = shlex.quote
    return snapshot_once_script(job=REDIS_JOB, keep=b.store.keep, body=[
        ': "${REDISCLI_AUTH:?is not set: the dump job takes the Redis password from its environment only}"',
        f'redis-cli -h {q(b.host)} -p {b.port} --rdb "$tmp/{REDIS_RDB}" >&2',
        f'if ! redis-check-rdb "$tmp/{REDIS_RDB}" > "$work/check" 2>&1; then',
        f'  cat "$work/check" >&2; echo "{REDIS_JOB}: redis-check-rdb refuses the new RDB" >&2; exit 1',
        "fi",
        'rm -f "$work/check"',
    ])


def redis_dump_command(b: RedisBackup) -> list[str]:
    return scheduled_dump_command(job=REDIS_JOB, once=redis_dump_once_script(b), store=b.store)


def redis_backup_now_command(b: RedisBackup, *, dump_job: str) -> str:
    """One snapshot now, in the running dump job container (`dump_job`), into the store like a scheduled one."""
    return backup_now_command(container=dump_job, job=REDIS_JOB, once=redis_dump_once_script(b), store=b.store)


def redis_put_back_script() -> str:
    """Run in a one-off container of the Redis image with the stopped server's volumes: $1 its data dir, stdin
    the fetched backup (a tar). Checks the RDB before touching the data dir; keeps the replaced AOF dir and
    dump.rdb next to it with BEFORE_RESTORE_SUFFIX."""
    old_aof, old_rdb = f'"$data/{REDIS_AOF_DIR}{BEFORE_RESTORE_SUFFIX}"', f'"$data/{REDIS_RDB}{BEFORE_RESTORE_SUFFIX}"'
    return "\n".join([
        "set -eu",
        "data=$1 new=$1/restore.incoming",
        'rm -rf "$new"',
        'mkdir "$new"',
        'tar -xf - -C "$new"',
        f'if ! redis-check-rdb "$new/{REDIS_RDB}" > "$new/check" 2>&1; then',
        f'  cat "$new/check" >&2; rm -rf "$new"',
        '  echo "restore: the backup\'s RDB does not pass redis-check-rdb; nothing was restored" >&2; exit 1',
        "fi",
        f'mkdir "$new/{REDIS_AOF_DIR}"',
        f'mv "$new/{REDIS_RDB}" "$new/{REDIS_AOF_DIR}/{REDIS_AOF_BASE}"',
        f"printf '%s\\n' {shlex.quote(REDIS_MANIFEST_LINE)} > \"$new/{REDIS_AOF_DIR}/{REDIS_AOF_MANIFEST}\"",
        f"rm -rf {old_aof} {old_rdb}",
        f'if [ -e "$data/{REDIS_AOF_DIR}" ]; then mv "$data/{REDIS_AOF_DIR}" {old_aof}; fi',
        f'if [ -e "$data/{REDIS_RDB}" ]; then mv "$data/{REDIS_RDB}" {old_rdb}; fi',
        f'mv "$new/{REDIS_AOF_DIR}" "$data/{REDIS_AOF_DIR}"',
        'rm -rf "$new"',
        # The server runs as redis (uid 999) in the image; the one-off container as root.
        f'if id redis > /dev/null 2>&1; then chown -R redis:redis "$data/{REDIS_AOF_DIR}"; fi',
    ])


REDIS_RESTORE = "cache-restore"


def redis_restore_script(b: RedisBackup, *, container: str, image: str, uploader: str, stamp: str | None = None,
                         data_path: str = "/data") -> str:
    q = shlex.quote
    fetch = fetch_tree_command(b.store, uploader=uploader, stamp=stamp)
    put_back = shlex.join(["docker", "run", "--rm", "-i", "--network", "none", "--volumes-from", container,
                           "--entrypoint", "sh", image, "-c", redis_put_back_script(), "redis-put-back", data_path])
    which = f"backup {stamp}" if stamp else "the newest backup"
    return "\n".join([
        "set -eu",
        "tree=$(mktemp)",
        "trap 'rm -f \"$tree\"' EXIT",
        f'{fetch} > "$tree"',
        # SIGTERM: Redis saves and exits (components/cache.py); its last writes are in the replaced AOF dir.
        f"docker stop {q(container)} > /dev/null",
        f'if ! {put_back} < "$tree"; then',
        f"  docker start {q(container)} > /dev/null",
        '  echo "restore: Redis is started again on its old data" >&2; exit 1',
        "fi",
        f"docker start {q(container)} > /dev/null",
        f'echo "restore: Redis restarted on {which}; the replaced data is in {data_path}/{REDIS_AOF_DIR}'
        f'{BEFORE_RESTORE_SUFFIX}"',
    ])


def redis_restore_command(b: RedisBackup, **kwargs) -> str:
    return own_shell(redis_restore_script(b, **kwargs), REDIS_RESTORE)


# ---------------------------------------------------------------------------------------------------------------
# InfluxDB: influx CLI 2.7.5 in the influxdb:2.7.12-alpine image (renderers/influxdb.py docstring).

INFLUX_RESTORE = "time-series-restore"


@dataclass(frozen=True, kw_only=True)
class InfluxBackup:
    store: StoreSettings
    url: str  # as the job container reaches influxd: http://influxdb:8086 or http://127.0.0.1:8086

    def __post_init__(self) -> None:
        if not re.fullmatch(r"http://[A-Za-z0-9.-]+:\d{1,5}", self.url):
            raise ValueError(f"url: got {self.url!r}; expected http://host:port")


def influx_dump_once_script(b: InfluxBackup) -> str:
    """`influx backup <dir>`: --host and the positional path (cmd/influx/backup.go@v2.7.5 ArgsUsage "path"; the
    token from INFLUX_TOKEN, cmd/influx/global.go:272@v2.7.5). It makes the directory (MkdirAll) and writes its
    <UTC stamp>.manifest after all data (clients/backup/backup.go:66-93@v2.7.5)."""
    return snapshot_once_script(job=INFLUX_JOB, keep=b.store.keep, body=[
        ': "${INFLUX_TOKEN:?is not set: the dump job takes the operator token from its environment only}"',
        f'influx backup --host {shlex.quote(b.url)} "$tmp" >&2',
        'if ! ls "$tmp"/*.manifest > /dev/null 2>&1; then',
        f'  echo "{INFLUX_JOB}: influx backup wrote no manifest" >&2; exit 1',
        "fi",
    ])


def influx_dump_command(b: InfluxBackup) -> list[str]:
    return scheduled_dump_command(job=INFLUX_JOB, once=influx_dump_once_script(b), store=b.store)


def influx_backup_now_command(b: InfluxBackup, *, dump_job: str) -> str:
    return backup_now_command(container=dump_job, job=INFLUX_JOB, once=influx_dump_once_script(b), store=b.store)


def influx_restore_inside_script() -> str:
    """In the running influxdb container (`docker exec -i`), stdin the backup's tar. The container's active influx
    CLI config holds the admin token and the server's port (renderers/influxdb.py docstring, entrypoint.sh line
    437). `restore` merges every *.manifest in the directory (clients/restore/restore.go:95-140@v2.7.5): the
    directory holds exactly one backup. --full replaces all data and metadata (restore.go:89-91@v2.7.5)."""
    return "\n".join([
        "set -eu",
        "dir=$(mktemp -d)",
        "trap 'rm -rf \"$dir\"' EXIT",
        'tar -xf - -C "$dir"',
        'rm -f "$dir/SHA256SUMS"',
        'influx restore --full "$dir"',
    ])


def influx_restore_script(b: InfluxBackup, *, container: str, uploader: str, stamp: str | None = None) -> str:
    fetch = fetch_tree_command(b.store, uploader=uploader, stamp=stamp)
    restore = shlex.join(["docker", "exec", "-i", container, "sh", "-c", influx_restore_inside_script(),
                          "influx-restore"])
    which = f"backup {stamp}" if stamp else "the newest backup"
    return "\n".join([
        "set -eu",
        "tree=$(mktemp)",
        "trap 'rm -f \"$tree\"' EXIT",
        f'{fetch} > "$tree"',
        f'if ! {restore} < "$tree"; then',
        '  echo "restore: influx restore --full failed (see above)" >&2; exit 1',
        "fi",
        f'echo "restore: InfluxDB restored from {which}"',
    ])


def influx_restore_command(b: InfluxBackup, **kwargs) -> str:
    return own_shell(influx_restore_script(b, **kwargs), INFLUX_RESTORE)


# ---------------------------------------------------------------------------------------------------------------
# ClickHouse 26.3: BACKUP/RESTORE with the File engine (docs: clickhouse.com/docs/operations/backup/disk, "TO|FROM
# File('<path>/<filename>')"; File needs config `backups.allowed_path`, which chdb 26.3.9 enforces:
# tests/real/test_service_backup_chdb_real.py).

CLICKHOUSE_RESTORE = "analytics-restore"
STAGING_SUFFIX = "__restore"
_CH_DATABASE = re.compile(r"\A[a-z_][a-z0-9_]{0,53}\Z")  # config.model Identifier, room for STAGING_SUFFIX


@dataclass(frozen=True, kw_only=True)
class ClickHouseBackup:
    store: StoreSettings
    host: str  # as the job reaches the server's native port
    port: int
    user: str
    database: str

    def __post_init__(self) -> None:
        if not _CH_DATABASE.match(self.database) or not _CH_DATABASE.match(self.user):
            raise ValueError(f"database/user: got {self.database!r}/{self.user!r}; expected identifiers")
        if not is_host(self.host) or not 1 <= self.port <= 65535:
            raise ValueError(f"clickhouse host/port: got {self.host!r}:{self.port!r}")


# Its own config.d file (config.d files merge: the listeners file, renderers/clickhouse.CONFIG_D_PATH, is untouched).
BACKUP_CONFIG_D_PATH = "/etc/clickhouse-server/config.d/backing-services-backups.xml"


def clickhouse_backup_config_xml(allowed_path: str = BACKUP_VOLUME_PATH) -> str:
    """The server's config.d addition: File backups only below the outbox volume it mounts there."""
    return f"<clickhouse><backups><allowed_path>{allowed_path}/</allowed_path></backups></clickhouse>\n"


def clickhouse_backup_sql(database: str, path: str) -> str:
    return f"BACKUP DATABASE {database} TO File('{path}/')"


def clickhouse_restore_sql(database: str, path: str) -> list[str]:
    """Into a staging database first: a backup that does not restore leaves <db> as it was. RESTORE refuses
    tables that hold data (CANNOT_RESTORE_TABLE, seen in chdb 26.3), hence the staging database is dropped first."""
    staging = f"{database}{STAGING_SUFFIX}"
    # Names are bare: _CH_DATABASE allows only [a-z0-9_] (and a backtick would be command substitution in sh).
    return [
        f"DROP DATABASE IF EXISTS {staging} SYNC",
        f"RESTORE DATABASE {database} AS {staging} FROM File('{path}/')",
        f"DROP DATABASE IF EXISTS {database} SYNC",
        f"RENAME DATABASE {staging} TO {database}",
    ]


def clickhouse_dump_once_script(b: ClickHouseBackup) -> str:
    """The job runs in the server's image: Ubuntu 22.04 (coreutils sha256sum, tar, find), clickhouse-client
    installed, user clickhouse uid/gid 101, no USER, so the job is root (ClickHouse/docker-library@9d3f97b6
    server/26.3.17.110/Dockerfile -> Dockerfile.ubuntu lines 1, 19-20, 34). The server writes the backup ($tmp
    is on the volume it mounts at the same path) as user clickhouse; the client authenticates from
    CLICKHOUSE_PASSWORD in its environment (ClickHouse PR #48440: clickhouse-client reads CLICKHOUSE_USER and
    CLICKHOUSE_PASSWORD), never an argv."""
    q = shlex.quote
    return snapshot_once_script(
        job=CLICKHOUSE_JOB, keep=b.store.keep,
        prepare=['if id clickhouse > /dev/null 2>&1; then chown clickhouse:clickhouse "$work" "$tmp"; fi'],
        body=[
            ': "${CLICKHOUSE_PASSWORD:?is not set: the dump job takes the password from its environment only}"',
            f"clickhouse-client --host {q(b.host)} --port {b.port} --user {q(b.user)} "
            f"--query \"{clickhouse_backup_sql(b.database, '$tmp')}\" > /dev/null",
            'if [ ! -f "$tmp/.backup" ]; then',
            f'  echo "{CLICKHOUSE_JOB}: BACKUP wrote no .backup metadata" >&2; exit 1',
            "fi",
        ],
    )


def clickhouse_dump_command(b: ClickHouseBackup) -> list[str]:
    return scheduled_dump_command(job=CLICKHOUSE_JOB, once=clickhouse_dump_once_script(b), store=b.store)


def clickhouse_backup_now_command(b: ClickHouseBackup, *, dump_job: str) -> str:
    return backup_now_command(container=dump_job, job=CLICKHOUSE_JOB, once=clickhouse_dump_once_script(b),
                              store=b.store)


def clickhouse_restore_script(b: ClickHouseBackup, *, dump_job: str, uploader: str, stamp: str | None = None) -> str:
    """The tar goes into <volume>/restore through the dump job container (it mounts the volume, as the server
    does), then the RESTORE runs in the dump job container's client (its CLICKHOUSE_PASSWORD)."""
    q = shlex.quote
    fetch = fetch_tree_command(b.store, uploader=uploader, stamp=stamp)
    path = f"{BACKUP_VOLUME_PATH}/restore"
    unpack = shlex.join(["docker", "exec", "-i", dump_job, "sh", "-c",
                         f'set -eu; rm -rf {path}; mkdir {path}; tar -xf - -C {path}; rm -f {path}/SHA256SUMS; '
                         f'if id clickhouse > /dev/null 2>&1; then chown -R clickhouse:clickhouse {path}; fi',
                         "clickhouse-unpack"])
    staging = f"{b.database}{STAGING_SUFFIX}"
    # One client call per statement (no reliance on --multiquery), each failure saying where it left things.
    after = [
        f"{b.database} is as it was",
        f"{b.database} is as it was",
        f"{b.database} may be partly dropped; the restored copy is in {staging}",
        f"{b.database} is dropped; the restored copy is in {staging}: RENAME DATABASE {staging} TO {b.database}",
    ]
    steps = []
    for statement, state in zip(clickhouse_restore_sql(b.database, path), after):
        run = shlex.join(["docker", "exec", dump_job, "clickhouse-client", "--host", b.host, "--port", str(b.port),
                          "--user", b.user, "--query", statement])
        what = statement.split(" FROM ")[0]
        steps += [f"if ! {run}; then", f"  echo {q(f'restore: {what} failed: {state}')} >&2; exit 1", "fi"]
    which = f"backup {stamp}" if stamp else "the newest backup"
    return "\n".join([
        "set -eu",
        "tree=$(mktemp)",
        "trap 'rm -f \"$tree\"' EXIT",
        f'{fetch} > "$tree"',
        f'{unpack} < "$tree"',
        *steps,
        f"docker exec {q(dump_job)} rm -rf {path}",
        f'echo "restore: {b.database} restored from {which}"',
    ])


def clickhouse_restore_command(b: ClickHouseBackup, **kwargs) -> str:
    return own_shell(clickhouse_restore_script(b, **kwargs), CLICKHOUSE_RESTORE)
