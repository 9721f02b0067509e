"""Wire the five components together for the chosen target."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.analytics import Analytics, AnalyticsArgs
from components.app import App, AppArgs
from components.backup_jobs import BackupStore
from components.cache import Cache, CacheArgs
from components.database import Database, DatabaseArgs
from components.gateway import Gateway, GatewayArgs, SwitchedUpstream, caddy_container_name
from components.media_server import MediaServer, MediaServerArgs
from components.object_store import ObjectStore, ObjectStoreArgs
from components.time_series import TimeSeries, TimeSeriesArgs
from config.derived import app_platform, app_port_slots, app_rollout, app_start_order, gateway_hsts_max_age_seconds, media_ports, turn_tls_domain
from config.model import StackConfig
from renderers.app_env import app_url
from renderers.caddyfile import Route
from targets.base import Target


@dataclass(frozen=True)
class Services:
    database: Database | None
    cache: Cache | None
    object_store: ObjectStore | None
    media: MediaServer | None
    gateway: Gateway
    analytics: Analytics | None
    time_series: TimeSeries | None
    apps: list[App]

    @property
    def enabled(self) -> list[pulumi.ComponentResource]:
        services = (self.database, self.cache, self.object_store, self.media, self.gateway, self.analytics, self.time_series)
        return [*(s for s in services if s is not None), *self.apps]


def service_args(section) -> dict:
    """A service's config section as its component's Args: the fields share their names (config/model.py)."""
    return {k: v for k, v in section if k not in ("enabled", "backup")}


def backup_store(cfg: StackConfig, section, object_store: ObjectStore | None) -> BackupStore | None:
    """A service's `backup` section as its component's BackupStore; None while off (or with no object store,
    which config/checks.py refuses before this runs)."""
    b = section.backup
    if not b.enabled or object_store is None:
        return None
    return BackupStore(store=object_store.s3, bucket=b.bucket or cfg.object_store.buckets[0],
                       interval_hours=b.interval_hours, keep=b.keep)


def compose_services(cfg: StackConfig, target: Target) -> Services:
    providers = {"docker": target.docker_provider}
    if target.oci_provider is not None:
        providers["oci"] = target.oci_provider
    opts = pulumi.ResourceOptions(providers=providers)
    common = {"network": target.network, "platform": target.platform}
    shell = {"host_shell": target.host_shell}

    object_store = None
    if cfg.object_store.enabled:
        object_store = ObjectStore(
            "object-store",
            ObjectStoreArgs(backend=target.object_store_backend, buckets=cfg.object_store.buckets),
            opts,
        )

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
                extensions=db.extensions,
                read_only_role=db.read_only_role,
                init_sql=db.init_sql,
                pooler=db.pooler.enabled,
                pooler_port=db.pooler.port,
                pooler_pool_size=db.pooler.pool_size,
                pooler_max_client_connections=db.pooler.max_client_connections,
                pooler_memory_mb=db.pooler.memory_mb,
                pooler_cpus=db.pooler.cpus,
                backup_store=object_store.s3 if db.backup.enabled and object_store is not None else None,
                backup_bucket=db.backup.bucket or cfg.object_store.buckets[0],
                backup_interval_hours=db.backup.interval_hours,
                backup_keep=db.backup.keep,
                pitr_store=object_store.s3 if db.pitr.enabled and object_store is not None else None,
                pitr_bucket=db.pitr.bucket or cfg.object_store.buckets[0],
                pitr_retention_days=db.pitr.retention_days,
                pitr_archive_timeout_s=db.pitr.archive_timeout_seconds,
                pitr_base_backup_interval_hours=db.pitr.base_backup_interval_hours,
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
                backup=backup_store(cfg, c, object_store),
                **common,
            ),
            opts,
        )

    media = None
    m = cfg.media_server
    turn_domain = turn_upstream = None
    if m.enabled and m.turn_tls.enabled:
        turn_domain = target.domain.apply(lambda domain: turn_tls_domain(cfg, domain))
        turn_upstream = pulumi.Output.format("{0}:{1}", target.turn_tls_upstream_host, m.turn_tls.port)
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
                node_ip=m.node_ip,
                loopback_candidate=target.media_loopback_candidate,
                turn_domain=turn_domain,
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

    # Zero-downtime apps' upstreams, known only once their containers exist: the gateway is built first
    # (apps reference its URLs), so it gets Outputs resolved below, after the apps.
    rolled = {app.name: pulumi.deferred_output() for app in cfg.apps if app_rollout(cfg, app) == "zero-downtime"}
    gw = cfg.gateway
    gateway_name = "gateway"
    gateway = Gateway(
        gateway_name,
        GatewayArgs(
            domain=target.domain,
            version=gw.version,
            tls=gw.tls,
            acme_email=gw.acme_email,
            acme_staging=gw.acme_staging,
            http_port=gw.http_port,
            https_port=gw.https_port,
            routes=(
                *(Route(path=r.path, upstream=r.upstream) for r in gw.routes),
                *app_routes(cfg, target.network),
            ),
            upstreams={
                target.network.address(app.name, app.port): SwitchedUpstream(
                    app=app.name, host=rolled[app.name][0], with_port=app_port_slots(cfg, app) is not None
                )
                for app in cfg.apps
                if app.name in rolled
            },
            media_upstream=media.signal_address if media is not None else None,
            media_subdomain=m.subdomain,
            hsts_max_age_seconds=gateway_hsts_max_age_seconds(cfg),
            extra_names=gw.extra_names,
            turn_domain=turn_domain,
            turn_upstream=turn_upstream,
            memory_mb=gw.memory_mb,
            cpus=gw.cpus,
            protect_data=cfg.protect_data,
            **common,
            **shell,
        ),
        opts,
    )
    analytics = Analytics(
        "analytics",
        AnalyticsArgs(
            **service_args(cfg.analytics),
            protect_data=cfg.protect_data,
            backup=backup_store(cfg, cfg.analytics, object_store),
            **common,
        ),
        opts,
    ) if cfg.analytics.enabled else None
    time_series = TimeSeries(
        "time-series",
        TimeSeriesArgs(
            **service_args(cfg.time_series) | {"extra_buckets": tuple(cfg.time_series.extra_buckets.items())},
            protect_data=cfg.protect_data,
            backup=backup_store(cfg, cfg.time_series, object_store),
            **common,
            **shell,
        ),
        opts,
    ) if cfg.time_series.enabled else None
    refs = {
        **app_references(database, cache, object_store, media, gateway, analytics, time_series),
        **app_urls(cfg, target.network),
    }
    built: dict[str, App] = {}
    # Each app after the apps it depends on (config/derived.app_start_order; the loader refused cycles).
    for app in app_start_order(cfg):
        built[app.name] = App(
            app.name,
            AppArgs(
                image=app.image,
                port=app.port,
                command=app.command,
                env=app.env,
                references=refs,
                s3_client_env=object_store.s3.client_env if object_store is not None else (),
                health_path=app.health_path,
                tcp_health_port=app.healthcheck.tcp_port if app.healthcheck is not None else None,
                volumes={v.name: v.path for v in app.volumes},
                protect_data=cfg.protect_data,
                after=tuple(built[name] for name in app.depends_on),
                memory_mb=app.memory_mb,
                cpus=app.cpus,
                network=target.network,
                platform=app_platform(cfg, app),
                bind_address=app.bind_address,
                rollout=app_rollout(cfg, app),
                port_slots=app_port_slots(cfg, app),
                host_shell=target.host_shell,
                # A plain name, not the gateway container's Output: the gateway's first-boot upload waits on this
                # app's upstream, which waits on the slot picker, so an Output here would be a cycle.
                gateway_container=caddy_container_name(gateway_name),
            ),
            opts,
        )
    apps = [built[app.name] for app in cfg.apps]
    for name, (_, resolve) in rolled.items():
        resolve(built[name].upstream_host)
    return Services(database, cache, object_store, media, gateway, analytics, time_series, apps)


def app_routes(cfg: StackConfig, network) -> list[Route]:
    """Each app's routes, to its container as this target's network reaches it."""
    return [
        Route(
            path=route.path,
            upstream=network.address(app.name, app.port),
            strip_prefix=route.strip_prefix,
            cors_origins=route.cors_origins,
            compress=route.compress,
        )
        for app in cfg.apps
        for route in app.routes
    ]


def app_urls(cfg: StackConfig, network) -> dict[str, str]:
    """`${apps.<name>.url}`: where the other apps reach each app on this target (alias or 127.0.0.1)."""
    return {f"apps.{app.name}.url": app_url(network.address(app.name, app.port)) for app in cfg.apps}


def app_references(database, cache, object_store, media, gateway, analytics, time_series) -> dict[str, pulumi.Input[str]]:
    """What `${service.output}` in an app's env resolves to: the container's view of each service."""
    refs: dict[str, pulumi.Input[str]] = {"public.url": gateway.url}
    if database is not None:
        refs |= {
            "database.url": database.internal_url,
            "database.host": database.internal_address.apply(lambda a: a.rsplit(":", 1)[0]),
            "database.port": database.port.apply(str),
            "database.name": database.database,
            "database.user": database.user,
            "database.password": database.password,
        }
        if database.internal_pooler_url is not None:
            refs["database.poolerUrl"] = database.internal_pooler_url
    if cache is not None:
        refs["cache.url"] = cache.internal_url
    if object_store is not None:
        s3 = object_store.s3
        refs |= {
            "s3.endpoint": s3.internal_endpoint,
            "s3.region": s3.region,
            "s3.bucket": object_store.bucket,
            "s3.accessKey": s3.access_key,
            "s3.secretKey": s3.secret_key,
        }
    if analytics is not None:
        refs["analytics.url"] = analytics.internal_url
    if time_series is not None:
        refs |= {
            "timeSeries.url": time_series.internal_url,
            # Read/write on the configured buckets only; the operator token (time_series.token) never reaches apps.
            "timeSeries.token": time_series.app_token,
            "timeSeries.org": time_series.org,
            "timeSeries.bucket": time_series.bucket,
        }
    if media is not None:
        refs |= {"livekit.url": gateway.media_url, "livekit.apiKey": media.api_key, "livekit.apiSecret": media.api_secret}
    return refs
