"""PostgreSQL in a container, with its data on a named volume."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.container import ContainerSpec, Healthcheck, image_ref, data_volume, run_container
from components.host_shell import HostShell, LocalShell
from components.networking import ContainerNetwork, PublishedPort
from components.object_store import S3Endpoint
from components.secrets import password_or_generated, url_quoted
from renderers.pg_backup import (
    BACKUP_JOB_MEMORY_MB,
    BACKUP_VOLUME_PATH,
    ENTRYPOINT as BACKUP_ENTRYPOINT,
    RCLONE_IMAGE,
    RCLONE_VERSION,
    BackupSettings,
    dump_command,
    dump_env,
    dump_healthcheck,
    rclone_env,
    restore_command,
    upload_command,
    upload_healthcheck,
)
from renderers.pg_pitr import (
    BASE_BACKUP_JOB as PITR_BASE_BACKUP_JOB,
    PITR_VOLUME_PATH,
    RECEIVE_JOB as PITR_RECEIVE_JOB,
    UPLOAD_JOB as PITR_UPLOAD_JOB,
    PitrSettings,
    base_backup_command as pitr_base_backup_command,
    pitr_healthcheck,
    pitr_pgdata,
    pitr_server_args,
    receive_command as pitr_receive_command,
    replication_hba_command,
    restore_command as pitr_restore_command,
    upload_command as pitr_upload_command,
)
from renderers.init_sql import InitSql, init_sql_apply_command, init_sql_uploads, preload_libraries
from renderers.pgbouncer import (
    ENTRYPOINT as PGBOUNCER_ENTRYPOINT,
    IMAGE as PGBOUNCER_IMAGE,
    STOP_SIGNAL as PGBOUNCER_STOP_SIGNAL,
    VERSION as PGBOUNCER_VERSION,
    PgBouncerSettings,
    pgbouncer_healthcheck,
    pgbouncer_uploads,
    pooler_userlist,
)
from renderers.postgres import (
    INITDB_ARGS,
    STOP_TIMEOUT_S,
    PostgresSettings,
    backup_command,
    password_rotation_command,
    postgres_healthcheck,
    postgres_server_args,
    pre_replace_check_command,
)

TYPE = "backing-services:index:Database"



@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    network: ContainerNetwork
    version: str = "18.1"
    database: str = "app"
    user: str = "app"
    port: int = 5432
    memory_mb: int = 512
    cpus: float = 1.0
    password: pulumi.Input[str] | None = None  # None: generated
    platform: str | None = None
    protect_data: bool = True
    host_shell: HostShell = LocalShell()
    # Run on the cluster's first start, and on the running cluster on a first deploy and whenever it changes; it
    # changes the cluster once (generated statements idempotent, init_sql once per text: renderers/init_sql.py).
    extensions: tuple[str, ...] = ()  # e.g. ("uuid-ossp", "pgcrypto")
    read_only_role: str | None = None  # a NOLOGIN role that reads everything in schema public
    init_sql: str = ""  # more transaction-safe SQL, run as the superuser in the app's database
    # PgBouncer in transaction mode in front of the server; apps get its URL as ${database.poolerUrl}.
    pooler: bool = False
    pooler_port: int = 6432
    pooler_pool_size: int = 20
    pooler_max_client_connections: int = 400
    pooler_memory_mb: int = 64
    pooler_cpus: float = 0.5
    # Scheduled logical dumps of every database to this S3 endpoint (renderers/pg_backup.py); None: none.
    backup_store: S3Endpoint | None = None
    backup_bucket: str = "backups"
    backup_interval_hours: int = 24
    backup_keep: int = 7
    # Point-in-time recovery into this S3 endpoint (renderers/pg_pitr.py); None: none.
    pitr_store: S3Endpoint | None = None
    pitr_bucket: str = "backups"
    pitr_retention_days: int = 7
    pitr_archive_timeout_s: int = 300
    pitr_base_backup_interval_hours: int = 24


class Database(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    url: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings = PostgresSettings(
            version=args.version,
            user=args.user,
            database=args.database,
            port=args.port,
            listen_address=args.network.bind_address,
            memory_limit_mb=args.memory_mb,
            # pg_stat_statements works only when the server loaded it at start (renderers/init_sql.py).
            shared_preload_libraries=preload_libraries(args.extensions),
        )
        password = password_or_generated(args.password, f"{name}-password", parent=self)
        volume = data_volume(f"{name}-data", protect=args.protect_data, parent=self)
        container_name = f"{name}-postgres"
        image = image_ref("postgres", args.version, "alpine")
        init = InitSql(
            major=settings.major, extensions=args.extensions, read_only_role=args.read_only_role, extra_sql=args.init_sql
        )
        uploads = init_sql_uploads(init) if init != InitSql(major=settings.major) else {}
        # The container is replaced delete-first; these run before, on the Docker host, while it still runs.
        # A new major on an old cluster, or a role or database the cluster never had, stops the
        # update here with the steps to take, before anything changed (renderers/postgres.py).
        check = volume.name.apply(
            lambda volume_name: pre_replace_check_command(settings, container=container_name, volume=volume_name, image=image)
        )
        checked = args.host_shell.run(
            f"{name}-version-check", script=check, triggers=[image, args.user, args.database], parent=self
        )
        # POSTGRES_PASSWORD applies only at initdb; a new password is set on the running server first.
        rotated = args.host_shell.run(
            f"{name}-password-rotation",
            script=password_rotation_command(settings, container_name),
            stdin=password,
            triggers=[password],
            parent=self,
            # After the check: a refused rename or major must not half-apply a password change.
            depends_on=[checked],
        )
        self.container = run_container(
            container_name,
            ContainerSpec(
                image=image,
                alias="postgres",
                # With PITR, archive_timeout too: it bounds how long a written change waits for its WAL segment
                # to complete (and so to be uploaded).
                command=["postgres", *postgres_server_args(settings),
                         *(pitr_server_args(args.pitr_archive_timeout_s) if args.pitr_store is not None else [])],
                env=pulumi.Output.secret(
                    password.apply(
                        lambda pw: [
                            f"POSTGRES_USER={args.user}",
                            f"POSTGRES_DB={args.database}",
                            f"POSTGRES_PASSWORD={pw}",
                            f"POSTGRES_INITDB_ARGS={INITDB_ARGS}",
                            # The entrypoint's init server and pg_isready use the same port as the server.
                            f"PGPORT={args.port}",
                        ]
                    )
                ),
                healthcheck=Healthcheck(test=postgres_healthcheck(settings), start_period_seconds=30),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes={settings.volume_path: volume.name},
                ports=(PublishedPort(port=args.port),),
                shm_size_mb=settings.shm_size_mb,
                uploads=uploads,
                # The entrypoint reads the init file only on an empty data directory; a changed file is applied
                # to the running cluster below instead of replacing the container for nothing.
                uploads_first_boot_only=True,
                # Postgres's fast shutdown checkpoints; killing it mid-way means crash recovery on start.
                stop_grace_seconds=STOP_TIMEOUT_S,
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
            # Both must pass before the old container is deleted (see above).
            depends_on=[checked, rotated],
        )
        if uploads:
            sql = next(iter(uploads.values()))
            # On a first deploy this runs the file the entrypoint has just run; the file changes the cluster once
            # (renderers/init_sql.render_init_sql), so the second run is a no-op rather than a failed `up`.
            args.host_shell.run(
                f"{name}-init-sql",
                script=init_sql_apply_command(container=container_name, user=args.user, database=args.database, port=args.port),
                stdin=sql,
                triggers=[sql],
                parent=self,
                # It runs inside the container, once that is up and healthy.
                depends_on=[self.container],
            )
        self.host = pulumi.Output.from_input("127.0.0.1")
        self.port = pulumi.Output.from_input(args.port)
        self.database = pulumi.Output.from_input(args.database)
        self.user = pulumi.Output.from_input(args.user)
        self.password = password
        self.url = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@127.0.0.1:{2}/{3}", args.user, password.apply(url_quoted), args.port, args.database
            )
        )
        self.internal_address = pulumi.Output.from_input(args.network.address("postgres", args.port))
        # For containers on the same network (apps): the bridge alias on a laptop, loopback on the VM.
        self.internal_url = pulumi.Output.secret(
            pulumi.Output.format(
                "postgresql://{0}:{1}@{2}/{3}", args.user, password.apply(url_quoted), self.internal_address, args.database
            )
        )
        self.backup_command = pulumi.Output.from_input(backup_command(settings, container_name))
        self.pooler_url: pulumi.Output[str] | None = None
        self.internal_pooler_url: pulumi.Output[str] | None = None
        if args.pooler:
            self._pooler(name, args, password)
        self.restore_command: pulumi.Output[str] | None = None
        if args.backup_store is not None:
            self._backups(name, args, password, image, args.backup_store)
        self.pitr_restore_command: pulumi.Output[str] | None = None
        if args.pitr_store is not None:
            self._pitr(name, args, password, image, volume, settings, args.pitr_store)
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "database": self.database,
                "user": self.user,
                "password": self.password,
                "url": self.url,
                "backupCommand": self.backup_command,
                "poolerUrl": self.pooler_url,
                "restoreCommand": self.restore_command,
                "pitrRestoreCommand": self.pitr_restore_command,
            }
        )

    def _pooler(self, name: str, args: DatabaseArgs, password: pulumi.Output[str]) -> None:
        bouncer = PgBouncerSettings(
            database=args.database,
            user=args.user,
            backend_host=args.network.address("postgres", args.port).rsplit(":", 1)[0],
            backend_port=args.port,
            listen_address=args.network.bind_address,
            listen_port=args.pooler_port,
            default_pool_size=args.pooler_pool_size,
            max_client_conn=args.pooler_max_client_connections,
        )
        uploads = password.apply(lambda pw: pgbouncer_uploads(bouncer, pooler_userlist(args.user, pw)))
        pooler = run_container(
            f"{name}-pgbouncer",
            ContainerSpec(
                image=f"{PGBOUNCER_IMAGE}:{PGBOUNCER_VERSION}",
                alias="pgbouncer",
                entrypoint=PGBOUNCER_ENTRYPOINT,
                uploads={path: pulumi.Output.secret(uploads[path]) for path in pgbouncer_uploads(bouncer, "")},
                healthcheck=Healthcheck(test=pgbouncer_healthcheck(bouncer)),
                memory_mb=args.pooler_memory_mb,
                cpus=args.pooler_cpus,
                ports=(PublishedPort(port=args.pooler_port),),
                # SIGINT: running transactions finish; SIGTERM would wait for pooled clients that never leave.
                stop_signal=PGBOUNCER_STOP_SIGNAL,
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
            # It forwards to the server; started against a missing one, every first client would fail.
            depends_on=[self.container],
        )
        quoted = password.apply(url_quoted)
        self.pooler_url = pulumi.Output.secret(
            pulumi.Output.format("postgresql://{0}:{1}@127.0.0.1:{2}/{3}", args.user, quoted, args.pooler_port, args.database)
        )
        internal = pooler.name.apply(lambda _: args.network.address("pgbouncer", args.pooler_port))
        self.internal_pooler_url = pulumi.Output.secret(
            pulumi.Output.format("postgresql://{0}:{1}@{2}/{3}", args.user, quoted, internal, args.database)
        )

    def _backups(self, name: str, args: DatabaseArgs, password: pulumi.Output[str], image: str, store: S3Endpoint) -> None:
        def settings(endpoint: str, region: str) -> BackupSettings:
            return BackupSettings(
                postgres_host=args.network.address("postgres", args.port).rsplit(":", 1)[0],
                postgres_user=args.user,
                postgres_port=args.port,
                bucket=args.backup_bucket,
                s3_endpoint=endpoint,
                s3_region=region,
                interval_hours=args.backup_interval_hours,
                keep=args.backup_keep,
            )

        backup = pulumi.Output.all(store.internal_endpoint, store.region).apply(lambda er: settings(*er))
        # A staging area only: a dump waits here until the uploader has moved it to the bucket.
        outbox = data_volume(f"{name}-backups", protect=False, parent=self)
        def job(role: str, image_ref: str, command, env, test, depends_on=()) -> None:
            run_container(
                f"{name}-backup-{role}",
                ContainerSpec(
                    image=image_ref,
                    alias=f"backup-{role}",
                    entrypoint=BACKUP_ENTRYPOINT,
                    command=backup.apply(command),
                    env=pulumi.Output.secret(env),
                    healthcheck=Healthcheck(test=test),
                    memory_mb=BACKUP_JOB_MEMORY_MB,
                    cpus=0.5,
                    volumes={BACKUP_VOLUME_PATH: outbox.name},
                ),
                network=args.network,
                platform=args.platform,
                parent=self,
                depends_on=depends_on,
            )

        # The server's own image: pg_dump of the same major as the server it dumps. It dumps the running
        # server; started against none, its first run would fail, hence the dependency.
        job("dump", image, dump_command, password.apply(dump_env), dump_healthcheck(), depends_on=[self.container])
        keys = pulumi.Output.all(backup, store.access_key, store.secret_key).apply(lambda v: rclone_env(*v))
        job("upload", f"{RCLONE_IMAGE}:{RCLONE_VERSION}", upload_command, keys, upload_healthcheck())
        uploader_name = f"{name}-backup-upload"
        self.restore_command = backup.apply(
            lambda s: restore_command(
                s, container=f"{name}-postgres", uploader=uploader_name, database=args.database
            )
        )

    def _pitr(self, name: str, args: DatabaseArgs, password: pulumi.Output[str], image: str, data: pulumi.Resource,
              pg: PostgresSettings, store: S3Endpoint) -> None:
        def settings(endpoint: str, region: str) -> PitrSettings:
            return PitrSettings(
                postgres_host=args.network.address("postgres", args.port).rsplit(":", 1)[0],
                postgres_user=args.user,
                postgres_port=args.port,
                bucket=args.pitr_bucket,
                s3_endpoint=endpoint,
                s3_region=region,
                retention_days=args.pitr_retention_days,
                archive_timeout_s=args.pitr_archive_timeout_s,
                base_backup_interval_hours=args.pitr_base_backup_interval_hours,
                postgres_major=pg.major,
            )

        pitr = pulumi.Output.all(store.internal_endpoint, store.region).apply(lambda er: settings(*er))
        container_name = f"{name}-postgres"
        # pg_receivewal and pg_basebackup use replication connections, which the image's `host all all all` line
        # does not admit; idempotent, so it runs again (harmlessly) when the container is replaced.
        hba = args.host_shell.run(
            f"{name}-pitr-replication-hba",
            script=replication_hba_command(container=container_name, user=args.user),
            triggers=[args.user, self.container.id],
            parent=self,
            # It edits the running cluster's pg_hba.conf.
            depends_on=[self.container],
        )
        # WAL waiting for upload, and base backups in the outbox: a staging area, not the archive itself.
        staging = data_volume(f"{name}-pitr", protect=False, parent=self)

        def job(role: str, image_ref: str, command, env, test, depends_on=()) -> pulumi.Resource:
            return run_container(
                f"{name}-pitr-{role}",
                ContainerSpec(
                    image=image_ref,
                    alias=f"pitr-{role}",
                    entrypoint=BACKUP_ENTRYPOINT,
                    command=pitr.apply(command),
                    env=pulumi.Output.secret(env),
                    healthcheck=Healthcheck(test=test),
                    memory_mb=BACKUP_JOB_MEMORY_MB,
                    cpus=0.5,
                    volumes={PITR_VOLUME_PATH: staging.name},
                ),
                network=args.network,
                platform=args.platform,
                parent=self,
                depends_on=depends_on,
            )

        libpq = password.apply(dump_env)
        # The database's own image: pg_receivewal and pg_basebackup of the server's major. Both need the server and
        # the replication line; started before, their first attempts would fail.
        job("receive", image, pitr_receive_command, libpq, pitr_healthcheck(PITR_RECEIVE_JOB),
            depends_on=[self.container, hba])
        job("base-backup", image, pitr_base_backup_command, libpq, pitr_healthcheck(PITR_BASE_BACKUP_JOB),
            depends_on=[self.container, hba])
        keys = pulumi.Output.all(pitr, store.access_key, store.secret_key).apply(lambda v: rclone_env(*v))
        rclone = f"{RCLONE_IMAGE}:{RCLONE_VERSION}"
        job("upload", rclone, pitr_upload_command, keys, pitr_healthcheck(PITR_UPLOAD_JOB))
        self.pitr_restore_command = pulumi.Output.all(pitr, data.name, staging.name).apply(
            lambda v: pitr_restore_command(
                v[0], container=container_name, uploader=f"{name}-pitr-upload", receiver=f"{name}-pitr-receive",
                image=image, rclone_image=rclone, data_volume=v[1], volume_path=pg.volume_path,
                pgdata=pitr_pgdata(pg.major), pitr_volume=v[2], postgres_port=args.port, postgres_user=args.user,
            )
        )
