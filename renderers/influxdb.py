"""InfluxDB 2.7: first-boot setup env, memory limits, an extra-buckets init script and a probe.

Upstream facts (tests/renderers/test_influxdb.py checks the rendered names against the lists kept here):

Image ``influxdb:2.7.12-alpine``: influxdata/influxdata-docker@d457cb93 influxdb/2.7/alpine/Dockerfile (alpine
3.23, influxd 2.7.12, influx CLI 2.7.5, ``apk add ... bash curl run-parts su-exec``, ``VOLUME /var/lib/influxdb2
/etc/influxdb2``, ``EXPOSE 8086``, ``ENV INFLUX_CONFIGS_PATH /etc/influxdb2/influx-configs``, ``ENV
INFLUXD_INIT_PORT 9999``); multi-arch per docker-library/official-images library/influxdb@a4ed0cf7 (``Tags:
2.7-alpine, 2.7.12-alpine``, ``Architectures: amd64, arm64v8``). That library file dropped 2.7 on 2026-05-06
(ca8da91c "remove 2.7.x", 2.9 is current): the 2.7.12 tags stay pullable but are no longer rebuilt.

influxdb/2.7/alpine/entrypoint.sh at the same commit:

- Setup runs only when the bolt file (``INFLUXD_BOLT_PATH``, default /var/lib/influxdb2/influxd.bolt; engine
  /var/lib/influxdb2/engine) does not exist and ``DOCKER_INFLUXDB_INIT_MODE`` is set (lines 104-105, 481-486);
  ``setup`` needs ``_USERNAME``, ``_PASSWORD``, ``_ORG``, ``_BUCKET`` (lines 202-207) and takes ``_RETENTION`` and
  ``_ADMIN_TOKEN`` (lines 312-317). On a later start these variables change nothing: a changed password, org or
  token must be applied through the API.
- It passes them to ``influx setup --password ... --token ...`` (lines 304-319): for the seconds of the first
  boot, the password and token are in that process's argv inside the container. The image offers no way around
  that (the ``*_FILE`` variants, lines 197-199, are read into the same variables).
- Setup runs on a temporary server bound to ``:${INFLUXD_INIT_PORT}`` (all interfaces, lines 381-419), then runs
  ``run-parts --regex ".*sh$" --report --exit-on-error /docker-entrypoint-initdb.d`` (line 347): only *executable*
  files whose names end in ``sh``, with ``INFLUX_HOST`` pointing at the temporary server and the ``influx`` CLI
  config ``default`` (holding the admin token, from ``influx setup --name default``) active. A failing script
  aborts the setup, which deletes the bolt and engine files (lines 226-229) so the next start retries from scratch.
  Afterwards the CLI config is rewritten to the final port (line 437), so the same script also works later through
  ``docker exec``: init scripts never run again once the bolt file exists.
- ``influx bucket list ... --hide-headers | cut -f 1`` (line 327): the CLI prints tab-separated columns
  (ID, Name, Retention, ...).

influxdata/influxdb@v2.7.12: options are flags or ``INFLUXD_``-prefixed env with ``-`` as ``_``
(kit/cli/viper.go:58-61); ``http-bind-address`` defaults to ``:8086`` (cmd/influxd/launcher/cmd.go); GET /health
answers 200 ``"status":"pass"`` (http/health.go); bucket names may not start with ``_`` or contain ``"``
(tenant/service_bucket.go validBucketName); a retention below one hour other than 0 (infinite) is refused
(v1/services/meta/client.go:210, ``MinRetentionPolicyDuration = time.Hour``); passwords are 8-72 characters
(kit/platform/errors/error_user.go); a shard's write cache defaults to 1 GiB
(tsdb/config.go ``DefaultCacheMaxMemorySize``); query memory limits need a limited query concurrency and
``max >= concurrency * per-query`` (query/control/controller.go validate); go.mod ``go 1.23``, so the Go runtime
honours ``GOMEMLIMIT``. influxdata/influx-cli@v2.7.5 pkg/duration: durations are Go's or integers with units
w, d, h, m, s, ms, us, ns (``30d``, ``1w2d``); ``bucket list --name`` fails for a missing bucket exactly as for an
unreachable server (clients/bucket/list.go findOneBucket), hence the script lists all buckets and compares names.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
from dataclasses import dataclass, field

IMAGE_REPOSITORY = "influxdb"
DEFAULT_VERSION = "2.7.12"  # with the "alpine" variant
DATA_PATH = "/var/lib/influxdb2"  # bolt file and engine: a named volume
CONFIG_PATH = "/etc/influxdb2"  # CLI configs (the admin token) and server config: a named volume
INIT_DIR = "/docker-entrypoint-initdb.d"
# run-parts runs executable files matching ".*sh$" only: upload this one with the executable bit.
EXTRA_BUCKETS_SCRIPT_PATH = f"{INIT_DIR}/10-extra-buckets.sh"

# The setup variables the entrypoint reads (entrypoint.sh lines 202-207, 312-317, 361).
SETUP_ENV = (
    "DOCKER_INFLUXDB_INIT_MODE",
    "DOCKER_INFLUXDB_INIT_USERNAME",
    "DOCKER_INFLUXDB_INIT_PASSWORD",
    "DOCKER_INFLUXDB_INIT_ORG",
    "DOCKER_INFLUXDB_INIT_BUCKET",
    "DOCKER_INFLUXDB_INIT_RETENTION",
    "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN",
)
# The first boot's temporary server binds all interfaces on this port.
INIT_PORT = 9999
INIT_PORT_ENV = "INFLUXD_INIT_PORT"  # Dockerfile ENV, read by entrypoint.sh line 382
# influxd options as env (flag names from cmd/influxd/launcher/cmd.go, INFLUXD_ prefix from kit/cli/viper.go).
SERVER_ENV = (
    "INFLUXD_HTTP_BIND_ADDRESS",
    "INFLUXD_REPORTING_DISABLED",
    "INFLUXD_STORAGE_CACHE_MAX_MEMORY_SIZE",
    "INFLUXD_STORAGE_CACHE_SNAPSHOT_MEMORY_SIZE",
    "INFLUXD_QUERY_CONCURRENCY",
    "INFLUXD_QUERY_QUEUE_SIZE",
    "INFLUXD_QUERY_MEMORY_BYTES",
    "INFLUXD_QUERY_MAX_MEMORY_BYTES",
)
GO_RUNTIME_ENV = ("GOMEMLIMIT",)

DEFAULT_CACHE_MAX_MEMORY_SIZE = 1 << 30  # tsdb/config.go, per shard
# The cache size past which the engine writes it to a TSM file and frees it (tsdb/config.go:26-28
# DefaultCacheSnapshotMemorySize; flag storage-cache-snapshot-memory-size, cmd/influxd/launcher/cmd.go:556@v2.7.12).
DEFAULT_CACHE_SNAPSHOT_MEMORY_SIZE = 25 << 20
MIN_RETENTION_S = 3600  # MinRetentionPolicyDuration
MAX_RETENTION_S = (2**63 - 1) // 10**9  # time.Duration's range
MIN_PASSWORD_LEN, MAX_PASSWORD_LEN = 8, 72
MIN_MEMORY_MB = 128
QUERY_CONCURRENCY = 4
QUERY_QUEUE_SIZE = 64

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
# Stricter than InfluxDB (which only forbids a leading "_" and '"'): names go into env and sh unquoted-safe.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

Retention = str | int  # "30d", "1w2d", "72h", "0" (infinite), or whole seconds (0: infinite)


def retention_seconds(retention: Retention) -> int:
    """Seconds of a retention in the influx CLI's format (0: keep forever); ValueError if InfluxDB would refuse it."""
    if isinstance(retention, bool) or not isinstance(retention, int | str):
        raise ValueError(f"retention: {retention!r} is neither a duration string nor whole seconds")
    if isinstance(retention, int):
        seconds = retention
    elif retention == "0":
        seconds = 0
    elif _DURATION.fullmatch(retention):
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(retention))
    else:
        raise ValueError(f"retention: {retention!r} is not like 30d, 1w2d, 72h or 0 (units w, d, h, m, s)")
    if seconds != 0 and not MIN_RETENTION_S <= seconds <= MAX_RETENTION_S:
        raise ValueError(f"retention: {retention!r} must be 0 (infinite) or from 1h to {MAX_RETENTION_S}s")
    return seconds


