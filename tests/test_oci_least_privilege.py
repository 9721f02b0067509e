"""Prod's S3 credentials, object versions and IAM errors, under Pulumi mocks.

The key Egress and apps get belongs to a user of the stack's own whose one policy names the
stack's buckets; old object versions expire; a refusal from IAM names the missing statement.
"""
from __future__ import annotations

import copy

import pulumi
import pytest

from components.object_store import (
    ObjectStore,
    ObjectStoreArgs,
    OciBucketBackend,
    lifecycle_service_statement,
    s3_access_statements,
)
from targets import oci_iam
from targets.oci_iam import iam_advice, iam_error_hook, s3_user_email
from tests import harness
from tests.components.helpers import build

NS = harness.PROJECT
PERSONAL = harness.PROD_PERSONAL_CONFIG
COMPARTMENT = PERSONAL["compartmentId"]
DEPLOYER = PERSONAL["userId"]
LABEL = "backing-services-prod"
BUCKETS = ("recordings", "avatars")
KEY_ID = "object-store-s3-key-id"  # the mocks' id: the key's id is the S3 access key
S3_APP = {
    "name": "web",
    "image": "ghcr.io/acme/web:1.4.2",
    "port": 3100,
    "env": {"S3_ACCESS_KEY_ID": "${s3.accessKey}", "S3_SECRET_ACCESS_KEY": "${s3.secretKey}"},
}
IAM_TYPES = (
    oci_iam.USER,
    oci_iam.CAPABILITIES,
    oci_iam.GROUP,
    oci_iam.MEMBERSHIP,
    oci_iam.POLICY,
    oci_iam.SECRET_KEY,
    oci_iam.LIFECYCLE,
)


def prod_with(**object_store) -> harness.Evaluation:
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("prod"))
    values[f"{NS}:objectStore"] = {**values[f"{NS}:objectStore"], "buckets": list(BUCKETS), **object_store}
    values[f"{NS}:apps"] = [S3_APP]
    return harness.evaluate("prod", values)


@pytest.fixture(scope="module")
def prod() -> harness.Evaluation:
    return prod_with()


def inputs(run: harness.Evaluation, name: str) -> dict:
    return harness.unwrap(run.monitor.one(name).inputs)


def urn(run: harness.Evaluation, name: str) -> str:
    return run.monitor.one(name).urn


def test_the_s3_key_belongs_to_the_stacks_own_user_not_the_deployer(prod):
    user = inputs(prod, "object-store-s3-user")
    assert user["name"] == f"{LABEL}-s3"
    # No compartmentId: the provider puts users and groups in its own tenancy (identity_user_resource.go:228-248).
    assert "compartmentId" not in user and "compartmentId" not in inputs(prod, "object-store-s3-group")
    assert user["email"] == "ops+backing-services-prod-s3@example.com"
    assert inputs(prod, "object-store-s3-group")["name"] == f"{LABEL}-s3"
    assert inputs(prod, "object-store-s3-group-membership") == {
        "userId": "object-store-s3-user-id",
        "groupId": "object-store-s3-group-id",
    }
    (key,) = prod.monitor.by_type(oci_iam.SECRET_KEY)
    assert harness.unwrap(key.inputs)["userId"] == "object-store-s3-user-id"
    # Nothing is created for (or handed the rights of) the user who deploys.
    for r in prod.monitor.registered:
        assert DEPLOYER not in str(harness.unwrap(r.inputs)), r.name
    # The key is handed out only once the user may use it, and may use nothing else.
    assert {
        urn(prod, "object-store-s3-group-membership"),
        urn(prod, "object-store-s3-access"),
        urn(prod, "object-store-s3-user-capabilities"),
    } <= set(key.dependencies)


def test_the_s3_user_may_hold_customer_secret_keys_and_nothing_else(prod):
    (capabilities,) = prod.monitor.by_type(oci_iam.CAPABILITIES)
    assert capabilities.name == "object-store-s3-user-capabilities"
    # Every capability the provider's schema has (identity_user_capabilities_management_resource.go:39-64@v8.28.0),
    # each set: one left out would keep the tenancy's default (true).
    assert harness.unwrap(capabilities.inputs) == {
        "userId": "object-store-s3-user-id",
        "canUseCustomerSecretKeys": True,
        "canUseApiKeys": False,
        "canUseAuthTokens": False,
        "canUseConsolePassword": False,
        "canUseSmtpCredentials": False,
    }


