"""The existing-host target over real SSH: OzMirror's example on a machine reached by sshd on loopback.

An sshd of the project's own (Debian's openssh-server) listens on 127.0.0.1 in front of this machine's
Docker engine, with a key made for the test. Every remote command the program declares (the readiness
check, the gateway's reload) runs over that SSH connection with strict host-key checking; the containers
go to the same engine through its socket, where the docker provider would tunnel its API over the same
SSH (tests/deploy/engine.py). The example's platform, the host's and its apps', is set to this machine's, as a
user with an amd64 VPS would set it: the images here are built for amd64.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from renderers.caddyfile import ADMIN_SOCKET, upstream_host_file
from tests import examples, harness
from tests.deploy import clients, engine_api as api, provider_read, stacks
from tests.deploy.looping import looping
from tests.matrix.changes import _set

EXAMPLE = next(e for e in examples.examples() if e.system == "ozmirror")
NS = harness.PROJECT


def values_for(port: int, key: Path, known_hosts: Path) -> dict:
    values = copy.deepcopy(EXAMPLE.values())
    values[f"{NS}:host"] = values[f"{NS}:host"] | {
        "address": "127.0.0.1", "sshPort": port, "sshUser": "root", "sshPrivateKeyFile": str(key),
        "platform": "linux/amd64",
        # The fixture's sshd's own key ("[127.0.0.1]:<port> <type> <base64>"), pinned as a user would.
        "hostKey": " ".join(known_hosts.read_text().split()[1:3]),
    }
    # The team's images say what they are built for (apps[].platform), and here they are built for amd64 too:
    # left at the example's arm64 the loader would refuse them on this host.
    values[f"{NS}:apps"] = [app | {"platform": "linux/amd64"} for app in values[f"{NS}:apps"]]
    return values


@pytest.fixture(scope="module")
def ozmirror(sshd):
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    port, key, known_hosts = sshd
    values = values_for(port, key, known_hosts)
    stacks.remove_leftovers(EXAMPLE.stack, values)
    deployment = stacks.deploy(EXAMPLE.stack, values, ssh_known_hosts=str(known_hosts))
    state = {"deployment": deployment, "values": values}
    yield state
    state["deployment"].destroy()
    stacks.remove_leftovers(EXAMPLE.stack, values)  # protectData keeps the volumes on destroy; a test leaves none


def test_the_readiness_check_ran_over_ssh_before_anything_was_deployed(ozmirror):
    made = [(c.type, c.name) for c in ozmirror["deployment"].mocks.created
            if not c.type.startswith(("pulumi:providers:", "random:"))]
    assert made[0] == ("command:remote:Command", "host-ready"), made[:3]


def test_every_container_is_healthy_on_host_networking(ozmirror):
    for c in ozmirror["deployment"].containers():
        info = api.inspect_container(c.id)
        assert info["HostConfig"]["NetworkMode"] == "host", c.name
        assert info["State"]["Health"]["Status"] == "healthy", (c.name, info["State"]["Health"])
    disagreements = provider_read.second_up_disagreements(ozmirror["deployment"].containers())
    assert not disagreements, "\n".join(disagreements)


def test_the_gateway_answers_on_the_hosts_https_port(ozmirror, tmp_path):
    ca = tmp_path / "caddy-root.crt"
    stacks.docker("cp", "gateway-caddy:/data/caddy/pki/authorities/local/root.crt", str(ca))
    code, body = clients.https_get(ozmirror["deployment"].outputs["healthUrl"], ca)
    assert (code, body.strip()) == (200, "OK")
    assert clients.redis(ozmirror["deployment"].outputs["redisUrl"], "PING") == "PONG"


def test_a_new_route_is_reloaded_over_ssh(ozmirror):
    values = copy.deepcopy(ozmirror["values"])
    _set(values, "gateway.routes", [{"path": "/status*", "upstream": "127.0.0.1:8000"}])
    before = ozmirror["deployment"]
    after = stacks.deploy(EXAMPLE.stack, values, previous=before)
    ozmirror["deployment"], ozmirror["values"] = after, values
    # The Caddyfile is one of the reload's triggers, so pulumi-command replaces it: its create runs (over SSH).
    assert after.mocks.operations[("command:remote:Command", "gateway-reload")] == "replace"
    assert after.mocks.operations[("docker:index/container:Container", "gateway-caddy")] == "same"
    assert "gateway-reload" in [name for name, _ in after.mocks.command_log]
    loaded = stacks.docker("exec", "gateway-caddy", "curl", "-sS", "--unix-socket", ADMIN_SOCKET, "http://localhost/config/").stdout
    assert "/status*" in loaded


def test_an_apps_data_volume_outlives_a_new_env_and_the_app_it_depends_on_is_healthy_first(ozmirror):
    """apps[].volumes on the real engine: a file written into config-service's volume is still there in the
    container the next `up` makes for a new env; and the clock module, which dependsOn config-service, was
    created after config-service's create returned, which it does only once Docker reports it healthy (`wait`)."""
    before = ozmirror["deployment"]
    app = next(c for c in before.containers() if c.name == "config-service-app")
    mounts = {m["Destination"]: m.get("Name") for m in api.inspect_container(app.id)["Mounts"]}
    assert mounts.get("/app/data") == "config-data", mounts
    marker = "written-before-the-change"
    stacks.docker("exec", "-u", "0", app.id, "sh", "-c", f"echo {marker} > /app/data/kept.txt")
    values = copy.deepcopy(ozmirror["values"])
    config_service = next(a for a in values[f"{NS}:apps"] if a["name"] == "config-service")
    config_service["env"] = dict(config_service.get("env") or {}, CONFIG_CHANGED="1")
    after = stacks.deploy(EXAMPLE.stack, values, previous=before)
    ozmirror["deployment"], ozmirror["values"] = after, values
    assert after.mocks.operations[("docker:index/container:Container", "config-service-app")] == "replace"
    now = next(c for c in after.containers() if c.name == "config-service-app")
    assert now.id != app.id and api.inspect_container(app.id) is None
    assert stacks.docker("exec", now.id, "cat", "/app/data/kept.txt").stdout.strip() == marker
    order = [c.name for c in before.mocks.created if c.type == "docker:index/container:Container"]
    assert order.index("config-service-app") < order.index("clock-module-app"), order


