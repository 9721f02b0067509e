"""Debian's pgbouncer on the rendered pgbouncer.ini and userlist, in front of Debian's PostgreSQL.

PostgreSQL is initialised like the Database component's (INITDB_ARGS: scram-sha-256 for local and host
connections), and the app role's password is set to the very SCRAM secret the userlist holds
(scram_sha256_verifier), so pgbouncer logs in to PostgreSQL with the client's own SCRAM keys and no password
is on disk. The pool holds one server connection (default_pool_size=1), which makes transaction pooling
visible: two connected clients are served by the same PostgreSQL backend, one after the other.
"""
from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderers.pgbouncer import (
    PgBouncerSettings,
    pgbouncer_healthcheck,
    pooler_userlist,
    render_pgbouncer_ini,
    render_userlist,
    scram_sha256_verifier,
)
from renderers.postgres import INITDB_ARGS, PostgresSettings

from .pgbouncer_process import (
    SESSION_TIMEOUT_S,
    PgBouncer,
    console_show,
    psql_session,
    psql_via,
    running_pgbouncer,
)
from .postgres_process import (
    CLIENT_TIMEOUT_S,
    Cluster,
    client_env,
    init_cluster,
    pg_tool,
    postgres_server,
    psql,
    running_postgres,
    server_workdir,
)
from .processes import free_tcp_ports

pytestmark = pytest.mark.real_binary

PASSWORD = "bouncer'Pa$$w0rd\\\"x"
SALT = bytes(range(16))
USER = "app_owner"
DATABASE = "app"
# How long a second client is seen waiting before the first one commits.
WAIT_S = 1.5


