"""A team's own app in the whole stack, on both targets: env in the container's view, routed, secret."""
from __future__ import annotations

import copy
import json

import pytest
from pulumi.runtime import rpc

from tests import harness

NS = harness.PROJECT
APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.4.2",
    "port": 3100,
    "env": {"DATABASE_URL": "${database.url}", "REDIS_URL": "${cache.url}", "S3_ENDPOINT": "${s3.endpoint}"},
    "routes": [{"path": "/app/*"}],
}


def with_app(stack: str) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = [APP]
    return harness.evaluate(stack, values)


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request):
    return request.param, with_app(request.param)


def test_env_points_at_the_services_as_the_container_reaches_them(run):
    stack, evaluation = run
    container = evaluation.monitor.one("web-app")
    assert rpc.is_rpc_secret(container.inputs["envs"]), "the app's env may hold credentials: secret in every input"
    env = dict(e.split("=", 1) for e in harness.unwrap(container.inputs["envs"]))
    host = {"dev": ("postgres:5432", "redis:6379", "http://objectstore:9000"), "prod": ("127.0.0.1:5432", "127.0.0.1:6379", None)}[stack]
    assert f"@{host[0]}/app" in env["DATABASE_URL"] and f"@{host[1]}/0" in env["REDIS_URL"]
    if host[2]:
        assert env["S3_ENDPOINT"] == host[2]
    else:
        assert env["S3_ENDPOINT"].startswith("https://") and "compat.objectstorage" in env["S3_ENDPOINT"]


def test_the_gateway_routes_the_app_path_to_it(run):
    stack, evaluation = run
    caddyfile = harness.unwrap(evaluation.monitor.one("gateway-caddy").inputs)["uploads"][0]["content"]
    # dev: a routed app rolls out with zero downtime, so the route reads its current container's name from the
    # gateway's upstream file, which the gateway boots with (test_app_rollout.py).
    uploads = {u["file"]: u["content"] for u in harness.unwrap(evaluation.monitor.one("gateway-caddy").inputs)["uploads"]}
    docker_name = harness.unwrap(evaluation.monitor.one("web-app").inputs)["name"]
    upstream = "{file./etc/caddy/upstream.web}:3100" if stack == "dev" else "127.0.0.1:3100"
    assert docker_name.startswith("web-app-") if stack == "dev" else docker_name == "web-app"
    if stack == "dev":
        assert uploads["/etc/caddy/upstream.web"] == f"{docker_name}\n"
    block = caddyfile.split("handle /app/* {", 1)[1].split("\n\t}", 1)[0]
    assert f"reverse_proxy {upstream}" in block


def test_the_app_runs_like_every_service(run):
    stack, evaluation = run
    inputs = harness.unwrap(evaluation.monitor.one("web-app").inputs)
    assert inputs["restart"] == "unless-stopped" and inputs["securityOpts"] == ["no-new-privileges:true"]
    assert inputs["logOpts"] == {"max-size": "10m", "max-file": "5"} and inputs["wait"] is True
    image = harness.unwrap(evaluation.monitor.one("web-app-image").inputs)
    assert image["name"] == APP["image"] and image.get("platform") == ("linux/arm64" if stack == "prod" else None)


def test_no_secret_reaches_any_input_in_plaintext(run):
    _, evaluation = run
    passwords = {harness.mock_password(n) for n in ("database-password", "cache-password")}
    for r in evaluation.monitor.registered:
        leaked = [s for s in harness.plaintext_strings(r.inputs) if any(p in s for p in passwords)]
        assert not leaked, (r.name, leaked)


def test_route_options_reach_the_caddyfile():
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    values[f"{NS}:apps"] = [{**APP, "routes": [{"path": "/app/*", "stripPrefix": True, "corsOrigins": ["https://shop.example.com"]}]}]
    caddyfile = harness.unwrap(harness.evaluate("dev", values).monitor.one("gateway-caddy").inputs)["uploads"][0]["content"]
    assert "handle_path /app/*" in caddyfile
    assert "https://shop.example.com" in caddyfile


PRIVATE_LOGIN = {"ghcr.io": {"username": "acme-bot", "password": "ghp_readPackagesToken123"}}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_private_registry_login_reaches_the_provider_as_a_secret(stack):
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = [APP]
    values[f"{NS}:registryCredentials"] = PRIVATE_LOGIN
    evaluation = harness.evaluate(stack, values, [f"{NS}:registryCredentials"])
    (provider,) = evaluation.monitor.by_type("pulumi:providers:docker")
    # Provider inputs reach the engine JSON-encoded; a secret anywhere inside makes the whole value secret.
    auth = provider.inputs["registryAuth"]
    assert rpc.is_rpc_secret(auth), "the registry password must be secret in the provider's inputs"
    assert json.loads(harness.unwrap(auth)) == [
        {"address": "ghcr.io", "username": "acme-bot", "password": "ghp_readPackagesToken123"}
    ]
    assert "ghp_readPackagesToken123" not in harness.plaintext_strings(provider.inputs)


