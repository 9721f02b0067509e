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
