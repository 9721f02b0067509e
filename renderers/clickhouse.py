"""ClickHouse server overrides (config.d and users.d XML), env and probe, for a memory-limited container.

Upstream facts this module relies on (read at the pinned version; tests/renderers/test_clickhouse.py and
tests/real/test_clickhouse_real.py check the ones a program can check):

Image ``clickhouse/clickhouse-server:26.3.17.110`` (26.3 is the LTS line: docker-library/official-images
library/clickhouse@7ad8cc1063 tags ``lts, 26.3, 26.3.17.110`` with ``Architectures: amd64, arm64v8``, built from
ClickHouse/docker-library@9d3f97b6 server/26.3.17.110/Dockerfile.ubuntu, which that file's header says is generated
from ClickHouse's own docker/server by tests/ci/official_docker.py; the clickhouse/clickhouse-server manifest itself
could not be inspected from here, the Docker official image ``clickhouse:26.3.17.110`` is the verified twin).
In that directory:

- Dockerfile.ubuntu: installs ``wget`` and ``busybox`` (so the healthcheck can use wget; there is no curl),
  ``VOLUME /var/lib/clickhouse``, creates /var/log/clickhouse-server (no volume), ``EXPOSE 9000 8123 9009``,
  copies docker_related_config.xml into /etc/clickhouse-server/config.d/.
- docker_related_config.xml: ``<listen_host>::</listen_host>``, ``<listen_host>0.0.0.0</listen_host>``,
  ``<listen_try>1</listen_try>``. config.d files are merged in name order and a merged ``listen_host`` only
  replaces the *first* one, so the override here is uploaded over that very file (CONFIG_D_PATH): otherwise
  the server would keep listening on every address.
- entrypoint.sh: reads ``CLICKHOUSE_USER`` (default ``default``), ``CLICKHOUSE_PASSWORD``/``_FILE``,
  ``CLICKHOUSE_DB``, ``CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT`` (lines 45-53). With a user or password set it
  writes the password in clear into users.d/default-user.xml (lines 119-141); with ``CLICKHOUSE_DB`` set or
  init scripts present it runs ``clickhouse-client ... --password "$CLICKHOUSE_PASSWORD"`` (line 206): the
  password in a process's argv. So none of those variables is used: the user and a SHA-256 of the password come
  in users.d (render_clickhouse_users), and ``CLICKHOUSE_SKIP_USER_SETUP=1`` (line 53, 117) keeps the entrypoint
  from writing its own users file. Init scripts (lines 216-233, only on an empty data directory) would go through
  that same client as user ``default`` (removed here), so the database comes from the server's own
  ``startup_scripts`` instead (render_clickhouse_startup).

ClickHouse 26.3 (programs/server/config.xml, src/Core/ServerSettings.cpp, programs/server/Server.cpp,
src/Common/getMemoryAmount.cpp, read from the indexed ClickHouse sources: the 8.4 GB repository could not be fetched
at the tag. The 26.3 values are read back from ClickHouse's own system.server_settings by the real-binary test,
via chdb-core 26.3, which reports version 26.3.9.1):

- config.xml listens on http_port 8123, tcp_port 9000 (this project's S3 port), mysql_port 9004,
  postgresql_port 9005 and interserver_http_port 9009 (replication only). Only HTTP and native TCP stay here;
  the others are removed (``remove="remove"``, ConfigProcessor) so they bind nothing.
- Memory: with max_server_memory_usage = 0 the server allows max_server_memory_usage_to_ram_ratio (0.9) of
  getMemoryAmount(), which is clamped to the cgroup v2 ``memory.max`` (v1 ``memory.limit_in_bytes``) in
  src/Common/getMemoryAmount.cpp; a larger explicit value is lowered to that. Here it is set explicitly to 3/4 of
  the container limit, so the limit holds even where the cgroup is not visible, and the rest of the limit is left
  for what the tracker does not count (binary, allocator slack).
- Caches: mark_cache_size defaults to 5 GiB (5368709120), as do primary_index_cache_size, index_mark_cache_size
  and vector_similarity_index_cache_size; config.xml sets uncompressed_cache_size to 8 GiB. Server.cpp only
  lowers each one to cache_size_to_ram_max_ratio (0.5) of RAM, so several of them together can exceed a small
  limit. Each is set here to a share of the limit, never above its upstream default (UPSTREAM_CACHE_DEFAULTS).
- config.xml sets mlock_executable true: with CAP_IPC_LOCK the whole binary (hundreds of MB) would be locked
  into the container's memory. These containers get no such capability; it is set false so it never happens.
- Logs: config.xml logs to /var/log/clickhouse-server/clickhouse-server{,.err}.log at level trace with rotation
  ``size`` 1000M × ``count`` 10; here the level is lower and size × count is bounded.
- GET /ping on the HTTP port answers ``Ok.`` without authentication; the entrypoint probes it with
  ``wget --spider -T 1 -q`` (entrypoint.sh line 197), as the healthcheck here does.
- System log tables (render_clickhouse_system_logs): a system log exists only when config.xml has its section
  (src/Interpreters/SystemLog.cpp createSystemLog: "Not creating {}.{} since corresponding section '{}' is missing
  from config"). config.xml enables 18 (ENABLED_SYSTEM_LOGS; recorded in tests/upstream/clickhouse_config_system_logs.xml
  from ClickHouse/ClickHouse@001409ce programs/server/config.xml, the one version the search index holds, read by
  section name, not line: the 8.4 GB repository could not be fetched at the 26.3.17.110 tag). 15 of them carry no
  ``<ttl>``: they grow until the disk is full. Several write without any query: metric_log, latency_log,
  error_log and query_metric_log (per running query) each collect a row a second
  (``collect_interval_milliseconds`` 1000), asynchronous_metric_log every metric each update, trace_log a stack
  at every 4 MiB step of the server's memory peak (``total_memory_profiler_step`` 4194304) besides the query
  profilers, and text_log every server log line at ``<level>trace</level>`` (here it follows the file log's
  level). processors_profile_log (30 days), asynchronous_insert_log (3 days) and blob_storage_log (30 days) have
  a TTL of their own, which is kept unless analytics.systemLogTtlDays is shorter. session_log is commented out
  there, so no section is written for it (one would turn that log on).
  A ``<ttl>`` there is appended to the table's engine as ``TTL <expr>``
  (src/Interpreters/getEngineDefinitionFromConfig.cpp@eb092734, ``config.getString(config_prefix + ".ttl")``);
  every log with the default engine has ``event_date`` (the default ``PARTITION BY toYYYYMM(event_date)``
  of SystemLog.h, or config.xml's own partition_by on it; crash_log's columns, src/Interpreters/CrashLog.cpp,
  start with it). opentelemetry_span_log is the exception: config.xml gives it a whole ``<engine>`` on
  ``finish_date`` (it has no event_date), and with an ``<engine>`` the server refuses a ``<ttl>`` at start
  (getEngineDefinitionFromConfig.cpp: "If 'engine' is specified for system table, TTL parameters should be
  specified directly inside 'engine'"), so its engine text is replaced by the same engine with the TTL in it.
  A changed definition makes the server rename the existing
  table to ``<name>_0`` and create a new one (SystemLog.cpp prepareTable: "has obsolete or different structure.
  Renaming it to"): the renamed copy keeps its rows and gets no TTL, so it is dropped by hand once (README).
- Client (render_clickhouse_client_config): ``clickhouse-client`` reads the first of ./clickhouse-client.xml,
  $XDG_CONFIG_HOME/clickhouse/config.xml, ~/.clickhouse-client/config.xml, /etc/clickhouse-client/config.xml
  (src/Common/Config/getClientConfigPath.cpp@071ed16a); the image's clickhouse-client package installs the last
  (packages/clickhouse-client.yaml@03acace9 ``dst: /etc/clickhouse-client/config.xml``), whose root element is
  ``<config>`` (programs/client/clickhouse-client.xml@1fb7a6f9). ConfigProcessor merges ``<name>.d/*.xml`` and
  ``conf.d/*.xml`` beside it, but silently skips a file whose root differs from a base root that is neither
  ``clickhouse`` nor ``yandex`` (ConfigProcessor::merge returns false), so the file here is ``<config>``. Without
  it the client dials ``localhost:9000`` as ``default`` (ConnectionParameters.cpp@013715ae:
  ``config.getString("user", "default")``, getPortFromConfig): here 9000 is the object store's port under host
  networking, and ``default`` is removed.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

IMAGE_REPOSITORY = "clickhouse/clickhouse-server"
DEFAULT_VERSION = "26.3.17.110"

DATA_PATH = "/var/lib/clickhouse"  # the image's VOLUME
LOG_DIR = "/var/log/clickhouse-server"  # created by the image, no VOLUME: give it a named volume
CONFIG_D_PATH = "/etc/clickhouse-server/config.d/docker_related_config.xml"  # replaces the image's listen_host file
USERS_D_PATH = "/etc/clickhouse-server/users.d/backing-services.xml"
# Its own file: config.d files merge by element, so it neither replaces nor is replaced by CONFIG_D_PATH.
STARTUP_SCRIPTS_PATH = "/etc/clickhouse-server/config.d/backing-services-startup.xml"
# Its own file too: the chdb test reads CONFIG_D_PATH's elements as server settings, which these are not.
SYSTEM_LOGS_PATH = "/etc/clickhouse-server/config.d/backing-services-system-logs.xml"
# Merged into the clickhouse-client package's /etc/clickhouse-client/config.xml (module docstring).
CLIENT_CONFIG_PATH = "/etc/clickhouse-client/config.d/backing-services.xml"
CLIENT_CONFIG_ROOT = "config"  # the root element of that package's config.xml; another root is skipped

# Every system log config.xml enables (module docstring; tests/upstream/clickhouse_config_system_logs.xml), in its
# order. Only these get a section: one for a log config.xml does not enable (session_log is commented out) would
# turn that log on.
ENABLED_SYSTEM_LOGS = (
    "query_log", "trace_log", "query_thread_log", "query_views_log", "part_log", "text_log", "metric_log",
    "latency_log", "error_log", "query_metric_log", "asynchronous_metric_log", "opentelemetry_span_log", "crash_log",
    "processors_profile_log", "asynchronous_insert_log", "backup_log", "s3queue_log", "blob_storage_log",
)
# The logs config.xml gives a TTL itself, in days: kept, unless the configured days are fewer.
UPSTREAM_SYSTEM_LOG_TTL_DAYS = {"processors_profile_log": 30, "asynchronous_insert_log": 3, "blob_storage_log": 30}
# opentelemetry_span_log's <engine> in config.xml (whitespace folded): the TTL goes inside it (module docstring).
OPENTELEMETRY_SPAN_LOG_ENGINE = "engine MergeTree partition by toYYYYMM(finish_date) order by (finish_date, finish_time_us)"
DEFAULT_SYSTEM_LOG_TTL_DAYS = 7
MAX_SYSTEM_LOG_TTL_DAYS = 3650

# Environment variables entrypoint.sh reads for its own user setup (lines 45-53); deliberately never set here.
ENTRYPOINT_USER_ENV = ("CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DB", "CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT")
SKIP_USER_SETUP_ENV = "CLICKHOUSE_SKIP_USER_SETUP"

# Listeners in upstream config.xml that these services do not use.
REMOVED_LISTENERS = ("mysql_port", "postgresql_port", "interserver_http_port")

# Poco logger levels, as listed in config.xml's <logger> comment.
LOG_LEVELS = ("none", "fatal", "critical", "error", "warning", "notice", "information", "debug", "trace", "test")

# Defaults of the caches sized below, in ClickHouse 26.3 (system.server_settings `default`; uncompressed_cache_size
# is 0 there but config.xml sets 8 GiB). The real-binary test compares these with the server's own.
UPSTREAM_CACHE_DEFAULTS = {
    "mark_cache_size": 5368709120,
    "primary_index_cache_size": 5368709120,
    "index_mark_cache_size": 5368709120,
    "vector_similarity_index_cache_size": 5368709120,
    "text_index_tokens_cache_size": 1073741824,
    "text_index_header_cache_size": 1073741824,
    "text_index_postings_cache_size": 2147483648,
    "iceberg_metadata_files_cache_size": 1073741824,
    "parquet_metadata_cache_size": 536870912,
    "compiled_expression_cache_size": 134217728,
    "query_condition_cache_size": 104857600,
}
# Each cache's largest share of the container limit (1/n). Marks matter most for MergeTree reads.
_CACHE_DIVISORS = {
    "mark_cache_size": 16,
    "primary_index_cache_size": 32,
    "index_mark_cache_size": 64,
    "vector_similarity_index_cache_size": 128,
    "text_index_tokens_cache_size": 128,
    "text_index_header_cache_size": 128,
    "text_index_postings_cache_size": 128,
    "iceberg_metadata_files_cache_size": 128,
    "parquet_metadata_cache_size": 128,
    "compiled_expression_cache_size": 128,
    "query_condition_cache_size": 128,
}
# Disabled: used only with the query setting use_uncompressed_cache (off by default).
_DISABLED_CACHES = ("uncompressed_cache_size",)

MIN_MEMORY_MB = 512  # below this the server's own baseline leaves too little for queries
MAX_MEMORY_MB = 1 << 20
SERVER_MEMORY_SHARE = (3, 4)  # max_server_memory_usage = 3/4 of the container limit

_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # the user name is an XML element name in users.d
_DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # an SQL identifier that needs no quoting
_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # Docker's own rule for container names: no shell quoting


@dataclass(frozen=True, kw_only=True)
class ClickHouseSettings:
    memory_limit_mb: int = 1024  # the container's memory limit
    http_port: int = 8123
    tcp_port: int = 9000  # upstream's default collides with the object store's 9000: configure another
    listen_host: str = "0.0.0.0"  # IPv4 only: 0.0.0.0 in a bridge container, 127.0.0.1 with host networking
    log_dir: str = LOG_DIR
    log_level: str = "information"
    log_size_mb: int = 10  # rotate at this size ...
    log_count: int = 5  # ... keeping this many old files, per log (server log and error log)
    system_log_ttl_days: int = DEFAULT_SYSTEM_LOG_TTL_DAYS  # rows of ENABLED_SYSTEM_LOGS older than this are deleted

    def __post_init__(self) -> None:
        problems = []
        if not MIN_MEMORY_MB <= self.memory_limit_mb <= MAX_MEMORY_MB:
            problems.append(f"memory_limit_mb: {self.memory_limit_mb} is not in {MIN_MEMORY_MB}..{MAX_MEMORY_MB}")
        for name in ("http_port", "tcp_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                problems.append(f"{name}: {port} is not in 1..65535")
        if self.http_port == self.tcp_port:
            problems.append(f"http_port and tcp_port are both {self.http_port}")
        try:
            ipaddress.IPv4Address(self.listen_host)
        except ValueError:
            problems.append(f"listen_host: {self.listen_host!r} is not an IPv4 address")
        if not _PATH.fullmatch(self.log_dir) or "//" in self.log_dir or "/../" in f"{self.log_dir}/":
            problems.append(f"log_dir: {self.log_dir!r} is not an absolute path of [A-Za-z0-9._/-]")
        if self.log_level not in LOG_LEVELS:
            problems.append(f"log_level: {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if not 1 <= self.log_size_mb <= 1024:
            problems.append(f"log_size_mb: {self.log_size_mb} is not in 1..1024")
        if not 1 <= self.log_count <= 100:
            problems.append(f"log_count: {self.log_count} is not in 1..100")
        if not 1 <= self.system_log_ttl_days <= MAX_SYSTEM_LOG_TTL_DAYS:
            problems.append(f"system_log_ttl_days: {self.system_log_ttl_days} is not in 1..{MAX_SYSTEM_LOG_TTL_DAYS}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def memory_limit_bytes(self) -> int:
        return self.memory_limit_mb << 20

    @property
    def max_server_memory_usage(self) -> int:
        numerator, denominator = SERVER_MEMORY_SHARE
        return self.memory_limit_bytes * numerator // denominator

    @property
    def cache_sizes(self) -> dict[str, int]:
        """Every cache this override sizes, in bytes (0: disabled)."""
        sizes = {
            name: min(UPSTREAM_CACHE_DEFAULTS[name], self.memory_limit_bytes // divisor)
            for name, divisor in _CACHE_DIVISORS.items()
        }
        return sizes | {name: 0 for name in _DISABLED_CACHES}

    @property
    def log_path(self) -> str:
        return f"{self.log_dir.rstrip('/')}/clickhouse-server.log"

    @property
    def error_log_path(self) -> str:
        return f"{self.log_dir.rstrip('/')}/clickhouse-server.err.log"

    @property
    def probe_host(self) -> str:
        """Where a probe inside the container reaches the server."""
        address = ipaddress.IPv4Address(self.listen_host)
        return "127.0.0.1" if address.is_unspecified else self.listen_host


def _leaf(parent: ET.Element, tag: str, text: str | int) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


def _document(root: ET.Element, comment: str) -> str:
    root.insert(0, ET.Comment(f" {comment} "))
    ET.indent(root, space="    ")
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_clickhouse_config(s: ClickHouseSettings) -> str:
    """The config.d override, for CONFIG_D_PATH: listeners, memory, caches and file logs."""
    root = ET.Element("clickhouse")
    _leaf(root, "listen_host", s.listen_host)
    _leaf(root, "http_port", s.http_port)
    _leaf(root, "tcp_port", s.tcp_port)
    for listener in REMOVED_LISTENERS:
        ET.SubElement(root, listener, {"remove": "remove"})
    _leaf(root, "max_server_memory_usage", s.max_server_memory_usage)
    for name, size in s.cache_sizes.items():
        _leaf(root, name, size)
    _leaf(root, "mlock_executable", "false")
    logger = ET.SubElement(root, "logger")
    _leaf(logger, "level", s.log_level)
    _leaf(logger, "log", s.log_path)
    _leaf(logger, "errorlog", s.error_log_path)
    _leaf(logger, "size", f"{s.log_size_mb}M")
    _leaf(logger, "count", s.log_count)
    return _document(root, "backing-services: listeners, memory and logs for a memory-limited container")


def system_log_ttl(days: int, column: str = "event_date") -> str:
    """The TTL expression a system log table gets: whole rows go once their day is ``days`` old."""
    return f"{column} + INTERVAL {days} DAY DELETE"


def system_log_ttl_days(table: str, days: int) -> int | None:
    """The days the rendered file gives ``table``, or None where config.xml's own TTL is already no longer."""
    upstream = UPSTREAM_SYSTEM_LOG_TTL_DAYS.get(table)
    return days if upstream is None or days < upstream else None


