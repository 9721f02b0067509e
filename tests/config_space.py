"""Hypothesis strategies for whole stack configs: every key of the model, valid and invalid values.

Values are drawn from pools that hold the defaults, the boundaries and every port some
service already uses, so collisions and out-of-range values come up as often as ordinary
ones. A config is a checked-in stack (plus a user's personal prod keys) with a few keys changed.
"""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from config.model import SECRET_KEYS
from tests import harness
from tests.config_keys import config_keys

NS = harness.PROJECT

# Every port a service listens on by default, the web and SSH ports, range edges and invalid ones.
SERVICE_PORTS = [22, 80, 443, 2019, 3478, 5432, 6379, 6432, 7880, 8086, 8123, 9004, 9999, 7881, 7882, 7980, 9000, 9090, 9180]
EDGE_PORTS = [0, 1, 1023, 1024, 30000, 40000, 50000, 60000, 65535, 65536, 99999]
ports = st.sampled_from(SERVICE_PORTS + EDGE_PORTS) | st.integers(min_value=1, max_value=65535)

# Mostly well-formed, so that a bad port or a clash is what a drawn route is wrong about.
_HOSTS = ["127.0.0.1", "host.docker.internal", "app", "my-app.internal"]
_BAD_HOSTS = ["256.1.1.1", "bad_host", ""]
upstreams = st.one_of(
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(_HOSTS), ports),
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(_BAD_HOSTS), ports),
    st.sampled_from(["app", "app:", ":80"]),
)
paths = st.sampled_from(["/", "/*", "/api/*", "/ws", "/admin/*", "/uploads/*"]) | st.sampled_from(
    ["/health", "api", "/a b", "/x*y"]
)
routes = st.lists(st.fixed_dictionaries({"path": paths, "upstream": upstreams}), max_size=3)
buckets = st.lists(st.sampled_from(["recordings", "uploads", "avatars", "Recordings", "ab", "a" * 64, "x.y-z"]), max_size=4)
versions = st.sampled_from(["7.4.6", "v1.13.5", "18.1", "16.6", "14.19", "2.11.7", "v1.14.1", "latest", "7", "v1.7.0"])
pg_versions = st.sampled_from(["18.1", "17.6", "16.6", "14.19", "18", "9.6", "latest"])
memory = st.sampled_from([16, 32, 64, 256, 512, 1024, 2048, 4096, 9000, 30000])
cpus = st.sampled_from([0, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 8, 100])
text = st.sampled_from(["", "app", "shop", "Bad-Name", "x" * 70, "livekit", "rtc", "a.b"])
ocids = st.sampled_from(["ocid1.compartment.oc1..aaaaaaaaexample", "ocid1.user.oc1..aaaaaaaaexample", "not-an-ocid"])
cidrs = st.lists(st.sampled_from(["198.51.100.7/32", "0.0.0.0/0", "10.0.0.0/8", "::/0", "bogus", "2001:db8::/32"]), max_size=3)
ssh_keys = st.sampled_from(
    ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey user@host", "ssh-rsa AAAAB3NzaC1yc2E= x", "not a key", ""]
)

