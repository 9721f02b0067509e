"""Wire the five components together for the chosen target."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cache import Cache, CacheArgs
from components.database import Database, DatabaseArgs
from components.gateway import Gateway, GatewayArgs
from components.media_server import MediaServer, MediaServerArgs
from components.object_store import ObjectStore, ObjectStoreArgs
from config.derived import media_ports
from config.model import StackConfig
from renderers.caddyfile import Route
from targets.base import Target


@dataclass(frozen=True)
class Services:
    database: Database | None
    cache: Cache | None
    object_store: ObjectStore | None
    media: MediaServer | None
    gateway: Gateway

    @property
    def enabled(self) -> list[pulumi.ComponentResource]:
        return [s for s in (self.database, self.cache, self.object_store, self.media, self.gateway) if s is not None]


def compose_services(cfg: StackConfig, target: Target) -> Services:
    providers = {"docker": target.docker_provider}
    if target.oci_provider is not None:
        providers["oci"] = target.oci_provider
    opts = pulumi.ResourceOptions(providers=providers)
    common = {"network": target.network, "platform": target.platform}
    shell = {"host_shell": target.host_shell}

    database = None
    if cfg.database.enabled:
        db = cfg.database
        database = Database(
            "database",
            DatabaseArgs(
                version=db.version,
                database=db.name,
                user=db.user,
                port=db.port,
                memory_mb=db.memory_mb,
                cpus=db.cpus,
                password=cfg.database_password,
                protect_data=cfg.protect_data,
                **common,
                **shell,
            ),
            opts,
        )

    cache = None
    if cfg.cache.enabled:
        c = cfg.cache
        cache = Cache(
            "cache",
            CacheArgs(
                version=c.version,
                port=c.port,
                memory_mb=c.memory_mb,
                cpus=c.cpus,
                password=cfg.cache_password,
                protect_data=cfg.protect_data,
                **common,
            ),
            opts,
        )

    object_store = None
    if cfg.object_store.enabled:
        object_store = ObjectStore(
            "object-store",
            ObjectStoreArgs(backend=target.object_store_backend, buckets=cfg.object_store.buckets),
            opts,
        )

    media = None
    m = cfg.media_server
    if m.enabled and cache is not None:
        egress_on = m.egress.enabled and object_store is not None
        media = MediaServer(
            "media",
            MediaServerArgs(
                version=m.version,
                ports=media_ports(cfg),
                memory_mb=m.memory_mb,
                cpus=m.cpus,
                redis_address=cache.internal_address,
                redis_password=cache.password,
                use_external_ip=target.media_use_external_ip,
                loopback_candidate=target.media_loopback_candidate,
                egress_enabled=egress_on,
                egress_version=m.egress.version,
                egress_memory_mb=m.egress.memory_mb,
                egress_cpus=m.egress.cpus,
                recordings=object_store.s3 if egress_on else None,
                recordings_bucket=cfg.object_store.buckets[0],
                **common,
            ),
            opts,
        )

    gw = cfg.gateway
    gateway = Gateway(
        "gateway",
        GatewayArgs(
            domain=target.domain,
            version=gw.version,
            tls=gw.tls,
            acme_email=gw.acme_email,
            acme_staging=gw.acme_staging,
            http_port=gw.http_port,
            https_port=gw.https_port,
            routes=tuple(Route(path=r.path, upstream=r.upstream) for r in gw.routes),
            media_upstream=media.signal_address if media is not None else None,
            media_subdomain=m.subdomain,
            hsts_max_age_seconds=gw.hsts_max_age_seconds,
            memory_mb=gw.memory_mb,
            cpus=gw.cpus,
            protect_data=cfg.protect_data,
            **common,
            **shell,
        ),
        opts,
    )
    return Services(database, cache, object_store, media, gateway)
