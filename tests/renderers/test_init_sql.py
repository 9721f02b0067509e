"""The init SQL file: what it holds for any valid settings, and what it refuses.

tests/real/test_init_sql_real.py runs it with the postgres image's own init-file code on a real server.
"""
from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.init_sql import (
    CONTRIB_EXTENSIONS,
    INIT_SQL_PATH,
    InitSql,
    init_sql_problems,
    init_sql_uploads,
    render_init_sql,
    role_name_problem,
)

ROLES = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z").filter(lambda r: role_name_problem(r) is None)
EXTENSIONS = st.lists(st.sampled_from(sorted(CONTRIB_EXTENSIONS)), unique=True, max_size=6).map(tuple)
EXTRA = st.text(max_size=200).filter(lambda t: "\0" not in t)


def _statements(sql: str) -> list[str]:
    """Top-level lines that are not comments (the DO blocks' bodies are indented or their own lines)."""
    return [line for line in sql.splitlines() if line and not line.startswith("--")]


def test_upload_path_is_a_sql_file_the_entrypoint_runs() -> None:
    path = PurePosixPath(INIT_SQL_PATH)
    # docker_process_init_files runs /docker-entrypoint-initdb.d/* and, for *.sql, docker_process_sql -f.
    assert path.parent == PurePosixPath("/docker-entrypoint-initdb.d")
    assert path.suffix == ".sql"
    assert init_sql_uploads(InitSql()) == {INIT_SQL_PATH: render_init_sql(InitSql())}


def test_app_settings_render_idempotent_statements_in_one_transaction() -> None:
    sql = render_init_sql(InitSql(extensions=("uuid-ossp", "pgcrypto"), read_only_role="app_readonly"))
    lines = _statements(sql)
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp" CASCADE;' in lines
    assert 'CREATE EXTENSION IF NOT EXISTS "pgcrypto" CASCADE;' in lines
    assert "IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_readonly') THEN" in sql
    assert 'CREATE ROLE "app_readonly" NOLOGIN;' in sql
    for grant in ('GRANT USAGE ON SCHEMA public TO "app_readonly";',
                  'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "app_readonly";',
                  'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "app_readonly";',
                  'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO "app_readonly";'):
        assert grant in lines
    assert "ALTER ROLE" not in sql, "an existing role must never be altered (it could be the app's own)"


def test_empty_settings_render_an_empty_transaction() -> None:
    assert _statements(render_init_sql(InitSql())) == ["BEGIN;", "COMMIT;"]


@given(extensions=EXTENSIONS, role=st.none() | ROLES, extra=EXTRA)
def test_any_valid_settings_render_each_part_once_inside_the_transaction(
    extensions: tuple[str, ...], role: str | None, extra: str
) -> None:
    sql = render_init_sql(InitSql(extensions=extensions, read_only_role=role, extra_sql=extra))
    assert sql.startswith("-- ") and sql.endswith("\nCOMMIT;\n")
    begin = sql.index("\nBEGIN;\n")
    generated = sql.split("\n-- extra_sql\n")[0] + "\n"
    for name in extensions:
        assert generated.count(f'\nCREATE EXTENSION IF NOT EXISTS "{name}" CASCADE;\n') == 1
    assert generated.count("\nCREATE EXTENSION") == len(extensions)
    assert generated.count("CREATE ROLE \"") == (role is not None)
    if role is not None:
        assert f'CREATE ROLE "{role}" NOLOGIN;' in generated
    if extra.strip():
        # Verbatim, after everything generated, and ended before COMMIT whatever its last line was.
        at = sql.index(extra.rstrip("\n"), begin)
        assert sql[at:].endswith(extra.rstrip("\n") + "\n;\nCOMMIT;\n")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extensions": "uuid-ossp"}, "expected a tuple of extension names"),
        ({"extensions": ("uuid_ossp",)}, "'uuid_ossp' is not a contrib extension"),
        ({"extensions": ("postgis",)}, "'postgis' is not a contrib extension"),
        ({"extensions": ("adminpack",)}, "'adminpack' is not a contrib extension"),  # gone in PostgreSQL 17
        ({"extensions": ("pgcrypto", "pgcrypto")}, "pgcrypto listed more than once"),
        ({"read_only_role": "ReadOnly"}, "is not an identifier"),
        ({"read_only_role": "pg_reader"}, "starts with 'pg_'"),
        ({"read_only_role": "public"}, "reserved role name"),
        ({"read_only_role": "current_user"}, "reserved role name"),
        ({"read_only_role": "r" * 64}, "at most 63 characters"),
        ({"read_only_role": 'x"; DROP TABLE t; --'}, "is not an identifier"),
        ({"extra_sql": "SELECT 1;\0"}, "NUL"),
        ({"extra_sql": b"SELECT 1"}, "expected SQL text"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        InitSql(**kwargs)
    assert message in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    assert init_sql_problems(InitSql()) == []
    with pytest.raises(ValueError) as refused:
        InitSql(extensions=("nope",), read_only_role="pg_x", extra_sql="\0")
    text = str(refused.value)
    assert text.count("\n  - ") == 3
    for field in ("extensions:", "read_only_role:", "extra_sql:"):
        assert field in text


def test_allow_list_is_the_contrib_extensions_every_supported_major_ships() -> None:
    assert {"uuid-ossp", "pgcrypto", "pg_trgm", "citext", "hstore", "pg_stat_statements"} <= CONTRIB_EXTENSIONS
    # Removed in PostgreSQL 17; languages whose libraries the alpine image drops; always there anyway.
    assert not {"adminpack", "old_snapshot", "plperl", "plpython3u", "pltcl", "plpgsql"} & CONTRIB_EXTENSIONS


@pytest.mark.parametrize("sql,found", [
    ("ALTER SYSTEM SET work_mem = '8MB';", ["ALTER SYSTEM"]),
    ("create table t (a int);\n  vacuum analyze t;", ["VACUUM"]),
    ("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", ["CREATE INDEX CONCURRENTLY"]),
    ("REINDEX (VERBOSE) TABLE CONCURRENTLY t;", ["REINDEX ... CONCURRENTLY"]),
    # Words inside literals, quoted identifiers, dollar quotes and comments are not statements.
    ("SELECT 'ALTER SYSTEM'; -- vacuum\n/* create database x; */ SELECT \"vacuum\";", []),
    ("DO $$ BEGIN RAISE NOTICE 'x'; END $$; DO $f$ BEGIN PERFORM 1; END; $f$;", []),
    ("SELECT E'it\\'s; VACUUM';", []),
])
def test_transaction_unsafe_statements_are_found_only_where_they_are_statements(sql, found):
    from renderers.init_sql import transaction_unsafe_statements

    assert transaction_unsafe_statements(sql) == found


@pytest.mark.parametrize("sql", ["COMMIT;", "CREATE TABLE t (a int); BEGIN;", "rollback"])
def test_transaction_control_in_extra_sql_is_refused(sql):
    with pytest.raises(ValueError, match="would split the init file's one transaction"):
        InitSql(extra_sql=sql)


def test_alter_system_in_init_sql_is_refused_by_the_loader_naming_the_key():
    from config import ConfigError, parse_stack_config
    from tests import harness

    values = harness.stack_config_as_user_sets_it("dev")
    values[f"{harness.PROJECT}:database"] = {**values[f"{harness.PROJECT}:database"], "initSql": "ALTER SYSTEM SET work_mem = '8MB';"}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(harness.raw_config(values))
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{harness.PROJECT}:database.initSql") and "ALTER SYSTEM" in m for m in messages), messages
