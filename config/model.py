"""The stack configuration, as pydantic models.

Keys are camelCase in the stack files (Pulumi's convention) and snake_case in
Python. Every model forbids unknown keys, so a typo or an unsupported service
is an error instead of being silently ignored.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

Port = Annotated[int, Field(ge=1, le=65535)]
UnprivilegedPort = Annotated[int, Field(ge=1024, le=65535)]
MemoryMb = Annotated[int, Field(ge=32, le=1_048_576)]
# Docker reads a CPU limit back in its own decimal text (components/container.docker_cpus);
# tenths are the steps whose text reads back as the same number (0.05 would read back as 0.1).
Cpus = Annotated[float, Field(gt=0, le=64, multiple_of=0.1)]

# A tag with at least major.minor, optionally pinned to a digest; never "latest".
_TAG = r"v?\d+\.\d+(\.\d+)?(@sha256:[0-9a-f]{64})?"
ImageVersion = Annotated[str, StringConstraints(pattern=rf"^{_TAG}$")]
# PostgreSQL publishes "18.1": major.minor only.
PostgresVersion = Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d+(@sha256:[0-9a-f]{64})?$")]

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME_PATTERN, max_length=253, to_lower=True)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# host:port for an upstream the gateway proxies to.
Upstream = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")]
PathMatcher = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/*-]*$")]
Ocid = Annotated[str, StringConstraints(pattern=r"^ocid1\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9-]*\.[a-z0-9]+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}-[a-z]+-\d$")]
SshPublicKey = Annotated[
    str, StringConstraints(pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$")
]
# An SSH host public key line (renderers/existing_host.host_key_problem checks the key inside it).
_HOST_KEY = r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) AAAA[A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$"
HostKey = Annotated[str, StringConstraints(pattern=_HOST_KEY, strip_whitespace=True)]
S3Region = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,32}$")]
FilePath = Annotated[str, StringConstraints(pattern=r"^[^\x00\r\n]+$")]
# "<tenancy prefix>:<REGION>-AD-<n>", as `oci iam availability-domain list` prints them.
AvailabilityDomain = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]+:[A-Za-z0-9-]+-AD-[1-3]$")]
Label = Annotated[str, StringConstraints(pattern=rf"^{_LABEL}$")]
# [registry[:port]/]repository:tag[@sha256:digest]: a team's own image, always with a tag.
_IMAGE = r"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[0-9a-f]{64})?$"
AppImage = Annotated[str, StringConstraints(pattern=_IMAGE)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_IPV4 = r"^\d{1,3}(\.\d{1,3}){3}$"
IPv4 = Annotated[str, StringConstraints(pattern=_IPV4)]
# HH:MM on a 24-hour clock.
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
ClockTime = Annotated[str, StringConstraints(pattern=_CLOCK_TIME)]
RegistryHost = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")]

# A Docker volume name, used verbatim: 2-63 lowercase letters, digits and '-', a subset of moby's
# RestrictedVolumeNamePattern `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (at least two characters; daemon/names/names.go
# in moby, not mirrored here), so every name this allows the engine accepts.
VolumeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")]
# An absolute, clean path in the container: never '/' itself, no '.'/'..' parts or trailing '/' (the engine
# reports a mount's cleaned destination, so any other spelling would differ from what was sent), no ':' (the
# provider joins volume and path into one `name:path:rw` bind, internal/provider/
# resource_docker_container_structures.go:312-320@v4.5.0).
# A part: any name of letters, digits, '.', '_' and '-' except '.' and '..' (no look-ahead in pydantic's regex).
_PATH_PART = r"([A-Za-z0-9_-][A-Za-z0-9._-]*|\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\.\.[A-Za-z0-9._-]+)"
_CONTAINER_PATH = rf"^(/{_PATH_PART})+$"
ContainerPath = Annotated[str, StringConstraints(pattern=_CONTAINER_PATH)]

# What each pattern means, for error messages a person can act on.
PATTERN_MEANINGS = {
    f"^{_TAG}$": "an image version tag like '7.4.6' or 'v1.9.1', optionally '@sha256:<digest>'; never 'latest'",
    r"^\d{2}\.\d+(@sha256:[0-9a-f]{64})?$": "a PostgreSQL version like '18.1' (major.minor), optionally '@sha256:<digest>'",
    HOSTNAME_PATTERN: "a DNS name like 'example.com' or 'localhost' (lowercase letters, digits, '-', '.')",
    r"^[a-z_][a-z0-9_]{0,62}$": "an identifier: lowercase letters, digits and '_', starting with a letter",
    r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$": "an S3 bucket name: 3-63 lowercase letters, digits, '.' or '-'",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "an email address",
    r"^[A-Za-z0-9.-]+:\d{1,5}$": "an upstream as 'host:port', e.g. 'host.docker.internal:3000'",
    _IPV4: "an IPv4 address like '192.168.1.20'",
    r"^/[A-Za-z0-9._~/*-]*$": "a path matcher starting with '/', e.g. '/api/*'",
    r"^ocid1\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9-]*\.[a-z0-9]+$": "an Oracle Cloud OCID like 'ocid1.compartment.oc1..aaaa...'",
    r"^[a-z]{2}-[a-z]+-\d$": "an OCI region identifier like 'eu-frankfurt-1'",
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$": "an OpenSSH public key line ('ssh-ed25519 AAAA...')",
    r"^[a-z0-9-]{2,32}$": "a region name like 'us-east-1'",
    _HOST_KEY: "the machine's SSH host key, '<type> <base64>' as `ssh-keyscan -t ed25519 <address>` prints it (ed25519 or ecdsa)",
    r"^[^\x00\r\n]+$": "a file path on one line, e.g. '~/.ssh/id_ed25519'",
    r"^[A-Za-z0-9]+:[A-Za-z0-9-]+-AD-[1-3]$": (
        "an availability domain like 'Uocm:EU-FRANKFURT-1-AD-1' (list them: `oci iam availability-domain list`)"
    ),
    rf"^{_LABEL}$": "one DNS label like 'livekit'",
    _IMAGE: "an image with a tag, e.g. 'ghcr.io/acme/web:1.4.2' (optionally '@sha256:<digest>')",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name like 'DATABASE_URL'",
    r"^\d+\.\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$": "a ClickHouse version like '26.3.17.110' (four parts)",
    r"^(0|(\d+[wdhms])+)$": "a retention like '30d', '1w2d' or '72h' (units w, d, h, m, s), or '0' to keep forever",
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$": "a name of letters, digits, '.', '_' or '-', like 'homeiq'",
    r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$": "a registry host like 'ghcr.io' or 'registry.example.com:5000'",
    _CLOCK_TIME: "a time of day as HH:MM on a 24-hour clock, like '03:30'",
    r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$": "a volume name of 2-63 lowercase letters, digits and '-', like 'config-data'",
    _CONTAINER_PATH: "an absolute path in the container like '/app/data' (not '/', no ':', '.', '..' or trailing '/')",
}


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class DatabasePoolerConfig(_Model):
    """PgBouncer in transaction mode in front of PostgreSQL (renderers/pgbouncer.py)."""

    enabled: bool = False
    port: Port = 6432
    # Server connections PgBouncer opens per pool; PostgreSQL's max_connections is 100.
    pool_size: Annotated[int, Field(ge=1, le=90)] = 20
    # Clients it accepts; each costs a file descriptor (checked against its limit by the renderer).
    max_client_connections: Annotated[int, Field(ge=1, le=100_000)] = 400
    memory_mb: MemoryMb = 64
    cpus: Cpus = 0.5


class BackupConfig(_Model):
    """Scheduled backups into the object store, under <bucket>/<service>/<UTC stamp>/: database.backup's pg_dump
    (renderers/pg_backup.py, under postgres/) and cache, timeSeries and analytics.backup's Redis, InfluxDB and
    ClickHouse backups (renderers/service_backup.py), with the same keys and rules."""

    enabled: bool = False
    # Into this bucket of objectStore.buckets; default: the first bucket.
    bucket: BucketName | None = None
    interval_hours: Annotated[int, Field(ge=1, le=168)] = 24  # at whole multiples since the epoch: 24 is 00:00 UTC
    keep: Annotated[int, Field(ge=1, le=365)] = 7


class DatabasePitrConfig(_Model):
    """Point-in-time recovery (renderers/pg_pitr.py): pg_receivewal's WAL and pg_basebackup's base backups in the
    object store, under postgres-pitr/; the restore command takes a UTC time inside the window or `latest`."""

    enabled: bool = False
    # Into this bucket of objectStore.buckets; default: the first bucket.
    bucket: BucketName | None = None
    # Every base backup younger than this is kept, plus the newest older one: any time in the last N days restores.
    retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    # The recovery point objective, with the upload poll (10 s): the server switches WAL segments at least this
    # often while it is written to (PostgreSQL's archive_timeout); each switch uploads one segment (gzip'd).
    archive_timeout_seconds: Annotated[int, Field(ge=10, le=3600)] = 300
    # One at the jobs' start, then at whole multiples since the epoch (24: 00:00 UTC). Restore replays the WAL
    # since the base backup before it: a shorter interval, a faster restore.
    base_backup_interval_hours: Annotated[int, Field(ge=1, le=168)] = 24


class DatabaseConfig(_Model):
    enabled: bool = True
    version: PostgresVersion = "18.1"
    name: Identifier = "app"
    user: Identifier = "app"
    port: Port = 5432
    memory_mb: MemoryMb = 512
    cpus: Cpus = 1.0
    # Init SQL: on the cluster's first start, and on the running cluster when it changes (renderers/init_sql.py).
    extensions: tuple[str, ...] = ()
    read_only_role: Identifier | None = None
    init_sql: str = ""
    pooler: DatabasePoolerConfig = DatabasePoolerConfig()
    backup: BackupConfig = BackupConfig()
    pitr: DatabasePitrConfig = DatabasePitrConfig()


class CacheConfig(_Model):
    enabled: bool = True
    version: ImageVersion = "7.4.6"
    port: Port = 6379
    memory_mb: MemoryMb = 256
    cpus: Cpus = 0.5
    backup: BackupConfig = BackupConfig()


class ObjectStoreConfig(_Model):
    enabled: bool = True
    version: ImageVersion = "v1.7.0"
    buckets: tuple[BucketName, ...] = Field(default=("recordings",), min_length=1)
    region: S3Region = "us-east-1"
    port: Port = 9000
    memory_mb: MemoryMb = 256
    cpus: Cpus = 0.5
    # oci: Object Storage deletes an object's previous versions this many days after they were replaced; null keeps them.
    previous_version_retention_days: Annotated[int, Field(ge=1, le=36500)] | None = 30


class EgressConfig(_Model):
    enabled: bool = True
    version: ImageVersion = "v1.14.1"
    memory_mb: MemoryMb = 2048
    cpus: Cpus = 2.0


class TurnTlsConfig(_Model):
    """TURN over TLS on the gateway's HTTPS port, for networks that allow nothing but 443 (renderers/turn_tls.py)."""

    enabled: bool = False
    # The name clients reach TURN/TLS by; default: turn.<domain>. Must differ from domain.
    domain: Hostname | None = None
    # LiveKit's plain-TCP TURN listener behind the gateway; never opened in a firewall.
    port: UnprivilegedPort = 5349
    # The host's own non-loopback IPv4 address the gateway proxies to; default: the VM's private
    # IP on oci, host.address on host when that is an IPv4 address.
    upstream_address: IPv4 | None = None


