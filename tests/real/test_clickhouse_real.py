"""The rendered ClickHouse files, read by ClickHouse itself.

Two real binaries, because neither alone is the 26.3 server the image runs:

- chdb-core 26.3 (PyPI; ClickHouse 26.3's engine as a library: clickhouse-local, no listeners). It loads the
  rendered config.d through ClickHouse's own config processor and reports every server setting, with its default,
  in system.server_settings: a misspelled element, a value it does not take or a wrong upstream default fails here.
- Debian's clickhouse-server (bookworm: 18.16.1, the only ClickHouse server Debian or PyPI installs here; no
  26.x server package is reachable). It serves the rendered files: listeners, /ping and the healthcheck, the
  users.d password, removed listeners, file logs. It ignores the memory settings it predates (checked above).

Only paths and ports differ from the container (a temp dir, free loopback ports); everything else is rendered.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderers.clickhouse import (
    CLIENT_CONFIG_PATH,
    CONFIG_D_PATH,
    SYSTEM_LOGS_PATH,
    UPSTREAM_CACHE_DEFAULTS,
    USERS_D_PATH,
    ClickHouseSettings,
    clickhouse_healthcheck,
    render_clickhouse_client_config,
    render_clickhouse_config,
    render_clickhouse_system_logs,
    render_clickhouse_users,
    system_log_ttl,
)

from .processes import free_tcp_ports, stop_process, wait_until_ready

pytestmark = pytest.mark.real_binary

CHDB_VERSION_PREFIX = "26.3."  # the image's LTS line (renderers/clickhouse.py DEFAULT_VERSION)
# Listener keys of programs/server/config.xml that are read by Server.cpp directly, so system.server_settings does
# not list them (config.xml: <listen_host> (commented examples), <http_port>8123, <tcp_port>9000, <mysql_port>9004,
# <postgresql_port>9005). Every other rendered element must be a 26.3 server setting.
LISTENER_KEYS = {"listen_host", "http_port", "tcp_port", "mysql_port", "postgresql_port"}
# Listeners upstream config.xml enables that these services do not use (kept here, not taken from the renderer).
UNUSED_LISTENERS = ("mysql_port", "postgresql_port", "interserver_http_port")
USER, PASSWORD = "app", "Pa$$ <w0rd> & ]]> 'quoted'"
MEMORY_LIMIT_MB = 1024
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0

_CHDB_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import chdb
    conn = chdb.connect(f"file:{sys.argv[1]}/db?config-file={sys.argv[2]}")
    cur = conn.cursor()
    cur.execute("SELECT version()")
    version = cur.fetchall()[0][0]
    cur.execute("SELECT name, value, default, changed FROM system.server_settings")
    rows = [list(r) for r in cur.fetchall()]
    print("CHDB-RESULT " + json.dumps({"version": version, "settings": rows}))
    """
)


UPSTREAM_SYSTEM_LOGS = Path(__file__).resolve().parent.parent / "upstream" / "clickhouse_config_system_logs.xml"


def _leaf_paths(root: ET.Element) -> dict[str, ET.Element]:
    """Dotted leaf paths, as system.server_settings names nested settings (logger.size)."""
    out: dict[str, ET.Element] = {}

    def walk(element: ET.Element, prefix: str) -> None:
        for child in element:
            if isinstance(child.tag, str):
                path = f"{prefix}{child.tag}"
                if len(child):
                    walk(child, f"{path}.")
                else:
                    out[path] = child

    walk(root, "")
    return out


@dataclass(frozen=True)
class Chdb:
    version: str
    settings: dict[str, tuple[str, str, int]]  # name -> (value, default, changed)