@dataclass
class Stack:
    cluster: Cluster
    settings: PgBouncerSettings
    bouncer: PgBouncer
    root: Path
    userlist: dict[str, str]  # role -> secret, written to settings.auth_file

    def write_userlist(self) -> None:
        Path(self.settings.auth_file).write_text("".join(render_userlist(u, s) for u, s in self.userlist.items()))

    def via_bouncer(
        self, sql: str, *, user: str = USER, password: str | None = PASSWORD
    ) -> subprocess.CompletedProcess[str]:
        return psql_via(self.settings.listen_port, sql, user=user, password=password, database=DATABASE)

    def show(self, what: str) -> list[dict[str, str]]:
        return console_show(self.settings.listen_port, what, user=USER, password=PASSWORD)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def _bouncer_settings(root: Path, backend_port: int, port: int) -> PgBouncerSettings:
    return PgBouncerSettings(
        database=DATABASE, user=USER, backend_host="127.0.0.1", backend_port=backend_port,
        listen_address="127.0.0.1", listen_port=port, default_pool_size=1, max_client_conn=20,
        stats_users=(USER,), auth_file=str(root / "userlist.txt"),
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    pg_port, bouncer_port = free_tcp_ports(2)
    with server_workdir() as root:
        pg = PostgresSettings(version="16.4", user=USER, database=DATABASE, port=pg_port,
                              listen_address="127.0.0.1", memory_limit_mb=256)
        cluster = init_cluster(pg, PASSWORD, root, initdb_args=INITDB_ARGS)
        with running_postgres(cluster):
            secret = scram_sha256_verifier(PASSWORD, salt=SALT)
            # What the component would do: the role's password is the userlist's secret, byte for byte.
            _ok(psql(cluster, f"ALTER ROLE {USER} PASSWORD '{secret}'", password=PASSWORD))
            s = _bouncer_settings(root, pg_port, bouncer_port)
            ini = root / "pgbouncer.ini"
            ini.write_text(render_pgbouncer_ini(s))
            Path(s.auth_file).write_text(render_userlist(USER, secret))
            with running_pgbouncer(ini, port=bouncer_port, log_path=root / "pgbouncer.log") as bouncer:
                yield Stack(cluster, s, bouncer, root, {USER: secret})


def test_pgbouncer_runs_the_rendered_settings(stack: Stack) -> None:
    _ok(stack.via_bouncer("SELECT 1"))  # so the app's pool exists
    config = {row["key"]: row["value"] for row in stack.show("CONFIG")}
    expected = {
        "pool_mode": "transaction", "auth_type": "scram-sha-256", "default_pool_size": "1",
        "max_client_conn": "20", "listen_addr": "127.0.0.1", "listen_port": str(stack.settings.listen_port),
        "unix_socket_dir": "", "auth_file": stack.settings.auth_file, "stats_users": USER,
        "ignore_startup_parameters": "extra_float_digits",
    }
    assert {k: config.get(k) for k in expected} == expected
    (db,) = [row for row in stack.show("DATABASES") if row["name"] == DATABASE]
    assert (db["host"], db["port"], db["database"], db["force_user"]) == (
        "127.0.0.1", str(stack.cluster.settings.port), DATABASE, ""), db
    (pool,) = [row for row in stack.show("POOLS") if row["database"] == DATABASE]
    assert (pool["user"], pool["pool_mode"]) == (USER, "transaction"), pool


def test_app_logs_in_through_pgbouncer_with_only_the_scram_secret_on_disk(stack: Stack) -> None:
    on_disk = Path(stack.settings.auth_file).read_text()
    assert PASSWORD not in on_disk
    assert on_disk.startswith(f'"{USER}" "SCRAM-SHA-256$4096:')
    stored = _ok(psql(stack.cluster, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'",
                      password=PASSWORD))
    assert stored == stack.userlist[USER], "PostgreSQL must store exactly the userlist's secret (same salt)"
    # Reaching PostgreSQL (its port, as the app's role) means pgbouncer passed SCRAM on with the client's keys.
    who = _ok(stack.via_bouncer("SELECT current_user || '@' || current_database() || ':' || inet_server_port()"))
    assert who == f"{USER}@{DATABASE}:{stack.cluster.settings.port}"


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [(USER, "not-the-password", "SASL authentication failed"), (USER, None, "no password supplied"),
     ("mallory", PASSWORD, "SASL authentication failed")],
    ids=["wrong-password", "no-password", "unknown-user"],
)
def test_pgbouncer_refuses_wrong_credentials(stack: Stack, user: str, password: str | None, expected: str) -> None:
    refused = stack.via_bouncer("SELECT 1", user=user, password=password)
    assert refused.returncode != 0, f"{user}/{password!r} got in: {refused.stdout}"
    assert expected in refused.stderr, refused.stderr


def test_two_connected_clients_share_one_server_connection(stack: Stack) -> None:
    """Transaction pooling: the pool's one server connection serves both; in session mode the second client
    would wait for the first to disconnect."""
    with psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as a, \
            psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as b:
        first = a.query("SELECT pg_backend_pid()")
        second = b.query("SELECT pg_backend_pid()")
        assert first == second, "two clients, one pool slot: both must have used the same backend"
        assert a.query("SELECT pg_backend_pid()") == first  # A is still connected and still served
        (pool,) = [row for row in stack.show("POOLS") if row["database"] == DATABASE]
        servers = sum(int(pool[k]) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))
        assert (pool["cl_active"], servers) == ("2", 1), pool


def test_a_transaction_holds_the_server_connection_until_it_ends(stack: Stack) -> None:
    with psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as a, \
            psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as b:
        a.query("BEGIN")
        pid = a.query("SELECT pg_backend_pid()")
        b.send("SELECT pg_backend_pid()")
        assert b.receive(WAIT_S) is None, "B got a server connection while A's transaction still held it"
        (pool,) = [row for row in stack.show("POOLS") if row["database"] == DATABASE]
        assert pool["cl_waiting"] == "1", pool
        a.query("COMMIT")
        assert b.receive(SESSION_TIMEOUT_S) == pid, "after A's COMMIT, B runs on the server connection A released"