def render_clickhouse_system_logs(s: ClickHouseSettings) -> str:
    """A config.d file, for SYSTEM_LOGS_PATH: a TTL on every system log table config.xml enables.

    Merged by element into config.xml's sections, so their database, table, partitioning and flush settings stay
    upstream's; only ``<ttl>`` is added (for opentelemetry_span_log, the TTL inside its ``<engine>``), and
    text_log's ``<level>`` (trace upstream: every trace line of the server becomes a row) follows the file log's
    level.
    """
    root = ET.Element("clickhouse")
    for table in ENABLED_SYSTEM_LOGS:
        days = system_log_ttl_days(table, s.system_log_ttl_days)
        if days is None:
            continue
        section = ET.SubElement(root, table)
        if table == "opentelemetry_span_log":
            _leaf(section, "engine", f"{OPENTELEMETRY_SPAN_LOG_ENGINE} TTL {system_log_ttl(days, 'finish_date')}")
        else:
            _leaf(section, "ttl", system_log_ttl(days))
        if table == "text_log":
            _leaf(section, "level", s.log_level)
    return _document(root, f"backing-services: system log tables keep at most {s.system_log_ttl_days} days")


def render_clickhouse_client_config(s: ClickHouseSettings, *, user: str) -> str:
    """The client's config.d file, for CLIENT_CONFIG_PATH: a bare ``clickhouse-client`` reaches this server.

    Host, native port and user only; no password (``--ask-password`` or ``--password`` on the command line), so the
    file holds no secret.
    """
    if not _USER.fullmatch(user):
        raise ValueError(f"user: {user!r} must match {_USER.pattern}")
    root = ET.Element(CLIENT_CONFIG_ROOT)
    _leaf(root, "host", s.probe_host)
    _leaf(root, "port", s.tcp_port)
    _leaf(root, "user", user)
    return _document(root, f"backing-services: clickhouse-client connects to {s.probe_host}:{s.tcp_port} as {user}")


