"""Rules that span several keys, checked after every key has the right type."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from pydantic.alias_generators import to_camel

from config.capacity import ALWAYS_FREE, container_limits, oci_storage_gb, target_capacity
from config.derived import HOST_NETWORK_TARGETS, app_port_slots, app_start_order, media_ports, target_platform
from config.errors import Problem
from config.model import StackConfig
from config.ports import service_listeners, service_port_collisions
from config.renderer_checks import renderer_problems
from renderers.app_env import APP_BIND_ADDRESS_ENV, APP_OUTPUTS, APP_PORT_ENV, PROVIDERS, app_reference, references
from renderers.caddyfile import is_internal_name
from renderers.existing_host import default_domain, docker_host, host_key_problem, mdns_name_problem
from renderers.init_sql import role_name_problem
from renderers.pg_pitr import MIN_MAJOR as PITR_MIN_MAJOR
from renderers.livekit import is_valid_turn_domain
from renderers.registry import auth_address, image_registry
from renderers.ports import media_port_problems


def semantic_problems(cfg: StackConfig, ns: str) -> list[Problem]:
    problems = [
        *_target_problems(cfg, ns),
        *_host_problems(cfg, ns),
        *_dependency_problems(cfg, ns),
        *_gateway_problems(cfg, ns),
        *_name_problems(cfg, ns),
        *_app_problems(cfg, ns),
        *_registry_problems(cfg, ns),
        *_time_series_problems(cfg, ns),
        *_backup_problems(cfg, ns),
        *_pitr_problems(cfg, ns),
        *_service_port_problems(cfg, ns),
        *_media_port_problems(cfg, ns),
        *_turn_tls_problems(cfg, ns),
        *_capacity_problems(cfg, ns),
        *_oci_problems(cfg, ns),
    ]
    # The renderers' own rules are the backstop: a key the checks above explain is not reported again.
    return [*problems, *renderer_problems(cfg, ns, reported={p.key for p in problems})]


def _target_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    if cfg.target == "oci" and cfg.oci is None:
        yield Problem(f"{ns}:oci", "<missing>", "required when target is 'oci' (compartmentId, region, userId, sshPublicKey, adminCidrs)")
    if cfg.target != "oci" and cfg.oci is not None:
        yield Problem(f"{ns}:oci", "<set>", "only used when target is 'oci'; remove it or set target: oci")
    if cfg.target == "host" and cfg.host is None:
        yield Problem(f"{ns}:host", "<missing>", "required when target is 'host' (address, sshUser, hostKey)")
    if cfg.target != "host" and cfg.host is not None:
        yield Problem(f"{ns}:host", "<set>", "only used when target is 'host'; remove it or set target: host")
    if cfg.target == "docker" and cfg.media_server.enabled and cfg.media_server.udp_mux_port is None:
        yield Problem(
            f"{ns}:mediaServer.udpMuxPort",
            None,
            "required on the docker target: publishing a 10,000-port UDP range through Docker exhausts memory",
        )
    if cfg.target == "docker" and cfg.media_server.node_ip is not None:
        yield Problem(
            f"{ns}:mediaServer.nodeIp",
            cfg.media_server.node_ip,
            "only used on the oci and host targets: on the docker target LiveKit advertises its published and loopback candidates",
        )
    if cfg.target == "docker" and cfg.media_server.enabled and cfg.media_server.turn_udp_port is not None:
        yield Problem(
            f"{ns}:mediaServer.turnUdpPort",
            cfg.media_server.turn_udp_port,
            "must be null on the docker target: TURN relays need a 10,000-port UDP range that Docker cannot publish; "
            "ICE over TCP (mediaServer.tcpPort) serves networks that block UDP",
        )


# Boards whose CPU is ARMv8.0 (a Pi 4's Cortex-A72, a Pi 3's Cortex-A53): no atomics, asimddp or lrcpc.
ARMV80_BOARDS = ("raspberry-pi-3", "raspberry-pi-4")


def _host_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    if cfg.host is None:
        return
    try:
        docker_host(cfg.host.ssh_user, cfg.host.address, cfg.host.ssh_port)
    except ValueError:
        yield Problem(f"{ns}:host.address", cfg.host.address, "expected a host name like 'pi.example.com' or an IP address")
    if (why := mdns_name_problem(cfg.host.address)) is not None:
        yield Problem(f"{ns}:host.address", cfg.host.address, why)
    if cfg.host.host_key is None:
        port = f"-p {cfg.host.ssh_port} " if cfg.host.ssh_port != 22 else ""
        yield Problem(
            f"{ns}:host.hostKey", "<missing>",
            "required: the machine's SSH host key, so a replaced or impostor machine is refused. Print it with "
            f"`ssh-keyscan -t ed25519 {port}{cfg.host.address}` (or `ssh-keygen -F {cfg.host.address}` if you "
            "have connected before), check its `ssh-keygen -lf` fingerprint against "
            "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the machine, and set the part after the address",
        )  # fmt: skip
    elif (why := host_key_problem(cfg.host.host_key)) is not None:
        yield Problem(f"{ns}:host.hostKey", cfg.host.host_key, why)
    if cfg.analytics.enabled and cfg.host.board in ARMV80_BOARDS:
        yield Problem(
            f"{ns}:analytics.enabled",
            True,
            f"ClickHouse's arm64 image needs an ARMv8.2 CPU (LSE atomics, dotprod, RCpc); host.board {cfg.host.board} "
            "is ARMv8.0 and the server dies there with SIGILL (renderers/existing_host.py CLICKHOUSE_CPU_FEATURES): "
            "set analytics.enabled: false, or run ClickHouse on a Raspberry Pi 5 or another ARMv8.2 machine",
        )


def _dependency_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    media = cfg.media_server
    if media.enabled and not cfg.cache.enabled:
        yield Problem(f"{ns}:cache.enabled", False, "must be true while mediaServer is enabled (LiveKit keeps room state in Redis)")
    if media.enabled and media.egress.enabled and not cfg.object_store.enabled:
        yield Problem(f"{ns}:objectStore.enabled", False, "must be true while mediaServer.egress is enabled (recordings are uploaded there)")


def _gateway_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    gw = cfg.gateway
    if gw.tls == "acme" and gw.acme_email is None:
        yield Problem(f"{ns}:gateway.acmeEmail", None, "required when gateway.tls is 'acme'")
    if gw.tls == "acme" and cfg.domain in ("localhost",):
        yield Problem(f"{ns}:domain", cfg.domain, "a public DNS name is needed for ACME; use gateway.tls: internal for localhost")
    # The Caddyfile renderer refuses these without ACME (renderers/caddyfile.CaddyConfig).
    if gw.tls != "acme" and gw.acme_email is not None:
        yield Problem(f"{ns}:gateway.acmeEmail", gw.acme_email, "only used with gateway.tls: acme; remove it")
    if gw.tls != "acme" and gw.acme_staging:
        yield Problem(f"{ns}:gateway.acmeStaging", True, "only used with gateway.tls: acme; set it to false")
    if gw.tls == "acme":
        for i, name in enumerate(gw.extra_names):
            # The renderer refuses these too (renderers/caddyfile.CaddyConfig); here the key names the entry.
            if is_internal_name(name):
                yield Problem(
                    f"{ns}:gateway.extraNames[{i}]",
                    name,
                    "ACME cannot issue a certificate for localhost, .local/.internal/.home.arpa names or IP addresses; "
                    "use gateway.tls: internal (and trust its root: README) or leave the name out",
                )
    seen: set[str] = set()
    for i, route in enumerate(gw.routes):
        if route.path in seen:
            yield Problem(f"{ns}:gateway.routes[{i}].path", route.path, "each route path must be unique")
        seen.add(route.path)
        if route.path == "/health":
            yield Problem(f"{ns}:gateway.routes[{i}].path", route.path, "'/health' is answered by the gateway itself")


def _app_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    enabled = {
        "database": cfg.database.enabled,
        "database.pooler": cfg.database.enabled and cfg.database.pooler.enabled,
        "cache": cfg.cache.enabled,
        "objectStore": cfg.object_store.enabled,
        "mediaServer": cfg.media_server.enabled,
        "gateway": True,
        "analytics": cfg.analytics.enabled,
        "timeSeries": cfg.time_series.enabled,
    }
    names: set[str] = set()
    paths = {r.path for r in cfg.gateway.routes}
    for i, app in enumerate(cfg.apps):
        if app.name in names:
            yield Problem(f"{ns}:apps[{i}].name", app.name, "each app name must be unique")
        names.add(app.name)
        if app.image.split("@", 1)[0].rsplit(":", 1)[1] == "latest":
            yield Problem(f"{ns}:apps[{i}].image", app.image, "pin a version tag; 'latest' changes under a running stack")
        if APP_BIND_ADDRESS_ENV in app.env:
            yield Problem(
                f"{ns}:apps[{i}].env.{APP_BIND_ADDRESS_ENV}",
                app.env[APP_BIND_ADDRESS_ENV],
                f"{APP_BIND_ADDRESS_ENV} is the address the app is told to listen at; set apps[{i}].bindAddress instead",
            )
        if cfg.target == "docker" and app.bind_address == "127.0.0.1":
            # A bridge container's loopback is its own: the gateway, in another namespace, could never reach it.
            yield Problem(
                f"{ns}:apps[{i}].bindAddress",
                app.bind_address,
                "on the docker target each app has its own network namespace and the gateway reaches it by its alias; "
                "use 0.0.0.0 (only the stack's bridge network reaches it) or leave it unset",
            )
        for name, value in app.env.items():
            for ref in references(value):
                if (other := app_reference(ref)) is not None:
                    if problem := _app_reference_problem(cfg, *other):
                        yield Problem(f"{ns}:apps[{i}].env.{name}", value, problem)
                    elif problem := _slotted_reference_problem(cfg, *other):
                        yield Problem(f"{ns}:apps[{i}].env.{name}", value, problem)
                    continue
                service = PROVIDERS.get(ref)
                if service is None:
                    yield Problem(f"{ns}:apps[{i}].env.{name}", value, f"unknown reference ${{{ref}}}; one of {sorted(PROVIDERS)}")
                elif not enabled[service]:
                    yield Problem(f"{ns}:apps[{i}].env.{name}", value, f"${{{ref}}} needs {service}.enabled: true")
        yield from _rollout_problems(cfg, ns, i, app)
        for j, route in enumerate(app.routes):
            if route.path in paths:
                yield Problem(f"{ns}:apps[{i}].routes[{j}].path", route.path, "another route already has this path")
            paths.add(route.path)
        if app.healthcheck is not None and "health_path" in app.model_fields_set:
            yield Problem(
                f"{ns}:apps[{i}].healthPath", app.health_path,
                "an app has one healthcheck: remove healthPath, or apps[].healthcheck for the HTTP check",
            )
        if app.healthcheck is not None and app.healthcheck.tcp_port != app.port:
            # Another service's port would answer for the app on the VM's and a host's shared network: healthy
            # while the app is down. (Checked on every target, like the ports themselves: config/ports.py.)
            held = {l.port: l.owner for l in service_listeners(cfg) if l.owner != f"apps[{i}].port"}
            if app.healthcheck.tcp_port in held:
                yield Problem(
                    f"{ns}:apps[{i}].healthcheck.tcpPort", app.healthcheck.tcp_port,
                    f"{held[app.healthcheck.tcp_port]} listens there, so it would answer the check for this app; "
                    f"check a port the app itself binds (apps[{i}].port is {app.port})",
                )
        yield from _app_platform_problems(cfg, ns, i, app)
    yield from _app_volume_problems(cfg, ns)
    yield from _app_order_problems(cfg, ns)


def _rollout_problems(cfg: StackConfig, ns: str, i: int, app) -> Iterator[Problem]:
    """apps[].rollout and apps[].rolloutPort: zero-downtime under host networking needs a second port."""
    host_network = cfg.target in HOST_NETWORK_TARGETS
    if app.rollout == "zero-downtime" and host_network and app.rollout_port is None:
        yield Problem(
            f"{ns}:apps[{i}].rollout",
            app.rollout,
            f"needs a second port on target '{cfg.target}': apps use the host's network there, where the new container "
            f"cannot bind port {app.port} while the old one holds it. Add apps[{i}].rolloutPort: <a free port> (each "
            f"revision listens on whichever of the two the running one does not use, told in ${APP_PORT_ENV}: the app "
            f"must listen on $PORT), or use rollout: replace (a bridge network, target: docker, needs neither)",
        )
    if app.rollout_port is not None and not (host_network and app.rollout == "zero-downtime"):
        where = (
            f"set apps[{i}].rollout: zero-downtime (the default here is replace) or remove it"
            if host_network
            else f"on target '{cfg.target}' each revision has its own address on the bridge network and needs no second port; remove it"
        )
        yield Problem(f"{ns}:apps[{i}].rolloutPort", app.rollout_port, f"only used by rollout: zero-downtime under host networking (targets oci, host): {where}")
    if app_port_slots(cfg, app) is None:
        return
    if APP_PORT_ENV in app.env:
        yield Problem(
            f"{ns}:apps[{i}].env.{APP_PORT_ENV}",
            app.env[APP_PORT_ENV],
            f"{APP_PORT_ENV} is the port the app is told to listen on, apps[{i}].port or apps[{i}].rolloutPort, whichever "
            "the running revision does not hold; remove it (the program sets it)",
        )
    if app.healthcheck is not None and app.healthcheck.tcp_port != app.port:
        yield Problem(
            f"{ns}:apps[{i}].healthcheck.tcpPort",
            app.healthcheck.tcp_port,
            f"with apps[{i}].rolloutPort the TCP check connects to the port each revision was given; "
            f"set it to apps[{i}].port ({app.port})",
        )


def _slotted_reference_problem(cfg: StackConfig, name: str, output: str) -> str | None:
    """``${apps.X.url}`` is a fixed address; an app alternating between two ports is not at one."""
    app = next(a for a in cfg.apps if a.name == name)
    if app_port_slots(cfg, app) is not None:
        return (
            f"${{apps.{name}.{output}}} is one fixed address, but {name} alternates between ports {app.port} and "
            f"{app.rollout_port} (rolloutPort); reach it through the gateway (${{public.url}} and its route) or give "
            f"{name} rollout: replace"
        )
    return None


def _app_reference_problem(cfg: StackConfig, name: str, output: str) -> str | None:
    names = [app.name for app in cfg.apps]
    if name not in names:
        return f"unknown app {name!r} in ${{apps.{name}.{output}}}; apps: {names}"
    if output not in APP_OUTPUTS:
        return f"an app offers {[f'${{apps.{name}.{o}}}' for o in APP_OUTPUTS]}, not {output!r}"
    return None


def _app_platform_problems(cfg: StackConfig, ns: str, i: int, app) -> Iterator[Problem]:
    # The engine pulls the declared platform (RemoteImage `platform`, force-new, resource_docker_image.go:90-96
    # @v4.5.0); an arm64 engine cannot run an amd64-only image, which the pull would only show as a container
    # that exits with "exec format error". Where the target's platform is known, refuse it here instead.
    target = target_platform(cfg)
    if app.platform is not None and target is not None and app.platform != target:
        where = "host.platform" if cfg.target == "host" else "the oci target's Ampere A1"
        yield Problem(
            f"{ns}:apps[{i}].platform", app.platform,
            f"the image is built for {app.platform} but {where} runs {target}; build the image for {target} "
            f"(`docker buildx build --platform {target}`) and set apps[{i}].platform: {target}",
        )


# The services' own volumes (components/*.py data_volume names): an app's volume must not take one of them.
SERVICE_VOLUMES = (
    "database-data", "database-backups", "cache-data", "object-store-data", "gateway-data",
    "analytics-data", "analytics-logs", "time-series-data", "time-series-config",
)


def _app_volume_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    owners: dict[str, str] = {name: "a service" for name in SERVICE_VOLUMES}
    for i, app in enumerate(cfg.apps):
        paths: set[str] = set()
        for j, volume in enumerate(app.volumes):
            key = f"{ns}:apps[{i}].volumes[{j}]"
            if volume.name in owners:
                yield Problem(
                    f"{key}.name", volume.name,
                    f"{owners[volume.name]} already has a volume of this name; Docker volume names are one namespace per engine",
                )
            owners.setdefault(volume.name, f"apps[{i}] ({app.name})")
            if volume.path in paths:
                yield Problem(f"{key}.path", volume.path, "another volume of this app is mounted there")
            paths.add(volume.path)


def _app_order_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    index = {app.name: i for i, app in enumerate(cfg.apps)}
    for i, app in enumerate(cfg.apps):
        for j, dependency in enumerate(app.depends_on):
            key = f"{ns}:apps[{i}].dependsOn[{j}]"
            if dependency == app.name:
                yield Problem(key, dependency, "an app cannot wait for itself")
            elif dependency not in index:
                yield Problem(key, dependency, f"unknown app; apps: {list(index)}")
    # A cycle would make every app in it wait for the others forever: report each once, at its first app.
    try:
        app_start_order(cfg.model_copy(update={"apps": tuple(
            app.model_copy(update={"depends_on": tuple(d for d in app.depends_on if d in index and d != app.name)})
            for app in cfg.apps
        )}))
    except ValueError as found:
        path = str(found).split(": ", 1)[1].split(" -> ")
        cycle = path[path.index(path[-1]):]  # the walk may have reached the cycle from an app outside it
        i = index[cycle[0]]
        j = cfg.apps[i].depends_on.index(cycle[1])
        yield Problem(
            f"{ns}:apps[{i}].dependsOn[{j}]", cycle[1],
            f"apps depend on each other in a cycle: {' -> '.join(cycle)}; no app in it could start. Remove one of these dependsOn entries",
        )


def _backup_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    """Each service's backups go to the stack's own object store, into one of its buckets."""
    for section, key, what in (
        (cfg.database, "database", "dumps"),
        (cfg.cache, "cache", "RDB snapshots"),
        (cfg.time_series, "timeSeries", "influx backups"),
        (cfg.analytics, "analytics", "ClickHouse backups"),
    ):
        backup = section.backup
        if not (section.enabled and backup.enabled):
            continue
        if not cfg.object_store.enabled:
            yield Problem(f"{ns}:objectStore.enabled", False, f"must be true while {key}.backup is enabled ({what} go there)")
        elif backup.bucket is not None and backup.bucket not in cfg.object_store.buckets:
            yield Problem(f"{ns}:{key}.backup.bucket", backup.bucket, f"not one of objectStore.buckets: {list(cfg.object_store.buckets)}")


def _pitr_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    pitr = cfg.database.pitr
    if not (cfg.database.enabled and pitr.enabled):
        return
    if not cfg.object_store.enabled:
        yield Problem(f"{ns}:objectStore.enabled", False, "must be true while database.pitr is enabled (WAL and base "
                      "backups go there)")
    elif pitr.bucket is not None and pitr.bucket not in cfg.object_store.buckets:
        yield Problem(f"{ns}:database.pitr.bucket", pitr.bucket, f"not one of objectStore.buckets: {list(cfg.object_store.buckets)}")
    if pitr.base_backup_interval_hours > pitr.retention_days * 24:
        yield Problem(f"{ns}:database.pitr.baseBackupIntervalHours", pitr.base_backup_interval_hours,
                      f"at most database.pitr.retentionDays * 24 = {pitr.retention_days * 24}: the window needs a "
                      "base backup inside it")
    major = int(cfg.database.version.split(".", 1)[0])
    if major < PITR_MIN_MAJOR:
        # The tools' options and recovery settings the scripts use were checked for 14..18 (renderers/pg_pitr.py
        # MIN_MAJOR: backup_manifest is 13+). From 18 the restore keeps the replaced cluster beside PGDATA in the
        # data volume; before 18 (PGDATA is the volume's root) in a new Docker volume.
        yield Problem(f"{ns}:database.version", cfg.database.version,
                      f"database.pitr needs PostgreSQL {PITR_MIN_MAJOR} or later; upgrade first (README, "
                      "\"PostgreSQL major upgrades\")")


def _time_series_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    ts = cfg.time_series
    if ts.enabled and ts.bucket in ts.extra_buckets:
        yield Problem(f"{ns}:timeSeries.extraBuckets.{ts.bucket}", ts.extra_buckets[ts.bucket], "timeSeries.bucket already has this name")


def _registry_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    pulled_from = {auth_address(image_registry(app.image)) for app in cfg.apps}
    for host in cfg.registry_credentials:
        if auth_address(host) not in pulled_from:
            yield Problem(
                f"{ns}:registryCredentials.{host}", "<secret>",
                f"no app image is pulled from {host}; registries in use: {sorted(pulled_from) or 'none'}",
            )


def _name_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, bucket in enumerate(cfg.object_store.buckets):
        if bucket in seen:
            yield Problem(f"{ns}:objectStore.buckets[{i}]", bucket, "each bucket name must be unique")
        seen.add(bucket)
    # The superuser the image's initdb creates follows the same rule as the roles the init SQL creates
    # (renderers/init_sql.py role_name_problem): initdb refuses "pg_" names (initdb.c, "role names cannot begin
    # with \"pg_\"", shown with Debian's 15 and PostgreSQL 18 in tests/real/test_postgres_role_names_real.py),
    # and the container would crash-loop behind a generic "not healthy". (readOnlyRole: the renderer's backstop.)
    if cfg.database.enabled and (problem := role_name_problem(cfg.database.user)):
        yield Problem(f"{ns}:database.user", cfg.database.user, problem)
    if cfg.oci is not None:
        keys = [cfg.oci.ssh_public_key, *cfg.oci.extra_ssh_public_keys]
        for i, key in enumerate(cfg.oci.extra_ssh_public_keys):
            if key in keys[: i + 1]:
                yield Problem(f"{ns}:oci.extraSshPublicKeys[{i}]", key, "listed already (oci.sshPublicKey or earlier); remove it")


def _service_port_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    for listener, holder in service_port_collisions(cfg):
        yield Problem(
            f"{ns}:{listener.owner}",
            listener.port,
            f"already used by {holder.owner}; two services cannot listen on one port. Choose a free one: "
            f"`pulumi config set --path {listener.owner} <port>`",
        )


def reserved_ports(cfg: StackConfig) -> dict[int, str]:
    """Ports other services hold, which LiveKit's ports must stay clear of."""
    reserved: dict[int, str] = {}
    for listener in service_listeners(cfg):
        reserved.setdefault(listener.port, listener.owner)
    return reserved