def test_egress_and_apps_get_that_key(prod):
    assert prod.outputs["s3AccessKeyId"] == KEY_ID
    assert prod.outputs["s3SecretAccessKey"] == "MockOciSecretKeyValue9"
    egress = harness.unwrap(prod.monitor.one("media-egress").inputs)
    assert KEY_ID in str(egress) and "MockOciSecretKeyValue9" in str(egress)
    env = dict(e.split("=", 1) for e in inputs(prod, "web-app")["envs"])
    assert (env["S3_ACCESS_KEY_ID"], env["S3_SECRET_ACCESS_KEY"]) == (KEY_ID, "MockOciSecretKeyValue9")


def test_the_only_grant_names_only_the_stacks_buckets(prod):
    policies = {r.name: harness.unwrap(r.inputs) for r in prod.monitor.by_type(oci_iam.POLICY)}
    group_statements = [s for p in policies.values() for s in p["statements"] if f"group {LABEL}-s3 " in s]
    access = policies["object-store-s3-access"]
    assert group_statements == access["statements"], "the S3 group has one policy"
    assert access["compartmentId"] == COMPARTMENT
    only = "where any {target.bucket.name='recordings', target.bucket.name='avatars'}"
    assert access["statements"] == [
        f"Allow group {LABEL}-s3 to read buckets in compartment id {COMPARTMENT} {only}",
        f"Allow group {LABEL}-s3 to manage objects in compartment id {COMPARTMENT} {only}",
    ]
    # OCI checks the group a statement names: the policy waits for it.
    assert urn(prod, "object-store-s3-group") in prod.monitor.one("object-store-s3-access").dependencies


def test_access_statements_track_the_bucket_list():
    assert s3_access_statements("g", "c", ("one",)) == [
        "Allow group g to read buckets in compartment id c where any {target.bucket.name='one'}",
        "Allow group g to manage objects in compartment id c where any {target.bucket.name='one'}",
    ]


def test_every_bucket_expires_previous_versions_after_the_configured_days(prod):
    service = prod.monitor.one("object-store-lifecycle-service-access")
    assert harness.unwrap(service.inputs)["statements"] == [
        f"Allow service objectstorage-eu-frankfurt-1 to manage object-family in compartment id {COMPARTMENT}"
    ]
    assert harness.unwrap(service.inputs)["statements"] == [lifecycle_service_statement("eu-frankfurt-1", COMPARTMENT)]
    for bucket in BUCKETS:
        policy = prod.monitor.one(f"object-store-{bucket}-lifecycle")
        assert harness.unwrap(policy.inputs) == {
            "namespace": harness.MOCK_NAMESPACE,
            "bucket": bucket,
            "rules": [
                {
                    "name": "expire-previous-versions",
                    "action": "DELETE",
                    "target": "previous-object-versions",
                    "timeAmount": "30",
                    "timeUnit": "DAYS",
                    "isEnabled": True,
                }
            ],
        }
        # Object Storage accepts the rule only once its service may delete: after the policy, after the bucket.
        assert service.urn in policy.dependencies
        assert urn(prod, f"object-store-{bucket}") in policy.dependencies


def test_retention_days_are_configurable_and_null_keeps_every_version():
    longer = prod_with(previousVersionRetentionDays=365)
    rules = inputs(longer, "object-store-recordings-lifecycle")["rules"]
    assert [r["timeAmount"] for r in rules] == ["365"]
    forever = prod_with(previousVersionRetentionDays=None)
    assert forever.monitor.by_type(oci_iam.LIFECYCLE) == []
    assert [r.name for r in forever.monitor.by_type(oci_iam.POLICY)] == ["object-store-s3-access"]


def test_every_iam_resource_reports_missing_rights_through_the_hook(prod):
    hooked = [r for r in prod.monitor.registered if r.type in IAM_TYPES]
    assert {r.type for r in hooked} == set(IAM_TYPES)
    for r in hooked:
        assert r.on_error_hooks == ["object-store-iam"], r.name


def test_iam_resources_are_not_created_without_the_object_store():
    values = copy.deepcopy(harness.stack_config_as_user_sets_it("prod"))
    values[f"{NS}:objectStore"] = {**values[f"{NS}:objectStore"], "enabled": False}
    values[f"{NS}:mediaServer"] = {**values[f"{NS}:mediaServer"], "egress": {"enabled": False}}
    run = harness.evaluate("prod", values)
    assert [r.name for r in run.monitor.registered if r.type in IAM_TYPES] == []


@pulumi.runtime.test
async def test_the_component_alone_hooks_nothing_without_a_hook():
    backend = OciBucketBackend(compartment_id=COMPARTMENT, region="eu-frankfurt-1", previous_version_retention_days=7)
    monitor, _ = await build(lambda: ObjectStore("object-store", ObjectStoreArgs(backend=backend)), stack="prod")
    assert [r.on_error_hooks for r in monitor.registered if r.type in IAM_TYPES] == [[]] * 8
    assert harness.unwrap(monitor.one("object-store-recordings-lifecycle").inputs)["rules"][0]["timeAmount"] == "7"


