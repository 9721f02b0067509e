"""SQL the official postgres image runs once, when it creates the cluster (extensions, a read-only group role).

What the image does with it (docker-library/postgres 16/alpine3.23/docker-entrypoint.sh@6edb0a8c4def, the same
file for 18/alpine3.23):
- `docker_setup_env` sets DATABASE_ALREADY_EXISTS when `$PGDATA/PG_VERSION` is non-empty; `_main` runs initdb,
  the temporary socket-only server, `docker_setup_db` and `docker_process_init_files /docker-entrypoint-initdb.d/*`
  only when it is not set. So the file runs on the first start with an empty data directory and never again: a
  changed file reaches an existing cluster only by running it by hand (it is idempotent for that reason).
- `docker_process_init_files` runs `*.sql` files in glob (name) order with `docker_process_sql -f <file>`, i.e.
  `psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname "$POSTGRES_DB"`:
  as the cluster's superuser (this project's database.user), connected to the app's database.
- The entrypoint runs under `set -Eeo pipefail`, so a failing statement stops the container before the
  temporary server is stopped. PG_VERSION already exists by then, so the next start skips initialisation
  altogether: a failed init file is not retried. The rendered file is therefore one transaction, so such a failure
  leaves none of it half-applied (and the file can be run again by hand once fixed).
"""
from __future__ import annotations

import re

import shlex
from dataclasses import dataclass

from renderers.names import POSTGRES_IDENTIFIER

# Where the Database component uploads the file; the "10-" prefix leaves room before and after it in glob order.
INIT_SQL_PATH = "/docker-entrypoint-initdb.d/10-init.sql"

# Extensions CREATE EXTENSION can install from the image itself: contrib is built and installed there
# (16/alpine3.23/Dockerfile@6edb0a8c4def: `make install-world-bin; make -C contrib install`, configured
# --with-uuid=e2fs for uuid-ossp, --with-openssl for pgcrypto and sslinfo, --with-libxml for xml2), and shipped
# by Debian's postgresql-15 too, which the real tests run. Left out: adminpack and old_snapshot (removed from
# contrib in PostgreSQL 17), the plperl/plpython/pltcl languages and their transforms (the image removes their
# runtime libraries: "Remove plperl, plpython and pltcl dependencies by default", same Dockerfile), and plpgsql
# (always installed).
CONTRIB_EXTENSIONS = frozenset({
    "amcheck", "autoinc", "bloom", "btree_gin", "btree_gist", "citext", "cube", "dblink", "dict_int",
    "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch", "hstore", "insert_username", "intagg",
    "intarray", "isn", "lo", "ltree", "moddatetime", "pageinspect", "pg_buffercache", "pg_freespacemap",
    "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility", "pg_walinspect", "pgcrypto",
    "pgrowlocks", "pgstattuple", "postgres_fdw", "refint", "seg", "sslinfo", "tablefunc", "tcn",
    "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
})

# The config layer's identifier rule (config/model.py): lowercase, so the name means the same quoted or not.
# CREATE ROLE refuses "public" and "none" even quoted ("role name ... is reserved") and any name starting with
# pg_; the current_user family are keywords that name another role when unquoted.
_RESERVED_ROLES = frozenset({"public", "none", "current_user", "session_user", "current_role"})
# Dollar-quote tag of the DO blocks; a role name (an identifier) can never contain '$', so it cannot end them.
_DO = "$init$"

