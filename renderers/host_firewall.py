"""The VM's host firewall (iptables) as one script that converges it to the stack's port list.

cloud-init runs the script once at first boot; cloud-init user data is ignored after that, so
every `pulumi up` installs and runs the same script over SSH (``host_firewall_install_command``),
and a systemd unit runs it at every boot. A port changed or removed in the config is therefore
opened or closed on the VM as it is in the OCI security list.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence

from renderers.ports import HOST_FIREWALL_CHAIN, OWNED_COMMENTS, PortRule, host_firewall_chain_lines

HOST_FIREWALL_SCRIPT_PATH = "/usr/local/sbin/backing-services-firewall"
HOST_FIREWALL_UNIT_NAME = "backing-services-firewall.service"
HOST_FIREWALL_UNIT_PATH = f"/etc/systemd/system/{HOST_FIREWALL_UNIT_NAME}"

# Heredoc terminators for base64 text: '-' is outside the base64 alphabet, so no encoded line can end the heredoc early.
_SCRIPT_END = "SCRIPT-BASE64-END"
_UNIT_END = "UNIT-BASE64-END"

_SCRIPT_HEAD = f"""\
#!/bin/sh
# Written by backing-services (renderers/host_firewall.py); every `pulumi up` overwrites it.
# Converges the IPv4 host firewall to exactly the stack's public ports. Safe to run any number
# of times: a second run leaves `iptables -S` unchanged. Runs under dash (/bin/sh) and bash.
#
# No `netfilter-persistent save`: once Docker runs, that would write Docker's chains into
# /etc/iptables/rules.v4. {HOST_FIREWALL_UNIT_NAME} runs this script at every boot instead.
set -eu
chain={HOST_FIREWALL_CHAIN}

# 1. Every ACCEPT lives in $chain, rebuilt from scratch so a removed port disappears. In an
#    iptables-restore --noflush document, declaring a chain creates it if missing and -F empties
#    it (iptables 1.8 also flushes on the declaration; -F does not rely on that). The document is
#    one commit on the nft and legacy backends alike: a port change never leaves the chain empty
#    for a moment, and the rest of the table (Oracle's rules, Docker's chains) is left alone.
iptables-restore -w --noflush <<'RULES'
*filter
:{HOST_FIREWALL_CHAIN} - [0:0]
-F {HOST_FIREWALL_CHAIN}
"""

# Braces are awk's, hence no f-string below.
_SCRIPT_TAIL = """\
COMMIT
RULES

