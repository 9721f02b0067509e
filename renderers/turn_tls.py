"""TURN over TLS on the gateway's HTTPS port, shared with HTTPS by SNI, as LiveKit's own deployment does it.

Networks that block UDP and every port but 443 (guest Wi-Fi, hotels, corporate proxies) leave a
participant one way in: TLS on 443. LiveKit advertises TURN/TLS to clients only ever as
``turns:<turn.domain>:443?transport=tcp``, whatever ``turn.tls_port`` says
(pkg/service/roommanager.go iceServersForParticipant@v1.13.5), so the TURN/TLS listener must be
reachable on 443 itself. The gateway owns 443, so it tells the two apart by the TLS ClientHello's
server name before any HTTP happens, like livekit/deploy's generated Caddy config
(templates/caddy.go: the TURN domain's TLS terminated and proxied to LiveKit's TURN port, the main
domain's to HTTP):

* the caddy-l4 ``layer4`` listener wrapper sits in front of the HTTPS server's ``tls`` wrapper
  (caddy-l4 docs/servers.md@v0.1.2 "Wrappers"). A connection whose SNI is the TURN domain is
  decrypted by the l4 ``tls`` handler with the certificate Caddy manages for that name and proxied,
  as plain TCP, to LiveKit's TURN listener; every other connection falls through unchanged to the
  HTTPS server (its routes, WebSockets, HSTS, reloads as before).
* LiveKit listens without TLS on that port (``turn.external_tls: true``: pkg/service/turn.go
  NewTurnServer@v1.13.5 takes ``net.Listen`` instead of ``tls.Listen``), so it needs no certificate.
* The TURN domain must differ from the main one (livekit/deploy production.go): both names arrive on
  the same port, and SNI is the only thing that separates them.
* Its certificate is obtained like every other site's: a site block for the name makes Caddy manage
  it (caddy-l4 docs/examples/combining_apps.md@v0.1.2: the l4 ``tls`` handler "terminate[s] TLS with
  previously obtained certificates"). The HTTP-01 challenge on port 80 reaches that site; the block
  answers 421 on HTTPS, which it can only see through a client that skipped the SNI route.
* The upstream is the host's own non-loopback address, not 127.0.0.1: livekit/deploy's updateip.go
  does the same, as TURN/TLS otherwise fails with Firefox.

The gateway's Caddy has the module only when TURN/TLS is on: a build of the same pinned Caddy with
caddy-l4 (images/gateway-l4/Dockerfile), built on the target's engine from Caddy's official builder
image (multi-arch: the VM's arm64 gets an arm64 build), not a third-party image.
"""
from __future__ import annotations

# caddy-l4 has no tagged releases on a fixed cadence; v0.1.2 is the release built and tested here
# (scripts/build-go-servers caddy-l4). Its go.mod requires caddy v2.11.4; Go's minimal version
# selection builds it into the pinned v2.11.7.
CADDY_L4_MODULE = "github.com/mholt/caddy-l4"
CADDY_L4_VERSION = "v0.1.2"
# The TURN domain when mediaServer.turnTls.domain is unset: a sibling of the media subdomain under
# the main domain, so it resolves wherever the main domain's wildcard or sslip.io name does
# (turn.203-0-113-10.sslip.io resolves to 203.0.113.10).
DEFAULT_TURN_SUBDOMAIN = "turn"
# LiveKit's TURN listener behind the gateway: plain TCP with external_tls. LiveKit's own default.
DEFAULT_TURN_TLS_PORT = 5349
# The gateway image with the layer4 module, built on the target's engine.
GATEWAY_L4_REPOSITORY = "backing-services/gateway-l4"
GATEWAY_L4_BUILD_CONTEXT = "images/gateway-l4"


def gateway_l4_image(caddy_version: str) -> str:
    """The built image's name: both pinned versions in the tag, so a change of either is a new image."""
    return f"{GATEWAY_L4_REPOSITORY}:{caddy_version}-l4-{CADDY_L4_VERSION}"


def layer4_server_options(*, https_port: int, turn_domain: str, turn_upstream: str, indent: str = "\t") -> list[str]:
    """The ``servers`` global option that puts the SNI router in front of the HTTPS server's TLS.

    ``tls`` after ``layer4`` keeps HTTPS decrypted by the HTTP app as before: the listener
    wrappers run in order, and a connection the layer4 routes do not match is handed on.
    """
    i = indent
    return [
        f"{i}servers :{https_port} {{",
        f"{i}\tlistener_wrappers {{",
        f"{i}\t\tlayer4 {{",
        f"{i}\t\t\t@turn tls sni {turn_domain}",
        f"{i}\t\t\troute @turn {{",
        f"{i}\t\t\t\ttls",
        f"{i}\t\t\t\tproxy tcp/{turn_upstream}",
        f"{i}\t\t\t}}",
        f"{i}\t\t}}",
        f"{i}\t\ttls",
        f"{i}\t}}",
        f"{i}}}",
    ]


# What an HTTPS request for the TURN name gets if one ever reaches the HTTP app: only a request
# whose Host header names it on a connection with another server name can, since the SNI route
# takes every connection for the name itself. 421 Misdirected Request.
TURN_SITE_STATUS = 421


def turn_site(turn_domain: str) -> list[str]:
    """The site block that makes Caddy obtain and renew the TURN domain's certificate."""
    return [
        f"{turn_domain} {{",
        f'\trespond "TURN over TLS only" {TURN_SITE_STATUS}',
        "}",
    ]
