"""Config bodies for livekit-server and LiveKit Egress, plus what their containers need.

Both programs read their whole YAML config from one environment variable
(``LIVEKIT_CONFIG`` / ``EGRESS_CONFIG_BODY``), so no config file has to be
mounted. Upstream facts this module relies on (livekit v1.13.5, egress v1.14.1):

* livekit-server parses its config in strict mode: an unknown key aborts start-up,
  so only keys that exist in ``pkg/config`` / ``rtcconfig`` are emitted.
* ``bind_addresses`` only restricts the HTTP/WebSocket signal port. ICE/TCP
  (``rtc.tcp_port``) always listens on every interface, the UDP mux binds every
  non-loopback interface address, TURN has its own ``turn.bind_addresses``.
* ``rtc.port_range_start/end`` wins over ``rtc.udp_port`` when both are set, and
  leaving both unset silently falls back to 50000-60000, so exactly one is emitted.
* Embedded TURN without ``tls_port`` needs neither a domain nor a certificate:
  clients get ``turn:<node_ip>:<udp_port>?transport=udp`` URLs.
* Egress decodes leniently (unknown keys are silently ignored), so a wrong key
  name would fail only at upload time; the storage key is ``storage.s3`` and the
  log level is ``logging.level`` (top-level ``s3``/``log_level`` are ignored).
* The UDP mux binds each non-loopback interface address, never 0.0.0.0, and only
  ``rtc.enable_loopback_candidate`` adds a 127.0.0.1 socket and candidate
  (mediatransportutil pkg/rtcconfig webrtc_config.go:136-138, transport/createmux.go:35-78,
  nearest commit to the one v1.13.5 pins). Egress, in LiveKit's network namespace on a
  laptop, dials that loopback candidate; the browser reaches the eth0 socket through the
  published port. ``node_ip`` rewrites every candidate to one address, so the two sockets
  would collapse into one candidate (pion/ice v4.4.0 udpmultimux.go:58-76): never both.
* With TURN on, LiveKit allocates relays in ``turn.relay_range_start..end`` (default
  30000-40000 outside dev, config.go:588-598@v1.13.5) at ``node_ip``; the range is
  rendered from MediaPorts so both firewalls open exactly what LiveKit uses.
* Egress admits a request only when the CPUs it sees cover the request type's
  ``cpu_cost``: idle, ``available = NumCPU`` with no utilisation factor
  (pkg/stats/monitor.go:557-583@v1.14.1); NumCPU is the cgroup ``cpu.max`` quota that
  ``docker --cpus`` sets (protocol utils/hwstats cpu_linux.go:205-238@v1.50.1). Costs
  default to 4 (room composite, web), 2 (participant), 1 (audio, track composite) and
  0.5 (track) (pkg/config/service.go:31-39@v1.14.1), so a 2-CPU Egress refuses every
  room composite unless the costs are capped at its limit, as ``egress_cpu_costs`` does.
* Egress needs no extra capability: Chrome runs with ``--no-sandbox`` by default
  since egress v1.7.8 and with ``--disable-dev-shm-usage``, so neither
  ``SYS_ADMIN`` nor a larger ``/dev/shm`` is required (upstream CI runs the image
  with Docker defaults).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import yaml

from renderers.ports import MediaPorts

# Multi-arch (linux/amd64 + linux/arm64) images, tags as published by upstream's
# docker/metadata-action `v{{version}}` pattern on the release tag.
LIVEKIT_SERVER_IMAGE = "livekit/livekit-server:v1.13.5"
EGRESS_IMAGE = "livekit/egress:v1.14.1"

# Egress answers its healthcheck here (all interfaces; the firewalls keep it off the internet).
EGRESS_HEALTH_PORT = 9090
# Egress's Chrome template server, inside its own network namespace (LiveKit's, on a laptop).
EGRESS_TEMPLATE_PORT = 7980

# Egress's default cpu_cost per request type (pkg/config/service.go:31-39@v1.14.1).
EGRESS_DEFAULT_CPU_COSTS = {
    "room_composite_cpu_cost": 4.0,
    "audio_room_composite_cpu_cost": 1.0,
    "web_cpu_cost": 4.0,
    "audio_web_cpu_cost": 1.0,
    "participant_cpu_cost": 2.0,
    "track_composite_cpu_cost": 1.0,
    "track_cpu_cost": 0.5,
}

LIVEKIT_CONFIG_ENV = "LIVEKIT_CONFIG"
EGRESS_CONFIG_ENV = "EGRESS_CONFIG_BODY"

# LiveKit's self-hosting guide: "at least 4 CPUs and 4 GB of memory" per egress
# instance; room-composite recording runs a full Chrome plus GStreamer encoders.
EGRESS_RECOMMENDED_CPUS = 4
EGRESS_RECOMMENDED_MEMORY_MIB = 4096

# livekit-server logs (not fails) on shorter secrets; we refuse them outright so a
# weak production secret cannot slip through unnoticed.
MIN_API_SECRET_LENGTH = 32

_LOG_LEVELS = frozenset({"debug", "info", "warn", "error"})
_TURN_DOMAIN_RE = re.compile(r"(?i)[a-z0-9-]+(\.[a-z0-9-]+)+\.?")


def is_valid_turn_domain(domain: str) -> bool:
    """LiveKit refuses to start on a TURN domain outside this pattern (pkg/service/utils.go IsValidDomain@v1.13.5)."""
    return _TURN_DOMAIN_RE.fullmatch(domain) is not None


def _require_text(name: str, value: str) -> None:
    # The body travels in an environment variable, which cannot carry NUL.
    if not value:
        raise ValueError(f"{name} must not be empty")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL")


def _require_host_port(name: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{name} must be 'host:port', got {value!r}")


def _require_log_level(value: str) -> None:
    if value not in _LOG_LEVELS:
        raise ValueError(f"log_level must be one of {sorted(_LOG_LEVELS)}, got {value!r}")


def _dump(document: dict[str, Any]) -> str:
    # safe_dump quotes every string a YAML resolver could read as non-string
    # (null, true, 0x1f, ...); Go's yaml.v3 keeps any other scalar's text as-is
    # for string fields, so values round-trip exactly.
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _probe_host(bind_addresses: tuple[str, ...]) -> str:
    """The address a probe inside the container must dial to reach the signal port."""
    if not bind_addresses:
        return "127.0.0.1"
    address = ipaddress.ip_address(bind_addresses[0])
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return str(address) if address.version == 4 else f"[{address}]"


@dataclass(frozen=True, kw_only=True)
class LiveKitServerConfig:
    """Inputs for livekit-server's config.

    ``node_ip`` is the address advertised in ICE candidates (e.g. 127.0.0.1 for
    Docker Desktop, the reserved public IP on a VM); ``use_external_ip`` instead
    discovers it via public STUN servers. LiveKit silently ignores ``node_ip``
    when ``use_external_ip`` is on, so setting both is rejected.
    """

    ports: MediaPorts
    api_key: str
    api_secret: str
    redis_address: str
    redis_password: str
    bind_addresses: tuple[str, ...] = ()
    use_external_ip: bool = False
    node_ip: str | None = None
    enable_loopback_candidate: bool = False
    log_level: str = "info"
    # The name clients reach TURN/TLS by on 443 (renderers/turn_tls.py); with ports.turn_tls_port only.
    turn_domain: str | None = None

    def __post_init__(self) -> None:
        if (self.turn_domain is None) != (self.ports.turn_tls_port is None):
            raise ValueError("turn_domain and ports.turn_tls_port go together: TURN/TLS needs both, or neither")
        if self.turn_domain is not None and not is_valid_turn_domain(self.turn_domain):
            raise ValueError(f"turn_domain must be a DNS name with at least one dot, got {self.turn_domain!r}")
        _require_text("api_key", self.api_key)
        _require_text("api_secret", self.api_secret)
        if len(self.api_secret) < MIN_API_SECRET_LENGTH:
            raise ValueError(f"api_secret must have at least {MIN_API_SECRET_LENGTH} characters")
        _require_host_port("redis_address", self.redis_address)
        if "\x00" in self.redis_password:
            raise ValueError("redis_password must not contain NUL")
        for address in self.bind_addresses:
            ipaddress.ip_address(address)
        if self.node_ip is not None:
            ipaddress.ip_address(self.node_ip)
            if self.use_external_ip:
                raise ValueError("node_ip is ignored by LiveKit when use_external_ip is set")
            if self.enable_loopback_candidate:
                raise ValueError("node_ip would rewrite the loopback candidate too, leaving one socket unreachable")
        _require_log_level(self.log_level)


def _rtc_section(cfg: LiveKitServerConfig) -> dict[str, Any]:
    ports = cfg.ports
    rtc: dict[str, Any] = {"tcp_port": ports.tcp_port}
    if ports.udp_mux_port is not None:
        rtc["udp_port"] = ports.udp_mux_port
    else:
        rtc["port_range_start"] = ports.udp_range_start
        rtc["port_range_end"] = ports.udp_range_end
    rtc["use_external_ip"] = cfg.use_external_ip
    if cfg.node_ip is not None:
        rtc["node_ip"] = cfg.node_ip
    if cfg.enable_loopback_candidate:
        rtc["enable_loopback_candidate"] = True
    return rtc


def _turn_section(ports: MediaPorts, turn_domain: str | None) -> dict[str, Any]:
    if ports.turn_udp_port is None and ports.turn_tls_port is None:
        return {"enabled": False}
    turn: dict[str, Any] = {"enabled": True}
    if ports.turn_udp_port is not None:
        turn["udp_port"] = ports.turn_udp_port
    if ports.turn_tls_port is not None:
        # TLS ends at the gateway on 443; LiveKit listens in plain TCP here (pkg/service/turn.go
        # NewTurnServer@v1.13.5: net.Listen with external_tls) and advertises turns:<domain>:443.
        turn |= {"domain": turn_domain, "tls_port": ports.turn_tls_port, "external_tls": True}
    # Rendered, not left to LiveKit's default, so both firewalls open exactly what it allocates from.
    turn["relay_range_start"] = ports.turn_relay_range_start
    turn["relay_range_end"] = ports.turn_relay_range_end
    return turn


def render_livekit_yaml(cfg: LiveKitServerConfig) -> str:
    """livekit-server's config body (for the ``LIVEKIT_CONFIG`` variable)."""
    document: dict[str, Any] = {"port": cfg.ports.signal_port}
    if cfg.bind_addresses:
        document["bind_addresses"] = list(cfg.bind_addresses)
    document["rtc"] = _rtc_section(cfg)
    document["redis"] = {"address": cfg.redis_address, "password": cfg.redis_password}
    document["keys"] = {cfg.api_key: cfg.api_secret}
    document["turn"] = _turn_section(cfg.ports, cfg.turn_domain)
    document["logging"] = {"level": cfg.log_level}
    return _dump(document)


