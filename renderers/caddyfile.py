"""Caddyfile for the TLS gateway in front of the app and LiveKit.

One renderer serves both stacks: ``tls="internal"`` makes Caddy its own CA
(dev: no public DNS, no Let's Encrypt), ``tls="acme"`` uses Caddy's automatic
HTTPS (prod). Everything else (headers, routing, health) is identical, so a
config tested locally is the config shipped.
"""
from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from renderers.turn_tls import layer4_server_options, turn_site

LETSENCRYPT_STAGING_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
HEALTH_PATH = "/health"
HEALTH_BODY = "OK"
# Loopback-only plain-HTTP listener for the container healthcheck.
HEALTH_PORT = 9180
# Upstream facts below cite Caddy at v2.11.4: the source snapshot available here has no
# v2.11.7 tag (v2.11.4 is its newest). Each cited piece is unchanged on its master
# (0cf03d32f, 2026-08-21), and tests/real checks every one against the 2.11.7 binary.
# Where the official image's CMD reads its config: caddy-docker 2.11/alpine/Dockerfile@03d78cd
# (v2.11.2, the newest 2.11 image in the snapshot; the 2.11 line's template is unchanged since)
# runs `caddy run --config /etc/caddy/Caddyfile --adapter caddyfile`.
CADDYFILE_PATH = "/etc/caddy/Caddyfile"

# The admin API, on a unix socket inside the container instead of Caddy's default TCP
# localhost:2019 (admin.go@v2.11.4 DefaultAdminListen): with host networking (prod) that TCP
# port is reachable by every process on the VM, and the API can replace the whole config.
# A path-based socket lives in the container's own filesystem, so from the host only root
# or the docker group (`docker exec`) reach it; Caddy skips Host/Origin checks on unix
# sockets, leaving the file mode as the access control (admin.go@v2.11.4 allowedOrigins).
# Never an abstract socket ("@name"): those are scoped by network namespace, which host
# networking shares with every process on the VM.
# Why /run: alpine-baselayout creates it 0755 root (aports main/alpine-baselayout/APKBUILD
# `install -m 0755 -d ... run`), caddy-docker 2.11/alpine/Dockerfile@03d78cd sets no USER so
# Caddy runs as root and can create the socket there, and it is neither /data (the named
# volume with certificates: nothing runtime-only belongs on it) nor a mounted path. Caddy
# unlinks a stale socket before binding and removes it on exit (listeners.go@v2.11.4
# NetworkAddress.Listen), so a restart never trips over a leftover file.
ADMIN_SOCKET = "/run/caddy-admin.sock"
# Owner (root, Caddy's user in the image) only. The "path|mode" form and its octal parsing:
# internal/sockets.go@v2.11.4 SplitUnixSocketPermissionsBits (default 0200, owner write is
# required); `caddy reload` strips the mode again before dialing (cmd/commandfuncs.go@v2.11.4
# AdminAPIRequest).
ADMIN_SOCKET_MODE = "0600"
# How long an upgraded stream (WebSocket: LiveKit signalling, the app's /ws) proxied by the
# old config outlives a reload. Default 0 closes every one of them the moment the old
# handler is cleaned up, i.e. on every route or header change (reverseproxy.go@v2.11.4
# StreamCloseDelay, streaming.go@v2.11.4 cleanupConnections). One hour outlasts most calls
# and sessions, so they end on their own instead of all reconnecting at once; streams still
# open then get a WebSocket close 1001 "going away" (streaming.go writeCloseControl) and
# clients reconnect through the new config. Media (UDP/TCP to LiveKit) never passes through
# Caddy, so even that reconnect does not interrupt audio/video. The cost is only that an old
# handler stays in memory while its streams last.
STREAM_CLOSE_DELAY = "1h"
# How long in-flight (non-upgraded) requests get to finish on the old servers after a reload
# or on stop; the default 0 waits forever (modules/caddyhttp/app.go@v2.11.4 GracePeriod),
# which lets long-polls keep old config generations alive across many reloads (app.go Stop:
# a reload does not wait for it). 20s covers ordinary requests and uploads and ends before
# Docker's SIGKILL on stop (components/container.py stop_grace_seconds = 30).
GRACE_PERIOD = "20s"

