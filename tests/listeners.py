"""What each server would bind, read back out of the config the program rendered for it.

A model of the servers, independent of the loader's own port checks: postgres's `-c port=`,
redis.conf's `port`, versitygw's VGW_PORT, livekit.yaml's ports and ranges, egress.yaml's
health port plus its Chrome template server (7980, egress v1.14.1), and the Caddyfile's
listeners. Grouped by network namespace (a bridge container's own, the host's for host
networking and for published ports, LiveKit's for Egress), two binds of one port in one
namespace are what makes a container fail to start on the host.
"""
from __future__ import annotations

import copy
import ipaddress
import re
from collections import defaultdict
from typing import Any, NamedTuple

import yaml

from components.cache import CONF_PATH
from renderers.caddyfile import CADDYFILE_PATH
from renderers.app_env import APP_BIND_ADDRESS_ENV
from renderers.clickhouse import CONFIG_D_PATH as CLICKHOUSE_CONFIG_D_PATH
from renderers.livekit import EGRESS_TEMPLATE_PORT
from renderers.pgbouncer import INI_PATH as PGBOUNCER_INI_PATH
from tests import harness

Bind = tuple[str, int]  # (protocol, port)

# Where a listener binds. EVERY: all addresses (0.0.0.0, "*", ":port", or a server that takes no address).
EVERY = "*"


class Listener(NamedTuple):
    protocol: str
    port: int
    address: str  # an IP address, or EVERY
    # What clients outside the host must reach: the gateway's HTTP/HTTPS and LiveKit's media.
    public: bool = False
    # Why an internal listener is on every address all the same: the server has no setting for it, or the
    # config asked for it (an app's bindAddress 0.0.0.0).
    unavoidable: str = ""

    @property
    def loopback_only(self) -> bool:
        return self.address != EVERY and ipaddress.ip_address(self.address).is_loopback


def _env(inputs: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inputs.get("envs") or [])


def _upload(inputs: dict[str, Any], path: str) -> str:
    return next(u["content"] for u in inputs.get("uploads") or [] if u["file"] == path)


def _address(text: str) -> str:
    """One server's address text: 0.0.0.0, ::, * and the empty host all mean every address."""
    text = text.strip().strip("[]")
    if text in ("", "*") or ipaddress.ip_address(text).is_unspecified:
        return EVERY
    return str(ipaddress.ip_address(text))


def _span(protocol: str, first: int, last: int, address: str = EVERY, public: bool = False) -> set[Listener]:
    return {Listener(protocol, p, address, public) for p in range(int(first), int(last) + 1)}


def _livekit(inputs) -> set[Listener]:
    doc = yaml.safe_load(_env(inputs)["LIVEKIT_CONFIG"])
    rtc, turn = doc["rtc"], doc["turn"]
    # The signal port binds bind_addresses (every address without them); ICE/TCP always every
    # interface, the UDP mux every non-loopback address (renderers/livekit.py's notes).
    signal = [_address(a) for a in doc.get("bind_addresses") or [""]]
    listeners = {Listener("tcp", doc["port"], a) for a in signal} | {Listener("tcp", rtc["tcp_port"], EVERY, True)}
    if "udp_port" in rtc:
        listeners |= {Listener("udp", rtc["udp_port"], EVERY, True)}
    else:
        listeners |= _span("udp", rtc["port_range_start"], rtc["port_range_end"], public=True)
    if turn["enabled"]:
        listeners |= _span("udp", turn["relay_range_start"], turn["relay_range_end"], public=True)
        # Both TURN listeners bind turn.bind_addresses, 0.0.0.0 by default
        # (pkg/service/turn.go:77-171, pkg/config/config.go:519-523@v1.13.5).
        turn_at = [_address(a) for a in turn.get("bind_addresses") or ["0.0.0.0"]]
        listeners |= {Listener("udp", turn["udp_port"], a, True) for a in turn_at} if "udp_port" in turn else set()
        # TURN/TLS behind the gateway: a plain TCP listener (renderers/turn_tls.py), which shares
        # turn.bind_addresses with TURN/UDP and which the gateway reaches at the host's own non-loopback
        # address (livekit/deploy's updateip.go: Firefox fails against a loopback upstream).
        why = "the gateway proxies TURN/TLS to the host's non-loopback address (renderers/turn_tls.py)"
        listeners |= {Listener("tcp", turn["tls_port"], a, unavoidable=why) for a in turn_at} if "tls_port" in turn else set()
    return listeners


