"""apps[].rollout as the engine sees it: the resource graph that makes a zero-downtime rollout.

What the engine does with these registrations (components/app.py): it creates the new container and
waits for it (`wait`), updates whatever depends on it (the gateway's upstream switch), and deletes the replaced
container only in its post-steps, after the program and all its steps are done. These tests hold the
inputs, options and dependency edges that order comes from, seen through the recording MockMonitor
(tests/harness.py); the engine's own scheduling is not run here.
"""
from __future__ import annotations

import base64
import copy
import re

import pulumi
import pytest

from config import parse_stack_config
from config.errors import ConfigError
from tests.failing_wait import FailingWait, Recording
from tests import harness

NS = harness.PROJECT
APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.4.2",
    "port": 3100,
    "env": {"DATABASE_URL": "${database.url}", "MODE": "blue"},
    "routes": [{"path": "/app/*"}],
}
CONTAINER = "docker:index/container:Container"


def values_with(stack: str, **app) -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    values[f"{NS}:apps"] = [{**APP, **app}]
    return values


def evaluate(stack: str = "dev", monitor_type: type = harness.RecordingMonitor, mocks=None, **app) -> harness.Evaluation:
    return harness.evaluate(stack, values_with(stack, **app), mocks=mocks, monitor_type=monitor_type)


def docker_name(evaluation: harness.Evaluation) -> str:
    return harness.unwrap(evaluation.monitor.one("web-app").inputs)["name"]


def reloaded_caddyfile(evaluation: harness.Evaluation) -> str:
    """The Caddyfile the gateway's reload command pipes into the running Caddy (base64 on stdin)."""
    script = harness.unwrap(evaluation.monitor.one("gateway-reload").inputs)["create"]
    payload = re.match(r"printf '%s\\n' '([A-Za-z0-9+/=]+)'", script).group(1)
    return base64.b64decode(payload).decode()


def switched_host(evaluation: harness.Evaluation) -> str:
    """The host the gateway's switch command writes into the app's upstream file (first word on stdin)."""
    script = harness.unwrap(evaluation.monitor.one("gateway-upstream-web").inputs)["create"]
    return re.match(r"printf '%s\\n' (\S+) \| docker exec -i gateway-caddy sh -c ", script).group(1)


HOST_FILE_ROUTE = "reverse_proxy {file./etc/caddy/upstream.web}:3100 {"


@pytest.fixture(scope="module")
def dev() -> harness.Evaluation:
    return evaluate("dev")


def test_a_routed_app_on_a_bridge_network_is_created_first_and_waited_on(dev):
    container = dev.monitor.one("web-app")
    inputs = harness.unwrap(container.inputs)
    # Its own Docker name per revision, so the new one can exist beside the old one.
    assert re.fullmatch(r"web-app-[0-9a-f]{10}", inputs["name"]), inputs["name"]
    assert inputs["wait"] is True and inputs["waitTimeout"] > 0
    assert inputs["healthcheck"]["tests"][0] == "CMD-SHELL"
    # Create-before-delete (the engine default once this is False), and an init error replaces.
    assert container.delete_before_replace is False
    assert container.replace_on_changes == ["*"]


def test_the_gateway_switches_to_this_revision_only_after_it_exists(dev):
    name = docker_name(dev)
    web = dev.monitor.one("web-app")
    switch = dev.monitor.one("gateway-upstream-web")
    reload = dev.monitor.one("gateway-reload")
    gateway = dev.monitor.one("gateway-caddy")
    # The route reads its host from the file; the switch writes this revision's name there, again on a new gateway.
    assert HOST_FILE_ROUTE in reloaded_caddyfile(dev)
    assert switched_host(dev) == name
    assert "/etc/caddy/upstream.web" in harness.unwrap(switch.inputs)["create"]
    # Its triggers: the host, and the gateway container's id (a new container starts from its uploads).
    triggers = harness.unwrap(switch.inputs)["triggers"]
    assert len(triggers) == 2 and triggers[0] == name
    # A new gateway container boots with the file already holding the current host.
    uploads = {u["file"]: u.get("content") for u in harness.unwrap(gateway.inputs)["uploads"]}
    assert uploads["/etc/caddy/upstream.web"] == f"{name}\n"
    # The edges: the switch depends on the app's container, so it runs only once its create, `wait`
    # included, has answered; the reload runs after the switch (a new route must find its file).
    assert web.urn in switch.dependencies
    assert switch.urn in reload.dependencies
    order = [r.name for r in dev.monitor.registered]
    assert order.index("web-app") < order.index("gateway-caddy") < order.index("gateway-upstream-web")
    # And nothing of the app waits on the gateway: no cycle, the container comes first.
    assert not any(dep.endswith(("gateway-reload", "gateway-caddy", "gateway-upstream-web")) for dep in web.dependencies)