# Where a zero-downtime app's current upstream host (its container's Docker name) is kept inside the
# gateway container (Route.host_file): next to the Caddyfile, a directory of the image that exists
# (caddy-docker 2.11/alpine/Dockerfile:13@03d78cd creates /etc/caddy), so a first-boot upload needs no
# directory of its own. Why a file and not a reload: any config change makes Caddy stop its old HTTP
# servers with net/http Server.Shutdown, and a connection the old server accepted before that call
# whose first request it reads after is closed with no response (net/http/server.go:1994@go1.26.8,
# `if c.server.shuttingDown() { return }` right after readRequest; the binary is built with go1.26.8),
# so every reload under a client that opens fresh TLS connections loses about one request (measured:
# one per reload with `caddy reload`, the /load API, grace_period and shutdown_delay alike; on plain
# HTTP also resets of connections queued on the old SO_REUSEPORT socket when it closes,
# listen_unix.go:107-160,216-228@v2.11.7). The {file.*} placeholder is read on every request by the request
# replacer (replacer.go:39-45,354-373@v2.11.7, which trims the trailing newline; server.go:640@v2.11.7 builds it with NewReplacer), and
# a placeholder in an upstream's dial address is replaced per request (reverseproxy/hosts.go:112-134@v2.11.7
# fillDialInfo), so replacing the file (rename(2)) moves the route with no config change at all.
# The file holds the host only: a dial address without a port gets :80 at adapt time, so the port is
# the Caddyfile's.
UPSTREAM_HOST_FILE_DIR = "/etc/caddy"
# A file holding a whole `host:port` (Route.host_file_has_port) cannot be the dial address itself: the
# Caddyfile adapter splits an upstream at its first '/' as `network/address` (caddy.SplitNetworkAddress,
# listeners.go:378-406@v2.11.4), so `{file./etc/caddy/upstream.web}` parses as network "{file.", host
# "etc/caddy/upstream.web}", no port, which gets :80 (reverseproxy/addresses.go:132-142@v2.11.4; the real
# 2.11.7 adapts it to "{file./etc/caddy/upstream.web}:80", tests/renderers/test_caddyfile.py). The port-suffixed
# form above survives that split by luck of its ':'. So the route's `vars` handler copies the file into a
# request variable, its value replaced per request (VarsMiddleware.ServeHTTP, modules/caddyhttp/vars.go:57-65
# @v2.11.4), and the proxy dials that variable's placeholder, which has no '/': a placeholder with no port
# stays as it is (addresses.go:41-45,139-142) and is replaced per request (hosts.go fillDialInfo).
HOST_FILE_DIAL_VAR = "upstream_dial"

# Where Caddy's internal CA keeps its root certificate inside the official image: Caddy's data dir is
# $XDG_DATA_HOME/caddy (storage.go:122-125@v2.11.7 AppDataDir), the image sets XDG_DATA_HOME=/data
# (caddy-docker 2.11/alpine/Dockerfile:45@03d78cd) and the gateway mounts its named volume there; the default
# CA is "local" (modules/caddypki/ca.go:469@v2.11.7 DefaultCAID, used by pki.go:86) and its root is
# pki/authorities/<id>/root.crt under that storage (modules/caddypki/ca.go:411-415@v2.11.7). The root lives as
# long as the volume: a new volume means a new root, which every kiosk that trusted the old one must fetch again.
CADDY_DATA_DIR = "/data"
INTERNAL_ROOT_CERT_PATH = f"{CADDY_DATA_DIR}/caddy/pki/authorities/local/root.crt"
# HSTS with Caddy's internal CA: max-age=0, not no header. A LAN name (mirror.local, an IP) has no public CA
# behind it, so a pin outlives nothing useful: the next CA (a new /data volume, another Pi) makes a pinned
# browser refuse the name with no click-through (RFC 6797 section 12.1). max-age=0 tells a browser that pinned
# the name under an earlier one-year header to forget it (RFC 6797 section 6.1.1: "A max-age value of zero ...
# signals the UA to cease regarding the host as a Known HSTS Host"), which no header at all never does.
INTERNAL_TLS_HSTS_MAX_AGE_SECONDS = 0
ACME_HSTS_MAX_AGE_SECONDS = 31_536_000


def upstream_host_file(alias: str) -> str:
    """The file holding the current upstream host of the routes to ``alias`` (a zero-downtime app)."""
    if not _is_hostname(alias):
        raise ValueError(f"alias must be a host name, got {alias!r}")
    return f"{UPSTREAM_HOST_FILE_DIR}/upstream.{alias}"


