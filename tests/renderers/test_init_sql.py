"""The init SQL file: what it holds for any valid settings, and what it refuses.

tests/real/test_init_sql_real.py runs it with the postgres image's own init-file code on a real server.
"""
from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.init_sql import (
    APPLIED_TABLE,
    CONTRIB_EXTENSIONS,
    CONTRIB_EXTENSIONS_BY_MAJOR,
    INIT_SQL_PATH,
    InitSql,
    init_sql_problems,
    extra_sql_digest,
    init_sql_uploads,
    preload_libraries,
    render_init_sql,
    role_name_problem,
)

ROLES = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z").filter(lambda r: role_name_problem(r) is None)
EXTENSIONS = st.lists(st.sampled_from(sorted(CONTRIB_EXTENSIONS)), unique=True, max_size=6).map(tuple)


def _accepted(extra: str) -> bool:
    try:
        InitSql(major=18, extra_sql=extra)
    except ValueError:
        return False
    return True


EXTRA = st.text(max_size=200).filter(_accepted)


def _statements(sql: str) -> list[str]:
    """Top-level lines that are not comments (the DO blocks' bodies are indented or their own lines)."""
    return [line for line in sql.splitlines() if line and not line.startswith("--")]


def test_upload_path_is_a_sql_file_the_entrypoint_runs() -> None:
    path = PurePosixPath(INIT_SQL_PATH)
    # docker_process_init_files runs /docker-entrypoint-initdb.d/* and, for *.sql, docker_process_sql -f.
    assert path.parent == PurePosixPath("/docker-entrypoint-initdb.d")
    assert path.suffix == ".sql"
    assert init_sql_uploads(InitSql(major=18)) == {INIT_SQL_PATH: render_init_sql(InitSql(major=18))}


def test_app_settings_render_idempotent_statements_in_one_transaction() -> None:
    sql = render_init_sql(InitSql(major=18, extensions=("uuid-ossp", "pgcrypto"), read_only_role="app_readonly"))
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
    assert _statements(render_init_sql(InitSql(major=18))) == ["BEGIN;", "COMMIT;"]


@given(extensions=EXTENSIONS, role=st.none() | ROLES, extra=EXTRA)
def test_any_valid_settings_render_each_part_once_inside_the_transaction(
    extensions: tuple[str, ...], role: str | None, extra: str
) -> None:
    sql = render_init_sql(InitSql(major=18, extensions=extensions, read_only_role=role, extra_sql=extra))
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
        # Verbatim, after everything generated, ended whatever its last line was, and recorded by its digest in
        # the branch psql runs only when that digest is not recorded yet.
        digest = extra_sql_digest(extra)
        at = sql.index("\n-- extra_sql\n" + extra.rstrip("\n"), begin)
        assert sql[at:].endswith(
            f"\n{extra.rstrip(chr(10))}\n;\nINSERT INTO {APPLIED_TABLE} (sha256) VALUES ('{digest}');\n\\endif\nCOMMIT;\n"
        )
        check = f"WHERE sha256 = '{digest}') THEN 'true' ELSE 'false' END AS init_sql_applied \\gset\n\\if :init_sql_applied\n"
        assert sql.count(check) == 1 and sql.index(check) < at
    else:
        assert APPLIED_TABLE not in sql


def test_extra_sql_digest_is_the_sha256_of_its_text() -> None:
    assert extra_sql_digest("SELECT 1;") == hashlib.sha256(b"SELECT 1;").hexdigest()
    assert extra_sql_digest("SELECT 1;") != extra_sql_digest("SELECT 1; ")


@pytest.mark.parametrize("sql", ["SELECT 1;\n\\endif", "SELECT 1; \\q", "\\i /etc/passwd", "SELECT 1 \\gset"])
def test_psql_meta_commands_in_extra_sql_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="psql meta-command"):
        InitSql(major=18, extra_sql=sql)


@pytest.mark.parametrize("sql", ["SELECT E'a\\\\b';", "SELECT 'C:\\dir';", 'SELECT 1 AS "a\\b";', "-- \\q\nSELECT 1;",
                                 "DO $$ BEGIN RAISE NOTICE '\\'; END $$;"])
