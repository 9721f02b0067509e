"""The images scripts/build-images builds, each run on the real engine with the config the program gives it.

The containers' inputs come from evaluating the program under the test mocks (images/pinned.py: dev and every
example stack on a Docker target), exactly as `pulumi up` would send them to the docker provider: image, env,
command, entrypoint, healthcheck, stop signal and timeout, memory/CPU/shm limits, security options, extra hosts,
volumes, and the uploads, put into the created container before it starts as the provider does (one tar per file,
mode 0644, extracted at "/": kreuzwerker/terraform-provider-docker resource_docker_container_funcs.go@v4.5.0). What
differs, so these tests can run beside a real deployment and each other: every name (container, volume, network)
gets a per-test prefix, each stack's containers share one new bridge network carrying the program's aliases
(instead of the stack's network, host networking, or the Egress sidecar namespace), no port is published, and
the restart policy is "no" so a crash shows as one. Commands the program runs in containers (`docker exec ...`)
are run as it writes them, with the container name mapped.

A missing engine or image FAILS the test (never skips), naming the script that fixes it.
"""
from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from images import pinned
from tests import harness
from tests.deploy import engine_api
from tests.deploy.engine import go_duration_ns

pytestmark = pytest.mark.real_engine

BUILD_HINT = "run `sudo scripts/build-images` (it builds every pinned image on this engine)"
LABEL = "backing-services.test=images"


# The Engine API (tests/deploy/engine_api.py, the calls the provider makes), and the docker CLI for exec/logs.

def api(method: str, path: str, body: Any = None, *, ok_missing: bool = False) -> Any:
    return engine_api.call(method, path, body, ok_missing=ok_missing)


def docker(*args: str, stdin: str | None = None, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)[:300]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def engine() -> None:
    try:
        api("GET", "/_ping")
    except OSError as error:
        pytest.fail(f"no Docker engine answers at {engine_api.SOCKET} ({error}): start dockerd, then {BUILD_HINT}")


@pytest.fixture(scope="module")
def evaluated() -> list[tuple[str, harness.Evaluation]]:
    return pinned.stacks()


@pytest.fixture(scope="module")
def builds(evaluated) -> dict[str, pinned.Build]:
    return {b.image: b for b in pinned.builds(evaluated)}


def require_image(image: str) -> dict[str, Any]:
    try:
        info = api("GET", f"/images/{quote(image, safe='')}/json")
    except RuntimeError:
        pytest.fail(f"{image} is not on this engine: {BUILD_HINT}")
    if "backing-services.recipe" not in (info["Config"].get("Labels") or {}):
        pytest.fail(f"{image} exists but was not built by scripts/build-images (no backing-services.recipe label): {BUILD_HINT}")
    return info


def uses_of(builds: dict[str, pinned.Build], stack: str) -> list[tuple[str, pinned.Use]]:
    # A build's base images run no container themselves: tests/deploy/test_turn_tls_deploy.py runs what is built from them.
    return [(image, use) for image, build in builds.items() for use in build.uses if use.stack == stack and not use.build_base]


def use_of(builds: dict[str, pinned.Build], stack: str, container: str) -> tuple[str, pinned.Use]:
    found = [(i, u) for i, u in uses_of(builds, stack) if u.container == container]
    assert len(found) == 1, f"{stack} has no single container {container}: {[u.container for _, u in uses_of(builds, stack)]}"
    return found[0]


def command_of(evaluation: harness.Evaluation, name: str) -> dict[str, Any]:
    """A command:local:Command the program registers (the script it runs on the Docker host, and its stdin)."""
    return harness.unwrap(evaluation.monitor.one(name).inputs)


# ---------------------------------------------------------------------------------------------------------------
# A lab: one stack's containers as the provider would create them, under test names.

