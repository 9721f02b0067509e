"""TURN/TLS on the real engine: the existing-host target over real SSH, the gateway image built by the engine.

The stack (tests/deploy/turn_tls_stack.py) is the dev stack moved onto this machine as a host, with
mediaServer.turnTls on and its upstream at this machine's first non-loopback address. The gateway's image is
built on the engine from images/gateway-l4/Dockerfile, as the provider builds it on the VM; its FROM images
are this machine's stand-ins (images/caddy-builder: an xcaddy that hands over the caddy-l4 build of
scripts/build-go-servers for exactly the build the Dockerfile asks for). LiveKit is the real livekit-server
v1.13.5. Everything runs with host networking on this machine's own 80 and 443.
"""
from __future__ import annotations

import socket
import ssl

import pytest

from renderers.turn_tls import gateway_l4_image
from tests.deploy import clients, engine_api as api, provider_read, stacks, turn_tls_stack
from tests.real.turn_process import ALLOCATE_ERROR, BINDING_REQUEST, allocate_without_credentials, host_address, stun_request

GATEWAY_CA = "gateway-caddy:/data/caddy/pki/authorities/local/root.crt"


@pytest.fixture(scope="module")
def deployed(sshd, tmp_path_factory):
    assert api.reachable(), "no Docker engine answers: run scripts/install-deploy-tools (as root)"
    port, key, known_hosts = sshd
    # The fixture's sshd's own key, from its known_hosts line "[127.0.0.1]:<port> <type> <base64>".
    host_key = " ".join(known_hosts.read_text().split()[1:3])
    values = turn_tls_stack.values(ssh_port=port, key_file=str(key), upstream_address=host_address(), host_key=host_key)
    stacks.remove_leftovers(turn_tls_stack.STACK, values)
    deployment = stacks.deploy(turn_tls_stack.STACK, values, ssh_known_hosts=str(known_hosts))
    ca = tmp_path_factory.mktemp("turn-ca") / "root.crt"
    stacks.docker("cp", GATEWAY_CA, str(ca))
    state = {"deployment": deployment, "values": values, "ca": ca}
    yield state
    state["deployment"].destroy()
    stacks.remove_leftovers(turn_tls_stack.STACK, values)


def tls(ca, server_name: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca))
    return context.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=10), server_hostname=server_name)


def test_the_gateway_runs_the_image_the_engine_built_with_layer4(deployed):
    gateway = next(c for c in deployed["deployment"].containers() if c.name == "gateway-caddy")
    info = api.inspect_container(gateway.id)
    assert info["Config"]["Image"] == api.image_id(gateway_l4_image("2.11.7")), info["Config"]["Image"]
    assert info["State"]["Health"]["Status"] == "healthy"
    modules = stacks.docker("exec", "gateway-caddy", "caddy", "list-modules").stdout.split()
    assert "layer4" in modules
    disagreements = provider_read.second_up_disagreements(deployed["deployment"].containers())
    assert not disagreements, "\n".join(disagreements)


def test_livekit_answers_turn_over_tls_on_the_hosts_443(deployed):
    sock = tls(deployed["ca"], turn_tls_stack.TURN_DOMAIN)
    kind, code, realm = allocate_without_credentials(sock)
    sock.close()
    assert (kind, code, realm) == (ALLOCATE_ERROR, 401, "livekit")
    assert deployed["deployment"].outputs["turnTlsUrl"] == f"turns:{turn_tls_stack.TURN_DOMAIN}:443?transport=tcp"


def test_https_and_livekit_signalling_share_the_port(deployed):
    outputs = deployed["deployment"].outputs
    code, body = clients.https_get(outputs["healthUrl"], deployed["ca"])
    assert (code, body.strip()) == (200, "OK")
    # The media site proxies to LiveKit's signal port: its root answers "OK" (livekit_healthcheck).
    code, body = clients.https_get(outputs["livekitUrl"].replace("wss://", "https://") + "/", deployed["ca"])
    assert (code, body.strip()) == (200, "OK")
    sock = tls(deployed["ca"], "localhost")
    request, _ = stun_request(BINDING_REQUEST)
    sock.sendall(request + b"\r\n\r\n")
    assert sock.recv(4) == b"HTTP", "the main name is HTTPS, never TURN"
    sock.close()


def test_a_second_up_keeps_the_built_image_and_the_gateway(deployed):
    before = deployed["deployment"]
    after = stacks.deploy(turn_tls_stack.STACK, deployed["values"], previous=before)
    deployed["deployment"] = after
    assert after.mocks.operations[("docker:index/remoteImage:RemoteImage", "gateway-caddy-image")] == "same"
    assert after.mocks.operations[("docker:index/container:Container", "gateway-caddy")] == "same"