class MediaServerConfig(_Model):
    enabled: bool = True
    version: ImageVersion = "v1.13.5"
    subdomain: Label = "livekit"
    signal_port: UnprivilegedPort = 7880
    tcp_port: UnprivilegedPort = 7881
    udp_mux_port: UnprivilegedPort | None = None
    udp_range_start: UnprivilegedPort = 50000
    udp_range_end: UnprivilegedPort = 60000
    turn_udp_port: Port | None = 3478
    # Where LiveKit's TURN server allocates relays (open to the internet with TURN on; see renderers/ports.py).
    turn_relay_range_start: UnprivilegedPort = 30000
    turn_relay_range_end: UnprivilegedPort = 40000
    turn_tls: TurnTlsConfig = TurnTlsConfig()
    # The address LiveKit advertises to clients (oci, host); null: its public address, asked of public STUN
    # servers at start. Set it where those are out of reach (a LAN-only machine) or the address is known.
    node_ip: IPv4 | None = None
    memory_mb: MemoryMb = 1024
    cpus: Cpus = 2.0
    egress: EgressConfig = EgressConfig()


class AnalyticsConfig(_Model):
    """ClickHouse (components/analytics.py); field names are AnalyticsArgs'."""

    enabled: bool = False
    version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$")] = "26.3.17.110"
    http_port: Port = 8123
    tcp_port: Port = 9004  # ClickHouse's own 9000 is the object store's
    database: Identifier = "analytics"
    user: Identifier = "analytics"
    memory_mb: Annotated[int, Field(ge=512, le=1_048_576)] = 1024
    cpus: Cpus = 1.0
    # Days ClickHouse keeps its own system log tables (renderers/clickhouse.py ENABLED_SYSTEM_LOGS).
    system_log_ttl_days: Annotated[int, Field(ge=1, le=3650)] = 7
    backup: BackupConfig = BackupConfig()