# --- per-route options (Route.strip_prefix, Route.cors_origins, Route.compress) ---------------
# What a CORS preflight answer allows besides the origin. Methods are a fixed list (GET, HEAD
# and POST are CORS-safelisted anyway); request headers are whatever the preflight asks for
# (Access-Control-Request-Headers echoed back): the origin check is the access decision, and
# a fixed header list would break every app that sends its own X-* header.
CORS_ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# How long a browser may reuse a preflight answer. Short, so that an origin removed from
# cors_origins loses its non-simple requests (PUT, DELETE, JSON POST) within ten minutes
# even in a tab that preflighted just before; the cost is one OPTIONS per URL per ten minutes.
CORS_MAX_AGE_SECONDS = 600
CORS_ANY_ORIGIN = "*"
# Response headers by which an upstream could grant CORS access on its own. On a route with
# cors_origins the gateway is the one CORS authority: these are removed from every upstream
# response (reverse_proxy header_down, applied before the response is copied to the client:
# reverseproxy.go@v2.11.4 finalizeResponse), so an app that reflects any Origin cannot undo
# the gateway's allow-list, and the gateway's own value is never doubled.
_UPSTREAM_CORS_GRANTS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")
# An origin as a browser serialises it (RFC 6454 section 6.1): lower-case scheme and host, no
# path, no trailing slash, the port only when it is not the scheme's default.
_ORIGIN_RE = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>[^:/]+)(?::(?P<port>[1-9][0-9]{0,4}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Lower case only: Caddy lower-cases site addresses anyway, and one spelling
# keeps equality checks (e.g. media site vs. main site) honest.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Conservative on purpose: these end up unquoted in the Caddyfile, so no
# whitespace, braces, quotes or '#'. A wildcard is only allowed as suffix.
_PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]*\*?")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Absolute, unquoted-safe in a Caddyfile token and in sh; no '|' (Caddy's mode separator).
_SOCKET_PATH_RE = re.compile(r"(?:/[A-Za-z0-9._-]+)+")
# sun_path is 108 bytes on Linux, including the terminating NUL.
_SOCKET_PATH_MAX = 107


def _is_hostname(value: str) -> bool:
    """RFC 1123 name whose last label is not numeric, so IPv4 literals are rejected."""
    return (
        len(value) <= 253
        and _HOSTNAME_RE.fullmatch(value) is not None
        and not value.rsplit(".", 1)[-1].isdigit()
    )


def _is_ipv4(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 4 and all(re.fullmatch(r"0|[1-9][0-9]{0,2}", p) and int(p) <= 255 for p in parts)


def is_internal_name(value: str) -> bool:
    """A name no public CA issues for, as Caddy decides it: localhost, *.localhost, .local, .internal, .home.arpa
    (certmagic certificates.go:648-656@v0.25.6 SubjectIsInternal, the certmagic Caddy 2.11.7 pins in go.mod:13),
    or any IP: Caddy's automatic HTTPS gives IPs to its internal issuer when no issuer is configured
    (modules/caddyhttp/autohttps.go:323-326@v2.11.7 shouldUseInternal)."""
    return (
        _is_ipv4(value)
        or value == "localhost"
        or value.endswith((".localhost", ".local", ".internal", ".home.arpa"))
    )


def _check_upstream(field: str, value: str) -> None:
    """'host:port' with a DNS name (e.g. a Docker service) or an IPv4 literal."""
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not (_is_hostname(host) or _is_ipv4(host)) or re.fullmatch(r"[1-9][0-9]{0,4}", port) is None:
        raise ValueError(f"{field} must be 'host:port', got {value!r}")
    _check_port(f"{field} port", int(port))


def _is_socket_path(value: str) -> bool:
    return (
        isinstance(value, str)
        and len(value.encode()) <= _SOCKET_PATH_MAX
        and _SOCKET_PATH_RE.fullmatch(value) is not None
        and not any(part in (".", "..") for part in value.split("/"))
    )


def _check_port(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{field} must be an integer in 1..65535, got {value!r}")


def _check_origin(value: object) -> None:
    match = _ORIGIN_RE.fullmatch(value) if isinstance(value, str) else None
    host = match["host"] if match else ""
    port = int(match["port"]) if match and match["port"] else None
    if (
        match is None
        or not (_is_hostname(host) or _is_ipv4(host))
        or (port is not None and (port > 65535 or _DEFAULT_PORTS.get(match["scheme"]) == port))
    ):
        raise ValueError(
            "Route.cors_origins entries must be origins as browsers send them, "
            "'scheme://host[:port]' in lower case with no path, trailing slash, wildcard or "
            f"default port (or exactly ('*',) for any origin), got {value!r}"
        )


@dataclass(frozen=True, kw_only=True)
class Route:
    """Requests whose path matches ``path`` (Caddy path matcher) go to ``upstream``.

    The options are for the teams' own app containers behind the gateway; their defaults
    render exactly what a Route without them always rendered.

    ``strip_prefix``: for ``path="/api/*"`` the upstream gets ``/api/users?x=1`` as
    ``/users?x=1`` (Caddy ``handle_path``, which is ``handle`` plus a rewrite with
    strip_path_prefix ``/api``: modules/caddyhttp/rewrite/caddyfile.go@v2.11.4
    parseCaddyfileHandlePath; the prefix is compared case-insensitively like the path
    matcher and the query is kept: rewrite.go@v2.11.4 trimPathPrefix). Only for paths
    ``/prefix/*``: an exact path has nothing below it to forward, and ``/*`` has no prefix.
    Caddy sends no X-Forwarded-Prefix, so an app that builds absolute links must know its
    public prefix itself.

    ``cors_origins``: the gateway answers CORS for this route, the upstream never does.
    A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed
    origin gets 204 with Access-Control-Allow-Origin/-Methods/-Headers/-Max-Age and never
    reaches the upstream; one from any other origin gets 403 without CORS headers, also at
    the gateway. Other requests from an allowed origin get Access-Control-Allow-Origin with
    that origin as a literal from this config: never the request's Origin header, so no
    spelling of a request (two Origin headers, a prefix of an allowed one) can make the
    gateway echo an origin that is not in the list. Every response on the route carries
    ``Vary: Origin``, since its CORS headers depend on it and a shared cache must not hand
    one origin's answer to another. ``("*",)`` allows any origin: a literal ``*``, no Vary.
    Credentials: with explicit origins the answers also carry
    ``Access-Control-Allow-Credentials: true``, so those origins may send cookies and
    Authorization (the usual reason to list origins: a front end on a sibling domain using
    the app's session). With ``*`` they never do: browsers refuse credentials with a
    wildcard origin, and the only way around that, echoing whatever origin asks, would let
    every web site read the signed-in user's responses. CORS governs what browsers let pages
    read; it does not cover WebSockets (browsers send Origin but never preflight an
    upgrade), so an app taking WebSockets from browsers checks Origin itself.

    ``compress``: ``encode zstd gzip`` for this route's responses. While every route
    compresses, the site keeps its single site-wide ``encode``, exactly as before; once one
    route opts out, each compressing route gets its own. Upgraded streams (WebSocket) are
    never encoded either way: encode writes a 1xx status straight through
    (modules/caddyhttp/encode/encode.go@v2.11.4 responseWriter.WriteHeader) and the proxy
    then hijacks the connection.

    WebSocket passthrough needs no option: reverse_proxy switches protocols whenever the
    upstream answers 101 (modules/caddyhttp/reverseproxy/streaming.go@v2.11.4
    handleUpgradeResponse), on any route, stripped prefix included, and every proxy keeps
    its streams across reloads (STREAM_CLOSE_DELAY).
    """

    path: str
    upstream: str
    strip_prefix: bool = False
    cors_origins: tuple[str, ...] = ()
    compress: bool = True
    # The upstream's host is read from this file on every request (Caddy's {file.*} placeholder),
    # its port is ``upstream``'s: see ``upstream_host_file`` and ``switch_upstream_script``.
    host_file: str | None = None
    # The file holds the whole dial address, `127.0.0.1:<port>`: a zero-downtime app under host networking,
    # whose revisions listen on alternating ports (renderers/app_slot.py). See HOST_FILE_DIAL_VAR.
    host_file_has_port: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or _PATH_RE.fullmatch(self.path) is None:
            raise ValueError(
                f"Route.path must start with '/' and contain only [A-Za-z0-9._~/-] "
                f"with an optional trailing '*', got {self.path!r}"
            )
        if self.path == HEALTH_PATH:
            raise ValueError(f"Route.path {HEALTH_PATH!r} is reserved for the gateway's own health check")
        _check_upstream("Route.upstream", self.upstream)
        if self.host_file is not None and not _is_socket_path(self.host_file):
            raise ValueError(f"Route.host_file must be an absolute path of [A-Za-z0-9._-] segments, got {self.host_file!r}")
        if self.host_file_has_port and self.host_file is None:
            raise ValueError("Route.host_file_has_port needs a host_file")
        for field in ("strip_prefix", "compress"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"Route.{field} must be a bool, got {getattr(self, field)!r}")
        if self.strip_prefix and (not self.path.endswith("/*") or self.path == "/*"):
            raise ValueError(
                f"Route.strip_prefix needs a path of the form '/prefix/*' (the prefix is what the "
                f"upstream does not see), got path {self.path!r}"
            )
        origins = self.cors_origins
        if not isinstance(origins, tuple):
            raise ValueError(f"Route.cors_origins must be a tuple of origins, got {origins!r}")
        if CORS_ANY_ORIGIN in origins:
            if origins != (CORS_ANY_ORIGIN,):
                raise ValueError(
                    f"Route.cors_origins: '*' means any origin and must be the only entry, got {origins!r}"
                )
        else:
            for origin in origins:
                _check_origin(origin)
            if len(set(origins)) != len(origins):
                raise ValueError(f"Route.cors_origins has duplicates: {origins!r}")

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key, most specific first: longer literal prefix, then exact before wildcard."""
        literal = self.path.rstrip("*")
        return (-len(literal), self.path.endswith("*"))


@dataclass(frozen=True, kw_only=True)
class CaddyConfig:
    """Everything that differs between gateway deployments."""

    domain: str
    tls: Literal["internal", "acme"]
    acme_email: str | None = None
    acme_staging: bool = False
    http_port: int = 80
    https_port: int = 443
    routes: tuple[Route, ...] = ()
    media_subdomain: str = "livekit"
    media_upstream: str | None = None
    health_port: int = HEALTH_PORT
    hsts_max_age_seconds: int = ACME_HSTS_MAX_AGE_SECONDS
    # More names the main site answers, with the same routes (a kiosk's localhost, the machine's LAN IP): host
    # names or IPv4 literals, in the site's address list. tls="internal" issues a certificate for each, IPs and
    # localhost included (see _main_site); ACME cannot, so is_internal_name ones are refused with it.
    extra_names: tuple[str, ...] = ()
    admin_socket: str = ADMIN_SOCKET
    # TURN over TLS on https_port, routed by SNI to turn_upstream (renderers/turn_tls.py); both or neither.
    turn_domain: str | None = None
    turn_upstream: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.domain, str) or not _is_hostname(self.domain):
            raise ValueError(f"domain must be a lower-case hostname, got {self.domain!r}")
        if self.tls not in ("internal", "acme"):
            raise ValueError(f"tls must be 'internal' or 'acme', got {self.tls!r}")
        if self.acme_email is not None:
            if self.tls != "acme":
                raise ValueError("acme_email is only meaningful with tls='acme'")
            if _EMAIL_RE.fullmatch(self.acme_email) is None:
                raise ValueError(f"acme_email is not an e-mail address: {self.acme_email!r}")
        if self.acme_staging and self.tls != "acme":
            raise ValueError("acme_staging is only meaningful with tls='acme'")
        ports = {"http_port": self.http_port, "https_port": self.https_port, "health_port": self.health_port}
        for field, value in ports.items():
            _check_port(field, value)
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"http_port, https_port and health_port must differ, got {ports}")
        if not isinstance(self.routes, tuple) or not all(isinstance(r, Route) for r in self.routes):
            raise ValueError("routes must be a tuple of Route")
        paths = [r.path for r in self.routes]
        if len(set(paths)) != len(paths):
            raise ValueError(f"routes has duplicate paths: {sorted(paths)}")
        # Caddy matches paths case-insensitively (modules/caddyhttp/matchers.go@v2.11.4
        # MatchPath) but sorts equally long prefixes by case-sensitive byte order
        # (httpcaddyfile/directives.go@v2.11.4 sortRoutes), so '/A*' would run before, and
        # swallow, '/a': one spelling per prefix keeps most-specific-first true.
        literals = {p.rstrip("*") for p in paths}
        if len({lit.lower() for lit in literals}) != len(literals):
            raise ValueError(f"routes has paths that differ only in letter case: {sorted(paths)}")
        if re.fullmatch(_LABEL, self.media_subdomain) is None:
            raise ValueError(f"media_subdomain must be one lower-case DNS label, got {self.media_subdomain!r}")
        if not _is_hostname(self.media_domain):
            raise ValueError(f"media_subdomain makes an invalid hostname: {self.media_domain!r}")
        if self.media_upstream is not None:
            _check_upstream("media_upstream", self.media_upstream)
        if (self.turn_domain is None) != (self.turn_upstream is None):
            raise ValueError("turn_domain and turn_upstream go together: TURN/TLS needs both, or neither")
        if self.turn_domain is not None:
            if not isinstance(self.turn_domain, str) or not _is_hostname(self.turn_domain):
                raise ValueError(f"turn_domain must be a lower-case hostname, got {self.turn_domain!r}")
            if self.turn_domain in (self.domain, self.media_domain):
                raise ValueError(
                    f"turn_domain must differ from the main and media domains: SNI is all that tells "
                    f"TURN/TLS from HTTPS on port {self.https_port}, got {self.turn_domain!r}"
                )
            _check_upstream("turn_upstream", self.turn_upstream)
        if not isinstance(self.extra_names, tuple) or not all(
            isinstance(n, str) and (_is_hostname(n) or _is_ipv4(n)) for n in self.extra_names
        ):
            raise ValueError(f"extra_names must be a tuple of lower-case host names or IPv4 addresses, got {self.extra_names!r}")
        taken = {self.domain, self.media_domain, self.turn_domain}
        if len(set(self.extra_names)) != len(self.extra_names) or taken & set(self.extra_names):
            raise ValueError(
                f"extra_names must be unique and differ from the main, media and TURN names, got {self.extra_names!r}"
            )
        if self.tls == "acme":
            internal = [n for n in self.extra_names if is_internal_name(n)]
            if internal:
                raise ValueError(
                    f"extra_names {internal!r} cannot get a certificate from ACME (localhost, .local/.internal/"
                    "/.home.arpa names and IP addresses): use tls='internal' or leave them out"
                )
        max_age = self.hsts_max_age_seconds
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"hsts_max_age_seconds must be a non-negative integer, got {max_age!r}")
        if not _is_socket_path(self.admin_socket):
            raise ValueError(
                f"admin_socket must be an absolute path of [A-Za-z0-9._-] components, at most "
                f"{_SOCKET_PATH_MAX} bytes, got {self.admin_socket!r}"
            )

    @property
    def media_domain(self) -> str:
        return f"{self.media_subdomain}.{self.domain}"


def _global_options(cfg: CaddyConfig) -> list[str]:
    lines = [
        "{",
        # unix/ + absolute path gives the double slash: caddy.ParseNetworkAddress splits "network/address".
        f"\tadmin unix/{cfg.admin_socket}|{ADMIN_SOCKET_MODE}",
        f"\tgrace_period {GRACE_PERIOD}",
        f"\thttp_port {cfg.http_port}",
        f"\thttps_port {cfg.https_port}",
    ]
    if cfg.acme_email is not None:
        lines.append(f"\temail {cfg.acme_email}")
    if cfg.acme_staging:
        lines.append(f"\tacme_ca {LETSENCRYPT_STAGING_DIRECTORY}")
    if cfg.tls == "internal":
        # A container has no trust store worth touching; clients get the root
        # from Caddy's data dir instead.
        lines += ["\tlocal_certs", "\tskip_install_trust"]
    if cfg.turn_domain is not None:
        lines += layer4_server_options(https_port=cfg.https_port, turn_domain=cfg.turn_domain, turn_upstream=cfg.turn_upstream)
    return lines + ["}"]


def _security_headers(cfg: CaddyConfig) -> list[str]:
    # Deleting a field makes Caddy defer the header ops to write time, so
    # '-Server' also strips the upstream's and Caddy's own Server header.
    return [
        "(security_headers) {",
        "\theader {",
        f'\t\tStrict-Transport-Security "max-age={cfg.hsts_max_age_seconds}"',
        '\t\tX-Content-Type-Options "nosniff"',
        '\t\tX-Frame-Options "SAMEORIGIN"',
        '\t\tReferrer-Policy "strict-origin-when-cross-origin"',
        "\t\t-Server",
        "\t}",
        "}",
    ]


def _reverse_proxy(upstream: str, indent: str, *, drop_cors_grants: bool = False) -> list[str]:
    """Every proxy in the file goes through here, so none can miss the reload-safe streams."""
    lines = [f"{indent}reverse_proxy {upstream} {{", f"{indent}\tstream_close_delay {STREAM_CLOSE_DELAY}"]
    if drop_cors_grants:
        lines += [f"{indent}\theader_down -{name}" for name in _UPSTREAM_CORS_GRANTS]
    return lines + [f"{indent}}}"]


def _cors(origins: tuple[str, ...], indent: str) -> tuple[list[str], list[str]]:
    """The CORS directives of one route's block (see Route): (matchers and headers, responds).

    Returned in two parts so the block reads in the order Caddy runs a block's directives
    whatever their order in the file: header, encode, respond, reverse_proxy
    (httpcaddyfile/directives.go@v2.11.4 defaultDirectiveOrder).

    Named matchers are scoped to the block they are defined in
    (httpcaddyfile/directives.go@v2.11.4 parseSegmentAsConfig), so every route reuses the
    same names. The header matcher compares values exactly, case included, with '*' alone
    meaning "present" (matchers.go@v2.11.4 matchHeaders), and several lines for one field
    are alternatives: the allow-list is one matcher per origin.
    """
    i = indent
    any_origin = origins == (CORS_ANY_ORIGIN,)
    allowed = [CORS_ANY_ORIGIN] if any_origin else list(origins)
    lines = [
        f"{i}@cors_preflight {{",
        f"{i}\tmethod OPTIONS",
        *(f"{i}\theader Origin {origin}" for origin in allowed),
        f"{i}\theader Access-Control-Request-Method *",
        f"{i}}}",
    ]
    if any_origin:
        lines.append(f'{i}header Access-Control-Allow-Origin "{CORS_ANY_ORIGIN}"')
    else:
        lines += [
            f"{i}@cors_foreign_preflight {{",
            f"{i}\tmethod OPTIONS",
            f"{i}\theader Origin *",
            f"{i}\theader Access-Control-Request-Method *",
            f"{i}}}",
            f"{i}header Vary Origin",
        ]
        for n, origin in enumerate(origins, start=1):
            lines += [
                f"{i}@cors_origin_{n} header Origin {origin}",
                f"{i}header @cors_origin_{n} {{",
                f'{i}\tAccess-Control-Allow-Origin "{origin}"',
                f'{i}\tAccess-Control-Allow-Credentials "true"',
                f"{i}}}",
            ]
    lines += [
        f"{i}header @cors_preflight {{",
        f'{i}\tAccess-Control-Allow-Methods "{CORS_ALLOW_METHODS}"',
        f'{i}\tAccess-Control-Allow-Headers "{{http.request.header.Access-Control-Request-Headers}}"',
        f'{i}\tAccess-Control-Max-Age "{CORS_MAX_AGE_SECONDS}"',
        f"{i}}}",
    ]
    responds = [f"{i}respond @cors_preflight 204"]
    if not any_origin:
        # respond ends the chain, so this only sees the preflights the line above did not answer.
        responds.append(f"{i}respond @cors_foreign_preflight 403")
    return lines, responds


def _route(route: Route, *, encode: bool) -> list[str]:
    # handle_path is sorted and grouped as handle (httptype.go@v2.11.4 normalizeDirectiveName),
    # so stripping routes stay in the one mutually exclusive, most-specific-first group.
    directive = "handle_path" if route.strip_prefix else "handle"
    cors_headers, cors_responds = _cors(route.cors_origins, "\t\t") if route.cors_origins else ([], [])
    body = [*cors_headers, *(["\t\tencode zstd gzip"] if encode else []), *cors_responds]
    upstream = route.upstream
    if route.host_file_has_port:
        body.append(f"\t\tvars {HOST_FILE_DIAL_VAR} {{file.{route.host_file}}}")
        upstream = f"{{http.vars.{HOST_FILE_DIAL_VAR}}}"
    elif route.host_file is not None:
        upstream = f"{{file.{route.host_file}}}:{upstream.rpartition(':')[2]}"
    body += _reverse_proxy(upstream, "\t\t", drop_cors_grants=bool(route.cors_origins))
    return [f"\t{directive} {route.path} {{", *body, "\t}"]


def _main_site(cfg: CaddyConfig) -> list[str]:
    # One site-wide encode while every route compresses (the file as it always was);
    # otherwise each compressing route carries its own.
    site_encode = all(r.compress for r in cfg.routes)
    # A site block with several addresses is one server whose routes match any of them; each name gets its own
    # certificate (autohttps.go:201-224@v2.11.7 collects every qualifying name: certmagic SubjectQualifiesForCert,
    # certificates.go:602-616@v0.25.6, takes localhost and IPs) from the internal issuer with local_certs, which
    # puts an IP into the CSR's IP SANs (certmagic config.go:1177-1178@v0.25.6). Every name also gets the
    # HTTP->HTTPS redirect on http_port (autohttps.go:242-268@v2.11.7, unfiltered): http://localhost answers
    # 308 to https://localhost, so a kiosk on plain HTTP follows it and needs Caddy's root trusted.
    addresses = ", ".join((cfg.domain, *cfg.extra_names))
    lines = [
        f"{addresses} {{",
        "\timport security_headers",
        *(["\tencode zstd gzip"] if site_encode else []),
        f"\thandle {HEALTH_PATH} {{",
        f'\t\trespond "{HEALTH_BODY}" 200',
        "\t}",
    ]
    # Caddy also sorts same-named directives by path specificity; emitting them
    # in that order keeps the file readable as the precedence Caddy applies.
    for route in sorted(cfg.routes, key=lambda r: r.specificity):
        lines += _route(route, encode=route.compress and not site_encode)
    if "/*" not in (r.path for r in cfg.routes):
        # Without a catch-all Caddy would answer unmatched paths with an empty 200.
        lines += ["\thandle {", "\t\trespond 404", "\t}"]
    return lines + ["}"]


def _media_site(cfg: CaddyConfig) -> list[str]:
    # reverse_proxy passes WebSocket upgrades through on its own.
    return [
        f"{cfg.media_domain} {{",
        "\timport security_headers",
        *_reverse_proxy(cfg.media_upstream, "\t"),
        "}",
    ]


def _health_site(cfg: CaddyConfig) -> list[str]:
    # Plain HTTP on loopback: the container healthcheck must not depend on
    # certificates (ACME may still be pending) nor be reachable from outside.
    return [
        f"http://:{cfg.health_port} {{",
        "\tbind 127.0.0.1",
        f'\trespond {HEALTH_PATH} "{HEALTH_BODY}" 200',
        "\trespond 404",
        "}",
    ]


def render_caddyfile(cfg: CaddyConfig) -> str:
    blocks = [_global_options(cfg), _security_headers(cfg), _main_site(cfg)]
    if cfg.media_upstream is not None:
        blocks.append(_media_site(cfg))
    if cfg.turn_domain is not None:
        blocks.append(turn_site(cfg.turn_domain))
    blocks.append(_health_site(cfg))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def root_cert_command(*, container: str, out_file: str = "caddy-root.crt") -> str:
    """POSIX sh for the Docker host (or with DOCKER_HOST pointing at it): copy the internal CA's root out of the
    running gateway ``container`` into ``out_file``. `docker exec` without -t, so the PEM's bytes pass unchanged."""
    if not isinstance(container, str) or _CONTAINER_RE.fullmatch(container) is None:
        raise ValueError(f"container must be a Docker container name, got {container!r}")
    if not isinstance(out_file, str) or re.fullmatch(r"[A-Za-z0-9._/-]+", out_file) is None:
        raise ValueError(f"out_file must be a plain file path, got {out_file!r}")
    return f"docker exec {container} cat {INTERNAL_ROOT_CERT_PATH} > {out_file}"


def healthcheck_command(health_port: int) -> list[str]:
    """Docker HEALTHCHECK ``test`` for the official caddy alpine image.

    Only options common to busybox and GNU wget; Docker applies its own timeout.
    """
    return ["CMD", "wget", "-q", "-O", "-", f"http://127.0.0.1:{health_port}{HEALTH_PATH}"]


# Docker's container-name grammar (daemon/names.RestrictedNamePattern); it also keeps a
# name from being read as a `docker exec` option.
_CONTAINER_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def reload_script(*, caddyfile_path: str = CADDYFILE_PATH) -> str:
    """POSIX sh run inside the gateway container: install the Caddyfile on stdin and reload.

    stdin carries the new Caddyfile base64-encoded (see ``reload_command``). Uses only
    busybox applets and ``caddy``, i.e. what caddy:<version>-alpine ships. In order:

    1. decode stdin into a temp file next to ``caddyfile_path`` (same directory, so the
       later rename is atomic);
    2. ``caddy validate`` it: a file Caddy rejects stops here with Caddy's error on stderr,
       the live file and the running config untouched;
    3. keep a hard link to the live file and ``mv`` the new one over it (rename(2): readers
       see the old or the new file, never a partial one);
    4. ``caddy reload``, a graceful config swap: listeners are shared with the new config,
       in-flight requests finish on the old servers (grace_period), upgraded streams stay
       open (stream_close_delay); a connection the old servers accepted whose request they read
       only after the swap began is closed unanswered (see UPSTREAM_HOST_FILE_DIR). Without --address, reload reads the admin address from the
       config it loads, unix socket included (cmd/commandfuncs.go@v2.11.4 cmdReload ->
       DetermineAdminAPIAddress), so it reaches the socket the renderer puts in every file.
       If it fails, Caddy keeps its previous config (the /load API rolls back), so the old
       file goes back too: what is on disk is what a container restart will run.

    Running it again with the same file is a no-op reload (Caddy skips an unchanged config).
    """
    live = shlex.quote(caddyfile_path)
    return "\n".join([
        "set -eu",
        f"live={live}",
        'new=$(mktemp "$live.new.XXXXXX")',
        'previous="$new.previous"',
        'trap \'rm -f "$new" "$previous"\' EXIT',
        "trap 'exit 1' HUP INT TERM",
        'base64 -d >"$new"',
        # mktemp creates 0600; keep the mode a Docker upload or the image gives the file.
        'chmod 0644 "$new"',
        'if ! caddy validate --config "$new" --adapter caddyfile; then',
        '\techo "reload aborted: caddy validate rejected the new Caddyfile;'
        ' $live and the running config are unchanged" >&2',
        "\texit 1",
        "fi",
        'ln -f "$live" "$previous"',
        'mv -f "$new" "$live"',
        'if ! caddy reload --config "$live" --adapter caddyfile; then',
        '\tmv -f "$previous" "$live"',
        '\techo "reload failed: Caddy kept its running config; restored the previous $live" >&2',
        "\texit 1",
        "fi",
        "",
    ])


def reload_command(caddyfile: str, *, container: str, caddyfile_path: str = CADDYFILE_PATH) -> str:
    """POSIX sh for the Docker host: put ``caddyfile`` into the running ``container`` and reload it.

    The file travels base64-encoded on ``docker exec -i``'s stdin: the command stays one
    quoted word of [A-Za-z0-9+/=] whatever the Caddyfile holds (quotes, '$', a line that
    would end a heredoc), it survives any further layer of quoting (ssh, a CI step), and
    it is decoded by the busybox ``base64`` in the pinned image, so the host needs nothing
    but ``printf`` and ``docker``. The exit status is the in-container script's.
    """
    if not isinstance(container, str) or _CONTAINER_RE.fullmatch(container) is None:
        raise ValueError(f"container must be a Docker container name, got {container!r}")
    if not isinstance(caddyfile, str) or not caddyfile:
        raise ValueError("caddyfile must be a non-empty string")
    payload = base64.b64encode(caddyfile.encode()).decode("ascii")
    script = reload_script(caddyfile_path=caddyfile_path)
    return (
        f"printf '%s\\n' '{payload}' | "
        f"docker exec -i {shlex.quote(container)} sh -c {shlex.quote(script)}\n"
    )


def switch_upstream_script(*, host_file: str, with_port: bool = False) -> str:
    """POSIX sh run inside the gateway container: make the host on stdin the routes' upstream.

    Writes a temp file in the same directory and renames it over ``host_file`` (rename(2) is atomic:
    each request's read of the {file.*} placeholder sees the old host or the new one, never a partial
    or empty file). No Caddy reload: the next request dials the new host (see UPSTREAM_HOST_FILE_DIR).
    Busybox applets only, as in caddy:<version>-alpine. Running it again with the same host changes nothing.
    ``with_port``: stdin is `host:port` (Route.host_file_has_port), checked as such.
    """
    if not _is_socket_path(host_file):
        raise ValueError(f"host_file must be an absolute path, got {host_file!r}")
    # The same grammar the program checked (switch_upstream_command): never an empty dial address.
    check = (
        ['case "$host" in *:*) ;; *) echo "switch aborted: not host:port: $host" >&2; exit 1;; esac',
         'case "${host%:*}" in ""|*[!A-Za-z0-9_.-]*) echo "switch aborted: not host:port: $host" >&2; exit 1;; esac',
         'case "${host##*:}" in ""|*[!0-9]*) echo "switch aborted: not host:port: $host" >&2; exit 1;; esac']
        if with_port
        else ['case "$host" in ""|*[!A-Za-z0-9_.-]*) echo "switch aborted: not a host name: $host" >&2; exit 1;; esac']
    )
    return "\n".join([
        "set -eu",
        f"live={shlex.quote(host_file)}",
        'new=$(mktemp "$live.new.XXXXXX")',
        'trap \'rm -f "$new"\' EXIT',
        "trap 'exit 1' HUP INT TERM",
        'read -r host',
        *check,
        'printf \'%s\\n\' "$host" >"$new"',
        # mktemp creates 0600; Caddy runs as root in the image, 0644 as the uploaded file has.
        'chmod 0644 "$new"',
        'mv -f "$new" "$live"',
        "",
    ])


def switch_upstream_command(host: str, *, container: str, host_file: str, with_port: bool = False) -> str:
    """POSIX sh for the Docker host: point ``host_file`` in the running gateway ``container`` at ``host``
    (a container name; with ``with_port`` a `host:port` dial address)."""
    if not isinstance(container, str) or _CONTAINER_RE.fullmatch(container) is None:
        raise ValueError(f"container must be a Docker container name, got {container!r}")
    if with_port:
        if not isinstance(host, str) or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*:[1-9][0-9]{0,4}", host) is None:
            raise ValueError(f"host must be host:port, got {host!r}")
    elif not isinstance(host, str) or _CONTAINER_RE.fullmatch(host) is None:
        raise ValueError(f"host must be a Docker container name, got {host!r}")
    script = switch_upstream_script(host_file=host_file, with_port=with_port)
    return f"printf '%s\\n' {shlex.quote(host)} | docker exec -i {shlex.quote(container)} sh -c {shlex.quote(script)}\n"