# The refusals as OCI words them (the SDK's eventual-consistency list names the codes).
REFUSED = "404-NotAuthorizedOrNotFound, Authorization failed or requested resource not found"


def advice(resource_type: str, error: str) -> str | None:
    return iam_advice(resource_type, "r", [error], compartment_id=COMPARTMENT, region="eu-frankfurt-1", deployer_id=DEPLOYER)


@pytest.mark.parametrize(
    "resource_type,statements",
    [
        (oci_iam.USER, ["Allow group <group> to manage users in tenancy"]),
        (oci_iam.SECRET_KEY, ["Allow group <group> to manage users in tenancy", "Allow group <group> to manage credentials in tenancy"]),
        (oci_iam.CAPABILITIES, ["Allow group <group> to manage users in tenancy"]),
        (oci_iam.GROUP, ["Allow group <group> to manage groups in tenancy"]),
        (oci_iam.MEMBERSHIP, ["Allow group <group> to manage users in tenancy", "Allow group <group> to manage groups in tenancy"]),
        (oci_iam.POLICY, [f"Allow group <group> to manage policies in compartment id {COMPARTMENT}"]),
        (oci_iam.LIFECYCLE, [f"Allow group <group> to manage object-family in compartment id {COMPARTMENT}"]),
    ],
)
def test_a_refusal_names_the_missing_statement_and_the_deployer(resource_type, statements):
    message = advice(resource_type, REFUSED)
    assert message is not None and DEPLOYER in message and "oci.userId" in message
    for statement in statements:
        assert f"\n    {statement}" in message
    assert message.count("Allow group") == len(statements)


def test_a_refused_secret_key_explains_the_identity_domains_statement():
    message = advice(oci_iam.SECRET_KEY, REFUSED)
    assert "identity domains" in message and "`manage credentials`" in message
    # Only the key gets that explanation: the user and its capabilities need `manage users` only.
    assert "identity domains" not in advice(oci_iam.CAPABILITIES, REFUSED)
    assert "identity domains" not in advice(oci_iam.USER, REFUSED)


def test_identity_domains_missing_email_says_which_key_to_set():
    error = '400-IdcsConversionError, Post request failed{"detail":"The primary email must be specified.","messageId":"error.identity.user.primaryEmailNotSpecified"}'
    assert "pulumi config set --path oci.s3UserEmail" in advice(oci_iam.USER, error)


def test_lifecycle_rule_refused_for_the_service_names_its_statement():
    error = '400-InsufficientServicePermissions, Permissions granted to the object storage service principal "objectstorage-eu-frankfurt-1" to this bucket are insufficient.'
    message = advice(oci_iam.LIFECYCLE, error)
    assert lifecycle_service_statement("eu-frankfurt-1", COMPARTMENT) in message


@pytest.mark.parametrize(
    "resource_type,error",
    [(oci_iam.USER, "400-InvalidParameter, name too long"), ("oci:Core/instance:Instance", REFUSED), (oci_iam.GROUP, "")],
)
def test_other_errors_get_no_advice(resource_type, error):
    assert advice(resource_type, error) is None


@pulumi.runtime.test
async def test_the_hook_never_retries():
    harness.install_mocks("prod")
    hook = iam_error_hook("iam", compartment_id=COMPARTMENT, region="eu-frankfurt-1", deployer_id=DEPLOYER)
    args = pulumi.ErrorHookArgs(
        urn=f"urn:pulumi:prod::{NS}::{oci_iam.USER}::object-store-s3-user",
        id="",
        name="object-store-s3-user",
        type=oci_iam.USER,
        new_inputs={},
        failed_operation="create",
        errors=[REFUSED],
    )
    assert await hook(args) is False


@pytest.mark.parametrize(
    "configured,acme,expected",
    [
        ("s3@example.com", "ops@example.com", "s3@example.com"),
        (None, "ops@example.com", f"ops+{LABEL}-s3@example.com"),
        (None, "ops+acme@example.com", f"ops+{LABEL}-s3@example.com"),
        (None, None, None),
    ],
)
def test_s3_user_email(configured, acme, expected):
    assert s3_user_email(configured, acme, LABEL) == expected


def test_the_readme_prerequisites_list_every_tenancy_statement_the_hook_names():
    readme = (harness.ROOT / "README.md").read_text()
    for resource_type in IAM_TYPES:
        for statement in oci_iam.deployer_statements(resource_type, compartment_id=COMPARTMENT):
            if statement.endswith("in tenancy"):  # the compartment ones are written with <compartment> there
                assert f"   {statement}\n" in readme, statement
