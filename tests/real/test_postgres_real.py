"""Debian's PostgreSQL, initialised and started with the Database component's settings.

initdb gets the component's INITDB_ARGS and the server exactly postgres_server_args
(only the port, the loopback listen address and the socket dir are this machine's),
so each assertion checks a rendered setting by its effect on the real server.
"""
from __future__ import annotations

import shlex
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.postgres import INITDB_ARGS, PostgresSettings, backup_command, postgres_healthcheck

from .processes import free_tcp_ports
from .postgres_process import (
    postgres_server,
    CLIENT_TIMEOUT_S,
    Cluster,
    client_env,
    init_cluster,
    pg_tool,
    psql,
    running_postgres,
    server_workdir,
    stop,
)

pytestmark = pytest.mark.real_binary

# Quotes, $ and a backslash: the password travels through a pwfile, env vars and sh -c.
PASSWORD = "pg'Pa$$w0rd\\\"x"
MEMORY_LIMIT_MB = 256
ROW_COUNT = 10_000
CONTAINER = "db-postgres"
CHECKSUM_SQL = (
    "SELECT count(*) || ' ' || md5(string_agg(format('%s|%s|%s', id, label, amount), ',' ORDER BY id)) FROM items"
)


def _settings() -> PostgresSettings:
    (port,) = free_tcp_ports(1)
    # user != database, so the entrypoint's CREATE DATABASE step is exercised; version only picks paths.
    return PostgresSettings(
        version="18.1", user="app_owner", database="app", port=port,
        listen_address="127.0.0.1", memory_limit_mb=MEMORY_LIMIT_MB,
    )


@pytest.fixture(scope="module")
def db() -> Iterator[Cluster]:
    with postgres_server(_settings(), PASSWORD) as cluster:
        yield cluster


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _healthcheck(settings: PostgresSettings) -> subprocess.CompletedProcess[str]:
    """The container's CMD-SHELL healthcheck, run as Docker would (/bin/sh -c), with the container's password.

    tests/real/test_postgres_healthcheck_real.py runs it with a password the cluster does not have."""
    kind, script = postgres_healthcheck(settings)
    assert kind == "CMD-SHELL"
    env = {**client_env(None), "POSTGRES_PASSWORD": PASSWORD, "PATH": f"{pg_tool('psql').rsplit('/', 1)[0]}:/usr/bin:/bin"}
    return subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )


def test_healthcheck_reports_ready_then_not_ready_after_stop() -> None:
    with server_workdir() as root:
        cluster = init_cluster(_settings(), PASSWORD, root, initdb_args=INITDB_ARGS)
        with running_postgres(cluster) as proc:
            up = _healthcheck(cluster.settings)
            assert up.returncode == 0, f"healthcheck while running: rc={up.returncode} {up.stdout}{up.stderr}"
            stop(proc)
            down = _healthcheck(cluster.settings)
    # 1, Docker's "unhealthy" (psql's own 2 is reserved by the HEALTHCHECK reference), with psql's reason.
    assert down.returncode == 1, f"healthcheck after stop: rc={down.returncode} {down.stdout}{down.stderr}"
    assert "127.0.0.1" in down.stdout and "cannot log in" not in down.stdout, down.stdout


def test_user_connects_to_its_database_with_the_password(db: Cluster) -> None:
    who = _ok(psql(db, "SELECT current_user || '@' || current_database()", password=PASSWORD))
    assert who == f"{db.settings.user}@{db.settings.database}"


@pytest.mark.parametrize("password", [None, "not-the-password"], ids=["no-password", "wrong-password"])
@pytest.mark.parametrize("over", ["tcp-127.0.0.1", "unix-socket"])
def test_connection_without_the_password_is_refused(db: Cluster, over: str, password: str | None) -> None:
    """scram everywhere: initdb's default would trust every local and loopback connection."""
    host = "127.0.0.1" if over.startswith("tcp") else str(db.socket_dir)
    result = psql(db, "SELECT 1", password=password, host=host)
    assert result.returncode != 0, f"connected over {over} with password={password!r}: {result.stdout!r}"
    expected = "no password supplied" if password is None else "password authentication failed"
    assert expected in result.stderr, result.stderr


