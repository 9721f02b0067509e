"""Values derived from the config, computed in one place so every consumer agrees."""
from __future__ import annotations

from config.model import AppConfig, StackConfig
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


def turn_tls_domain(cfg: StackConfig, domain: str) -> str | None:
    """The TURN/TLS name for a stack whose gateway serves ``domain``; None with TURN/TLS off."""
    turn = cfg.media_server.turn_tls
    if not (cfg.media_server.enabled and turn.enabled):
        return None
    return turn.domain or f"{DEFAULT_TURN_SUBDOMAIN}.{domain}"


def object_store_in_a_container(cfg: StackConfig) -> bool:
    """versitygw runs next to the services on every target but OCI, which uses Object Storage."""
    return cfg.object_store.enabled and cfg.target != "oci"


# Targets whose containers share the host's network stack (targets/oci_ampere.py, targets/existing_host.py):
# there two containers cannot bind the same port, so an app's old and new container cannot run side by side.
HOST_NETWORK_TARGETS = ("oci", "host")


def app_rollout(cfg: StackConfig, app: AppConfig) -> str:
    """``apps[].rollout``, or its default: zero-downtime where it can work and helps (a routed app on a bridge network)."""
    if app.rollout is not None:
        return app.rollout
    return "zero-downtime" if app.routes and cfg.target not in HOST_NETWORK_TARGETS else "replace"
