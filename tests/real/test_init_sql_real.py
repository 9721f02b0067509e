"""The rendered init SQL, run by the postgres image's own init-file code against Debian's PostgreSQL.

First start, as docker-library/postgres 16/alpine3.23/docker-entrypoint.sh@6edb0a8c4def does it (the 18 file is
identical): when `$PGDATA/PG_VERSION` is empty or missing (docker_setup_env), initdb with POSTGRES_INITDB_ARGS,
the pg_hba line and CREATE DATABASE (postgres_process.init_cluster, shared with the other PostgreSQL tests),
then a socket-only temporary server (docker_temp_server_start: the container's args plus
`-c listen_addresses='' -p $PGPORT`, on the image's default socket directory /var/run/postgresql) and
`docker_process_init_files /docker-entrypoint-initdb.d/*`: ENTRYPOINT_INIT_FILES below is that function and
docker_process_sql copied verbatim and run by bash, with the environment the entrypoint gives them
(POSTGRES_USER, POSTGRES_DB, PGPASSWORD, PGPORT). Later starts see PG_VERSION and skip all of it.
One difference: init_cluster stops its temporary server after CREATE DATABASE, and a second one runs the init
files; the entrypoint uses one. Nothing the files can observe differs.
"""
from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers.init_sql import (
    APPLIED_TABLE,
    CONTRIB_EXTENSIONS_BY_MAJOR,
    INIT_SQL_PATH,
    InitSql,
    init_sql_apply_command,
    render_init_sql,
)
from renderers.postgres import INITDB_ARGS, PostgresSettings

from .postgres_process import (
    postgres_server,
    CLIENT_TIMEOUT_S,
    SERVER_USER,
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Cluster,
    _as_server_user,
    _run_as_server_user,
    client_env,
    init_cluster,
    install_docker_shim,
    pg_bin,
    pg_tool,
    psql,
    run_host_command,
    running_postgres,
    server_version,
    server_workdir,
)
from .processes import free_tcp_ports

pytestmark = pytest.mark.real_binary

PASSWORD = "init'Pa$$w0rd\\\"x"
# Debian's packaged server, which these tests run: the extension list is that major's.
SERVER_MAJOR = int(server_version(pg_bin()).split(".")[0])
READER_PASSWORD = "reader-Pa$$"
# The image's socket directory, and Debian libpq's default: docker_process_sql clears PGHOST, so psql looks here.
DEFAULT_SOCKET_DIR = Path("/var/run/postgresql")
MARKER_SQL = "CREATE TABLE IF NOT EXISTS init_runs (at timestamptz NOT NULL DEFAULT now());\n" \
             "INSERT INTO init_runs DEFAULT VALUES;"

# docker-library/postgres 16/alpine3.23/docker-entrypoint.sh@6edb0a8c4def lines 169-213, verbatim.
ENTRYPOINT_INIT_FILES = r"""
# usage: docker_process_init_files [file [file [...]]]
#    ie: docker_process_init_files /always-initdb.d/*
# process initializer files, based on file extensions and permissions
docker_process_init_files() {
	# psql here for backwards compatibility "${psql[@]}"
	psql=( docker_process_sql )

	printf '\n'
	local f
	for f; do
		case "$f" in
			*.sh)
				# https://github.com/docker-library/postgres/issues/450#issuecomment-393167936
				# https://github.com/docker-library/postgres/pull/452
				if [ -x "$f" ]; then
					printf '%s: running %s\n' "$0" "$f"
					"$f"
				else
					printf '%s: sourcing %s\n' "$0" "$f"
					. "$f"
				fi
				;;
			*.sql)     printf '%s: running %s\n' "$0" "$f"; docker_process_sql -f "$f"; printf '\n' ;;
			*.sql.gz)  printf '%s: running %s\n' "$0" "$f"; gunzip -c "$f" | docker_process_sql; printf '\n' ;;
			*.sql.xz)  printf '%s: running %s\n' "$0" "$f"; xzcat "$f" | docker_process_sql; printf '\n' ;;
			*.sql.zst) printf '%s: running %s\n' "$0" "$f"; zstd -dc "$f" | docker_process_sql; printf '\n' ;;
			*)         printf '%s: ignoring %s\n' "$0" "$f" ;;
		esac
		printf '\n'
	done
}

# Execute sql script, passed via stdin (or -f flag of pqsl)
# usage: docker_process_sql [psql-cli-args]
#    ie: docker_process_sql --dbname=mydb <<<'INSERT ...'
#    ie: docker_process_sql -f my-file.sql
#    ie: docker_process_sql <my-file.sql
docker_process_sql() {
	local query_runner=( psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc )
	if [ -n "$POSTGRES_DB" ]; then
		query_runner+=( --dbname "$POSTGRES_DB" )
	fi

	PGHOST= PGHOSTADDR= "${query_runner[@]}" "$@"
}
"""
# _main's call, under the entrypoint's own shell options (line 2: set -Eeo pipefail).
ENTRYPOINT_DRIVER = "set -Eeo pipefail\n" + ENTRYPOINT_INIT_FILES + 'docker_process_init_files "$INITDB_D"/*\n'


