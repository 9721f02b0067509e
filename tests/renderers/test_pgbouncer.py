"""pgbouncer.ini, userlist.txt and SCRAM secrets: well-formed for every allowed input, RFC 7677's numbers.

tests/real/test_pgbouncer_real.py runs them with the real pgbouncer and PostgreSQL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.pgbouncer import (
    ENTRYPOINT,
    INI_PATH,
    STOP_SIGNAL,
    USERLIST_PATH,
    PgBouncerSettings,
    pgbouncer_healthcheck,
    pgbouncer_problems,
    pgbouncer_uploads,
    postgres_saslprep,
    render_pgbouncer_ini,
    render_userlist,
    scram_sha256_verifier,
)

IDENTIFIERS = st.from_regex(r"\A[a-z_][a-z0-9_]{0,62}\Z")
HOSTS = (
    st.from_regex(r"\A[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,30}[A-Za-z0-9_])?(?:\.[a-z0-9]{1,10}){0,3}\Z")
    | st.ip_addresses().map(str)
)
LISTEN = st.just("*") | st.ip_addresses().map(str)
PORTS = st.integers(1, 65535)


@st.composite
def settings_(draw: st.DrawFn) -> PgBouncerSettings:
    pool = draw(st.integers(1, 92))
    return PgBouncerSettings(
        database=draw(IDENTIFIERS), user=draw(IDENTIFIERS), backend_host=draw(HOSTS), backend_port=draw(PORTS),
        listen_address=draw(LISTEN), listen_port=draw(PORTS),
        pool_mode=draw(st.sampled_from(["session", "transaction", "statement"])),
        default_pool_size=pool, max_client_conn=draw(st.integers(pool, 1024 - 24 - pool)),
        admin_users=tuple(draw(st.lists(IDENTIFIERS, max_size=3))),
        stats_users=tuple(draw(st.lists(IDENTIFIERS, max_size=3))),
    )


def _parse_ini(text: str) -> dict[str, dict[str, str]]:
    """PgBouncer's ini rules (lib/usual/cfparser.c): '[section]', 'key = value', comment lines start with ';'
    or '#'; keys are case-insensitive there, so duplicates (in any case) are an error here."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        if stripped.startswith("["):
            assert stripped.endswith("]"), line
            current = stripped[1:-1]
            assert current not in sections, f"section [{current}] twice"
            sections[current] = {}
            continue
        assert current is not None, f"setting outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not 'key = value': {line!r}"
        key = key.strip().lower()
        assert key not in sections[current], f"{key} twice in [{current}]"
        sections[current][key] = value.strip()
    return sections


def _parse_connstr(value: str) -> dict[str, str]:
    pairs = value.split()
    parsed = dict(pair.split("=", 1) for pair in pairs)
    assert len(parsed) == len(pairs)
    return parsed


@given(s=settings_())
def test_ini_round_trips_every_value_for_any_valid_settings(s: PgBouncerSettings) -> None:
    ini = _parse_ini(render_pgbouncer_ini(s))
    assert set(ini) == {"databases", "pgbouncer"}
    assert ini["databases"] == {s.database: f"host={s.backend_host} port={s.backend_port} dbname={s.database}"}
    assert _parse_connstr(ini["databases"][s.database]) == {
        "host": s.backend_host, "port": str(s.backend_port), "dbname": s.database,
    }
    p = ini["pgbouncer"]
    assert (p["listen_addr"], p["listen_port"], p["pool_mode"]) == (s.listen_address, str(s.listen_port), s.pool_mode)
    assert (p["default_pool_size"], p["max_client_conn"]) == (str(s.default_pool_size), str(s.max_client_conn))
    assert (p["auth_type"], p["auth_file"], p["unix_socket_dir"]) == ("scram-sha-256", USERLIST_PATH, "")
    assert p.get("admin_users", "").split(",") == list(s.admin_users or [""])
    assert p.get("stats_users", "").split(",") == list(s.stats_users or [""])
    # No password and no user in the connection string: pgbouncer passes the client's SCRAM keys on.
    assert "user=" not in ini["databases"][s.database] and "password" not in render_pgbouncer_ini(s)


def test_defaults_pool_transactions_within_postgres_and_file_descriptor_limits() -> None:
    s = PgBouncerSettings(database="app", user="app", backend_host="postgres")
    assert s.pool_mode == "transaction"
    assert (s.listen_port, s.default_pool_size, s.max_client_conn) == (6432, 20, 400)
    assert pgbouncer_problems(s) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"database": "App"}, "database: got 'App'"),
        ({"user": "x y"}, "user: got 'x y'"),
        ({"backend_host": "db host"}, "backend_host: got 'db host'"),
        ({"backend_host": "db;x=1"}, "backend_host"),
        ({"listen_address": "localhost"}, "listen_address: got 'localhost'"),
        ({"listen_port": 0}, "listen_port: got 0"),
        ({"backend_port": True}, "backend_port: got True"),
        ({"pool_mode": "Transaction"}, "pool_mode: got 'Transaction'"),
        ({"admin_users": "app"}, "admin_users: got 'app'; expected a tuple"),
        ({"stats_users": ("ok", "Bad")}, "stats_users: got 'Bad'"),
        ({"auth_file": "userlist.txt"}, "auth_file"),
        ({"default_pool_size": 0}, "default_pool_size: got 0"),
        ({"default_pool_size": 93}, "at most 92"),
        ({"default_pool_size": 30, "max_client_conn": 20}, "below default_pool_size"),
        ({"max_client_conn": 1000}, "need 1044 file descriptors; nofile_limit is 1024"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        PgBouncerSettings(**{"database": "app", "user": "app", "backend_host": "postgres", **change})
    assert message in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as refused:
        PgBouncerSettings(database="A", user="B", backend_host="bad host", pool_mode="x")
    text = str(refused.value)
    for field in ("database:", "user:", "backend_host:", "pool_mode:"):
        assert field in text


def test_raising_the_descriptor_limit_allows_more_clients() -> None:
    s = PgBouncerSettings(database="app", user="app", backend_host="postgres", max_client_conn=5000,
                          nofile_limit=8192)
    assert "max_client_conn = 5000" in render_pgbouncer_ini(s)


def _parse_userlist_line(line: str) -> list[str]:
    """PgBouncer's auth_file rules (doc/config.md, Authentication file format): quoted fields, "" is a quote."""
    fields, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        assert line[i] == '"', line
        i += 1
        value = []
        while True:
            if line[i] == '"':
                if i + 1 < len(line) and line[i + 1] == '"':
                    value.append('"')
                    i += 2
                    continue
                i += 1
                break
            value.append(line[i])
            i += 1
        fields.append("".join(value))
    return fields


@given(user=IDENTIFIERS, secret=st.text(min_size=1).filter(lambda t: not set(t) & {"\0", "\r", "\n"}))
def test_userlist_line_round_trips_any_secret(user: str, secret: str) -> None:
    text = render_userlist(user, secret)
    assert text.endswith("\n") and text.count("\n") == 1
    assert _parse_userlist_line(text[:-1]) == [user, secret]


@pytest.mark.parametrize("secret", ["", "a\nb", "a\rb", "a\0b"])
def test_userlist_refuses_secrets_that_break_the_line(secret: str) -> None:
    with pytest.raises(ValueError):
        render_userlist("app", secret)


def test_userlist_refuses_a_non_identifier_user() -> None:
    with pytest.raises(ValueError):
        render_userlist('a" "b', "secret")


# RFC 7677 section 3: user "user", password "pencil".
RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC_AUTH_MESSAGE = (
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
).encode()
RFC_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_secret_reproduces_rfc_7677_exchange() -> None:
    secret = scram_sha256_verifier("pencil", salt=base64.b64decode(RFC_SALT), iterations=4096)
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", secret)
    assert match, secret
    iterations, salt, stored_key, server_key = match.groups()
    assert (iterations, salt) == ("4096", RFC_SALT)
    stored, server = base64.b64decode(stored_key), base64.b64decode(server_key)
    # The server's proof of knowing ServerKey, as the RFC's server-final-message carries it.
    signature = hmac.new(server, RFC_AUTH_MESSAGE, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == RFC_SERVER_SIGNATURE
    # The client's proof checks out against StoredKey: H(ClientProof XOR HMAC(StoredKey, AuthMessage)).
    client_signature = hmac.new(stored, RFC_AUTH_MESSAGE, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(base64.b64decode(RFC_CLIENT_PROOF), client_signature))
    assert hashlib.sha256(client_key).digest() == stored


def test_secret_is_deterministic_in_salt_and_iterations() -> None:
    one = scram_sha256_verifier("pw", salt=b"0123456789abcdef")
    assert one == scram_sha256_verifier("pw", salt=b"0123456789abcdef")
    assert one != scram_sha256_verifier("pw", salt=b"0123456789abcdeg")
    assert one.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert scram_sha256_verifier("pw", salt=b"s", iterations=10000).startswith("SCRAM-SHA-256$10000:cw==$")


@pytest.mark.parametrize(
    "kwargs",
    [{"password": "", "salt": b"s"}, {"password": "a\0b", "salt": b"s"}, {"password": "pw", "salt": b""},
     {"password": "pw", "salt": "s"}, {"password": "pw", "salt": b"s", "iterations": 0},
     {"password": "\ud800", "salt": b"s"}],
)
def test_secret_refuses_what_no_client_can_send(kwargs: dict) -> None:
    with pytest.raises((ValueError, UnicodeEncodeError)):
        scram_sha256_verifier(**kwargs)


# RFC 4013 section 3's examples, with PostgreSQL's answer where pg_saslprep fails: the raw password.
@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("I\u00adX", "IX"),  # soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # no case folding
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("\u0007", "\u0007"),  # RFC: prohibited; pg_saslprep passes pure ASCII through untouched
        ("\u0627\u0031", "\u0627\u0031"),  # RFC: bidi error; PostgreSQL then uses the raw password
        ("I\u00a0X", "I X"),  # non-ASCII space mapped to space
        ("I\u200bX", "I X"),  # U+200B is in both C.1.2 and B.1; pg_saslprep maps it to space first
        ("\u00ad", "\u00ad"),  # mapped to nothing at all: empty is prohibited, so raw
        ("\u00e9\u0007", "\u00e9\u0007"),  # non-ASCII with a control character: prohibited, so raw
        ("e\u0301", "\u00e9"),  # composed
        ("\u0221x", "\u0221x"),  # unassigned in Unicode 3.2: prohibited, so raw
    ],
)
def test_saslprep_matches_postgresql(password: str, prepared: str) -> None:
    assert postgres_saslprep(password) == prepared.encode()