# InfluxDB's duration format, as the influx CLI takes it: "30d", "1w2d", "72h"; "0" keeps data forever.
InfluxRetention = Annotated[str, StringConstraints(pattern=r"^(0|(\d+[wdhms])+)$")]
InfluxName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class TimeSeriesConfig(_Model):
    """InfluxDB 2.7 (components/time_series.py); org, bucket, username and retention apply at first start only."""

    enabled: bool = False
    version: ImageVersion = "2.7.12"
    org: InfluxName = "main"
    bucket: InfluxName = "default"
    username: InfluxName = "admin"
    retention: InfluxRetention = "0"
    # More buckets, name -> retention; created, or given a changed retention, on the running server.
    extra_buckets: dict[InfluxName, InfluxRetention] = {}
    port: Port = 8086
    memory_mb: Annotated[int, Field(ge=128, le=1_048_576)] = 512
    cpus: Cpus = 0.5
    backup: BackupConfig = BackupConfig()


class Route(_Model):
    path: PathMatcher
    upstream: Upstream


class AppRouteConfig(_Model):
    path: PathMatcher
    strip_prefix: bool = False
    cors_origins: tuple[str, ...] = ()
    compress: bool = True




class AppVolumeConfig(_Model):
    """A named Docker volume mounted into an app; the volume is named exactly `name` (a contract, like the services')."""

    name: VolumeName
    path: ContainerPath