def clickhouse_client_command(s: ClickHouseSettings, *, container: str, user: str) -> str:
    """The interactive client in the container, naming host, port and user: never the defaults' 9000/`default`."""
    if not _CONTAINER.fullmatch(container):
        raise ValueError(f"container: {container!r} must match {_CONTAINER.pattern}")
    if not _USER.fullmatch(user):
        raise ValueError(f"user: {user!r} must match {_USER.pattern}")
    return (
        f"docker exec -it {container} clickhouse-client --host {s.probe_host} --port {s.tcp_port} "
        f"--user {user} --ask-password"
    )


def render_clickhouse_users(*, user: str, password: str, access_management: bool = False) -> str:
    """The users.d file, for USERS_D_PATH: one password user, and no passwordless `default`.

    Only the password's SHA-256 is written; the password itself is in no file, variable or argv. The user
    replaces any same-named user from users.xml; `default` (no password in users.xml) is removed otherwise.
    """
    if not _USER.fullmatch(user):
        raise ValueError(f"user: {user!r} must match {_USER.pattern}")
    if not password:
        raise ValueError("password: must be non-empty")
    root = ET.Element("clickhouse")
    users = ET.SubElement(root, "users")
    if user != "default":
        ET.SubElement(users, "default", {"remove": "remove"})
    entry = ET.SubElement(users, user, {"replace": "replace"})
    _leaf(entry, "password_sha256_hex", hashlib.sha256(password.encode()).hexdigest())
    networks = ET.SubElement(entry, "networks")
    _leaf(networks, "ip", "::/0")  # reachability is decided by listen_host and the published ports
    _leaf(entry, "profile", "default")
    _leaf(entry, "quota", "default")
    _leaf(entry, "access_management", int(access_management))
    return _document(root, f"backing-services: user {user} (password as SHA-256)")


