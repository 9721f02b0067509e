"""The prod preview's settings are the deployed stack's own (issue 14, point 4).

The workflow's config step is run as GitHub runs it (`bash -e`), in a stand-in checkout: a git repository
whose first parent holds the target branch's Pulumi.prod.yaml and whose HEAD the pull request's, with a
stand-in `pulumi` on PATH that answers `config refresh --config-file F` with a deployed stack's config as
pulumi writes it (config.go:605-658@v3.259.0). That stack is in another availability domain than the first and
carries settings the team set after the first deploy (a second admin CIDR, an extra SSH key, a domain, a
secret). The step's Pulumi.prod.yaml is then fed to the whole program under mocks.
"""
from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness

ROOT = harness.ROOT
P = harness.PROJECT
WORKFLOW = ROOT / ".github" / "workflows" / "pull-request.yml"
SECOND_AD = "Uocm:EU-FRANKFURT-1-AD-2"  # not the first: the fallback would pick AD-1 and replace VM and volume
EXTRA_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITeammateKeyMaterial teammate@laptop"
ADMIN_CIDRS = ["198.51.100.7/32", "203.0.113.0/28"]
SECRET = {"secure": "v1:bW9jayBjaXBoZXJ0ZXh0:ZGVwbG95ZWQgc2VjcmV0"}
SALT = "v1:deployedsalt:v1:bW9jaw==:c2FsdA=="

merge_mod = runpy.run_path(str(ROOT / "scripts" / "ci-stack-config"), run_name="ci_stack_config")


def config_step() -> dict[str, Any]:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["preview"]
    (step,) = [s for s in job["steps"] if "config refresh" in s.get("run", "")]
    return step


def checked_in() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())


def deployed_stack() -> dict[str, Any]:
    """What `pulumi config refresh` writes for a prod deployed from today's file plus its deployers' settings."""
    config = checked_in()["config"]
    config[f"{P}:oci"] = {
        **config[f"{P}:oci"],
        **harness.PROD_PERSONAL_CONFIG,
        "adminCidrs": ADMIN_CIDRS,
        "availabilityDomain": SECOND_AD,
        "extraSshPublicKeys": [EXTRA_KEY],
    }
    config[f"{P}:gateway"] = {**config[f"{P}:gateway"], "acmeEmail": "ops@example.com"}
    config[f"{P}:domain"] = "example.com"
    config[f"{P}:databasePassword"] = SECRET
    return {"encryptionsalt": SALT, "config": config}


def pull_request_file() -> dict[str, Any]:
    """The pull request's Pulumi.prod.yaml: one setting changed, one removed (back to its default)."""
    doc = checked_in()
    doc["config"][f"{P}:cache"] = {**doc["config"][f"{P}:cache"], "memoryMb": 384}
    del doc["config"][f"{P}:gateway"]["acmeStaging"]
    return doc


STAND_IN = r"""#!/bin/sh
echo "pulumi $*" >> "$CALLS"
case "$1 $2" in
  "config refresh")
    [ -n "${NO_HISTORY:-}" ] && { echo "error: getting latest configuration: no previous deployment" >&2; exit 255; }
    while [ $# -gt 0 ]; do [ "$1" = --config-file ] && cp "$DEPLOYED" "$2"; shift; done ;;
esac
exit 0
"""


def checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo, bin_dir, temp = tmp_path / "checkout", tmp_path / "bin", tmp_path / "runner-temp"
    for d in (repo / "scripts", bin_dir, temp):
        d.mkdir(parents=True)
    shutil.copy2(ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    shutil.copy2(ROOT / "scripts" / "ci-stack-config", repo / "scripts" / "ci-stack-config")
    (repo / "venv").symlink_to(ROOT / "venv")  # the step runs after the job made ./venv from its lock
    (bin_dir / "pulumi").write_text(STAND_IN)
    (bin_dir / "pulumi").chmod(0o755)
    (tmp_path / "deployed.yaml").write_text(yaml.safe_dump(deployed_stack()))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "GIT_"))},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls.log"),
        "DEPLOYED": str(tmp_path / "deployed.yaml"),
        "RUNNER_TEMP": str(temp),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True)
    git("init", "-q")
    shutil.copy2(ROOT / "Pulumi.prod.yaml", repo / "Pulumi.prod.yaml")  # the target branch's
    git("add", "Pulumi.yaml", "Pulumi.prod.yaml")
    git("commit", "-q", "-m", "base")
    (repo / "Pulumi.prod.yaml").write_text(yaml.safe_dump(pull_request_file(), sort_keys=False))
    git("commit", "-q", "-am", "the pull request")
    return repo, env