def _media_port_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    if not cfg.media_server.enabled:
        return
    media = media_ports(cfg)
    reserved = reserved_ports(cfg)
    if media.signal_port in reserved:
        yield Problem(f"{ns}:mediaServer.signalPort", media.signal_port, f"already used by {reserved[media.signal_port]}")
    for message in media_port_problems(media, reserved=reserved):
        # Each message starts with the MediaPorts field it is about, e.g. "udp_range_start..udp_range_end (...)".
        field = re.match(r"[a-z_]+", message).group(0)
        key = "turnTls.port" if field == "turn_tls_port" else to_camel(field)
        yield Problem(f"{ns}:mediaServer.{key}", getattr(media, field), message)


def _turn_tls_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    media = cfg.media_server
    turn = media.turn_tls
    key = f"{ns}:mediaServer.turnTls"
    if not turn.enabled:
        for field in ("domain", "upstream_address"):
            if getattr(turn, field) is not None:
                yield Problem(f"{key}.{to_camel(field)}", getattr(turn, field), "only used with mediaServer.turnTls.enabled: true")
        return
    if not media.enabled:
        return  # TURN/TLS is LiveKit's: off with it (config/derived.turn_tls_domain)
    if cfg.target == "docker":
        yield Problem(
            f"{key}.enabled",
            True,
            "not on the docker target: TURN/TLS must be reachable on the public port 443 (LiveKit advertises "
            "turns:<domain>:443), and a laptop has no public 443; use it on target oci or host",
        )
    domain = cfg.domain or (default_domain(cfg.host.address) if cfg.target == "host" and cfg.host else None)
    if turn.domain is not None and domain is not None and turn.domain in (domain, f"{media.subdomain}.{domain}"):
        yield Problem(
            f"{key}.domain",
            turn.domain,
            "must differ from domain and the media subdomain: the gateway tells TURN/TLS from HTTPS on port 443 by this name alone",
        )
    # renderers/livekit.py refuses it only once resources exist; the same rule here, before any.
    if turn.domain is not None and not is_valid_turn_domain(turn.domain):
        yield Problem(f"{key}.domain", turn.domain, "must be a DNS name with at least one dot, e.g. 'turn.example.com'")
    if turn.upstream_address is not None:
        problem = _turn_upstream_problem(turn.upstream_address)
        if problem:
            yield Problem(f"{key}.upstreamAddress", turn.upstream_address, problem)
    elif cfg.target == "host" and cfg.host is not None and _turn_upstream_problem(cfg.host.address) is not None:
        yield Problem(
            f"{key}.upstreamAddress",
            None,
            f"required when host.address ({cfg.host.address!r}) is not the host's own IPv4 address: "
            "the gateway proxies TURN/TLS to LiveKit at the host's non-loopback address (`ip -4 addr` on the host)",
        )


