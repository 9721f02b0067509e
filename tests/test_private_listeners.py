"""Private by default on every target: no internal service listens where the LAN can reach it.

Every listening socket of the Docker host's own network namespace (host networking, and published
ports at their ip) is read back out of the configs the program rendered (tests/listeners.py), per
target: the dev stack (bridge), prod (the VM), the Pi (the existing host) with every service on, and
every example. What may listen beyond loopback is the gateway's HTTP/HTTPS and LiveKit's media, plus
the few listeners whose server has no address setting (named, with the reason, in tests/listeners.py).
"""
from __future__ import annotations

import pytest

from tests import examples, harness
from tests.listeners import EVERY, everything_on as _everything_on, exposed_internal, host_listeners, on_a_pi_with_everything as _on_a_pi

NS = harness.PROJECT
STACKS = {
    "dev": lambda: harness.evaluate("dev", _everything_on(harness.stack_config_as_user_sets_it("dev"))),
    "prod": lambda: harness.evaluate("prod", _everything_on(harness.stack_config_as_user_sets_it("prod"))),
    "pi": lambda: harness.evaluate("dev", _on_a_pi()),
    "pi-turn-tls": lambda: harness.evaluate("dev", _on_a_pi(turnTls={"enabled": True})),
}


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request) -> tuple[str, harness.Evaluation]:
    return request.param, STACKS[request.param]()


def test_no_internal_service_listens_beyond_loopback(stack):
    name, run = stack
    assert host_listeners(run), f"{name}: no listener read back"
    assert exposed_internal(run) == []


@pytest.mark.parametrize("example", examples.examples(), ids=lambda e: e.id)
def test_no_example_exposes_an_internal_service(example):
    assert exposed_internal(examples.evaluate(example)) == []


@pytest.mark.parametrize("name", ["prod", "pi", "pi-turn-tls"])
def test_under_host_networking_the_data_services_and_apps_bind_loopback(name):
    """Named one by one, so a listener dropped from the model cannot pass the test above unseen."""
    run = STACKS[name]()
    found = {(owner.rsplit("-", 1)[-1], l.port): l.address for owner, l in host_listeners(run)}
    for service, port in [("postgres", 5432), ("pgbouncer", 6432), ("redis", 6379), ("clickhouse", 8123),
                          ("clickhouse", 9004), ("influxdb", 8086), ("livekit", 7880), ("app", 8000), ("app", 8080)]:
        assert found[(service, port)] == "127.0.0.1", (name, service, port, found.get((service, port)))
    if name != "prod":  # the VM uses Object Storage, not versitygw
        assert found[("s3", 9000)] == "127.0.0.1"


def test_on_the_bridge_every_internal_port_is_published_on_loopback_only():
    run = STACKS["dev"]()
    published = {(owner.rsplit("-", 1)[-1], l.port): (l.address, l.public) for owner, l in host_listeners(run)}
    assert published[("s3", 9000)] == ("127.0.0.1", False)
    assert published[("postgres", 5432)] == ("127.0.0.1", False)
    assert published[("redis", 6379)] == ("127.0.0.1", False)
    assert published[("livekit", 7880)] == ("127.0.0.1", False)
    assert {a for (service, _), (a, public) in published.items() if public} == {EVERY}


def test_the_listener_model_finds_an_exposed_service():
    """What the Pi had before: versitygw on `:9000` and apps wherever their image said."""
    run = STACKS["pi"]()
    for c in run.monitor.by_type("docker:index/container:Container"):
        inputs = harness.unwrap(c.inputs)
        if c.name.endswith("-s3"):
            inputs["envs"] = [e.replace("VGW_PORT=127.0.0.1:", "VGW_PORT=:") for e in inputs["envs"]]
        if c.name.endswith("-app"):
            inputs["envs"] = [e for e in inputs["envs"] if not e.startswith("HOST=")]
        c.inputs = inputs
    exposed = exposed_internal(run)
    assert any(e == "object-store-s3: tcp/9000 on *" for e in exposed), exposed
    assert sum(1 for e in exposed if "-app: tcp/" in e) == 2, exposed


def _firewall_opens(run: harness.Evaluation) -> set[tuple[str, int]]:
    import base64
    import re

    create = harness.unwrap(run.monitor.one("host-firewall").inputs)["create"]
    encoded = re.search(r"<<'SCRIPT-BASE64-END'\n(.*?)SCRIPT-BASE64-END", create, re.S)[1]
    script = base64.b64decode("".join(encoded.split())).decode()
    opened = set()
    for protocol, first, last in re.findall(r"-p (tcp|udp) -m state --state NEW -m \w+ --dport (\d+)(?::(\d+))?", script):
        opened |= {(protocol, p) for p in range(int(first), int(last or first) + 1)}
    return opened


def test_the_pis_firewall_opens_every_public_listener_and_nothing_internal():
    """With host.firewall.enabled the listeners that cannot bind loopback are closed to the LAN too."""
    values = _on_a_pi(turnTls={"enabled": True})
    values[f"{NS}:host"] = {**values[f"{NS}:host"], "firewall": {"enabled": True}}
    run = harness.evaluate("dev", values)
    opened = _firewall_opens(run)
    listeners = [l for _, l in host_listeners(run) if not l.loopback_only]
    assert any(l.unavoidable for l in listeners) and any(l.public for l in listeners)
    for listener in listeners:
        assert ((listener.protocol, listener.port) in opened) == listener.public, listener
    assert ("tcp", 22) in opened  # SSH, on host.sshPort
