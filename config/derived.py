"""Values derived from the config, computed in one place so every consumer agrees."""
from __future__ import annotations

from config.model import AppConfig, StackConfig
from renderers.caddyfile import ACME_HSTS_MAX_AGE_SECONDS, INTERNAL_TLS_HSTS_MAX_AGE_SECONDS
from renderers.ports import MediaPorts
from renderers.turn_tls import DEFAULT_TURN_SUBDOMAIN


def media_ports(cfg: StackConfig) -> MediaPorts:
    """The one MediaPorts value that LiveKit's config and both firewalls are derived from."""
    m = cfg.media_server
    return MediaPorts(
        signal_port=m.signal_port,
        tcp_port=m.tcp_port,
        udp_mux_port=m.udp_mux_port,
        udp_range_start=m.udp_range_start,
        udp_range_end=m.udp_range_end,
        turn_udp_port=m.turn_udp_port,
        turn_relay_range_start=m.turn_relay_range_start,
        turn_relay_range_end=m.turn_relay_range_end,
        turn_tls_port=m.turn_tls.port if m.turn_tls.enabled else None,
    )


def gateway_hsts_max_age_seconds(cfg: StackConfig) -> int:
    """The gateway's HSTS max-age: the user's gateway.hstsMaxAgeSeconds, else one year with ACME and 0 with Caddy's
    internal CA, whose LAN names must not stay pinned to a CA that a new data volume replaces (renderers/caddyfile.py
    INTERNAL_TLS_HSTS_MAX_AGE_SECONDS)."""
    gw = cfg.gateway
    if gw.hsts_max_age_seconds is not None:
        return gw.hsts_max_age_seconds
    return INTERNAL_TLS_HSTS_MAX_AGE_SECONDS if gw.tls == "internal" else ACME_HSTS_MAX_AGE_SECONDS


def turn_tls_domain(cfg: StackConfig, domain: str) -> str | None:
    """The TURN/TLS name for a stack whose gateway serves ``domain``; None with TURN/TLS off."""
    turn = cfg.media_server.turn_tls
    if not (cfg.media_server.enabled and turn.enabled):
        return None
    return turn.domain or f"{DEFAULT_TURN_SUBDOMAIN}.{domain}"


def object_store_in_a_container(cfg: StackConfig) -> bool:
    """versitygw runs next to the services on every target but OCI, which uses Object Storage."""
    return cfg.object_store.enabled and cfg.target != "oci"


# The OCI target's only shape is the Ampere A1 (targets/oci_ampere.py), so its images are always arm64.
OCI_PLATFORM = "linux/arm64"


def target_platform(cfg: StackConfig) -> str | None:
    """The platform the target's engine runs, where the config says it; None on a laptop (the engine's own)."""
    if cfg.target == "oci":
        return OCI_PLATFORM
    if cfg.target == "host" and cfg.host is not None:
        return cfg.host.platform
    return None


def app_platform(cfg: StackConfig, app) -> str | None:
    """What an app's image is pulled for: its declared platform, else the target's (the checks refuse a mismatch)."""
    return app.platform or target_platform(cfg)


def app_start_order(cfg: StackConfig) -> list:
    """The apps, each after every app it depends on (stable: config order otherwise); the loader refused cycles."""
    by_name = {app.name: app for app in cfg.apps}
    ordered: list = []
    placed: set[str] = set()

    def place(app, path: tuple[str, ...] = ()) -> None:
        if app.name in placed:
            return
        if app.name in path:
            raise ValueError(f"apps depend on each other in a cycle: {' -> '.join((*path, app.name))}")
        for dependency in app.depends_on:
            place(by_name[dependency], (*path, app.name))
        placed.add(app.name)
        ordered.append(app)

    for app in cfg.apps:
        place(app)
    return ordered


# Targets whose containers share the host's network stack (targets/oci_ampere.py, targets/existing_host.py):
# there two containers cannot bind the same port, so an app's old and new container cannot run side by side.
HOST_NETWORK_TARGETS = ("oci", "host")


def app_rollout(cfg: StackConfig, app: AppConfig) -> str:
    """``apps[].rollout``, or its default: zero-downtime where it can work and helps (a routed app on a bridge network)."""
    if app.rollout is not None:
        return app.rollout
    return "zero-downtime" if app.routes and cfg.target not in HOST_NETWORK_TARGETS else "replace"


def app_port_slots(cfg: StackConfig, app: AppConfig) -> tuple[int, int] | None:
    """The two ports a zero-downtime app's revisions alternate on under host networking (renderers/app_slot.py);
    None elsewhere: on a bridge network each revision has its own address and the one port."""
    if cfg.target in HOST_NETWORK_TARGETS and app_rollout(cfg, app) == "zero-downtime" and app.rollout_port is not None:
        return (app.port, app.rollout_port)
    return None
