"""What each server would bind, read back out of the config the program rendered for it.

A model of the servers, independent of the loader's own port checks: postgres's `-c port=`,
redis.conf's `port`, versitygw's VGW_PORT, livekit.yaml's ports and ranges, egress.yaml's
health port plus its Chrome template server (7980, egress v1.14.1), and the Caddyfile's
listeners. Grouped by network namespace (a bridge container's own, the host's for host
networking and for published ports, LiveKit's for Egress), two binds of one port in one
namespace are what makes a container fail to start on the host.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import yaml

from components.cache import CONF_PATH
from renderers.caddyfile import CADDYFILE_PATH
from renderers.clickhouse import CONFIG_D_PATH as CLICKHOUSE_CONFIG_D_PATH
from renderers.livekit import EGRESS_TEMPLATE_PORT
from renderers.pgbouncer import INI_PATH as PGBOUNCER_INI_PATH
from tests import harness

Bind = tuple[str, int]  # (protocol, port)


def _env(inputs: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inputs.get("envs") or [])


def _upload(inputs: dict[str, Any], path: str) -> str:
    return next(u["content"] for u in inputs.get("uploads") or [] if u["file"] == path)


def _span(protocol: str, first: int, last: int) -> set[Bind]:
    return {(protocol, p) for p in range(int(first), int(last) + 1)}


def _livekit(inputs) -> set[Bind]:
    doc = yaml.safe_load(_env(inputs)["LIVEKIT_CONFIG"])
    rtc, turn = doc["rtc"], doc["turn"]
    binds = {("tcp", doc["port"]), ("tcp", rtc["tcp_port"])}
    binds |= {("udp", rtc["udp_port"])} if "udp_port" in rtc else _span("udp", rtc["port_range_start"], rtc["port_range_end"])
    if turn["enabled"]:
        binds |= _span("udp", turn["relay_range_start"], turn["relay_range_end"])
        binds |= {("udp", turn["udp_port"])} if "udp_port" in turn else set()
        # TURN/TLS behind the gateway: a plain TCP listener (renderers/turn_tls.py).
        binds |= {("tcp", turn["tls_port"])} if "tls_port" in turn else set()
    return binds


def _egress(inputs) -> set[Bind]:
    doc = yaml.safe_load(_env(inputs)["EGRESS_CONFIG_BODY"])
    return {("tcp", doc["health_port"]), ("tcp", EGRESS_TEMPLATE_PORT)}


def _caddy(inputs) -> set[Bind]:
    caddyfile = _upload(inputs, CADDYFILE_PATH)
    binds = {("tcp", int(p)) for p in re.findall(r"^\thttps?_port (\d+)$", caddyfile, flags=re.M)}
    return binds | {("tcp", int(p)) for p in re.findall(r"^http://:(\d+) \{$", caddyfile, flags=re.M)}


def _postgres(inputs) -> set[Bind]:
    return {("tcp", int(a.split("=", 1)[1])) for a in inputs["command"] if a.startswith("port=")}


def _redis(inputs) -> set[Bind]:
    conf = _upload(inputs, CONF_PATH)
    return {("tcp", int(p)) for p in re.findall(r"^port (\d+)$", conf, flags=re.M)}


def _s3(inputs) -> set[Bind]:
    return {("tcp", int(_env(inputs)["VGW_PORT"].lstrip(":")))}


def _pgbouncer(inputs) -> set[Bind]:
    ini = _upload(inputs, PGBOUNCER_INI_PATH)
    return {("tcp", int(p)) for p in re.findall(r"^listen_port = (\d+)$", ini, flags=re.M)}


def _clickhouse(inputs) -> set[Bind]:
    config = _upload(inputs, CLICKHOUSE_CONFIG_D_PATH)
    return {("tcp", int(p)) for p in re.findall(r"<(?:http|tcp)_port>(\d+)</", config)}


def _influxdb(inputs) -> set[Bind]:
    env = _env(inputs)
    # The first start's setup server binds INFLUXD_INIT_PORT before the real one (entrypoint.sh).
    return {("tcp", int(env["INFLUXD_HTTP_BIND_ADDRESS"].rsplit(":", 1)[1])), ("tcp", int(env["INFLUXD_INIT_PORT"]))}


def _app(inputs) -> set[Bind]:
    # A team's image binds what it is told; its healthcheck asks it on that port (HTTP, or the TCP check's
    # bash /dev/tcp path, renderers/app_health.py).
    check = " ".join(inputs["healthcheck"]["tests"])
    return {("tcp", int(p)) for match in re.findall(r"http://127\.0\.0\.1:(\d+)/|/dev/tcp/127\.0\.0\.1/(\d+)", check) for p in match if p}


BY_SUFFIX = {
    "-livekit": _livekit,
    "-egress": _egress,
    "-caddy": _caddy,
    "-postgres": _postgres,
    "-redis": _redis,
    "-s3": _s3,
    "-pgbouncer": _pgbouncer,
    "-clickhouse": _clickhouse,
    "-influxdb": _influxdb,
    "-app": _app,
    # The backup jobs are loops around pg_dump and rclone copy: clients only, they bind nothing.
    "-backup-dump": lambda inputs: set(),
    "-backup-upload": lambda inputs: set(),
}


def binds_by_namespace(run: harness.Evaluation) -> dict[str, dict[Bind, list[str]]]:
    """namespace -> (protocol, port) -> the containers binding it there."""
    containers = run.monitor.by_type("docker:index/container:Container")
    ids = {f"{c.name}-id": c.name for c in containers}  # the mocks' ids
    spaces: dict[str, dict[Bind, list[str]]] = defaultdict(lambda: defaultdict(list))
    for c in containers:
        inputs = harness.unwrap(c.inputs)
        parse = next(f for suffix, f in BY_SUFFIX.items() if c.name.endswith(suffix))
        mode = inputs.get("networkMode")
        space = "host" if mode == "host" else ids[mode.split(":", 1)[1]] if mode else c.name
        for bind in parse(inputs):
            spaces[space][bind].append(c.name)
        for p in inputs.get("ports") or []:  # published: bound on the Docker host
            spaces["host"][(p.get("protocol", "tcp"), int(p["external"]))].append(c.name)
    return spaces


def collisions(run: harness.Evaluation) -> list[str]:
    return [
        f"{space}: {protocol}/{port} bound by {sorted(owners)}"
        for space, binds in binds_by_namespace(run).items()
        for (protocol, port), owners in binds.items()
        if len(owners) > 1
    ]