def _chdb(tmp_path: Path, config_d: str | None) -> Chdb:
    """ClickHouse 26.3 (clickhouse-local in chdb-core) on a minimal config.xml plus the config.d override."""
    try:
        import chdb  # noqa: F401
    except ImportError as error:
        raise AssertionError("chdb-core is not installed: pip install -r requirements-dev.txt") from error
    conf = tmp_path / "conf"
    (conf / "config.d").mkdir(parents=True)
    (conf / "config.xml").write_text(f"<clickhouse><path>{tmp_path}/data/</path></clickhouse>\n")
    if config_d is not None:
        (conf / "config.d" / Path(CONFIG_D_PATH).name).write_text(config_d)
    run = subprocess.run(
        [sys.executable, "-c", _CHDB_SCRIPT, str(tmp_path), str(conf / "config.xml")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("CHDB-RESULT ")]
    assert run.returncode == 0 and lines, f"chdb failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("CHDB-RESULT "))
    return Chdb(result["version"], {name: (value, default, changed) for name, value, default, changed in result["settings"]})


def _chdb_query(tmp_path: Path, query: str) -> subprocess.CompletedProcess[str]:
    script = "import sys, chdb\nconn = chdb.connect(f'file:{sys.argv[1]}/db')\nconn.cursor().execute(sys.argv[2])\nprint('CHDB-OK')"
    return subprocess.run([sys.executable, "-c", script, str(tmp_path), query], capture_output=True, text=True,
                          timeout=120, check=False)


def test_clickhouse_26_3_takes_the_system_log_ttl_in_the_engine_the_server_builds(tmp_path: Path) -> None:
    # getEngineDefinitionFromConfig.cpp: "ENGINE = MergeTree" + " PARTITION BY (" partition_by ")" + " TTL " ttl +
    # " ORDER BY (" order_by ")", with config.xml's partition_by and SystemLog.h's default order (event_date,
    # event_time). clickhouse-local creates no system logs, so a table of that very engine stands in for one.
    ttl = system_log_ttl(7)
    engine = f"ENGINE = MergeTree PARTITION BY (toYYYYMM(event_date)) TTL {ttl} ORDER BY (event_date, event_time)"
    made = _chdb_query(tmp_path, f"CREATE TABLE query_log_like (event_date Date, event_time DateTime) {engine}")
    assert made.returncode == 0 and "CHDB-OK" in made.stdout, made.stderr[-2000:]
    # The same engine on a table without event_date is refused: the check above could fail.
    broken = _chdb_query(tmp_path, f"CREATE TABLE no_event_date (day Date, event_time DateTime) {engine.replace('ORDER BY (event_date, ', 'ORDER BY (day, ')}")
    assert broken.returncode != 0, "chdb took a TTL on a column the table lacks"


def test_clickhouse_26_3_takes_every_rendered_system_log_ttl_in_its_tables_engine(tmp_path: Path) -> None:
    """Each enabled log's engine as the server builds it from config.xml's section merged with the rendered file.

    getEngineDefinitionFromConfig.cpp: with an <engine> (opentelemetry_span_log) that text is the engine, else
    "ENGINE = MergeTree" + " PARTITION BY (" partition_by ")" (default toYYYYMM(event_date); none when empty, as
    crash_log's) + " TTL " ttl + " ORDER BY (event_date, event_time)". One CREATE TABLE of those columns each.
    """
    upstream = ET.parse(UPSTREAM_SYSTEM_LOGS).getroot()
    rendered = ET.fromstring(render_clickhouse_system_logs(ClickHouseSettings(system_log_ttl_days=1)))
    statements = []
    for section in upstream:
        if not isinstance(section.tag, str):
            continue
        mine = rendered.find(section.tag)
        engine = (mine.findtext("engine") if mine is not None else None) or section.findtext("engine")
        if engine is not None:
            assert (mine is None or mine.find("ttl") is None) and section.find("ttl") is None, section.tag
            columns = "finish_date Date, finish_time_us UInt64"
        else:
            partition = section.findtext("partition_by", "toYYYYMM(event_date)")
            ttl = (mine.findtext("ttl") if mine is not None else None) or section.findtext("ttl")
            engine = "ENGINE = MergeTree" + (f" PARTITION BY ({partition})" if partition else "")
            engine += f" TTL {ttl} ORDER BY (event_date, event_time)"
            columns = "event_date Date, event_time DateTime"
        assert " TTL " in " ".join(engine.split()), f"{section.tag} has no TTL"
        statements.append(f"CREATE TABLE {section.tag} ({columns}) {engine}")
    assert len(statements) == 18
    script = ("import json, sys, chdb\nconn = chdb.connect(f'file:{sys.argv[1]}/db')\ncur = conn.cursor()\n"
              "for q in json.loads(sys.argv[2]):\n    cur.execute(q)\n"
              "cur.execute(\"SELECT name FROM system.tables WHERE database = currentDatabase() AND engine_full LIKE '% TTL %'\")\n"
              "print('CHDB-TTL ' + json.dumps(sorted(r[0] for r in cur.fetchall())))")
    made = subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps(statements)], capture_output=True,
                          text=True, timeout=120, check=False)
    lines = [line for line in made.stdout.splitlines() if line.startswith("CHDB-TTL ")]
    assert made.returncode == 0 and lines, made.stderr[-2000:]
    assert json.loads(lines[-1].removeprefix("CHDB-TTL ")) == sorted(s.tag for s in upstream if isinstance(s.tag, str))