def _egress(inputs) -> set[Listener]:
    doc = yaml.safe_load(_env(inputs)["EGRESS_CONFIG_BODY"])
    # Health on ":<port>" (cmd/server/main.go:127-129@v1.14.1), the template server on
    # "localhost:<port>" (pkg/server/server.go:148@v1.14.1).
    why = "egress v1.14.1 serves health on every address and has no setting for it"
    return {Listener("tcp", doc["health_port"], EVERY, unavoidable=why), Listener("tcp", EGRESS_TEMPLATE_PORT, "127.0.0.1")}


def _caddy(inputs) -> set[Listener]:
    caddyfile = _upload(inputs, CADDYFILE_PATH)
    listeners = {Listener("tcp", int(p), EVERY, True) for p in re.findall(r"^\thttps?_port (\d+)$", caddyfile, flags=re.M)}
    # A site of its own port binds its `bind` addresses, or every address.
    for port, body in re.findall(r"^http://:(\d+) \{$(.*?)^\}$", caddyfile, flags=re.M | re.S):
        binds = re.findall(r"^\tbind (.+)$", body, flags=re.M)
        listeners |= {Listener("tcp", int(port), _address(a)) for line in binds or [""] for a in line.split() or [""]}
    return listeners


def _postgres(inputs) -> set[Listener]:
    settings = dict(a.split("=", 1) for a in inputs["command"] if "=" in a)
    # listen_addresses is a comma-separated list, '*' every address; renderers/postgres.py always sets it.
    addresses = [_address(a) for a in settings["listen_addresses"].replace("localhost", "127.0.0.1").split(",")]
    return {Listener("tcp", int(settings["port"]), a) for a in addresses}


def _redis(inputs) -> set[Listener]:
    conf = _upload(inputs, CONF_PATH)
    # renderers/redis_conf.py always writes one `bind` line; "-" marks an address that may be missing.
    (line,) = re.findall(r"^bind (.+)$", conf, flags=re.M)
    binds = line.split()
    return {Listener("tcp", int(p), _address(a.lstrip("-"))) for p in re.findall(r"^port (\d+)$", conf, flags=re.M) for a in binds}


def _s3(inputs) -> set[Listener]:
    host, port = _env(inputs)["VGW_PORT"].rsplit(":", 1)
    return {Listener("tcp", int(port), _address(host))}


def _pgbouncer(inputs) -> set[Listener]:
    ini = _upload(inputs, PGBOUNCER_INI_PATH)
    (address,) = re.findall(r"^listen_addr = (.+)$", ini, flags=re.M)
    return {
        Listener("tcp", int(p), _address(a)) for p in re.findall(r"^listen_port = (\d+)$", ini, flags=re.M) for a in address.split(",")
    }


def _clickhouse(inputs) -> set[Listener]:
    config = _upload(inputs, CLICKHOUSE_CONFIG_D_PATH)
    # The rendered file replaces the image's listen_host file, and always names one (renderers/clickhouse.py).
    hosts = [_address(h) for h in re.findall(r"<listen_host>([^<]*)</listen_host>", config)]
    assert hosts, config
    return {Listener("tcp", int(p), h) for p in re.findall(r"<(?:http|tcp)_port>(\d+)</", config) for h in hosts}


def _influxdb(inputs) -> set[Listener]:
    env = _env(inputs)
    host, port = env["INFLUXD_HTTP_BIND_ADDRESS"].rsplit(":", 1)
    # The first start's setup server binds ":${INFLUXD_INIT_PORT}" before the real one (entrypoint.sh).
    why = "the image's entrypoint binds its first-start setup server there for the setup only (entrypoint.sh)"
    init = Listener("tcp", int(env["INFLUXD_INIT_PORT"]), EVERY, unavoidable=why)
    return {Listener("tcp", int(port), _address(host)), init}


def _app(inputs) -> set[Listener]:
    # A team's image binds what it is told; its healthcheck asks it on that port (HTTP, or the TCP check's
    # bash /dev/tcp path, renderers/app_health.py). The address is what the app is told too
    # (apps[].bindAddress, in APP_BIND_ADDRESS_ENV); without it, the image's own choice.
    env = _env(inputs)
    address = _address(env[APP_BIND_ADDRESS_ENV]) if APP_BIND_ADDRESS_ENV in env else EVERY
    # Told every address: apps[].bindAddress 0.0.0.0 asked for it (the default is loopback or the bridge's own).
    why = "apps[].bindAddress: 0.0.0.0 was asked for" if APP_BIND_ADDRESS_ENV in env and address == EVERY else ""
    check = " ".join(inputs["healthcheck"]["tests"])
    ports = [p for match in re.findall(r"http://[0-9.]+:(\d+)/|/dev/tcp/[0-9.]+/(\d+)", check) for p in match if p]
    return {Listener("tcp", int(p), address, unavoidable=why) for p in ports}


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
    # PITR's jobs (components/database.py): pg_receivewal and pg_basebackup connect to PostgreSQL, rclone to the
    # store; clients only, they bind nothing.
    "-pitr-receive": lambda inputs: set(),
    "-pitr-base-backup": lambda inputs: set(),
    "-pitr-upload": lambda inputs: set(),
}