app_env = st.dictionaries(
    st.sampled_from(["DATABASE_URL", "REDIS_URL", "S3_ENDPOINT", "MODE", "1BAD", "HOST"]),
    st.sampled_from([
        "${database.url}", "${cache.url}", "${s3.endpoint}", "${s3.secretKey}", "${nope.x}", "plain", "${public.url}/x",
        # Another app's URL: one the list may hold, one it never does, and an output apps do not have.
        "${apps.web.url}", "${apps.api.url}/v1", "${apps.nope.url}", "${apps.web.port}",
    ]),
    max_size=3,
)
apps = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["web", "api", "worker", "Web"]),
            "image": st.sampled_from(["ghcr.io/acme/web:1.4.2", "acme/api:2", "web:latest", "web"]),
            "port": ports,
            "env": app_env,
            "routes": st.lists(
                st.fixed_dictionaries(
                    {"path": paths},
                    optional={
                        "stripPrefix": st.booleans(),
                        "corsOrigins": st.lists(st.sampled_from(["https://a.example", "*", "https://a.example/x", "ftp://x"]), max_size=2),
                        "compress": st.booleans(),
                    },
                ),
                max_size=2,
            ),
        },
        optional={
            # Fine names and paths, a service's volume name, a one-character name, '/' and a '..' path.
            "volumes": st.lists(
                st.fixed_dictionaries({
                    "name": st.sampled_from(["web-data", "api-data", "cache-data", "a", "Web_Data"]),
                    "path": st.sampled_from(["/app/data", "/var/lib/app", "/", "/app/../etc", "/app/data/"]),
                }),
                max_size=2,
            ),
            # The other app, itself, a name no app has (cycles come up with two apps naming each other).
            "dependsOn": st.lists(st.sampled_from(["web", "api", "worker", "nope"]), max_size=2),
            "healthcheck": st.fixed_dictionaries({"tcpPort": ports}),
            "healthPath": st.sampled_from(["/health", "/", "health"]),
            "platform": st.sampled_from([None, "linux/arm64", "linux/amd64", "linux/arm/v7"]),
            "bindAddress": st.sampled_from(["127.0.0.1", "0.0.0.0", "192.168.1.20", "::1"]),
            "rollout": st.sampled_from(["replace", "zero-downtime", "blue-green"]),
            # Its own port, another app's or service's, the other slot of itself; refused off host networking.
            "rolloutPort": st.one_of(ports, st.sampled_from([3101, 3100, 6379])),
        },
    ),
    max_size=2,
)

# SSH host key lines: valid ones, RSA, a blob of another type, ssh-keyscan's line with the address, none.
host_keys = st.sampled_from(
    [
        harness.MOCK_HOST_KEY,
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAZEKZ+aGHWfJwQV4bTnfxqn7I93EdHHvy9M"
        "lZ6aD9FYxngncNE/bQmZmGpT00RzUpQzOkaHe4fNljy28po07qo= root@pi",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
        "ssh-ed25519 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=",
        "pi.home.arpa ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdwqvtEL0yTHss4s",
        None,
    ]
)

