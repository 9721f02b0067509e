"""Redis 7 with a password, AOF persistence and an authenticated healthcheck."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.backup_jobs import BackupStore, backup_jobs, store_settings
from components.container import ContainerSpec, Healthcheck, image_ref, data_volume, run_container
from components.networking import ContainerNetwork, PublishedPort
from components.secrets import password_or_generated, url_quoted
from renderers.redis_conf import RedisSettings, redis_healthcheck, render_redis_conf
from renderers.service_backup import (
    REDIS_JOB,
    UPLOAD_JOBS,
    RedisBackup,
    redis_dump_command,
    redis_backup_now_command,
    redis_restore_command,
)

TYPE = "backing-services:index:Cache"
CONF_PATH = "/usr/local/etc/redis/redis.conf"
# The ACL user the password belongs to: redis.conf's requirepass sets the `default` user's password (Redis 6+).
USER = "default"


@dataclass(frozen=True, kw_only=True)
class CacheArgs:
    network: ContainerNetwork
    version: str = "7.4.6"
    port: int = 6379
    memory_mb: int = 256
    cpus: float = 0.5
    password: pulumi.Input[str] | None = None  # None: generated
    platform: str | None = None
    protect_data: bool = True
    # Scheduled RDB snapshots into the object store (renderers/service_backup.py); None: none.
    backup: BackupStore | None = None


class Cache(pulumi.ComponentResource):
    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        password = password_or_generated(args.password, f"{name}-password", parent=self)
        volume = data_volume(f"{name}-data", protect=args.protect_data, parent=self)
        image = image_ref("redis", args.version, "alpine")
        conf = password.apply(
            lambda pw: render_redis_conf(
                RedisSettings(
                    password=pw, port=args.port, bind_address=args.network.bind_address, memory_limit_mb=args.memory_mb
                )
            )
        )
        self.container = run_container(
            f"{name}-redis",
            ContainerSpec(
                image=image,
                alias="redis",
                # The image's entrypoint chowns only /data, then drops to the redis user (uid 999) via gosu: the
                # uploaded conf is 0644, so readable (redis/docker-library-redis 7.4/alpine docker-entrypoint.sh).
                # No STOPSIGNAL: SIGTERM, which Redis answers by saving and exiting.
                command=["redis-server", CONF_PATH],
                # redis-cli in the healthcheck authenticates from this variable.
                env=pulumi.Output.secret(password.apply(lambda pw: [f"REDISCLI_AUTH={pw}"])),
                uploads={CONF_PATH: pulumi.Output.secret(conf)},
                healthcheck=Healthcheck(test=redis_healthcheck(args.port)),
                memory_mb=args.memory_mb,
                cpus=args.cpus,
                volumes={"/data": volume.name},
                ports=(PublishedPort(port=args.port),),
            ),
            network=args.network,
            platform=args.platform,
            parent=self,
        )
        self.password = password
        self.host = pulumi.Output.from_input("127.0.0.1")
        self.port = pulumi.Output.from_input(args.port)
        # The `default` user named (Redis 6+ ACLs): with an empty user name Debian's redis-cli 7.0 sends
        # `AUTH "" <password>`, which the server refuses (tests/deploy/test_dev_deploy.py showed it);
        # redis-py, ioredis, node-redis and go-redis read either form.
        self.url = pulumi.Output.secret(
            pulumi.Output.format("redis://{0}:{1}@127.0.0.1:{2}/0", USER, password.apply(url_quoted), args.port)
        )
        # For sibling containers (LiveKit, Egress): the bridge alias or loopback on the VM. Derived from
        # the container, so whatever uses it waits until Redis is up and healthy, and nothing else does;
        # from its name (an input, known in a preview) so replacing Redis does not show LiveKit as changing.
        self.internal_address = self.container.name.apply(lambda _: args.network.address("redis", args.port))
        self.internal_url = pulumi.Output.secret(
            pulumi.Output.format("redis://{0}:{1}@{2}/0", USER, password.apply(url_quoted), self.internal_address)
        )
        self.restore_command: pulumi.Output[str] | None = None
        self.backup_now_command: pulumi.Output[str] | None = None
        if args.backup is not None:
            self._backups(name, args, password, image, args.backup)
        self.register_outputs(
            {"host": self.host, "port": self.port, "url": self.url, "restoreCommand": self.restore_command,
             "backupNowCommand": self.backup_now_command}
        )

    def _backups(self, name: str, args: CacheArgs, password: pulumi.Output[str], image: str, backup: BackupStore) -> None:
        host = args.network.address("redis", args.port).rsplit(":", 1)[0]
        store = store_settings(backup, "redis")
        settings = store.apply(lambda s: RedisBackup(store=s, host=host, port=args.port))
        jobs = backup_jobs(
            name,
            backup=backup,
            settings=store,
            dump_image=image,  # redis-cli and redis-check-rdb of the server's own version
            dump_command=lambda s: redis_dump_command(RedisBackup(store=s, host=host, port=args.port)),
            dump_job=REDIS_JOB,
            upload_job=UPLOAD_JOBS["redis"],
            dump_env=password.apply(lambda pw: [f"REDISCLI_AUTH={pw}"]),
            network=args.network,
            platform=args.platform,
            parent=self,
            dump_depends_on=[self.container],
        )
        self.restore_command = settings.apply(
            lambda b: redis_restore_command(b, container=f"{name}-redis", image=image, uploader=jobs.upload_name)
        )
        self.backup_now_command = settings.apply(lambda b: redis_backup_now_command(b, dump_job=jobs.dump_name))