def _settings(tmp_path: Path, **overrides) -> ClickHouseSettings:
    kwargs = {"memory_limit_mb": MEMORY_LIMIT_MB, "listen_host": "127.0.0.1", "log_dir": str(tmp_path / "log")}
    return ClickHouseSettings(**(kwargs | overrides))


def test_every_rendered_element_is_a_clickhouse_26_3_setting_or_listener(tmp_path: Path) -> None:
    chdb = _chdb(tmp_path, None)
    assert chdb.version.startswith(CHDB_VERSION_PREFIX), chdb.version
    paths = _leaf_paths(ET.fromstring(render_clickhouse_config(_settings(tmp_path))))
    unknown = sorted(set(paths) - set(chdb.settings) - LISTENER_KEYS)
    assert not unknown, f"not ClickHouse {chdb.version} server settings (misspelled?): {unknown}"


def test_upstream_defaults_cited_in_the_renderer_are_clickhouse_26_3_s(tmp_path: Path) -> None:
    chdb = _chdb(tmp_path, None)
    defaults = {name: int(chdb.settings[name][1]) for name in UPSTREAM_CACHE_DEFAULTS}
    assert defaults == UPSTREAM_CACHE_DEFAULTS
    assert chdb.settings["mark_cache_size"][1] == str(5 << 30), "the 5 GiB mark cache the renderer scales down"
    assert chdb.settings["max_server_memory_usage_to_ram_ratio"][1] == "0.9"


def test_clickhouse_26_3_applies_the_rendered_memory_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    chdb = _chdb(tmp_path, render_clickhouse_config(s))
    applied = {name: chdb.settings[name] for name in ["max_server_memory_usage", *s.cache_sizes, "mlock_executable"]}
    assert applied["max_server_memory_usage"] == (str(s.max_server_memory_usage), "0", 1)
    assert s.max_server_memory_usage < MEMORY_LIMIT_MB << 20
    for name, size in s.cache_sizes.items():
        value, default, _ = applied[name]
        assert int(value) == size, f"{name}: ClickHouse read {value}, rendered {size}"
        assert size <= int(default) or name == "uncompressed_cache_size"
    assert applied["mlock_executable"][0] == "0"
    assert chdb.settings["logger.size"][0] == f"{s.log_size_mb}M"
    assert chdb.settings["logger.count"][0] == str(s.log_count)
    expected_log = tmp_path / "log" / "clickhouse-server.log"
    assert chdb.settings["logger.log"][0] == str(expected_log)
    assert expected_log.exists(), "clickhouse-local wrote no log in the log directory"


# --- Debian's clickhouse-server on the rendered files ---------------------------------------------------------

@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    settings: ClickHouseSettings
    root: Path
    base_listeners: dict[str, int]

    def log(self) -> str:
        out = (self.root / "server.out").read_text(errors="replace")[-4000:]
        err = Path(self.settings.error_log_path)
        return out + (err.read_text(errors="replace")[-4000:] if err.exists() else "")


def _server_binary() -> str:
    path = shutil.which("clickhouse-server") or shutil.which("clickhouse-server", path="/usr/sbin:/usr/bin")
    if path is None:
        raise AssertionError("clickhouse-server not found: run scripts/install-test-binaries (Debian clickhouse-server)")
    return path