def retention_flag(retention: Retention) -> str:
    """The retention as the influx CLI takes it: the string as given, seconds as "<n>s", infinite as "0"."""
    seconds = retention_seconds(retention)
    if seconds == 0:
        return "0"
    return retention if isinstance(retention, str) else f"{seconds}s"


@dataclass(frozen=True, kw_only=True)
class InfluxSettings:
    org: str
    bucket: str
    username: str
    retention: Retention = "0"  # of the initial bucket
    extra_buckets: tuple[tuple[str, Retention], ...] = field(default_factory=tuple)
    port: int = 8086
    bind_address: str = "0.0.0.0"  # 0.0.0.0 in a bridge container, 127.0.0.1 with host networking
    init_port: int = INIT_PORT
    memory_limit_mb: int = 512

    def __post_init__(self) -> None:
        problems = []
        for what, name in [("org", self.org), ("bucket", self.bucket), *(("extra_buckets", n) for n, _ in self.extra_buckets)]:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                problems.append(f"{what}: {name!r} must match {_NAME.pattern}")
        if not _USERNAME.fullmatch(self.username):
            problems.append(f"username: {self.username!r} must match {_USERNAME.pattern}")
        names = [self.bucket, *(n for n, _ in self.extra_buckets)]
        if len(set(names)) != len(names):
            problems.append(f"extra_buckets: bucket names repeat: {names}")
        for retention in [self.retention, *(r for _, r in self.extra_buckets)]:
            try:
                retention_seconds(retention)
            except ValueError as error:
                problems.append(str(error))
        for what, port in [("port", self.port), ("init_port", self.init_port)]:
            if not 1 <= port <= 65535:
                problems.append(f"{what}: {port} is not in 1..65535")
        if self.port == self.init_port:
            problems.append(f"port and init_port are both {self.port}")
        try:
            ipaddress.IPv4Address(self.bind_address)
        except ValueError:
            problems.append(f"bind_address: {self.bind_address!r} is not an IPv4 address")
        if self.memory_limit_mb < MIN_MEMORY_MB:
            problems.append(f"memory_limit_mb: {self.memory_limit_mb} is below {MIN_MEMORY_MB}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def memory_limit_bytes(self) -> int:
        return self.memory_limit_mb << 20

    @property
    def bucket_names(self) -> tuple[str, ...]:
        """Every bucket the program sets up: the initial one, then the extra ones."""
        return (self.bucket, *(name for name, _ in self.extra_buckets))

    @property
    def go_memory_limit_mb(self) -> int:
        """The Go runtime's soft limit: 3/4 of the container's, the rest for what Go does not manage."""
        return self.memory_limit_mb * 3 // 4

    @property
    def cache_max_memory_size(self) -> int:
        """Each shard's write cache (writes are refused above it), never above upstream's 1 GiB."""
        return min(DEFAULT_CACHE_MAX_MEMORY_SIZE, self.memory_limit_bytes // 8)

    @property
    def cache_snapshot_memory_size(self) -> int:
        """When a shard's cache is written out: half its cap at most, so the snapshot always comes first.

        The engine snapshots only once the cache is over this size (tsdb/engine/tsm1/engine.go:2027-2035
        ShouldCompactCache@v2.7.12) and refuses writes that would take it over its cap. With the default 25 MiB
        and a cap of limit/8, a limit of 200 MB or less caps the cache at or below 25 MiB: the size-triggered
        snapshot never fires and writes are refused until the cold-write timer flushes it. Half the cap leaves
        room for the writes that arrive while a snapshot is written.
        """
        return min(DEFAULT_CACHE_SNAPSHOT_MEMORY_SIZE, self.cache_max_memory_size // 2)

    @property
    def query_memory_bytes(self) -> int:
        return self.memory_limit_bytes // 16

    @property
    def query_max_memory_bytes(self) -> int:
        return QUERY_CONCURRENCY * self.query_memory_bytes  # the server's minimum, concurrency * per-query

    @property
    def probe_host(self) -> str:
        address = ipaddress.IPv4Address(self.bind_address)
        return "127.0.0.1" if address.is_unspecified else self.bind_address


def _check_secret(what: str, value: str, *, min_len: int = 1, max_len: int = 4096) -> None:
    if not min_len <= len(value) <= max_len:
        raise ValueError(f"{what}: must be {min_len} to {max_len} characters long")
    if any(c in value for c in "\x00\n\r"):
        raise ValueError(f"{what}: must not contain NUL or line breaks")


def influx_env(s: InfluxSettings, password: str, token: str) -> list[str]:
    """The container's environment (holds secrets: pass it as a secret). Setup uses it on the first boot only."""
    _check_secret("password", password, min_len=MIN_PASSWORD_LEN, max_len=MAX_PASSWORD_LEN)
    _check_secret("token", token)
    return [
        "DOCKER_INFLUXDB_INIT_MODE=setup",
        f"DOCKER_INFLUXDB_INIT_USERNAME={s.username}",
        f"DOCKER_INFLUXDB_INIT_PASSWORD={password}",
        f"DOCKER_INFLUXDB_INIT_ORG={s.org}",
        f"DOCKER_INFLUXDB_INIT_BUCKET={s.bucket}",
        f"DOCKER_INFLUXDB_INIT_RETENTION={retention_flag(s.retention)}",
        f"DOCKER_INFLUXDB_INIT_ADMIN_TOKEN={token}",
        f"{INIT_PORT_ENV}={s.init_port}",
        f"INFLUXD_HTTP_BIND_ADDRESS={s.bind_address}:{s.port}",
        "INFLUXD_REPORTING_DISABLED=true",  # no telemetry to influxdata every 8 hours
        f"INFLUXD_STORAGE_CACHE_MAX_MEMORY_SIZE={s.cache_max_memory_size}",
        f"INFLUXD_STORAGE_CACHE_SNAPSHOT_MEMORY_SIZE={s.cache_snapshot_memory_size}",
        f"INFLUXD_QUERY_CONCURRENCY={QUERY_CONCURRENCY}",
        f"INFLUXD_QUERY_QUEUE_SIZE={QUERY_QUEUE_SIZE}",
        f"INFLUXD_QUERY_MEMORY_BYTES={s.query_memory_bytes}",
        f"INFLUXD_QUERY_MAX_MEMORY_BYTES={s.query_max_memory_bytes}",
        f"GOMEMLIMIT={s.go_memory_limit_mb}MiB",
    ]


def listed_retention(retention: Retention) -> str:
    """The retention as ``influx bucket list`` prints it: "infinite", else Go's time.Duration.String() of whole seconds.

    influx-cli@v2.7.5 clients/bucket/client.go:49-60 prints ``time.Duration(everySeconds) * time.Second`` with
    String() and 0 as "infinite". Every retention here is at least an hour (MIN_RETENTION_S), and Go writes a
    duration of an hour or more as ``<h>h<m>m<s>s`` with every part ("720h0m0s", "1h30m0s").
    """
    seconds = retention_seconds(retention)
    if seconds == 0:
        return "infinite"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60}m{rest % 60}s"


def render_extra_buckets_script(s: InfluxSettings) -> str:
    """POSIX sh for EXTRA_BUCKETS_SCRIPT_PATH: create each missing extra bucket, give each existing one its retention.

    Runs as an init script (INFLUX_HOST and the CLI config set by the entrypoint) or later by `docker exec`
    (the CLI config then points at the final port). Exits non-zero, having changed nothing, if the buckets
    cannot be listed; stops at the first create or update that fails. Buckets not in the list are never touched.

    A bucket whose listed retention (column 3 of ``bucket list``, listed_retention) differs from the configured one
    is updated by its ID (column 1): ``influx bucket update`` takes ``--id`` (required) and ``--retention``; its
    ``--name`` would *rename* the bucket (influx-cli@v2.7.5 cmd/influx/bucket.go:162-209). The update sends only
    ``everySeconds`` (clients/bucket/update.go:28-45) and the server leaves the shard-group duration as it is when
    none is sent (influxdata/influxdb@v2.7.12 tenant/http_server_bucket.go:192-216, toInfluxDB). A shorter
    retention deletes the older data at the server's next retention check.
    """
    q = shlex.quote
    ensure = "\n".join(
        f"ensure {q(name)} {q(retention_flag(retention))} {q(listed_retention(retention))}"
        for name, retention in s.extra_buckets
    )
    return f"""#!/bin/sh
# Extra InfluxDB buckets (rendered by backing-services): each is created if org {s.org} lacks it, and given its
# configured retention if it has another.
set -eu
org={q(s.org)}
if ! existing=$(influx bucket list --org "$org" --hide-headers); then
  echo "extra buckets: cannot list the buckets of org $org; nothing changed" >&2
  exit 1
fi
# ensure NAME RETENTION LISTED: LISTED is RETENTION as `bucket list` prints it.
ensure() {{
  row=$(printf '%s\\n' "$existing" | awk -v name="$1" '$2 == name {{ print $1, $3; exit }}')
  if [ -z "$row" ]; then
    influx bucket create --org "$org" --name "$1" --retention "$2" >/dev/null
    echo "extra buckets: created $1 (retention $2)"
    return 0
  fi
  id=${{row%% *}}
  listed=${{row#* }}
  if [ "$listed" = "$3" ]; then
    echo "extra buckets: $1 exists with retention $2; left as it is"
  else
    influx bucket update --id "$id" --retention "$2" >/dev/null
    echo "extra buckets: $1 retention changed from $listed to $2"
  fi
}}
{ensure}
"""


APP_TOKEN_PREFIX = "backing-services-apps-"  # the description of the apps' token, then a digest of its buckets


def app_token_description(s: InfluxSettings) -> str:
    """One word (``auth list`` is parsed by whitespace), naming the bucket set: another set is another token."""
    buckets = "\n".join(sorted(s.bucket_names))
    return APP_TOKEN_PREFIX + hashlib.sha256(buckets.encode()).hexdigest()[:16]


def render_app_token_script(s: InfluxSettings) -> str:
    """POSIX sh, run in the container after setup and the extra buckets: print the apps' token, and nothing else.

    The token reads and writes exactly the configured buckets (the initial one and every extra one):
    ``influx auth create --read-bucket ID --write-bucket ID`` (influx-cli@v2.7.5 cmd/influx/auth.go:74-81), run with
    the CLI's active config, the admin token. InfluxDB makes the token itself: the API takes none
    (influxdata/influxdb@v2.7.12 authorization/http_server.go:129-135 postAuthorizationRequest has no token field),
    so the script prints it and the program keeps it as a secret output. An existing token of the same bucket set
    (found by its description, column 2 of ``auth list``; the token is column 3, clients/auth/auth.go:420-427) is
    printed again, so reruns keep apps' token stable; tokens of this program for another bucket set are deleted
    once the new one exists. Every message goes to stderr: stdout is the token.
    """
    q = shlex.quote
    buckets = " ".join(q(name) for name in sorted(s.bucket_names))
    return f"""#!/bin/sh
# The apps' InfluxDB token (rendered by backing-services): read/write on {", ".join(sorted(s.bucket_names))} only.
set -eu
org={q(s.org)}
description={q(app_token_description(s))}
if ! listed=$(influx bucket list --org "$org" --hide-headers); then
  echo "app token: cannot list the buckets of org $org" >&2
  exit 1
fi
flags=
for name in {buckets}; do
  id=$(printf '%s\\n' "$listed" | awk -v name="$name" '$2 == name {{ print $1; exit }}')
  if [ -z "$id" ]; then
    echo "app token: org $org has no bucket $name" >&2
    exit 1
  fi
  flags="$flags --read-bucket $id --write-bucket $id"
done
auths=$(influx auth list --org "$org" --hide-headers)
token=$(printf '%s\\n' "$auths" | awk -v d="$description" '$2 == d {{ print $3; exit }}')
if [ -z "$token" ]; then
  # $flags is word-split on purpose: IDs are hex, one flag and one ID per word.
  token=$(influx auth create --org "$org" --description "$description" $flags --hide-headers | awk '{{ print $3; exit }}')
  if [ -z "$token" ]; then
    echo "app token: influx auth create printed no token" >&2
    exit 1
  fi
  echo "app token: created $description" >&2
fi
for old in $(printf '%s\\n' "$auths" | awk -v d="$description" -v p={q(APP_TOKEN_PREFIX)} 'index($2, p) == 1 && $2 != d {{ print $1 }}'); do
  influx auth delete --id "$old" >/dev/null
  echo "app token: deleted the token of another bucket set ($old)" >&2
done
printf '%s\\n' "$token"
"""


def influx_healthcheck(s: InfluxSettings) -> tuple[str, ...]:
    """GET /health needs no token; the image has curl. Fails during first-boot setup (temporary port)."""
    return ("CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", f"http://{s.probe_host}:{s.port}/health")


def extra_buckets_apply_command(container: str) -> str:
    """Host sh, render_extra_buckets_script on stdin: run it in the running container, after setup.

    Not through /docker-entrypoint-initdb.d: run-parts there runs only *executable* files (entrypoint.sh
    lines 336-348), and a docker upload is 0644 unless marked executable, which ContainerSpec cannot say; the
    init directory also runs only on the first boot, so a bucket added later would never be created. Inside the
    container the influx CLI's active config ``default`` (INFLUX_CONFIGS_PATH on the config volume, rewritten to
    the final port after setup, line 437) holds the admin token, so nothing secret is passed here.
    """
    return f"exec docker exec -i {shlex.quote(container)} sh -s\n"
