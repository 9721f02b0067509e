"""PgBouncer in transaction-pooling mode in front of PostgreSQL: pgbouncer.ini, userlist.txt, SCRAM secrets.

The image is CloudNativePG's (github.com/cloudnative-pg/pgbouncer-containers@7b391dfab305, the CNCF project's
operand image): ghcr.io/cloudnative-pg/pgbouncer:<pgbouncer version>, built for linux/amd64 and linux/arm64
(docker-bake.hcl `platforms`), from Debian trixie-slim with the PGDG `pgbouncer` and `postgresql-client`
packages, rebuilt by Renovate on base-image updates and signed with cosign (.github/workflows/build.yml).
Facts the component relies on (Dockerfile, entrypoint.sh at that commit):
- It reads only files: /etc/pgbouncer/pgbouncer.ini (entrypoint.sh runs `/usr/bin/pgbouncer
  /etc/pgbouncer/pgbouncer.ini`); no environment variables. Both files here are mounted/uploaded there.
- It runs as the unprivileged user `pgbouncer` (uid 998, gid 996), which owns /etc/pgbouncer.
- entrypoint.sh is `#!/bin/sh` and starts pgbouncer as a child without `exec`, so `docker stop`'s signal would
  reach sh (PID 1, no handler) and pgbouncer would be SIGKILLed after the grace period. ENTRYPOINT below runs
  pgbouncer as PID 1 instead, and STOP_SIGNAL picks its safe shutdown.
- postgresql-client is installed, so pg_isready and psql are there for the healthcheck (Debian's pg_wrapper,
  /usr/bin/pg_isready).
Alternatives: bitnami/pgbouncer's versioned tags moved to the unmaintained bitnamilegacy repository from
2025-08-28 (bitnami/containers#83267); edoburu/pgbouncer (Alpine, ini generated from env unless mounted,
v1.25.2-p0) is multi-arch but pushed from a workstation (`make push` in its Makefile; its GitHub workflows were
removed in 43efb5a), with no CI build, signature or provenance.

PgBouncer facts (doc/config.md@pgbouncer_1_25_2, the same in pgbouncer_1_18_0, Debian bookworm's, which the
real tests run, unless noted):
- auth_type scram-sha-256: auth_file holds SCRAM secrets or plain-text passwords.
- A SCRAM secret in auth_file also logs in to PostgreSQL ("pass-through") only if the client authenticated with
  SCRAM, the [databases] entry names no user, and the secret is identical on both sides (same salt and
  iterations, not merely the same password). So the Database role's password must be set to the very secret
  scram_sha256_verifier() returns (ALTER ROLE ... PASSWORD '<secret>'); then no plain-text password is on disk.
- pool_mode transaction: a server connection goes back to the pool when the transaction ends;
  server_reset_query is not used, so session state (SET, session advisory locks, LISTEN, temp tables, SQL-level
  PREPARE) stays on the server connection for whichever client gets it next. Use SET LOCAL inside transactions.
  Protocol-level prepared statements are tracked when max_prepared_statements > 0 (default 200 in 1.25.2,
  the image's version; the setting does not exist in 1.18, which refuses unknown settings, so it is not rendered).
- Unknown startup parameters are refused unless listed in ignore_startup_parameters (JDBC sends
  extra_float_digits).
- Signals (doc/usage.md@pgbouncer_1_25_2): SIGINT is the safe shutdown (SHUTDOWN WAIT_FOR_SERVERS: running
  transactions finish), SIGTERM waits for every client to disconnect (since 1.23), which pooled apps never do.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stringprep
import unicodedata
from dataclasses import dataclass

from renderers.names import POSTGRES_IDENTIFIER, is_host, is_ip

IMAGE = "ghcr.io/cloudnative-pg/pgbouncer"
VERSION = "1.25.2"  # tag = PgBouncer's version (docker-bake.hcl: plainVersion(pgBouncerVersion))
CONFIG_DIR = "/etc/pgbouncer"
INI_PATH = f"{CONFIG_DIR}/pgbouncer.ini"
USERLIST_PATH = f"{CONFIG_DIR}/userlist.txt"
ENTRYPOINT = ("/usr/bin/pgbouncer", INI_PATH)
STOP_SIGNAL = "SIGINT"
IMAGE_UID = 998

POOL_MODES = ("session", "transaction", "statement")
# PostgreSQL's superuser_reserved_connections default; plus room for direct connections that bypass the pooler
# (migrations, pg_dump, the database healthcheck, an operator's psql).
SUPERUSER_RESERVED_CONNECTIONS = 3
DIRECT_CONNECTION_HEADROOM = 5
# File descriptors pgbouncer needs besides its client and server sockets (listener, log, DNS, pipes).
FD_OVERHEAD = 24



@dataclass(frozen=True, kw_only=True)
class PgBouncerSettings:
    """One pooled database, reached by the app's role. Passwords are not here: see render_userlist."""

    database: str  # the name clients connect to, and the PostgreSQL database it forwards to
    user: str  # the role clients log in as; pgbouncer logs in to PostgreSQL as the same role
    backend_host: str  # PostgreSQL's address as pgbouncer sees it: "postgres" (network alias) or "127.0.0.1"
    backend_port: int = 5432
    listen_address: str = "0.0.0.0"  # "*", "0.0.0.0" or an IP address
    listen_port: int = 6432  # PgBouncer's own default
    pool_mode: str = "transaction"
    # Server connections per (database, user) pool: PgBouncer's default. Transaction pooling lets many more
    # clients share them; PostgreSQL's default max_connections is 100.
    default_pool_size: int = 20
    # Clients (app instances x their own pool sizes, workers). Each client costs one file descriptor.
    max_client_conn: int = 400
    admin_users: tuple[str, ...] = ()  # may run every console command (PAUSE, RELOAD, SHUTDOWN, ...)
    stats_users: tuple[str, ...] = ()  # may run the console's SHOW commands
    auth_file: str = USERLIST_PATH
    backend_max_connections: int = 100  # PostgreSQL's max_connections
    # The soft RLIMIT_NOFILE pgbouncer gets. 1024 is Linux's usual soft default; an engine may hand containers
    # more, but without an explicit nofile ulimit on the container 1024 is the safe assumption.
    nofile_limit: int = 1024

    def __post_init__(self) -> None:
        problems = pgbouncer_problems(self)
        if problems:
            raise ValueError("invalid PgBouncer settings:\n  - " + "\n  - ".join(problems))


