"""TURN over TLS on 443 in prod (renderers/turn_tls.py), evaluated under mocks from the stacks as users set them.

The router itself runs in the real Caddy with caddy-l4 in tests/real/test_turn_tls_real.py.
"""
from __future__ import annotations

import base64
import copy

import pytest
import yaml

from config import ConfigError, parse_stack_config
from renderers.caddyfile import CADDYFILE_PATH
from renderers.host_firewall import HOST_FIREWALL_SCRIPT_PATH
from renderers.oci_rules import WORLD
from renderers.turn_tls import CADDY_L4_VERSION, GATEWAY_L4_BUILD_CONTEXT, gateway_l4_image
from tests import harness
from tests.oci_view import port_rules
from tests.renderers.test_ports import parse_firewall_command, script_rule_lines

NS = harness.PROJECT
SSLIP = "203-0-113-10.sslip.io"  # harness.MOCK_PUBLIC_IP as the default domain
TURN_DOMAIN = f"turn.{SSLIP}"
PRIVATE_IP = "10.0.0.2"  # the mocks' instance privateIp
TURN_PORT = 5349


@pytest.fixture(scope="module")
def prod() -> harness.Evaluation:
    return harness.evaluate("prod")


def inputs(run: harness.Evaluation, name: str) -> dict:
    return harness.unwrap(run.monitor.one(name).inputs)


def caddyfile(run: harness.Evaluation) -> str:
    container = inputs(run, "gateway-caddy")
    return next(u["content"] for u in container["uploads"] if u["file"] == CADDYFILE_PATH)


def livekit_yaml(run: harness.Evaluation) -> dict:
    env = dict(e.split("=", 1) for e in inputs(run, "media-livekit")["envs"])
    return yaml.safe_load(env["LIVEKIT_CONFIG"])


def test_livekit_listens_behind_the_gateway_for_the_turn_domain(prod):
    turn = livekit_yaml(prod)["turn"]
    assert turn["enabled"] is True
    assert turn["external_tls"] is True, "TLS ends at the gateway: LiveKit must not expect a certificate"
    assert turn["tls_port"] == TURN_PORT
    assert turn["domain"] == TURN_DOMAIN, "LiveKit advertises turns:<domain>:443 with this name"
    assert "cert_file" not in turn and "key_file" not in turn
    assert turn["udp_port"] == 3478, "TURN over UDP stays for everyone else"


def test_the_gateway_routes_the_turn_name_to_livekit_at_the_vms_own_address(prod):
    text = caddyfile(prod)
    assert f"@turn tls sni {TURN_DOMAIN}" in text
    assert f"proxy tcp/{PRIVATE_IP}:{TURN_PORT}" in text
    assert "127.0.0.1:5349" not in text, "never loopback: livekit/deploy updateip.go"
    # The wrapper runs before the HTTPS server's TLS; the order is what keeps HTTPS as it was.
    wrappers = text.split("listener_wrappers {", 1)[1]
    assert wrappers.index("layer4 {") < wrappers.index("\n\t\t\ttls\n")


def test_certificates_are_automated_for_both_names_on_staging_like_the_rest(prod):
    text = caddyfile(prod)
    sites = [line.split(" {")[0] for line in text.splitlines() if line.endswith(" {") and not line.startswith(("\t", "("))]
    assert SSLIP in sites and TURN_DOMAIN in sites, sites
    assert "acme_ca https://acme-staging-v02.api.letsencrypt.org/directory" in text


def test_only_443_is_opened_for_it_in_both_firewalls(prod):
    ingress = []
    for r in prod.monitor.by_type("oci:Core/securityList:SecurityList"):
        ingress += harness.unwrap(r.inputs).get("ingressSecurityRules", [])
    world = port_rules(ingress, source=WORLD)
    assert ("tcp", 443, 443) in world
    assert not [r for r in port_rules(ingress) if r[1] <= TURN_PORT <= r[2]], "5349 must stay closed to everyone"
    instance = harness.unwrap(prod.monitor.by_type("oci:Core/instance:Instance")[0].inputs)
    user_data = yaml.safe_load(base64.b64decode(instance["metadata"]["user_data"]).decode())
    script = {f["path"]: f["content"] for f in user_data["write_files"]}[HOST_FIREWALL_SCRIPT_PATH]
    opened = [parse_firewall_command(line)[:3] for line in script_rule_lines(script)]
    assert not [r for r in opened if r[1] <= TURN_PORT <= r[2]]


