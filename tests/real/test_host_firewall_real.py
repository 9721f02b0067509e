"""The rendered host firewall script, run by real iptables against Oracle's Ubuntu rules.

Each test gets a throwaway network namespace, loads the INPUT/FORWARD/OUTPUT
rules that Oracle's Canonical Ubuntu images ship in /etc/iptables/rules.v4,
runs the script as cloud-init, the boot unit and `pulumi up` would (via
/bin/sh, i.e. dash; bash too where it matters), and checks both the resulting
rule set and real traffic on the namespace's loopback. Both iptables backends
are covered: Ubuntu 24.04 defaults to nft.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from renderers.host_firewall import (
    HOST_FIREWALL_SCRIPT_PATH,
    HOST_FIREWALL_UNIT_NAME,
    HOST_FIREWALL_UNIT_PATH,
    host_firewall_install_command,
    host_firewall_script,
    host_firewall_unit,
)
from renderers.ports import HOST_FIREWALL_CHAIN, OWNED_COMMENTS, MediaPorts, PortRule, public_ingress
from tests.renderers.test_ports import parse_firewall_command, restore_tokens

TIMEOUT_S = 60
INGRESS = public_ingress(MediaPorts())
# A media port change as a user would make it: ICE/TCP and the UDP range move, TURN is switched off.
MOVED_INGRESS = public_ingress(MediaPorts(tcp_port=7891, udp_range_start=41000, udp_range_end=45000, turn_udp_port=None))
JUMP = f"-A INPUT -j {HOST_FIREWALL_CHAIN}"

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


EXPECTED_OPEN = [("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 7881), ("udp", 3478),
                 ("udp", 30000), ("udp", 40000), ("udp", 50000), ("udp", 55555), ("udp", 60000)]  # fmt: skip
EXPECTED_CLOSED = [("tcp", 5432), ("tcp", 6379), ("tcp", 7880), ("tcp", 9000), ("udp", 29999),
                   ("udp", 40001), ("udp", 49999), ("udp", 60001), ("tcp", 50000)]  # fmt: skip
# TURN off: its port and its relay range close with it.
MOVED_OPEN = [("tcp", 22), ("tcp", 80), ("tcp", 443), ("tcp", 7891),
              ("udp", 41000), ("udp", 42424), ("udp", 45000)]  # fmt: skip
MOVED_CLOSED = [("tcp", 7881), ("udp", 3478), ("udp", 30000), ("udp", 40000), ("udp", 50000), ("udp", 55555),
                ("udp", 60000), ("udp", 40999), ("udp", 45001), ("tcp", 7880), ("tcp", 5432)]  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise AssertionError(f"{name} not found: install the iptables, iproute2, util-linux, dash, bash and systemd packages")
    return found


@pytest.fixture(params=["nft", "legacy"])
def iptables_bin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A directory whose `iptables*` run the chosen backend, so the script picks it up via PATH."""
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
    def __init__(self, name: str, bin_dir: Path, work: Path) -> None:
        self.name = name
        self.path = f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"
        self.work = work

    def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [_tool("ip"), "netns", "exec", self.name, "env", f"PATH={self.path}", *argv],
            input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed ({result.returncode}): {result.stderr}")
        return result

    def sh(self, command: str) -> None:
        self.run(["/bin/sh", "-c", command])

    def converge(self, rules: Sequence[PortRule], shell: str = "/bin/sh") -> None:
        """Run the rendered script from a file, as the boot unit and `pulumi up` do."""
        script = self.work / f"firewall-{uuid.uuid4().hex[:8]}"
        script.write_text(host_firewall_script(rules))
        self.run([shell, str(script)])

    def load(self, rules_v4: str) -> None:
        self.run(["iptables-restore"], stdin=rules_v4)

    def save(self) -> str:
        return self.run(["iptables", "-S"]).stdout

    def rules(self, chain: str | None = None) -> list[str]:
        return self.run(["iptables", "-S", *([chain] if chain else [])]).stdout.splitlines()

    def probe(self, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
        out = self.run([sys.executable, "-c", PROBE, json.dumps(targets)]).stdout
        return {(proto, port): ok for proto, port, ok in json.loads(out)}


@pytest.fixture
def ns(netns: str, iptables_bin: Path, tmp_path: Path) -> Namespace:
    return Namespace(netns, iptables_bin, tmp_path)


def chain_accepts(ns: Namespace) -> list[tuple[str, int, int, str]]:
    """(protocol, first, last, comment) of each rule in our chain, in order, as iptables reports them."""
    lines = ns.rules(HOST_FIREWALL_CHAIN)
    assert lines[0] == f"-N {HOST_FIREWALL_CHAIN}", lines
    return [parse_firewall_command(line) for line in lines[1:]]


def expected(rules: Sequence[PortRule]) -> list[tuple[str, int, int, str]]:
    return [(r.protocol, r.start, r.end, r.purpose) for r in rules]


def input_accepts_with_ports(input_rules: list[str]) -> list[str]:
    """INPUT lines that ACCEPT by destination port: after the script, only Oracle's SSH rule may."""
    return [line for line in input_rules if line.startswith("-A INPUT") and "--dport" in line and line.endswith("-j ACCEPT")]


def owned_comment_lines(input_rules: list[str]) -> list[str]:
    found = []
    for line in input_rules:
        argv = restore_tokens(line)
        if "--comment" in argv and argv[argv.index("--comment") + 1] in OWNED_COMMENTS:
            found.append(line)
    return found


def first_reject(input_rules: list[str]) -> int:
    return next(i for i, line in enumerate(input_rules) if line.startswith("-A INPUT") and " -j REJECT" in line)


def assert_one_jump_above_reject(input_rules: list[str]) -> None:
    jumps = [i for i, line in enumerate(input_rules) if line == JUMP]
    assert len(jumps) == 1, f"expected exactly one `{JUMP}`, found {len(jumps)}:\n" + "\n".join(input_rules)
    assert jumps[0] < first_reject(input_rules), "the jump is below the REJECT:\n" + "\n".join(input_rules)


def assert_converged(ns: Namespace, rules: Sequence[PortRule]) -> None:
    assert chain_accepts(ns) == expected(rules)
    input_rules = ns.rules("INPUT")
    assert_one_jump_above_reject(input_rules)
    assert owned_comment_lines(input_rules) == []
    assert input_accepts_with_ports(input_rules) == ["-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT"]


def release_db6fe82_commands(rules: Sequence[PortRule]) -> list[str]:
    """host_firewall_commands as released up to db6fe82, which ran from runcmd and was then saved
    into rules.v4. Frozen here: upgraded VMs carry exactly what it inserted."""
    at = (
        "\"$(iptables -S INPUT | awk '$1 == \"-A\" {n++} $1 == \"-A\" && / -j REJECT/ && !at {at = n} "
        "END {print at ? at : n + 1}')\""
    )
    commands = []
    for rule in rules:
        ports = str(rule.start) if rule.start == rule.end else f"{rule.start}:{rule.end}"
        spec = shlex.join(["-p", rule.protocol, "-m", "state", "--state", "NEW", "-m", rule.protocol, "--dport", ports,
                           "-m", "comment", "--comment", rule.purpose, "-j", "ACCEPT"])  # fmt: skip
        commands.append(f"iptables -C INPUT {spec} 2>/dev/null || iptables -I INPUT {at} {spec}")
    return commands


def oracle_lines_kept_in_order(before: list[str], after: list[str]) -> bool:
    return [line for line in after if line in before] == before


# --- the default ingress ----------------------------------------------------------------------


def test_default_ingress_is_accepted_exactly_and_oracles_rules_stay(ns: Namespace) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    before = ns.rules()

    ns.converge(INGRESS)

    assert_converged(ns, INGRESS)
    after = ns.rules()
    assert oracle_lines_kept_in_order(before, after), "Oracle's own rules must stay as they were"
    added = [line for line in after if line not in before]
    assert sorted(added) == sorted([JUMP, *ns.rules(HOST_FIREWALL_CHAIN)])


def test_traffic_reaches_exactly_the_public_ports(ns: Namespace) -> None:
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    ns.converge(INGRESS)

    seen = ns.probe(EXPECTED_OPEN + EXPECTED_CLOSED)

    assert {t: seen[t] for t in EXPECTED_OPEN} == {t: True for t in EXPECTED_OPEN}
    assert {t: seen[t] for t in EXPECTED_CLOSED} == {t: False for t in EXPECTED_CLOSED}


def test_before_the_script_only_ssh_gets_through(ns: Namespace) -> None:
    # The probe itself can tell open from closed: without the script the public ports are rejected.
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    seen = ns.probe(EXPECTED_OPEN)
    assert seen == {t: t == ("tcp", 22) for t in EXPECTED_OPEN}


def test_without_a_reject_the_jump_is_appended(ns: Namespace) -> None:
    ns.converge(INGRESS)
    assert ns.rules("INPUT") == ["-P INPUT ACCEPT", JUMP]
    assert chain_accepts(ns) == expected(INGRESS)


# --- later `pulumi up`s -----------------------------------------------------------------------


def test_a_moved_media_port_closes_the_old_port_and_opens_the_new(ns: Namespace) -> None:
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    ns.converge(INGRESS)
    assert ns.probe([("tcp", 7881), ("tcp", 7891), ("udp", 50000), ("udp", 41000)]) == {
        ("tcp", 7881): True, ("tcp", 7891): False, ("udp", 50000): True, ("udp", 41000): False,
    }  # fmt: skip

    ns.converge(MOVED_INGRESS)

    seen = ns.probe(MOVED_OPEN + MOVED_CLOSED)
    assert {t: seen[t] for t in MOVED_OPEN} == {t: True for t in MOVED_OPEN}
    assert {t: seen[t] for t in MOVED_CLOSED} == {t: False for t in MOVED_CLOSED}
    assert_converged(ns, MOVED_INGRESS)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_rerunning_changes_nothing(ns: Namespace, shell: str) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    ns.converge(INGRESS, shell=_tool(shell))
    once = ns.save()

    ns.converge(INGRESS, shell=_tool(shell))

    assert ns.save() == once
    assert_one_jump_above_reject(ns.rules("INPUT"))


def test_a_jump_below_the_reject_or_a_duplicate_is_replaced_by_one_above_it(ns: Namespace) -> None:
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    ns.converge(INGRESS)
    # As if someone had appended the jump by hand, twice: below the REJECT it never sees a packet.
    ns.run(["iptables", "-D", "INPUT", "-j", HOST_FIREWALL_CHAIN])
    ns.run(["iptables", "-A", "INPUT", "-j", HOST_FIREWALL_CHAIN])
    ns.run(["iptables", "-A", "INPUT", "-j", HOST_FIREWALL_CHAIN])
    with pytest.raises(AssertionError, match="exactly one"):
        assert_one_jump_above_reject(ns.rules("INPUT"))
    assert ns.probe([("tcp", 443)]) == {("tcp", 443): False}

    ns.converge(INGRESS)

    assert_converged(ns, INGRESS)
    assert ns.probe([("tcp", 443)]) == {("tcp", 443): True}


# --- VMs set up by earlier releases -----------------------------------------------------------


def test_per_port_input_accepts_of_earlier_releases_are_removed(ns: Namespace) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    oracle = ns.rules()
    for command in release_db6fe82_commands(INGRESS):
        ns.sh(command)
    assert len(owned_comment_lines(ns.rules("INPUT"))) == len(INGRESS), "the old layout should be in place"

    ns.converge(INGRESS)

    assert_converged(ns, INGRESS)
    assert "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT" in ns.rules("INPUT")
    assert oracle_lines_kept_in_order(oracle, ns.rules())


def test_upgrading_with_a_port_change_closes_the_port_the_old_release_opened(ns: Namespace) -> None:
    # The old release's INPUT ACCEPT for 7881 would keep it open whatever the chain says.
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    for command in release_db6fe82_commands(INGRESS):
        ns.sh(command)

    ns.converge(MOVED_INGRESS)

    seen = ns.probe(MOVED_OPEN + MOVED_CLOSED)
    assert {t: seen[t] for t in MOVED_OPEN} == {t: True for t in MOVED_OPEN}
    assert {t: seen[t] for t in MOVED_CLOSED} == {t: False for t in MOVED_CLOSED}


def test_rules_with_other_comments_are_left_alone(ns: Namespace) -> None:
    ns.load(ORACLE_UBUNTU_RULES_V4)
    foreign = [
        ["-p", "tcp", "-m", "tcp", "--dport", "8080", "-m", "comment", "--comment", "operator: metrics", "-j", "ACCEPT"],
        ["-p", "tcp", "-m", "tcp", "--dport", "8081", "-m", "comment", "--comment", "LiveKit ICE over TCP (manual)", "-j", "ACCEPT"],
        ["-p", "tcp", "-m", "tcp", "--dport", "8082", "-m", "comment", "--comment", "ssh-backup", "-j", "ACCEPT"],
        ["-p", "tcp", "-m", "tcp", "--dport", "8083", "-j", "ACCEPT"],
    ]  # fmt: skip
    for spec in foreign:
        ns.run(["iptables", "-I", "INPUT", "5", *spec])
    before = ns.rules()

    ns.converge(INGRESS)

    assert oracle_lines_kept_in_order(before, ns.rules())
    assert chain_accepts(ns) == expected(INGRESS)


# --- `pulumi up` over SSH, and the boot unit --------------------------------------------------

# Runs the install command(s) given as files inside a private mount namespace, with tmpfs over the
# two directories it writes, and copies what it installed to $1 after each. Each file runs under
# the shell its extension names (install-1.sh under sh, install-2.bash under bash). sudo and
# systemctl are stand-ins on PATH: the namespace has no systemd, and the test already runs as root.
INSTALL_HARNESS = r"""
set -eu
out=$1; shift
mount -t tmpfs tmpfs /usr/local/sbin
mount -t tmpfs tmpfs /etc/systemd/system
i=0
for command in "$@"; do
  i=$((i + 1))
  "${command##*.}" "$command"
  for f in "$SCRIPT_PATH" "$UNIT_PATH"; do
    cp "$f" "$out/$i-${f##*/}"
    stat -c '%a %U:%G' "$f" >"$out/$i-${f##*/}.mode"
  done
done
"""


def test_install_command_installs_enables_and_converges(ns: Namespace, tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    systemctl_log = tmp_path / "systemctl.log"
    (fakes / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (fakes / "systemctl").write_text(f'#!/bin/sh\necho "$*" >>{systemctl_log}\n')
    for fake in fakes.iterdir():
        fake.chmod(0o755)
    ns.path = f"{fakes}:{ns.path}"
    ns.load(RULES_WITHOUT_LOOPBACK_ACCEPT)
    # The first `pulumi up` with the defaults (under dash), then one after a port change (bash, the SSH login shell).
    first, second = tmp_path / "install-1.sh", tmp_path / "install-2.bash"
    first.write_text(host_firewall_install_command(INGRESS))
    second.write_text(host_firewall_install_command(MOVED_INGRESS))
    out = tmp_path / "installed"
    out.mkdir()

    ns.run([
        "env", f"SCRIPT_PATH={HOST_FIREWALL_SCRIPT_PATH}", f"UNIT_PATH={HOST_FIREWALL_UNIT_PATH}",
        _tool("unshare"), "--mount", "--propagation", "private",
        "/bin/sh", "-c", INSTALL_HARNESS, "sh", str(out), str(first), str(second),
    ])  # fmt: skip

    script_name, unit_name = Path(HOST_FIREWALL_SCRIPT_PATH).name, HOST_FIREWALL_UNIT_NAME
    assert (out / f"1-{script_name}").read_text() == host_firewall_script(INGRESS)
    assert (out / f"2-{script_name}").read_text() == host_firewall_script(MOVED_INGRESS)
    assert (out / f"2-{unit_name}").read_text() == host_firewall_unit()
    assert (out / f"2-{script_name}.mode").read_text() == "755 root:root\n"
    assert (out / f"2-{unit_name}.mode").read_text() == "644 root:root\n"
    assert systemctl_log.read_text().splitlines() == ["daemon-reload", f"enable {unit_name}"] * 2
    assert_converged(ns, MOVED_INGRESS)
    seen = ns.probe(MOVED_OPEN + MOVED_CLOSED)
    assert seen == {**{t: True for t in MOVED_OPEN}, **{t: False for t in MOVED_CLOSED}}


def unit_problems(unit: str, tmp_path: Path, *, script_installed: bool = True) -> list[str]:
    """What `systemd-analyze verify` reports about ``unit``; it exits 0 even on unknown keys, so its output counts too."""
    unit_file = tmp_path / HOST_FIREWALL_UNIT_NAME
    unit_file.write_text(unit)
    # verify checks that ExecStart= is executable: put the script in place, in a private mount namespace.
    install = f'install -m 0755 /dev/null "{HOST_FIREWALL_SCRIPT_PATH}" && ' if script_installed else ""
    result = subprocess.run(
        [_tool("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c",
         f'mount -t tmpfs tmpfs "{Path(HOST_FIREWALL_SCRIPT_PATH).parent}" && {install}exec "$0" verify "$1"',
         _tool("systemd-analyze"), str(unit_file)],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    problems = (result.stdout + result.stderr).replace(str(tmp_path), "<tmp>").splitlines()
    if result.returncode != 0:
        problems.append(f"exit {result.returncode}")
    return problems


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert unit_problems(host_firewall_unit(), tmp_path) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda u: u.replace("Before=", "Befor="), "Unknown key"),
        (lambda u: u.replace("Type=oneshot", "Type=one-shot"), "service type"),
        (lambda u: u, "not executable"),
    ],
    ids=["misspelled-key", "bad-type", "script-missing"],
)
def test_verify_catches_broken_units(tmp_path: Path, breakage, expected: str) -> None:
    # Without this, an empty problem list could just mean the checker never looks.
    problems = unit_problems(breakage(host_firewall_unit()), tmp_path, script_installed=expected != "not executable")
    assert any(expected in p for p in problems), problems
