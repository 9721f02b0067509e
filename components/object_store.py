"""S3-compatible object storage: a container on a laptop, Oracle Object Storage in the cloud.

Both backends give the same outputs, so LiveKit Egress and apps are configured the
same way whichever one runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pulumi
import pulumi_oci as oci

from components.container import ContainerSpec, Healthcheck, data_volume, image_ref, run_container
from components.networking import ContainerNetwork, PublishedPort
from components.secrets import generated_password
from renderers.object_store import (
    ENTRYPOINT,
    IMAGE_REPOSITORY,
    S3_DATA_PATH,
    s3_server_command,
    s3_server_env,
    s3_server_healthcheck,
)

TYPE = "backing-services:index:ObjectStore"


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: pulumi.Output[str]  # for apps on the host / on the internet
    internal_endpoint: pulumi.Output[str]  # for sibling containers (Egress)
    region: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    path_style: bool
    # Environment every S3 client that talks to this store gets (Egress, apps): what the store needs of the
    # AWS SDKs beyond endpoint, region and keys. Empty for versitygw, which accepts the SDKs' defaults.
    client_env: tuple[str, ...] = ()


class ObjectStoreBackend(Protocol):
    def provision(self, store: pulumi.Resource, name: str, buckets: tuple[str, ...]) -> S3Endpoint: ...


@dataclass(frozen=True, kw_only=True)
class ContainerBackend:
    """A single-node S3 server in a container, its data on a named volume."""

    network: ContainerNetwork
    version: str
    region: str = "us-east-1"
    port: int = 9000
    memory_mb: int = 256
    cpus: float = 0.5
    platform: str | None = None
    protect_data: bool = True

    def provision(self, store: pulumi.Resource, name: str, buckets: tuple[str, ...]) -> S3Endpoint:
        access_key = generated_password(f"{name}-access-key", parent=store, length=20)
        secret_key = generated_password(f"{name}-secret-key", parent=store, length=40)
        volume = data_volume(f"{name}-data", protect=self.protect_data, parent=store)
        env = pulumi.Output.all(access_key, secret_key).apply(
            lambda keys: s3_server_env(keys[0], keys[1], self.region, self.port, self.network.bind_address)
        )
        container = run_container(
            f"{name}-s3",
            ContainerSpec(
                image=image_ref(IMAGE_REPOSITORY, self.version),
                alias="objectstore",
                entrypoint=ENTRYPOINT,
                command=s3_server_command(buckets=buckets),
                env=pulumi.Output.secret(env),
                healthcheck=Healthcheck(test=s3_server_healthcheck(self.port)),
                memory_mb=self.memory_mb,
                cpus=self.cpus,
                volumes={S3_DATA_PATH: volume.name},
                ports=(PublishedPort(port=self.port),),
            ),
            network=self.network,
            platform=self.platform,
            parent=store,
        )
        return S3Endpoint(
            endpoint=pulumi.Output.from_input(f"http://127.0.0.1:{self.port}"),
            # Derived from the container (its name is known in a preview), so Egress waits for a healthy store.
            internal_endpoint=container.name.apply(lambda _: f"http://{self.network.address('objectstore', self.port)}"),
            region=pulumi.Output.from_input(self.region),
            access_key=access_key,
            secret_key=secret_key,
            path_style=True,
        )


# The rule Object Storage runs for every bucket while objectStore.previousVersionRetentionDays is set.
PREVIOUS_VERSIONS_RULE = "expire-previous-versions"


def object_lifecycle_service(region: str) -> str:
    """The service principal that runs lifecycle rules, as OCI names it in policies and errors."""
    return f"objectstorage-{region}"


def lifecycle_service_statement(region: str, compartment_id: str) -> str:
    """What Object Storage needs before it accepts (and can run) a lifecycle rule that deletes objects."""
    return f"Allow service {object_lifecycle_service(region)} to manage object-family in compartment id {compartment_id}"


def s3_access_statements(group: str, compartment_id: str, buckets: tuple[str, ...]) -> list[str]:
    """The dedicated S3 user's whole grant: these buckets' objects, nothing else in the compartment.

    OCI's Object Storage policy reference: `target.bucket.name` is a variable of buckets and objects
    requests (so ListBuckets, which names no bucket, is refused); `read buckets` covers getting the bucket,
    `manage objects` listing, reading, writing and deleting its objects, as S3 GET/PUT/DELETE/list need.
    """
    only = "where any {" + ", ".join(f"target.bucket.name='{b}'" for b in buckets) + "}"
    where = f"in compartment id {compartment_id} {only}"
    return [f"Allow group {group} to read buckets {where}", f"Allow group {group} to manage objects {where}"]


# OCI's S3 compatibility API has been reported refusing what newer AWS SDKs send by default: a CRC32 request
# checksum on every operation that allows one, which on uploads travels in the trailer of an aws-chunked
# (streaming) body, and CRC32 on DeleteObjects (activepieces/activepieces#14110, 2026-07). "when_required" is
# the SDKs' shared setting for "a checksum only where the operation demands one" (AWS SDKs and Tools reference,
# "Data integrity protections"): PutObject and UploadPart then go out as plain bodies without a trailer.
# aws-sdk-go-v2 reads both variables in LoadDefaultConfig (config/env_config.go awsRequestChecksumCalculation,
# awsResponseChecksumValidation), which Egress's S3 client goes through (livekit/storage s3.go:133), and the
# JS v3, Python (botocore >= 1.36) and Java v2 SDKs read them too. They do not help an operation that demands a
# checksum, DeleteObjects: Egress only uploads, rclone deletes one object at a time (pg_backup.rclone_env); an
# app that batch-deletes must be tried against a real bucket (README "Object storage").
OCI_S3_CLIENT_ENV = (
    "AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required",
)

# The S3 user's only credential is its Customer Secret Key: no console password, API signing keys, auth
# tokens or SMTP credentials, so a leak of the user (not only of the key) reaches nothing else. These are every
# capability oci_identity_user_capabilities_management has (identity_user_capabilities_management_resource.go
# :39-64@v8.28.0); the API's two others, DB credentials and OAuth 2.0 client credentials
# (oci-go-sdk identity/update_user_capabilities_details.go:33-40), are not in the provider's schema and keep
# the tenancy's default.
S3_USER_CAPABILITIES = {
    "can_use_customer_secret_keys": True,
    "can_use_api_keys": False,
    "can_use_auth_tokens": False,
    "can_use_console_password": False,
    "can_use_smtp_credentials": False,
}


@dataclass(frozen=True, kw_only=True)
class OciBucketBackend:
    """Private, versioned Oracle Object Storage buckets reached through the S3 compatibility API.

    The S3 key belongs to a user of its own (`<project>-<stack>-s3`), in a group whose only policy
    names this stack's buckets: a leaked key reaches nothing else, and never the deployer's rights.
    """

    compartment_id: str
    region: str  # the S3 compatibility API's region is the OCI region
    protect_data: bool = True
    # Required in tenancies with identity domains (OCI answers "The primary email must be specified").
    s3_user_email: str | None = None
    # Object Storage deletes a previous version this many days after it became one; None keeps them all.
    previous_version_retention_days: int | None = 30
    # Names the IAM statement the deployer lacks when OCI refuses a user, group, policy or key (targets/oci_iam.py).
    on_error: pulumi.ErrorHook | None = field(default=None, compare=False)

    def _opts(self, store: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
        hooks = pulumi.ResourceHookBinding(on_error=[self.on_error]) if self.on_error is not None else None
        return pulumi.ResourceOptions(parent=store, hooks=hooks, **kwargs)

    def provision(self, store: pulumi.Resource, name: str, buckets: tuple[str, ...]) -> S3Endpoint:
        label = f"{pulumi.get_project()}-{pulumi.get_stack()}"
        namespace = oci.objectstorage.get_namespace_output(
            compartment_id=self.compartment_id, opts=pulumi.InvokeOutputOptions(parent=store)
        ).namespace
        created = {
            bucket: oci.objectstorage.Bucket(
                f"{name}-{bucket}",
                compartment_id=self.compartment_id,
                namespace=namespace,
                name=bucket,
                access_type="NoPublicAccess",
                versioning="Enabled",
                storage_tier="Standard",
                opts=pulumi.ResourceOptions(parent=store, protect=self.protect_data, retain_on_delete=self.protect_data),
            )
            for bucket in buckets
        }
        self._expire_previous_versions(store, name, label, namespace, created)
        # Users and groups live in the tenancy (root compartment). Without compartment_id the provider
        # sends the tenancy OCID of its own API-key config (identity_user_resource.go:228-248@v8.28.0).
        user = oci.identity.User(
            f"{name}-s3-user",
            name=f"{label}-s3",
            description=f"S3 access to the {label} buckets (LiveKit Egress and apps); managed by Pulumi",
            email=self.s3_user_email,
            opts=self._opts(store),
        )
        group = oci.identity.Group(
            f"{name}-s3-group",
            name=f"{label}-s3",
            description=f"Holds {label}-s3 only; its policy names the {label} buckets",
            opts=self._opts(store),
        )
        membership = oci.identity.UserGroupMembership(
            f"{name}-s3-group-membership", user_id=user.id, group_id=group.id, opts=self._opts(store)
        )
        access = oci.identity.Policy(
            f"{name}-s3-access",
            compartment_id=self.compartment_id,
            name=f"{label}-s3",
            description=f"{label}-s3 may read and write objects in the {label} buckets only",
            # Known in a preview; OCI checks that the group a statement names exists, hence depends_on.
            statements=s3_access_statements(f"{label}-s3", self.compartment_id, buckets),
            opts=self._opts(store, depends_on=[group]),
        )
        # UpdateUserCapabilities on the user; its Delete changes nothing (the user keeps its capabilities until the
        # user itself goes), and a new user_id replaces it (identity_user_capabilities_management_resource.go
        # :34-38, :194-201@v8.28.0).
        capabilities = oci.identity.UserCapabilitiesManagement(
            f"{name}-s3-user-capabilities", user_id=user.id, **S3_USER_CAPABILITIES, opts=self._opts(store)
        )
        key = oci.identity.CustomerSecretKey(
            f"{name}-s3-key",
            display_name=f"{label}-s3",
            user_id=user.id,
            # Whatever uses the key (Egress, apps) waits until the key may reach the buckets, and until the user
            # holding it can hold nothing else.
            opts=self._opts(
                store, additional_secret_outputs=["key"], depends_on=[membership, access, capabilities]
            ),
        )
        endpoint = pulumi.Output.format("https://{0}.compat.objectstorage.{1}.oraclecloud.com", namespace, self.region)
        return S3Endpoint(
            endpoint=endpoint,
            internal_endpoint=endpoint,
            region=pulumi.Output.from_input(self.region),
            access_key=key.id,
            secret_key=pulumi.Output.secret(key.key),
            path_style=True,
            client_env=OCI_S3_CLIENT_ENV,
        )

    def _expire_previous_versions(
        self, store: pulumi.Resource, name: str, label: str, namespace: pulumi.Output[str], buckets: dict[str, oci.objectstorage.Bucket]
    ) -> None:
        days = self.previous_version_retention_days
        if days is None:
            return
        # Object Storage refuses a lifecycle rule it could not run (400-InsufficientServicePermissions);
        # the provider retries that error for the 240 s after an IAM write (tfresource/retry.go:357-392@v8.28.0).
        service = oci.identity.Policy(
            f"{name}-lifecycle-service-access",
            compartment_id=self.compartment_id,
            name=f"{label}-object-lifecycle",
            description=f"Lets Object Storage run the {label} buckets' lifecycle rules",
            statements=[lifecycle_service_statement(self.region, self.compartment_id)],
            opts=self._opts(store),
        )
        for bucket_name, bucket in buckets.items():
            oci.objectstorage.ObjectLifecyclePolicy(
                f"{name}-{bucket_name}-lifecycle",
                namespace=namespace,
                bucket=bucket.name,  # the bucket's output: created after it
                rules=[
                    {
                        "name": PREVIOUS_VERSIONS_RULE,
                        "action": "DELETE",
                        "target": "previous-object-versions",
                        "time_amount": str(days),
                        "time_unit": "DAYS",
                        "is_enabled": True,
                    }
                ],
                opts=self._opts(store, depends_on=[service]),
            )


@dataclass(frozen=True, kw_only=True)
class ObjectStoreArgs:
    backend: ObjectStoreBackend
    buckets: tuple[str, ...] = ("recordings",)


class ObjectStore(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        s3 = args.backend.provision(self, name, args.buckets)
        self.s3 = s3
        self.endpoint = s3.endpoint
        self.region = s3.region
        self.bucket = pulumi.Output.from_input(args.buckets[0])
        self.buckets = pulumi.Output.from_input(list(args.buckets))
        self.access_key = s3.access_key
        self.secret_key = s3.secret_key
        self.path_style = pulumi.Output.from_input(s3.path_style)
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "region": self.region,
                "bucket": self.bucket,
                "buckets": self.buckets,
                "accessKey": self.access_key,
                "secretKey": self.secret_key,
                "pathStyle": self.path_style,
            }
        )