def _turn_upstream_problem(address: str) -> str | None:
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return "must be an IPv4 address"
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
        return "must be the host's own non-loopback address (LiveKit's TURN/TLS fails with Firefox through 127.0.0.1: livekit/deploy updateip.go)"
    return None


def _capacity_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    cap = target_capacity(cfg)
    limits = container_limits(cfg)
    total = sum(mem for mem, _ in limits.values())
    if total > cap.memory_mb:
        detail = ", ".join(f"{k}={m}" for k, (m, _) in limits.items())
        yield Problem(
            f"{ns}:{cap.key}",
            total,
            f"the containers' memory limits add up to {total} MB ({detail}), more than the target's {cap.memory_mb} MB",
        )
    for key, (_, cpus) in limits.items():
        if cpus > cap.cpus:
            yield Problem(f"{ns}:{key}.cpus", cpus, f"must be <= the target's {cap.cpus:g} CPUs")


def _oci_problems(cfg: StackConfig, ns: str) -> Iterator[Problem]:
    oci = cfg.oci
    if oci is None:
        return
    for i, cidr in enumerate(oci.admin_cidrs):
        key = f"{ns}:oci.adminCidrs[{i}]"
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            yield Problem(key, cidr, "expected a CIDR like '203.0.113.7/32'")
            continue
        if net.prefixlen == 0:
            yield Problem(key, cidr, "SSH must not be open to the world; give your own address, e.g. '203.0.113.7/32'")
    if oci.host_key is not None and (why := host_key_problem(oci.host_key)) is not None:
        yield Problem(f"{ns}:oci.hostKey", oci.host_key, why + "; `pulumi stack output hostKeyCommand` prints the VM's")
    backup = oci.data_volume_backup_id
    if backup is not None and not backup.startswith("ocid1.volumebackup."):
        yield Problem(
            f"{ns}:oci.dataVolumeBackupId", backup,
            "expected a block-volume backup OCID ('ocid1.volumebackup.…'); list them: "
            "`oci bv backup list --compartment-id <oci.compartmentId>`",
        )
    if oci.allow_paid:
        return
    paid = "exceeds Oracle's Always Free allowance of {limit}; set oci.allowPaid: true to accept charges"
    if oci.ocpus > ALWAYS_FREE.ocpus:
        yield Problem(
            f"{ns}:oci.ocpus", oci.ocpus,
            paid.format(limit=f"{ALWAYS_FREE.ocpus} OCPUs (1,500 OCPU-hours a month since 2026-06-15)"),
        )
    if oci.memory_gb > ALWAYS_FREE.memory_gb:
        yield Problem(
            f"{ns}:oci.memoryGb", oci.memory_gb,
            paid.format(limit=f"{ALWAYS_FREE.memory_gb} GB (9,000 GB-hours a month since 2026-06-15)"),
        )
    storage, retained = oci_storage_gb(oci)
    if storage <= ALWAYS_FREE.storage_gb:
        return
    limit = f"{ALWAYS_FREE.storage_gb} GB of boot plus block storage"
    if retained == 0:
        yield Problem(
            f"{ns}:oci.dataVolumeGb", oci.data_volume_gb,
            paid.format(limit=f"{limit} (bootVolumeGb + dataVolumeGb = {storage})"),
        )
        return
    # The restored volume is created while the old one still exists, and retain_on_delete keeps the old one.
    key, value = (
        ("oci.retainedDataVolumeGb", retained) if oci.retained_data_volume_gb is not None
        else ("oci.dataVolumeBackupId", oci.data_volume_backup_id)
    )
    fits = (ALWAYS_FREE.storage_gb - oci.boot_volume_gb) // 2
    yield Problem(
        f"{ns}:{key}", value,
        paid.format(
            limit=f"{limit} while the old data volume is kept: bootVolumeGb + dataVolumeGb + the retained old "
            f"volume = {oci.boot_volume_gb} + {oci.data_volume_gb} + {retained} = {storage}"
        )
        + f". Delete the old volume and set oci.retainedDataVolumeGb: 0, or keep it only with dataVolumeGb <= {fits}"
        " (README, \"Restore the data volume from a block-volume backup\")",
    )
