"""The single source of truth for which ports the stack exposes.

The cloud firewall (OCI security list), the host firewall (iptables on the
VM) and the LiveKit ``rtc`` section are all derived from one ``MediaPorts``
value, so they cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["tcp", "udp"]

# Unprivileged, so LiveKit never needs CAP_NET_BIND_SERVICE; also keeps the media
# ports clear of every well-known service port.
MEDIA_PORT_MIN = 1024
MEDIA_PORT_MAX = 65535

# Taken on every host regardless of configuration: SSH, and Caddy's ACME/redirect and TLS ports.
_ALWAYS_TAKEN: Mapping[int, str] = {22: "SSH", 80: "HTTP", 443: "HTTPS"}

# The chain that holds every host firewall ACCEPT; INPUT only jumps to it. iptables allows
# 28 characters in a chain name.
HOST_FIREWALL_CHAIN = "BACKING-SERVICES-IN"

# Each rule's purpose becomes its iptables comment, and the host firewall script deletes INPUT
# ACCEPTs carrying one of these comments (left there by releases that inserted straight into
# INPUT). Renaming one strands the old comment on upgraded VMs: keep the old string in
# OWNED_COMMENTS too.
HTTP_PURPOSE = "HTTP: ACME challenge and redirect to HTTPS"
HTTPS_PURPOSE = "HTTPS: Caddy gateway"
ICE_TCP_PURPOSE = "LiveKit ICE over TCP"
TURN_UDP_PURPOSE = "LiveKit TURN over UDP"
MEDIA_MUX_PURPOSE = "LiveKit WebRTC media (UDP mux)"
MEDIA_RANGE_PURPOSE = "LiveKit WebRTC media (UDP range)"
TURN_RELAY_PURPOSE = "LiveKit TURN relays (UDP range)"
# The existing host's own (renderers/host_firewall.py, closing): never in INPUT, so not in OWNED_COMMENTS.
SSH_PURPOSE = "SSH: pulumi and the team"
MDNS_PURPOSE = "mDNS: the host .local name"
OWNED_COMMENTS = frozenset(
    {
        HTTP_PURPOSE,
        HTTPS_PURPOSE,
        ICE_TCP_PURPOSE,
        TURN_UDP_PURPOSE,
        MEDIA_MUX_PURPOSE,
        MEDIA_RANGE_PURPOSE,
        TURN_RELAY_PURPOSE,
    }
)

# iptables' xt_comment limit.
_MAX_COMMENT_LEN = 256
# iptables-restore only understands double quotes, and `iptables -S` escapes these with a
# backslash; refusing them keeps the comment identical in the script, in `-S` and in rules.v4.
_COMMENT_FORBIDDEN = frozenset('"\\\'')


@dataclass(frozen=True, kw_only=True)
class PortRule:
    """One inbound rule: a protocol and an inclusive port range."""

    protocol: Protocol
    start: int
    end: int
    purpose: str

    def __post_init__(self) -> None:
        if not (1 <= self.start <= self.end <= 65535):
            raise ValueError(f"invalid port range {self.start}-{self.end}")


@dataclass(frozen=True, kw_only=True)
class MediaPorts:
    """LiveKit's ports.

    ``udp_mux_port`` set: all WebRTC media goes through that single UDP port
    (works behind Docker Desktop's port publishing). Unset: media uses the
    ``udp_range_start``..``udp_range_end`` range (host networking on a VM).

    With TURN on, LiveKit's embedded TURN server allocates each relay in
    ``turn_relay_range_start..end`` at its advertised address (livekit pkg/service/turn.go:88-94
    @v1.13.5), so the SFU's packets to a relay arrive at the public IP from outside the VM's
    interfaces; 30000-40000 is LiveKit's own default when unset (pkg/config/config.go:588-598).
    pion/turn forwards only from peers a client granted a permission, so the open range admits
    nothing else. Prometheus and pprof listeners stay off: their ports default to 0 (server.go:157-187).
    """

    signal_port: int = 7880
    tcp_port: int = 7881
    udp_mux_port: int | None = None
    udp_range_start: int = 50000
    udp_range_end: int = 60000
    turn_udp_port: int | None = 3478
    turn_relay_range_start: int = 30000
    turn_relay_range_end: int = 40000
    # LiveKit's TURN listener behind the gateway's SNI route (renderers/turn_tls.py): reached only
    # from the host itself, so no firewall opens it; clients use TURN/TLS on the HTTPS port.
    turn_tls_port: int | None = None

    @property
    def turn_enabled(self) -> bool:
        """LiveKit's TURN runs, over UDP, TLS or both; either way it allocates relays in the relay range."""
        return self.turn_udp_port is not None or self.turn_tls_port is not None


def public_ingress(media: MediaPorts, *, http_port: int = 80, https_port: int = 443) -> tuple[PortRule, ...]:
    """Every port the internet must reach, in a fixed order.

    The signal port is absent on purpose: clients reach it through Caddy on 443.
    """
    def udp(first: int, last: int, purpose: str) -> PortRule:
        return PortRule(protocol="udp", start=first, end=last, purpose=purpose)

    rules = [
        PortRule(protocol="tcp", start=http_port, end=http_port, purpose=HTTP_PURPOSE),
        PortRule(protocol="tcp", start=https_port, end=https_port, purpose=HTTPS_PURPOSE),
        PortRule(protocol="tcp", start=media.tcp_port, end=media.tcp_port, purpose=ICE_TCP_PURPOSE),
    ]
    if media.turn_udp_port is not None:
        rules.append(udp(media.turn_udp_port, media.turn_udp_port, TURN_UDP_PURPOSE))
    if media.turn_enabled:
        # Relays are UDP whichever way the client reached TURN, TLS on 443 included.
        rules.append(udp(media.turn_relay_range_start, media.turn_relay_range_end, TURN_RELAY_PURPOSE))
    if media.udp_mux_port is not None:
        rules.append(udp(media.udp_mux_port, media.udp_mux_port, MEDIA_MUX_PURPOSE))
    else:
        rules.append(udp(media.udp_range_start, media.udp_range_end, MEDIA_RANGE_PURPOSE))
    return tuple(rules)


def existing_host_ingress(
    media: MediaPorts | None, *, ssh_port: int, http_port: int = 80, https_port: int = 443, mdns: bool = False
) -> tuple[PortRule, ...]:
    """What a machine the team already has lets in once its firewall closes the rest.

    SSH first (`pulumi up` itself arrives that way), multicast DNS when the host is reached by its
    `.local` name (avahi answers on 5353/udp; closed, nobody resolves `pi.local` any more), then the
    VM's public list: the gateway's HTTP and HTTPS and, with a media server (``media`` not None), its ports.
    """
    rules = [PortRule(protocol="tcp", start=ssh_port, end=ssh_port, purpose=SSH_PURPOSE)]
    if mdns:
        rules.append(PortRule(protocol="udp", start=5353, end=5353, purpose=MDNS_PURPOSE))
    public = public_ingress(media or MediaPorts(), http_port=http_port, https_port=https_port)
    rules += [r for r in public if media is not None or r.purpose in (HTTP_PURPOSE, HTTPS_PURPOSE)]
    return tuple(rules)


def _exposed_media_ports(media: MediaPorts) -> list[tuple[str, int, int]]:
    """(field name, first, last) for each publicly exposed LiveKit port."""
    exposed = [("tcp_port", media.tcp_port, media.tcp_port)]
    if media.turn_udp_port is not None:
        exposed.append(("turn_udp_port", media.turn_udp_port, media.turn_udp_port))
    if media.turn_enabled:
        exposed.append(
            ("turn_relay_range_start..turn_relay_range_end", media.turn_relay_range_start, media.turn_relay_range_end)
        )
    if media.udp_mux_port is not None:
        exposed.append(("udp_mux_port", media.udp_mux_port, media.udp_mux_port))
    else:
        exposed.append(("udp_range_start..udp_range_end", media.udp_range_start, media.udp_range_end))
    return exposed


def _describe(name: str, first: int, last: int) -> str:
    return f"{name} ({first})" if first == last else f"{name} ({first}-{last})"


def media_port_problems(media: MediaPorts, *, reserved: Mapping[int, str]) -> list[str]:
    """Every reason ``media`` cannot be used, as sentences naming the field.

    ``reserved`` maps ports held by other services to who holds them. Collisions
    are checked by port number regardless of protocol: a UDP range covering
    5432 is harmless to PostgreSQL but opens a confusing hole in both firewalls.
    """
    problems: list[str] = []
    exposed = _exposed_media_ports(media)

    if media.udp_mux_port is None and media.udp_range_start > media.udp_range_end:
        problems.append(
            f"udp_range_start ({media.udp_range_start}) is greater than udp_range_end ({media.udp_range_end})"
        )
    if media.turn_enabled and media.turn_relay_range_start > media.turn_relay_range_end:
        problems.append(
            f"turn_relay_range_start ({media.turn_relay_range_start}) is greater than "
            f"turn_relay_range_end ({media.turn_relay_range_end})"
        )
    private = [("signal_port", media.signal_port, media.signal_port)]
    if media.turn_tls_port is not None:
        private.append(("turn_tls_port", media.turn_tls_port, media.turn_tls_port))
    for name, first, last in [*private, *exposed]:
        for port in sorted({first, last}):
            if not MEDIA_PORT_MIN <= port <= MEDIA_PORT_MAX:
                problems.append(f"{name}: port {port} is outside {MEDIA_PORT_MIN}..{MEDIA_PORT_MAX}")

    taken = {**_ALWAYS_TAKEN, media.signal_port: "LiveKit signal (signal_port)", **reserved}
    if media.turn_tls_port is not None:
        port = media.turn_tls_port
        if port in taken:
            problems.append(f"turn_tls_port ({port}) is already used by {taken[port]}")
        for name, first, last in exposed:
            if first <= port <= last:
                problems.append(f"turn_tls_port ({port}) is inside {_describe(name, first, last)}")
    for name, first, last in exposed:
        for port, holder in sorted(taken.items()):
            if first <= port <= last:
                problems.append(f"{_describe(name, first, last)} includes port {port}, already used by {holder}")

    for i, (name_a, first_a, last_a) in enumerate(exposed):
        for name_b, first_b, last_b in exposed[i + 1 :]:
            if first_a <= last_b and first_b <= last_a:
                problems.append(f"{_describe(name_a, first_a, last_a)} overlaps {_describe(name_b, first_b, last_b)}")
    return problems


def _comment_problem(comment: str) -> str | None:
    if not 1 <= len(comment) <= _MAX_COMMENT_LEN or not comment.isprintable():
        return f"must be 1 to {_MAX_COMMENT_LEN} printable characters"
    if _COMMENT_FORBIDDEN & set(comment):
        return "must not contain \\, \" or '"
    return None


def host_firewall_chain_lines(rules: Sequence[PortRule]) -> list[str]:
    """The iptables-restore lines that fill ``HOST_FIREWALL_CHAIN``, one ACCEPT per rule, in order.

    One iptables rule per ``PortRule`` so the host firewall matches the cloud security list one
    for one; the match is in the style of Oracle's own rules.v4 lines. The host firewall script
    (renderers/host_firewall.py) feeds exactly these lines to iptables-restore.
    """
    lines = []
    for rule in rules:
        problem = _comment_problem(rule.purpose)
        if problem:
            raise ValueError(f"purpose {problem}: {rule.purpose!r}")
        ports = str(rule.start) if rule.start == rule.end else f"{rule.start}:{rule.end}"
        lines.append(
            f"-A {HOST_FIREWALL_CHAIN} -p {rule.protocol} -m state --state NEW -m {rule.protocol} --dport {ports}"
            f' -m comment --comment "{rule.purpose}" -j ACCEPT'
        )
    return lines
