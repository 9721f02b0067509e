"""scripts/check-preview against `pulumi preview --json` documents shaped like the CLI's.

The shape follows pulumi v3.259.0: ``PreviewDigest``/``PreviewStep`` (pkg/display/json.go:32-78),
states as ``apitype.ResourceV3`` (sdk/go/common/apitype/core.go:489-565), a replacement shown as its
logical ``replace`` step (pkg/backend/display/display.go:308-327), and a protected resource's
replacement reported as an error diagnostic while the steps are still listed
(pkg/resource/deploy/step_generator.go:1958-1972).
"""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from typing import Any

import pytest

from tests import harness

SCRIPT = harness.ROOT / "scripts" / "check-preview"
STACK = "urn:pulumi:prod::backing-services::"
PROVIDER_DOCKER = f"{STACK}backing-services:index:AmpereHost$pulumi:providers:docker::ampere-docker::ampere-docker-id"
PROVIDER_OCI = f"{STACK}backing-services:index:AmpereHost$pulumi:providers:oci::ampere-oci::ampere-oci-id"


def state(urn: str, typ: str, inputs: dict[str, Any], *, protect: bool = False, provider: str = PROVIDER_DOCKER) -> dict[str, Any]:
    """An ``apitype.ResourceV3`` as `pulumi preview --json` writes it (omitempty fields left out when empty)."""
    out: dict[str, Any] = {
        "urn": urn,
        "custom": True,
        "id": urn.rsplit("::", 1)[-1] + "-id",
        "type": typ,
        "inputs": inputs,
        "outputs": inputs,
        "provider": provider,
    }
    if protect:
        out["protect"] = True
    return out


def step(op: str, urn: str, typ: str, inputs: dict[str, Any], *, protect: bool = False, reasons: list[str] = (), provider: str = PROVIDER_DOCKER) -> dict[str, Any]:
    old = state(urn, typ, inputs, protect=protect, provider=provider)
    new = state(urn, typ, {**inputs, **{r: f"new-{r}" for r in reasons}}, protect=protect, provider=provider)
    out: dict[str, Any] = {"op": op, "urn": urn, "provider": provider}
    if op != "create":
        out["oldState"] = old
    if op != "delete":
        out["newState"] = new
    if op == "replace":
        out["replaceReasons"] = list(reasons)
        out["detailedDiff"] = {r: {"kind": "update-replace", "inputDiff": True} for r in reasons}
    elif op == "update":
        out["diffReasons"] = list(reasons)
        out["detailedDiff"] = {r: {"kind": "update", "inputDiff": True} for r in reasons}
    else:
        out["detailedDiff"] = None
    return out


def protected_error(urn: str) -> dict[str, Any]:
    message = (
        f'unable to replace resource "{urn}"\nas it is currently marked for protection. To unprotect the resource, '
        "remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`"
    )
    return {"urn": urn, "prefix": "error: ", "message": message, "severity": "error"}


def digest(*steps: dict[str, Any], diagnostics: list[dict[str, Any]] = ()) -> str:
    summary: dict[str, int] = {}
    for s in steps:
        summary[s["op"]] = summary.get(s["op"], 0) + 1
    root = {"op": "same", "urn": f"{STACK}pulumi:pulumi:Stack::backing-services-prod", "detailedDiff": None}
    doc: dict[str, Any] = {
        "config": {"backing-services:target": "oci"},
        "steps": [root, *steps],
        "duration": 4123456789,
        "changeSummary": {"same": 40, **summary},
    }
    if diagnostics:
        doc["diagnostics"] = list(diagnostics)
    return json.dumps(doc, indent=4)


def check(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=text, capture_output=True, text=True, timeout=60)


# Resources as the prod stack names them (tests/golden/prod.urns).
DATA_VOLUME = f"{STACK}backing-services:index:Database$docker:index/volume:Volume::database-data"
VM = f"{STACK}backing-services:index:AmpereHost$oci:Core/instance:Instance::ampere-instance"
BLOCK_VOLUME = f"{STACK}backing-services:index:AmpereHost$oci:Core/volume:Volume::ampere-data"
BUCKET = f"{STACK}backing-services:index:ObjectStore$oci:ObjectStorage/bucket:Bucket::object-store-recordings"
POSTGRES = f"{STACK}backing-services:index:Database$docker:index/container:Container::database-postgres"
LIVEKIT = f"{STACK}backing-services:index:MediaServer$docker:index/container:Container::media-livekit"
LIVEKIT_IMAGE = f"{STACK}backing-services:index:MediaServer$docker:index/remoteImage:RemoteImage::media-livekit-image"
SECURITY_LIST = f"{STACK}backing-services:index:AmpereHost$oci:Core/securityList:SecurityList::ampere-security-list"

VOLUME_T = "docker:index/volume:Volume"
CONTAINER_T = "docker:index/container:Container"
POSTGRES_INPUTS = {
    "name": "database-postgres",
    "image": "sha256:" + "1" * 64,
    "volumes": [{"containerPath": "/var/lib/postgresql", "volumeName": "database-data"}],
    "networkMode": "host",
}
LIVEKIT_INPUTS = {"name": "media-livekit", "image": "sha256:" + "2" * 64, "networkMode": "host", "uploads": [{"file": "/etc/livekit.yaml", "content": "[secret]"}]}


def test_replacing_the_protected_data_volume_fails_naming_it_and_why():
    result = check(
        digest(
            step("replace", DATA_VOLUME, VOLUME_T, {"name": "database-data"}, protect=True, reasons=["name"]),
            diagnostics=[protected_error(DATA_VOLUME)],
        )
    )
    assert result.returncode == 1, result
    assert "database-data (docker:index/volume:Volume) would be REPLACED because name changed" in result.stderr
    assert "protected" in result.stderr and "data lives only there" in result.stderr
    assert "the preview itself failed" in result.stderr  # the engine's own refusal is shown too