class AppHealthcheckConfig(_Model):
    """A TCP connect check, for an app with no HTTP health route (renderers/app_health.tcp_check)."""

    tcp_port: Port


class AppConfig(_Model):
    """A team's own container, run next to the services and routed through the gateway."""

    name: Label
    image: AppImage
    port: Port
    command: tuple[str, ...] = ()
    # Values may reference other services' outputs: `${database.url}` (renderers/app_env.PROVIDERS).
    env: dict[EnvName, str] = {}
    health_path: PathMatcher = "/health"
    memory_mb: MemoryMb = 256
    cpus: Cpus = 0.5
    routes: tuple[AppRouteConfig, ...] = ()
    # Named volumes for the app's state; protected and kept on delete like the services' data (protectData).
    volumes: tuple[AppVolumeConfig, ...] = ()
    # Apps created only after these are healthy (the provider's `wait`); at `pulumi up`, not at a reboot.
    depends_on: tuple[Label, ...] = ()
    # A TCP check instead of GETting healthPath.
    healthcheck: AppHealthcheckConfig | None = None
    # What the image is built for; refused where the target's platform is known and differs. Null: the target's.
    platform: Literal["linux/arm64", "linux/amd64"] | None = None
    # Where the app is told to listen (renderers/app_env.APP_BIND_ADDRESS_ENV); None: the target's
    # default, loopback under host networking, every address in a bridge container's own namespace.
    bind_address: Literal["127.0.0.1", "0.0.0.0"] | None = None
    # How a new image or env goes live (components/app.py): "zero-downtime" starts the new container
    # beside the old one and moves the gateway's routes to it before the old one stops; "replace" stops
    # the old one first. Null: zero-downtime for a routed app on a bridge network (config/derived.app_rollout).
    rollout: Literal["replace", "zero-downtime"] | None = None
    # Zero-downtime under host networking (targets oci and host): the second port its revisions alternate on
    # with `port`; the app must listen on the port in $PORT (renderers/app_env.APP_PORT_ENV), which the program
    # sets. Distinct from every other port (config/ports.py); only with rollout: zero-downtime on those targets.
    rollout_port: Port | None = None


