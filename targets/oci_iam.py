"""The IAM side of the object store on OCI: the S3 user's email, and what a refusal from IAM means.

The object store creates a user, its capabilities (Customer Secret Keys only), a group, a membership, two
policies, a Customer Secret Key and lifecycle rules (components/object_store.OciBucketBackend). Each needs a right the deploying user
may lack; OCI then answers "404-NotAuthorizedOrNotFound" and nothing more. The hook below turns
that into the one policy statement an administrator has to add. The decision is pure so it can be
tested without an engine.
"""
from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.object_store import lifecycle_service_statement, object_lifecycle_service

# How OCI words a refusal: 404-NotAuthorizedOrNotFound, 409-NotAuthorizedOrResourceAlreadyExists,
# 400-RelatedResourceNotAuthorizedOrNotFound (oci-go-sdk common/eventual_consistency.go:50-57@v8.28.0).
NOT_AUTHORIZED = "notauthorized"
# An identity domain's answer to a user without email (oracle/terraform-provider-oci#1622, #2388).
MISSING_EMAIL = ("primaryemailnotspecified", "primary email must be specified")
# Object Storage refusing a lifecycle rule its service principal could not run.
INSUFFICIENT_SERVICE = "insufficientservicepermissions"

USER = "oci:Identity/user:User"
GROUP = "oci:Identity/group:Group"
MEMBERSHIP = "oci:Identity/userGroupMembership:UserGroupMembership"
POLICY = "oci:Identity/policy:Policy"
SECRET_KEY = "oci:Identity/customerSecretKey:CustomerSecretKey"
CAPABILITIES = "oci:Identity/userCapabilitiesManagement:UserCapabilitiesManagement"
LIFECYCLE = "oci:ObjectStorage/objectLifecyclePolicy:ObjectLifecyclePolicy"

DEPLOYERS = "<group>"  # as in the README's prerequisites: a group the deploying user is in


def s3_user_email(configured: str | None, acme_email: str | None, label: str) -> str | None:
    """oci.s3UserEmail, else the ACME contact plus-addressed for this stack, else none.

    Identity domains require a primary email for every user and the IAM API wants it unique in
    the tenancy (oci-go-sdk identity/create_user_details.go:32-34@v8.28.0); `ops+<label>-s3@...`
    reaches the ops mailbox yet differs from the address of the person who deploys.
    """
    if configured is not None:
        return configured
    if acme_email is None:
        return None
    local, domain = acme_email.rsplit("@", 1)
    return f"{local.split('+', 1)[0]}+{label}-s3@{domain}"


def deployer_statements(resource_type: str, *, compartment_id: str) -> tuple[str, ...]:
    """The statements that let the deploying user create (and later change) a resource of this type."""
    users = f"Allow group {DEPLOYERS} to manage users in tenancy"
    groups = f"Allow group {DEPLOYERS} to manage groups in tenancy"
    # Tenancies with identity domains (every tenancy created since their introduction) make a user's credentials
    # a resource-type of their own, `credentials` ("Details for IAM with Identity Domains", Resource-Types);
    # `manage users` alone may not let the deployer create another user's Customer Secret Key there. Oracle's
    # CIS landing zone grants its IAM administrators exactly this statement next to `manage users`
    # (oci-landing-zones/oci-cis-landingzone-quickstart multicloud_config/iam_1.3.tf@25be3aa). Without identity
    # domains the deployer needs only the first.
    credentials = f"Allow group {DEPLOYERS} to manage credentials in tenancy"
    return {
        USER: (users,),
        # A Customer Secret Key of another user is that user's credential.
        SECRET_KEY: (users, credentials),
        # UpdateUserCapabilities is an operation on the user (oci-go-sdk identity UpdateUserCapabilities).
        CAPABILITIES: (users,),
        GROUP: (groups,),
        # Adding a user to a group changes both.
        MEMBERSHIP: (users, groups),
        POLICY: (f"Allow group {DEPLOYERS} to manage policies in compartment id {compartment_id}",),
        LIFECYCLE: (f"Allow group {DEPLOYERS} to manage object-family in compartment id {compartment_id}",),
    }.get(resource_type, ())


def iam_advice(
    resource_type: str, name: str, errors: Sequence[str], *, compartment_id: str, region: str, deployer_id: str
) -> str | None:
    """What to do about the newest error, or None when it is none of the IAM failures above."""
    if not errors:
        return None
    error = errors[0].lower()
    if resource_type == USER and any(m in error for m in MISSING_EMAIL):
        return (
            f"OCI refused to create the S3 user {name}: this tenancy uses identity domains, which require an email "
            "for every user. Set one (it must differ from every other user's): "
            "`pulumi config set --path oci.s3UserEmail ops+s3@example.com`, then run `pulumi up` again."
        )
    if resource_type == LIFECYCLE and INSUFFICIENT_SERVICE in error:
        statement = lifecycle_service_statement(region, compartment_id)
        return (
            f"Object Storage refused the lifecycle rule of {name}: its service principal "
            f"{object_lifecycle_service(region)} may not delete old object versions yet. This stack creates "
            f"the policy `{statement}`; IAM can take a few minutes to apply it, so run `pulumi up` again. If it "
            "keeps failing, check that the policy exists in the compartment and names this region."
        )
    statements = deployer_statements(resource_type, compartment_id=compartment_id)
    if NOT_AUTHORIZED in error and statements:
        lines = "".join(f"\n    {s}" for s in statements)
        why = (
            "\n(`manage credentials` is what a tenancy with identity domains checks before it creates another "
            "user's Customer Secret Key; `manage users` alone may not be enough there.)"
            if resource_type == SECRET_KEY
            else ""
        )
        return (
            f"OCI refused {name} ({resource_type.rsplit(':', 1)[-1]}): the user running `pulumi up` "
            f"(oci.userId {deployer_id}) lacks an IAM right. A tenancy administrator must add to a policy, "
            f"with <group> a group that user is in:{lines}{why}\nthen run `pulumi up` again."
        )
    return None


def iam_error_hook(name: str, *, compartment_id: str, region: str, deployer_id: str) -> pulumi.ErrorHook:
    """Says which policy statement is missing; never retries (the provider already retried within IAM's delay)."""

    async def on_error(args: pulumi.ErrorHookArgs) -> bool:
        advice = iam_advice(
            args.type, args.name, args.errors, compartment_id=compartment_id, region=region, deployer_id=deployer_id
        )
        if advice is not None:
            pulumi.log.warn(advice)
        return False

    return pulumi.ErrorHook(name, on_error)
