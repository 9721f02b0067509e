"""The renderers' own rules, applied to the config before any resource exists.

Renderers refuse inputs they cannot render (renderers/caddyfile.Route, CaddyConfig); a
refusal inside a resource's inputs would come after other resources were registered, as a
traceback. Building the same renderer inputs here, from the same code, turns each refusal
into a Problem naming the config key.
"""
from __future__ import annotations

from collections.abc import Iterator, Set

from config.derived import gateway_hsts_max_age_seconds, turn_tls_domain
from config.errors import Problem
from config.model import StackConfig
from renderers.caddyfile import CaddyConfig, Route
from renderers.existing_host import default_domain
from renderers.init_sql import InitSql
from renderers.pgbouncer import PgBouncerSettings
from renderers.redis_conf import RedisSettings

# Stands in for the name only known after the VM exists (<ip>.sslip.io): valid by construction.
_UNKNOWN_DOMAIN = "203-0-113-10.sslip.io"

# CaddyConfig's messages start with the field they are about.
_CADDY_FIELD_KEYS = {
    "domain": "domain",
    "tls": "gateway.tls",
    "acme_email": "gateway.acmeEmail",
    "acme_staging": "gateway.acmeStaging",
    "http_port": "gateway.httpPort",
    "https_port": "gateway.httpsPort",
    "routes": "gateway.routes",
    "media_subdomain": "mediaServer.subdomain",
    "hsts_max_age_seconds": "gateway.hstsMaxAgeSeconds",
    "extra_names": "gateway.extraNames",
    "turn_domain": "mediaServer.turnTls.domain",
    "turn_upstream": "mediaServer.turnTls.upstreamAddress",
}


# Route's messages start with "Route.<field>".
_ROUTE_FIELD_KEYS = {"path": "path", "upstream": "upstream", "strip_prefix": "stripPrefix", "cors_origins": "corsOrigins", "compress": "compress"}


def _route(key: str, route_args: dict, routes: list[Route], problems: list[Problem], ns: str) -> None:
    try:
        routes.append(Route(**route_args))
    except ValueError as err:
        message = str(err)
        field = next((f for f in sorted(_ROUTE_FIELD_KEYS, key=len, reverse=True) if message.startswith(f"Route.{f}")), "path")
        problems.append(Problem(f"{ns}:{key}.{_ROUTE_FIELD_KEYS[field]}", route_args.get(field), message))


def _explained(key: str, reported: Set[str], ns: str) -> bool:
    """Whether a problem is already reported for ``key`` or anything below it."""
    prefix = f"{ns}:{key}"
    return any(r == prefix or r.startswith((f"{prefix}.", f"{prefix}[")) for r in reported)


def _routes(cfg: StackConfig, ns: str, reported: Set[str]) -> tuple[list[Route], list[Problem]]:
    routes: list[Route] = []
    problems: list[Problem] = []
    for i, route in enumerate(cfg.gateway.routes):
        if _explained(f"gateway.routes[{i}]", reported, ns):
            continue
        _route(f"gateway.routes[{i}]", {"path": route.path, "upstream": route.upstream}, routes, problems, ns)
    for i, app in enumerate(cfg.apps):
        for j, route in enumerate(app.routes):
            if _explained(f"apps[{i}].routes[{j}]", reported, ns):
                continue
            args = {
                "path": route.path,
                "upstream": f"127.0.0.1:{app.port}",
                "strip_prefix": route.strip_prefix,
                "cors_origins": route.cors_origins,
                "compress": route.compress,
            }
            _route(f"apps[{i}].routes[{j}]", args, routes, problems, ns)
    return routes, problems


