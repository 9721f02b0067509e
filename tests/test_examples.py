"""One example stack per seed system (examples/<system>/), loaded through the real config loader and
evaluated under mocks for every target it names: the services its plan lists, with its versions, ports
and healthchecks, within its memory budget, and clean under the policy pack."""
from __future__ import annotations

import pytest
import yaml

from policy.rules import POLICIES
from tests import examples, harness
from tests import policy_fixtures as fx

EXAMPLES = examples.examples()
CONTAINERS = "docker:index/container:Container"

# What each seed's plan lists (../shared/seeds/00N_*.txt): container -> (image prefix, ports it binds,
# a word of its healthcheck command). Ports are what the listeners parse out of the rendered configs.
SEEDS = {
    "ozmirror": {  # 000: redis:7-alpine (AOF), nginx routes /api/config, /ws, / to its own services
        "cache-redis": ("redis:7.", {6379}, "redis-cli"),
        "gateway-caddy": ("caddy:2.", {80, 443}, "wget"),
        "config-service-app": ("ghcr.io/ozmirror/config-service:", {8000}, "/health"),
        # TCP: no HTTP route. The seed's 8080 and the example's rolloutPort 8090 alternate per revision
        # (apps[].rolloutPort); a first `up` (the mocks' pick, tests/harness.py) starts on 8090.
        "websocket-bridge-app": ("ghcr.io/ozmirror/websocket-bridge:", {8090}, "connect(8090"),
        "clock-module-app": ("ghcr.io/ozmirror/clock-module:", {3001}, "/health"),
        "ui-app": ("ghcr.io/ozmirror/ui:", {8081}, "127.0.0.1:8081/"),
    },
    "meeting": {  # 001: PostgreSQL, Redis, S3, LiveKit + Egress, Caddy
        "database-postgres": ("postgres:18.", {5432}, "psql -X -q -w -At -h 127.0.0.1"),
        "cache-redis": ("redis:7.", {6379}, "redis-cli"),
        "media-livekit": ("livekit/livekit-server:v1.", {7880, 7881}, "wget"),
        "media-egress": ("livekit/egress:v1.", set(), ""),
        # On the VM, with TURN/TLS on 443, the same Caddy release built with the layer4 module.
        "gateway-caddy": (("caddy:2.", "backing-services/gateway-l4:2."), {80, 443}, "wget"),
    },
    "homeiq": {  # 002: InfluxDB 2.7 (org home_assistant, bucket home_assistant_events), ingestion, weather API
        "time-series-influxdb": ("influxdb:2.7.", {8086}, "/health"),
        "websocket-ingestion-app": ("ghcr.io/homeiq/websocket-ingestion:", {8080}, "/health"),
        "weather-api-app": ("ghcr.io/homeiq/weather-api:", {8002}, "/health"),
    },
    "cleanmatex": {  # 003: postgres:16 with init SQL, PgBouncer (transaction, 6432), redis:7, S3
        "database-postgres": ("postgres:16.", {5432}, "psql -X -q -w -At -h 127.0.0.1"),
        "database-pgbouncer": ("ghcr.io/cloudnative-pg/pgbouncer:1.", {6432}, "pg_isready"),
        "cache-redis": ("redis:7.", {6379}, "redis-cli"),
        "object-store-s3": ("versity/versitygw:v1.", {9000}, ""),
    },
    "triton": {  # 004: postgres:14, ClickHouse (/ping), redis:7, S3
        "database-postgres": ("postgres:14.", {5432}, "psql -X -q -w -At -h 127.0.0.1"),
        "analytics-clickhouse": ("clickhouse/clickhouse-server:26.", {8123, 9004}, "/ping"),
        "cache-redis": ("redis:7.", {6379}, "redis-cli"),
        "object-store-s3": ("versity/versitygw:v1.", {9000}, ""),
    },
}


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda e: e.id)
def example(request) -> tuple[examples.Example, harness.Evaluation]:
    return request.param, examples.evaluate(request.param)


def test_every_seed_system_has_an_example():
    assert {e.system for e in EXAMPLES} == set(SEEDS)