def test_a_registry_login_set_in_plaintext_or_for_no_app_is_refused():
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    raw = {**harness.raw_config(harness.stack_config_as_user_sets_it("dev")), "apps": [APP], "registryCredentials": PRIVATE_LOGIN}
    raw = {k.split(":", 1)[1] if ":" in k else k: v for k, v in raw.items()}
    with pytest.raises(ConfigError) as plaintext:
        parse_stack_config(raw)
    assert "registryCredentials" in str(plaintext.value) and "--secret" in str(plaintext.value)
    unused = {**raw, "registryCredentials": {"registry.example.com": PRIVATE_LOGIN["ghcr.io"]}}
    with pytest.raises(ConfigError) as nobody:
        parse_stack_config(unused, frozenset({"registryCredentials"}))
    assert "registryCredentials.registry.example.com" in str(nobody.value) and "ghcr.io" in str(nobody.value)


CONFIG_SERVICE = {"name": "config-service", "image": "ghcr.io/acme/config:1.0.0", "port": 8000,
                  "volumes": [{"name": "config-data", "path": "/app/data"}]}
CLOCK = {"name": "clock", "image": "ghcr.io/acme/clock:1.0.0", "port": 3001, "dependsOn": ["config-service"],
         "env": {"CONFIG_SERVICE_URL": "${apps.config-service.url}", "BOTH": "${apps.config-service.url}/api"}}


def with_apps(stack: str, apps: list[dict], **more) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = apps
    values.update({f"{NS}:{k}": v for k, v in more.items()})
    return harness.evaluate(stack, values)


@pytest.mark.parametrize(("stack", "url"), [("dev", "http://config-service:8000"), ("prod", "http://127.0.0.1:8000")])
def test_an_app_reaches_another_app_at_its_address_on_this_target(stack, url):
    # Listed before the app it waits for: the order in the config is not the start order.
    monitor = with_apps(stack, [CLOCK, CONFIG_SERVICE]).monitor
    env = dict(e.split("=", 1) for e in harness.unwrap(monitor.one("clock-app").inputs["envs"]))
    assert (env["CONFIG_SERVICE_URL"], env["BOTH"]) == (url, f"{url}/api")
    clock, config = monitor.one("clock-app"), monitor.one("config-service-app")
    assert config.urn in clock.dependencies, "dependsOn: created only after config-service's container is healthy"
    assert clock.urn not in config.dependencies
    assert harness.unwrap(config.inputs)["wait"] is True


@pytest.mark.parametrize("protect", [True, False])
def test_app_volumes_are_protected_and_kept_with_protect_data(protect):
    monitor = with_apps("dev", [CONFIG_SERVICE], protectData=protect).monitor
    (volume,) = [v for v in monitor.by_type("docker:index/volume:Volume") if v.name == "config-data"]
    assert harness.unwrap(volume.inputs)["name"] == "config-data"
    assert (volume.protect, volume.retain_on_delete) == (protect, protect)
    mounts = harness.unwrap(monitor.one("config-service-app").inputs)["volumes"]
    assert [(m["volumeName"], m["containerPath"]) for m in mounts] == [("config-data", "/app/data")]


def test_a_declared_platform_is_pulled_and_a_mismatch_is_refused_naming_the_key():
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    # On a laptop the engine's platform is unknown: the declared one is pulled (Docker Desktop emulates it).
    dev = with_apps("dev", [{**CONFIG_SERVICE, "platform": "linux/amd64"}]).monitor
    assert harness.unwrap(dev.one("config-service-app-image").inputs)["platform"] == "linux/amd64"
    prod = with_apps("prod", [{**CONFIG_SERVICE, "platform": "linux/arm64"}]).monitor
    assert harness.unwrap(prod.one("config-service-app-image").inputs)["platform"] == "linux/arm64"

    raw = harness.raw_config(harness.stack_config_as_user_sets_it("prod"))
    raw = {k.split(":", 1)[1] if ":" in k else k: v for k, v in raw.items()}
    with pytest.raises(ConfigError) as oci:
        parse_stack_config({**raw, "apps": json.dumps([{**CONFIG_SERVICE, "platform": "linux/amd64"}])})
    assert [p.key for p in oci.value.problems] == [f"{NS}:apps[0].platform"]
    assert "Ampere A1 runs linux/arm64" in str(oci.value)


