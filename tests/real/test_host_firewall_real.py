"""The rendered host firewall commands, run by real iptables against Oracle's Ubuntu rules.

Each test gets a throwaway network namespace, loads the INPUT/FORWARD/OUTPUT
rules that Oracle's Canonical Ubuntu images ship in /etc/iptables/rules.v4,
runs the commands exactly as cloud-init's runcmd would (via /bin/sh), and
checks both the resulting rule set and real traffic on the namespace's
loopback. Both iptables backends are covered: Ubuntu 24.04 defaults to nft.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from renderers.ports import MediaPorts, PortRule, host_firewall_commands, public_ingress

TIMEOUT_S = 60
INGRESS = public_ingress(MediaPorts())

# Oracle's /etc/iptables/rules.v4 for Ubuntu platform images, as published in
# https://wiki.drake.org.uk/books/linux/page/oracle-cloud-hosting-configuring-default-iptables-on-a-virtual-machine
# and https://github.com/nigel447/github.io/blob/HEAD/content/posts/ubunt-oci.md (22.04 arm64 and amd64).
ORACLE_UBUNTU_RULES_V4 = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:InstanceServices - [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp --sport 123 -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
-A OUTPUT -d 169.254.0.0/16 -j InstanceServices
-A InstanceServices -d 169.254.0.2/32 -p tcp -m owner --uid-owner 0 -m tcp --dport 3260 -m comment --comment "See the Oracle-Provided Images section in the Oracle Cloud Infrastructure documentation for security impact of modifying or removing this rule" -j ACCEPT
-A InstanceServices -d 169.254.2.0/24 -p tcp -m owner --uid-owner 0 -m tcp --dport 3260 -j ACCEPT
-A InstanceServices -d 169.254.4.0/24 -p tcp -m owner --uid-owner 0 -m tcp --dport 3260 -j ACCEPT
-A InstanceServices -d 169.254.5.0/24 -p tcp -m owner --uid-owner 0 -m tcp --dport 3260 -j ACCEPT
-A InstanceServices -d 169.254.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p udp -m udp --dport 53 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p tcp -m tcp --dport 53 -j ACCEPT
-A InstanceServices -d 169.254.0.3/32 -p tcp -m owner --uid-owner 0 -m tcp --dport 80 -j ACCEPT
-A InstanceServices -d 169.254.0.4/32 -p tcp -m tcp --dport 80 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p udp -m udp --dport 67 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p udp -m udp --dport 69 -j ACCEPT
-A InstanceServices -d 169.254.169.254/32 -p udp -m udp --dport 123 -j ACCEPT
-A InstanceServices -d 169.254.0.0/16 -p tcp -m tcp -j REJECT --reject-with tcp-reset
-A InstanceServices -d 169.254.0.0/16 -p udp -m udp -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""

# Loopback traffic is the only traffic these tests may generate, and Oracle's
# `-i lo -j ACCEPT` would let all of it through; without that line loopback
# packets meet the same rules as packets from the internet.
RULES_WITHOUT_LOOPBACK_ACCEPT = ORACLE_UBUNTU_RULES_V4.replace("-A INPUT -i lo -j ACCEPT\n", "")

# Binds a listener on 127.0.0.1 per (protocol, port) and reports whether a
# client got through; run inside the namespace.
PROBE = r"""
import json, socket, sys

def tcp(port):
    with socket.socket() as srv, socket.socket() as cli:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", port))
        srv.listen()
        cli.settimeout(2)
        try:
            cli.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False

def udp(port):
    with socket.socket(type=socket.SOCK_DGRAM) as srv, socket.socket(type=socket.SOCK_DGRAM) as cli:
        srv.bind(("127.0.0.1", port))
        srv.settimeout(0.5)
        cli.sendto(b"x", ("127.0.0.1", port))
        try:
            return srv.recv(1) == b"x"
        except socket.timeout:
            return False

probes = json.loads(sys.argv[1])
print(json.dumps([[proto, port, {"tcp": tcp, "udp": udp}[proto](port)] for proto, port in probes]))
"""

EXPECTED_OPEN = [("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 7881),
                 ("udp", 3478), ("udp", 50000), ("udp", 55555), ("udp", 60000)]  # fmt: skip
EXPECTED_CLOSED = [("tcp", 5432), ("tcp", 6379), ("tcp", 7880), ("tcp", 9000),
                   ("udp", 49999), ("udp", 60001), ("tcp", 50000)]  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise AssertionError(f"{name} not found: install the iptables and iproute2 packages")
    return found


@pytest.fixture(params=["nft", "legacy"])
def iptables_bin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A directory whose `iptables*` run the chosen backend, so the rendered commands pick it up via PATH."""
    multi = _tool(f"xtables-{request.param}-multi")
    bin_dir = tmp_path / f"iptables-{request.param}"
    bin_dir.mkdir()
    for name in ("iptables", "iptables-restore", "iptables-save"):
        (bin_dir / name).symlink_to(multi)
    return bin_dir


@pytest.fixture
def netns() -> Iterator[str]:
    ip = _tool("ip")
    name = f"bs-fw-{uuid.uuid4().hex[:12]}"
    subprocess.run([ip, "netns", "add", name], check=True, timeout=TIMEOUT_S)
    try:
        subprocess.run([ip, "netns", "exec", name, ip, "link", "set", "lo", "up"], check=True, timeout=TIMEOUT_S)
        yield name
    finally:
        subprocess.run([ip, "netns", "delete", name], check=True, timeout=TIMEOUT_S)