def livekit_healthcheck(*, signal_port: int, bind_addresses: tuple[str, ...] = ()) -> list[str]:
    """Docker healthcheck test for livekit-server.

    ``GET /`` on the signal port answers 200 "OK" only while the node's stats are
    fresh (406 otherwise). The image is Alpine, whose busybox provides ``wget``
    (no curl), and busybox wget exits non-zero on any non-2xx status.
    """
    url = f"http://{_probe_host(bind_addresses)}:{signal_port}/"
    return ["CMD", "wget", "-q", "-O", "/dev/null", url]


@dataclass(frozen=True, kw_only=True)
class S3Upload:
    """Default upload target for recordings (any S3-compatible store)."""

    endpoint: str
    region: str
    bucket: str
    access_key: str
    secret_key: str
    force_path_style: bool = True

    def __post_init__(self) -> None:
        for name in ("endpoint", "region", "bucket", "access_key", "secret_key"):
            _require_text(name, getattr(self, name))
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {self.endpoint!r}")


@dataclass(frozen=True, kw_only=True)
class EgressConfig:
    """Inputs for the egress service's config."""

    api_key: str
    api_secret: str
    ws_url: str
    redis_address: str
    redis_password: str
    s3: S3Upload
    cpus: float  # the container's CPU limit: what Egress counts as its CPUs
    health_port: int = EGRESS_HEALTH_PORT
    log_level: str = "info"

    def __post_init__(self) -> None:
        _require_text("api_key", self.api_key)
        _require_text("api_secret", self.api_secret)
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"ws_url must be a ws(s) URL, got {self.ws_url!r}")
        _require_host_port("redis_address", self.redis_address)
        if "\x00" in self.redis_password:
            raise ValueError("redis_password must not contain NUL")
        if not 1 <= self.health_port <= 65535:
            raise ValueError(f"invalid health_port {self.health_port}")
        if not self.cpus > 0:
            raise ValueError(f"cpus must be positive, got {self.cpus!r}")
        _require_log_level(self.log_level)


