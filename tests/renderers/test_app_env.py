"""App env references: `${service.output}` resolved, everything else literal."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.app_env import PROVIDERS, app_reference, app_url, references, resolve_env

VALUES = {name: f"<{name}>" for name in PROVIDERS}


def test_every_reference_resolves_in_place():
    env = {"DATABASE_URL": "${database.url}", "MIXED": "s3=${s3.endpoint}/${s3.bucket}?r=${s3.region}", "PLAIN": "x"}
    assert resolve_env(env, VALUES) == [
        "DATABASE_URL=<database.url>",
        "MIXED=s3=<s3.endpoint>/<s3.bucket>?r=<s3.region>",
        "PLAIN=x",
    ]
    assert references(env["MIXED"]) == ["s3.endpoint", "s3.bucket", "s3.region"]


@given(st.text().filter(lambda t: "${" not in t and "\x00" not in t))
def test_text_without_a_reference_is_taken_literally(text):
    assert resolve_env({"V": text}, VALUES) == [f"V={text}"]


@given(st.lists(st.sampled_from(sorted(PROVIDERS)), min_size=1, max_size=5))
def test_any_known_references_resolve(names):
    template = "-".join(f"${{{n}}}" for n in names)
    assert resolve_env({"V": template}, VALUES) == ["V=" + "-".join(f"<{n}>" for n in names)]


@pytest.mark.parametrize("env", [{"1BAD": "x"}, {"A-B": "x"}, {"NUL": "a\x00b"}])
def test_what_docker_cannot_take_is_refused(env):
    with pytest.raises(ValueError):
        resolve_env(env, VALUES)


LABELS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(LABELS, st.text(alphabet="/?=&abc", max_size=10))
def test_another_apps_url_is_one_reference_whatever_its_name(name, tail):
    """App names are DNS labels and may hold '-': the whole `apps.<name>.url` is one reference."""
    template = f"${{apps.{name}.url}}{tail}"
    assert references(template) == [f"apps.{name}.url"]
    assert app_reference(f"apps.{name}.url") == (name, "url")
    url = app_url(f"{name}:8000")
    assert resolve_env({"V": template}, {f"apps.{name}.url": url}) == [f"V=http://{name}:8000{tail}"]


def test_an_unknown_app_output_is_still_seen_as_a_reference():
    """So the loader refuses `${apps.web.port}` instead of passing it through literally."""
    assert references("${apps.web.port}") == ["apps.web.port"]
    assert app_reference("apps.web.port") == ("web", "port")
    assert app_reference("cache.url") is None
