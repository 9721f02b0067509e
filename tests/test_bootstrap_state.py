"""scripts/bootstrap-state against a stateful fake `oci` on PATH.

The fake answers as oracle/oci-cli v3.89.3 does:
- success: JSON on stdout, `{"data": ...}` plus display headers such as `etag` (cli_util.py:754-805);
  a list with no items prints nothing at all (`if data:`, cli_util.py:757);
- a failed API call: "ServiceError:" and the error as indented, key-sorted JSON on stderr, exit
  status 1 (cli_exceptions.py:60-64 via json_skeleton_utils.py:89-93), with the SDK's keys
  (status, code, message, opc-request-id, operation_name, target_service, ...);
- an option it does not know: a usage error, exit status 2 (click). Only the options the script is
  documented to use are modelled, so a misspelt or invented flag fails the test.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import harness

SCRIPT = harness.ROOT / "scripts" / "bootstrap-state"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaaexamplecompartment"
USER = "ocid1.user.oc1..aaaaaaaaexampleuser"
REGION = "eu-frankfurt-1"
NAMESPACE = "axk4example"

FAKE_OCI = r'''
import json, os, secrets, sys

STATE, LOG = os.environ["FAKE_OCI_STATE"], os.environ["FAKE_OCI_LOG"]
with open(LOG, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
with open(STATE) as f:
    state = json.load(f)

GLOBAL = {"--config-file", "--profile", "--region", "--output"}
COMMANDS = {
    ("os", "ns", "get"): ({"--compartment-id"}, set()),
    ("os", "bucket", "get"): ({"--namespace-name", "--bucket-name"}, {"--bucket-name"}),
    ("os", "bucket", "create"): (
        {"--namespace-name", "--name", "--compartment-id", "--public-access-type", "--versioning"},
        {"--name", "--compartment-id"},
    ),
    ("iam", "customer-secret-key", "list"): ({"--user-id"}, {"--user-id"}),
    ("iam", "customer-secret-key", "create"): ({"--user-id", "--display-name"}, {"--user-id", "--display-name"}),
}


def usage(message):
    sys.stderr.write("Usage: oci [OPTIONS] COMMAND [ARGS]...\n\nError: " + message + "\n")
    sys.exit(2)


def service_error(status, code, message, operation, method, path):
    error = {
        "client_version": "Oracle-PythonSDK/2.160.0, Oracle-PythonCLI/3.89.3",
        "code": code,
        "logging_tips": "Please run the OCI CLI command using --debug flag to find more debug information.",
        "message": message,
        "opc-request-id": "FAKE0123456789/ABCDEF/0123",
        "operation_name": operation,
        "request_endpoint": method + " https://objectstorage.eu-frankfurt-1.oraclecloud.com" + path,
        "status": status,
        "target_service": "object_storage" if operation.endswith("bucket") else "identity",
        "timestamp": "2026-08-24T09:00:00.000000+00:00",
        "troubleshooting_tips": "See [https://docs.oracle.com/iaas/Content/API/References/apierrors.htm] for more information about resolving this error.",
    }
    sys.exit("ServiceError:\n" + json.dumps(error, indent=4, sort_keys=True))


def render(data, etag=None):
    shown = {}
    if data:
        shown["data"] = data
    if etag:
        shown["etag"] = etag
    if shown:
        print(json.dumps(shown, indent=4))


def save():
    with open(STATE, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)


args = sys.argv[1:]
words, options, i = [], {}, 0
while i < len(args):
    arg = args[i]
    if arg.startswith("--"):
        if i + 1 >= len(args):
            usage("Option '" + arg + "' requires an argument.")
        options.setdefault(arg, []).append(args[i + 1])
        i += 2
    else:
        words.append(arg)
        i += 1
command = tuple(words)
if command not in COMMANDS:
    usage("No such command '" + " ".join(words) + "'.")
allowed, required = COMMANDS[command]
for name in options:
    if name not in allowed and name not in GLOBAL:
        usage("No such option: " + name)
missing = sorted(required - set(options))
if missing:
    usage("Missing option(s) " + ", ".join(missing) + ".")
if options.get("--output", ["json"])[-1] != "json":
    usage("this fake only speaks json")
opt = {k: v[-1] for k, v in options.items()}

if state.get("fail"):
    f = state["fail"]
    service_error(f["status"], f["code"], f["message"], "get_bucket", "GET", "/n/x/b/y")

if command == ("os", "ns", "get"):
    render(state["namespace"])
elif command == ("os", "bucket", "get"):
    ns, name = opt.get("--namespace-name", state["namespace"]), opt["--bucket-name"]
    bucket = state["buckets"].get(name)
    if bucket is None or ns != state["namespace"]:
        service_error(404, "BucketNotFound",
                      "Either the bucket named '%s' does not exist in the namespace '%s' or you are not authorized to access it" % (name, ns),
                      "get_bucket", "GET", "/n/%s/b/%s" % (ns, name))
    render(bucket, bucket["etag"])
elif command == ("os", "bucket", "create"):
    ns, name = opt.get("--namespace-name", state["namespace"]), opt["--name"]
    if name in state["buckets"]:
        service_error(409, "BucketAlreadyExists", "Either the bucket '%s' in namespace '%s' already exists or you are not authorized to create it" % (name, ns),
                      "create_bucket", "POST", "/n/%s/b/" % ns)
    for key, choices in (("--public-access-type", ("NoPublicAccess", "ObjectRead", "ObjectReadWithoutList")), ("--versioning", ("Enabled", "Disabled"))):
        if key in opt and opt[key] not in choices:
            usage("Invalid value for '%s': invalid choice: %s" % (key, opt[key]))
    bucket = {
        "approximate-count": None, "approximate-size": None, "auto-tiering": None,
        "compartment-id": opt["--compartment-id"], "created-by": "ocid1.user.oc1..caller", "defined-tags": {},
        "etag": secrets.token_hex(16), "freeform-tags": {}, "id": "ocid1.bucket.oc1.eu-frankfurt-1." + secrets.token_hex(20),
        "is-read-only": False, "kms-key-id": None, "metadata": {}, "name": name, "namespace": ns,
        "object-events-enabled": False, "object-lifecycle-policy-etag": None,
        "public-access-type": opt.get("--public-access-type", "NoPublicAccess"), "replication-enabled": False,
        "storage-tier": "Standard", "time-created": "2026-08-24T09:00:00.000000+00:00",
        "versioning": opt.get("--versioning", "Disabled"),
    }
    state["buckets"][name] = bucket
    save()
    render(bucket, bucket["etag"])
elif command == ("iam", "customer-secret-key", "list"):
    render([{k: v for k, v in key.items() if k != "key"} for key in state["keys"].get(opt["--user-id"], [])])
elif command == ("iam", "customer-secret-key", "create"):
    user = opt["--user-id"]
    keys = state["keys"].setdefault(user, [])
    if len([k for k in keys if k["lifecycle-state"] == "ACTIVE"]) >= 2:
        service_error(400, "LimitExceeded", "User %s already has the maximum number of customer secret keys" % user,
                      "create_customer_secret_key", "POST", "/users/%s/customerSecretKeys/" % user)
    key = {
        "display-name": opt["--display-name"], "id": secrets.token_hex(20), "inactive-status": None,
        "key": secrets.token_urlsafe(32), "lifecycle-state": "ACTIVE", "time-created": "2026-08-24T09:00:00.000000+00:00",
        "time-expires": None, "user-id": user,
    }
    keys.append(key)
    save()
    render(key, secrets.token_hex(16))
'''

# gocloud.dev's s3blob URLOpener (blob/s3blob/s3blob.go:131-136@b5401c07b5f1, the gocloud.dev pinned by
# pulumi v3.259.0's pkg/go.mod:39) and aws.V2ConfigFromURLParams (aws/aws.go:93-200), which rejects any
# other query parameter with "unknown query parameter".
GOCLOUD_S3_PARAMS = {
    "ssetype", "kmskeyid", "accelerate", "use_path_style", "s3ForcePathStyle", "disable_https",
    "hostname_immutable", "region", "endpoint", "profile", "dualstack", "fips", "rate_limiter_capacity",
    "anonymous", "role", "request_checksum_calculation", "response_checksum_validation", "awssdk",
}


class FakeOci:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        exe = self.bin / "oci"
        exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_OCI))
        exe.chmod(0o755)
        self.state_file = root / "oci-state.json"
        self.log_file = root / "oci-calls.jsonl"
        self.config = root / "oci-config"
        self.config.write_text(f"[DEFAULT]\nuser={USER}\nfingerprint=aa:bb\nkey_file=~/.oci/key.pem\ntenancy=ocid1.tenancy.oc1..aaaa\nregion={REGION}\n")
        self.home = root / "home"
        self.home.mkdir()
        self.write({"namespace": NAMESPACE, "buckets": {}, "keys": {}})

    def write(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2, sort_keys=True))

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    @property
    def calls(self) -> list[list[str]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin",
            "HOME": str(self.home),
            "FAKE_OCI_STATE": str(self.state_file),
            "FAKE_OCI_LOG": str(self.log_file),
        }
        return subprocess.run(
            [sys.executable, str(SCRIPT), "--config-file", str(self.config), *args],
            capture_output=True, text=True, env=env, timeout=120,
        )


@pytest.fixture
def oci(tmp_path: Path) -> FakeOci:
    return FakeOci(tmp_path)


def exported(stdout: str) -> dict[str, str]:
    """What `. ./state.env` would set, by running the printed lines through bash."""
    script = stdout + '\nprintf "%s\\0" "$PULUMI_BACKEND_URL" "$AWS_ACCESS_KEY_ID" "${AWS_SECRET_ACCESS_KEY-<unset>}"'
    values = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split("\0")
    return dict(zip(["PULUMI_BACKEND_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], values))


def creates(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if "create" in c]


def test_first_run_creates_a_private_versioned_bucket_and_a_key_and_prints_the_backend(oci):
    result = oci.run("--compartment-id", COMPARTMENT)
    assert result.returncode == 0, result.stderr
    bucket = oci.state["buckets"]["pulumi-state"]
    assert (bucket["compartment-id"], bucket["public-access-type"], bucket["versioning"]) == (COMPARTMENT, "NoPublicAccess", "Enabled")
    (key,) = oci.state["keys"][USER]
    assert key["display-name"] == "pulumi-state-backend"
    env = exported(result.stdout)
    assert env["PULUMI_BACKEND_URL"] == (
        f"s3://pulumi-state?endpoint=https://{NAMESPACE}.compat.objectstorage.{REGION}.oraclecloud.com"
        f"&region={REGION}&s3ForcePathStyle=true"
    )
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (key["id"], key["key"])
    assert "shown only now" in result.stderr
    assert len(creates(oci.calls)) == 2
    for call in oci.calls:  # the global options every call carries
        assert call[:4] == ["--config-file", str(oci.config), "--region", REGION] and call[4:6] == ["--output", "json"], call


def test_the_url_is_one_pulumis_s3_backend_accepts(oci):
    result = oci.run("--compartment-id", COMPARTMENT, "--bucket", "team-state")
    url = urlsplit(exported(result.stdout)["PULUMI_BACKEND_URL"])
    assert (url.scheme, url.netloc) == ("s3", "team-state")
    query = parse_qs(url.query, strict_parsing=True)
    assert set(query) <= GOCLOUD_S3_PARAMS, set(query) - GOCLOUD_S3_PARAMS
    assert all(len(v) == 1 for v in query.values())
    endpoint = urlsplit(query["endpoint"][0])
    # The AWS SDK v2 behind gocloud.dev v0.46 needs the scheme; OCI's S3 endpoint is path-style only.
    assert (endpoint.scheme, endpoint.netloc, endpoint.path) == ("https", f"{NAMESPACE}.compat.objectstorage.{REGION}.oraclecloud.com", "")
    assert query["region"] == [REGION] and query["s3ForcePathStyle"] == ["true"]


def test_second_run_changes_nothing_and_creates_no_key(oci):
    first = oci.run("--compartment-id", COMPARTMENT)
    assert first.returncode == 0, first.stderr
    before, calls_before = oci.state, len(oci.calls)
    second = oci.run("--compartment-id", COMPARTMENT)
    assert second.returncode == 0, second.stderr
    assert oci.state == before
    assert creates(oci.calls[calls_before:]) == []
    env1, env2 = exported(first.stdout), exported(second.stdout)
    assert (env2["PULUMI_BACKEND_URL"], env2["AWS_ACCESS_KEY_ID"]) == (env1["PULUMI_BACKEND_URL"], env1["AWS_ACCESS_KEY_ID"])
    assert env2["AWS_SECRET_ACCESS_KEY"] == "<unset>"  # OCI cannot show it again; the script never pretends to
    assert env1["AWS_SECRET_ACCESS_KEY"] not in second.stdout + second.stderr
    assert "no new key created" in second.stderr and "exists" in second.stderr


def test_missing_compartment_is_a_clear_error_and_changes_nothing(oci):
    result = oci.run()
    assert result.returncode == 2
    assert "--compartment-id is required" in result.stderr and "nothing was changed" in result.stderr
    assert oci.calls == []  # refused before any call to OCI
    assert oci.state == {"namespace": NAMESPACE, "buckets": {}, "keys": {}}
    assert result.stdout == ""


def test_a_malformed_compartment_is_refused_before_any_call(oci):
    result = oci.run("--compartment-id", "my-compartment")
    assert result.returncode == 2 and "not a compartment (or tenancy) OCID" in result.stderr
    assert oci.calls == []


def test_a_user_with_two_other_keys_gets_an_error_and_nothing_is_created(oci):
    other = [{"display-name": name, "id": f"{n}" * 40, "lifecycle-state": "ACTIVE", "user-id": USER} for n, name in ((1, "app-s3"), (2, "laptop"))]
    oci.write({"namespace": NAMESPACE, "buckets": {}, "keys": {USER: other}})
    result = oci.run("--compartment-id", COMPARTMENT)
    assert result.returncode == 1
    assert "already has 2 Customer Secret Keys" in result.stderr and "nothing was changed" in result.stderr
    assert creates(oci.calls) == [] and oci.state["buckets"] == {}


def test_a_deleted_key_does_not_count_against_the_limit(oci):
    gone = {"display-name": "old", "id": "9" * 40, "lifecycle-state": "DELETED", "user-id": USER}
    live = {"display-name": "app-s3", "id": "1" * 40, "lifecycle-state": "ACTIVE", "user-id": USER}
    oci.write({"namespace": NAMESPACE, "buckets": {}, "keys": {USER: [gone, live]}})
    assert oci.run("--compartment-id", COMPARTMENT).returncode == 0
    assert [k["display-name"] for k in oci.state["keys"][USER]] == ["old", "app-s3", "pulumi-state-backend"]


def test_an_existing_public_or_unversioned_bucket_is_refused_not_changed(oci):
    first = oci.run("--compartment-id", COMPARTMENT)
    assert first.returncode == 0
    state = oci.state
    state["buckets"]["pulumi-state"].update({"public-access-type": "ObjectRead", "versioning": "Disabled"})
    oci.write(state)
    before = len(oci.calls)
    result = oci.run("--compartment-id", COMPARTMENT)
    assert result.returncode == 1
    assert "--public-access-type NoPublicAccess" in result.stderr and "--versioning Enabled" in result.stderr
    assert creates(oci.calls[before:]) == [] and oci.state == state


def test_an_oci_failure_other_than_not_found_stops_before_creating(oci):
    state = oci.state | {"fail": {"status": 401, "code": "NotAuthenticated", "message": "The required information to complete authentication was not provided."}}
    oci.write(state)
    result = oci.run("--compartment-id", COMPARTMENT)
    assert result.returncode == 1
    assert "NotAuthenticated" in result.stderr
    assert creates(oci.calls) == []


def test_user_and_region_flags_override_the_profile(oci):
    other_user = "ocid1.user.oc1..aaaaaaaaciuser"
    result = oci.run("--compartment-id", COMPARTMENT, "--user-id", other_user, "--region", "us-ashburn-1", "--key-name", "ci-preview")
    assert result.returncode == 0, result.stderr
    assert [k["display-name"] for k in oci.state["keys"][other_user]] == ["ci-preview"]
    assert "us-ashburn-1.oraclecloud.com&region=us-ashburn-1&" in exported(result.stdout)["PULUMI_BACKEND_URL"]
    assert all(c[2:4] == ["--region", "us-ashburn-1"] for c in oci.calls)


def test_no_oci_cli_is_a_clear_error(tmp_path):
    fake = FakeOci(tmp_path)
    (fake.bin / "oci").unlink()
    result = fake.run("--compartment-id", COMPARTMENT)
    assert result.returncode == 1 and "`oci`" in result.stderr and "not on PATH" in result.stderr


def test_the_printed_exports_are_shell_safe(oci):
    result = oci.run("--compartment-id", COMPARTMENT)
    for line in result.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            assert shlex.split(value) and name.isidentifier(), line