def _identifier_problem(field: str, value: object) -> str | None:
    if isinstance(value, str) and POSTGRES_IDENTIFIER.match(value):
        return None
    return (f"{field}: got {value!r}; expected an identifier: lowercase letters, digits and '_', starting with "
            "a letter or '_', at most 63 characters")


def _port_problem(field: str, value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return None
    return f"{field}: got {value!r}; expected a port in 1..65535"


def pgbouncer_problems(s: PgBouncerSettings) -> list[str]:
    """Every problem at once, each naming the field."""
    problems = [
        p for p in (
            _identifier_problem("database", s.database),
            _identifier_problem("user", s.user),
            _port_problem("backend_port", s.backend_port),
            _port_problem("listen_port", s.listen_port),
        ) if p
    ]
    if not is_host(s.backend_host):
        problems.append(f"backend_host: got {s.backend_host!r}; expected a host name, network alias or IP address")
    if not isinstance(s.listen_address, str) or not (s.listen_address == "*" or is_ip(s.listen_address)):
        problems.append(f"listen_address: got {s.listen_address!r}; expected '*' or an IP address")
    if s.pool_mode not in POOL_MODES:
        problems.append(f"pool_mode: got {s.pool_mode!r}; expected one of {', '.join(POOL_MODES)}")
    for field in ("admin_users", "stats_users"):
        users = getattr(s, field)
        if not isinstance(users, tuple):
            problems.append(f"{field}: got {users!r}; expected a tuple of role names")
            continue
        problems += [p for u in users if (p := _identifier_problem(field, u))]
    if not isinstance(s.auth_file, str) or not re.fullmatch(r"/[A-Za-z0-9_./-]+", s.auth_file):
        problems.append(f"auth_file: got {s.auth_file!r}; expected an absolute path of [A-Za-z0-9_./-]")
    sizes = {f: getattr(s, f) for f in ("default_pool_size", "max_client_conn", "backend_max_connections",
                                        "nofile_limit")}
    bad = [f"{f}: got {v!r}; expected a positive integer" for f, v in sizes.items()
           if not isinstance(v, int) or isinstance(v, bool) or v < 1]
    problems += bad
    if bad:
        return problems
    budget = s.backend_max_connections - SUPERUSER_RESERVED_CONNECTIONS - DIRECT_CONNECTION_HEADROOM
    if s.default_pool_size > budget:
        problems.append(
            f"default_pool_size: {s.default_pool_size} server connections do not fit PostgreSQL's "
            f"max_connections ({s.backend_max_connections}) less {SUPERUSER_RESERVED_CONNECTIONS} reserved for "
            f"superusers and {DIRECT_CONNECTION_HEADROOM} for direct connections: at most {budget}"
        )
    if s.max_client_conn < s.default_pool_size:
        problems.append(
            f"max_client_conn: {s.max_client_conn} is below default_pool_size ({s.default_pool_size}); "
            "the pool could never fill"
        )
    # doc/config.md (max_client_conn): descriptors used can reach max_client_conn + pool_size * databases * users;
    # one database and one role here (console users use no server connections).
    needed = s.max_client_conn + s.default_pool_size + FD_OVERHEAD
    if needed > s.nofile_limit:
        problems.append(
            f"max_client_conn: {s.max_client_conn} clients plus {s.default_pool_size} server connections "
            f"and {FD_OVERHEAD} other descriptors need {needed} file descriptors; nofile_limit is "
            f"{s.nofile_limit}"
        )
    return problems


def render_pgbouncer_ini(s: PgBouncerSettings) -> str:
    """pgbouncer.ini. Every value is an identifier, host, address, number or path checked above, so none can
    hold a newline, '=' or a quote, and no line can start a comment (';' or '#') or a section ('[')."""
    lines = [
        "; Rendered by renderers/pgbouncer.py.",
        "[databases]",
        # No user= and no password=: pgbouncer logs in as the client's role with the client's SCRAM keys.
        f"{s.database} = host={s.backend_host} port={s.backend_port} dbname={s.database}",
        "",
        "[pgbouncer]",
        f"listen_addr = {s.listen_address}",
        f"listen_port = {s.listen_port}",
        # No Unix socket: clients and the healthcheck use TCP.
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {s.auth_file}",
        f"pool_mode = {s.pool_mode}",
        f"default_pool_size = {s.default_pool_size}",
        f"max_client_conn = {s.max_client_conn}",
        "ignore_startup_parameters = extra_float_digits",
    ]
    if s.admin_users:
        lines.append(f"admin_users = {','.join(s.admin_users)}")
    if s.stats_users:
        lines.append(f"stats_users = {','.join(s.stats_users)}")
    lines.append("")
    return "\n".join(lines)


def _userlist_field(value: str) -> str:
    # doc/config.md, "Authentication file format": fields in double quotes, a quote inside written twice.
    return '"' + value.replace('"', '""') + '"'


def render_userlist(user: str, secret: str) -> str:
    """One auth_file line: the role and its SCRAM secret (preferred: scram_sha256_verifier) or plain password."""
    problem = _identifier_problem("user", user)
    if problem:
        raise ValueError(problem)
    if not isinstance(secret, str) or not secret or any(c in secret for c in "\0\r\n"):
        raise ValueError("secret: must be a non-empty string without NUL, CR or LF (one line per user)")
    return f"{_userlist_field(user)} {_userlist_field(secret)}\n"


# ---------------------------------------------------------------------------------------------------------------
# SCRAM-SHA-256 secrets in PostgreSQL's format, "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"
# (RFC 5803's fields, base64), computed as RFC 5802/7677 define them and as PostgreSQL's scram_build_secret
# (src/common/scram-common.c) does: the password goes through PostgreSQL's SASLprep first.

SCRAM_ITERATIONS = 4096  # PostgreSQL's and PgBouncer's default (scram_iterations)
SCRAM_SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN


def postgres_saslprep(password: str) -> bytes:
    """The bytes PostgreSQL and libpq hash: pg_saslprep (src/common/saslprep.c), or the raw UTF-8 when it fails.

    Both the server (when it hashes a password) and libpq (when it logs in) use the raw password when
    pg_saslprep reports it prohibited, so that is what a matching secret must hash too. pg_saslprep's own
    quirks, kept here: pure ASCII is returned as is (control characters included); after the mapping step the
    prohibited, unassigned (Unicode 3.2) and bidi checks look at the mapped characters, not the NFKC output;
    an empty result is prohibited. The RFC 3454 tables are Python's stringprep module (Unicode 3.2, like
    PostgreSQL's).
    """
    raw = password.encode("utf-8")  # refuses lone surrogates: no password a client could send
    if password.isascii():
        return raw
    mapped = [" " if stringprep.in_table_c12(c) else c for c in password
              if stringprep.in_table_c12(c) or not stringprep.in_table_b1(c)]
    if not mapped:
        return raw
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3, stringprep.in_table_c4,
        stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )
    if any(check(c) for c in mapped for check in prohibited):
        return raw
    if any(stringprep.in_table_d1(c) for c in mapped):
        if any(stringprep.in_table_d2(c) for c in mapped):
            return raw
        if not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])):
            return raw
    return unicodedata.normalize("NFKC", "".join(mapped)).encode("utf-8")