def test_session_state_stays_on_the_server_connection(stack: Stack) -> None:
    """What transaction mode means for SET (doc/config.md, server_reset_query: not used in transaction pooling):
    SET LOCAL ends with its transaction; a session-level SET stays on the server connection and the next client
    given that connection sees it. Apps behind this pool use SET LOCAL (or per-transaction settings)."""
    with psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as a, \
            psql_session(stack.settings.listen_port, user=USER, password=PASSWORD, database=DATABASE) as b:
        a.query("RESET statement_timeout")
        a.query("BEGIN")
        a.query("SET LOCAL statement_timeout = '1111ms'")
        assert a.query("SHOW statement_timeout") == "1111ms"
        a.query("COMMIT")
        assert b.query("SHOW statement_timeout") == "0", "SET LOCAL must end with A's transaction"
        a.query("SET statement_timeout = '4321ms'")
        try:
            assert b.query("SHOW statement_timeout") == "4321ms", (
                "in transaction mode a session-level SET stays on the shared server connection"
            )
        finally:
            a.query("RESET statement_timeout")


def test_stats_user_reads_the_console_but_cannot_administer_it(stack: Stack) -> None:
    refused = psql_via(stack.settings.listen_port, "PAUSE", user=USER, password=PASSWORD, database="pgbouncer")
    assert refused.returncode != 0
    assert "admin access needed" in refused.stderr, refused.stderr


def test_healthcheck_reports_ready_then_not_ready_after_stop(stack: Stack) -> None:
    """The container's CMD healthcheck, exec'd as Docker would, with the packaged pg_isready."""
    (port,) = free_tcp_ports(1)
    s = replace(stack.settings, listen_port=port)
    ini = stack.root / "healthcheck.ini"
    ini.write_text(render_pgbouncer_ini(s))
    kind, program, *args = pgbouncer_healthcheck(s)
    assert (kind, program) == ("CMD", "pg_isready")

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run([pg_tool(program), *args], env=client_env(None), capture_output=True, text=True,
                              timeout=CLIENT_TIMEOUT_S, check=False)

    with running_pgbouncer(ini, port=port, log_path=stack.root / "healthcheck.log"):
        up = probe()
    down = probe()
    assert up.returncode == 0 and "accepting connections" in up.stdout, f"{up.returncode} {up.stdout}{up.stderr}"
    assert down.returncode == 2, f"pg_isready after stop: rc={down.returncode} {down.stdout}{down.stderr}"


_probe_ids = itertools.count()


def _new_probe_role(stack: Stack, server_secret: str) -> str:
    role = f"probe_{next(_probe_ids)}"
    _ok(psql(stack.cluster, f"CREATE ROLE {role} LOGIN PASSWORD '{server_secret}'", password=PASSWORD))
    return role


def _direct(stack: Stack, role: str, password: str) -> subprocess.CompletedProcess[str]:
    argv = [pg_tool("psql"), "-w", "-X", "-At", "-h", "127.0.0.1", "-p", str(stack.cluster.settings.port),
            "-U", role, "-d", DATABASE, "-c", "SELECT current_user"]
    return subprocess.run(argv, env=client_env(password), capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S,
                          check=False)


def test_secret_must_equal_the_servers_not_merely_match_the_password(stack: Stack) -> None:
    """doc/config.md: SCRAM secrets log in to the server only if identical on both sides (same salt)."""
    password = "same-password"
    server_secret = scram_sha256_verifier(password, salt=b"server-side-salt")
    mismatched, matched = _new_probe_role(stack, server_secret), _new_probe_role(stack, server_secret)
    # Each role is its own pool: after a failed server login pgbouncer holds that pool's new clients until
    # server_login_retry (15 s) has passed.
    stack.userlist[mismatched] = scram_sha256_verifier(password, salt=b"another-salt-abc")
    stack.userlist[matched] = server_secret
    stack.write_userlist()
    stack.bouncer.reload()
    refused = stack.via_bouncer("SELECT current_user", user=mismatched, password=password)
    assert refused.returncode != 0, "logged in to PostgreSQL with a secret of another salt"
    assert "password authentication failed" in refused.stderr, refused.stderr
    assert _ok(stack.via_bouncer("SELECT current_user", user=matched, password=password)) == matched


