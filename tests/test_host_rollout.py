"""apps[].rollout zero-downtime under host networking (targets oci and host): two port slots.

On those targets every container shares the host's network stack, so a new revision cannot bind the
port the running one holds. With apps[].rolloutPort each revision takes the slot the running one does
not use: `<app>-port-slot`, a remote Command on the host (renderers/app_slot.py), reads the gateway's
upstream file and prints that port; it becomes the container's PORT, its healthcheck's port and the
`127.0.0.1:<port>` the gateway's switch writes. These tests hold the registrations and edges that order
comes from (tests/harness.py RecordingMonitor); the engine's scheduling is not run here, and the
script itself runs in tests/real/test_host_rollout_real.py.
"""
from __future__ import annotations

import base64
import copy
import re

import pulumi
import pytest

from config import parse_stack_config
from config.errors import ConfigError
from renderers.app_health import tcp_check
from renderers.app_slot import pick_slot_command
from tests.failing_wait import FailingWait, Recording
from tests import examples, harness
from tests.providers import REGISTRY
from tests.providers.model import outcome, planned_changes, read_back

NS = harness.PROJECT
PORT, ROLLOUT_PORT = 3100, 3101
APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.4.2",
    "port": PORT,
    "rolloutPort": ROLLOUT_PORT,
    "rollout": "zero-downtime",
    "env": {"MODE": "blue"},
    "routes": [{"path": "/app/*"}],
}
CONTAINER = "docker:index/container:Container"
OZMIRROR = next(e for e in examples.examples() if e.system == "ozmirror")
# prod: the OCI VM; ozmirror-pi: the existing-host target (a Raspberry Pi). Both use host networking.
STACKS = ("prod", "ozmirror-pi")


def base_values(stack: str) -> dict:
    if stack == OZMIRROR.stack:
        return OZMIRROR.values()
    return copy.deepcopy(harness.stack_config_as_user_sets_it(stack))


def values_with(stack: str, *extra_apps: dict, **app) -> dict:
    values = base_values(stack)
    values[f"{NS}:apps"] = [{k: v for k, v in {**APP, **app}.items() if v is not None}, *extra_apps]
    return values


class OtherSlot(harness.RecordingMocks):
    """The picker's answer once the gateway's file points at rolloutPort: the next revision takes port."""

    def port_slot(self, port: int, rollout_port: int) -> int:
        return port


def evaluate(stack: str, mocks=None, monitor_type: type = harness.RecordingMonitor, **app) -> harness.Evaluation:
    return harness.evaluate(stack, values_with(stack, **app), mocks=mocks, monitor_type=monitor_type)


def inputs(evaluation: harness.Evaluation, name: str) -> dict:
    return harness.unwrap(evaluation.monitor.one(name).inputs)


def switched_host(evaluation: harness.Evaluation) -> str:
    script = inputs(evaluation, "gateway-upstream-web")["create"]
    return re.match(r"printf '%s\\n' (\S+) \| docker exec -i gateway-caddy sh -c ", script).group(1)


def reloaded_caddyfile(evaluation: harness.Evaluation) -> str:
    script = inputs(evaluation, "gateway-reload")["create"]
    return base64.b64decode(re.match(r"printf '%s\\n' '([A-Za-z0-9+/=]+)'", script).group(1)).decode()


@pytest.fixture(scope="module", params=STACKS)
def first(request) -> harness.Evaluation:
    return evaluate(request.param)


def test_the_picker_is_a_command_on_the_host_that_the_new_container_waits_for(first):
    picker = first.monitor.one("web-port-slot")
    # Remote, over the same SSH connection as the gateway's own switch (components/host_shell.RemoteShell).
    assert picker.type == "command:remote:Command"
    assert inputs(first, "web-port-slot")["connection"] == inputs(first, "gateway-upstream-web")["connection"]
    assert inputs(first, "web-port-slot")["create"] == pick_slot_command(
        gateway_container="gateway-caddy", host_file="/etc/caddy/upstream.web", slots=(PORT, ROLLOUT_PORT)
    )
    # `update` (a new connection or script text, no new revision) prints the served slot instead: no rollout.
    assert inputs(first, "web-port-slot")["update"] == pick_slot_command(
        gateway_container="gateway-caddy", host_file="/etc/caddy/upstream.web", slots=(PORT, ROLLOUT_PORT), keep=True
    )
    container = first.monitor.one("web-app")
    # The container's env and healthcheck are Outputs of the picker's stdout: it is created after the picker.
    assert picker.urn in container.dependencies
    order = [r.name for r in first.monitor.registered]
    assert order.index("web-port-slot") < order.index("web-app")