def egress_cpu_costs(cpus: float) -> dict[str, float]:
    """Every request type's cost, capped at the CPUs Egress sees, so each is admitted when idle.

    A capped cost means one recording of that type at a time on a small Egress; the
    upstream defaults would refuse it outright. Egress replaces a cost <= 0 with its
    default (service.go:162-192@v1.14.1), hence the positive floor.
    """
    return {key: max(min(default, cpus), 0.01) for key, default in EGRESS_DEFAULT_CPU_COSTS.items()}


def render_egress_yaml(cfg: EgressConfig) -> str:
    """The egress service's config body (for the ``EGRESS_CONFIG_BODY`` variable)."""
    s3 = cfg.s3
    document: dict[str, Any] = {
        "api_key": cfg.api_key,
        "api_secret": cfg.api_secret,
        "ws_url": cfg.ws_url,
        "redis": {"address": cfg.redis_address, "password": cfg.redis_password},
        "health_port": cfg.health_port,
        "logging": {"level": cfg.log_level},
        "cpu_cost": egress_cpu_costs(cfg.cpus),
        "storage": {
            "s3": {
                "access_key": s3.access_key,
                "secret": s3.secret_key,
                "region": s3.region,
                "endpoint": s3.endpoint,
                "bucket": s3.bucket,
                "force_path_style": s3.force_path_style,
            }
        },
    }
    return _dump(document)


def egress_healthcheck(health_port: int) -> list[str]:
    """Docker healthcheck test for egress.

    The health server listens on all interfaces and answers any path with 200 and
    a JSON status; it only starts once egress has connected to Redis. The image
    (Ubuntu-based) installs both wget and curl explicitly.
    """
    return ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{health_port}/"]