@dataclass
class Lab:
    tag: str
    prefix: str = field(init=False)
    network: str = field(init=False)
    containers: dict[str, str] = field(default_factory=dict)  # program name -> lab name
    volumes: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.prefix = f"bsimg-{self.tag}-{secrets.token_hex(3)}"
        self.network = f"{self.prefix}-net"
        api("POST", "/networks/create", {"Name": self.network, "Driver": "bridge", "Labels": {"backing-services.test": "images"}})

    def name(self, container: str) -> str:
        return self.containers.get(container, f"{self.prefix}-{container}")

    def volume(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        self.volumes.add(full)
        return full

    def create(self, image: str, use: pinned.Use, *, env: list[str] | None = None, command: list[str] | None = None,
               extra_uploads: dict[str, str] | None = None) -> str:
        """Create (not start) `use`'s container from its inputs, then upload its files as the provider does."""
        i = use.inputs
        name = self.name(use.container)
        hc = i["healthcheck"]
        aliases = [a for n in i.get("networksAdvanced") or [] for a in n.get("aliases") or []]
        if not aliases:
            aliases = [use.container]  # host networking or a sidecar namespace: reachable by its name here
        host = {
            "Mounts": [{"Type": "volume", "Source": self.volume(v["volumeName"]), "Target": v["containerPath"]}
                       for v in i.get("volumes") or []],
            "Memory": int(i["memory"]) << 20,
            "MemorySwap": int(i["memorySwap"]) << 20,
            "NanoCpus": round(float(i["cpus"]) * 1e9),
            "SecurityOpt": list(i.get("securityOpts") or []),
            "CapAdd": list((i.get("capabilities") or {}).get("adds") or []),
            "Privileged": bool(i.get("privileged")),
            "ExtraHosts": [f"{h['host']}:{h['ip']}" for h in i.get("hosts") or []],
            "LogConfig": {"Type": i.get("logDriver") or "json-file", "Config": dict(i.get("logOpts") or {})},
            "NetworkMode": self.network,
            "RestartPolicy": {"Name": "no"},
        }
        if i.get("shmSize"):
            host["ShmSize"] = int(i["shmSize"]) << 20
        body = {
            "Image": image,
            "Env": list(env if env is not None else i.get("envs") or []),
            "Healthcheck": {
                "Test": list(hc["tests"]),
                "Interval": go_duration_ns(hc["interval"]),
                "Timeout": go_duration_ns(hc["timeout"]),
                "StartPeriod": go_duration_ns(hc["startPeriod"]),
                "Retries": int(hc["retries"]),
            },
            "Labels": {"backing-services.test": "images"},
            "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": {self.network: {"Aliases": aliases}}},
        }
        cmd = command if command is not None else i.get("command")
        if cmd:
            body["Cmd"] = list(cmd)
        if i.get("entrypoints"):
            body["Entrypoint"] = list(i["entrypoints"])
        if i.get("stopSignal"):
            body["StopSignal"] = i["stopSignal"]
        if i.get("stopTimeout"):
            body["StopTimeout"] = int(i["stopTimeout"])
        api("POST", f"/containers/create?name={quote(name)}", body)
        self.containers[use.container] = name
        uploads = {u["file"]: u["content"] for u in i.get("uploads") or []}
        uploads.update(extra_uploads or {})
        for path, content in uploads.items():
            engine_api.upload(name, path, content.encode(), 0o644)
        return name

    def start(self, container: str) -> None:
        api("POST", f"/containers/{self.name(container)}/start")

    def run(self, image: str, use: pinned.Use, **kwargs) -> str:
        name = self.create(image, use, **kwargs)
        self.start(use.container)
        return name

    def inspect(self, container: str) -> dict[str, Any]:
        return api("GET", f"/containers/{self.name(container)}/json")

    def logs(self, container: str) -> str:
        result = docker("logs", self.name(container), check=False)
        return result.stdout + result.stderr

    def exec(self, container: str, *cmd: str, stdin: str | None = None, check: bool = True, env: dict[str, str] | None = None):
        flags = ["-i"] if stdin is not None else []
        for k, v in (env or {}).items():
            flags += ["-e", f"{k}={v}"]
        return docker("exec", *flags, self.name(container), *cmd, stdin=stdin, check=check)

    def wait_healthy(self, container: str, timeout: float) -> None:
        """Docker's own health status, as the provider's wait=true polls it, within the program's wait_timeout."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect(container)["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                return
            if not state["Running"] or time.monotonic() > deadline:
                health = state.get("Health", {}).get("Log") or []
                last = health[-1]["Output"].strip() if health else "(no healthcheck ran)"
                pytest.fail(
                    f"{container} ({self.name(container)}) not healthy within {timeout:.0f} s: running={state['Running']} "
                    f"exit={state.get('ExitCode')} health={state.get('Health', {}).get('Status')}\n"
                    f"last healthcheck: {last}\nlogs:\n{self.logs(container)[-3000:]}"
                )
            time.sleep(1)

    def wait_ready(self, container: str, use: pinned.Use, timeout: float = 60) -> None:
        """The container's own healthcheck command, run by exec until it passes (faster than Docker's interval)."""
        test = list(use.inputs["healthcheck"]["tests"])
        cmd = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect(container)["State"]
            if not state["Running"]:
                pytest.fail(f"{container} exited ({state.get('ExitCode')}):\n{self.logs(container)[-3000:]}")
            if self.exec(container, *cmd, check=False).returncode == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{container}: its healthcheck {test} did not pass within {timeout} s:\n{self.logs(container)[-3000:]}")
            time.sleep(0.5)

    def remove(self, container: str) -> None:
        api("DELETE", f"/containers/{self.name(container)}?force=true", ok_missing=True)
        self.containers.pop(container, None)

    def close(self) -> None:
        for container in list(self.containers):
            self.remove(container)
        api("DELETE", f"/networks/{self.network}", ok_missing=True)
        for volume in self.volumes:
            api("DELETE", f"/volumes/{volume}", ok_missing=True)


@pytest.fixture
def lab(request, engine):
    tag = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30]
    made = Lab(tag)
    yield made
    made.close()


def env_value(use: pinned.Use, key: str) -> str:
    for item in use.inputs.get("envs") or []:
        k, _, v = item.partition("=")
        if k == key:
            return v
    raise KeyError(f"{use.container} has no {key} in its env")


def pid1_uid(lab: Lab, container: str) -> int:
    status = lab.exec(container, "cat", "/proc/1/status").stdout
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


# ---------------------------------------------------------------------------------------------------------------
# Every pinned image is here, and every stack's containers become healthy with the program's config.

def test_every_pinned_image_is_built(engine, builds):
    missing = []
    for image in builds:
        try:
            api("GET", f"/images/{quote(image, safe='')}/json")
        except RuntimeError:
            missing.append(image)
    assert not missing, f"not on this engine: {missing}: {BUILD_HINT}"
    for image in builds:
        require_image(image)


STACKS = ["dev", "cleanmatex-docker", "homeiq-docker", "meeting-docker", "ozmirror-pi", "triton-docker"]
# Stacks whose images are built here but whose containers this lab cannot run, and who runs them instead.
RUN_ELSEWHERE = {
    "turn-tls-host": "tests/deploy/test_turn_tls_deploy.py, on real host networking: its LiveKit reaches Redis on "
    "the host's loopback, which this lab's bridge network does not give it",
}


def test_the_stacks_here_are_every_docker_target_stack(evaluated):
    assert sorted(stack for stack, _ in evaluated) == sorted([*STACKS, *RUN_ELSEWHERE])


@pytest.mark.parametrize("stack", STACKS)
def test_stack_containers_become_healthy(stack, builds, lab):
    """Every container of the stack, started in the program's dependency order, reports healthy (Docker's own
    healthcheck status, as `pulumi up` waits for it) within the program's wait_timeout."""
    pending = {use.container: (image, use) for image, use in uses_of(builds, stack)}
    assert pending, f"{stack} runs no container"
    for image, _ in pending.values():
        require_image(image)
    healthy: set[str] = set()
    while pending:
        wave = [c for c, (_, use) in pending.items() if set(use.after) <= healthy]
        assert wave, f"{stack}: a dependency cycle or a missing container among {sorted(pending)}"
        for container in wave:
            lab.run(*pending[container])
        for container in wave:
            lab.wait_healthy(container, float(pending[container][1].inputs["waitTimeout"]))
            healthy.add(container)
            del pending[container]


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL: the entrypoint's documented behaviour, on each pinned major.