# Statements PostgreSQL refuses inside a transaction block ("... cannot run inside a transaction block",
# PreventInTransactionBlock in src/backend/commands and tcop/utility.c). extra_sql runs between the file's BEGIN
# and COMMIT, so any of these fails the first start every time; the loader refuses them by name instead.
# tests/real/test_init_sql_real.py runs each one in the rendered file against the real server.
_NOT_IN_A_TRANSACTION = (
    ("ALTER SYSTEM", r"ALTER\s+SYSTEM\b"),
    ("CREATE DATABASE", r"CREATE\s+DATABASE\b"),
    ("DROP DATABASE", r"DROP\s+DATABASE\b"),
    ("CREATE TABLESPACE", r"CREATE\s+TABLESPACE\b"),
    ("DROP TABLESPACE", r"DROP\s+TABLESPACE\b"),
    ("VACUUM", r"VACUUM\b"),
    ("CREATE INDEX CONCURRENTLY", r"CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b"),
    ("DROP INDEX CONCURRENTLY", r"DROP\s+INDEX\s+CONCURRENTLY\b"),
    ("REINDEX ... CONCURRENTLY", r"REINDEX\s+(\(.*?\)\s*)?\w+\s+CONCURRENTLY\b"),
)
# Transaction control: the server only warns, but the file stops being one transaction (a COMMIT makes what
# came before permanent even if a later statement fails; a ROLLBACK silently undoes it).
_TRANSACTION_CONTROL = (
    ("BEGIN / START TRANSACTION", r"(BEGIN|START\s+TRANSACTION)\b"),
    ("COMMIT / END", r"(COMMIT|END)\b"),
    ("ROLLBACK / ABORT", r"(ROLLBACK|ABORT)\b"),
)
# What is not SQL text to scan: string literals (with E'' backslash escapes), quoted identifiers, dollar-quoted
# bodies and comments. Blanked out so a word inside them never counts as a statement.
_NOT_CODE = re.compile(
    r"""(?xs)
    [Ee]'(?:[^'\\]|\\.|'')*'     # E'...' escape string
    | '(?:[^']|'')*'                  # '...'
    | "(?:[^"]|"")*"                  # "identifier"
    | (\$[A-Za-z_]*\$).*?\1        # $tag$ ... $tag$
    | --[^\n]*                       # -- comment
    | /\*.*?\*/                     # /* comment */
    """
)


def _statements_of(sql: str, kinds: tuple[tuple[str, str], ...]) -> list[str]:
    code = _NOT_CODE.sub(" ", sql)
    starts = [part.strip() for part in code.split(";")]
    return [name for name, pattern in kinds if any(re.match(pattern, start, flags=re.IGNORECASE) for start in starts)]


def transaction_unsafe_statements(sql: str) -> list[str]:
    """Which statements ``sql`` holds (at the start of one) that PostgreSQL refuses in a transaction block."""
    return _statements_of(sql, _NOT_IN_A_TRANSACTION)


def transaction_control_statements(sql: str) -> list[str]:
    """Which transaction-control statements ``sql`` holds: they would split the file's one transaction."""
    return _statements_of(sql, _TRANSACTION_CONTROL)