@pytest.mark.parametrize(
    ("secret_of", "typed", "same"),
    [("IX", "I\u00adX", True), ("IX", "\u2168", True), ("I X", "I\u00a0X", True), ("I X", "I\u200bX", True),
     ("IX", "I\u200bX", False), ("a", "\u00aa", True), ("\u0627\u0031", "\u0627\u0031", True)],
    ids=["soft-hyphen-mapped-to-nothing", "roman-numeral-nfkc", "nbsp-to-space", "zwsp-to-space",
         "zwsp-is-not-nothing", "ordinal-nfkc", "bidi-prohibited-so-raw"],
)
def test_postgresql_applies_saslprep_as_the_secret_assumes(
    stack: Stack, secret_of: str, typed: str, same: bool
) -> None:
    """libpq prepares the password it logs in with by SASLprep (RFC 4013), so equivalent passwords log in to
    each other's secret; both ways round, so the secret's own SASLprep must agree with libpq's."""
    for made_from, logs_in_with in ((secret_of, typed), (typed, secret_of)):
        role = _new_probe_role(stack, scram_sha256_verifier(made_from, salt=SALT))
        result = _direct(stack, role, logs_in_with)
        assert (result.returncode == 0) is same, f"{logs_in_with!r} vs secret of {made_from!r}: {result.stderr}"


# Passwords: any text a client can send (no NUL, no lone surrogates), weighted towards what SASLprep treats
# specially: non-ASCII spaces, mapped-to-nothing characters, compatibility forms, bidi text, control characters.
SPECIAL = "\u00a0\u00ad\u200b\u2168\ufb01\u0130\u00e9e\u0301\u05d0\u0627\u0041\u0007\u3000\uff21\u212b "
PASSWORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0") | st.sampled_from(SPECIAL),
    min_size=1, max_size=24,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=PASSWORDS, salt=st.binary(min_size=1, max_size=32), iterations=st.sampled_from([1, 4096]))
def test_any_password_logs_in_with_its_secret_directly_and_through_pgbouncer(
    stack: Stack, password: str, salt: bytes, iterations: int
) -> None:
    secret = scram_sha256_verifier(password, salt=salt, iterations=iterations)
    role = _new_probe_role(stack, secret)
    stored = _ok(psql(stack.cluster, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'",
                      password=PASSWORD))
    assert stored == secret, "PostgreSQL did not take the string as a SCRAM secret (it hashed it as a password)"
    assert _ok(_direct(stack, role, password)) == role
    refused = _direct(stack, role, password + "x")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr, refused.stderr
    stack.userlist[role] = secret
    stack.write_userlist()
    stack.bouncer.reload()
    try:
        assert _ok(stack.via_bouncer("SELECT current_user", user=role, password=password)) == role
    finally:
        # Each role is a pool whose server connection pgbouncer keeps (server_idle_timeout): close it, or the
        # examples use up PostgreSQL's max_connections.
        _ok(psql(stack.cluster, f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                f"WHERE usename = '{role}'", password=PASSWORD))


# ---------------------------------------------------------------------------------------------------------------
# For any valid settings, the real pgbouncer reads back every rendered value (after a reload; the listener and
# the auth file stay those of a separate instance).

HOSTS = st.from_regex(r"\A[a-z0-9](?:[a-z0-9_-]{0,20}[a-z0-9])?(?:\.[a-z0-9]{1,10}){0,2}\Z") | \
    st.ip_addresses(v=4).map(str)
