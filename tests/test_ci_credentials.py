"""The pull-request workflow: what the prod preview may hold, where it comes from, what it checks.

The OCI provider reads TF_VAR_<name> then OCI_<NAME> for each setting
(internal/provider/provider.go:83-89, :135-297@v8.28.0) and insists on ~/.oci/config
only when a profile is configured (:404-409); CI has no such file.

The prod preview reads the team's shared state (scripts/bootstrap-state) with a read-only key,
gets its secrets only from a protected environment, never runs a fork's code, holds no SSH
private key (a preview never connects to the VM: tests/test_preview_without_ssh_key.py), and
feeds its JSON to scripts/check-preview.
"""
from __future__ import annotations

import re
import runpy
from typing import Any

import yaml

from tests import harness

WORKFLOW = harness.ROOT / ".github" / "workflows" / "pull-request.yml"
PROVIDER_ENV = {"OCI_TENANCY_OCID", "OCI_USER_OCID", "OCI_FINGERPRINT", "OCI_PRIVATE_KEY", "OCI_REGION"}
# The one private key CI may hold: the OCI API key of the read-only preview user (documented in the workflow).
DOCUMENTED_API_KEY = "OCI_PRIVATE_KEY"
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true


def secrets_in(value: Any) -> set[str]:
    return set(SECRET.findall(yaml.safe_dump(value)))


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def test_the_preview_job_gives_the_provider_every_credential_as_environment():
    env = workflow()["jobs"]["preview"]["env"]
    assert PROVIDER_ENV <= set(env), PROVIDER_ENV - set(env)
    assert all(str(env[name]).startswith("${{ secrets.") for name in PROVIDER_ENV)


def test_the_program_configures_no_profile_that_would_demand_a_config_file():
    prod = harness.evaluate("prod")
    (provider,) = prod.monitor.by_type("pulumi:providers:oci")
    inputs = harness.unwrap(provider.inputs)
    assert set(inputs) == {"region"}, inputs


def test_no_ssh_private_key_anywhere_in_the_workflow():
    text = WORKFLOW.read_text()
    names = SECRET.findall(text)
    keys = {n for n in names if "SSH_PRIVATE" in n or "PRIVATE_KEY" in n}
    assert keys <= {DOCUMENTED_API_KEY}, keys - {DOCUMENTED_API_KEY}
    assert "API key" in text  # ... and it is documented as the OCI API key it is
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        assert "~/.ssh" not in line and "id_ed25519" not in line and "BEGIN OPENSSH" not in line, line


def test_the_prod_preview_gets_its_secrets_from_a_protected_environment():
    jobs = workflow()["jobs"]
    preview = jobs["preview"]
    assert preview.get("environment") == "prod-preview"
    used = secrets_in(preview) - {"GITHUB_TOKEN"}
    assert PROVIDER_ENV | {"PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"} <= used
    # Every other job runs without secrets, so nothing outside the environment needs repository secrets.
    for name, job in jobs.items():
        if name != "preview":
            assert secrets_in(job) <= {"GITHUB_TOKEN"}, (name, secrets_in(job))
    # Each secret the job uses is listed in the workflow's header, where the environment's secrets are documented.
    header = WORKFLOW.read_text().split("\nname:", 1)[0]
    assert all(name in header for name in used), [n for n in used if n not in header]


def test_fork_pull_requests_never_reach_the_prod_preview():
    doc = workflow()
    on = triggers(doc)
    assert "pull_request" in on and "pull_request_target" not in on  # a fork's code never runs with base secrets
    assert SAME_REPOSITORY in doc["jobs"]["preview"]["if"]


def test_the_prod_preview_uses_the_shared_state_read_only():
    job = workflow()["jobs"]["preview"]
    env = job["env"]
    assert env["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert env["AWS_ACCESS_KEY_ID"].startswith("${{ secrets.") and env["AWS_SECRET_ACCESS_KEY"].startswith("${{ secrets.")
    # What scripts/bootstrap-state prints is an s3:// backend; a file:// one would show every resource as new.
    bootstrap = runpy.run_path(str(harness.ROOT / "scripts" / "bootstrap-state"), run_name="bootstrap_state")
    assert bootstrap["url"]("state", "ns", "eu-frankfurt-1").startswith("s3://state?")
    text = yaml.safe_dump(job)
    assert "file://" not in text
    # CI never creates the prod stack: a read-only key could not, and a new empty stack would preview as all-new.
    for step in steps(job):
        assert "--create" not in step.get("run", ""), step
        assert not (step.get("with") or {}).get("upsert"), step


def test_the_dev_preview_keeps_a_throwaway_local_backend():
    job = workflow()["jobs"]["preview-dev"]
    assert job["env"]["PULUMI_BACKEND_URL"].startswith("file://")
    assert [s["with"]["stack-name"] for s in steps(job) if (s.get("with") or {}).get("command") == "preview"] == ["dev"]


def test_check_preview_runs_on_the_prod_preview_json():
    job = workflow()["jobs"]["preview"]
    runs = [s.get("run", "") for s in steps(job)]
    json_at = next(i for i, r in enumerate(runs) if re.search(r"pulumi preview --stack prod --json > preview\.json", r))
    check_at = next(i for i, r in enumerate(runs) if "scripts/check-preview" in r)
    assert check_at > json_at
    check = steps(job)[check_at]
    assert check["run"].rstrip().endswith("preview.json")
    assert not check.get("continue-on-error") and "if" not in check  # its failure fails the job
    # A failed JSON preview still fails the job, after the check and the human-readable preview ran.
    assert any("steps.json.outputs.status" in str(s.get("if", "")) for s in steps(job)[check_at:])


def test_the_test_job_stays():
    job = workflow()["jobs"]["test"]
    assert any(".ci/run" in s.get("run", "") for s in steps(job))
    for name in ("preview", "preview-dev"):
        assert workflow()["jobs"][name]["needs"] in ("test", ["test"]), name