def _ensure_default_socket_dir() -> None:
    """What the image's Dockerfile does (install -d -o postgres -g postgres -m 3777 /var/run/postgresql);
    Debian's postgresql package creates it too, so this only acts where it is missing."""
    if DEFAULT_SOCKET_DIR.is_dir():
        return
    DEFAULT_SOCKET_DIR.mkdir(parents=True)
    DEFAULT_SOCKET_DIR.chmod(0o3777)
    if os.geteuid() == 0:
        shutil.chown(DEFAULT_SOCKET_DIR, SERVER_USER, SERVER_USER)


def _settings() -> PostgresSettings:
    (port,) = free_tcp_ports(1)
    return PostgresSettings(version="16.4", user="app_owner", database="app", port=port,
                            listen_address="127.0.0.1", memory_limit_mb=256)


def _initdb_d(root: Path, text: str) -> Path:
    """/docker-entrypoint-initdb.d with the component's one upload, under its rendered name."""
    directory = root / "docker-entrypoint-initdb.d"
    directory.mkdir(exist_ok=True)
    (directory / PurePosixPath(INIT_SQL_PATH).name).write_text(text)
    return directory


def entrypoint_start(settings: PostgresSettings, root: Path, init: InitSql | None = None, *,
                     rendered_file: str | None = None) -> tuple[str, Cluster]:
    """The entrypoint up to `exec postgres`: "initialised" or "skipped", and the cluster; InitFailed if the
    init files fail (the container would exit)."""
    cluster = Cluster(settings=settings, password=PASSWORD, root=root)
    version_file = cluster.data_dir / "PG_VERSION"
    # docker_setup_env: `if [ -s "$PGDATA/PG_VERSION" ]; then DATABASE_ALREADY_EXISTS='true'`.
    if version_file.is_file() and version_file.stat().st_size > 0:
        return "skipped", cluster
    initdb_d = _initdb_d(root, rendered_file if rendered_file is not None else render_init_sql(init))
    cluster = init_cluster(settings, PASSWORD, root, initdb_args=INITDB_ARGS)
    _process_init_files(cluster, initdb_d)
    return "initialised", cluster