def test_server_runs_with_the_rendered_settings(db: Cluster) -> None:
    def show(name: str) -> str:
        return _ok(psql(db, f"SHOW {name}", password=PASSWORD))

    assert show("shared_buffers") == "64MB"  # 25% of the 256 MB container limit
    assert show("effective_cache_size") == "192MB"  # 75%
    assert show("listen_addresses") == "127.0.0.1"
    assert show("port") == str(db.settings.port)
    assert show("password_encryption") == "scram-sha-256"
    assert show("log_min_duration_statement") == "1s"
    hba_sql = "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules"
    hba_methods = _ok(psql(db, hba_sql, password=PASSWORD))
    assert hba_methods == "scram-sha-256", f"pg_hba.conf allows: {hba_methods}"
    stored = _ok(psql(db, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{db.settings.user}'", password=PASSWORD))
    assert stored.startswith("SCRAM-SHA-256$"), "the password must be stored as a SCRAM verifier"


def test_listens_on_the_rendered_address_only(db: Cluster) -> None:
    """listen_addresses=127.0.0.1: another loopback address gets no answer."""
    probe = subprocess.run(
        [pg_tool("pg_isready"), "-h", "127.0.0.2", "-p", str(db.settings.port)],
        env=client_env(None), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )
    assert probe.returncode == 2, f"pg_isready on 127.0.0.2: rc={probe.returncode} {probe.stdout}"


def _docker_exec_stand_in(bin_dir: Path, cluster: Cluster) -> None:
    """`docker exec <container> cmd...` runs cmd with the container's env; here on this machine."""
    script = bin_dir / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = exec ] && [ "$2" = {shlex.quote(CONTAINER)} ] || '
        '{ echo "unexpected docker call: $*" >&2; exit 97; }\n'
        "shift 2\n"
        f"export POSTGRES_PASSWORD={shlex.quote(cluster.password)}\n"
        'exec "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_backup_command_round_trip_keeps_every_row(db: Cluster, tmp_path: Path) -> None:
    table = "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL, amount numeric(12,2))"
    _ok(psql(db, table, password=PASSWORD))
    _ok(psql(
        db,
        f"INSERT INTO items SELECT g, md5(g::text) || E'\\t''\"', g * 1.25 FROM generate_series(1, {ROW_COUNT}) g",
        password=PASSWORD,
    ))
    source = _ok(psql(db, CHECKSUM_SQL, password=PASSWORD))
    assert source.startswith(f"{ROW_COUNT} ")

    # The whole command as an operator runs it; only `docker` is a stand-in and no password is in this shell.
    command = backup_command(db.settings, CONTAINER)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _docker_exec_stand_in(bin_dir, db)
    env = client_env(None)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    # No stdin and no controlling terminal: a command that lost its password fails instead of prompting.
    dumped = subprocess.run(
        ["/bin/sh", "-c", command], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )
    assert dumped.returncode == 0, f"{command}\nrc={dumped.returncode}\n{dumped.stderr}"
    dump = tmp_path / f"{db.settings.database}.dump"
    assert dump.read_bytes()[:5] == b"PGDMP", "not pg_dump's custom format (pg_restore needs it)"

    _ok(psql(db, "CREATE DATABASE restored", password=PASSWORD))
    restore = subprocess.run(
        [pg_tool("pg_restore"), "-w", "--exit-on-error", "-h", "127.0.0.1", "-p", str(db.settings.port),
         "-U", db.settings.user, "-d", "restored", str(dump)],
        env=client_env(PASSWORD), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False,
    )
    assert restore.returncode == 0, restore.stderr
    assert _ok(psql(db, CHECKSUM_SQL, password=PASSWORD, database="restored")) == source

