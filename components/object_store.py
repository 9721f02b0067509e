"""S3-compatible object storage: a container on a laptop, Oracle Object Storage in the cloud.

Both backends give the same outputs, so LiveKit Egress and apps are configured the
same way whichever one runs.
"""
from __future__ import annotations

from dataclasses import dataclass
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
        env = pulumi.Output.all(access_key, secret_key).apply(lambda keys: s3_server_env(keys[0], keys[1], self.region, self.port))
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


@dataclass(frozen=True, kw_only=True)
class OciBucketBackend:
    """Private, versioned Oracle Object Storage buckets reached through the S3 compatibility API."""

    compartment_id: str
    region: str  # the S3 compatibility API's region is the OCI region
    user_id: str  # the OCI user the S3 key (Customer Secret Key) belongs to
    protect_data: bool = True

    def provision(self, store: pulumi.Resource, name: str, buckets: tuple[str, ...]) -> S3Endpoint:
        namespace = oci.objectstorage.get_namespace_output(
            compartment_id=self.compartment_id, opts=pulumi.InvokeOutputOptions(parent=store)
        ).namespace
        for bucket in buckets:
            oci.objectstorage.Bucket(
                f"{name}-{bucket}",
                compartment_id=self.compartment_id,
                namespace=namespace,
                name=bucket,
                access_type="NoPublicAccess",
                versioning="Enabled",
                storage_tier="Standard",
                opts=pulumi.ResourceOptions(parent=store, protect=self.protect_data, retain_on_delete=self.protect_data),
            )
        key = oci.identity.CustomerSecretKey(
            f"{name}-s3-key",
            display_name=f"{pulumi.get_project()}-{pulumi.get_stack()}-s3",
            user_id=self.user_id,
            opts=pulumi.ResourceOptions(parent=store, additional_secret_outputs=["key"]),
        )
        endpoint = pulumi.Output.format("https://{0}.compat.objectstorage.{1}.oraclecloud.com", namespace, self.region)
        return S3Endpoint(
            endpoint=endpoint,
            internal_endpoint=endpoint,
            region=pulumi.Output.from_input(self.region),
            access_key=key.id,
            secret_key=pulumi.Output.secret(key.key),
            path_style=True,
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
