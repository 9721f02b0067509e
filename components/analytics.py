"""ClickHouse 26.3 LTS for analytics: one password user, its database, data and logs on named volumes."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.backup_jobs import BackupStore, backup_jobs, store_settings
from components.container import ContainerSpec, Healthcheck, data_volume, image_ref, run_container
from components.networking import ContainerNetwork, PublishedPort
from components.secrets import password_or_generated, url_quoted
from renderers.clickhouse import (
    CLIENT_CONFIG_PATH,
    CONFIG_D_PATH,
    DATA_PATH,
    DEFAULT_VERSION,
    IMAGE_REPOSITORY,
    LOG_DIR,
    DEFAULT_SYSTEM_LOG_TTL_DAYS,
    STARTUP_SCRIPTS_PATH,
    SYSTEM_LOGS_PATH,
    USERS_D_PATH,
    ClickHouseSettings,
    clickhouse_client_command,
    clickhouse_env,
    clickhouse_healthcheck,
    render_clickhouse_client_config,
    render_clickhouse_config,
    render_clickhouse_startup,
    render_clickhouse_system_logs,
    render_clickhouse_users,
)
from renderers.object_backup import BACKUP_VOLUME_PATH
from renderers.service_backup import (
    BACKUP_CONFIG_D_PATH,
    CLICKHOUSE_JOB,
    UPLOAD_JOBS,
    ClickHouseBackup,
    clickhouse_backup_config_xml,
    clickhouse_dump_command,
    clickhouse_backup_now_command,
    clickhouse_restore_command,
)

TYPE = "backing-services:index:Analytics"


@dataclass(frozen=True, kw_only=True)
class AnalyticsArgs:
    """ClickHouse settings. Every one applies on each start: a change replaces the container, data stays.

    ``database`` is created by the server at every start if missing (renderers/clickhouse.py
    render_clickhouse_startup); a renamed one is created empty and the old one is kept.
    """

    network: ContainerNetwork
    version: str = DEFAULT_VERSION
    http_port: int = 8123
    # Not upstream's 9000: that is the object store's port here. 9004 is in ClickHouse's own 9000-9009 block and
    # is upstream's MySQL-protocol port, which the rendered config removes, so nothing in this container or
    # the stack binds it (5432 postgres, 6379 redis, 6432 pgbouncer, 7880/7881 livekit, 8086 influxdb,
    # 7980 egress templates, 9000 s3, 9090 egress health, 9180 caddy health, 9999 influxdb first-boot setup).
    tcp_port: int = 9004
    database: str = "analytics"
    user: str = "analytics"
    memory_mb: int = 1024  # ClickHouseSettings takes 512 at least
    # Days the system log tables (query_log, text_log, metric_log...) keep; upstream's config.xml keeps them forever.
    system_log_ttl_days: int = DEFAULT_SYSTEM_LOG_TTL_DAYS
    cpus: float = 1.0
    password: pulumi.Input[str] | None = None  # None: generated
    platform: str | None = None
    protect_data: bool = True
    # Scheduled BACKUP DATABASE into the object store (renderers/service_backup.py); None: none. The server
    # then mounts the backups' outbox volume and may write File backups there only (a changed config.d file and
    # a new volume: turning this on or off replaces the container once).
    backup: BackupStore | None = None


class Analytics(pulumi.ComponentResource):
    host: pulumi.Output[str]
    http_port: pulumi.Output[int]
    tcp_port: pulumi.Output[int]
    database: pulumi.Output[str]
    user: pulumi.Output[str]
    password: pulumi.Output[str]
    url: pulumi.Output[str]
    internal_url: pulumi.Output[str]
    client_command: pulumi.Output[str]

    def __init__(self, name: str, args: AnalyticsArgs, opts: pulumi.ResourceOptions | None = None):
        # Both validate their input: a bad value stops here, before anything is registered.
        settings = ClickHouseSettings(
            memory_limit_mb=args.memory_mb,
            http_port=args.http_port,
            tcp_port=args.tcp_port,
            # 0.0.0.0 in a bridge container (the published ports decide exposure), 127.0.0.1 on the VM's host network.
            listen_host=args.network.bind_address,
            system_log_ttl_days=args.system_log_ttl_days,
        )
        client_config = render_clickhouse_client_config(settings, user=args.user)
        startup = render_clickhouse_startup(database=args.database)
        super().__init__(TYPE, name, None, opts)
        password = password_or_generated(args.password, f"{name}-password", parent=self)
        data = data_volume(f"{name}-data", protect=args.protect_data, parent=self)
        # The image declares no volume for its logs; on a named one they survive a replaced container.
        logs = data_volume(f"{name}-logs", protect=args.protect_data, parent=self)
        users = password.apply(lambda pw: render_clickhouse_users(user=args.user, password=pw))
        image = image_ref(IMAGE_REPOSITORY, args.version)
        volumes: dict[str, pulumi.Input[str]] = {DATA_PATH: data.name, LOG_DIR: logs.name}
        backup_uploads: dict[str, pulumi.Input[str]] = {}
        outbox = None
        if args.backup is not None:
            # The server itself writes each backup there (BACKUP ... TO File), so it mounts the outbox volume.
            outbox = data_volume(f"{name}-backups", protect=False, parent=self)
            volumes[BACKUP_VOLUME_PATH] = outbox.name
            backup_uploads[BACKUP_CONFIG_D_PATH] = clickhouse_backup_config_xml()
        self.container = run_container(
            f"{name}-clickhouse",
            ContainerSpec(
                image=image,
                alias="clickhouse",
                # No command: the image's entrypoint starts clickhouse-server (as uid clickhouse via `clickhouse su`)
                # and, with no init scripts and no CLICKHOUSE_DB, starts no temporary server first
                # (ClickHouse/docker-library@9d3f97b6 server/26.3.17.110/entrypoint.sh lines 178, 246-266).
                env=clickhouse_env(),
                uploads={
                    # Replaces the image's docker_related_config.xml, which would keep listening on every address.
                    CONFIG_D_PATH: render_clickhouse_config(settings),
                    STARTUP_SCRIPTS_PATH: startup,
                    SYSTEM_LOGS_PATH: render_clickhouse_system_logs(settings),
                    # For an operator's `docker exec ... clickhouse-client`: this server's port and user, not
                    # localhost:9000 as `default` (under host networking 9000 is the object store).
                    CLIENT_CONFIG_PATH: client_config,
                    # Only the password's SHA-256, but a hash of a known password is still a credential to hide.
                    USERS_D_PATH: pulumi.Output.secret(users),
                    **backup_uploads,
                },
                healthcheck=Healthcheck(test=clickhouse_healthcheck(settings)),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes=volumes,
                ports=(PublishedPort(port=args.http_port), PublishedPort(port=args.tcp_port)),
                # No STOPSIGNAL in the image: SIGTERM, on which the server finishes queries and flushes; the
                # default 30 s grace leaves it time to do so.
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
        )
        self.host = pulumi.Output.from_input("127.0.0.1")
        self.http_port = pulumi.Output.from_input(args.http_port)
        self.tcp_port = pulumi.Output.from_input(args.tcp_port)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        self.password = password
        # The database as the URL path: the form ClickHouse's own HTTP clients parse (clickhouse-connect
        # create_client(dsn=...): database = path[1:], ClickHouse/clickhouse-connect@00f7a545
        # clickhouse_connect/driver/__init__.py _parse_connection_params; @clickhouse/client `url`:
        # http[s]://[user:password@]host:port[/database][?params]). A `?database=` query, what the raw HTTP
        # interface reads, would reach clickhouse-connect's HttpClient as a second `database` (TypeError); raw
        # HTTP callers (curl) pass ?database= or the X-ClickHouse-Database header themselves.
        self.url = pulumi.Output.secret(
            pulumi.Output.format(
                "http://{0}:{1}@127.0.0.1:{2}/{3}", args.user, password.apply(url_quoted), args.http_port, args.database
            )
        )
        # For sibling containers: the bridge alias on a laptop, loopback on the VM. Derived from the container
        # (its name, known in a preview), so whatever uses it waits until ClickHouse is up and healthy.
        internal_address = self.container.name.apply(lambda _: args.network.address("clickhouse", args.http_port))
        self.internal_url = pulumi.Output.secret(
            pulumi.Output.format(
                "http://{0}:{1}@{2}/{3}", args.user, password.apply(url_quoted), internal_address, args.database
            )
        )
        self.client_command = self.container.name.apply(
            lambda container: clickhouse_client_command(settings, container=container, user=args.user)
        )
        self.restore_command: pulumi.Output[str] | None = None
        self.backup_now_command: pulumi.Output[str] | None = None
        if args.backup is not None:
            host = args.network.address("clickhouse", args.tcp_port).rsplit(":", 1)[0]

            def backup(s) -> ClickHouseBackup:
                return ClickHouseBackup(store=s, host=host, port=args.tcp_port, user=args.user, database=args.database)

            store = store_settings(args.backup, "clickhouse")
            jobs = backup_jobs(
                name,
                backup=args.backup,
                settings=store,
                dump_image=image,  # clickhouse-client of the server's own version
                dump_command=lambda s: clickhouse_dump_command(backup(s)),
                dump_job=CLICKHOUSE_JOB,
                upload_job=UPLOAD_JOBS["clickhouse"],
                dump_env=password.apply(lambda pw: [f"CLICKHOUSE_PASSWORD={pw}"]),
                network=args.network,
                platform=args.platform,
                parent=self,
                dump_depends_on=[self.container],
                outbox=outbox,
            )
            self.restore_command = store.apply(
                lambda s: clickhouse_restore_command(backup(s), dump_job=jobs.dump_name, uploader=jobs.upload_name)
            )
            self.backup_now_command = store.apply(
                lambda s: clickhouse_backup_now_command(backup(s), dump_job=jobs.dump_name)
            )
        self.register_outputs(
            {
                "clientCommand": self.client_command,
                "restoreCommand": self.restore_command,
                "backupNowCommand": self.backup_now_command,
                "host": self.host,
                "httpPort": self.http_port,
                "tcpPort": self.tcp_port,
                "database": self.database,
                "user": self.user,
                "password": self.password,
                "url": self.url,
                "internalUrl": self.internal_url,
            }
        )