class RegistryCredential(_Model):
    """A pull login for a private registry (a read-only token, e.g. a GitHub PAT with read:packages)."""

    username: Annotated[str, StringConstraints(min_length=1)]
    password: Annotated[str, StringConstraints(min_length=1)]


class GatewayConfig(_Model):
    version: ImageVersion = "2.11.7"
    http_port: Port = 80
    https_port: Port = 443
    tls: Literal["internal", "acme"] = "acme"
    acme_email: Email | None = None
    acme_staging: bool = False
    # Unset: derived from tls (config/derived.gateway_hsts_max_age_seconds): one year with ACME, 0 (max-age=0) with
    # Caddy's internal CA.
    hsts_max_age_seconds: Annotated[int, Field(ge=0, le=63_072_000)] | None = None
    # More names/IPv4 addresses the gateway serves with the same routes (renderers/caddyfile.CaddyConfig.extra_names).
    extra_names: tuple[Annotated[str, StringConstraints(to_lower=True)], ...] = ()
    routes: tuple[Route, ...] = ()
    memory_mb: MemoryMb = 256
    cpus: Cpus = 1.0


class DockerTargetConfig(_Model):
    """Capacity of the local Docker engine (Docker Desktop's VM on a laptop)."""

    memory_mb: MemoryMb = 8192
    cpus: Cpus = 4.0


class HostFirewallConfig(_Model):
    """An iptables firewall on the existing host (renderers/host_firewall.py, closing): opt-in."""

    enabled: bool = False


class HostTargetConfig(_Model):
    """A machine the team already has (a Raspberry Pi 4, a VPS), reached with Docker over SSH."""

    address: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:-]+$", to_lower=True)]
    ssh_user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
    ssh_port: Port = 22
    ssh_private_key_file: FilePath = "~/.ssh/id_ed25519"
    # Sign with the ssh-agent at SSH_AUTH_SOCK (a key with a passphrase, once `ssh-add`ed) instead of handing the key
    # file's contents to pulumi-command, which cannot ask for a passphrase (targets/existing_host.py).
    ssh_agent: bool = False
    # The machine's own SSH host key, pinned: `<type> <base64>` as `ssh-keyscan -t ed25519 <address>` prints it after
    # the address, or the machine's /etc/ssh/ssh_host_ed25519_key.pub. Both SSH paths refuse a server with another.
    # Required (config/checks.py says how to get it); null only so the refusal can say that.
    host_key: HostKey | None = None
    # What the machine's CPU runs: a Raspberry Pi 4 with a 64-bit OS is linux/arm64.
    platform: Literal["linux/arm64", "linux/amd64"] = "linux/arm64"
    # Which board, where it decides what can run: ClickHouse's arm64 builds need ARMv8.2 (config/checks.py refuses
    # analytics on a Pi 3 or 4). "other": unknown here; the readiness check reads the CPU's features instead.
    board: Literal["raspberry-pi-3", "raspberry-pi-4", "raspberry-pi-5", "other"] = "other"
    # The machine's size, for the memory and CPU checks (a Pi 4 has 2, 4 or 8 GB).
    memory_mb: MemoryMb = 4096
    cpus: Cpus = 4.0
    firewall: HostFirewallConfig = HostFirewallConfig()