def scram_sha256_verifier(password: str, *, salt: bytes, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM secret PostgreSQL would store for ``password`` with this salt and iteration count.

    Pure: pass a stable salt (16 random bytes kept with the stack's secrets) so the secret, and so the
    userlist and the role's password, change only when the password does.
    """
    if not isinstance(password, str) or not password or "\0" in password:
        raise ValueError("password: must be a non-empty string without NUL")
    if not isinstance(salt, bytes) or not salt:
        raise ValueError("salt: must be non-empty bytes")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ValueError("iterations: must be a positive integer")
    salted = hashlib.pbkdf2_hmac("sha256", postgres_saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def pgbouncer_healthcheck(s: PgBouncerSettings) -> tuple[str, ...]:
    """pg_isready against pgbouncer's own listener: 0 once pgbouncer accepts connections (it asks for the
    password, which pg_isready counts as up). It does not log in, and pgbouncer opens server connections only
    for logged-in clients, so it says nothing about PostgreSQL: the Database's own healthcheck does."""
    host = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(s.listen_address, s.listen_address)
    return ("CMD", "pg_isready", "-h", host, "-p", str(s.listen_port), "-U", s.user, "-d", s.database)


def pgbouncer_uploads(s: PgBouncerSettings, userlist: str) -> dict[str, str]:
    """Container path -> content, for ContainerSpec.uploads (userlist: render_userlist lines, joined)."""
    return {INI_PATH: render_pgbouncer_ini(s), s.auth_file: userlist}


def pooler_userlist(user: str, password: str) -> str:
    """The Database component's auth_file: the role's plain password, not a SCRAM secret.

    With a plain password in auth_file pgbouncer logs in to PostgreSQL itself (doc/config.md, auth_file), so
    the role's stored secret can be whatever PostgreSQL made of POSTGRES_PASSWORD at initdb or of a rotated
    password (a fresh salt each time). SCRAM pass-through would need the role's secret pinned byte for byte
    to this file's, which the entrypoint's initdb and the password rotation (renderers/postgres.py) do not do.
    The file lives only inside the pooler's container, like POSTGRES_PASSWORD in PostgreSQL's.
    """
    return render_userlist(user, password)
