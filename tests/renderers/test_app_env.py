"""App env references: `${service.output}` resolved, everything else literal."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderers.app_env import PROVIDERS, references, resolve_env

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
