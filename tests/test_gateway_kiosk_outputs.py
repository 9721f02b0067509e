"""Under mocks: the gateway's extra names, internal-CA HSTS and the gatewayRootCertCommand output, as the whole
program registers and exports them (the OzMirror example on the existing-host target, dev, prod)."""
from __future__ import annotations

import pytest

from renderers.caddyfile import CADDYFILE_PATH
from tests import examples, harness

ROOT_COMMAND = "docker exec gateway-caddy cat /data/caddy/pki/authorities/local/root.crt > caddy-root.crt"


def _caddyfile(run: harness.Evaluation) -> str:
    uploads = {u["file"]: u["content"] for u in harness.unwrap(run.monitor.one("gateway-caddy").inputs)["uploads"]}
    return uploads[CADDYFILE_PATH]


@pytest.fixture(scope="module")
def ozmirror() -> harness.Evaluation:
    (ex,) = [e for e in examples.examples() if e.system == "ozmirror"]
    return examples.evaluate(ex)


def test_ozmirror_serves_its_extra_names_with_the_same_routes(ozmirror):
    text = _caddyfile(ozmirror)
    assert "\nmirror.local, localhost, 127.0.0.1, 192.168.1.20 {\n" in text
    assert "\nmirror.local {\n" not in text


def test_ozmirror_sends_max_age_zero_by_default(ozmirror):
    assert '\t\tStrict-Transport-Security "max-age=0"\n' in _caddyfile(ozmirror)


def test_ozmirror_exports_how_to_fetch_the_internal_root(ozmirror):
    assert ozmirror.outputs["gatewayRootCertCommand"] == ROOT_COMMAND
    # The command names the container and the volume the program really runs.
    volumes = {v["containerPath"]: v["volumeName"] for v in harness.unwrap(ozmirror.monitor.one("gateway-caddy").inputs)["volumes"]}
    assert "/data" in volumes
    assert "gatewayRootCertCommand" not in ozmirror.secret_outputs


def test_dev_keeps_its_own_hsts_and_exports_the_root_command():
    run = harness.evaluate("dev")
    assert run.outputs["gatewayRootCertCommand"] == ROOT_COMMAND
    assert '"max-age=300"' in _caddyfile(run)  # Pulumi.dev.yaml sets hstsMaxAgeSeconds: the user's value wins


def test_prod_with_acme_keeps_one_year_and_has_no_root_command():
    values = harness.stack_config_as_user_sets_it("prod")
    values[f"{harness.PROJECT}:gateway"] = {**values[f"{harness.PROJECT}:gateway"], "hstsMaxAgeSeconds": None}
    run = harness.evaluate("prod", values)
    assert "gatewayRootCertCommand" not in run.outputs
    assert '"max-age=31536000"' in _caddyfile(run)