def test_a_pi_refuses_an_amd64_image_and_an_amd64_host_an_arm64_one():
    from config.errors import ConfigError
    from config.loader import parse_stack_config

    base = {"target": "host", "domain": "mirror.local", "gateway": {"tls": "internal"}, "mediaServer": {"enabled": False},
            "host": {"address": "192.168.1.20", "sshUser": "pi", "hostKey": harness.MOCK_HOST_KEY}}
    for host_platform, image in (("linux/arm64", "linux/amd64"), ("linux/amd64", "linux/arm64")):
        cfg = {**base, "host": {**base["host"], "platform": host_platform}, "apps": [{**CONFIG_SERVICE, "platform": image}]}
        with pytest.raises(ConfigError) as refused:
            parse_stack_config(cfg)
        assert [p.key for p in refused.value.problems] == [f"{NS}:apps[0].platform"], refused.value
        assert f"host.platform runs {host_platform}" in str(refused.value)
        parse_stack_config({**cfg, "apps": [{**CONFIG_SERVICE, "platform": host_platform}]})  # the same one passes


def test_the_volume_names_an_app_may_not_take_are_every_services_own():
    """config/checks.SERVICE_VOLUMES against what the services register with all of them on."""
    from config.checks import SERVICE_VOLUMES

    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    values[f"{NS}:analytics"] = {"enabled": True}
    values[f"{NS}:timeSeries"] = {"enabled": True}
    values[f"{NS}:database"] = {**values.get(f"{NS}:database", {}), "backup": {"enabled": True}}
    monitor = harness.evaluate("dev", values).monitor
    registered = {harness.unwrap(v.inputs)["name"] for v in monitor.by_type("docker:index/volume:Volume")}
    assert registered == set(SERVICE_VOLUMES)
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_apps_and_the_env_file_get_the_bucket_scoped_influxdb_token_never_the_operator_token(stack: str):
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:timeSeries"] = {"enabled": True}
    values[f"{NS}:apps"] = [{**APP, "env": {"INFLUX_TOKEN": "${timeSeries.token}"}}]
    evaluation = harness.evaluate(stack, values)
    operator = harness.mock_password("time-series-token")
    env = dict(e.split("=", 1) for e in harness.unwrap(evaluation.monitor.one("web-app").inputs["envs"]))
    assert env["INFLUX_TOKEN"] == harness.MOCK_INFLUX_APP_TOKEN
    assert f"INFLUX_TOKEN={harness.MOCK_INFLUX_APP_TOKEN}" in evaluation.outputs["env"]
    assert operator not in evaluation.outputs["env"], "the operator token can do anything: not in the apps' .env"
    assert evaluation.outputs["influxdbToken"] == harness.MOCK_INFLUX_APP_TOKEN
    assert evaluation.outputs["influxdbOperatorToken"] == operator
    assert {"influxdbToken", "influxdbOperatorToken", "env"} <= evaluation.secret_outputs


def _app_env(stack: str, **app) -> dict[str, str]:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = [APP | app]
    container = harness.evaluate(stack, values).monitor.one("web-app")
    return dict(e.split("=", 1) for e in harness.unwrap(container.inputs["envs"]))


def test_the_app_is_told_to_listen_on_loopback_under_host_networking_and_everywhere_on_the_bridge():
    """HOST (renderers/app_env.APP_BIND_ADDRESS_ENV): on the VM an app's listener is the host's own."""
    assert _app_env("prod")["HOST"] == "127.0.0.1"
    assert _app_env("dev")["HOST"] == "0.0.0.0"  # its own namespace: the gateway reaches it by alias
    assert _app_env("prod", bindAddress="0.0.0.0")["HOST"] == "0.0.0.0"  # opted in: the LAN reaches it too


@pytest.mark.parametrize(
    ("stack", "app", "key"),
    [
        ("dev", {"bindAddress": "127.0.0.1"}, "apps[0].bindAddress"),
        ("prod", {"env": {"HOST": "0.0.0.0"}}, "apps[0].env.HOST"),
        ("prod", {"bindAddress": "192.168.1.20"}, "apps[0].bindAddress"),
    ],
    ids=["loopback-on-the-bridge", "host-in-env", "not-loopback-or-any"],
)
def test_a_bind_address_the_gateway_cannot_reach_is_refused(stack, app, key):
    from config import ConfigError
    from config.loader import parse_stack_config

    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = [APP | app]
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(harness.raw_config(values))
    assert f"{NS}:{key}" in [p.key for p in refused.value.problems], refused.value
