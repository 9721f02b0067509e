"""gateway.extraNames and the internal-CA HSTS/root-trust pieces of the Caddyfile renderer (renderers/caddyfile.py)."""
from __future__ import annotations

import json
import os
import subprocess
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from renderers.caddyfile import (
    INTERNAL_ROOT_CERT_PATH,
    CaddyConfig,
    Route,
    is_internal_name,
    render_caddyfile,
    root_cert_command,
)

MIRROR = CaddyConfig(
    domain="mirror.local",
    tls="internal",
    routes=(Route(path="/*", upstream="127.0.0.1:8081"),),
    extra_names=("localhost", "192.168.1.20"),
    hsts_max_age_seconds=0,
)


def _adapt(caddyfile: str) -> dict:
    caddy = next(c for c in (shutil.which("caddy"), str(Path(sys.executable).parent / "caddy")) if c and Path(c).is_file())
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "Caddyfile"
        path.write_text(caddyfile)
        env = {**os.environ, "HOME": home, "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/config"}
        result = subprocess.run([caddy, "adapt", "--adapter", "caddyfile", "--config", str(path)],
                                env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "not formatted" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def test_the_main_site_lists_the_domain_then_the_extra_names() -> None:
    text = render_caddyfile(MIRROR)
    assert "\nmirror.local, localhost, 192.168.1.20 {\n" in text
    assert text.count("import security_headers") == 1  # one site block: the same routes for every name


def test_without_extra_names_the_site_is_the_domain_alone() -> None:
    assert "\nmirror.local {\n" in render_caddyfile(replace(MIRROR, extra_names=()))


def test_caddy_matches_every_name_on_the_same_routes_and_issues_them_internally() -> None:
    adapted = _adapt(render_caddyfile(MIRROR))
    servers = adapted["apps"]["http"]["servers"].values()
    (site,) = [r for s in servers for r in s.get("routes", []) if "mirror.local" in r.get("match", [{}])[0].get("host", [])]
    assert site["match"][0]["host"] == ["mirror.local", "localhost", "192.168.1.20"]
    # local_certs: one internal-issuer policy covering every name, the IP included.
    issuers = [i["module"] for p in adapted["apps"]["tls"]["automation"]["policies"] for i in p.get("issuers", [])]
    assert issuers and set(issuers) == {"internal"}


def test_hsts_zero_is_sent_as_max_age_zero() -> None:
    # RFC 6797 section 6.1.1: max-age=0 makes a browser forget an earlier pin; no header would leave it.
    assert '\t\tStrict-Transport-Security "max-age=0"\n' in render_caddyfile(MIRROR)
    assert '"max-age=31536000"' in render_caddyfile(replace(MIRROR, hsts_max_age_seconds=31_536_000))


@pytest.mark.parametrize("name", ["localhost", "app.localhost", "pi.local", "nas.internal", "x.home.arpa", "192.168.1.20", "127.0.0.1", "8.8.8.8"])
def test_acme_refuses_names_no_public_ca_issues(name: str) -> None:
    assert is_internal_name(name)
    with pytest.raises(ValueError, match="extra_names .* cannot get a certificate from ACME"):
        CaddyConfig(domain="mirror.example.com", tls="acme", extra_names=(name,))


def test_acme_takes_public_extra_names() -> None:
    cfg = CaddyConfig(domain="mirror.example.com", tls="acme", extra_names=("www.mirror.example.com",))
    assert "\nmirror.example.com, www.mirror.example.com {\n" in render_caddyfile(cfg)
    assert not is_internal_name("www.mirror.example.com")


@pytest.mark.parametrize(
    "extra_names",
    [
        ("Localhost",), ("a b",), ("::1",), ("10.0.0.256",), ("*.mirror.local",), ["localhost"],
        ("localhost", "localhost"), ("mirror.local",), ("livekit.mirror.local",),
    ],
)
def test_bad_extra_names_are_refused(extra_names) -> None:
    with pytest.raises(ValueError, match="extra_names"):
        replace(MIRROR, extra_names=extra_names)


_NAME = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}", fullmatch=True),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
)


@settings(max_examples=50, deadline=None)
@given(names=st.lists(_NAME, unique=True, max_size=4))
def test_every_accepted_extra_name_is_in_the_site_address(names: list[str]) -> None:
    names = [n for n in names if n not in ("mirror.local", "livekit.mirror.local")]
    text = render_caddyfile(replace(MIRROR, extra_names=tuple(names)))
    assert f"\n{', '.join(['mirror.local', *names])} {{\n" in text


def test_root_cert_command_copies_the_internal_root_out_of_the_container() -> None:
    assert INTERNAL_ROOT_CERT_PATH == "/data/caddy/pki/authorities/local/root.crt"
    assert root_cert_command(container="gateway-caddy") == (
        "docker exec gateway-caddy cat /data/caddy/pki/authorities/local/root.crt > caddy-root.crt"
    )
    for bad in ("-it", "a b", "x;rm"):
        with pytest.raises(ValueError, match="container"):
            root_cert_command(container=bad)