def _http(port: int, query: str, *, user: str | None = None, password: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=query.encode(), method="POST")
    if user is not None:
        request.add_header("X-ClickHouse-User", user)
        request.add_header("X-ClickHouse-Key", password or "")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _ping(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
            return response.read() == b"Ok.\n"
    except OSError:
        return False


def _listeners(pid: int) -> set[str]:
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, timeout=10, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if f"pid={pid}," in line}


def _healthcheck(s: ClickHouseSettings) -> subprocess.CompletedProcess[str]:
    kind, *argv = clickhouse_healthcheck(s)
    assert kind == "CMD"
    return subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    binary = _server_binary()
    http_port, tcp_port, *others = free_tcp_ports(5)
    s = _settings(tmp_path, http_port=http_port, tcp_port=tcp_port)
    conf, data = tmp_path / "conf", tmp_path / "data"
    for d in (conf / "config.d", conf / "users.d", data, Path(s.log_dir)):
        d.mkdir(parents=True, exist_ok=True)
    # Debian's config.xml stands in for the image's; upstream 26.3 has no uncommented listen_host there (the
    # image's come from docker_related_config.xml, which CONFIG_D_PATH replaces), so Debian's are dropped.
    base = re.sub(r"^\s*<listen_host>.*</listen_host>\s*$", "", Path("/etc/clickhouse-server/config.xml").read_text(), flags=re.M)
    (conf / "config.xml").write_text(base)
    shutil.copy("/etc/clickhouse-server/users.xml", conf / "users.xml")
    # What upstream 26.3 config.xml adds that Debian's lacks: the other listeners (on free ports), and the paths.
    base_listeners = dict(zip(UNUSED_LISTENERS, others))
    (conf / "config.d" / "00-upstream-and-paths.xml").write_text(
        "<clickhouse>\n"
        + "".join(f"  <{name}>{port}</{name}>\n" for name, port in base_listeners.items())
        + "".join(f"  <{key}>{data}/{sub}/</{key}>\n" for key, sub in
                  [("path", "db"), ("tmp_path", "tmp"), ("user_files_path", "user_files"), ("format_schema_path", "fs")])
        + "</clickhouse>\n"
    )
    (conf / "config.d" / Path(CONFIG_D_PATH).name).write_text(render_clickhouse_config(s))
    (conf / "config.d" / Path(SYSTEM_LOGS_PATH).name).write_text(render_clickhouse_system_logs(s))
    (conf / "users.d" / Path(USERS_D_PATH).name).write_text(render_clickhouse_users(user=USER, password=PASSWORD))
    with open(tmp_path / "server.out", "wb") as out:
        process = subprocess.Popen([binary, f"--config-file={conf / 'config.xml'}"], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    srv = Server(process, s, tmp_path, base_listeners)
    try:
        wait_until_ready(process, lambda: _ping(http_port), name="clickhouse-server", timeout_s=STARTUP_TIMEOUT_S, log=srv.log)
        yield srv
    finally:
        stop_process(process, timeout_s=STOP_TIMEOUT_S)


def test_server_listens_only_on_the_rendered_address_and_ports(server: Server) -> None:
    s = server.settings
    deadline = time.monotonic() + 10
    while (found := _listeners(server.process.pid)) != {f"127.0.0.1:{s.http_port}", f"127.0.0.1:{s.tcp_port}"}:
        assert time.monotonic() < deadline, f"listening on {sorted(found)}\n{server.log()}"
        time.sleep(0.2)


def test_removed_listeners_are_gone_from_the_merged_config(server: Server) -> None:
    merged = ET.parse(Path(server.root, "data", "db", "preprocessed_configs", "config.xml")).getroot()
    for name in UNUSED_LISTENERS:
        assert merged.find(name) is None, f"{name} survived the merge (base config had port {server.base_listeners[name]})"
    assert [e.text for e in merged.findall("listen_host")] == ["127.0.0.1"]


def test_healthcheck_passes_on_a_running_server(server: Server) -> None:
    result = _healthcheck(server.settings)
    assert result.returncode == 0, f"healthcheck failed: {result.returncode} {result.stderr}"


def test_healthcheck_fails_when_the_server_is_down(tmp_path: Path) -> None:
    (port,) = free_tcp_ports(1)
    result = _healthcheck(_settings(tmp_path, http_port=port, tcp_port=port + 1 if port < 65535 else port - 1))
    assert result.returncode != 0


def test_only_the_rendered_user_with_its_password_gets_in(server: Server) -> None:
    port = server.settings.http_port
    assert _http(port, "SELECT 42", user=USER, password=PASSWORD) == (200, "42\n")
    status, body = _http(port, "SELECT 1", user=USER, password=PASSWORD + "x")
    assert status != 200 and "password" in body.lower(), body
    status, body = _http(port, "SELECT 1")  # no credentials: the passwordless `default` of users.xml
    assert status != 200 and "default" in body, body


def test_server_logs_to_the_rendered_files(server: Server) -> None:
    s = server.settings
    assert _http(s.http_port, "SELECT 1", user=USER, password=PASSWORD)[0] == 200
    log = Path(s.log_dir, "clickhouse-server.log").read_text(errors="replace")
    for line in (f"Listening http://127.0.0.1:{s.http_port}", f"Listening tcp: 127.0.0.1:{s.tcp_port}", "Ready for connections"):
        assert line in log, f"{line!r} not in {s.log_path}:\n{log[-2000:]}"
    assert Path(s.log_dir, "clickhouse-server.err.log").exists()


def test_system_log_ttls_merge_into_the_base_sections(server: Server) -> None:
    """18.16 predates system log TTLs (it ignores <ttl>): this shows the file loads and merges by element."""
    merged = ET.parse(Path(server.root, "data", "db", "preprocessed_configs", "config.xml")).getroot()
    ttl = system_log_ttl(server.settings.system_log_ttl_days)
    for table in ("query_log", "trace_log", "part_log", "text_log", "metric_log", "asynchronous_metric_log",
                  "query_thread_log", "latency_log", "error_log", "crash_log", "backup_log"):
        assert merged.findtext(f"{table}/ttl") == ttl, table
    assert merged.findtext("opentelemetry_span_log/engine").endswith(
        f"TTL finish_date + INTERVAL {server.settings.system_log_ttl_days} DAY DELETE")
    # Debian's config.xml has a <query_log> section: it keeps its own elements and gains the TTL.
    assert merged.findtext("query_log/table") == "query_log" and merged.findtext("query_log/database") == "system"
    assert merged.findtext("text_log/level") == server.settings.log_level


def _client(root: Path, s: ClickHouseSettings, *, with_config: bool) -> subprocess.CompletedProcess[str]:
    """The Debian clickhouse-client on a copy of its package's /etc/clickhouse-client (root <config>, as upstream's)."""
    binary = shutil.which("clickhouse-client")
    if binary is None:
        raise AssertionError("clickhouse-client not found: run scripts/install-test-binaries (Debian clickhouse-client)")
    conf = root / "client"
    (conf / "config.d").mkdir(parents=True, exist_ok=True)
    shutil.copy("/etc/clickhouse-client/config.xml", conf / "config.xml")
    target = conf / "config.d" / Path(CLIENT_CONFIG_PATH).name
    if with_config:
        target.write_text(render_clickhouse_client_config(s, user=USER))
    else:
        target.unlink(missing_ok=True)
    # Only the password on the command line: host, port and user must come from the rendered file.
    return subprocess.run(
        [binary, f"--config-file={conf / 'config.xml'}", f"--password={PASSWORD}", "--query", "SELECT 42"],
        capture_output=True, text=True, timeout=30, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(root)},
    )


def test_a_bare_client_reaches_the_server_with_the_rendered_client_config(server: Server) -> None:
    assert ET.parse("/etc/clickhouse-client/config.xml").getroot().tag == "config"
    bare = _client(server.root, server.settings, with_config=False)
    assert bare.returncode != 0, f"without the file the client should miss (9000, `default`): {bare.stdout}"
    done = _client(server.root, server.settings, with_config=True)
    assert done.returncode == 0 and done.stdout == "42\n", f"{done.returncode}: {done.stdout} {done.stderr}"