def role_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a role this file creates, or None."""
    if not isinstance(name, str) or not POSTGRES_IDENTIFIER.match(name):
        return (f"{name!r} is not an identifier: lowercase letters, digits and '_', starting with a letter or "
                "'_', at most 63 characters")
    if name.startswith("pg_"):
        return f"{name!r} starts with 'pg_', which PostgreSQL reserves for its own roles"
    if name in _RESERVED_ROLES:
        return f"{name!r} is a reserved role name"
    return None


@dataclass(frozen=True, kw_only=True)
class InitSql:
    """What the cluster gets on first start, besides the user and database the entrypoint creates itself."""

    extensions: tuple[str, ...] = ()  # e.g. ("uuid-ossp", "pgcrypto"), created in the app's database
    # A NOLOGIN group role that can read every table in schema public, including tables created later by
    # POSTGRES_USER (the role that runs this file and, in this project, the app's role). Login roles get read
    # access by being granted it: CREATE ROLE reporting LOGIN PASSWORD '...' IN ROLE <read_only_role>.
    read_only_role: str | None = None
    # Appended verbatim inside the file's transaction, so it must be transaction-safe: no CREATE DATABASE,
    # VACUUM, ... CONCURRENTLY, COMMIT. Runs as the superuser in the app's database, once.
    extra_sql: str = ""

    def __post_init__(self) -> None:
        problems = init_sql_problems(self)
        if problems:
            raise ValueError("invalid init SQL settings:\n  - " + "\n  - ".join(problems))


def init_sql_problems(s: InitSql) -> list[str]:
    """Every problem at once, each naming the field (the config layer reports them all together)."""
    problems: list[str] = []
    if not isinstance(s.extensions, tuple):
        # A bare string would be read one character at a time.
        problems.append(f"extensions: got {s.extensions!r}; expected a tuple of extension names")
    else:
        for name in s.extensions:
            if name not in CONTRIB_EXTENSIONS:
                problems.append(
                    f"extensions: {name!r} is not a contrib extension the postgres image ships; one of "
                    f"{', '.join(sorted(CONTRIB_EXTENSIONS))}"
                )
        duplicates = sorted({n for n in s.extensions if isinstance(n, str) and s.extensions.count(n) > 1})
        if duplicates:
            problems.append(f"extensions: {', '.join(duplicates)} listed more than once")
    if s.read_only_role is not None:
        problem = role_name_problem(s.read_only_role)
        if problem:
            problems.append(f"read_only_role: {problem}")
    if not isinstance(s.extra_sql, str):
        problems.append(f"extra_sql: got {type(s.extra_sql).__name__}; expected SQL text")
    elif "\0" in s.extra_sql:
        problems.append("extra_sql: cannot hold a NUL character (psql stops reading there)")
    else:
        unsafe = transaction_unsafe_statements(s.extra_sql)
        if unsafe:
            problems.append(
                f"extra_sql: {', '.join(unsafe)} cannot run in the init file, which is one transaction "
                "(PostgreSQL refuses it inside a transaction block, so the first start would fail every time); "
                "run it by hand after the first deploy"
            )
        control = transaction_control_statements(s.extra_sql)
        if control:
            problems.append(
                f"extra_sql: {', '.join(control)} would split the init file's one transaction (a failure "
                "half-way would leave part of it applied); leave transaction control to the file"
            )
    return problems


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_only_role_sql(role: str) -> list[str]:
    r = _quoted(role)
    return [
        f"-- {role}: a group role (NOLOGIN) that reads everything in schema public. CREATE ROLE has no",
        "-- IF NOT EXISTS; an existing role is left as it is (never altered, so never locked out).",
        f"DO {_DO}",
        "BEGIN",
        f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {_literal(role)}) THEN",
        f"    CREATE ROLE {r} NOLOGIN;",
        "  END IF;",
        "END",
        f"{_DO};",
        "-- PUBLIC has CONNECT by default; granted explicitly so revoking it from PUBLIC keeps this role working.",
        f"DO {_DO}",
        "BEGIN",
        f"  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {_literal(role)});",
        "END",
        f"{_DO};",
        f"GRANT USAGE ON SCHEMA public TO {r};",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r};",
        f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {r};",
        "-- Tables and sequences created later by the role running this file (POSTGRES_USER, the app's role).",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {r};",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO {r};",
    ]


def render_init_sql(s: InitSql) -> str:
    """The file for INIT_SQL_PATH: idempotent (safe to run again by hand) and one transaction."""
    lines = [
        "-- Rendered by renderers/init_sql.py. The postgres image's entrypoint runs this once, when it creates",
        "-- the cluster: psql -v ON_ERROR_STOP=1 as POSTGRES_USER in POSTGRES_DB. One transaction, so a failure",
        "-- leaves nothing half-done; every statement is idempotent, so it can be run again by hand.",
        "BEGIN;",
    ]
    # CASCADE installs what an extension requires (earthdistance.control: requires = 'cube'), in any order.
    lines += [f"CREATE EXTENSION IF NOT EXISTS {_quoted(name)} CASCADE;" for name in s.extensions]
    if s.read_only_role is not None:
        lines += _read_only_role_sql(s.read_only_role)
    if s.extra_sql.strip():
        # The lone ';' ends a last statement written without one, so COMMIT is never swallowed into it.
        lines += ["-- extra_sql", s.extra_sql.rstrip("\n"), ";"]
    lines += ["COMMIT;", ""]
    return "\n".join(lines)


def init_sql_uploads(s: InitSql) -> dict[str, str]:
    """Container path -> content, for ContainerSpec.uploads (written before the entrypoint first runs)."""
    return {INIT_SQL_PATH: render_init_sql(s)}


def init_sql_apply_command(*, container: str, user: str, database: str, port: int) -> str:
    """Host sh, the rendered file on stdin: run it in the running container, as the entrypoint would have.

    The entrypoint runs the uploaded file only on a cluster's first start, so a later change (one more
    extension, a read-only role) would otherwise never reach the existing cluster. Every statement is
    idempotent, so running it again after a first start changes nothing. It connects like the entrypoint does
    (the superuser POSTGRES_USER, in POSTGRES_DB), over TCP on the container's own PGPORT with its
    POSTGRES_PASSWORD (components/database.py sets both), since initdb made local connections ask for it.
    """
    conn = f'-h 127.0.0.1 -p "${{PGPORT:-{port}}}" -U {shlex.quote(user)} -d {shlex.quote(database)}'
    inner = f'PGPASSWORD="${{POSTGRES_PASSWORD-}}" exec psql -X -q -w -v ON_ERROR_STOP=1 {conn}'
    return f"exec docker exec -i {shlex.quote(container)} sh -c {shlex.quote(inner)}\n"
