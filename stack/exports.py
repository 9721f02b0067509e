"""Stack outputs: every URL, the credentials (as secrets) and the `.env` text for apps."""
from __future__ import annotations

import pulumi

from config.model import StackConfig
from renderers.env_file import render_env_file
from stack.compose import Services
from targets.base import Target


def export_stack(cfg: StackConfig, target: Target, services: Services) -> None:
    gateway = services.gateway
    pulumi.export("target", target.name)
    pulumi.export("gatewayUrl", gateway.url)
    pulumi.export("healthUrl", gateway.health_url)
    if gateway.root_cert_command is not None:
        pulumi.export("gatewayRootCertCommand", gateway.root_cert_command)
    env: dict[str, pulumi.Input[str]] = {"PUBLIC_URL": gateway.url}

    if services.database is not None:
        db = services.database
        pulumi.export("databaseUrl", db.url)
        pulumi.export("databaseHost", db.host)
        pulumi.export("databasePort", db.port)
        pulumi.export("databaseName", db.database)
        pulumi.export("databaseUser", db.user)
        pulumi.export("databasePassword", db.password)
        pulumi.export("databaseBackupCommand", db.backup_command)
        if db.restore_command is not None:
            pulumi.export("databaseRestoreCommand", db.restore_command)
        if db.pitr_restore_command is not None:
            pulumi.export("databasePitrRestoreCommand", db.pitr_restore_command)
        env["DATABASE_URL"] = db.url
        if db.pooler_url is not None:
            pulumi.export("databasePoolerUrl", db.pooler_url)
            env["DATABASE_POOLER_URL"] = db.pooler_url

    if services.cache is not None:
        pulumi.export("redisUrl", services.cache.url)
        if services.cache.restore_command is not None:
            pulumi.export("cacheRestoreCommand", services.cache.restore_command)
        if services.cache.backup_now_command is not None:
            pulumi.export("cacheBackupNowCommand", services.cache.backup_now_command)
        env["REDIS_URL"] = services.cache.url

    if services.object_store is not None:
        store = services.object_store
        pulumi.export("s3Endpoint", store.endpoint)
        pulumi.export("s3Region", store.region)
        pulumi.export("s3Bucket", store.bucket)
        pulumi.export("s3Buckets", store.buckets)
        pulumi.export("s3AccessKeyId", store.access_key)
        pulumi.export("s3SecretAccessKey", store.secret_key)
        pulumi.export("s3ForcePathStyle", store.path_style)
        env |= {
            "S3_ENDPOINT": store.endpoint,
            "S3_REGION": store.region,
            "S3_BUCKET": store.bucket,
            "S3_ACCESS_KEY_ID": store.access_key,
            "S3_SECRET_ACCESS_KEY": store.secret_key,
            "S3_FORCE_PATH_STYLE": store.path_style.apply(lambda v: "true" if v else "false"),
        }
        # What the store needs of the AWS SDKs beyond the S3_* values (OCI: checksums only where an operation
        # requires one, components/object_store.py OCI_S3_CLIENT_ENV); nothing on dev.
        env |= dict(entry.split("=", 1) for entry in store.s3.client_env)

    if services.media is not None:
        pulumi.export("livekitUrl", gateway.media_url)
        if gateway.turn_tls_url is not None:
            pulumi.export("turnTlsUrl", gateway.turn_tls_url)
        pulumi.export("livekitApiKey", services.media.api_key)
        pulumi.export("livekitApiSecret", services.media.api_secret)
        env |= {
            "LIVEKIT_URL": gateway.media_url,
            "LIVEKIT_API_KEY": services.media.api_key,
            "LIVEKIT_API_SECRET": services.media.api_secret,
        }

    if services.analytics is not None:
        analytics = services.analytics
        pulumi.export("clickhouseUrl", analytics.url)
        pulumi.export("clickhousePassword", analytics.password)
        # Names --host/--port/--user: the client's defaults (localhost:9000, `default`) reach the object store.
        pulumi.export("clickhouseClientCommand", analytics.client_command)
        if analytics.restore_command is not None:
            pulumi.export("analyticsRestoreCommand", analytics.restore_command)
        if analytics.backup_now_command is not None:
            pulumi.export("analyticsBackupNowCommand", analytics.backup_now_command)
        env["CLICKHOUSE_URL"] = analytics.url

    if services.time_series is not None:
        influx = services.time_series
        pulumi.export("influxdbUrl", influx.url)
        pulumi.export("influxdbOrg", influx.org)
        pulumi.export("influxdbBucket", influx.bucket)
        # What apps use: read/write on the configured buckets. The operator token can do anything on the server
        # (users, orgs, every bucket): exported for people under its own name, and in no app's env.
        pulumi.export("influxdbToken", influx.app_token)
        pulumi.export("influxdbOperatorToken", influx.token)
        pulumi.export("influxdbPassword", influx.password)
        if influx.restore_command is not None:
            pulumi.export("timeSeriesRestoreCommand", influx.restore_command)
        if influx.backup_now_command is not None:
            pulumi.export("timeSeriesBackupNowCommand", influx.backup_now_command)
        env |= {"INFLUX_URL": influx.url, "INFLUX_ORG": influx.org, "INFLUX_BUCKET": influx.bucket, "INFLUX_TOKEN": influx.app_token}

    for key, value in target.extra_outputs.items():
        pulumi.export(key, value)

    names = list(env)
    pulumi.export(
        "env",
        pulumi.Output.secret(pulumi.Output.all(*env.values()).apply(lambda vals: render_env_file(dict(zip(names, vals))))),
    )