def _process_init_files(cluster: Cluster, initdb_d: Path) -> None:
    """docker_temp_server_start, docker_process_init_files, docker_temp_server_stop."""
    settings, root = cluster.settings, cluster.root
    _ensure_default_socket_dir()
    temp_args = [*cluster.server_args(), "-c", f"unix_socket_directories={DEFAULT_SOCKET_DIR}",
                 "-c", "listen_addresses=", "-p", str(settings.port)]
    pg_ctl = [pg_tool("pg_ctl"), "-D", str(cluster.data_dir), "-l", str(cluster.log_path)]
    server_env = {**client_env(PASSWORD), "PGUSER": settings.user}
    _run_as_server_user([*pg_ctl, "-o", shlex.join(temp_args), "-w", "-t", str(STARTUP_TIMEOUT_S),
                         "start"], cwd=root, env=server_env)
    try:
        env = {**client_env(PASSWORD), "POSTGRES_USER": settings.user, "POSTGRES_DB": settings.database,
               "PGPORT": str(settings.port), "INITDB_D": str(initdb_d)}
        driver = ["bash", "-c", ENTRYPOINT_DRIVER, "docker-entrypoint.sh"]
        ran = subprocess.run(
            # The entrypoint has dropped to the postgres user (gosu) by then.
            _as_server_user(driver),
            cwd=root, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
        )
    finally:
        _run_as_server_user([*pg_ctl, "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), "stop"], cwd=root,
                            env=server_env)
    if ran.returncode != 0:
        # The entrypoint's `set -e` ends the container here: the init process failed.
        raise InitFailed(ran.returncode, ran.stdout + ran.stderr, cluster)
    assert f"docker-entrypoint.sh: running {initdb_d}/{PurePosixPath(INIT_SQL_PATH).name}" in ran.stdout, ran.stdout


class InitFailed(Exception):
    def __init__(self, returncode: int, output: str, cluster: Cluster) -> None:
        super().__init__(f"init files failed ({returncode}):\n{output}")
        self.output = output
        self.cluster = cluster


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _as(cluster: Cluster, user: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    argv = [pg_tool("psql"), "-w", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(cluster.settings.port), "-U", user, "-d", cluster.settings.database, "-c", sql]
    return subprocess.run(argv, env=client_env(password), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False)


def _run_file_by_hand(
    cluster: Cluster, sql: str, path: Path, database: str | None = None
) -> subprocess.CompletedProcess[str]:
    path.write_text(sql)
    argv = [pg_tool("psql"), "-w", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(cluster.settings.port), "-U", cluster.settings.user,
            "-d", database or cluster.settings.database, "-f", str(path)]
    return subprocess.run(argv, env=client_env(PASSWORD), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S, check=False)


APP_INIT = InitSql(major=SERVER_MAJOR, extensions=("uuid-ossp", "pgcrypto"), read_only_role="app_readonly", extra_sql=MARKER_SQL)


def test_first_start_runs_the_file_once_and_a_restart_skips_it(tmp_path: Path) -> None:
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, APP_INIT)
        assert outcome == "initialised"
        with running_postgres(cluster):
            assert _ok(psql(cluster, "SELECT count(*) FROM init_runs", password=PASSWORD)) == "1"
        outcome, cluster = entrypoint_start(cluster.settings, root, APP_INIT)
        assert outcome == "skipped"
        with running_postgres(cluster):
            runs = _ok(psql(cluster, "SELECT count(*) FROM init_runs", password=PASSWORD))
            assert runs == "1", f"the init file ran {runs} times; the entrypoint runs it on an empty data dir only"
            # The file is idempotent: run again by hand (without the non-idempotent marker) it changes nothing.
            again = InitSql(major=SERVER_MAJOR, extensions=APP_INIT.extensions, read_only_role=APP_INIT.read_only_role)
            _ok(_run_file_by_hand(cluster, render_init_sql(again), tmp_path / "again.sql"))
            _ok(_run_file_by_hand(cluster, render_init_sql(again), tmp_path / "again.sql"))
            counts = _ok(psql(cluster, "SELECT (SELECT count(*) FROM pg_extension WHERE extname IN "
                                       "('uuid-ossp','pgcrypto')) || ' ' || (SELECT count(*) FROM pg_roles "
                                       "WHERE rolname = 'app_readonly')", password=PASSWORD))
            assert counts == "2 1"


def test_extensions_and_read_only_role_work_for_tables_the_app_creates_later() -> None:
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, APP_INIT)
        assert outcome == "initialised"
        with running_postgres(cluster):
            def app(sql: str) -> str:
                return _ok(psql(cluster, sql, password=PASSWORD))

            installed = app("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension "
                            "WHERE extname IN ('uuid-ossp', 'pgcrypto')")
            assert installed == "pgcrypto,uuid-ossp"
            # Each extension's functions, in the app's database, callable by the app's role.
            assert app("SELECT length(uuid_generate_v4()::text)") == "36"
            assert app("SELECT crypt('pw', gen_salt('bf')) LIKE '$2a$%'") == "t"
            role = app("SELECT rolcanlogin || ' ' || rolsuper FROM pg_roles WHERE rolname = 'app_readonly'")
            assert role == "false false", "the read-only role must be a NOLOGIN group role"

            # After the init: the app (POSTGRES_USER) creates a table, and a login role joins the group.
            app("CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL)")
            app("INSERT INTO orders (total) VALUES (10), (20)")
            app(f"CREATE ROLE reporter LOGIN PASSWORD '{READER_PASSWORD}' IN ROLE app_readonly")

            def reporter(sql: str) -> subprocess.CompletedProcess[str]:
                return _as(cluster, "reporter", READER_PASSWORD, sql)

            assert _ok(reporter("SELECT sum(total) FROM orders")) == "30"
            assert _ok(reporter("SELECT last_value FROM orders_id_seq")) == "2"
            assert _ok(reporter("SELECT count(*) FROM init_runs")) == "1"  # created by extra_sql, after the grants
            for write in ("INSERT INTO orders (total) VALUES (1)", "DELETE FROM orders",
                          "CREATE TABLE reporter_table (x int)"):
                refused = reporter(write)
                assert refused.returncode != 0, f"read-only member could run {write!r}"
                assert "permission denied" in refused.stderr, refused.stderr
            cannot_login = _as(cluster, "app_readonly", READER_PASSWORD, "SELECT 1")
            assert cannot_login.returncode != 0


