"""InfluxDB 2.7 for time series: first-boot setup (org, bucket, admin token), data and config on named volumes."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.backup_jobs import BackupStore, backup_jobs, store_settings
from components.container import ContainerSpec, Healthcheck, data_volume, image_ref, run_container
from components.host_shell import HostShell, LocalShell
from components.networking import ContainerNetwork, PublishedPort
from components.secrets import generated_password, password_or_generated
from renderers.influxdb import (
    CONFIG_PATH,
    DATA_PATH,
    DEFAULT_VERSION,
    IMAGE_REPOSITORY,
    InfluxSettings,
    Retention,
    extra_buckets_apply_command,
    influx_env,
    influx_healthcheck,
    render_app_token_script,
    render_extra_buckets_script,
)
from renderers.service_backup import (
    INFLUX_JOB,
    UPLOAD_JOBS,
    InfluxBackup,
    influx_dump_command,
    influx_backup_now_command,
    influx_restore_command,
)

TYPE = "backing-services:index:TimeSeries"

# InfluxDB's own tokens are 64 random bytes, base64: 88 characters (influxdata/influxdb@v2.7.12 rand/token.go,
# authorization/service.go NewTokenGenerator(64)). 88 letters and digits carry more bits than that (88 x 5.95).
TOKEN_LENGTH = 88

# Read by the image's entrypoint only while the data volume holds no bolt file (the first boot); later they change
# nothing in the server (influxdata/influxdata-docker@d457cb93 influxdb/2.7/alpine/entrypoint.sh lines 481-486).
FIRST_BOOT_ONLY = ("org", "bucket", "username", "retention", "password", "token")


@dataclass(frozen=True, kw_only=True)
class TimeSeriesArgs:
    """InfluxDB settings.

    First boot only (FIRST_BOOT_ONLY): ``org``, ``bucket``, ``username``, ``retention``, ``password`` and
    ``token`` set the server up when its data volume is empty. Changed later, they replace the container (its
    environment changes) but the server keeps the org, bucket, user, password and token it was set up with, while
    this component's outputs show the new values: change them in InfluxDB (UI or `influx` CLI) first, then here.

    ``extra_buckets`` are created whenever one is missing, also on an existing server, and an existing one with
    another retention is given the configured one (renderers/influxdb.py render_extra_buckets_script); a bucket
    removed from the list is left alone. ``port``, ``memory_mb`` and ``cpus`` apply on every start.
    """

    network: ContainerNetwork
    version: str = DEFAULT_VERSION  # the image's "-alpine" variant is appended
    org: str = "main"
    bucket: str = "default"
    username: str = "admin"
    retention: Retention = "0"  # of the initial bucket: "0" keeps data forever, else e.g. "30d", "1w2d", "72h"
    extra_buckets: tuple[tuple[str, Retention], ...] = ()  # (name, retention)
    port: int = 8086
    memory_mb: int = 512
    cpus: float = 0.5
    password: pulumi.Input[str] | None = None  # None: generated; InfluxDB takes 8-72 characters
    token: pulumi.Input[str] | None = None  # the admin (operator) token; None: generated
    platform: str | None = None
    protect_data: bool = True
    host_shell: HostShell = LocalShell()  # where `docker exec` reaches the container (extra buckets)
    # Scheduled `influx backup` into the object store (renderers/service_backup.py); None: none.
    backup: BackupStore | None = None


class TimeSeries(pulumi.ComponentResource):
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    url: pulumi.Output[str]
    internal_url: pulumi.Output[str]
    org: pulumi.Output[str]
    bucket: pulumi.Output[str]
    username: pulumi.Output[str]
    token: pulumi.Output[str]  # the operator (admin) token: every right on the server; for people, never apps
    app_token: pulumi.Output[str]  # read/write on the configured buckets only: what apps get
    password: pulumi.Output[str]

    def __init__(self, name: str, args: TimeSeriesArgs, opts: pulumi.ResourceOptions | None = None):
        # Validates every name, retention and port: a bad value stops here, before anything is registered.
        settings = InfluxSettings(
            org=args.org,
            bucket=args.bucket,
            username=args.username,
            retention=args.retention,
            extra_buckets=args.extra_buckets,
            port=args.port,
            # 0.0.0.0 in a bridge container (the published port decides exposure), 127.0.0.1 on the VM's host network.
            bind_address=args.network.bind_address,
            memory_limit_mb=args.memory_mb,
        )
        super().__init__(TYPE, name, None, opts)
        password = password_or_generated(args.password, f"{name}-password", parent=self)
        token = (
            pulumi.Output.secret(args.token)
            if args.token is not None
            else generated_password(f"{name}-token", parent=self, length=TOKEN_LENGTH)
        )
        data = data_volume(f"{name}-data", protect=args.protect_data, parent=self)
        # The CLI config holding the admin token lives here; losing it while keeping the data locks the CLI out.
        config = data_volume(f"{name}-config", protect=args.protect_data, parent=self)
        container_name = f"{name}-influxdb"
        image = image_ref(IMAGE_REPOSITORY, args.version, "alpine")
        env = pulumi.Output.all(password, token).apply(lambda secrets: influx_env(settings, secrets[0], secrets[1]))
        self.container = run_container(
            container_name,
            ContainerSpec(
                # Alpine: the variant the renderer's facts are read from (bash, curl for the healthcheck, run-parts).
                image=image,
                alias="influxdb",
                # No command: the image's entrypoint runs setup on the first boot, then drops to the influxdb user
                # (su-exec) and execs influxd (entrypoint.sh lines 481-498).
                # The setup password and admin token: secret, and read by the entrypoint on the first boot only.
                env=pulumi.Output.secret(env),
                healthcheck=Healthcheck(
                    test=influx_healthcheck(settings),
                    # First boot: a temporary server, setup, then the real one; /health fails until that one is up.
                    start_period_seconds=30,
                ),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes={DATA_PATH: data.name, CONFIG_PATH: config.name},
                ports=(PublishedPort(port=args.port),),
                # No STOPSIGNAL in the image: SIGTERM, on which influxd closes its stores; 30 s is ample.
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
        )
        # What sibling containers use waits for the container, and for the extra buckets when there are any. From
        # a name and a URN (known in a preview), so a replaced container does not show its users as changing.
        ready: pulumi.Output[object] = self.container.name
        if args.extra_buckets:
            script = render_extra_buckets_script(settings)
            buckets = args.host_shell.run(
                f"{name}-buckets",
                script=extra_buckets_apply_command(container_name),
                stdin=script,
                # Again for a new container too: it may come with an empty volume. The script creates only what is
                # missing and updates only a retention that differs, so on a set-up server it changes nothing else.
                triggers=[script, self.container.id],
                parent=self,
                # Inside the container, once setup is done and /health passes.
                depends_on=[self.container],
            )
            ready = pulumi.Output.all(self.container.name, buckets.urn)
        # The apps' token, scoped to the buckets (renderers/influxdb.py render_app_token_script). InfluxDB generates
        # it, so it comes back as this command's stdout (a secret output, since the command is fed stdin).
        token_script = render_app_token_script(settings)
        app_token_step = args.host_shell.run(
            f"{name}-app-token",
            script=extra_buckets_apply_command(container_name),
            stdin=token_script,
            # Again for a new container (an empty volume has no such token); an existing one is printed again.
            triggers=[token_script, self.container.id],
            parent=self,
            # Every bucket it names must exist first: the extra ones come from the buckets step.
            depends_on=[self.container, *([buckets] if args.extra_buckets else [])],
        )
        self.app_token = pulumi.Output.secret(app_token_step.stdout.apply(lambda out: (out or "").strip()))
        self.host = pulumi.Output.from_input("127.0.0.1")
        self.port = pulumi.Output.from_input(args.port)
        self.url = pulumi.Output.from_input(f"http://127.0.0.1:{args.port}")
        # For sibling containers: the bridge alias on a laptop, loopback on the VM.
        self.internal_url = ready.apply(lambda _: f"http://{args.network.address('influxdb', args.port)}")
        self.org = pulumi.Output.from_input(args.org)
        self.bucket = pulumi.Output.from_input(args.bucket)
        self.username = pulumi.Output.from_input(args.username)
        self.token = token
        self.password = password
        self.restore_command: pulumi.Output[str] | None = None
        self.backup_now_command: pulumi.Output[str] | None = None
        if args.backup is not None:
            url = f"http://{args.network.address('influxdb', args.port)}"
            store = store_settings(args.backup, "influxdb")
            jobs = backup_jobs(
                name,
                backup=args.backup,
                settings=store,
                dump_image=image,  # the influx CLI the image carries (2.7.5)
                dump_command=lambda s: influx_dump_command(InfluxBackup(store=s, url=url)),
                dump_job=INFLUX_JOB,
                upload_job=UPLOAD_JOBS["influxdb"],
                # The admin token is an operator token, which backup requires (authorizer/backup.go:31@v2.7.12).
                dump_env=token.apply(lambda t: [f"INFLUX_TOKEN={t}"]),
                network=args.network,
                platform=args.platform,
                parent=self,
                dump_depends_on=[self.container],
            )
            self.restore_command = store.apply(
                lambda s: influx_restore_command(InfluxBackup(store=s, url=url), container=container_name,
                                                 uploader=jobs.upload_name)
            )
            self.backup_now_command = store.apply(
                lambda s: influx_backup_now_command(InfluxBackup(store=s, url=url), dump_job=jobs.dump_name)
            )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "url": self.url,
                "internalUrl": self.internal_url,
                "org": self.org,
                "bucket": self.bucket,
                "username": self.username,
                "token": self.token,
                "appToken": self.app_token,
                "password": self.password,
                "restoreCommand": self.restore_command,
                "backupNowCommand": self.backup_now_command,
            }
        )