def test_backslashes_inside_literals_names_and_comments_are_not_meta_commands(sql: str) -> None:
    InitSql(major=18, extra_sql=sql)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extensions": "uuid-ossp"}, "expected a tuple of extension names"),
        ({"extensions": ("uuid_ossp",)}, "'uuid_ossp' is not a contrib extension"),
        ({"extensions": ("postgis",)}, "'postgis' is not a contrib extension"),
        ({"extensions": ("adminpack",)}, "'adminpack' is not shipped with PostgreSQL 18 (only with 14, 15, 16)"),
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
        InitSql(major=18, **kwargs)
    assert message in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    assert init_sql_problems(InitSql(major=18)) == []
    with pytest.raises(ValueError) as refused:
        InitSql(major=18, extensions=("nope",), read_only_role="pg_x", extra_sql="\0")
    text = str(refused.value)
    assert text.count("\n  - ") == 3
    for field in ("extensions:", "read_only_role:", "extra_sql:"):
        assert field in text


def test_allow_list_is_the_contrib_extensions_every_supported_major_ships() -> None:
    assert {"uuid-ossp", "pgcrypto", "pg_trgm", "citext", "hstore", "pg_stat_statements"} <= CONTRIB_EXTENSIONS
    # Removed in PostgreSQL 17; new in 15 and 18; languages whose libraries the alpine image drops; always there.
    assert not {"adminpack", "old_snapshot", "pg_walinspect", "pg_logicalinspect", "plperl", "plpython3u", "pltcl",
                "plpgsql"} & CONTRIB_EXTENSIONS
    assert CONTRIB_EXTENSIONS == frozenset.intersection(*CONTRIB_EXTENSIONS_BY_MAJOR.values())


@pytest.mark.parametrize(("major", "name", "shipped"), [
    (14, "pg_walinspect", False), (15, "pg_walinspect", True), (16, "pg_walinspect", True), (18, "pg_walinspect", True),
    (14, "adminpack", True), (16, "old_snapshot", True), (17, "adminpack", False), (17, "old_snapshot", False),
    (17, "pg_logicalinspect", False), (18, "pg_logicalinspect", True), (14, "pg_surgery", True),
])
def test_each_major_ships_what_its_release_notes_say(major: int, name: str, shipped: bool) -> None:
    assert (name in CONTRIB_EXTENSIONS_BY_MAJOR[major]) is shipped


def test_an_extension_the_major_does_not_ship_is_refused_naming_the_majors_that_do() -> None:
    with pytest.raises(ValueError) as refused:
        InitSql(major=14, extensions=("pg_walinspect", "uuid-ossp"))
    assert str(refused.value).splitlines()[1:] == [
        "  - extensions: 'pg_walinspect' is not shipped with PostgreSQL 14 (only with 15, 16, 17, 18): CREATE "
        "EXTENSION would fail the first start"]
    InitSql(major=15, extensions=("pg_walinspect",))


def test_an_unknown_major_with_extensions_is_refused() -> None:
    with pytest.raises(ValueError, match="no extension list for PostgreSQL 13"):
        InitSql(major=13, extensions=("pgcrypto",))
    InitSql(major=13)


def test_only_pg_stat_statements_needs_preloading() -> None:
    assert preload_libraries(()) == ()
    assert preload_libraries(("pgcrypto", "pg_stat_statements", "pg_trgm")) == ("pg_stat_statements",)
    everything = tuple(sorted(frozenset.union(*CONTRIB_EXTENSIONS_BY_MAJOR.values())))
    assert preload_libraries(everything) == ("pg_stat_statements",)


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
        InitSql(major=18, extra_sql=sql)


def test_alter_system_in_init_sql_is_refused_by_the_loader_naming_the_key():
    from config import ConfigError, parse_stack_config
    from tests import harness

    values = harness.stack_config_as_user_sets_it("dev")
    values[f"{harness.PROJECT}:database"] = {**values[f"{harness.PROJECT}:database"], "initSql": "ALTER SYSTEM SET work_mem = '8MB';"}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(harness.raw_config(values))
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{harness.PROJECT}:database.initSql") and "ALTER SYSTEM" in m for m in messages), messages


@pytest.mark.parametrize(("version", "refused"), [("14.20", True), ("16.11", False), ("18.1", False)])
def test_an_extension_the_configured_major_lacks_is_refused_by_the_loader_naming_the_key(version: str, refused: bool):
    from config import ConfigError, parse_stack_config
    from tests import harness

    values = harness.stack_config_as_user_sets_it("dev")
    values[f"{harness.PROJECT}:database"] = {**values[f"{harness.PROJECT}:database"], "version": version,
                                             "extensions": ["pg_walinspect"]}
    if not refused:
        parse_stack_config(harness.raw_config(values))
        return
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(harness.raw_config(values))
    messages = [str(p) for p in caught.value.problems]
    assert any(m.startswith(f"{harness.PROJECT}:database.extensions") and "not shipped with PostgreSQL 14" in m
               for m in messages), messages