def _passwords(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    if cfg.cache_password is not None:
        try:
            RedisSettings(password=cfg.cache_password)
        except ValueError as err:
            yield Problem(f"{ns}:cachePassword", "<secret>", f"redis.conf cannot hold it: {err}")
    if cfg.database_password is not None and not cfg.database_password:
        # The image's entrypoint refuses to initialise without a password (docker-entrypoint.sh, docker_verify_minimum_env).
        yield Problem(f"{ns}:databasePassword", "<secret>", "must not be empty; unset it to have one generated")


def _default_domain(cfg: StackConfig) -> str:
    if cfg.target == "host" and cfg.host is not None:
        return default_domain(cfg.host.address)
    return "localhost" if cfg.target == "docker" else _UNKNOWN_DOMAIN


# Everything the gateway's CaddyConfig is built from: once one of these is reported, building it only repeats that.
_CADDY_INPUTS = ("domain", "gateway", "mediaServer.subdomain", "mediaServer.signalPort", "mediaServer.turnTls", "apps")
# Stands in for the VM's private address, known only once it exists.
_UNKNOWN_PRIVATE_IP = "10.0.0.2"


# InitSql's and PgBouncerSettings' messages start with the field they are about.
_INIT_SQL_FIELD_KEYS = {"extensions": "extensions", "read_only_role": "readOnlyRole", "extra_sql": "initSql"}
_POOLER_FIELD_KEYS = {"default_pool_size": "poolSize", "max_client_conn": "maxClientConnections", "listen_port": "port"}


def _refusals(build) -> list[str]:
    """A renderer settings class's own problems: each "  - <field>: ..." line of the ValueError it raises."""
    try:
        build()
    except ValueError as err:
        return [line.strip()[2:] for line in str(err).splitlines()[1:]]
    return []


def _database(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    db = cfg.database
    if not db.enabled:
        return
    init = {"extensions": db.extensions, "read_only_role": db.read_only_role, "extra_sql": db.init_sql}
    # The extensions a major ships differ (renderers/init_sql.CONTRIB_EXTENSIONS_BY_MAJOR).
    major = int(db.version.split(".", 1)[0])
    for message in _refusals(lambda: InitSql(major=major, **init)):
        field = message.split(":", 1)[0]
        yield Problem(f"{ns}:database.{_INIT_SQL_FIELD_KEYS.get(field, 'extensions')}", init.get(field), message)
    if db.pooler.enabled:
        pooler = {"listen_port": db.pooler.port, "default_pool_size": db.pooler.pool_size,
                  "max_client_conn": db.pooler.max_client_connections}
        build = lambda: PgBouncerSettings(database=db.name, user=db.user, backend_host="127.0.0.1",  # noqa: E731
                                          backend_port=db.port, **pooler)
        for message in _refusals(build):
            field = next((f for f in _POOLER_FIELD_KEYS if message.startswith(f)), "max_client_conn")
            yield Problem(f"{ns}:database.pooler.{_POOLER_FIELD_KEYS[field]}", pooler.get(field), message)


def renderer_problems(cfg: StackConfig, ns: str, *, reported: Set[str] = frozenset()) -> Iterator[Problem]:
    """What the renderers would refuse, for keys not already in ``reported``."""
    yield from (p for p in _passwords(cfg, ns) if p.key not in reported)
    yield from (p for p in _database(cfg, ns) if not _explained(p.key.split(":", 1)[1], reported, ns))
    routes, problems = _routes(cfg, ns, reported)
    yield from problems
    if problems or any(_explained(key, reported, ns) for key in _CADDY_INPUTS):
        return  # the gateway's config cannot be built from inputs already known to be wrong
    gw = cfg.gateway
    domain = cfg.domain or _default_domain(cfg)
    turn_domain = turn_tls_domain(cfg, domain)
    turn = cfg.media_server.turn_tls
    turn_upstream = None
    if turn_domain is not None:
        host = turn.upstream_address or (cfg.host.address if cfg.target == "host" and cfg.host else _UNKNOWN_PRIVATE_IP)
        turn_upstream = f"{host}:{turn.port}"
    try:
        CaddyConfig(
            domain=domain,
            tls=gw.tls,
            acme_email=gw.acme_email,
            acme_staging=gw.acme_staging,
            http_port=gw.http_port,
            https_port=gw.https_port,
            routes=tuple(routes),
            media_subdomain=cfg.media_server.subdomain,
            media_upstream=f"127.0.0.1:{cfg.media_server.signal_port}" if cfg.media_server.enabled else None,
            hsts_max_age_seconds=gateway_hsts_max_age_seconds(cfg),
            extra_names=gw.extra_names,
            turn_domain=turn_domain,
            turn_upstream=turn_upstream,
        )
    except ValueError as err:
        message = str(err)
        field = next((f for f in sorted(_CADDY_FIELD_KEYS, key=len, reverse=True) if message.startswith(f)), None)
        key = _CADDY_FIELD_KEYS.get(field, "gateway")
        value = {"domain": cfg.domain, "gateway.extraNames": gw.extra_names}.get(key)
        yield Problem(f"{ns}:{key}", value, f"the gateway cannot serve it: {message}")