def bridge_env(deployment: stacks.Deployment) -> dict[str, str]:
    app = next(c for c in deployment.containers() if c.name == "websocket-bridge-app")
    return dict(e.split("=", 1) for e in api.inspect_container(app.id)["Config"]["Env"])


def test_the_bridge_rolls_out_between_its_two_ports_and_not_one_request_fails(ozmirror, tmp_path):
    """apps[].rollout zero-downtime under host networking (websocket-bridge: port 8080, rolloutPort 8090), on
    the real engine and over the real SSH: each `up` with a new env runs the slot picker on the host, starts
    the new revision on the port the gateway's upstream file does not point at, beside the old one, switches
    the file once it is healthy, then deletes the old one. Two clients loop requests on the bridge's route
    (/socket.io/, where the stand-in answers 404 with its env's names) through the host's 443 the whole time."""
    ca = tmp_path / "caddy-root.crt"
    stacks.docker("cp", "gateway-caddy:/data/caddy/pki/authorities/local/root.crt", str(ca))
    upstream_file = upstream_host_file("websocket-bridge")

    def upstream() -> str:
        return stacks.docker("exec", "gateway-caddy", "cat", upstream_file).stdout.strip()

    first = ozmirror["deployment"]
    # The first revision: no upstream file yet, so it took rolloutPort (an app that ran with `replace` holds port).
    assert bridge_env(first)["PORT"] == "8090" and upstream() == "127.0.0.1:8090"
    options = {"server_name": "mirror.local", "path": "/socket.io/", "ok": (404,)}
    ports = []
    with looping(str(ca), fresh=True, **options) as client, looping(str(ca), fresh=False, **options) as kept:
        wait_for_answers(client, kept)
        for n in (1, 2):
            before = ozmirror["deployment"]
            old = next(c for c in before.containers() if c.name == "websocket-bridge-app")
            values = copy.deepcopy(ozmirror["values"])
            bridge = next(a for a in values[f"{NS}:apps"] if a["name"] == "websocket-bridge")
            bridge["env"] = {k: v for k, v in (bridge.get("env") or {}).items() if not k.startswith("ROLLOUT_")}
            bridge["env"][f"ROLLOUT_{n}"] = "1"
            after = stacks.deploy(EXAMPLE.stack, values, previous=before)
            ozmirror["deployment"], ozmirror["values"] = after, values
            assert after.mocks.operations[("command:remote:Command", "websocket-bridge-port-slot")] == "replace"
            # It ran on the host, over SSH, and printed the port the new revision got.
            picked = [out for name, out in after.mocks.command_log if name == "websocket-bridge-port-slot"]
            assert after.mocks.operations[("docker:index/container:Container", "websocket-bridge-app")] == "replace"
            port = bridge_env(after)["PORT"]
            assert [out.strip() for out in picked] == [port], picked
            ports.append(port)
            assert upstream() == f"127.0.0.1:{port}"
            assert api.inspect_container(old.id) is None, "the old revision outlived the up"
            wait_for_answers(client, kept, revision=f"ROLLOUT_{n}")
    assert ports == ["8080", "8090"]
    assert not client.failures and not kept.failures, (client.failures[:5], kept.failures[:5])
    assert client.revisions() == kept.revisions() == ["", "ROLLOUT_1", "ROLLOUT_2"]


def wait_for_answers(*clients, revision: str | None = None, timeout_s: float = 30) -> None:
    """Until each client has answers, the last ones from ``revision`` when given, and 5 more after that."""
    deadline = time.monotonic() + timeout_s
    while not all(c.answers and (revision is None or c.answers[-1] == revision) for c in clients):
        assert time.monotonic() < deadline, [c.answers[-1:] for c in clients]
        time.sleep(0.2)
    marks = [len(c.answers) for c in clients]
    while not all(len(c.answers) > m + 5 for c, m in zip(clients, marks)):
        assert time.monotonic() < deadline, "the clients stopped getting answers"
        time.sleep(0.2)


def test_destroy_removes_the_containers_and_keeps_the_protected_data(ozmirror):
    """Last in this file. `protectData: true` (the example): the volumes are retained on delete, so they stay on
    the machine (a real `pulumi destroy` first refuses them as protected: README "Tear down prod")."""
    deployment = ozmirror["deployment"]
    assert ozmirror["values"][f"{NS}:protectData"] is True
    volumes = [c for c in deployment.mocks.created if c.type == "docker:index/volume:Volume"]
    assert volumes and all(c.name in deployment.retained() for c in volumes)
    deployment.destroy()
    assert all(api.inspect_container(c.id) is None for c in deployment.containers())
    assert all(api.call("GET", f"/volumes/{c.id}", ok_missing=True) for c in volumes)
