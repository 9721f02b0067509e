"""Caddyfile for the TLS gateway in front of the app and LiveKit.

One renderer serves both stacks: ``tls="internal"`` makes Caddy its own CA
(dev: no public DNS, no Let's Encrypt), ``tls="acme"`` uses Caddy's automatic
HTTPS (prod). Everything else (headers, routing, health) is identical, so a
config tested locally is the config shipped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LETSENCRYPT_STAGING_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
HEALTH_PATH = "/health"
HEALTH_BODY = "OK"
# Loopback-only plain-HTTP listener for the container healthcheck.
HEALTH_PORT = 9180

# Lower case only: Caddy lower-cases site addresses anyway, and one spelling
# keeps equality checks (e.g. media site vs. main site) honest.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Conservative on purpose: these end up unquoted in the Caddyfile, so no
# whitespace, braces, quotes or '#'. A wildcard is only allowed as suffix.
_PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]*\*?")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


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


def _check_upstream(field: str, value: str) -> None:
    """'host:port' with a DNS name (e.g. a Docker service) or an IPv4 literal."""
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if not (_is_hostname(host) or _is_ipv4(host)) or re.fullmatch(r"[1-9][0-9]{0,4}", port) is None:
        raise ValueError(f"{field} must be 'host:port', got {value!r}")
    _check_port(f"{field} port", int(port))


def _check_port(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{field} must be an integer in 1..65535, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Route:
    """Requests whose path matches ``path`` (Caddy path matcher) go to ``upstream``."""

    path: str
    upstream: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or _PATH_RE.fullmatch(self.path) is None:
            raise ValueError(
                f"Route.path must start with '/' and contain only [A-Za-z0-9._~/-] "
                f"with an optional trailing '*', got {self.path!r}"
            )
        if self.path == HEALTH_PATH:
            raise ValueError(f"Route.path {HEALTH_PATH!r} is reserved for the gateway's own health check")
        _check_upstream("Route.upstream", self.upstream)

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
    hsts_max_age_seconds: int = 31536000

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
        if re.fullmatch(_LABEL, self.media_subdomain) is None:
            raise ValueError(f"media_subdomain must be one lower-case DNS label, got {self.media_subdomain!r}")
        if not _is_hostname(self.media_domain):
            raise ValueError(f"media_subdomain makes an invalid hostname: {self.media_domain!r}")
        if self.media_upstream is not None:
            _check_upstream("media_upstream", self.media_upstream)
        max_age = self.hsts_max_age_seconds
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"hsts_max_age_seconds must be a non-negative integer, got {max_age!r}")

    @property
    def media_domain(self) -> str:
        return f"{self.media_subdomain}.{self.domain}"


def _global_options(cfg: CaddyConfig) -> list[str]:
    lines = ["{", f"\thttp_port {cfg.http_port}", f"\thttps_port {cfg.https_port}"]
    if cfg.acme_email is not None:
        lines.append(f"\temail {cfg.acme_email}")
    if cfg.acme_staging:
        lines.append(f"\tacme_ca {LETSENCRYPT_STAGING_DIRECTORY}")
    if cfg.tls == "internal":
        # A container has no trust store worth touching; clients get the root
        # from Caddy's data dir instead.
        lines += ["\tlocal_certs", "\tskip_install_trust"]
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


def _main_site(cfg: CaddyConfig) -> list[str]:
    lines = [
        f"{cfg.domain} {{",
        "\timport security_headers",
        "\tencode zstd gzip",
        f"\thandle {HEALTH_PATH} {{",
        f'\t\trespond "{HEALTH_BODY}" 200',
        "\t}",
    ]
    # Caddy also sorts same-named directives by path specificity; emitting them
    # in that order keeps the file readable as the precedence Caddy applies.
    for route in sorted(cfg.routes, key=lambda r: r.specificity):
        lines += [f"\thandle {route.path} {{", f"\t\treverse_proxy {route.upstream}", "\t}"]
    if "/*" not in (r.path for r in cfg.routes):
        # Without a catch-all Caddy would answer unmatched paths with an empty 200.
        lines += ["\thandle {", "\t\trespond 404", "\t}"]
    return lines + ["}"]


def _media_site(cfg: CaddyConfig) -> list[str]:
    # reverse_proxy passes WebSocket upgrades through on its own.
    return [
        f"{cfg.media_domain} {{",
        "\timport security_headers",
        f"\treverse_proxy {cfg.media_upstream}",
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
    blocks.append(_health_site(cfg))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def healthcheck_command(health_port: int) -> list[str]:
    """Docker HEALTHCHECK ``test`` for the official caddy alpine image.

    Only options common to busybox and GNU wget; Docker applies its own timeout.
    """
    return ["CMD", "wget", "-q", "-O", "-", f"http://127.0.0.1:{health_port}{HEALTH_PATH}"]