def listeners_by_namespace(run: harness.Evaluation) -> dict[str, dict[Listener, list[str]]]:
    """namespace -> listener -> the containers binding it there ("host" is the Docker host's own)."""
    containers = run.monitor.by_type("docker:index/container:Container")
    ids = {f"{c.name}-id": c.name for c in containers}  # the mocks' ids
    spaces: dict[str, dict[Listener, list[str]]] = defaultdict(lambda: defaultdict(list))
    for c in containers:
        inputs = harness.unwrap(c.inputs)
        parse = next(f for suffix, f in BY_SUFFIX.items() if c.name.endswith(suffix))
        mode = inputs.get("networkMode")
        space = "host" if mode == "host" else ids[mode.split(":", 1)[1]] if mode else c.name
        own = parse(inputs)
        for listener in own:
            spaces[space][listener].append(c.name)
        for p in inputs.get("ports") or []:  # published: bound on the Docker host, at the port's ip
            protocol, port = p.get("protocol", "tcp"), int(p["internal"])
            behind = next(l for l in own if (l.protocol, l.port) == (protocol, port))
            listener = behind._replace(port=int(p["external"]), address=_address(p.get("ip", "0.0.0.0")))
            spaces["host"][listener].append(c.name)
    return spaces


def binds_by_namespace(run: harness.Evaluation) -> dict[str, dict[Bind, list[str]]]:
    """namespace -> (protocol, port) -> the containers binding it there, whatever the address.

    One port at two addresses still collides when one of them is every address (EADDRINUSE).
    """
    spaces: dict[str, dict[Bind, list[str]]] = defaultdict(lambda: defaultdict(list))
    for space, listeners in listeners_by_namespace(run).items():
        for listener, owners in listeners.items():
            spaces[space][(listener.protocol, listener.port)].extend(owners)
    return spaces


def host_listeners(run: harness.Evaluation) -> list[tuple[str, Listener]]:
    """(container, listener) for everything bound in the Docker host's own namespace."""
    return sorted((owner, l) for l, owners in listeners_by_namespace(run)["host"].items() for owner in owners)


def exposed_internal(run: harness.Evaluation) -> list[str]:
    """Internal listeners of the Docker host on an address other than loopback: reachable from the LAN."""
    return [
        f"{owner}: {l.protocol}/{l.port} on {l.address}"
        for owner, l in host_listeners(run)
        if not (l.loopback_only or l.public or l.unavoidable)
    ]


def collisions(run: harness.Evaluation) -> list[str]:
    return [
        f"{space}: {protocol}/{port} bound by {sorted(owners)}"
        for space, binds in binds_by_namespace(run).items()
        for (protocol, port), owners in binds.items()
        if len(owners) > 1
    ]


NS = harness.PROJECT
APPS = [
    {"name": "config-service", "image": "ghcr.io/ozmirror/config-service:1.0.0", "port": 8000, "routes": [{"path": "/config/*"}]},
    {"name": "websocket-bridge", "image": "ghcr.io/ozmirror/websocket-bridge:1.0.0", "port": 8080},
]


def everything_on(values: dict, **media) -> dict:
    """Every service and two apps on, over a stack's config."""
    values = copy.deepcopy(values)
    values[f"{NS}:database"] = {**values.get(f"{NS}:database", {}), "enabled": True, "pooler": {"enabled": True}}
    values[f"{NS}:cache"] = {**values.get(f"{NS}:cache", {}), "enabled": True}
    values[f"{NS}:objectStore"] = {**values.get(f"{NS}:objectStore", {}), "enabled": True}
    values[f"{NS}:analytics"] = {"enabled": True}
    values[f"{NS}:timeSeries"] = {"enabled": True}
    values[f"{NS}:mediaServer"] = {**values.get(f"{NS}:mediaServer", {}), "enabled": True, **media}
    values[f"{NS}:apps"] = APPS
    return values


def on_a_pi_with_everything(**media) -> dict:
    """The dev stack moved onto a Pi (harness.on_a_pi) at a LAN address, with everything on."""
    values = harness.stack_config_as_user_sets_it("dev")
    for key, value in harness.on_a_pi():
        values[f"{NS}:{key}"] = value
    # The Pi at a LAN address, so TURN/TLS has its upstream (config/checks.py).
    values[f"{NS}:host"] = {**values[f"{NS}:host"], "address": "192.168.1.20", "memoryMb": 16384}
    return everything_on(values, **media)
