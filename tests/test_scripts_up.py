"""scripts/up prod never creates an empty prod (issue 14, point 5).

Pulumi.yaml's `backend.url: file://~` outranks `pulumi login` (pkg/workspace/creds.go:58-65@v3.259.0), so a
teammate who forgot PULUMI_BACKEND_URL would be in ~/.pulumi, where `stack select --create prod` makes a new,
empty prod and `up` plans a second VCN, VM, user and bucket. These run the real scripts/up with a stand-in
`pulumi` on PATH that records its argv, and stand-in venv builders.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests import harness

ROOT = harness.ROOT
BACKEND = "s3://pulumi-state?endpoint=https://ns.compat.objectstorage.eu-frankfurt-1.oraclecloud.com&region=eu-frankfurt-1&s3ForcePathStyle=true"

# Records its arguments; `stack select prod` (no --create) fails as the real CLI does for a missing stack
# (StackNotFoundError, stack_select.go:86-104@v3.259.0) when NO_PROD is set; `config get` fails when NO_SETTINGS is.
STAND_IN = r"""#!/bin/sh
echo "pulumi $*" >> "$CALLS"
case "$*" in
  "stack select prod") [ -n "${NO_PROD:-}" ] && { echo "error: no stack named 'prod' found" >&2; exit 255; } ;;
  "stack select --create prod") : > "$CALLS.created" ;;
  "config get "*) [ -n "${NO_SETTINGS:-}" ] && { echo "error: configuration key 'backing-services:oci' not found" >&2; exit 255; } ;;
esac
exit 0
"""


def run_up(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    root, bin_dir, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls.log"
    (root / "scripts").mkdir(parents=True)
    bin_dir.mkdir()
    for name in ("up", "stack-env.sh"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    (root / "scripts" / "venv-from-lock").write_text("#!/bin/sh\nexit 0\n")
    (root / "scripts" / "venv-from-lock").chmod(0o755)
    (bin_dir / "pulumi").write_text(STAND_IN)
    (bin_dir / "pulumi").chmod(0o755)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    full = {**base, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "PULUMI_CONFIG_PASSPHRASE": "p", **env}
    result = subprocess.run([root / "scripts" / "up", *args], env=full, capture_output=True, text=True, timeout=60)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_without_a_backend_prod_is_refused_before_any_pulumi_command(tmp_path):
    result, calls = run_up(tmp_path, "prod")
    assert result.returncode == 2, result
    assert calls == []  # no `stack select --create`, no `up`: not even a select
    # The steps: the team's state, or an explicit local one; and the only way to a new prod.
    for step in (". ./state.env", "export PULUMI_BACKEND_URL=file://~", "scripts/up prod --first-deploy", "pulumi login"):
        assert step in result.stderr, (step, result.stderr)


def test_an_empty_backend_variable_counts_as_none(tmp_path):
    result, calls = run_up(tmp_path, "prod", PULUMI_BACKEND_URL="")
    assert result.returncode == 2 and calls == [], result


def test_first_deploy_without_a_backend_is_refused_too(tmp_path):
    result, calls = run_up(tmp_path, "prod", "--first-deploy")
    assert result.returncode == 2 and calls == [], result


def test_a_backend_without_a_prod_stack_is_refused_without_creating_one(tmp_path):
    result, calls = run_up(tmp_path, "prod", PULUMI_BACKEND_URL=BACKEND, NO_PROD="1")
    assert result.returncode == 2, result
    assert calls == ["pulumi stack select prod"], calls
    assert "no stack named 'prod' found" in result.stderr and "scripts/up prod --first-deploy" in result.stderr
    assert BACKEND in result.stderr  # names where it looked


def test_an_existing_prod_is_deployed_with_the_preview_and_question(tmp_path):
    result, calls = run_up(tmp_path, "prod", "--refresh", PULUMI_BACKEND_URL=BACKEND)
    assert result.returncode == 0, result
    assert calls == ["pulumi stack select prod", "pulumi up --stack prod --refresh"], calls
    assert not any("--create" in c or "--yes" in c for c in calls)


def test_first_deploy_creates_prod_and_stops_until_its_settings_are_set(tmp_path):
    result, calls = run_up(tmp_path, "prod", "--first-deploy", PULUMI_BACKEND_URL="file://~", NO_SETTINGS="1")
    assert result.returncode == 0, result
    assert calls == ["pulumi stack select --create prod", "pulumi config get --path oci.compartmentId --stack prod"], calls
    assert (tmp_path / "calls.log.created").exists()
    assert "Prerequisites" in result.stderr and "file://~" in result.stderr


def test_first_deploy_with_its_settings_creates_and_deploys(tmp_path):
    result, calls = run_up(tmp_path, "prod", "--first-deploy", "--diff", PULUMI_BACKEND_URL=BACKEND)
    assert result.returncode == 0, result
    assert calls == [
        "pulumi stack select --create prod",
        "pulumi config get --path oci.compartmentId --stack prod",
        "pulumi up --stack prod --diff",
    ], calls


def test_dev_is_still_created_on_first_use_without_a_backend(tmp_path):
    result, calls = run_up(tmp_path, "dev")
    assert result.returncode == 0, result
    assert calls == ["pulumi stack select --create dev", "pulumi up --stack dev --yes"], calls

