"""InfluxDB env, retention rules and the extra-buckets script, for any allowed settings.

tests/real/test_influxdb_real.py runs the script under dash and busybox sh against a stand-in influx CLI.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renderers.influxdb import (
    GO_RUNTIME_ENV,
    INIT_PORT_ENV,
    MAX_RETENTION_S,
    QUERY_CONCURRENCY,
    SERVER_ENV,
    SETUP_ENV,
    InfluxSettings,
    extra_buckets_apply_command,
    influx_env,
    influx_healthcheck,
    listed_retention,
    render_extra_buckets_script,
    retention_flag,
    retention_seconds,
)

NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
DURATIONS = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4).map(
    lambda parts: ("".join(f"{n}{u}" for n, u in parts), sum(n * UNITS[u] for n, u in parts))
).filter(lambda d: d[1] == 0 or 3600 <= d[1] <= MAX_RETENTION_S)
RETENTIONS = st.one_of(
    DURATIONS.map(lambda d: d[0]), st.just("0"), st.just(0), st.integers(3600, MAX_RETENTION_S)
)
SETTINGS = st.builds(
    lambda names, retentions, **kw: InfluxSettings(
        bucket=names[0], extra_buckets=tuple(zip(names[1:], retentions)), **kw
    ),
    names=st.lists(NAMES, min_size=1, max_size=6, unique=True),
    retentions=st.lists(RETENTIONS, min_size=5, max_size=5),
    org=NAMES,
    username=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z"),
    retention=RETENTIONS,
    memory_limit_mb=st.integers(128, 1 << 20),
)
SHELLS = ["dash", "busybox"]


def _syntax_ok(script: str) -> None:
    for shell in SHELLS:
        argv = [shutil.which(shell) or shell, *(["sh"] if shell == "busybox" else []), "-n", "-c", script]
        checked = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert checked.returncode == 0, f"{shell}: {checked.stderr}\n{script}"


@settings(max_examples=60, deadline=None)
@given(s=SETTINGS)
def test_extra_buckets_script_is_valid_sh_for_any_settings(s: InfluxSettings) -> None:
    script = render_extra_buckets_script(s)
    assert script.startswith("#!/bin/sh\n"), "run-parts executes it directly"
    _syntax_ok(script)
    for name, retention in s.extra_buckets:
        assert f"\nensure {name} {retention_flag(retention)} {listed_retention(retention)}\n" in script


# Go's time.Duration.String() of whole seconds, as influx-cli@v2.7.5 clients/bucket/client.go:57 prints a retention.
@pytest.mark.parametrize(("retention", "listed"), [
    ("0", "infinite"), (0, "infinite"), ("30d", "720h0m0s"), ("1w2d", "216h0m0s"), ("1h", "1h0m0s"),
    (5400, "1h30m0s"), (3661, "1h1m1s"), ("72h", "72h0m0s"),
])
def test_listed_retention_is_how_influx_bucket_list_prints_it(retention, listed: str) -> None:
    assert listed_retention(retention) == listed


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(3600, 10**9))
def test_listed_retention_reads_back_as_the_same_seconds(seconds: int) -> None:
    import re
    h, m, sec = map(int, re.fullmatch(r"(\d+)h(\d+)m(\d+)s", listed_retention(seconds)).groups())
    assert m < 60 and sec < 60 and h * 3600 + m * 60 + sec == seconds


@settings(max_examples=200, deadline=None)
@given(d=DURATIONS)
def test_retention_durations_count_like_the_influx_cli(d: tuple[str, int]) -> None:
    text, seconds = d
    assert retention_seconds(text) == seconds
    assert retention_flag(text) == (text if seconds else "0")


@pytest.mark.parametrize(
    ("retention", "seconds", "flag"),
    [("30d", 30 * 86400, "30d"), ("1w2d", 9 * 86400, "1w2d"), ("72h", 72 * 3600, "72h"), ("60m", 3600, "60m"),
     ("0", 0, "0"), ("0d", 0, "0"), (0, 0, "0"), (86400, 86400, "86400s")],
)
def test_retention_examples(retention, seconds: int, flag: str) -> None:
    assert retention_seconds(retention) == seconds
    assert retention_flag(retention) == flag


@pytest.mark.parametrize(
    "retention",
    ["", "30", "30 d", "1.5h", "-1h", "30D", "1y", "59m", "3599s", "1ms", 3599, -1, True, 1.5, "99999999999w"],
)
def test_retentions_influxdb_would_refuse_are_refused(retention) -> None:
    with pytest.raises(ValueError, match="retention"):
        retention_seconds(retention)


@settings(max_examples=200, deadline=None)
@given(s=SETTINGS)
def test_env_uses_exactly_the_documented_names_and_stays_under_the_limit(s: InfluxSettings) -> None:
    env = dict(e.split("=", 1) for e in influx_env(s, "p" * 8, "token"))
    assert len(env) == len(influx_env(s, "p" * 8, "token")), "a variable is set twice"
    assert set(env) == set(SETUP_ENV) | {INIT_PORT_ENV} | set(SERVER_ENV) | set(GO_RUNTIME_ENV)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert (env["DOCKER_INFLUXDB_INIT_ORG"], env["DOCKER_INFLUXDB_INIT_BUCKET"]) == (s.org, s.bucket)
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"] == retention_flag(s.retention)
    assert env["INFLUXD_HTTP_BIND_ADDRESS"] == f"{s.bind_address}:{s.port}"
    limit = s.memory_limit_mb << 20
    go_limit = int(env["GOMEMLIMIT"].removesuffix("MiB")) << 20
    cache, per_query, total = (int(env[k]) for k in (
        "INFLUXD_STORAGE_CACHE_MAX_MEMORY_SIZE", "INFLUXD_QUERY_MEMORY_BYTES", "INFLUXD_QUERY_MAX_MEMORY_BYTES"))
    assert 0 < cache + total < go_limit < limit
    assert cache <= 1 << 30, "never above upstream's 1 GiB per shard"
    # influxd refuses to start otherwise (query/control/controller.go validate).
    assert int(env["INFLUXD_QUERY_CONCURRENCY"]) == QUERY_CONCURRENCY > 0
    assert int(env["INFLUXD_QUERY_QUEUE_SIZE"]) > 0
    assert total >= QUERY_CONCURRENCY * per_query


@pytest.mark.parametrize(
    ("password", "token", "message"),
    [("short", "t", "password"), ("p" * 73, "t", "password"), ("pass\nword", "t", "password"), ("p" * 8, "", "token")],
)
def test_env_refuses_secrets_influxdb_or_docker_would_mangle(password: str, token: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        influx_env(InfluxSettings(org="o", bucket="b", username="u"), password, token)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"org": "_system"}, "org"),
        ({"bucket": "_monitoring"}, "bucket"),
        ({"bucket": 'say"hi'}, "bucket"),
        ({"bucket": "has space"}, "bucket"),
        ({"extra_buckets": (("b", "30d"),)}, "repeat"),
        ({"extra_buckets": (("x", "30m"),)}, "retention"),
        ({"retention": "forever"}, "retention"),
        ({"username": ""}, "username"),
        ({"port": 9999}, "init_port"),
        ({"port": 0}, "port"),
        ({"bind_address": "localhost"}, "bind_address"),
        ({"memory_limit_mb": 64}, "memory_limit_mb"),
    ],
)
def test_settings_refuse_what_influxdb_or_the_script_cannot_take(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InfluxSettings(**({"org": "o", "bucket": "b", "username": "u"} | kwargs))


def test_healthcheck_gets_health_where_the_server_listens() -> None:
    s = InfluxSettings(org="o", bucket="b", username="u", port=8087)
    assert influx_healthcheck(s) == ("CMD", "curl", "-fsS", "-o", "/dev/null", "--max-time", "3", "http://127.0.0.1:8087/health")


@pytest.mark.parametrize("container", ["metrics-influxdb", "it's odd"])
def test_extra_buckets_apply_command_feeds_the_script_to_sh_in_the_container(container: str) -> None:
    command = extra_buckets_apply_command(container)
    _syntax_ok(command)
    assert shlex.split(command) == ["exec", "docker", "exec", "-i", container, "sh", "-s"]



@given(memory_mb=st.integers(min_value=128, max_value=1 << 20))
def test_the_cache_is_always_written_out_before_it_refuses_writes(memory_mb):
    """The size-triggered snapshot must fire below the cap at every memory limit (issue 17: <= 200 MB never did)."""
    s = InfluxSettings(org="main", bucket="default", username="admin", memory_limit_mb=memory_mb)
    assert 0 < s.cache_snapshot_memory_size <= s.cache_max_memory_size // 2
    assert s.cache_snapshot_memory_size <= 25 << 20, "never later than upstream's default"
    if memory_mb > 400:
        assert s.cache_snapshot_memory_size == 25 << 20, "a large enough cache keeps upstream's default"
