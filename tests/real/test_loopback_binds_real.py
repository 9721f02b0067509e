"""The servers that run here, started on the configs the program renders for the Pi, bind loopback only.

The Pi stack (the existing-host target, host networking, every service on) is evaluated under mocks;
each server's own rendered config is taken from its container's inputs and run with the real binary,
only the port and the data/socket paths swapped for this machine's. Then `ss -ltn` lists what listens
on that port, and a connection to this machine's own non-loopback address at it is refused.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.cache import CONF_PATH
from renderers.pgbouncer import INI_PATH
from renderers.postgres import PostgresSettings
from tests import harness
from tests.listeners import on_a_pi_with_everything

from .pgbouncer_process import running_pgbouncer
from .postgres_process import postgres_server
from .processes import free_tcp_ports, stop_process, wait_until_ready
from .redis_process import running_redis

VERSITYGW = Path(os.environ.get("BACKING_SERVICES_CACHE", "/var/cache/backing-services")) / "go-servers/versitygw-v1.7.0/versitygw"


@pytest.fixture(scope="module")
def pi() -> dict[str, dict]:
    run = harness.evaluate("dev", on_a_pi_with_everything())
    return {c.name: harness.unwrap(c.inputs) for c in run.monitor.by_type("docker:index/container:Container")}


def _env(inputs: dict) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inputs["envs"])


def _upload(inputs: dict, path: str) -> str:
    return next(u["content"] for u in inputs["uploads"] if u["file"] == path)


def listening(port: int) -> set[str]:
    """Local addresses with a TCP listener on ``port``, as `ss` prints them."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines()}


