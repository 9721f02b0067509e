"""Every port a service binds, in one place: the loader refuses any two that collide.

On the VM every container shares the host's network namespace, and on a laptop Egress
shares LiveKit's while published ports share the Docker host's, so two services on one
port fail to start there. The list is checked on every target, by port number whatever
the protocol (a clash is confusing in the firewalls even where the kernel would allow it).
LiveKit's own ports and ranges are checked against these by renderers.ports.media_port_problems.
"""
from __future__ import annotations

from dataclasses import dataclass

from config.derived import object_store_in_a_container
from config.model import StackConfig
from renderers.caddyfile import HEALTH_PORT as GATEWAY_HEALTH_PORT
from renderers.influxdb import INIT_PORT as INFLUX_INIT_PORT
from renderers.livekit import EGRESS_HEALTH_PORT, EGRESS_TEMPLATE_PORT

SSH_PORT = 22


@dataclass(frozen=True)
class Listener:
    port: int
    owner: str  # the config key that sets it, or what holds a fixed port
    configurable: bool = True


def service_listeners(cfg: StackConfig) -> list[Listener]:
    """Ports held by everything but LiveKit's media, for the enabled services, in a fixed order."""
    found = [
        Listener(SSH_PORT, "SSH", configurable=False),
        Listener(cfg.gateway.http_port, "gateway.httpPort"),
        Listener(cfg.gateway.https_port, "gateway.httpsPort"),
        Listener(GATEWAY_HEALTH_PORT, "the gateway's health listener", configurable=False),
    ]
    if cfg.database.enabled:
        found.append(Listener(cfg.database.port, "database.port"))
        if cfg.database.pooler.enabled:
            found.append(Listener(cfg.database.pooler.port, "database.pooler.port"))
    if cfg.cache.enabled:
        found.append(Listener(cfg.cache.port, "cache.port"))
    if object_store_in_a_container(cfg):
        found.append(Listener(cfg.object_store.port, "objectStore.port"))
    if cfg.analytics.enabled:
        found.append(Listener(cfg.analytics.http_port, "analytics.httpPort"))
        found.append(Listener(cfg.analytics.tcp_port, "analytics.tcpPort"))
    if cfg.time_series.enabled:
        found.append(Listener(cfg.time_series.port, "timeSeries.port"))
        # The entrypoint's setup server, on every interface for the seconds of a first start (renderers/influxdb.py).
        found.append(Listener(INFLUX_INIT_PORT, "InfluxDB's first-start setup server", configurable=False))
    for i, app in enumerate(cfg.apps):
        found.append(Listener(app.port, f"apps[{i}].port"))
        if app.rollout_port is not None:
            # Held by every other revision (renderers/app_slot.py), so as much the app's as its port.
            found.append(Listener(app.rollout_port, f"apps[{i}].rolloutPort"))
    if cfg.media_server.enabled and cfg.media_server.egress.enabled:
        found.append(Listener(EGRESS_HEALTH_PORT, "egress's health listener", configurable=False))
        found.append(Listener(EGRESS_TEMPLATE_PORT, "egress's Chrome template server", configurable=False))
    return found


def service_port_collisions(cfg: StackConfig) -> list[tuple[Listener, Listener]]:
    """(the listener to change, the one already holding its port), each clash reported once."""
    clashes = []
    holders: dict[int, Listener] = {}
    for listener in service_listeners(cfg):
        held = holders.get(listener.port)
        if held is None:
            holders[listener.port] = listener
        elif listener.configurable:
            clashes.append((listener, held))
        elif held.configurable:
            clashes.append((held, listener))
    return clashes
