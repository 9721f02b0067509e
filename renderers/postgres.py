"""Server settings and probes for the Database component (official postgres image)."""
from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class PostgresSettings:
    version: str  # "18.1"
    user: str
    database: str
    port: int = 5432
    listen_address: str = "*"
    memory_limit_mb: int = 512
    # Libraries the server loads at start, for extensions that need it (renderers/init_sql.preload_libraries).
    shared_preload_libraries: tuple[str, ...] = ()

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def volume_path(self) -> str:
        """Where the data volume is mounted.

        From postgres 18 the image keeps PGDATA in a major-versioned directory under
        /var/lib/postgresql (so pg_upgrade --link works) and declares the volume there;
        before 18 it is /var/lib/postgresql/data.
        """
        return "/var/lib/postgresql" if self.major >= 18 else "/var/lib/postgresql/data"

    @property
    def shm_size_mb(self) -> int:
        # Docker's default 64 MB /dev/shm is too small for parallel queries.
        return max(64, min(1024, self.memory_limit_mb // 4))


def postgres_server_args(s: PostgresSettings) -> list[str]:
    """`-c` settings sized to the container's memory limit (the usual 25% / 75% rule)."""
    shared_buffers = max(32, s.memory_limit_mb // 4)
    return [
        "-c", f"listen_addresses={s.listen_address}",
        "-c", f"port={s.port}",
        "-c", f"shared_buffers={shared_buffers}MB",
        "-c", f"effective_cache_size={max(64, s.memory_limit_mb * 3 // 4)}MB",
        "-c", "password_encryption=scram-sha-256",
        "-c", "log_min_duration_statement=1000",
        # A postmaster-context setting: read only at server start, so a change is a new container command (the
        # provider replaces the container on a command change, tests/providers/docker.py "command").
        *(["-c", f"shared_preload_libraries={','.join(s.shared_preload_libraries)}"]
          if s.shared_preload_libraries else []),
    ]


# initdb's default trusts every local connection; with host networking that would be any
# process on the VM, so local and loopback connections need the password too.
INITDB_ARGS = "--auth-local=scram-sha-256 --auth-host=scram-sha-256"


PASSWORD_KEY = "backing-services:databasePassword"


def postgres_healthcheck_script(s: PostgresSettings) -> str:
    """sh script, run in the container with its env: can database.user log in with the container's password?

    pg_isready never authenticates, so a container whose POSTGRES_PASSWORD the cluster does not have (a reused
    data volume: the entrypoint passes POSTGRES_PASSWORD to initdb only, docker_init_database_dir, initdb --pwfile at
    docker-library/postgres 18/alpine3.22/docker-entrypoint.sh:92@8813daba48, the same file for 14 and 16) looked
    healthy while every client failed. This logs in the way the apps, PgBouncer and the dump job do: over TCP to
    the server's own port, as database.user into database.name, with the password from the env (expanded by the
    shell, so it is in no argv and not in the check's text). Docker runs a CMD-SHELL test as /bin/sh -c <script>,
    counts exit 0 as healthy and anything else as a failure, and keeps up to 4096 bytes of its output in
    State.Health.Log, which `docker inspect` shows (moby daemon/health.go:21,50,72,206,335,450-458@v28.5.2); psql
    exits 2 when it cannot connect, a status the HEALTHCHECK reference
    reserves, so every failure exits 1. The provider's own error is only "container failed to be in healthy
    state" (resource_docker_container_funcs.go:40,621@v4.5.0): the rotation's output says where to look.
    """
    conn = f"-h 127.0.0.1 -p {s.port} -U {shlex.quote(s.user)} -d {shlex.quote(s.database)}"
    return (
        f'out=$(PGPASSWORD="$POSTGRES_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -w -At {conn} -c "SELECT 1" 2>&1) '
        "&& exit 0; "
        'case $out in *"password authentication failed"*) '
        f"echo \"role {s.user} cannot log in with this container's POSTGRES_PASSWORD ({PASSWORD_KEY}). The "
        "data volume holds a cluster made with another password: PostgreSQL keeps the password it was created "
        f"with. Set {PASSWORD_KEY} to that password and run pulumi up again (then change it with pulumi config "
        f'set --secret, which rotates it on the running server).\" ;; *) printf "%s\\n" "$out" ;; esac; exit 1'
    )


def postgres_healthcheck(s: PostgresSettings) -> tuple[str, ...]:
    # The provider stores the test list as Docker reports it (resource_docker_container_funcs.go:960-964@v4.5.0),
    # which is the list as sent; a changed check replaces the container (components/container.py).
    return ("CMD-SHELL", postgres_healthcheck_script(s))


def backup_command(s: PostgresSettings, container: str) -> str:
    """A logical backup of the database to a local file, in pg_restore's custom format."""
    dump = f"pg_dump -h 127.0.0.1 -p {s.port} -U {s.user} -Fc {s.database}"
    return f"docker exec {container} sh -c 'PGPASSWORD=\"$POSTGRES_PASSWORD\" {dump}' > {s.database}.dump"


# ---------------------------------------------------------------------------------------------------------------
# Major-version change. docker-library/postgres (18/alpine3.23/Dockerfile) keeps PGDATA at
# /var/lib/postgresql/<major>/docker with the volume at /var/lib/postgresql; before 18 (17/alpine3.23/Dockerfile)
# PGDATA is the volume itself. A server refuses another major's files, and the 18+ entrypoint refuses to start
# beside an old cluster (docker_error_old_databases): either way the container fails only after the old one was
# deleted. The guard runs first, in a throwaway container of the new image, and refuses before anything changes.

CONFIG_KEY = "backing-services:database.version"
# Where the guard mounts the volume (read-only); the guard script takes it as $1, so tests point it elsewhere.
GUARD_VOLUME_ROOT = "/mnt/volume"
# Old clusters go to <volume>/pre-upgrade/pg<major>. Neither the guard nor the 18+ entrypoint looks there: both
# look for PG_VERSION only at the volume root and in <root>/*/docker.
ASIDE_DIR = "pre-upgrade"
# Moves files inside a volume; the project pins every image it runs.
HELPER_IMAGE = "alpine:3.22"
# docker stop's grace period, the same 60 s components/database.py gives the container (STOPSIGNAL SIGINT).
STOP_TIMEOUT_S = 60
_OLD = "@OLD@"  # stands for the found major in the guard's message; the guard substitutes it
_END = "END_OF_UPGRADE_STEPS"
# Exact per-table row counts of the app's database, comparable before and after the restore: psql runs each
# generated count with \gexec (no xpath: it needs a server built with libxml).
_ROW_COUNTS_SQL = (
    "SELECT format('SELECT %L, count(*) FROM %s', relid::regclass, relid::regclass) "
    "FROM pg_stat_user_tables ORDER BY relid::regclass::text \\gexec"
)


@dataclass(frozen=True)
class UpgradeCommands:
    """Each field is one or more host shell lines; major_upgrade_steps shows them in this order."""

    revert: str
    counts_before: str
    dump: str
    stop: str
    move_aside: str
    set_new: str
    restore: str
    counts_after: str
    delete_aside: str
    dump_file: str


def _in_container(s: PostgresSettings, container: str, client: str, *, stdin: bool = False) -> str:
    # Like backup_command: the container's own POSTGRES_PASSWORD, so no password is typed or stored on the host.
    inner = f'PGPASSWORD="$POSTGRES_PASSWORD" {client} -h 127.0.0.1 -p {s.port} -U {s.user}'
    return f"docker exec {'-i ' if stdin else ''}{container} sh -c {shlex.quote(inner)}"


def _move_aside_script(old: str, *, into_other_volume: bool) -> str:
    """sh -c script; $1 is the volume, and $2 the empty second volume when the new major keeps PGDATA at the root."""
    has_old = f'[ "$(cat PG_VERSION 2>/dev/null)" = {old} ] || [ "$(cat {old}/docker/PG_VERSION 2>/dev/null)" = {old} ]'
    none = f'echo "no PostgreSQL {old} cluster in $1 or $1/{old}/docker; nothing moved" >&2; exit 1;'
    each_entry = (
        'for f in * .[!.]* ..?*; do if {skip}{{ [ -e "$f" ] || [ -L "$f" ]; }}; then mv "$f" "{to}"/; fi; done;'
    )
    # The cluster's new directory gets the old PGDATA's owner and mode: postgres starts only on a 0700/0750
    # directory it owns, so the moved-aside copy stays a runnable fallback.
    like_pgdata = 'chown "$(stat -c %u:%g .)" "{to}"; chmod "$(stat -c %a .)" "{to}";'
    if into_other_volume:
        # initdb refuses a non-empty PGDATA, so before 18 nothing may stay in the volume.
        return " ".join([
            'set -eu; [ -z "$(ls -A "$2")" ] || { echo "$2 is not empty; nothing moved" >&2; exit 1; };',
            f'cd "$1"; if {has_old}; then', like_pgdata.format(to="$2"), each_entry.format(skip="", to="$2"),
            f"else {none} fi;",
            f'echo "moved the PostgreSQL {old} cluster to the second volume"',
        ])
    to = f"{ASIDE_DIR}/pg{old}"
    return " ".join([
        f'set -eu; cd "$1"; to={to}; [ ! -e "$to" ] || {{ echo "$1/$to exists already; nothing moved" >&2; exit 1; }};',
        f'if [ "$(cat PG_VERSION 2>/dev/null)" = {old} ]; then mkdir -p "$to";', like_pgdata.format(to="$to"),
        each_entry.format(skip=f'[ "$f" != {ASIDE_DIR} ] && ', to="$to"),
        f'elif [ "$(cat {old}/docker/PG_VERSION 2>/dev/null)" = {old} ]; then',
        f'mkdir -p {ASIDE_DIR}; mv {old}/docker "$to"; rmdir {old} || true;',
        f"else {none} fi;",
        f'echo "moved the PostgreSQL {old} cluster to $to in the volume"',
    ])


def major_upgrade_commands(
    s: PostgresSettings, *, container: str, volume: str, old_major: int | str
) -> UpgradeCommands:
    old = str(old_major)
    dump_file = f"pg{old}-dumpall.sql"
    count_rows = _in_container(s, container, f"psql -X -At -d {s.database}", stdin=True)
    counts = f'printf "%s\\n" "{_ROW_COUNTS_SQL}" | {count_rows}'
    into_other_volume = s.major < 18
    aside_volume = f"{volume}-pg{old}"
    mounts = ["-v", f"{volume}:/v"] + (["-v", f"{aside_volume}:/aside"] if into_other_volume else [])
    move = shlex.join([
        "docker", "run", "--rm", "--network", "none", *mounts, HELPER_IMAGE,
        "sh", "-c", _move_aside_script(old, into_other_volume=into_other_volume), "move-aside", "/v",
        *(["/aside"] if into_other_volume else []),
    ])
    delete = (
        f"docker volume rm {aside_volume}" if into_other_volume
        else f"docker run --rm --network none -v {volume}:/v {HELPER_IMAGE} rm -rf /v/{ASIDE_DIR}/pg{old}"
    )
    return UpgradeCommands(
        revert=f'pulumi config set --path database.version "$(docker exec {container} printenv PG_VERSION)"\npulumi up',
        counts_before=f"{counts} > pg{old}-counts.txt",
        # The dump holds every row and the roles' password hashes: readable by its owner only.
        dump=f"(umask 077 && {_in_container(s, container, 'pg_dumpall')} > {dump_file})",
        stop=f"docker stop -t {STOP_TIMEOUT_S} {container}",
        move_aside=move,
        set_new=f"pulumi config set --path database.version {s.version}\npulumi up",
        restore=f"{_in_container(s, container, 'psql -X -q -d postgres', stdin=True)} < {dump_file}\n"
        f"{_in_container(s, container, 'vacuumdb --all --analyze-in-stages')}",
        counts_after=f"{counts} > pg{s.major}-counts.txt\n"
        f'diff pg{old}-counts.txt pg{s.major}-counts.txt && echo "row counts match"',
        delete_aside=delete,
        dump_file=dump_file,
    )


def major_upgrade_steps(s: PostgresSettings, *, container: str, volume: str, old_major: int | str) -> str:
    """The numbered steps from a PostgreSQL <old_major> cluster on the volume to the configured major."""
    c = major_upgrade_commands(s, container=container, volume=volume, old_major=old_major)
    old, new = old_major, s.major
    where = (
        f"into the new volume {volume}-pg{old} (PostgreSQL {new} keeps its cluster at the volume's root, which "
        "initdb needs empty)" if s.major < 18
        else f"to {ASIDE_DIR}/pg{old} inside the volume, where neither this check nor the image looks"
    )
    steps = [
        ("Put back the version that wrote the data (and its @sha256 digest if you pinned one), so `pulumi up` "
         "passes this check again", c.revert),
        ("Record the row counts, then dump every database and role (the dump holds all data and the password "
         "hashes: keep it private)", f"{c.counts_before}\n{c.dump}"),
        (f"Stop PostgreSQL {old} cleanly and move its cluster {where}", f"{c.stop}\n{c.move_aside}"),
        (f"Switch to PostgreSQL {new}: `pulumi up` starts it on a new, empty cluster", c.set_new),
        (f'Restore. psql reports that role "{s.user}" and database "{s.database}" already exist (the new '
         "container created them); any other ERROR is a problem", c.restore),
        ("Check: the row counts must match", c.counts_after),
        (f"When satisfied, delete the old cluster (and {c.dump_file} once you no longer need it)", c.delete_aside),
    ]
    lines = [f"To move the data to PostgreSQL {new}, run these in the Pulumi project's directory, with `docker` "
             f"talking to the engine that runs {container} (DOCKER_HOST=ssh://... for a VM):"]
    for number, (title, commands) in enumerate(steps, 1):
        lines.append(f"  {number}. {title}:")
        lines.extend(f"       {command}" for command in commands.splitlines())
    return "\n".join(lines)


def major_version_guard_script(s: PostgresSettings, *, container: str, volume: str) -> str:
    """sh -c script: exit 0 if the volume at $1 is empty or holds a cluster of the configured major; else explain."""
    steps = major_upgrade_steps(s, container=container, volume=volume, old_major=_OLD)
    assert _END not in steps.splitlines()
    return f"""\
set -u
root=${{1%/}}
found=
where=
for f in "$root/PG_VERSION" "$root"/*/docker/PG_VERSION; do
  [ -s "$f" ] || continue
  v=
  IFS= read -r v < "$f" || :
  case $v in ''|*[!0-9.]*) v=unknown ;; esac
  [ "$v" = {s.major} ] && continue
  found=${{found:-$v}}
  d=${{f%/PG_VERSION}}
  d=${{d#"$root"}}
  where="$where ${{d:-/}}"
done
[ -n "$found" ] || exit 0
printf '%s\\n' "{CONFIG_KEY} is {s.version} (PostgreSQL {s.major}), but the data volume {volume} holds a \
PostgreSQL $found cluster (at$where in the volume)." \\
  "PostgreSQL {s.major} cannot use another major's files: its container would fail, and only after {container} \
was deleted." "Nothing was changed: {container} and {volume} are as they were." "" >&2
sed "s/{_OLD}/$found/g" >&2 <<'{_END}'
{steps}
{_END}
exit 1
"""


def _absent_means_nothing_to_do(inspect: str, what: str, *, say: str | None = None) -> str:
    # Docker says "No such volume" / "no such container" depending on its version; any other error is real.
    # ``say``: printed (shell-quoted) before the exit 0, so a step that did nothing says so.
    told = f"printf '%s\\n' {shlex.quote(say)}; " if say else ""
    return f"""\
if ! out=$({inspect} </dev/null 2>&1); then
  case $out in *'No such {what}'*|*'no such {what}'*) {told}exit 0 ;; esac
  printf '%s\\n' "$out" >&2
  exit 1
fi"""


def major_version_guard_command(s: PostgresSettings, *, container: str, volume: str, image: str) -> str:
    """Host sh: exit 0 on a first deploy (no volume), else run the guard in the new image against the volume."""
    run = shlex.join([
        "docker", "run", "--rm", "--network", "none", "-v", f"{volume}:{GUARD_VOLUME_ROOT}:ro",
        "--entrypoint", "sh", image, "-c", major_version_guard_script(s, container=container, volume=volume),
        "major-version-guard", GUARD_VOLUME_ROOT,
    ])
    # Without the volume check, `docker run -v` would create the volume outside Pulumi.
    inspect = f"docker volume inspect --format '{{{{.Name}}}}' {shlex.quote(volume)}"
    return f"{_absent_means_nothing_to_do(inspect, 'volume')}\nexec {run}\n"


# ---------------------------------------------------------------------------------------------------------------
# Password change. The entrypoint passes POSTGRES_PASSWORD only to initdb (docker_init_database_dir in
# 18/alpine3.23/docker-entrypoint.sh); on an existing cluster it is ignored, so a new password must be set on the
# running server before its container is replaced.

def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def password_rotation_inner_script(s: PostgresSettings) -> str:
    """sh -c script for the running container: the new password on stdin; $POSTGRES_PASSWORD is the old one.

    The password reaches psql on stdin as a \\set value (single-quoted: backslash and quote written doubled) and
    the server as the literal psql builds from :'new_password', so it is in no process's argv. Errors are terse
    (no statement excerpt) and the session logs no statement: a failure cannot print or log the password.
    """
    # The running container's own port (PGPORT, set by components/database.py): a port change is checked and
    # applied against the old container, which still listens on the old one.
    conn = f'-h 127.0.0.1 -p "${{PGPORT:-{s.port}}}" -U {shlex.quote(s.user)} -d {shlex.quote(s.database)}'
    return rf"""set -u
new=
IFS= read -r new || :
if [ -z "$new" ]; then
  echo "password rotation: no new password on standard input; nothing changed" >&2
  exit 2
fi
esc=$(printf '%s' "$new" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")
alter() {{
  PGPASSWORD="${{POSTGRES_PASSWORD-}}" psql -X -q -w -v ON_ERROR_STOP=1 {conn} <<EOF
\set VERBOSITY terse
SET log_statement = 'none';
SET log_min_error_statement = 'panic';
\set new_password '$esc'
ALTER ROLE {_sql_identifier(s.user)} PASSWORD :'new_password';
EOF
}}
if [ "$new" != "${{POSTGRES_PASSWORD-}}" ] && out=$(alter 2>&1); then
  echo "password rotation: role {s.user} has the new password"
  exit 0
fi
if PGPASSWORD="$new" psql -X -q -w {conn} -c 'SELECT 1' >/dev/null 2>&1; then
  echo "password rotation: role {s.user} already has the new password; nothing changed"
  exit 0
fi
printf '%s\n' "password rotation: role {s.user} accepts neither the container's POSTGRES_PASSWORD nor the new \
password; nothing changed. Set databasePassword back to the password the server has, or set it in psql with \
\password {s.user}." "${{out-}}" >&2
exit 1
"""


def password_rotation_command(s: PostgresSettings, container: str) -> str:
    """Host sh, new password on stdin: set it on the running server.

    With no container there is no server to change: exit 0 (a first deploy, where initdb takes the password), but
    saying that nothing was changed. A data volume that already holds a cluster keeps its own password then; the
    new container's healthcheck (postgres_healthcheck) logs in with the configured one and fails the `up`.
    """
    inspect = f"docker container inspect --format '{{{{.State.Running}}}}' {shlex.quote(container)}"
    nothing = (
        f"password rotation: no container {container}, so no server's password was changed. On a first deploy "
        "initdb sets it. If the data volume already holds a cluster, that cluster keeps the password it was "
        f"created with, and {container} stays unhealthy until {PASSWORD_KEY} is that password (docker inspect "
        f"--format '{{{{json .State.Health}}}}' {container} shows the check's output)."
    )
    return f"""\
{_absent_means_nothing_to_do(inspect, 'container', say=nothing)}
if [ "$out" != true ]; then
  echo "password rotation: container {container} exists but is not running, so its password cannot be changed; \
start it (docker start {container}) and run pulumi up again. Nothing was changed." >&2
  exit 1
fi
exec docker exec -i {shlex.quote(container)} sh -c {shlex.quote(password_rotation_inner_script(s))}
"""


# ---------------------------------------------------------------------------------------------------------------
# Role and database names. The entrypoint creates POSTGRES_USER and POSTGRES_DB only at initdb (same file), so a
# renamed database.user or database.name would start a container whose URL names a role or database the cluster
# never had. Checked on the running server before its container is replaced.

USER_KEY = "backing-services:database.user"
NAME_KEY = "backing-services:database.name"


def login_check_inner_script(s: PostgresSettings, container: str) -> str:
    """sh -c script for the running container: can the configured role log in to the configured database?"""
    # The running container's own port (PGPORT, set by components/database.py): a port change is checked and
    # applied against the old container, which still listens on the old one.
    conn = f'-h 127.0.0.1 -p "${{PGPORT:-{s.port}}}" -U {shlex.quote(s.user)} -d {shlex.quote(s.database)}'
    return rf"""set -u
if out=$(PGPASSWORD="${{POSTGRES_PASSWORD-}}" psql -X -q -w {conn} -c 'SELECT 1' 2>&1 >/dev/null); then
  exit 0
fi
printf '%s\n' "{USER_KEY} is {s.user} and {NAME_KEY} is {s.database}, but the running server does not let \
{s.user} log in to {s.database}:" "  $out" \
"POSTGRES_USER and POSTGRES_DB only apply when the data directory is first created, so this container would \
start with names the cluster does not have. Nothing was changed." \
"Set them back to the names the cluster was created with (this container has POSTGRES_USER=${{POSTGRES_USER-?}}, \
POSTGRES_DB=${{POSTGRES_DB-?}}), or create them first, e.g.:" \
"  docker exec -it {container} psql -h 127.0.0.1 -p {s.port} -U ${{POSTGRES_USER-?}} -d postgres \
-c 'ALTER DATABASE ${{POSTGRES_DB-?}} RENAME TO {s.database}'" >&2
exit 1
"""


def login_check_command(s: PostgresSettings, container: str) -> str:
    """Host sh: exit 0 with no running container (first deploy); else run the check inside it."""
    inspect = f"docker container inspect --format '{{{{.State.Running}}}}' {shlex.quote(container)}"
    return f"""\
{_absent_means_nothing_to_do(inspect, 'container')}
[ "$out" = true ] || exit 0
exec docker exec {shlex.quote(container)} sh -c {shlex.quote(login_check_inner_script(s, container))}
"""


def pre_replace_check_command(s: PostgresSettings, *, container: str, volume: str, image: str) -> str:
    """Everything checked on the Docker host before the postgres container is replaced, as one command."""
    # Subshells: each part may `exit 0` early (nothing to check) without skipping the other.
    return (
        f"( {login_check_command(s, container)} ) || exit 1\n"
        f"( {major_version_guard_command(s, container=container, volume=volume, image=image)} )\n"
    )