def test_a_failing_statement_stops_the_first_start_and_applies_nothing() -> None:
    """ON_ERROR_STOP plus the entrypoint's `set -e`: the container stops. The file is one transaction, so the
    extensions and role before the failing statement are rolled back; and the next start skips the init."""
    failing = InitSql(major=SERVER_MAJOR, extensions=("uuid-ossp",), read_only_role="app_readonly", extra_sql="SELECT 1/0;")
    with server_workdir() as root:
        with pytest.raises(InitFailed) as failed:
            entrypoint_start(_settings(), root, failing)
        assert "division by zero" in failed.value.output
        cluster = failed.value.cluster
        outcome, cluster = entrypoint_start(cluster.settings, root, failing)
        assert outcome == "skipped", "PG_VERSION exists after a failed init, so the entrypoint never retries it"
        with running_postgres(cluster):
            left = _ok(psql(cluster, "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'uuid-ossp') || ' '"
                                     " || (SELECT count(*) FROM pg_roles WHERE rolname = 'app_readonly')",
                            password=PASSWORD))
    assert left == "0 0", f"a failed init file left extensions/roles behind: {left}"


def test_every_allow_listed_extension_installs() -> None:
    # Reverse order: earthdistance comes before cube, which it requires.
    listed = CONTRIB_EXTENSIONS_BY_MAJOR[SERVER_MAJOR]
    everything = InitSql(major=SERVER_MAJOR, extensions=tuple(sorted(listed, reverse=True)))
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, everything)
        assert outcome == "initialised"
        with running_postgres(cluster):
            installed = _ok(psql(cluster, "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
                                 password=PASSWORD))
    assert set(installed.split(",")) == listed | {"plpgsql"}


# ---------------------------------------------------------------------------------------------------------------
# For any valid settings the file runs, and runs again (idempotent), on a real server.

@pytest.fixture(scope="module")
def db() -> Iterator[Cluster]:
    with postgres_server(_settings(), PASSWORD) as cluster:
        yield cluster


