"""The existing host's opt-in firewall (host.firewall.enabled): the VM's chain script, closing, under real iptables.

A throwaway "host" namespace with a stock Debian/Raspberry Pi OS table (INPUT policy ACCEPT, no rules) and
a "LAN" namespace joined to it by a veth pair: traffic arrives on a real non-loopback interface, as from
another machine on the LAN. Servers on every address in the host, clients in the LAN; both iptables
backends; the script runs under dash and bash, as `pulumi up` and the boot unit run it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.host_firewall import host_firewall_install_command, host_firewall_remove_command, host_firewall_script
from renderers.ports import HOST_FIREWALL_CHAIN, MediaPorts, existing_host_ingress
from tests.real.test_host_firewall_real import TIMEOUT_S, Namespace, _tool, iptables_bin, netns  # noqa: F401 (fixtures)

HOST_IP, LAN_IP = "192.0.2.1", "192.0.2.2"
INGRESS = existing_host_ingress(MediaPorts(), ssh_port=2222, mdns=True)
PUBLIC_TCP = [2222, 80, 443, 7881]
PUBLIC_UDP = [5353, 3478, 30000, 50000, 60000]
# The internal services (PostgreSQL, PgBouncer, Redis, LiveKit's signal, versitygw, ClickHouse, InfluxDB), the
# listeners that cannot bind loopback (Egress's health, InfluxDB's setup, TURN/TLS's plain TCP), an app, port 22.
CLOSED_TCP = [5432, 6432, 6379, 7880, 9000, 8123, 9004, 8086, 9090, 9999, 5349, 8000, 22]
CLOSED_UDP = [5354, 29999, 60001]

SERVE = r"""
import socket, sys, time
socks = []
for spec in sys.argv[1].split(","):
    proto, port = spec.split("/")
    s = socket.socket(type=socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    if proto == "tcp":
        s.listen()
    else:
        s.setblocking(False)
    socks.append((proto, int(port), s))
print("ready", flush=True)
seen = set()
deadline = time.time() + 20
while time.time() < deadline:
    for proto, port, s in socks:
        if proto == "udp":
            try:
                s.recv(16)
                if port not in seen:
                    seen.add(port)
                    print(port, flush=True)
            except BlockingIOError:
                pass
    time.sleep(0.01)
"""

PROBE = r"""
import json, socket, sys
host, targets = sys.argv[1], json.loads(sys.argv[2])
out = []
for proto, port in targets:
    if proto == "tcp":
        c = socket.socket()
        c.settimeout(1.5)
        try:
            c.connect((host, port))
            out.append([proto, port, True])
        except OSError:
            out.append([proto, port, False])
        c.close()
    else:
        c = socket.socket(type=socket.SOCK_DGRAM)
        for _ in range(3):
            c.sendto(b"x", (host, port))
        out.append([proto, port, None])
print(json.dumps(out))
"""


@pytest.fixture
def lan(netns: str) -> Iterator[str]:
    """A second namespace, veth-joined to the host namespace: HOST_IP there, LAN_IP here."""
    ip = _tool("ip")
    name = f"bs-lan-{uuid.uuid4().hex[:12]}"
    subprocess.run([ip, "netns", "add", name], check=True, timeout=TIMEOUT_S)
    try:
        veth = f"v{uuid.uuid4().hex[:8]}"
        for argv in (
            [ip, "netns", "exec", netns, ip, "link", "add", veth, "type", "veth", "peer", "name", "lan0", "netns", name],
            [ip, "netns", "exec", netns, ip, "addr", "add", f"{HOST_IP}/24", "dev", veth],
            [ip, "netns", "exec", netns, ip, "link", "set", veth, "up"],
            [ip, "netns", "exec", name, ip, "addr", "add", f"{LAN_IP}/24", "dev", "lan0"],
            [ip, "netns", "exec", name, ip, "link", "set", "lan0", "up"],
            [ip, "netns", "exec", name, ip, "link", "set", "lo", "up"],
        ):
            subprocess.run(argv, check=True, timeout=TIMEOUT_S)
        yield name
    finally:
        subprocess.run([ip, "netns", "delete", name], check=True, timeout=TIMEOUT_S)


@pytest.fixture
def host(netns: str, iptables_bin: Path, tmp_path: Path) -> Namespace:
    return Namespace(netns, iptables_bin, tmp_path)


def reachable_from(
    lan: str, host: Namespace, tcp: list[int], udp: list[int], at: str = HOST_IP
) -> dict[tuple[str, int], bool]:
    """Which ports a client in namespace ``lan`` reaches at ``at``, servers listening on every address in ``host``."""
    specs = ",".join([*(f"tcp/{p}" for p in tcp), *(f"udp/{p}" for p in udp)])
    server = subprocess.Popen(
        [_tool("ip"), "netns", "exec", host.name, sys.executable, "-c", SERVE, specs],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout.readline().strip() == "ready"
        targets = [["tcp", p] for p in tcp] + [["udp", p] for p in udp]
        out = subprocess.run(
            [_tool("ip"), "netns", "exec", lan, sys.executable, "-c", PROBE, at, json.dumps(targets)],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
        time.sleep(0.5)
    finally:
        server.terminate()
    got_udp = {int(line) for line in server.communicate(timeout=TIMEOUT_S)[0].split()}
    return {(proto, port): (ok if proto == "tcp" else port in got_udp) for proto, port, ok in json.loads(out)}


def test_without_the_firewall_the_lan_reaches_every_port(host: Namespace, lan: str) -> None:
    """The probe can tell: on a stock table everything listening on every address answers the LAN."""
    seen = reachable_from(lan, host, PUBLIC_TCP + CLOSED_TCP, PUBLIC_UDP + CLOSED_UDP)
    assert all(seen.values()), seen


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_the_lan_reaches_exactly_ssh_the_gateway_and_media(host: Namespace, lan: str, shell: str) -> None:
    script = host.work / "firewall"
    script.write_text(host_firewall_script(INGRESS, closing=True))
    host.run([f"/bin/{shell}", str(script)])

    seen = reachable_from(lan, host, PUBLIC_TCP + CLOSED_TCP, PUBLIC_UDP + CLOSED_UDP)

    expected = {("tcp", p): p in PUBLIC_TCP for p in PUBLIC_TCP + CLOSED_TCP}
    expected |= {("udp", p): p in PUBLIC_UDP for p in PUBLIC_UDP + CLOSED_UDP}
    assert seen == expected
    # The host itself still reaches its own services, at 127.0.0.1 and at its own LAN address (the gateway's
    # TURN/TLS upstream): both arrive on lo.
    for address in ("127.0.0.1", HOST_IP):
        assert all(reachable_from(host.name, host, [5432, 5349], [], at=address).values()), address
    assert host.rules("INPUT") == ["-P INPUT ACCEPT", f"-A INPUT -j {HOST_FIREWALL_CHAIN}"]


def test_rerunning_changes_nothing_and_turning_it_off_restores_the_host(host: Namespace, lan: str, tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    systemctl_log = tmp_path / "systemctl.log"
    (fakes / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (fakes / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{systemctl_log}\n')
    (fakes / "rm").write_text(f'#!/bin/sh\necho "rm $*" >>{systemctl_log}\n')  # the real files are the host's, not ours
    for fake in fakes.iterdir():
        fake.chmod(0o755)
    script = host.work / "firewall"
    script.write_text(host_firewall_script(INGRESS, closing=True))
    host.run(["/bin/sh", str(script)])
    first = host.rules()
    host.run(["/bin/sh", str(script)])
    assert host.rules() == first

    host.path = f"{fakes}:{host.path}"
    remove = tmp_path / "remove.sh"
    remove.write_text(host_firewall_remove_command())
    host.run(["/bin/sh", str(remove)])
    host.run(["/bin/sh", str(remove)])  # a second run (a retried delete) succeeds too

    assert host.rules() == ["-P INPUT ACCEPT", "-P FORWARD ACCEPT", "-P OUTPUT ACCEPT"]
    assert systemctl_log.read_text().splitlines()[:3] == [
        "disable backing-services-firewall.service",
        "rm -f /etc/systemd/system/backing-services-firewall.service /usr/local/sbin/backing-services-firewall",
        "daemon-reload",
    ]
    seen = reachable_from(lan, host, [5432, 2222], [29999])
    assert all(seen.values()), seen


def test_the_install_command_carries_the_closing_script() -> None:
    command = host_firewall_install_command(INGRESS, closing=True)
    assert command != host_firewall_install_command(INGRESS)
    assert "-j REJECT --reject-with tcp-reset" in host_firewall_script(INGRESS, closing=True)
    assert "REJECT" not in host_firewall_script(INGRESS).split("COMMIT", 1)[0]  # the VM's stays as it was