def render_clickhouse_startup(*, database: str) -> str:
    """A config.d file, for STARTUP_SCRIPTS_PATH: the server creates ``database`` itself, on every start.

    The entrypoint's CLICKHOUSE_DB is not used (module docstring: it runs clickhouse-client with the password in
    argv), and its /docker-entrypoint-initdb.d runs *.sql through that same client as user `default`, which the
    users.d file removes. ClickHouse's own ``startup_scripts`` need neither: Server.cpp runs them after loading
    metadata and before any listener starts (loadStartupScripts, then server.start()), as an internal query with
    no user, so /ping (the healthcheck) only answers once the database exists. ``IF NOT EXISTS`` makes every
    later start a no-op, and a renamed database is created on the next start. ``throw_on_error`` (default false
    in 26.3, system.server_settings) makes a failure stop the server instead of leaving apps a missing database.
    """
    if not _DATABASE.fullmatch(database):
        raise ValueError(f"database: {database!r} must match {_DATABASE.pattern}")
    root = ET.Element("clickhouse")
    scripts = ET.SubElement(root, "startup_scripts")
    _leaf(scripts, "throw_on_error", "true")
    _leaf(ET.SubElement(scripts, "scripts"), "query", f"CREATE DATABASE IF NOT EXISTS {database}")
    return _document(root, f"backing-services: database {database}, created by the server at startup")


def clickhouse_env() -> list[str]:
    """The container's environment: the entrypoint must leave users to the users.d file."""
    return [f"{SKIP_USER_SETUP_ENV}=1"]


def clickhouse_healthcheck(s: ClickHouseSettings) -> tuple[str, ...]:
    """/ping needs no credentials; the image has GNU wget (and busybox), not curl."""
    return ("CMD", "wget", "--spider", "-q", "-T", "3", f"http://{s.probe_host}:{s.http_port}/ping")