class Namespace:
    def __init__(self, name: str, bin_dir: Path) -> None:
        self.name = name
        self.path = f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"

    def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [_tool("ip"), "netns", "exec", self.name, "env", f"PATH={self.path}", *argv],
            input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed ({result.returncode}): {result.stderr}")
        return result

    def sh(self, command: str) -> None:
        # runcmd is a /bin/sh script (dash on Ubuntu): run each line the same way.
        self.run(["/bin/sh", "-c", command])

    def load(self, rules_v4: str) -> None:
        self.run(["iptables-restore"], stdin=rules_v4)

    def rules(self, chain: str | None = None) -> list[str]:
        return self.run(["iptables", "-S", *([chain] if chain else [])]).stdout.splitlines()

    def probe(self, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
        out = self.run([sys.executable, "-c", PROBE, json.dumps(targets)]).stdout
        return {(proto, port): ok for proto, port, ok in json.loads(out)}


@pytest.fixture
def ns(netns: str, iptables_bin: Path) -> Namespace:
    return Namespace(netns, iptables_bin)


def accept_line_for(rule: PortRule, input_rules: list[str]) -> list[int]:
    """Indexes of `-A INPUT` lines that ACCEPT exactly ``rule`` for new connections."""
    ports = str(rule.start) if rule.start == rule.end else f"{rule.start}:{rule.end}"
    hits = []
    for index, line in enumerate(input_rules):
        argv = shlex.split(line)
        if argv[:2] == ["-A", "INPUT"] and argv[-2:] == ["-j", "ACCEPT"]:
            opts = dict(zip(argv[2::2], argv[3::2]))
            if (opts.get("-p"), opts.get("--dport"), opts.get("--state")) == (rule.protocol, ports, "NEW"):
                hits.append(index)
    return hits


def first_reject(input_rules: list[str]) -> int:
    return next(i for i, line in enumerate(input_rules) if line.startswith("-A INPUT") and " -j REJECT" in line)


def assert_each_rule_accepted_once_above_reject(input_rules: list[str], rules: tuple[PortRule, ...]) -> None:
    reject = first_reject(input_rules)
    positions = []
    for rule in rules:
        hits = accept_line_for(rule, input_rules)
        assert len(hits) == 1, f"{rule} should be accepted exactly once, found at {hits} in {input_rules}"
        assert hits[0] < reject, f"{rule} is ACCEPTed below the REJECT:\n" + "\n".join(input_rules)
        positions.append(hits[0])
    assert positions == sorted(positions), "rules should appear in ingress order"


def apply(ns: Namespace, commands: list[str]) -> None:
    for command in commands:
        ns.sh(command)


def test_public_ports_are_accepted_above_oracles_reject(ns: Namespace) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    before = ns.rules()
    commands = host_firewall_commands(INGRESS)

    apply(ns, commands)

    assert_each_rule_accepted_once_above_reject(ns.rules("INPUT"), INGRESS)
    for command in commands:
        check = command.partition(" 2>/dev/null || ")[0]
        ns.sh(check)  # `iptables -C` exits non-zero when the exact rule is missing
    added = [line for line in ns.rules() if line not in before]
    assert len(added) == len(INGRESS)
    assert [line for line in ns.rules() if line in before] == before, "Oracle's own rules must stay as they were"


def test_reapplying_adds_nothing(ns: Namespace) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    commands = host_firewall_commands(INGRESS)
    apply(ns, commands)
    once = ns.rules()

    apply(ns, commands)

    assert ns.rules() == once


def test_without_a_reject_rules_are_appended_in_order(ns: Namespace) -> None:
    apply(ns, host_firewall_commands(INGRESS))
    input_rules = [line for line in ns.rules("INPUT") if line.startswith("-A")]
    assert [accept_line_for(r, input_rules) for r in INGRESS] == [[i] for i in range(len(INGRESS))]


def test_traffic_reaches_public_ports_and_internal_ports_stay_rejected(ns: Namespace) -> None:
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    apply(ns, host_firewall_commands(INGRESS))

    seen = ns.probe(EXPECTED_OPEN + EXPECTED_CLOSED)

    assert {t: seen[t] for t in EXPECTED_OPEN} == {t: True for t in EXPECTED_OPEN}
    assert {t: seen[t] for t in EXPECTED_CLOSED} == {t: False for t in EXPECTED_CLOSED}


def test_before_applying_only_ssh_gets_through(ns: Namespace) -> None:
    # The probe itself can tell open from closed: without our rules the public ports are rejected.
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    seen = ns.probe(EXPECTED_OPEN)
    assert seen == {t: t == ("tcp", 22) for t in EXPECTED_OPEN}


def test_rules_appended_below_the_reject_are_caught(ns: Namespace) -> None:
    # A renderer that appended (-A) instead of inserting must fail these checks.
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    for command in host_firewall_commands(INGRESS):
        check = shlex.split(command.partition(" 2>/dev/null || ")[0])
        ns.run(["iptables", "-A", *check[2:]])

    with pytest.raises(AssertionError, match="below the REJECT"):
        assert_each_rule_accepted_once_above_reject(ns.rules("INPUT"), INGRESS)
    assert ns.probe([("tcp", 443), ("udp", 50000)]) == {("tcp", 443): False, ("udp", 50000): False}