IDENTIFIERS = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z").filter(lambda n: n != "pgbouncer")


@pytest.fixture(scope="module")
def spare(stack: Stack) -> Iterator[tuple[PgBouncerSettings, Path, PgBouncer]]:
    (port,) = free_tcp_ports(1)
    base = replace(stack.settings, listen_port=port)
    ini = stack.root / "spare.ini"
    ini.write_text(render_pgbouncer_ini(base))
    with running_pgbouncer(ini, port=port, log_path=stack.root / "spare.log") as bouncer:
        yield base, ini, bouncer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    database=IDENTIFIERS, host=HOSTS, backend_port=st.integers(1, 65535),
    pool_mode=st.sampled_from(["session", "transaction", "statement"]),
    pool_size=st.integers(1, 92), extra_clients=st.integers(0, 400),
)
def test_pgbouncer_reads_back_every_rendered_value(
    spare: tuple[PgBouncerSettings, Path, PgBouncer], database: str, host: str, backend_port: int,
    pool_mode: str, pool_size: int, extra_clients: int,
) -> None:
    base, ini, bouncer = spare
    s = replace(base, database=database, backend_host=host, backend_port=backend_port, pool_mode=pool_mode,
                default_pool_size=pool_size, max_client_conn=pool_size + extra_clients)
    ini.write_text(render_pgbouncer_ini(s))
    bouncer.reload()
    config = {r["key"]: r["value"] for r in console_show(base.listen_port, "CONFIG", user=USER, password=PASSWORD)}
    assert (config["pool_mode"], config["default_pool_size"], config["max_client_conn"]) == (
        pool_mode, str(pool_size), str(pool_size + extra_clients))
    databases = {r["name"]: r for r in console_show(base.listen_port, "DATABASES", user=USER, password=PASSWORD)}
    assert database in databases, f"{database!r} not among {sorted(databases)}"
    row = databases[database]
    assert (row["host"], row["port"], row["database"]) == (host, str(backend_port), database), row


def test_the_components_plain_userlist_logs_in_to_a_cluster_made_like_the_entrypoint() -> None:
    """The Database component's pooler: auth_file holds the role's password (pooler_userlist), and the cluster's
    role got that password from initdb --pwfile (POSTGRES_PASSWORD), stored under a salt of PostgreSQL's own
    choosing. PgBouncer still logs in, in transaction mode; a wrong password is still refused."""
    pg_port, bouncer_port = free_tcp_ports(2)
    settings = PostgresSettings(version="16.4", user=USER, database=DATABASE, port=pg_port,
                                listen_address="127.0.0.1", memory_limit_mb=256)
    with postgres_server(settings, PASSWORD) as cluster:
        s = _bouncer_settings(cluster.root, pg_port, bouncer_port)
        ini = cluster.root / "pgbouncer.ini"
        ini.write_text(render_pgbouncer_ini(s))
        Path(s.auth_file).write_text(pooler_userlist(USER, PASSWORD))
        stored = _ok(psql(cluster, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{USER}'", password=PASSWORD))
        assert stored.startswith("SCRAM-SHA-256$4096:") and stored != scram_sha256_verifier(PASSWORD, salt=SALT)
        with running_pgbouncer(ini, port=bouncer_port, log_path=cluster.root / "pgbouncer.log"):
            who = psql_via(bouncer_port, "SELECT current_user || '@' || inet_server_port()", user=USER,
                           password=PASSWORD, database=DATABASE)
            assert _ok(who) == f"{USER}@{pg_port}"
            config = {row["key"]: row["value"] for row in console_show(bouncer_port, "CONFIG", user=USER,
                                                                          password=PASSWORD)}
            assert config["pool_mode"] == "transaction"
            refused = psql_via(bouncer_port, "SELECT 1", user=USER, password="wrong", database=DATABASE)
            assert refused.returncode != 0 and "SASL authentication failed" in refused.stderr, refused.stderr
