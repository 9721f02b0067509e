"""The pull-request preview authenticates to OCI from environment variables alone.

The OCI provider reads TF_VAR_<name> then OCI_<NAME> for each setting
(internal/provider/provider.go:83-89, :135-297@v8.28.0) and insists on ~/.oci/config
only when a profile is configured (:404-409); CI has no such file.
"""
from __future__ import annotations

import yaml

from tests import harness

PROVIDER_ENV = {"OCI_TENANCY_OCID", "OCI_USER_OCID", "OCI_FINGERPRINT", "OCI_PRIVATE_KEY", "OCI_REGION"}


def test_the_preview_job_gives_the_provider_every_credential_as_environment():
    workflow = yaml.safe_load((harness.ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    env = workflow["jobs"]["preview"]["env"]
    assert PROVIDER_ENV <= set(env), PROVIDER_ENV - set(env)
    assert all(str(env[name]).startswith("${{ secrets.") for name in PROVIDER_ENV)


def test_the_program_configures_no_profile_that_would_demand_a_config_file():
    prod = harness.evaluate("prod")
    (provider,) = prod.monitor.by_type("pulumi:providers:oci")
    inputs = harness.unwrap(provider.inputs)
    assert set(inputs) == {"region"}, inputs