def test_the_seeds_services_run_with_its_versions_ports_and_healthchecks(example):
    ex, run = example
    from tests.listeners import BY_SUFFIX

    images = {i.name: harness.unwrap(i.inputs)["name"] for i in run.monitor.by_type("docker:index/remoteImage:RemoteImage")}
    containers = {c.name: harness.unwrap(c.inputs) for c in run.monitor.by_type(CONTAINERS)}
    for name, (image, ports, probe) in SEEDS[ex.system].items():
        assert name in containers, f"{ex.id}: no {name}; containers: {sorted(containers)}"
        assert images[f"{name}-image"].startswith(image), images[f"{name}-image"]
        parse = next(f for suffix, f in BY_SUFFIX.items() if name.endswith(suffix))
        bound = {listener.port for listener in parse(containers[name])}
        assert ports <= bound, f"{ex.id}: {name} binds {sorted(bound)}, the seed needs {sorted(ports)}"
        check = " ".join(containers[name]["healthcheck"]["tests"])
        assert probe in check, f"{ex.id}: {name}'s healthcheck {check!r} lacks {probe!r}"


def _memory(run: harness.Evaluation, *, apps: bool) -> int:
    return sum(
        int(harness.unwrap(c.inputs)["memory"])
        for c in run.monitor.by_type(CONTAINERS)
        if apps or not c.name.endswith("-app")
    )


@pytest.mark.parametrize(("system", "budget_mb", "apps"), [("triton", 4096, True), ("ozmirror", 500, False)])
def test_memory_budgets(system, budget_mb, apps):
    for ex in (e for e in EXAMPLES if e.system == system):
        total = _memory(examples.evaluate(ex), apps=apps)
        assert total < budget_mb, f"{ex.id}: containers' memory limits add up to {total} MB"


def test_the_policy_pack_passes_on_every_example():
    for ex in EXAMPLES:
        found = fx.run_pack(POLICIES, fx.capture_stack(ex.stack, ex.values()))
        mandatory = [v for v in found if v.level.value == "mandatory"]
        assert mandatory == [], f"{ex.id}: {mandatory}"


@pytest.mark.parametrize(("example_file", "stack"), [("Pulumi.docker.yaml", "dev"), ("Pulumi.oci.yaml", "prod")])
def test_the_meeting_example_is_the_projects_own_stacks(example_file, stack):
    ours = yaml.safe_load((harness.ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    example_config = yaml.safe_load((examples.EXAMPLES / "meeting" / example_file).read_text())["config"]
    assert example_config == ours, f"examples/meeting/{example_file} drifted from Pulumi.{stack}.yaml"


def _only(system: str) -> harness.Evaluation:
    (ex,) = [e for e in EXAMPLES if e.system == system]
    return examples.evaluate(ex)


def test_homeiq_gets_the_seeds_org_and_bucket():
    run = _only("homeiq")
    env = dict(e.split("=", 1) for e in harness.unwrap(run.monitor.one("time-series-influxdb").inputs)["envs"])
    assert (env["DOCKER_INFLUXDB_INIT_ORG"], env["DOCKER_INFLUXDB_INIT_BUCKET"]) == ("home_assistant", "home_assistant_events")
    buckets = harness.unwrap(run.monitor.one("time-series-buckets").inputs)["stdin"]
    assert "home_assistant_raw" in buckets and "home_assistant_processed" in buckets


def test_cleanmatex_gets_its_init_sql_and_a_transaction_pool():
    run = _only("cleanmatex")
    uploads = {u["file"]: u["content"] for u in harness.unwrap(run.monitor.one("database-postgres").inputs)["uploads"]}
    (sql,) = uploads.values()
    assert 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"' in sql and 'CREATE EXTENSION IF NOT EXISTS "pgcrypto"' in sql
    assert 'CREATE ROLE "cmx_readonly" NOLOGIN' in sql
    ini = next(u["content"] for u in harness.unwrap(run.monitor.one("database-pgbouncer").inputs)["uploads"] if u["file"].endswith(".ini"))
    assert "pool_mode = transaction" in ini and "default_pool_size = 25" in ini and "max_client_conn = 100" in ini