class UnattendedUpgradesConfig(_Model):
    """Ubuntu's unattended-upgrades on the VM (renderers/host_os.py)."""

    # Install security updates every day (Ubuntu's security-only origins).
    enabled: bool = True
    # Reboot when an installed update needs it (a new kernel, libc), at rebootTimeUtc; false: never.
    automatic_reboot: bool = True
    # The day's first rebootTimeUtc after the daily run (06:00-07:00 UTC) that installed it.
    reboot_time_utc: ClockTime = "03:30"


class OciTargetConfig(_Model):
    """Where and how big the Ampere A1 instance is."""

    compartment_id: Ocid
    region: Region
    user_id: Ocid
    ssh_public_key: SshPublicKey
    # More keys allowed to log in as sshUser: teammates, or the next key during a rotation.
    extra_ssh_public_keys: tuple[SshPublicKey, ...] = ()
    admin_cidrs: tuple[str, ...] = Field(min_length=1)
    availability_domain: AvailabilityDomain | None = None
    image_id: Ocid | None = None
    # Always Free's A1 allowance since 2026-06-15: 2 OCPUs and 12 GB all month (config/capacity.ALWAYS_FREE).
    ocpus: Annotated[int, Field(ge=1, le=80)] = 2
    memory_gb: Annotated[int, Field(ge=1, le=512)] = 12
    boot_volume_gb: Annotated[int, Field(ge=50, le=32768)] = 50
    data_volume_gb: Annotated[int, Field(ge=50, le=32768)] = 150
    # A block-volume backup the data volume is created from (force-new: see README, "Restore the data volume").
    data_volume_backup_id: Ocid | None = None
    # GB of old data volumes a restore left in the tenancy (retain_on_delete keeps them) and not yet deleted;
    # counted against Always Free's storage. Null: dataVolumeGb while dataVolumeBackupId is set, else 0.
    retained_data_volume_gb: Annotated[int, Field(ge=0, le=32768)] | None = None
    # Primary email of the dedicated S3 user; default: gateway.acmeEmail plus-addressed (targets/oci_iam.py).
    s3_user_email: Email | None = None
    allow_paid: bool = False
    # The key goes to the image's default user; cloud-init creates no other.
    ssh_user: Literal["ubuntu"] = "ubuntu"
    ssh_private_key_file: FilePath = "~/.ssh/id_ed25519"
    # The VM's SSH host key, pinned on both SSH paths once known (the stack output hostKeyCommand prints it);
    # unset, the first contact is trusted as it comes (targets/oci_ampere.py).
    host_key: HostKey | None = None
    unattended_upgrades: UnattendedUpgradesConfig = UnattendedUpgradesConfig()


class StackConfig(_Model):
    target: Literal["docker", "oci", "host"]
    domain: Hostname | None = None
    protect_data: bool = True
    database: DatabaseConfig = DatabaseConfig()
    cache: CacheConfig = CacheConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    media_server: MediaServerConfig = MediaServerConfig()
    gateway: GatewayConfig = GatewayConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    time_series: TimeSeriesConfig = TimeSeriesConfig()
    apps: tuple[AppConfig, ...] = ()
    docker: DockerTargetConfig = DockerTargetConfig()
    oci: OciTargetConfig | None = None
    host: HostTargetConfig | None = None
    # Optional bring-your-own secrets; must be set with `pulumi config set --secret`.
    database_password: str | None = None
    cache_password: str | None = None
    # Registry host -> pull login, for apps' private images; must be set with `pulumi config set --secret`.
    registry_credentials: dict[RegistryHost, RegistryCredential] = {}


SECRET_KEYS = ("databasePassword", "cachePassword", "registryCredentials")
