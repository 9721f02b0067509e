"""One realistic day-2 change per config key and stack: what a user would type.

Every key the config model has must appear here (a test walks the model), so a new
key cannot ship without its row in "What happens when I change X".
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from config.model import SECRET_KEYS
from tests import harness

NS = harness.PROJECT


@dataclass(frozen=True)
class Change:
    key: str  # dotted config key, as in `pulumi config set --path`
    stack: str  # "dev" or "prod"
    value: Any  # the new value, or a function of the old one
    label: str  # how the README names the change
    # Set before and after alike: the stack the change is made to (e.g. PgBouncer on, to move its port).
    given: tuple[tuple[str, Any], ...] = ()

    def baseline_values(self) -> dict[str, Any]:
        values = copy.deepcopy(harness.stack_config_as_user_sets_it(self.stack))
        for key, value in self.given:
            _set(values, key, value)
        return values

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """The whole stack config after the change, and which keys are secrets."""
        values = self.baseline_values()
        _set(values, self.key, self.value)
        return values, secret_keys(values)


def secret_keys(values: dict[str, Any]) -> list[str]:
    return [f"{NS}:{k}" for k in SECRET_KEYS if f"{NS}:{k}" in values]


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    head, *rest = key.split(".")
    top = f"{NS}:{head}"
    if not rest:
        values[top] = value(values.get(top)) if callable(value) else value
        return
    node = values.setdefault(top, {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value(node.get(rest[-1])) if callable(value) else value


def both(key: str, value: Any, label: str, given: tuple[tuple[str, Any], ...] = ()) -> list[Change]:
    return [Change(key, "dev", value, label, given), Change(key, "prod", value, label, given)]


POOLER_ON = (("database.pooler.enabled", True),)
BACKUPS_ON = (("database.backup.enabled", True),)
PITR_ON = (("database.pitr.enabled", True),)
CLICKHOUSE_ON = (("analytics.enabled", True),)
INFLUXDB_ON = (("timeSeries.enabled", True),)
CACHE_BACKUPS_ON = (("cache.backup.enabled", True),)
CLICKHOUSE_BACKUPS_ON = (*CLICKHOUSE_ON, ("analytics.backup.enabled", True))
INFLUXDB_BACKUPS_ON = (*INFLUXDB_ON, ("timeSeries.backup.enabled", True))
ON_A_PI = harness.on_a_pi()


def on_a_pi(key: str, value: Any, label: str) -> Change:
    return Change(key, "dev", value, label, ON_A_PI)


def _add_route(routes):
    return [{"path": "/admin/*", "upstream": "127.0.0.1:3002"}, *(routes or [])]


PROD_OCI = harness.PROD_PERSONAL_CONFIG

APP_WITH_DATA = {"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "routes": [{"path": "/app/*"}]}
API_APP = {"name": "api", "image": "ghcr.io/acme/api:2.0.1", "port": 3200}
APP_GIVEN = (("apps", [APP_WITH_DATA]),)
TWO_APPS = (("apps", [APP_WITH_DATA, API_APP]),)

CHANGES: list[Change] = [
    Change("target", "dev", "oci", "move a dev stack to OCI"),
    Change("target", "prod", "docker", "move a prod stack to local Docker"),
    *both("domain", "app.example.com", "set a domain"),
    Change("protectData", "dev", True, "turn protection on"),
    Change("protectData", "prod", False, "turn protection off"),
    *both("database.enabled", False, "turn PostgreSQL off"),
    *both("database.version", "18.2", "a PostgreSQL minor upgrade"),
    *both("database.version", "17.6", "another PostgreSQL major"),
    *both("database.name", "shop", "rename the database"),
    *both("database.user", "shop", "rename the database user"),
    *both("database.port", 5433, "move PostgreSQL's port"),
    *both("database.memoryMb", 1024, "more memory for PostgreSQL"),
    *both("database.cpus", 2, "more CPU for PostgreSQL"),
    *both("database.backup.enabled", True, "turn scheduled backups on"),
    Change("database.backup.bucket", "dev", "uploads", "back up into another bucket", BACKUPS_ON),
    Change("database.backup.bucket", "prod", "recordings", "name the bucket backups go to", BACKUPS_ON),
    *both("database.backup.intervalHours", 6, "back up every 6 hours", BACKUPS_ON),
    *both("database.backup.keep", 14, "keep 14 backups", BACKUPS_ON),
    *both("database.pitr.enabled", True, "turn point-in-time recovery on"),
    Change("database.pitr.bucket", "dev", "uploads", "archive WAL into another bucket", PITR_ON),
    Change("database.pitr.bucket", "prod", "recordings", "name the bucket WAL goes to", PITR_ON),
    *both("database.pitr.retentionDays", 14, "a 14-day recovery window", PITR_ON),
    *both("database.pitr.archiveTimeoutSeconds", 60, "a 1-minute recovery point objective", PITR_ON),
    *both("database.pitr.baseBackupIntervalHours", 6, "a base backup every 6 hours", PITR_ON),
    *both("database.extensions", ["uuid-ossp", "pgcrypto"], "add PostgreSQL extensions"),
    # A new server command (shared_preload_libraries), so the container is replaced, after the checks.
    *both("database.extensions", ["pgcrypto", "pg_stat_statements"], "add pg_stat_statements (preloaded at start)"),
    *both("database.readOnlyRole", "reporting", "add a read-only role"),
    *both("database.initSql", "CREATE TABLE IF NOT EXISTS audit (id bigint);", "add init SQL"),
    *both("database.pooler.enabled", True, "turn PgBouncer on"),
    *both("database.pooler.port", 6433, "move PgBouncer's port", POOLER_ON),
    *both("database.pooler.poolSize", 30, "a bigger PgBouncer pool", POOLER_ON),
    *both("database.pooler.maxClientConnections", 600, "more PgBouncer clients", POOLER_ON),
    *both("database.pooler.memoryMb", 128, "more memory for PgBouncer", POOLER_ON),
    *both("database.pooler.cpus", 1, "more CPU for PgBouncer", POOLER_ON),
    *both("databasePassword", "N3w-Pa55word-from-config", "set or change databasePassword"),
    *both("cache.enabled", False, "turn Redis off"),
    *both("cache.version", "7.4.5", "another Redis version"),
    *both("cache.port", 6380, "move Redis's port"),
    *both("cache.memoryMb", 384, "more memory for Redis"),
    *both("cache.cpus", 1, "more CPU for Redis"),
    *both("cache.backup.enabled", True, "turn scheduled Redis backups on"),
    Change("cache.backup.bucket", "dev", "uploads", "back Redis up into another bucket", CACHE_BACKUPS_ON),
    Change("cache.backup.bucket", "prod", "recordings", "name the bucket Redis backups go to", CACHE_BACKUPS_ON),
    *both("cache.backup.intervalHours", 6, "back Redis up every 6 hours", CACHE_BACKUPS_ON),
    *both("cache.backup.keep", 14, "keep 14 Redis backups", CACHE_BACKUPS_ON),
    *both("cachePassword", "N3w-Redis-pa55word", "set or change cachePassword"),
    *both("objectStore.enabled", False, "turn the object store off"),
    *both("objectStore.version", "v1.6.0", "another versitygw version"),
    *both("objectStore.buckets", lambda b: [*b, "avatars"], "add a bucket"),
    Change("objectStore.buckets", "dev", lambda b: b[:1], "remove a bucket"),
    Change("objectStore.buckets", "prod", ["avatars"], "swap the bucket for another"),
    *both("objectStore.region", "eu-west-1", "another S3 region name"),
    *both("objectStore.port", 9001, "move the S3 port"),
    *both("objectStore.memoryMb", 384, "more memory for the object store"),
    *both("objectStore.cpus", 1, "more CPU for the object store"),
    *both("objectStore.previousVersionRetentionDays", 90, "keep old object versions longer"),
    Change("objectStore.previousVersionRetentionDays", "prod", None, "keep every old object version"),
    *both("mediaServer.enabled", False, "turn LiveKit off"),
    *both("mediaServer.version", "v1.13.4", "another LiveKit version"),
    *both("mediaServer.subdomain", "rtc", "another LiveKit subdomain"),
    *both("mediaServer.signalPort", 7890, "move LiveKit's signal port"),
    *both("mediaServer.tcpPort", 7891, "move LiveKit's ICE/TCP port"),
    Change("mediaServer.udpMuxPort", "dev", 7892, "move the UDP mux port"),
    Change("mediaServer.udpMuxPort", "prod", 7882, "switch from the UDP range to one UDP port"),
    Change("mediaServer.udpRangeStart", "dev", 51000, "change the UDP range start"),
    Change("mediaServer.udpRangeStart", "prod", 51000, "change the UDP range start"),
    Change("mediaServer.udpRangeEnd", "dev", 59000, "change the UDP range end"),
    Change("mediaServer.udpRangeEnd", "prod", 59000, "change the UDP range end"),
    Change("mediaServer.turnUdpPort", "dev", 3478, "turn TURN on"),
    Change("mediaServer.turnUdpPort", "prod", 3479, "move TURN's port"),
    Change("mediaServer.turnRelayRangeStart", "dev", 31000, "move TURN's relay range"),
    Change("mediaServer.turnRelayRangeStart", "prod", 31000, "move TURN's relay range"),
    Change("mediaServer.turnRelayRangeEnd", "prod", 39000, "shrink TURN's relay range"),
    Change("mediaServer.nodeIp", "prod", "203.0.113.10", "advertise a known address instead of asking STUN"),
    # TURN/TLS needs a public 443: the docker target refuses it (config/checks.py), so prod only.
    Change("mediaServer.turnTls.enabled", "prod", False, "turn TURN/TLS off"),
    Change("mediaServer.turnTls.domain", "prod", "turn.example.org", "name the TURN/TLS domain yourself"),
    Change("mediaServer.turnTls.port", "prod", 5350, "move LiveKit's TURN/TLS listener"),
    Change("mediaServer.turnTls.upstreamAddress", "prod", "10.0.0.9", "set the TURN/TLS upstream address"),
    *both("mediaServer.memoryMb", 1536, "more memory for LiveKit"),
    *both("mediaServer.cpus", 1, "less CPU for LiveKit"),
    *both("mediaServer.egress.enabled", False, "turn Egress off"),
    *both("mediaServer.egress.version", "v1.14.0", "another Egress version"),
    *both("mediaServer.egress.memoryMb", 3072, "more memory for Egress"),
    *both("mediaServer.egress.cpus", 3, "more CPU for Egress"),
    *both("gateway.version", "2.11.6", "another Caddy version"),
    *both("gateway.httpPort", 8080, "move the HTTP port"),
    *both("gateway.httpsPort", 8443, "move the HTTPS port"),
    Change("gateway.tls", "dev", "acme", "switch to Let's Encrypt"),
    Change("gateway.tls", "prod", "internal", "switch to Caddy's internal CA"),
    Change("gateway.acmeEmail", "dev", "ops@example.com", "set an ACME email"),
    Change("gateway.acmeEmail", "prod", "new-ops@example.com", "change the ACME email"),
    Change("gateway.acmeStaging", "dev", True, "use Let's Encrypt staging"),
    Change("gateway.acmeStaging", "prod", False, "leave Let's Encrypt staging"),
    *both("gateway.hstsMaxAgeSeconds", 600, "another HSTS max-age"),
    Change("gateway.extraNames", "dev", ["127.0.0.1"], "serve another name or IP"),
    Change("gateway.extraNames", "prod", ["192.168.1.20"], "serve a LAN IP too"),
    *both("gateway.routes", _add_route, "add a route"),
    *both("gateway.memoryMb", 384, "more memory for Caddy"),
    *both("gateway.cpus", 0.5, "less CPU for Caddy"),
    *both(
        "apps",
        [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "env": {"DATABASE_URL": "${database.url}"},
          "routes": [{"path": "/app/*"}]}],
        "add an app",
    ),
    *both("apps", [{**APP_WITH_DATA, "volumes": [{"name": "web-data", "path": "/app/data"}]}], "give an app a volume", APP_GIVEN),
    *both("apps", [{**APP_WITH_DATA, "volumes": [{"name": "web-files", "path": "/app/data"}]}], "rename an app's volume",
          (("apps", [{**APP_WITH_DATA, "volumes": [{"name": "web-data", "path": "/app/data"}]}]),)),
    *both("apps", [APP_WITH_DATA, {**API_APP, "env": {"WEB_URL": "${apps.web.url}"}}], "reference another app's URL", TWO_APPS),
    *both("apps", [APP_WITH_DATA, {**API_APP, "dependsOn": ["web"]}], "start an app after another is healthy", TWO_APPS),
    *both("apps", [{**APP_WITH_DATA, "healthcheck": {"tcpPort": 3100}}], "check an app over TCP", APP_GIVEN),
    Change("apps", "dev", [{**APP_WITH_DATA, "platform": "linux/amd64"}], "pull an app's amd64 image", APP_GIVEN),
    Change("apps", "prod", [{**APP_WITH_DATA, "platform": "linux/arm64"}], "declare an app's image arm64", APP_GIVEN),
    # A new image of a routed app: dev rolls it out beside the old container (apps[].rollout), prod replaces it.
    *both(
        "apps",
        lambda apps: [{**apps[0], "image": "ghcr.io/acme/web:1.4.3"}],
        "roll out a new image of a routed app",
        given=(("apps", [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "routes": [{"path": "/app/*"}]}]),),
    ),
    # On the VM (host networking) a second port: the app rolls out zero-downtime, each revision on the other slot.
    Change(
        "apps",
        "prod",
        lambda apps: [{**apps[0], "rollout": "zero-downtime", "rolloutPort": 3101}],
        "give a routed app a second port to roll out on (rolloutPort)",
        given=(("apps", [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "routes": [{"path": "/app/*"}]}]),),
    ),
    Change(
        "apps",
        "prod",
        lambda apps: [{**apps[0], "image": "ghcr.io/acme/web:1.4.3"}],
        # Evaluated under mocks, whose pick answers the same port twice; on the host it prints the other one, so there
        # `gateway-upstream-web` runs too (tests/test_host_rollout.py test_the_next_revision_takes_the_other_slot...).
        "roll out a new image of an app with a second port (on the host the pick prints the other port and the switch runs)",
        given=(("apps", [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "rollout": "zero-downtime",
                          "rolloutPort": 3101, "routes": [{"path": "/app/*"}]}]),),
    ),
    *both("analytics.enabled", True, "turn ClickHouse on"),
    *both("analytics.version", "26.3.18.1", "another ClickHouse version", CLICKHOUSE_ON),
    *both("analytics.httpPort", 8124, "move ClickHouse's HTTP port", CLICKHOUSE_ON),
    *both("analytics.tcpPort", 9005, "move ClickHouse's native port", CLICKHOUSE_ON),
    *both("analytics.database", "events", "another ClickHouse database", CLICKHOUSE_ON),
    *both("analytics.user", "reporting", "another ClickHouse user", CLICKHOUSE_ON),
    *both("analytics.memoryMb", 2048, "more memory for ClickHouse", CLICKHOUSE_ON),
    *both("analytics.cpus", 2, "more CPU for ClickHouse", CLICKHOUSE_ON),
    *both("analytics.systemLogTtlDays", 30, "keep ClickHouse's system logs 30 days", CLICKHOUSE_ON),
    *both("analytics.backup.enabled", True, "turn scheduled ClickHouse backups on", CLICKHOUSE_ON),
    Change("analytics.backup.bucket", "dev", "uploads", "back ClickHouse up into another bucket", CLICKHOUSE_BACKUPS_ON),
    Change("analytics.backup.bucket", "prod", "recordings", "name the bucket ClickHouse backups go to",
           CLICKHOUSE_BACKUPS_ON),
    *both("analytics.backup.intervalHours", 6, "back ClickHouse up every 6 hours", CLICKHOUSE_BACKUPS_ON),
    *both("analytics.backup.keep", 14, "keep 14 ClickHouse backups", CLICKHOUSE_BACKUPS_ON),
    *both("timeSeries.enabled", True, "turn InfluxDB on"),
    *both("timeSeries.version", "2.7.11", "another InfluxDB version", INFLUXDB_ON),
    *both("timeSeries.org", "homeiq", "another InfluxDB org (first start only)", INFLUXDB_ON),
    *both("timeSeries.bucket", "sensors", "another initial bucket (first start only)", INFLUXDB_ON),
    *both("timeSeries.username", "operator", "another admin user (first start only)", INFLUXDB_ON),
    *both("timeSeries.backup.enabled", True, "turn scheduled InfluxDB backups on", INFLUXDB_ON),
    Change("timeSeries.backup.bucket", "dev", "uploads", "back InfluxDB up into another bucket", INFLUXDB_BACKUPS_ON),
    Change("timeSeries.backup.bucket", "prod", "recordings", "name the bucket InfluxDB backups go to",
           INFLUXDB_BACKUPS_ON),
    *both("timeSeries.backup.intervalHours", 6, "back InfluxDB up every 6 hours", INFLUXDB_BACKUPS_ON),
    *both("timeSeries.backup.keep", 14, "keep 14 InfluxDB backups", INFLUXDB_BACKUPS_ON),
    *both("timeSeries.retention", "30d", "another initial retention (first start only)", INFLUXDB_ON),
    *both("timeSeries.extraBuckets", {"daily": "365d"}, "add an InfluxDB bucket", INFLUXDB_ON),
    *both("timeSeries.port", 8087, "move InfluxDB's port", INFLUXDB_ON),
    *both("timeSeries.memoryMb", 1024, "more memory for InfluxDB", INFLUXDB_ON),
    *both("timeSeries.cpus", 1, "more CPU for InfluxDB", INFLUXDB_ON),
    *both(
        "registryCredentials",
        {"ghcr.io": {"username": "acme-bot", "password": "ghp_readPackagesToken123"}},
        "log in to an app's private registry",
        given=(("apps", [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100}]),),
    ),
    on_a_pi("host.address", "192.168.1.20", "reach the Pi at another address"),
    on_a_pi("host.sshUser", "deploy", "deploy as another user"),
    on_a_pi("host.sshPort", 2222, "SSH on another port"),
    on_a_pi("host.sshPrivateKeyFile", harness.mock_ssh_key_file("id_next"), "another SSH key file"),
    on_a_pi(
        "host.hostKey",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIVuDQxHyP7zdczFk1lefkkvoleKd9H4gRDkcMsMzLh+",
        "pin the reinstalled machine's new host key",
    ),
    on_a_pi("host.sshAgent", True, "sign with the ssh-agent (a key with a passphrase)"),
    on_a_pi("host.platform", "linux/amd64", "move to an amd64 machine"),
    on_a_pi("host.memoryMb", 8192, "a Pi with more memory"),
    on_a_pi("host.cpus", 2, "fewer CPUs on the machine"),
    on_a_pi("host.board", "raspberry-pi-5", "name the board (a Pi 5)"),
    on_a_pi("host.firewall.enabled", True, "close every port but SSH, HTTP/HTTPS and media"),
    on_a_pi(
        "apps",
        [{"name": "web", "image": "ghcr.io/acme/web:1.4.2", "port": 3100, "bindAddress": "0.0.0.0"}],
        "an app the LAN reaches directly (bindAddress 0.0.0.0)",
    ),
    *both("docker.memoryMb", 16384, "a bigger Docker Desktop"),
    *both("docker.cpus", 8, "more CPUs for Docker Desktop"),
    Change("oci.compartmentId", "prod", "ocid1.compartment.oc1..aaaaaaaaothercompartment", "another compartment"),
    Change("oci.region", "prod", "eu-amsterdam-1", "another region"),
    Change("oci.userId", "prod", "ocid1.user.oc1..aaaaaaaaotheruser", "another deploying user"),
    Change("oci.sshPublicKey", "prod", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRotatedKeyMaterial user@laptop", "rotate the SSH key"),
    Change(
        "oci.extraSshPublicKeys",
        "prod",
        ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINextTeammateKey teammate@laptop"],
        "let a teammate (or the next key) log in",
    ),
    Change("oci.adminCidrs", "prod", lambda c: [*c, "192.0.2.0/24"], "allow SSH from another network"),
    Change("oci.availabilityDomain", "prod", "Uocm:EU-FRANKFURT-1-AD-2", "another availability domain"),
    # Without protection, so the VM is replaced: the reserved address moves onto the new VM's private IP.
    Change("oci.availabilityDomain", "prod", "Uocm:EU-FRANKFURT-1-AD-2", "move an unprotected VM to another AD",
           (("protectData", False),)),
    Change("oci.imageId", "prod", "ocid1.image.oc1.eu-frankfurt-1.pinned", "pin another image"),
    # Always Free's A1 allowance was 4 OCPUs and 24 GB until 2026-06-15: the guard now refuses both.
    Change("oci.ocpus", "prod", 4, "the 4 OCPUs Always Free allowed before 2026-06-15"),
    Change("oci.memoryGb", "prod", 24, "the 24 GB Always Free allowed before 2026-06-15"),
    Change("oci.bootVolumeGb", "prod", 60, "a bigger boot volume"),
    Change("oci.dataVolumeGb", "prod", 140, "a smaller data volume"),
    # At the default 150 GB the old volume the restore keeps is beyond Always Free: the guard refuses...
    Change(
        "oci.dataVolumeBackupId",
        "prod",
        "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaaaaaarestorepoint",
        "restore the data volume from a backup",
    ),
    # ...and with allowPaid, as the README's restore sets it at 150 GB, protection stops the replacement.
    Change(
        "oci.dataVolumeBackupId",
        "prod",
        "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaaaaaarestorepoint",
        "restore the data volume from a backup, with `oci.allowPaid`",
        (("oci.allowPaid", True),),
    ),
    # After a restore paid for while both volumes existed (README, "Restore"), the old one is deleted by hand.
    Change(
        "oci.retainedDataVolumeGb",
        "prod",
        0,
        "say the old data volume is deleted, after a restore",
        (
            ("oci.dataVolumeBackupId", "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaaaaaarestorepoint"),
            ("oci.allowPaid", True),
        ),
    ),
    Change("oci.s3UserEmail", "prod", "storage-owner@example.com", "another email for the S3 user"),
    Change("oci.allowPaid", "prod", True, "allow paid shapes"),
    Change("oci.sshUser", "prod", "opc", "another SSH user"),
    Change("oci.sshPrivateKeyFile", "prod", lambda _: harness.mock_ssh_key_file("id_ed25519_next"), "another private key file"),
    Change("oci.hostKey", "prod", harness.MOCK_HOST_KEY, "pin the VM's host key (what hostKeyCommand printed)"),
    Change("oci.unattendedUpgrades.enabled", "prod", False, "stop installing security updates unattended"),
    Change("oci.unattendedUpgrades.automaticReboot", "prod", False, "never reboot the VM for an update"),
    Change("oci.unattendedUpgrades.rebootTimeUtc", "prod", "05:00", "reboot for updates at another time"),
]