def run_step(repo: Path, env: dict[str, str], **extra: str) -> subprocess.CompletedProcess:
    # GitHub's `run:` with the default shell: bash --noprofile --norc -eo pipefail {0}.
    script = repo.parent / "step.sh"
    script.write_text(config_step()["run"])
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=repo, env={**env, **extra}, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def stepped(tmp_path_factory) -> tuple[dict[str, Any], list[str]]:
    tmp_path = tmp_path_factory.mktemp("ci-config")
    repo, env = checkout(tmp_path)
    result = run_step(repo, env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load((repo / "Pulumi.prod.yaml").read_text()), (tmp_path / "calls.log").read_text().splitlines()


def test_the_step_reads_the_deployed_config_and_sets_nothing_by_hand(stepped):
    _, calls = stepped
    assert calls[0] == "pulumi stack select prod"
    assert calls[1].startswith("pulumi config refresh --stack prod --config-file ")
    assert len(calls) == 2, calls  # no `pulumi config set` of a hand-kept copy
    assert "secrets.PROD_" not in json.dumps(config_step()) and "secrets.OCI_COMPARTMENT" not in json.dumps(config_step())


def test_the_deployers_own_settings_come_from_the_deployed_stack(stepped):
    doc, _ = stepped
    oci = doc["config"][f"{P}:oci"]
    assert oci["availabilityDomain"] == SECOND_AD
    assert oci["adminCidrs"] == ADMIN_CIDRS and oci["extraSshPublicKeys"] == [EXTRA_KEY]
    assert {k: oci[k] for k in ("compartmentId", "userId", "region", "sshPublicKey")} == {
        k: harness.PROD_PERSONAL_CONFIG[k] for k in ("compartmentId", "userId", "region", "sshPublicKey")
    }
    assert doc["config"][f"{P}:domain"] == "example.com"
    assert doc["config"][f"{P}:gateway"]["acmeEmail"] == "ops@example.com"
    assert doc["config"][f"{P}:databasePassword"] == SECRET  # still encrypted, under the deployed salt
    assert doc["encryptionsalt"] == SALT


def test_the_pull_requests_checked_in_settings_win(stepped):
    doc, _ = stepped
    assert doc["config"][f"{P}:cache"]["memoryMb"] == 384  # changed by the pull request
    assert "acmeStaging" not in doc["config"][f"{P}:gateway"]  # removed by it: its default, as the next deploy
    assert doc["config"][f"{P}:gateway"]["routes"] == checked_in()["config"][f"{P}:gateway"]["routes"]


def test_the_program_keeps_the_deployed_availability_domain_and_settings(stepped):
    doc, _ = stepped
    values = {k: v for k, v in doc["config"].items() if k != f"{P}:databasePassword"}  # the mocks cannot decrypt
    values[f"{P}:oci"] = {**values[f"{P}:oci"], "sshPrivateKeyFile": harness.mock_ssh_key_file()}
    prod = harness.evaluate("prod", values)
    (vm,) = prod.monitor.by_type("oci:Core/instance:Instance")
    volumes = prod.monitor.by_type("oci:Core/volume:Volume")
    assert vm.inputs["availabilityDomain"] == SECOND_AD
    assert volumes and all(v.inputs["availabilityDomain"] == SECOND_AD for v in volumes)
    everything = json.dumps([harness.unwrap(r.inputs) for r in prod.monitor.registered])
    assert all(cidr in everything for cidr in ADMIN_CIDRS) and EXTRA_KEY in everything
    assert "example.com" in json.dumps(prod.outputs)


def test_an_empty_history_fails_the_step_with_the_fix(tmp_path):
    repo, env = checkout(tmp_path)
    before = (repo / "Pulumi.prod.yaml").read_text()
    result = run_step(repo, env, NO_HISTORY="1")
    assert result.returncode != 0
    assert "no previous deployment" in result.stderr and "scripts/up prod once" in result.stderr
    assert (repo / "Pulumi.prod.yaml").read_text() == before


def test_merge_without_a_base_copy_keeps_only_settings_never_checked_in():
    merge = merge_mod["merge"]
    deployed = {"config": {f"{P}:oci": {"ocpus": 4, "region": "r"}, f"{P}:domain": "d"}, "encryptionsalt": "s"}
    head = {"config": {"oci": {"ocpus": 2}}}  # un-namespaced keys are the project's, as Pulumi reads them
    merged = merge(deployed, head, head, P)
    assert merged == {"encryptionsalt": "s", "config": {f"{P}:oci": {"ocpus": 2, "region": "r"}, f"{P}:domain": "d"}}


def test_a_deployed_file_without_config_is_refused(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text(f"name: {P}\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    (tmp_path / "deployed.yaml").write_text("encryptionsalt: s\n")
    code = merge_mod["main"](["--deployed", str(tmp_path / "deployed.yaml"), "--base", str(tmp_path / "Pulumi.prod.yaml"), str(tmp_path / "Pulumi.prod.yaml")])
    assert code == 1