def test_saslprep_equivalent_passwords_share_a_secret() -> None:
    salt = b"0123456789abcdef"
    assert scram_sha256_verifier("I\u00adX", salt=salt) == scram_sha256_verifier("\u2168", salt=salt)


def test_healthcheck_probes_the_listener_over_tcp() -> None:
    s = PgBouncerSettings(database="app", user="app", backend_host="postgres", listen_port=6543)
    assert pgbouncer_healthcheck(s) == ("CMD", "pg_isready", "-h", "127.0.0.1", "-p", "6543", "-U", "app", "-d", "app")
    assert pgbouncer_healthcheck(replace(s, listen_address="*"))[3] == "127.0.0.1"
    assert pgbouncer_healthcheck(replace(s, listen_address="127.0.0.1"))[3] == "127.0.0.1"
    assert pgbouncer_healthcheck(replace(s, listen_address="10.0.0.5"))[3] == "10.0.0.5"


def test_image_contract() -> None:
    s = PgBouncerSettings(database="app", user="app", backend_host="postgres")
    uploads = pgbouncer_uploads(s, render_userlist("app", "SCRAM-SHA-256$4096:c2FsdA==$a:b"))
    assert set(uploads) == {INI_PATH, USERLIST_PATH}
    assert ENTRYPOINT == ("/usr/bin/pgbouncer", INI_PATH)
    assert STOP_SIGNAL == "SIGINT"