BY_KEY: dict[str, st.SearchStrategy[Any]] = {
    "apps": apps,
    "target": st.sampled_from(["docker", "oci", "host", "kubernetes"]),
    "host.address": st.sampled_from(["pi.local", "203.0.113.10", "bad..name", "2001:db8::1"]),
    "host.sshUser": st.sampled_from(["pi", "ubuntu", "Root", ""]),
    "host.sshPrivateKeyFile": st.sampled_from(["KEY", "/nonexistent/id_ed25519"]),
    "host.platform": st.sampled_from(["linux/arm64", "linux/amd64", "linux/arm/v7"]),
    "host.hostKey": host_keys,
    "host.sshAgent": st.sampled_from([False, True, "sometimes"]),
    "host.board": st.sampled_from(["other", "raspberry-pi-3", "raspberry-pi-4", "raspberry-pi-5", "pi4"]),
    "host.firewall.enabled": st.sampled_from([True, False, "yes"]),
    "domain": st.sampled_from([None, "localhost", "example.com", "app.example.com", "Bad_Domain", "10.0.0.1"]),
    "database.version": pg_versions,
    "database.name": text,
    "database.user": text,
    # pg_walinspect: refused with 14 only; pg_stat_statements: preloaded by the server.
    "database.extensions": st.lists(st.sampled_from(["uuid-ossp", "pgcrypto", "pg_trgm", "postgis", "plpython3u",
                                                     "pg_walinspect", "pg_stat_statements"]), max_size=3),
    "database.readOnlyRole": st.sampled_from([None, "reporting", "public", "Bad-Role"]),
    "database.initSql": st.sampled_from(["", "CREATE TABLE IF NOT EXISTS t (id int);", "SELECT 1", "bad\x00",
                                         "CREATE TABLE t (id int); INSERT INTO t VALUES (1);", "SELECT 1 \\gset"]),
    "database.backup.bucket": st.sampled_from([None, "recordings", "uploads", "missing-bucket", "Bad"]),
    "database.backup.intervalHours": st.sampled_from([0, 1, 24, 168, 169]),
    "database.backup.keep": st.sampled_from([0, 1, 7, 365, 366]),
    "database.pitr.bucket": st.sampled_from([None, "recordings", "uploads", "missing-bucket", "Bad"]),
    "database.pitr.retentionDays": st.sampled_from([0, 1, 7, 35, 36]),
    "database.pitr.archiveTimeoutSeconds": st.sampled_from([9, 10, 300, 3600, 3601]),
    # With retentionDays 1 (24 h), 48 is refused by the loader, not by the model.
    "database.pitr.baseBackupIntervalHours": st.sampled_from([0, 1, 24, 48, 168, 169]),
    **{
        f"{service}.backup.{key}": strategy
        for service in ("cache", "analytics", "timeSeries")
        for key, strategy in (
            ("bucket", st.sampled_from([None, "recordings", "uploads", "missing-bucket", "Bad"])),
            ("intervalHours", st.sampled_from([0, 1, 24, 168, 169])),
            ("keep", st.sampled_from([0, 1, 7, 365, 366])),
        )
    },
    "database.pooler.poolSize": st.sampled_from([0, 1, 20, 90, 91]),
    "database.pooler.maxClientConnections": st.sampled_from([0, 10, 400, 980, 1000, 100_000]),
    "objectStore.buckets": buckets,
    "objectStore.region": st.sampled_from(["us-east-1", "eu-west-1", "x", "US-EAST-1"]),
    "objectStore.previousVersionRetentionDays": st.sampled_from([None, 0, 1, 30, 365, -1, 36501]),
    "mediaServer.subdomain": text,
    "gateway.tls": st.sampled_from(["internal", "acme", "none"]),
    "gateway.acmeEmail": st.sampled_from([None, "ops@example.com", "not-an-email"]),
    "gateway.hstsMaxAgeSeconds": st.sampled_from([None, 0, 300, 31_536_000, -1, 10**9]),
    # Names ACME can and cannot issue, the main domain (dev's) again, a duplicate and a malformed one.
    "gateway.extraNames": st.sampled_from(
        [[], ["127.0.0.1"], ["localhost"], ["www.example.org"], ["pi.local", "192.168.1.20"], ["a.example.org", "a.example.org"], ["Not A Name"]]
    ),
    "gateway.routes": routes,
    # The main domain (dev's), a media-domain twin, a fine name and a malformed one.
    "mediaServer.turnTls.domain": st.sampled_from([None, "turn.example.org", "localhost", "livekit.localhost", "Not A Name"]),
    "mediaServer.nodeIp": st.sampled_from([None, "203.0.113.7", "192.168.1.20", "not-an-ip"]),
    "mediaServer.turnTls.upstreamAddress": st.sampled_from([None, "10.0.0.9", "127.0.0.1", "0.0.0.0", "999.1.1.1", "pi.local"]),
    "oci.compartmentId": ocids,
    "oci.userId": ocids,
    "oci.region": st.sampled_from(["eu-frankfurt-1", "us-ashburn-1", "frankfurt", "EU-FRANKFURT-1"]),
    "oci.sshPublicKey": ssh_keys,
    "oci.extraSshPublicKeys": st.lists(ssh_keys, max_size=2),
    "oci.adminCidrs": cidrs,
    "oci.availabilityDomain": st.sampled_from([None, "Uocm:EU-FRANKFURT-1-AD-2", "", "AD 1"]),
    "oci.imageId": st.sampled_from([None, "ocid1.image.oc1.eu-frankfurt-1.aaaa", "ami-123"]),
    "oci.ocpus": st.sampled_from([1, 2, 4, 8, 0]),
    "oci.memoryGb": st.sampled_from([1, 6, 12, 24, 48, 0]),
    "oci.bootVolumeGb": st.sampled_from([47, 50, 100, 200]),
    "oci.dataVolumeGb": st.sampled_from([50, 100, 150, 300]),
    "oci.dataVolumeBackupId": st.sampled_from(
        [None, "ocid1.volumebackup.oc1.eu-frankfurt-1.aaaa", "ocid1.volume.oc1.eu-frankfurt-1.aaaa", "backup-1"]
    ),
    # Null (counted at dataVolumeGb while a backup is set), 0 once the old volume is deleted, a size, an invalid one.
    "oci.retainedDataVolumeGb": st.sampled_from([None, 0, 50, 150, -1]),
    "oci.s3UserEmail": st.sampled_from([None, "s3@example.com", "not-an-email"]),
    "oci.sshUser": st.sampled_from(["ubuntu", "opc"]),
    "oci.sshPrivateKeyFile": st.sampled_from(["KEY", "/nonexistent/id_ed25519"]),
    "oci.hostKey": host_keys,
    "oci.unattendedUpgrades.automaticReboot": st.booleans(),
    "oci.unattendedUpgrades.rebootTimeUtc": st.sampled_from(["03:30", "00:00", "23:59", "3:30", "24:00", "noon"]),
    "databasePassword": st.sampled_from(["S3cret-pw-long-enough", "it's a \"pass\" \\ word", ""]),
    "analytics.version": st.sampled_from(["26.3.17.110", "26.3", "latest"]),
    "analytics.database": text,
    "analytics.user": text,
    "analytics.systemLogTtlDays": st.sampled_from([0, 1, 7, 3650, 3651]),
    "timeSeries.org": st.sampled_from(["main", "homeiq", "bad name", ""]),
    "timeSeries.bucket": st.sampled_from(["default", "sensors", "raw", "-x"]),
    "timeSeries.username": st.sampled_from(["admin", "a@b", ""]),
    "timeSeries.retention": st.sampled_from(["0", "30d", "1w2d", "30m", "forever"]),
    "timeSeries.extraBuckets": st.dictionaries(st.sampled_from(["raw", "daily", "default", "bad name"]), st.sampled_from(["7d", "0", "1m", "x"]), max_size=2),
    "registryCredentials": st.sampled_from(
        [{}, {"ghcr.io": {"username": "bot", "password": "tok"}}, {"docker.io": {"username": "u", "password": ""}}, {"Bad Host": {}}]
    ),
    "cachePassword": st.sampled_from(["S3cret-pw-long-enough", "p@ss:w/rd", "with space", 'quo"te', ""]),
}