def test_the_new_container_listens_and_is_checked_on_the_picked_slot(first):
    container = first.monitor.one("web-app")
    spec = harness.unwrap(container.inputs)
    # The mock's picker answers as on a first `up` with no upstream file: rolloutPort.
    assert f"PORT={ROLLOUT_PORT}" in spec["envs"] and not any(e == f"PORT={PORT}" for e in spec["envs"])
    assert "HOST=127.0.0.1" in spec["envs"]
    assert spec["healthcheck"]["tests"] == [
        "CMD-SHELL",
        f"wget -q -O /dev/null http://127.0.0.1:{ROLLOUT_PORT}/health || curl -fsS -o /dev/null http://127.0.0.1:{ROLLOUT_PORT}/health",
    ]
    assert spec["networkMode"] == "host"
    # Create-first under its own revision name; an init error replaces (components/container.py).
    assert re.fullmatch(r"web-app-[0-9a-f]{10}", spec["name"]), spec["name"]
    assert container.delete_before_replace is False and container.replace_on_changes == ["*"]
    assert spec["wait"] is True


def test_the_switch_writes_the_slot_only_after_the_new_container_exists(first):
    switch = first.monitor.one("gateway-upstream-web")
    assert switched_host(first) == f"127.0.0.1:{ROLLOUT_PORT}"
    assert first.monitor.one("web-app").urn in switch.dependencies
    assert switch.urn in first.monitor.one("gateway-reload").dependencies
    # The route dials the whole address from the file; a new gateway container boots with it.
    caddyfile = reloaded_caddyfile(first)
    assert "vars upstream_dial {file./etc/caddy/upstream.web}" in caddyfile and "reverse_proxy {http.vars.upstream_dial} {" in caddyfile
    uploads = {u["file"]: u.get("content") for u in inputs(first, "gateway-caddy")["uploads"]}
    assert uploads["/etc/caddy/upstream.web"] == f"127.0.0.1:{ROLLOUT_PORT}\n"
    # The picker reads what the switch writes, so it must not wait on the gateway (a cycle): a plain name.
    picker = first.monitor.one("web-port-slot")
    assert not any("Gateway" in dep for dep in picker.dependencies), picker.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_the_next_revision_takes_the_other_slot_and_the_caddyfile_stays(stack):
    now = evaluate(stack, mocks=OtherSlot())
    spec = inputs(now, "web-app")
    assert f"PORT={PORT}" in spec["envs"]
    assert f"http://127.0.0.1:{PORT}/health" in spec["healthcheck"]["tests"][1]
    assert switched_host(now) == f"127.0.0.1:{PORT}"
    before = evaluate(stack)
    # Another port is another revision name, so it can exist beside the one on the other slot...
    assert spec["name"] != inputs(before, "web-app")["name"]
    # ...and neither the Caddyfile nor the reload's triggers move: a rollout never reloads Caddy.
    assert reloaded_caddyfile(now) == reloaded_caddyfile(before)
    assert inputs(now, "gateway-reload")["triggers"] == inputs(before, "gateway-reload")["triggers"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_pickers_triggers_are_the_revision_without_its_port(stack):
    triggers = lambda e: inputs(e, "web-port-slot")["triggers"]  # noqa: E731
    base = evaluate(stack)
    assert len(triggers(base)) == 1 and re.fullmatch(r"web-app-[0-9a-f]{10}", triggers(base)[0])
    # Whichever slot the picker answered, the material it re-runs on is the same...
    assert triggers(evaluate(stack, mocks=OtherSlot())) == triggers(base)
    # ...and a new image or env is a new revision: the trigger changes and the picker runs again.
    new_image = evaluate(stack, image="ghcr.io/acme/web:1.4.3")
    new_env = evaluate(stack, env={"MODE": "green"})
    assert len({triggers(base)[0], triggers(new_image)[0], triggers(new_env)[0]}) == 3
    # A keyed hash, never the env itself.
    assert "blue" not in triggers(base)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_an_unchanged_second_up_reruns_nothing_and_keeps_the_port(stack):
    """Through the pinned providers' model (tests/providers): the picker's triggers are its only replacing
    input (provider/pkg/provider/common/inputs.go:10@v1.2.1) and its script is unchanged, so it neither runs
    again nor changes its stdout in state; the container, whose name and env follow that stdout, plans nothing."""
    one, two = evaluate(stack), evaluate(stack)
    for name in ("web-port-slot", "web-app", "gateway-upstream-web"):
        registered = one.monitor.one(name)
        assert inputs(two, name) == inputs(one, name), name
        facts = REGISTRY[registered.type]
        changes = planned_changes(
            read_back(inputs(one, name), facts), inputs(two, name), facts,
            ignore_changes=registered.ignore_changes, replace_on_changes=registered.replace_on_changes,
        )
        assert outcome(changes) is None, (name, changes)
    # And a new image: the picker's trigger changes, which the model replaces (the script runs again).
    new = evaluate(stack, image="ghcr.io/acme/web:1.4.3")
    facts = REGISTRY["command:remote:Command"]
    changes = planned_changes(read_back(inputs(one, "web-port-slot"), facts), inputs(new, "web-port-slot"), facts)
    assert outcome(changes) == "replace" and set(changes) == {"triggers"}


@pytest.mark.parametrize("stack", STACKS)
def test_a_new_connection_updates_the_picker_with_the_keeping_script_and_replaces_nothing(stack):
    """A pinned host key, another key file: the connection changes, not the revision. The model (tests/providers:
    only `triggers` replaces, provider/pkg/provider/common/inputs.go:10@v1.2.1) plans an update, which runs
    `update`, the keeping script; its stdout, the served slot, is the port the container already has."""
    one = evaluate(stack)
    before = inputs(one, "web-port-slot")
    after = dict(before, connection=dict(before["connection"], hostKey="ssh-ed25519 " + "A" * 68))
    facts = REGISTRY["command:remote:Command"]
    changes = planned_changes(read_back(before, facts), after, facts)
    assert outcome(changes) == "update" and set(changes) == {"connection"}, changes
    assert "exit 0;;" in before["update"] and before["update"] != before["create"]


def test_a_tcp_checked_app_is_checked_on_its_slot():
    evaluation = evaluate("ozmirror-pi", healthcheck={"tcpPort": PORT}, healthPath=None)
    assert inputs(evaluation, "web-app")["healthcheck"]["tests"] == list(tcp_check(ROLLOUT_PORT))


@pytest.mark.parametrize("stack", STACKS)
def test_a_new_revision_that_never_turns_healthy_is_never_switched_to(stack):
    with pytest.raises(Exception, match="healthy state"):
        evaluate(stack, mocks=FailingWait(), monitor_type=Recording)
    names = {r.name for r in Recording.last.registered}
    assert "web-port-slot" in names, "the picker ran: the program got as far as the new container"
    # The new container's name never resolves: no switch, the gateway's file keeps the old slot.
    assert "gateway-upstream-web" not in names and "gateway-reload" not in names


def problems(stack: str, *extra_apps: dict, **app) -> str:
    with pytest.raises(ConfigError) as err:
        parse_stack_config(harness.raw_config(values_with(stack, *extra_apps, **app)), ns=NS)
    return str(err.value)


@pytest.mark.parametrize("stack", STACKS)
def test_zero_downtime_without_a_second_port_is_refused_saying_what_to_add(stack):
    message = problems(stack, rolloutPort=None)
    assert f"{NS}:apps[0].rollout" in message and "apps[0].rolloutPort" in message and "$PORT" in message


@pytest.mark.parametrize("stack", STACKS)
def test_the_default_rollout_there_stays_replace(stack):
    evaluation = evaluate(stack, rollout=None, rolloutPort=None)
    assert inputs(evaluation, "web-app")["name"] == "web-app"
    assert not [r for r in evaluation.monitor.registered if r.name == "web-port-slot"]
    # And a second port without rollout: zero-downtime says what it is for.
    message = problems(stack, rollout=None)
    assert f"{NS}:apps[0].rolloutPort" in message and "zero-downtime" in message


def test_a_second_port_on_a_bridge_network_is_refused():
    message = problems("dev")
    assert f"{NS}:apps[0].rolloutPort" in message and "bridge network" in message


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("port", [PORT, 6379, 443, 22])
def test_a_second_port_another_listener_holds_is_refused_naming_it(stack, port):
    values = values_with(stack, rolloutPort=port)
    with pytest.raises(ConfigError) as err:
        parse_stack_config(harness.raw_config(values), ns=NS)
    assert f"{NS}:apps[0].rolloutPort" in str(err.value)


@pytest.mark.parametrize("stack", STACKS)
def test_another_apps_port_on_the_second_port_is_refused(stack):
    other = {"name": "api", "image": "ghcr.io/acme/api:1.0.0", "port": ROLLOUT_PORT}
    message = problems(stack, other)
    assert f"{NS}:apps[1].port" in message or f"{NS}:apps[0].rolloutPort" in message


@pytest.mark.parametrize("stack", STACKS)
def test_a_port_in_the_env_is_refused(stack):
    message = problems(stack, env={"MODE": "blue", "PORT": "3100"})
    assert f"{NS}:apps[0].env.PORT" in message and "program sets it" in message


@pytest.mark.parametrize("stack", STACKS)
def test_a_tcp_check_on_another_port_is_refused(stack):
    message = problems(stack, healthcheck={"tcpPort": 3200}, healthPath=None)
    assert f"{NS}:apps[0].healthcheck.tcpPort" in message and "rolloutPort" in message


@pytest.mark.parametrize("stack", STACKS)
def test_another_app_cannot_reference_its_fixed_url(stack):
    other = {"name": "api", "image": "ghcr.io/acme/api:1.0.0", "port": 3200, "env": {"WEB": "${apps.web.url}"}}
    message = problems(stack, other)
    assert f"{NS}:apps[1].env.WEB" in message and "alternates between ports" in message


@pytest.mark.parametrize("value", [0, 65536, "http", -1])
def test_a_second_port_that_is_no_port_is_refused_naming_it(value):
    assert "apps[0].rolloutPort" in problems("ozmirror-pi", rolloutPort=value)