def test_the_gateway_image_is_the_pinned_caddy_built_with_layer4_on_the_vm(prod):
    image = inputs(prod, "gateway-caddy-image")
    version = harness.stack_config_as_user_sets_it("prod").get(f"{NS}:gateway", {}).get("version", "2.11.7")
    assert image["name"] == gateway_l4_image(version)
    build = image["build"]
    assert build["context"] == GATEWAY_L4_BUILD_CONTEXT, "relative: the same state text on every checkout"
    assert build["buildArgs"] == {
        "CADDY_RELEASE": version,
        "CADDY_L4_MODULE": "github.com/mholt/caddy-l4",
        "CADDY_L4_VERSION": CADDY_L4_VERSION,
    }
    assert build["platform"] == "linux/arm64"


def test_the_dockerfile_takes_exactly_the_build_args_it_is_given(prod):
    dockerfile = (harness.ROOT / GATEWAY_L4_BUILD_CONTEXT / "Dockerfile").read_text()
    declared = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("ARG ")}
    assert declared == set(inputs(prod, "gateway-caddy-image")["build"]["buildArgs"])
    assert "FROM caddy:${CADDY_RELEASE}-builder-alpine AS builder" in dockerfile
    assert "FROM caddy:${CADDY_RELEASE}-alpine" in dockerfile


def test_clients_get_the_turns_url_on_443(prod):
    assert prod.outputs["turnTlsUrl"] == f"turns:{TURN_DOMAIN}:443?transport=tcp"


def test_dev_keeps_the_official_image_and_no_router():
    dev = harness.evaluate("dev")
    assert "layer4" not in caddyfile(dev)
    assert "build" not in inputs(dev, "gateway-caddy-image")
    assert "turnTlsUrl" not in dev.outputs


def with_turn(stack: str, **turn) -> dict[str, str]:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it(stack))
    media = values.setdefault(f"{NS}:mediaServer", {})
    media["turnTls"] = {**media.get("turnTls", {}), **turn}
    return harness.raw_config(values)


def problems(raw: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return [str(p) for p in caught.value.problems]


def test_refused_on_the_docker_target_saying_why():
    found = problems(with_turn("dev", enabled=True))
    assert any(m.startswith(f"{NS}:mediaServer.turnTls.enabled: got True") and "no public 443" in m for m in found), found


@pytest.mark.parametrize("name", ["meet.example.com", "livekit.meet.example.com"])
def test_refused_when_the_turn_domain_is_the_main_or_media_domain(name):
    raw = with_turn("prod", domain=name)
    raw["domain"] = "meet.example.com"
    found = [m for m in problems(raw) if m.startswith(f"{NS}:mediaServer.turnTls.domain: got '{name}'")]
    assert found and "must differ from domain" in found[0], problems(raw)


def test_a_turn_domain_of_its_own_is_taken():
    raw = with_turn("prod", domain="turn.example.org")
    raw["domain"] = "meet.example.com"
    assert parse_stack_config(raw).media_server.turn_tls.domain == "turn.example.org"


def test_refused_on_a_port_clash_naming_the_key():
    found = problems(with_turn("prod", port=7881))
    assert any(m.startswith(f"{NS}:mediaServer.turnTls.port: got 7881") for m in found), found
    found = problems(with_turn("prod", port=35000))  # inside TURN's relay range
    assert any(m.startswith(f"{NS}:mediaServer.turnTls.port: got 35000") and "turn_relay_range" in m for m in found), found


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_refused_with_a_loopback_upstream(address):
    found = problems(with_turn("prod", upstreamAddress=address))
    assert any(m.startswith(f"{NS}:mediaServer.turnTls.upstreamAddress: got '{address}'") for m in found), found


def host_values(address: str, **turn) -> dict:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    for key, value in harness.on_a_pi():
        values[f"{NS}:{key}"] = copy.deepcopy(value)
    values[f"{NS}:host"]["address"] = address
    # Egress off: a 4 GB Pi has no room for it (config/capacity.py).
    values[f"{NS}:mediaServer"] = {"egress": {"enabled": False}, "turnTls": {"enabled": True, **turn}}
    return values


def on_a_host(address: str, **turn) -> dict[str, str]:
    return harness.raw_config(host_values(address, **turn))


def test_the_host_target_needs_an_address_when_its_host_is_a_name():
    found = problems(on_a_host("pi.home.arpa"))
    assert any(m.startswith(f"{NS}:mediaServer.turnTls.upstreamAddress: got None") and "pi.home.arpa" in m for m in found), found
    assert parse_stack_config(on_a_host("pi.home.arpa", upstreamAddress="192.168.1.20")).media_server.turn_tls.enabled
    assert parse_stack_config(on_a_host("192.168.1.20")).media_server.turn_tls.enabled


def test_the_host_target_proxies_to_the_hosts_address():
    values = host_values("192.168.1.20")
    run = harness.evaluate("dev", values)
    assert "proxy tcp/192.168.1.20:5349" in caddyfile(run)
    assert livekit_yaml(run)["turn"]["domain"] == "turn.mirror.example.com"