def strategy_for(key: str) -> st.SearchStrategy[Any]:
    if key in BY_KEY:
        return BY_KEY[key]
    leaf = key.rsplit(".", 1)[-1]
    if leaf.endswith(("Port", "port")) or leaf in ("udpRangeStart", "udpRangeEnd") or "RelayRange" in leaf:
        return st.none() | ports if leaf in ("udpMuxPort", "turnUdpPort") else ports
    if leaf == "memoryMb":
        return memory
    if leaf == "cpus":
        return cpus
    if leaf == "version":
        return versions
    if leaf in ("enabled", "protectData", "acmeStaging", "allowPaid"):
        return st.booleans()
    raise KeyError(f"no strategy for config key {key}: add one to tests/config_space.py")


def _weight(key: str) -> int:
    # Ports and routes are where keys interact most: drawn more often than the rest.
    return 4 if "ort" in key or "Range" in key or key == "gateway.routes" else 1


WEIGHTED_KEYS = [key for key in config_keys() for _ in range(_weight(key))]


def _set(values: dict[str, Any], key: str, value: Any) -> None:
    head, *rest = key.split(".")
    if not rest:
        values[f"{NS}:{head}"] = value
        return
    node = values.setdefault(f"{NS}:{head}", {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value


@st.composite
def stack_configs(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[str]]:
    """(stack, namespaced config values, secret keys): a checked-in stack with 1-4 keys changed."""
    base = draw(st.sampled_from(["dev", "prod", "pi"]))
    stack = "dev" if base == "pi" else base
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    if base == "pi":
        for key, value in harness.on_a_pi():
            values[f"{NS}:{key}"] = copy.deepcopy(value)
    for key in draw(st.lists(st.sampled_from(WEIGHTED_KEYS), min_size=1, max_size=4, unique=True)):
        value = draw(strategy_for(key))
        if key in ("oci.sshPrivateKeyFile", "host.sshPrivateKeyFile") and value == "KEY":
            value = harness.mock_ssh_key_file()
        if key.startswith("oci.") and f"{NS}:oci" not in values:
            values[f"{NS}:oci"] = {**harness.PROD_PERSONAL_CONFIG, "sshPrivateKeyFile": harness.mock_ssh_key_file()}
        _set(values, key, value)
    secret = [f"{NS}:{k}" for k in SECRET_KEYS if f"{NS}:{k}" in values]
    return stack, values, secret