def test_the_revision_follows_what_the_container_is_made_of_and_nothing_else(dev):
    same = evaluate("dev")
    assert docker_name(same) == docker_name(dev), "a second up without changes must not roll the app out"
    new_image = evaluate("dev", image="ghcr.io/acme/web:1.4.3")
    new_env = evaluate("dev", env={**APP["env"], "MODE": "green"})
    names = {docker_name(dev), docker_name(new_image), docker_name(new_env)}
    assert len(names) == 3, names
    assert switched_host(new_image) == docker_name(new_image)


def test_a_rollout_leaves_the_caddyfile_alone_so_caddy_never_reloads(dev):
    """A reload drops a request (renderers/caddyfile.UPSTREAM_HOST_FILE_DIR): a rollout must not cause one.

    The reload command re-runs only when its triggers change: the Caddyfile and the gateway container.
    """
    new_image = evaluate("dev", image="ghcr.io/acme/web:1.4.3")
    assert docker_name(new_image) != docker_name(dev)
    assert reloaded_caddyfile(new_image) == reloaded_caddyfile(dev)
    assert docker_name(dev) not in reloaded_caddyfile(dev)
    triggers = [harness.unwrap(e.monitor.one("gateway-reload").inputs)["triggers"] for e in (dev, new_image)]
    assert triggers[0] == triggers[1]


def test_the_name_is_plaintext_and_reveals_no_secret(dev):
    container = dev.monitor.one("web-app")
    assert isinstance(container.inputs["name"], str), "the gateway routes to it: a secret name would hide every diff"
    assert harness.mock_password("database-password") not in container.inputs["name"]


def test_replace_keeps_the_delete_first_container_under_its_one_name():
    evaluation = evaluate("dev", rollout="replace")
    container = evaluation.monitor.one("web-app")
    assert harness.unwrap(container.inputs)["name"] == "web-app"
    assert container.delete_before_replace is True and container.replace_on_changes == ["healthcheck"]
    assert "reverse_proxy web:3100 {" in reloaded_caddyfile(evaluation)
    assert not [r for r in evaluation.monitor.registered if r.name in ("web-revision-salt", "gateway-upstream-web")]


def test_an_unrouted_app_and_host_networking_default_to_replace():
    unrouted = evaluate("dev", routes=[])
    assert harness.unwrap(unrouted.monitor.one("web-app").inputs)["name"] == "web-app"
    prod = evaluate("prod")
    assert harness.unwrap(prod.monitor.one("web-app").inputs)["name"] == "web-app"
    assert prod.monitor.one("web-app").delete_before_replace is True


@pytest.mark.parametrize("stack", ["prod"])
def test_zero_downtime_on_host_networking_is_refused_naming_the_key(stack):
    raw = harness.raw_config(values_with(stack, rollout="zero-downtime"))
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw, ns=NS)
    # Without apps[].rolloutPort: the message says what to add (tests/test_host_rollout.py has the rest).
    assert f"{NS}:apps[0].rollout" in str(err.value) and "Add apps[0].rolloutPort" in str(err.value)


def test_after_a_failed_wait_no_switch_and_no_gateway_are_registered():
    with pytest.raises(Exception, match="healthy state"):
        harness.evaluate("dev", values_with("dev"), mocks=FailingWait(), monitor_type=Recording)
    names = {r.name for r in Recording.last.registered}
    assert "web-app-image" in names, "the program got as far as the app"
    # The new name never resolves: the running gateway's file is not switched and keeps routing to the old container.
    assert "gateway-upstream-web" not in names and "gateway-caddy" not in names and "gateway-reload" not in names


def test_a_zero_downtime_app_with_volumes_mounts_them_by_name_and_waits_for_them():
    """Volumes' Outputs in the spec would give a new revision name on every run (and were refused, hanging the
    program on the gateway's unresolved upstream): the container mounts them by their plain Docker names."""
    volumes = [{"name": "web-data", "path": "/app/data"}]
    first, second = evaluate(volumes=volumes), evaluate(volumes=volumes)
    assert docker_name(first) == docker_name(second), "the same config, the same revision"
    assert docker_name(first) != docker_name(evaluate()), "a new volume is a new revision"
    container = first.monitor.one("web-app")
    mounts = harness.unwrap(container.inputs)["volumes"]
    assert [(m["volumeName"], m["containerPath"]) for m in mounts] == [("web-data", "/app/data")]
    assert first.monitor.one("web-data").urn in container.dependencies