_example_ids = itertools.count()
ROLES = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z").filter(
    lambda r: not r.startswith("pg_") and r not in {"public", "none", "current_user", "session_user", "current_role",
                                                    "app_owner"}
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extensions=st.lists(st.sampled_from(sorted(CONTRIB_EXTENSIONS_BY_MAJOR[SERVER_MAJOR])), unique=True,
                        max_size=4).map(tuple),
    role=st.none() | ROLES,
)
def test_any_valid_settings_run_twice_on_a_real_server(
    db: Cluster, tmp_path_factory: pytest.TempPathFactory, extensions: tuple[str, ...], role: str | None
) -> None:
    sql = render_init_sql(InitSql(major=SERVER_MAJOR, extensions=extensions, read_only_role=role))
    path = tmp_path_factory.mktemp("init") / "init.sql"
    # A fresh database per example, as on a first start: no extension left by an earlier example.
    database = f"example_{next(_example_ids)}"
    _ok(psql(db, f"CREATE DATABASE {database}", password=PASSWORD))
    for attempt in ("first", "second"):
        ran = _run_file_by_hand(db, sql, path, database)
        assert ran.returncode == 0, f"{attempt} run failed: {ran.stderr}\n{sql}"
    installed = _ok(psql(db, "SELECT string_agg(extname, ',') FROM pg_extension", password=PASSWORD,
                         database=database))
    assert set(extensions) <= set(installed.split(","))
    if role is not None:
        login = _ok(psql(db, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'", password=PASSWORD))
        assert login == "f"
        readable = _ok(psql(db, f"SELECT has_schema_privilege('{role}', 'public', 'USAGE')", password=PASSWORD))
        assert readable == "t"


# ---------------------------------------------------------------------------------------------------------------
# A changed file reaches an existing cluster: the Database component's `<name>-init-sql` command.

def _apply(cluster: Cluster, sql: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """init_sql_apply_command as Pulumi runs it on the Docker host: the file on stdin, a stand-in docker whose
    container has the env components/database.py gives the real one."""
    s = cluster.settings
    container = {"running": True, "env": {
        "PATH": f"{pg_bin()}:/usr/bin:/bin", "POSTGRES_PASSWORD": PASSWORD, "POSTGRES_USER": s.user,
        "POSTGRES_DB": s.database, "PGPORT": str(s.port), "PGPASSFILE": os.path.join(os.devnull, "pgpass"),
    }}
    config = {"log": str(tmp / "docker.log"), "shell": ["dash"], "containers": {"db-postgres": container}, "volumes": {}}
    env = {**install_docker_shim(tmp, config), "HOME": str(tmp)}
    env["PATH"] = f"{tmp}:/usr/bin:/bin"
    command = init_sql_apply_command(container="db-postgres", user=s.user, database=s.database, port=s.port)
    return run_host_command(command, env=env, cwd=tmp, stdin=sql)


def test_a_changed_file_reaches_the_running_cluster_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    first = InitSql(major=SERVER_MAJOR, extensions=("uuid-ossp",))
    later = InitSql(major=SERVER_MAJOR, extensions=("uuid-ossp", "pgcrypto"), read_only_role="reporting", extra_sql=MARKER_SQL)
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, first)
        assert outcome == "initialised"
        with running_postgres(cluster):
            for attempt in ("change", "rerun"):
                done = _apply(cluster, render_init_sql(later), tmp_path)
                assert done.returncode == 0, f"{attempt}: {done.stdout}{done.stderr}"
            installed = _ok(_as(cluster, cluster.settings.user, PASSWORD, "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"))
            assert installed == "pgcrypto,plpgsql,uuid-ossp"
            assert _ok(_as(cluster, cluster.settings.user, PASSWORD, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'reporting'")) == "f"
            # extra_sql ran on the change only: the rerun found its digest recorded.
            assert _ok(_as(cluster, cluster.settings.user, PASSWORD, "SELECT count(*) FROM init_runs")) == "1"
            broken = _apply(cluster, render_init_sql(InitSql(major=SERVER_MAJOR, extra_sql="SELECT no_such_function();")), tmp_path)
            assert broken.returncode != 0 and "no_such_function" in broken.stderr, broken.stderr


# One of each kind the loader refuses (renderers/init_sql._NOT_IN_A_TRANSACTION), with the server's own word.
TRANSACTION_UNSAFE = [
    "ALTER SYSTEM SET work_mem = '8MB';",
    "CREATE DATABASE extra;",
    "VACUUM;",
    "CREATE TABLE t (a int); CREATE INDEX CONCURRENTLY t_a ON t (a);",
]


@pytest.mark.parametrize("statement", TRANSACTION_UNSAFE)
def test_statements_the_loader_refuses_fail_the_real_first_start(statement: str) -> None:
    """The refusal is the server's rule: in the rendered file each one stops the first start."""
    from renderers.init_sql import transaction_unsafe_statements

    assert transaction_unsafe_statements(statement), statement
    with pytest.raises(ValueError, match="cannot run in the init file"):
        InitSql(major=SERVER_MAJOR, extra_sql=statement)
    # Rendered as the file would be if the loader let it through: the SQL in place of a harmless placeholder.
    rendered = render_init_sql(InitSql(major=SERVER_MAJOR, extra_sql="SELECT 'placeholder';")).replace("SELECT 'placeholder';", statement)
    with server_workdir() as root:
        with pytest.raises(InitFailed) as failed:
            entrypoint_start(_settings(), root, rendered_file=rendered)
    assert "cannot run inside a transaction block" in failed.value.output, failed.value.output[-2000:]


# ---------------------------------------------------------------------------------------------------------------
# A first deploy runs the file twice: the entrypoint on the empty cluster, then the init-sql command on the running
# server (components/database.py). A non-idempotent initSql must change the cluster once.

NOT_IDEMPOTENT = "CREATE TABLE t (id int PRIMARY KEY, note text);\nINSERT INTO t VALUES (1, 'first');"


def test_a_non_idempotent_init_sql_runs_once_on_a_first_deploy_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    init = InitSql(major=SERVER_MAJOR, extensions=("pgcrypto",), extra_sql=NOT_IDEMPOTENT)
    sql = render_init_sql(init)
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, init)
        assert outcome == "initialised"
        with running_postgres(cluster):
            first = _apply(cluster, sql, tmp_path)  # the command's create, right after the container is healthy
            assert first.returncode == 0, f"the first deploy's init-sql command failed: {first.stdout}{first.stderr}"
            assert "was applied before: not run again" in first.stdout + first.stderr
            rows = _ok(psql(cluster, "SELECT count(*), min(note) FROM t", password=PASSWORD))
            assert rows == "1|first"
            recorded = _ok(psql(cluster, f"SELECT count(*) FROM {APPLIED_TABLE}", password=PASSWORD))
            assert recorded == "1"
            before = _ok(psql(cluster, "SELECT xmin::text, applied_at FROM " + APPLIED_TABLE, password=PASSWORD))
            again = _apply(cluster, sql, tmp_path)  # a second `up` (or a rerun by hand)
            assert again.returncode == 0, again.stderr
            assert _ok(psql(cluster, "SELECT count(*) FROM t", password=PASSWORD)) == "1"
            assert _ok(psql(cluster, "SELECT xmin::text, applied_at FROM " + APPLIED_TABLE, password=PASSWORD)) == before
            # The app's schema has only what the app made: the record lives in its own schema.
            public = _ok(psql(cluster, "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'",
                              password=PASSWORD))
            assert public == "t"


def test_without_the_record_the_same_file_fails_its_second_run(tmp_path: Path) -> None:
    """What the record prevents: the server refuses the non-idempotent text the second time."""
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, InitSql(major=SERVER_MAJOR))
        with running_postgres(cluster):
            for attempt in ("first", "second"):
                ran = _run_file_by_hand(cluster, f"BEGIN;\n{NOT_IDEMPOTENT}\nCOMMIT;\n", tmp_path / "bare.sql")
            assert ran.returncode != 0 and 'relation "t" already exists' in ran.stderr, ran.stderr


def test_a_changed_init_sql_runs_once_more(tmp_path: Path) -> None:
    first = InitSql(major=SERVER_MAJOR, extra_sql=NOT_IDEMPOTENT)
    later = InitSql(major=SERVER_MAJOR, extra_sql=NOT_IDEMPOTENT + "\nINSERT INTO t VALUES (2, 'second');")
    with server_workdir() as root:
        outcome, cluster = entrypoint_start(_settings(), root, first)
        with running_postgres(cluster):
            # A changed text runs in full: its CREATE TABLE meets the table the first text made, and the
            # transaction leaves nothing of it behind.
            failed = _apply(cluster, render_init_sql(later), tmp_path)
            assert failed.returncode != 0 and 'relation "t" already exists' in failed.stderr, failed.stderr
            assert _ok(psql(cluster, "SELECT count(*) FROM t", password=PASSWORD)) == "1"
            assert _ok(psql(cluster, f"SELECT count(*) FROM {APPLIED_TABLE}", password=PASSWORD)) == "1"
            written_as_a_change = InitSql(major=SERVER_MAJOR, extra_sql="INSERT INTO t VALUES (2, 'second');")
            for attempt in ("change", "rerun"):
                done = _apply(cluster, render_init_sql(written_as_a_change), tmp_path)
                assert done.returncode == 0, f"{attempt}: {done.stderr}"
            assert _ok(psql(cluster, "SELECT string_agg(note, ',' ORDER BY id) FROM t", password=PASSWORD)) == \
                "first,second"