def own_address() -> str:
    """This machine's first global IPv4 address: another machine on the LAN would dial this one."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    assert found, f"no global IPv4 address here to dial:\n{out}"
    return found[0]


def assert_loopback_only(port: int) -> None:
    deadline = time.monotonic() + 10
    while (found := listening(port)) != {f"127.0.0.1:{port}"}:
        assert time.monotonic() < deadline, f"port {port}: listening on {sorted(found)}"
        time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((own_address(), port), timeout=3).close()


def test_the_probe_sees_a_server_on_every_address() -> None:
    """ss and the connection tell the two apart: a listener on 0.0.0.0 is found and answers."""
    (port,) = free_tcp_ports(1)
    with socket.socket() as server:
        server.bind(("0.0.0.0", port))
        server.listen()
        assert listening(port) == {f"0.0.0.0:{port}"}
        socket.create_connection((own_address(), port), timeout=3).close()


def test_redis_binds_loopback_only(pi, tmp_path: Path) -> None:
    inputs = pi["cache-redis"]
    conf = _upload(inputs, CONF_PATH)
    assert re.search(r"^bind 127\.0\.0\.1$", conf, flags=re.M), conf
    (port,) = free_tcp_ports(1)
    (tmp_path / "data").mkdir()
    conf = re.sub(r"^port \d+$", f"port {port}", conf, flags=re.M)
    conf = re.sub(r"^dir .*$", f"dir {tmp_path / 'data'}", conf, flags=re.M)
    (tmp_path / "redis.conf").write_text(conf)
    password = _env(inputs)["REDISCLI_AUTH"]
    with running_redis(tmp_path / "redis.conf", port=port, password=password, log_path=tmp_path / "redis.log"):
        assert_loopback_only(port)


def test_versitygw_binds_loopback_only(pi, tmp_path: Path) -> None:
    inputs = pi["object-store-s3"]
    env = _env(inputs)
    assert env["VGW_PORT"] == "127.0.0.1:9000"
    assert VERSITYGW.exists(), f"{VERSITYGW} missing: scripts/build-go-servers versitygw v1.7.0"
    (port,) = free_tcp_ports(1)
    env["VGW_PORT"] = env["VGW_PORT"].rsplit(":", 1)[0] + f":{port}"
    (tmp_path / "data").mkdir()
    proc = subprocess.Popen(
        [str(VERSITYGW), "posix", str(tmp_path / "data")],
        env={"PATH": "/usr/bin:/bin", **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until_ready(proc, lambda: bool(listening(port)), name="versitygw", timeout_s=20, log=lambda: "")
        assert_loopback_only(port)
    finally:
        stop_process(proc, timeout_s=10)


def test_postgres_and_pgbouncer_bind_loopback_only(pi, tmp_path: Path) -> None:
    command = pi["database-postgres"]["command"]
    (listen,) = [a.split("=", 1)[1] for a in command if a.startswith("listen_addresses=")]
    assert listen == "127.0.0.1"
    pg_port, bouncer_port = free_tcp_ports(2)
    settings = PostgresSettings(version="18.1", user="app", database="app", port=pg_port, listen_address=listen, memory_limit_mb=256)
    # The renderer's own server args, with the rendered listen address (Cluster.server_args).
    with postgres_server(settings, "pw-loopback-test") as cluster:
        assert f"listen_addresses={listen}" in cluster.server_args()
        assert_loopback_only(pg_port)

        inputs = pi["database-pgbouncer"]
        ini = _upload(inputs, INI_PATH)
        assert re.search(r"^listen_addr = 127\.0\.0\.1$", ini, flags=re.M), ini
        root = cluster.root
        (root / "userlist.txt").write_text(_upload(inputs, "/etc/pgbouncer/userlist.txt"))
        ini = re.sub(r"^listen_port = \d+$", f"listen_port = {bouncer_port}", ini, flags=re.M)
        ini = re.sub(r"port=\d+ ", f"port={pg_port} ", ini)
        ini = ini.replace("auth_file = /etc/pgbouncer/userlist.txt", f"auth_file = {root / 'userlist.txt'}")
        (root / "pgbouncer.ini").write_text(ini)
        shutil.chown(root / "pgbouncer.ini", *_owner(root))
        shutil.chown(root / "userlist.txt", *_owner(root))
        with running_pgbouncer(root / "pgbouncer.ini", port=bouncer_port, log_path=root / "pgbouncer.log"):
            assert_loopback_only(bouncer_port)


def _owner(path: Path) -> tuple[str, str]:
    return path.owner(), path.group()


def test_clickhouse_binds_loopback_only(pi, tmp_path: Path) -> None:
    """Debian's clickhouse-server with the Pi's config.d (ports and log paths swapped), set up as in
    tests/real/test_clickhouse_real.py's server fixture."""
    from renderers.clickhouse import CONFIG_D_PATH, USERS_D_PATH

    from .test_clickhouse_real import STARTUP_TIMEOUT_S, UNUSED_LISTENERS, _ping, _server_binary

    inputs = pi["analytics-clickhouse"]
    config_d = _upload(inputs, CONFIG_D_PATH)
    assert re.findall(r"<listen_host>([^<]*)</listen_host>", config_d) == ["127.0.0.1"]
    http_port, tcp_port, *others = free_tcp_ports(5)
    conf, data, logs = tmp_path / "conf", tmp_path / "data", tmp_path / "log"
    for d in (conf / "config.d", conf / "users.d", data, logs):
        d.mkdir(parents=True, exist_ok=True)
    base = re.sub(r"^\s*<listen_host>.*</listen_host>\s*$", "", Path("/etc/clickhouse-server/config.xml").read_text(), flags=re.M)
    (conf / "config.xml").write_text(base)
    shutil.copy("/etc/clickhouse-server/users.xml", conf / "users.xml")
    (conf / "config.d" / "00-upstream-and-paths.xml").write_text(
        "<clickhouse>\n"
        + "".join(f"  <{name}>{port}</{name}>\n" for name, port in zip(UNUSED_LISTENERS, others))
        + "".join(f"  <{key}>{data}/{sub}/</{key}>\n" for key, sub in
                  [("path", "db"), ("tmp_path", "tmp"), ("user_files_path", "user_files"), ("format_schema_path", "fs")])
        + "</clickhouse>\n"
    )  # fmt: skip
    config_d = config_d.replace("<http_port>8123</http_port>", f"<http_port>{http_port}</http_port>")
    config_d = config_d.replace("<tcp_port>9004</tcp_port>", f"<tcp_port>{tcp_port}</tcp_port>")
    config_d = config_d.replace("/var/log/clickhouse-server/", f"{logs}/")
    (conf / "config.d" / Path(CONFIG_D_PATH).name).write_text(config_d)
    (conf / "users.d" / Path(USERS_D_PATH).name).write_text(_upload(inputs, USERS_D_PATH))
    with open(tmp_path / "server.out", "wb") as out:
        proc = subprocess.Popen([_server_binary(), f"--config-file={conf / 'config.xml'}"], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        log = lambda: (tmp_path / "server.out").read_text(errors="replace")[-3000:]  # noqa: E731
        wait_until_ready(proc, lambda: _ping(http_port), name="clickhouse-server", timeout_s=STARTUP_TIMEOUT_S, log=log)
        assert_loopback_only(http_port)
        assert_loopback_only(tcp_port)
    finally:
        stop_process(proc, timeout_s=30)