# 2. Exactly one jump from INPUT, above the first REJECT. Oracle's Ubuntu images end INPUT with
#    `-j REJECT --reject-with icmp-host-prohibited` (from /etc/iptables/rules.v4, restored at boot
#    by netfilter-persistent), and a jump below it would never see a packet. Its position is read
#    at run time because the image's rule count is not ours to hard-code. A jump already in place
#    is left alone, so a re-run changes nothing; several jumps, or one below the REJECT, are
#    replaced by one above it.
input=$(iptables -w -S INPUT)
verdict=$(printf '%s\\n' "$input" | awk -v jump="-A INPUT -j $chain" '
  $1 != "-A" { next }
  { n++ }
  / -j REJECT/ && !reject { reject = n }
  $0 == jump { jumps++; if (!at) at = n }
  END { if (jumps == 1 && (!reject || at < reject)) print "keep"; else print jumps + 0 }')
if [ "$verdict" != keep ]; then
  while [ "$verdict" -gt 0 ]; do
    iptables -w -D INPUT -j "$chain"
    verdict=$((verdict - 1))
  done
  input=$(iptables -w -S INPUT)
  # With no REJECT, one past the last rule, i.e. an append.
  position=$(printf '%s\\n' "$input" | awk '
    $1 == "-A" { n++ }
    $1 == "-A" && / -j REJECT/ && !at { at = n }
    END { print at ? at : n + 1 }')
  iptables -w -I INPUT "$position" -j "$chain"
fi

# 3. Releases before $chain inserted one ACCEPT per port straight into INPUT and saved them in
#    /etc/iptables/rules.v4, so netfilter-persistent restores them at every boot, ports since
#    changed included. Delete them on every run, after the jump is in place so a port that stays
#    public never closes. Only ACCEPTs whose comment is one this program writes go; Oracle's own
#    rules (SSH on 22, ICMP, ...) carry none of these comments. `iptables -S` quotes a comment
#    only when it has characters beyond [A-Za-z0-9_-], hence both forms.
while :; do
  input=$(iptables -w -S INPUT)
  number=$(printf '%s\\n' "$input" | awk '
    BEGIN {
@OWNED@
    }
    $1 == "-A" { n++ }
    $1 == "-A" && / -j ACCEPT$/ && match($0, / --comment ("[^"]*"|[^ ]+)/) {
      comment = substr($0, RSTART + 11, RLENGTH - 11)
      gsub(/"/, "", comment)
      if (comment in owned) { print n; exit }
    }')
  [ -n "$number" ] || break
  iptables -w -D INPUT "$number"
done
"""


def _owned_comments_awk() -> str:
    # Each comment sits in an awk string inside a single-quoted sh word: ports.py refuses
    # quotes and backslashes in comments, and tests/renderers/test_ports.py checks these.
    return "\n".join(f'      owned["{comment}"] = 1' for comment in sorted(OWNED_COMMENTS))


# A machine the team already has (the existing-host target) has no REJECT of its own to sit above:
# Raspberry Pi OS and Debian boot with INPUT's policy ACCEPT and no rules. There the chain itself
# closes the host: loopback, replies to the host's own connections (DHCP renewals, DNS, apt) and ICMP
# pass first, then the stack's ports, and everything else is refused at the chain's end. Rebuilt in
# the same one-commit document as the ACCEPTs, so a re-run never leaves the host open or shut for a
# moment, and the SSH session running it is a reply (ESTABLISHED) all along.
CLOSING_HEAD = (
    f"-A {HOST_FIREWALL_CHAIN} -i lo -j ACCEPT",
    f"-A {HOST_FIREWALL_CHAIN} -m state --state RELATED,ESTABLISHED -j ACCEPT",
    f"-A {HOST_FIREWALL_CHAIN} -p icmp -j ACCEPT",
)
CLOSING_TAIL = (
    f"-A {HOST_FIREWALL_CHAIN} -p tcp -j REJECT --reject-with tcp-reset",
    f"-A {HOST_FIREWALL_CHAIN} -j REJECT --reject-with icmp-port-unreachable",
)


def host_firewall_script(rules: Sequence[PortRule], *, closing: bool = False) -> str:
    """POSIX sh script, run as root, that leaves the host firewall accepting exactly ``rules``.

    The ACCEPTs go into ``HOST_FIREWALL_CHAIN``, one per rule, in order; INPUT gets one jump to
    it above its first REJECT; ACCEPTs that older releases put straight into INPUT are deleted.
    ``closing`` (the existing host) wraps the ACCEPTs in CLOSING_HEAD and CLOSING_TAIL, so the chain
    refuses every other port itself.
    """
    lines = host_firewall_chain_lines(rules)
    if closing:
        lines = [*CLOSING_HEAD, *lines, *CLOSING_TAIL]
    rule_lines = "".join(f"{line}\n" for line in lines)
    return _SCRIPT_HEAD + rule_lines + _SCRIPT_TAIL.replace("@OWNED@", _owned_comments_awk())


def host_firewall_unit() -> str:
    """The systemd unit that runs the installed script at every boot."""
    return f"""\
[Unit]
Description=Open the backing services' public ports in the host firewall
# Oracle's Ubuntu images restore /etc/iptables/rules.v4 in netfilter-persistent.service, and that
# restore replaces the whole filter table, chain and jump included: run after it. Without that
# service (another image) the ordering is simply void.
After=netfilter-persistent.service
# So the containers Docker brings back at boot (host networking) start with their ports open.
Before=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={HOST_FIREWALL_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
"""


def _base64_lines(text: str) -> str:
    return base64.encodebytes(text.encode()).decode()


def host_firewall_install_command(rules: Sequence[PortRule], *, closing: bool = False) -> str:
    """POSIX sh, run over SSH by the login user with passwordless sudo: install and run the script.

    Installs the script and the unit, enables the unit and runs the script once, so the firewall
    converges now and again at every boot. Both files travel base64-encoded in quoted heredocs,
    so nothing in them is ever parsed by the shell. The command carries no secret.
    """
    return f"""\
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base64 -d >"$work/script" <<'{_SCRIPT_END}'
{_base64_lines(host_firewall_script(rules, closing=closing))}{_SCRIPT_END}
base64 -d >"$work/unit" <<'{_UNIT_END}'
{_base64_lines(host_firewall_unit())}{_UNIT_END}
sudo install -o root -g root -m 0755 "$work/script" {HOST_FIREWALL_SCRIPT_PATH}
sudo install -o root -g root -m 0644 "$work/unit" {HOST_FIREWALL_UNIT_PATH}
sudo systemctl daemon-reload
sudo systemctl enable {HOST_FIREWALL_UNIT_NAME}
sudo {HOST_FIREWALL_SCRIPT_PATH}
"""


def host_firewall_remove_command() -> str:
    """POSIX sh, run over SSH when the existing host's firewall is turned off: undo the install.

    The unit goes first, so a reboot in between cannot bring the rules back; then every jump to the
    chain, then the chain. Each step tolerates what is already gone, so a re-run succeeds.
    """
    return f"""\
set -eu
sudo systemctl disable {HOST_FIREWALL_UNIT_NAME} 2>/dev/null || true
sudo rm -f {HOST_FIREWALL_UNIT_PATH} {HOST_FIREWALL_SCRIPT_PATH}
sudo systemctl daemon-reload
while sudo iptables -w -D INPUT -j {HOST_FIREWALL_CHAIN} 2>/dev/null; do :; done
if sudo iptables -w -n -L {HOST_FIREWALL_CHAIN} >/dev/null 2>&1; then
  sudo iptables -w -F {HOST_FIREWALL_CHAIN}
  sudo iptables -w -X {HOST_FIREWALL_CHAIN}
fi
"""
