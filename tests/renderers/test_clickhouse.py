"""The ClickHouse overrides are well-formed XML that keeps the server inside its container, for any allowed input.

tests/real/test_clickhouse_real.py checks the element names and values against ClickHouse 26.3 itself (chdb-core)
and runs a ClickHouse server on the rendered files.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.clickhouse import (
    CLIENT_CONFIG_PATH,
    ENTRYPOINT_USER_ENV,
    LOG_LEVELS,
    MAX_MEMORY_MB,
    MIN_MEMORY_MB,
    UPSTREAM_CACHE_DEFAULTS,
    ClickHouseSettings,
    clickhouse_client_command,
    clickhouse_env,
    clickhouse_healthcheck,
    render_clickhouse_client_config,
    render_clickhouse_config,
    render_clickhouse_startup,
    render_clickhouse_system_logs,
    render_clickhouse_users,
)

PORTS = st.integers(1, 65535)
HTTP_TCP = st.lists(PORTS, min_size=2, max_size=2, unique=True)
SETTINGS = st.builds(
    lambda ports, **kw: ClickHouseSettings(http_port=ports[0], tcp_port=ports[1], **kw),
    ports=HTTP_TCP,
    memory_limit_mb=st.integers(MIN_MEMORY_MB, MAX_MEMORY_MB),
    listen_host=st.sampled_from(["0.0.0.0", "127.0.0.1", "10.0.0.5"]),
    log_dir=st.from_regex(r"\A(/[a-z0-9_-]{1,12}){1,4}\Z"),
    log_level=st.sampled_from(LOG_LEVELS),
    log_size_mb=st.integers(1, 1024),
    log_count=st.integers(1, 100),
)
USERS = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# Any password, including XML's own syntax and CDATA terminators: only its hash may reach the file.
PASSWORDS = st.text(min_size=1, max_size=80).filter(lambda p: "\x00" not in p) | st.sampled_from(
    ["]]></password><x>", "a&b<c>\"'", "pw with spaces"]
)


def _values(root: ET.Element) -> dict[str, str]:
    """Leaf element paths (dotted, as system.server_settings names them) -> text."""
    out: dict[str, str] = {}

    def walk(element: ET.Element, prefix: str) -> None:
        for child in element:
            if not isinstance(child.tag, str):  # a comment
                continue
            path = f"{prefix}{child.tag}"
            if len(child):
                walk(child, f"{path}.")
            else:
                assert path not in out, f"{path} rendered twice"
                out[path] = child.text or ""

    walk(root, "")
    return out


@settings(max_examples=200, deadline=None)
@given(s=SETTINGS)
def test_config_is_well_formed_and_keeps_memory_below_the_limit(s: ClickHouseSettings) -> None:
    root = ET.fromstring(render_clickhouse_config(s))
    assert root.tag == "clickhouse"
    values = _values(root)
    limit = s.memory_limit_mb << 20
    server = int(values["max_server_memory_usage"])
    assert 0 < server < limit, "the server's own cap must be below the container limit"
    caches = {name: int(values[name]) for name in s.cache_sizes}
    assert caches == s.cache_sizes
    for name, size in caches.items():
        assert 0 <= size <= UPSTREAM_CACHE_DEFAULTS.get(name, 0), f"{name}={size}: above upstream's default"
    assert sum(caches.values()) <= server // 2, "caches may take at most half of the server's memory"
    assert values["uncompressed_cache_size"] == "0"
    assert values["mlock_executable"] == "false"
    assert (values["listen_host"], values["http_port"], values["tcp_port"]) == (
        s.listen_host, str(s.http_port), str(s.tcp_port))
    assert [e.tag for e in root.iter("listen_host")] == ["listen_host"], "one listen address only"
    for listener in ("mysql_port", "postgresql_port", "interserver_http_port"):  # upstream's unused listeners
        (element,) = root.findall(listener)
        assert element.get("remove") and not element.text
    assert values["logger.log"].startswith(s.log_dir.rstrip("/") + "/")
    assert values["logger.errorlog"].startswith(s.log_dir.rstrip("/") + "/")
    assert values["logger.size"] == f"{s.log_size_mb}M" and values["logger.count"] == str(s.log_count)
    assert values["logger.level"] == s.log_level


def test_a_1_gib_container_gets_a_768_mib_server_and_small_caches() -> None:
    s = ClickHouseSettings(memory_limit_mb=1024)
    values = _values(ET.fromstring(render_clickhouse_config(s)))
    assert values["max_server_memory_usage"] == str(768 << 20)
    assert values["mark_cache_size"] == str(64 << 20), "upstream's 5 GiB would be five times the container"
    assert sum(s.cache_sizes.values()) == 176 << 20


def test_a_large_container_keeps_upstream_cache_sizes() -> None:
    s = ClickHouseSettings(memory_limit_mb=256 << 10)  # 256 GiB
    assert s.cache_sizes["mark_cache_size"] == UPSTREAM_CACHE_DEFAULTS["mark_cache_size"]
    assert s.cache_sizes["query_condition_cache_size"] == UPSTREAM_CACHE_DEFAULTS["query_condition_cache_size"]


@settings(max_examples=200, deadline=None)
@given(user=USERS, password=PASSWORDS, access_management=st.booleans())
def test_users_file_holds_only_the_password_hash(user: str, password: str, access_management: bool) -> None:
    text = render_clickhouse_users(user=user, password=password, access_management=access_management)
    digest = hashlib.sha256(password.encode()).hexdigest()
    other = render_clickhouse_users(user=user, password="other", access_management=access_management)
    assert text.replace(digest, "H") == other.replace(hashlib.sha256(b"other").hexdigest(), "H"), (
        "only the hash may depend on the password")
    users = ET.fromstring(text).find("users")
    assert users is not None
    entry = users.find(user)
    assert entry is not None and entry.get("replace")
    assert entry.findtext("password_sha256_hex") == digest
    assert [e.tag for e in entry if e.tag.startswith("password")] == ["password_sha256_hex"]
    assert entry.findtext("access_management") == str(int(access_management))
    assert [ip.text for ip in entry.iter("ip")] == ["::/0"]
    if user == "default":
        assert len(users) == 1
    else:
        (removed,) = users.findall("default")
        assert removed.get("remove") and len(removed) == 0, "a passwordless default user must not remain"


@pytest.mark.parametrize("user", ["", "1app", "app-user", "app user", "x" * 65, "<app>"])
def test_users_file_refuses_names_that_are_not_xml_element_names(user: str) -> None:
    with pytest.raises(ValueError, match="user"):
        render_clickhouse_users(user=user, password="pw")


def test_env_sets_none_of_the_entrypoint_user_variables() -> None:
    env = dict(e.split("=", 1) for e in clickhouse_env())
    assert env == {"CLICKHOUSE_SKIP_USER_SETUP": "1"}
    assert not set(env) & set(ENTRYPOINT_USER_ENV), "the entrypoint would put the password in argv or a file"


@pytest.mark.parametrize(("listen_host", "probe"), [("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")])
def test_healthcheck_pings_where_the_server_listens(listen_host: str, probe: str) -> None:
    s = ClickHouseSettings(http_port=18123, tcp_port=19000, listen_host=listen_host)
    assert clickhouse_healthcheck(s) == ("CMD", "wget", "--spider", "-q", "-T", "3", f"http://{probe}:18123/ping")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"memory_limit_mb": MIN_MEMORY_MB - 1}, "memory_limit_mb"),
        ({"http_port": 0}, "http_port"),
        ({"tcp_port": 65536}, "tcp_port"),
        ({"http_port": 9000, "tcp_port": 9000}, "both 9000"),
        ({"listen_host": "::"}, "listen_host"),
        ({"listen_host": "localhost"}, "listen_host"),
        ({"log_dir": "var/log"}, "log_dir"),
        ({"log_dir": "/var/log/<x>"}, "log_dir"),
        ({"log_dir": "/var/../etc"}, "log_dir"),
        ({"log_level": "info"}, "log_level"),
        ({"log_size_mb": 0}, "log_size_mb"),
        ({"log_count": 0}, "log_count"),
        ({"system_log_ttl_days": 0}, "system_log_ttl_days"),
        ({"system_log_ttl_days": 3651}, "system_log_ttl_days"),
    ],
)
def test_settings_refuse_values_the_server_would_misread(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClickHouseSettings(**kwargs)


@settings(max_examples=100, deadline=None)
@given(database=USERS)
def test_startup_file_creates_exactly_the_database_and_stops_the_server_if_it_cannot(database: str) -> None:
    root = ET.fromstring(render_clickhouse_startup(database=database))
    (scripts,) = root.findall("startup_scripts")
    assert scripts.findtext("throw_on_error") == "true"
    assert [q.text for q in scripts.iter("query")] == [f"CREATE DATABASE IF NOT EXISTS {database}"]
    assert scripts.find("scripts/user") is None, "no user: an internal query, since `default` is removed"


@pytest.mark.parametrize("database", ["", "1db", "my-db", "db name", "x" * 65, "a;DROP DATABASE b", "`db`"])
def test_startup_file_refuses_names_that_would_need_quoting(database: str) -> None:
    with pytest.raises(ValueError, match="database"):
        render_clickhouse_startup(database=database)


# The system logs upstream config.xml enables with no <ttl> (ClickHouse/ClickHouse@001409ce programs/server/config.xml;
# text_log at <level>trace</level>; opentelemetry_span_log with an <engine> of its own on finish_date).
# Written out here, not imported: a table dropped from the renderer must fail this test. The whole set, with the
# three logs that have a TTL upstream, is held to the recorded config.xml in test_clickhouse_system_log_ttls.py.
UNBOUNDED_SYSTEM_LOGS = {
    "query_log", "trace_log", "query_thread_log", "query_views_log", "part_log", "text_log", "metric_log",
    "latency_log", "error_log", "query_metric_log", "asynchronous_metric_log", "opentelemetry_span_log", "crash_log",
    "backup_log", "s3queue_log",
}


@settings(max_examples=100, deadline=None)
@given(days=st.integers(1, 3650), level=st.sampled_from(LOG_LEVELS))
def test_system_logs_file_gives_every_unbounded_log_a_ttl(days: int, level: str) -> None:
    s = ClickHouseSettings(system_log_ttl_days=days, log_level=level)
    root = ET.fromstring(render_clickhouse_system_logs(s))
    assert root.tag == "clickhouse", "a config.d file of the server, merged into config.xml's <clickhouse>"
    sections = {child.tag: child for child in root if isinstance(child.tag, str)}
    assert UNBOUNDED_SYSTEM_LOGS <= set(sections)
    for table in UNBOUNDED_SYSTEM_LOGS - {"opentelemetry_span_log"}:
        section = sections[table]
        assert section.findtext("ttl") == f"event_date + INTERVAL {days} DAY DELETE", table
        # Only what is added: database, table, partition and engine stay config.xml's (an <engine> here would make
        # the server refuse <ttl>: getEngineDefinitionFromConfig.cpp "If 'engine' is specified ... TTL").
        expected = {"ttl", "level"} if table == "text_log" else {"ttl"}
        assert {child.tag for child in section if isinstance(child.tag, str)} == expected, table
    assert sections["opentelemetry_span_log"].findtext("engine").endswith(
        f" TTL finish_date + INTERVAL {days} DAY DELETE")
    assert sections["text_log"].findtext("level") == level, "text_log follows the file log, not upstream's trace"


def test_system_logs_default_to_a_week_and_text_log_below_trace() -> None:
    root = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings()))
    assert root.findtext("query_log/ttl") == "event_date + INTERVAL 7 DAY DELETE"
    assert root.findtext("text_log/level") == "information"


@settings(max_examples=100, deadline=None)
@given(ports=HTTP_TCP, user=USERS, listen_host=st.sampled_from(["0.0.0.0", "127.0.0.1", "10.0.0.5"]))
def test_client_config_names_this_servers_address_port_and_user(ports: list[int], user: str, listen_host: str) -> None:
    s = ClickHouseSettings(http_port=ports[0], tcp_port=ports[1], listen_host=listen_host)
    root = ET.fromstring(render_clickhouse_client_config(s, user=user))
    # The clickhouse-client package's config.xml has root <config> (programs/client/clickhouse-client.xml); a
    # config.d file with another root is skipped by ConfigProcessor::merge, and the client falls back to 9000/default.
    assert root.tag == "config"
    assert {c.tag: c.text for c in root if isinstance(c.tag, str)} == {
        "host": s.probe_host, "port": str(ports[1]), "user": user}
    assert CLIENT_CONFIG_PATH.startswith("/etc/clickhouse-client/config.d/") and CLIENT_CONFIG_PATH.endswith(".xml")


@settings(max_examples=100, deadline=None)
@given(ports=HTTP_TCP, user=USERS)
def test_client_command_names_the_port_and_user(ports: list[int], user: str) -> None:
    s = ClickHouseSettings(http_port=ports[0], tcp_port=ports[1], listen_host="127.0.0.1")
    argv = clickhouse_client_command(s, container="analytics-clickhouse", user=user).split()
    assert argv[:4] == ["docker", "exec", "-it", "analytics-clickhouse"] and argv[4] == "clickhouse-client"
    assert argv[argv.index("--port") + 1] == str(ports[1]), "the default 9000 is the object store's"
    assert argv[argv.index("--user") + 1] == user, "the default user `default` is removed"
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "--ask-password" in argv and not any(a.startswith("--password") for a in argv), "no password in argv"


@pytest.mark.parametrize("container", ["", "a b", "x;rm -rf /", "$(id)"])
def test_client_command_refuses_container_names_docker_would_not_make(container: str) -> None:
    with pytest.raises(ValueError, match="container"):
        clickhouse_client_command(ClickHouseSettings(), container=container, user="app")