def test_replacing_the_vm_fails():
    inputs = {"shape": "VM.Standard.A1.Flex", "availabilityDomain": "Uocm:EU-FRANKFURT-1-AD-1"}
    result = check(digest(step("replace", VM, "oci:Core/instance:Instance", inputs, protect=True, reasons=["availabilityDomain"], provider=PROVIDER_OCI)))
    assert result.returncode == 1, result
    assert "ampere-instance" in result.stderr and "new public IP" in result.stderr


def test_replacing_the_block_volume_fails_even_if_someone_unprotected_it():
    result = check(digest(step("replace", BLOCK_VOLUME, "oci:Core/volume:Volume", {"sizeInGbs": "150"}, reasons=["availabilityDomain"], provider=PROVIDER_OCI)))
    assert result.returncode == 1, result
    assert "ampere-data" in result.stderr and "block volume" in result.stderr


@pytest.mark.parametrize("op", ["replace", "delete"])
def test_replacing_or_deleting_a_bucket_fails(op):
    bucket = step(op, BUCKET, "oci:ObjectStorage/bucket:Bucket", {"name": "recordings", "namespace": "ns"}, protect=True, reasons=["name"] if op == "replace" else [], provider=PROVIDER_OCI)
    result = check(digest(bucket))
    assert result.returncode == 1, result
    assert "object-store-recordings" in result.stderr and "bucket recordings" in result.stderr
    assert ("REPLACED" if op == "replace" else "DELETED") in result.stderr


def test_replacing_the_postgres_container_fails_unless_accepted():
    postgres = step("replace", POSTGRES, CONTAINER_T, POSTGRES_INPUTS, reasons=["image"])
    result = check(digest(postgres))
    assert result.returncode == 1, result
    assert "database-postgres" in result.stderr and "data volume(s) database-data" in result.stderr
    accepted = check(digest(postgres), "--accept-data-restarts")
    assert accepted.returncode == 0, accepted
    assert "accepted" in accepted.stdout and "database-postgres" in accepted.stdout


def test_accepting_data_restarts_never_accepts_the_storage_itself():
    both = digest(
        step("replace", POSTGRES, CONTAINER_T, POSTGRES_INPUTS, reasons=["image"]),
        step("delete", DATA_VOLUME, VOLUME_T, {"name": "database-data"}, protect=True),
    )
    result = check(both, "--accept-data-restarts")
    assert result.returncode == 1, result
    assert "database-data (docker:index/volume:Volume) would be DELETED" in result.stderr
    assert "database-postgres" not in result.stderr


def test_the_separate_replacement_steps_count_too():
    # With --show-replacement-steps the JSON also carries the non-logical steps of a delete-first replacement.
    steps = [step(op, DATA_VOLUME, VOLUME_T, {"name": "database-data"}, protect=True, reasons=["name"]) for op in ("delete-replaced", "replace", "create-replacement")]
    result = check(digest(*steps))
    assert result.returncode == 1, result
    assert result.stderr.count("database-data (") == 1, result.stderr


def test_in_place_updates_and_stateless_replacements_pass():
    result = check(
        digest(
            step("update", SECURITY_LIST, "oci:Core/securityList:SecurityList", {"ingressSecurityRules": []}, reasons=["ingressSecurityRules"], provider=PROVIDER_OCI),
            step("update", POSTGRES, CONTAINER_T, POSTGRES_INPUTS, reasons=["memory"]),
            step("replace", LIVEKIT_IMAGE, "docker:index/remoteImage:RemoteImage", {"name": "livekit/livekit-server:v1.13.5"}, reasons=["name"]),
            step("replace", LIVEKIT, CONTAINER_T, LIVEKIT_INPUTS, reasons=["image"]),
            step("create", f"{STACK}backing-services:index:ObjectStore$oci:ObjectStorage/bucket:Bucket::object-store-avatars", "oci:ObjectStorage/bucket:Bucket", {"name": "avatars"}, protect=True, provider=PROVIDER_OCI),
        )
    )
    assert result.returncode == 0, result
    assert "nothing that holds data is replaced or deleted" in result.stdout


def test_a_no_change_preview_passes():
    assert check(digest()).returncode == 0


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty input"),
        ("Previewing update (prod):\n  pulumi:pulumi:Stack backing-services-prod", "not JSON"),
        ("[]", "not a `pulumi preview --json` document"),
        ('{"steps": {"op": "replace"}}', "`steps` must be a list"),
        ('{"steps": [{"urn": "urn:pulumi:prod::p::t::n"}]}', "string `op` and `urn`"),
    ],
)
def test_malformed_input_fails_clearly(text, says):
    result = check(text)
    assert result.returncode == 2, result
    assert says in result.stderr


def test_a_failed_preview_without_steps_does_not_pass():
    text = json.dumps({"diagnostics": [{"message": "error: an unhandled error occurred", "severity": "error"}]})
    result = check(text)
    assert result.returncode == 2 and "the preview itself failed" in result.stderr


def test_reads_a_file_argument(tmp_path):
    path = tmp_path / "preview.json"
    path.write_text(digest(step("delete", DATA_VOLUME, VOLUME_T, {"name": "database-data"}, protect=True)))
    result = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "database-data" in result.stderr
    missing = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "nope.json")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "nope.json" in missing.stderr


def test_stateful_types_are_the_policy_packs_own():
    from policy.storage import STATEFUL_TYPES

    script = runpy.run_path(str(SCRIPT), run_name="check_preview")
    assert script["STATEFUL"] == STATEFUL_TYPES