POSTGRES = [("dev", "postgres:18.1-alpine", "18"), ("cleanmatex-docker", "postgres:16.11-alpine", "15"),
            ("triton-docker", "postgres:14.20-alpine", "15")]
INIT_PROBE = "/docker-entrypoint-initdb.d/zz-test-probe.sql"
INIT_PROBE_SQL = "CREATE TABLE initdb_runs (at timestamptz DEFAULT now()); INSERT INTO initdb_runs DEFAULT VALUES;\n"


@pytest.mark.parametrize("stack,image,runs_major", POSTGRES, ids=[p[1] for p in POSTGRES])
def test_postgres(stack, image, runs_major, builds, evaluated, lab):
    require_image(image)
    pinned_image, use = use_of(builds, stack, "database-postgres")
    assert pinned_image == image
    user, database = env_value(use, "POSTGRES_USER"), env_value(use, "POSTGRES_DB")
    password = env_value(use, "POSTGRES_PASSWORD")
    major = int(image.split(":")[1].split(".")[0])
    expected_pgdata = f"/var/lib/postgresql/{major}/docker" if major >= 18 else "/var/lib/postgresql/data"
    c = "database-postgres"

    def psql(sql: str, pw: str = password, host: str = "127.0.0.1", check: bool = True):
        args = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database, "-c", sql]
        if host:
            args[1:1] = ["-h", host]
        return lab.exec(c, *args, env={"PGPASSWORD": pw}, check=check)

    # First start: initdb, the program's init file (cleanmatex) and a probe file of the test's own.
    lab.run(image, use, extra_uploads={INIT_PROBE: INIT_PROBE_SQL})
    lab.wait_ready(c, use, timeout=90)
    config = require_image(image)["Config"]
    assert config["StopSignal"] == "SIGINT"
    assert config["Entrypoint"] == ["docker-entrypoint.sh"] and config["Cmd"] == ["postgres"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PGDATA"] == expected_pgdata
    assert list(config["Volumes"]) == ["/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"]
    assert lab.exec(c, "cat", f"{expected_pgdata}/PG_VERSION").stdout.strip() == runs_major
    assert pid1_uid(lab, c) == 70, "the server runs as postgres (uid 70, Alpine's)"
    logs = lab.logs(c)
    assert f"running {INIT_PROBE}" in logs and "PostgreSQL init process complete" in logs
    assert psql("SHOW server_version").stdout.startswith(f"{runs_major}.")
    assert psql("SELECT count(*) FROM initdb_runs").stdout.strip() == "1"

    # Passwords: scram over TCP and the socket (POSTGRES_INITDB_ARGS), a wrong or missing one refused.
    wrong = psql("SELECT 1", pw="not-" + password, check=False)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    assert psql("SELECT 1", pw="not-" + password, host="", check=False).returncode != 0
    assert psql("SELECT 1", pw="", check=False).returncode != 0
    assert psql("SELECT 1", host="").stdout.strip() == "1"

    # The program's backup command (the stack output databaseBackupCommand): pg_dump in the container, custom format.
    evaluation = dict(evaluated)[stack]
    backup = evaluation.outputs["databaseBackupCommand"]
    to_stdout = backup.replace("docker exec database-postgres", f"docker exec {lab.name(c)}").rsplit(" > ", 1)[0]
    dump = subprocess.run(["sh", "-c", to_stdout], capture_output=True, timeout=60)
    assert dump.returncode == 0 and dump.stdout.startswith(b"PGDMP"), dump.stderr.decode()

    if stack == "cleanmatex-docker":
        # renderers/init_sql.py's file ran at initdb, and the program's re-apply command works on the running server.
        assert psql("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension").stdout.strip() == "pgcrypto,plpgsql,uuid-ossp"
        assert psql("SELECT rolname FROM pg_roles WHERE rolname = 'cmx_readonly'").stdout.strip() == "cmx_readonly"
        apply = command_of(evaluation, "database-init-sql")
        ran = subprocess.run(["sh", "-c", apply["create"].replace("database-postgres", lab.name(c))],
                             input=apply["stdin"], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr

    # A restart keeps the data and does not initialise again; SIGINT is a fast shutdown.
    psql("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives a restart')")
    docker("restart", "-t", "60", lab.name(c))
    lab.wait_ready(c, use)
    logs = lab.logs(c)
    assert "received fast shutdown request" in logs
    assert "Skipping initialization" in logs
    assert psql("SELECT v FROM kept").stdout.strip() == "survives a restart"
    assert psql("SELECT count(*) FROM initdb_runs").stdout.strip() == "1", "initdb.d ran again"

    # A new container on the same volume with another password and server flags only (a first argument
    # starting with "-"): the cluster keeps its password, the new one is refused, the flags apply.
    lab.remove(c)
    new_password = "Changed-" + secrets.token_hex(8)
    env_changed = [e if not e.startswith("POSTGRES_PASSWORD=") else f"POSTGRES_PASSWORD={new_password}"
                   for e in use.inputs["envs"]]
    flags = [a for a in use.inputs["command"] if a != "postgres"] + ["-c", "max_connections=42"]
    lab.run(image, use, env=env_changed, command=flags)
    # The server comes up on the kept cluster (the old password logs in), but the program's healthcheck logs in
    # with the container's POSTGRES_PASSWORD, the new one: it fails, saying what to do, so `up` stops on an
    # unhealthy database instead of succeeding while apps fail auth (issue 17; renderers/postgres.py).
    deadline = time.monotonic() + 60
    while psql("SELECT 1", check=False).returncode != 0:
        assert time.monotonic() < deadline, lab.logs(c)[-3000:]
        time.sleep(0.5)
    kind, check = use.inputs["healthcheck"]["tests"]
    assert kind == "CMD-SHELL"
    unhealthy = lab.exec(c, "sh", "-c", check, check=False)
    assert unhealthy.returncode == 1, (unhealthy.stdout, unhealthy.stderr)
    assert "cannot log in with this container's POSTGRES_PASSWORD" in unhealthy.stdout
    assert psql("SHOW max_connections").stdout.strip() == "42"
    assert psql("SELECT v FROM kept").stdout.strip() == "survives a restart"
    refused = psql("SELECT 1", pw=new_password, check=False)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_postgres_18_refuses_an_old_layout_cluster_beside_it(builds, lab):
    """18+: PGDATA is <volume>/18/docker; a cluster of the old layout at the volume's root stops the start."""
    image, use = use_of(builds, "dev", "database-postgres")
    require_image(image)
    c = "database-postgres"
    lab.create(image, use, extra_uploads={"/var/lib/postgresql/PG_VERSION": "16\n"})
    lab.start(c)
    deadline = time.monotonic() + 30
    while lab.inspect(c)["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.5)
    state = lab.inspect(c)["State"]
    assert not state["Running"] and state["ExitCode"] == 1
    assert "there is PostgreSQL data in: /var/lib/postgresql" in lab.logs(c)


# ---------------------------------------------------------------------------------------------------------------
# Redis, PgBouncer, Egress, ClickHouse, InfluxDB and the apps.

def test_redis(builds, lab):
    image, use = use_of(builds, "dev", "cache-redis")
    require_image(image)
    c = "cache-redis"
    lab.run(image, use)
    lab.wait_ready(c, use)
    assert pid1_uid(lab, c) == 999, "redis-server runs as redis (uid 999)"
    assert lab.exec(c, "redis-server", "--version").stdout.startswith("Redis server v=7.")
    noauth = lab.exec(c, "env", "-u", "REDISCLI_AUTH", "redis-cli", "-h", "127.0.0.1", "ping", check=False)
    assert "NOAUTH" in noauth.stdout + noauth.stderr
    assert lab.exec(c, "redis-cli", "-h", "127.0.0.1", "set", "k", "kept").stdout.strip() == "OK"
    assert lab.exec(c, "redis-cli", "-h", "127.0.0.1", "config", "get", "appendonly").stdout.split() == ["appendonly", "yes"]
    docker("restart", lab.name(c))
    lab.wait_ready(c, use)
    assert lab.exec(c, "redis-cli", "-h", "127.0.0.1", "get", "k").stdout.strip() == "kept", "the AOF in /data kept the key"
    owner = lab.exec(c, "stat", "-c", "%u", "/data/appendonlydir").stdout.strip()
    assert owner == "999"


def test_pgbouncer_pools_to_postgres(builds, lab):
    stack = "cleanmatex-docker"
    pg_image, pg = use_of(builds, stack, "database-postgres")
    image, use = use_of(builds, stack, "database-pgbouncer")
    require_image(pg_image), require_image(image)
    lab.run(pg_image, pg)
    lab.wait_ready("database-postgres", pg, timeout=90)
    lab.run(image, use)
    lab.wait_ready("database-pgbouncer", use)
    assert pid1_uid(lab, "database-pgbouncer") == 998, "pgbouncer runs as pgbouncer (uid 998)"
    user, database = env_value(pg, "POSTGRES_USER"), env_value(pg, "POSTGRES_DB")
    query = ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", "6432", "-U", user, "-d", database, "-c", "SELECT current_user"]
    ok = lab.exec("database-pgbouncer", *query, env={"PGPASSWORD": env_value(pg, "POSTGRES_PASSWORD")})
    assert ok.stdout.strip() == user
    bad = lab.exec("database-pgbouncer", *query, env={"PGPASSWORD": "wrong-password"}, check=False)
    assert bad.returncode != 0


def test_egress_stand_in_authenticates_to_redis(builds, lab):
    redis_image, redis = use_of(builds, "dev", "cache-redis")
    image, use = use_of(builds, "dev", "media-egress")
    require_image(redis_image), require_image(image)
    lab.run(redis_image, redis)
    lab.wait_ready("cache-redis", redis)
    lab.run(image, use)
    lab.wait_ready("media-egress", use)
    status = json.loads(lab.exec("media-egress", "wget", "-q", "-O", "-", "http://127.0.0.1:9090/").stdout)
    assert "CpuLoad" in status
    assert pid1_uid(lab, "media-egress") != 0
    assert "egress-stand-in" in lab.exec("cache-redis", "redis-cli", "-h", "127.0.0.1", "client", "list").stdout
    # A wrong Redis password stops the start, as the real service's Redis check does.
    lab.remove("media-egress")
    body = env_value(use, "EGRESS_CONFIG_BODY")
    wrong = body.replace(f"password: {env_value(redis, 'REDISCLI_AUTH')}", "password: wrong")
    assert wrong != body
    lab.run(image, use, env=[f"EGRESS_CONFIG_BODY={wrong}"])
    deadline = time.monotonic() + 30
    while lab.inspect("media-egress")["State"]["Running"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert lab.inspect("media-egress")["State"]["ExitCode"] == 1
    assert "could not connect to redis" in lab.logs("media-egress")


def test_clickhouse_stand_in_reads_the_uploaded_config(builds, evaluated, lab):
    stack = "triton-docker"
    image, use = use_of(builds, stack, "analytics-clickhouse")
    require_image(image)
    c = "analytics-clickhouse"
    lab.run(image, use)
    lab.wait_ready(c, use)
    assert pid1_uid(lab, c) == 101, "the server runs as clickhouse (uid 101)"
    # The user, password and database as the stack exports them (clickhouseUrl: http://user:password@host:port/db).
    url = re.fullmatch(r"http://([^:]+):([^@]+)@[^/]+/(\w+)", dict(evaluated)[stack].outputs["clickhouseUrl"])
    user, password, database = url.groups()
    assert lab.exec(c, "test", "-f", f"/var/lib/clickhouse/metadata/{database}.sql").returncode == 0
    base = "http://127.0.0.1:8123/?query=SELECT%201"
    ok = lab.exec(c, "wget", "-q", "-O", "-", "--header", f"X-ClickHouse-User: {user}", "--header", f"X-ClickHouse-Key: {password}", base)
    assert ok.stdout.strip() == "1"
    bad = lab.exec(c, "wget", "-q", "-O", "-", "--header", f"X-ClickHouse-User: {user}", "--header", "X-ClickHouse-Key: wrong", base, check=False)
    assert bad.returncode != 0
    default = lab.exec(c, "wget", "-q", "-O", "-", base, check=False)
    assert default.returncode != 0, "users.d removed the password-less default user"
    listening = json.loads(lab.exec(c, "cat", "/var/lib/clickhouse/stand-in.json").stdout)
    assert listening["listen_host"] == ["0.0.0.0"], "config.d/docker_related_config.xml was replaced by the program's"


def test_influxdb_stand_in_setup_and_the_programs_bucket_command(builds, evaluated, lab):
    stack = "homeiq-docker"
    image, use = use_of(builds, stack, "time-series-influxdb")
    require_image(image)
    c = "time-series-influxdb"
    lab.run(image, use)
    lab.wait_ready(c, use, timeout=90)
    assert pid1_uid(lab, c) == 1000, "influxd runs as influxdb (uid 1000)"
    health = json.loads(lab.exec(c, "curl", "-fsS", "http://127.0.0.1:8086/health").stdout)
    assert health["status"] == "pass"
    logs = lab.logs(c)
    assert "got response from influxd, proceeding" in logs and "initialization complete" in logs
    # The program's extra-buckets step, as it runs it: its script on stdin to `docker exec -i ... sh -s`.
    buckets = command_of(dict(evaluated)[stack], "time-series-buckets")

    def apply():
        ran = subprocess.run(["sh", "-c", buckets["create"].replace(c, lab.name(c))], input=buckets["stdin"],
                             capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    first = apply()
    assert "created home_assistant_raw (retention 30d)" in first and "created home_assistant_processed (retention 90d)" in first
    assert "home_assistant_raw exists with retention 30d; left as it is" in apply()
    listed = lab.exec(c, "influx", "bucket", "list", "--org", "home_assistant", "--hide-headers").stdout
    rows = {line.split("\t")[1]: line.split("\t")[2] for line in listed.splitlines()}
    assert rows == {"home_assistant_events": "infinite", "home_assistant_raw": "720h0m0s", "home_assistant_processed": "2160h0m0s"}
    recorded = lab.exec(c, "cat", "/var/lib/influxdb2/influx-cli.log").stdout
    assert '"influx", "bucket", "create", "--org", "home_assistant", "--name", "home_assistant_raw"' in recorded
    token = env_value(use, "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
    assert token not in recorded, "the CLI record blanks the token"
    # A restart finds the bolt file and skips setup; the token still works.
    docker("restart", lab.name(c))
    lab.wait_ready(c, use)
    assert "found existing boltdb file, skipping setup wrapper" in lab.logs(c)
    api_ok = lab.exec(c, "curl", "-fsS", "-H", f"Authorization: Token {token}", "http://127.0.0.1:8086/api/v2/buckets")
    assert len(json.loads(api_ok.stdout)["buckets"]) == 3


@pytest.mark.parametrize("stack,container", [("homeiq-docker", "websocket-ingestion-app"), ("ozmirror-pi", "ui-app")])
def test_app_stand_in_gets_the_resolved_env(stack, container, builds, lab):
    image, use = use_of(builds, stack, container)
    require_image(image)
    lab.run(image, use)
    lab.wait_ready(container, use)
    port, path = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*)", " ".join(use.inputs["healthcheck"]["tests"])).groups()
    seen = json.loads(lab.exec(container, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/").stdout)
    assert seen["standInFor"] == image
    assert seen["env"] == sorted(e.split("=", 1)[0] for e in use.inputs.get("envs") or [])
    assert pid1_uid(lab, container) == 10001
