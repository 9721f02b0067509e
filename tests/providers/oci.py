"""oracle/terraform-provider-oci, read at v8.28.0 (pulumi-oci 5.5.0 bundles a v8.25-v8.28 release;
the files cited are identical across them). Paths are under internal/service/core/ unless named.

OCI's Read stores API values; every value this program sends comes back in the form sent
(numeric protocol strings stay "6", int strings are compared with Int64StringDiffSuppressFunction,
rule lists and security_list_ids are sets with hashes that default what OCI fills in).
"""
from __future__ import annotations

from tests.providers.model import Fact, ResourceFacts

TAG = "@v8.28.0"
REPLACE = "replace"
UPDATE = "update"


def _src(where: str) -> str:
    return f"{where}{TAG}"


def _instance_state(inputs) -> str:
    return "the VM: replacing it means a re-provisioned host and minutes of downtime (the reserved public IP stays)"


def _volume_state(inputs) -> str:
    return "the block volume with all service data"


def _attachment_state(inputs) -> str:
    return "detaching the data volume under a running Docker"


def _bucket_state(inputs) -> str:
    return f"bucket {inputs.get('name')} and its objects"


I = "core_instance_resource.go"
INSTANCE = ResourceFacts(
    type="oci:Core/instance:Instance",
    stateful=_instance_state,
    fields={
        "compartmentId": Fact(UPDATE, _src(f"{I}:51-54, :1531-1539 (ChangeInstanceCompartment)")),
        "availabilityDomain": Fact(REPLACE, _src(f"{I}:45-50")),
        "displayName": Fact(UPDATE, _src(f"{I}:322-326, :1604-1607")),
        "freeformTags": Fact(UPDATE, _src(f"{I}:340-345, :1617-1619")),
        "shape": Fact(UPDATE, _src(f"{I}:795-799, :4263-4280 (reboots a running instance)")),
        "shapeConfig": Fact(UPDATE, _src(f"{I}:800-881, :4282-4292; ocpus/memory read back as sent, :3851-3861")),
        "sourceDetails.sourceType": Fact(UPDATE, _src(f"{I}:904-913")),
        # Not force-new: a new image id reimages the boot disk in place (:2475-2526). Ignored by the program.
        "sourceDetails.sourceId": Fact(UPDATE, _src(f"{I}:915-919, :4310-4320")),
        # In place, grow only (UpdateBootVolume; the API rejects a smaller size).
        "sourceDetails.bootVolumeSizeInGbs": Fact(UPDATE, _src(f"{I}:920-926, :1541-1555, :4200-4223")),
        "createVnicDetails.subnetId": Fact(REPLACE, _src(f"{I}:293-298")),
        "createVnicDetails.assignPublicIp": Fact(UPDATE, _src(f"{I}:179-198 (StateFunc normalises to \"true\")")),
        # CustomizeDiff ForceNewIfChange on either key (:1053-1060); the API refuses to change them
        # after launch (oci-go-sdk core/update_instance_details.go:58-67).
        "metadata.ssh_authorized_keys": Fact(REPLACE, _src(f"{I}:1053-1060")),
        "metadata.user_data": Fact(REPLACE, _src(f"{I}:1053-1060")),
        "instanceOptions": Fact(UPDATE, _src(f"{I}:367-387, :1624-1633")),
        "availabilityConfig": Fact(UPDATE, _src(f"{I}:126-135, :1581-1590")),
    },
)

P = "core_public_ip_resource.go"
PUBLIC_IP = ResourceFacts(
    type="oci:Core/publicIp:PublicIp",
    # Not data, but the address DNS and TURN URLs point at: releasing it loses it for good.
    stateful=lambda inputs: "the reserved public IP that DNS, the sslip.io name and TURN URLs point at",
    fields={
        "compartmentId": Fact(UPDATE, _src(f"{P}:29-32, :257-262 (ChangePublicIpCompartment)")),
        "lifetime": Fact(REPLACE, _src(f"{P}:33-37")),
        "displayName": Fact(UPDATE, _src(f"{P}:47-51, :278-281")),
        # Moves the address onto another private IP in place: a replacement VM keeps it.
        "privateIpId": Fact(UPDATE, _src(f"{P}:58-61, :288-292")),
    },
)

V = "core_volume_resource.go"
VOLUME = ResourceFacts(
    type="oci:Core/volume:Volume",
    stateful=_volume_state,
    fields={
        "compartmentId": Fact(UPDATE, _src(f"{V}:40-43, :535-543")),
        "availabilityDomain": Fact(REPLACE, _src(f"{V}:34-39")),
        # In place, grow only: the API rejects a smaller size at apply (update_volume_details.go:53-54).
        "sizeInGbs": Fact(UPDATE, _src(f"{V}:162-168, :630-637; read as \"150\", :729-731")),
        "displayName": Fact(UPDATE, _src(f"{V}:136-140, :595-598")),
        "sourceDetails": Fact(REPLACE, _src(f"{V}:178-221")),
    },
)

A = "core_volume_attachment_resource.go"
ATTACHMENT = ResourceFacts(
    type="oci:Core/volumeAttachment:VolumeAttachment",
    stateful=_attachment_state,
    # No update function: every field is force-new.
    fields={
        "attachmentType": Fact(REPLACE, _src(f"{A}:32-42")),
        "instanceId": Fact(REPLACE, _src(f"{A}:43-47")),
        "volumeId": Fact(REPLACE, _src(f"{A}:48-52")),
        "device": Fact(REPLACE, _src(f"{A}:55-60")),
        "displayName": Fact(REPLACE, _src(f"{A}:61-66")),
    },
)

P = "core_volume_backup_policy_resource.go"
BACKUP_POLICY = ResourceFacts(
    type="oci:Core/volumeBackupPolicy:VolumeBackupPolicy",
    fields={
        "compartmentId": Fact(REPLACE, _src(f"{P}:32-36")),
        "displayName": Fact(UPDATE, _src(f"{P}:51-55")),
        # A set with a hash that reads "" time_zone as UTC and -1 as unset hour/day (:524-578).
        "schedules": Fact(UPDATE, _src(f"{P}:62-66, :311-327"), unordered=True),
    },
)

BACKUP_ASSIGNMENT = ResourceFacts(
    type="oci:Core/volumeBackupPolicyAssignment:VolumeBackupPolicyAssignment",
    fields={
        "assetId": Fact(REPLACE, _src("core_volume_backup_policy_assignment_resource.go:23-32")),
        "policyId": Fact(REPLACE, _src("core_volume_backup_policy_assignment_resource.go:33-37")),
    },
)

VCN = ResourceFacts(
    type="oci:Core/vcn:Vcn",
    fields={
        "compartmentId": Fact(UPDATE, _src("core_vcn_resource.go:33-36")),
        "cidrBlocks": Fact(UPDATE, _src("core_vcn_resource.go:67-74, :915-975 (one change per apply)")),
        "displayName": Fact(UPDATE, _src("core_vcn_resource.go:82-86")),
    },
)

INTERNET_GATEWAY = ResourceFacts(
    type="oci:Core/internetGateway:InternetGateway",
    fields={
        "compartmentId": Fact(UPDATE, _src("core_internet_gateway_resource.go:29-32")),
        "vcnId": Fact(REPLACE, _src("core_internet_gateway_resource.go:33-37")),
        "enabled": Fact(UPDATE, _src("core_internet_gateway_resource.go:52-56")),
        "displayName": Fact(UPDATE, _src("core_internet_gateway_resource.go:47-51")),
    },
)

ROUTE_TABLE = ResourceFacts(
    type="oci:Core/routeTable:RouteTable",
    fields={
        "compartmentId": Fact(UPDATE, _src("core_route_table_resource.go:32-35")),
        "vcnId": Fact(REPLACE, _src("core_route_table_resource.go:36-40")),
        "displayName": Fact(UPDATE, _src("core_route_table_resource.go:50-54")),
        "routeRules": Fact(UPDATE, _src("core_route_table_resource.go:61-107, hash :453-495"), unordered=True),
    },
)

S = "core_security_list_resource.go"
_RULES = {
    "compartmentId": Fact(UPDATE, _src(f"{S}:32-35")),
    "displayName": Fact(UPDATE, _src(f"{S}:50-54")),
    # Sets; protocol "6"/"17"/"1" comes back verbatim (:898-900); source_type "" hashes as CIDR_BLOCK.
    "ingressSecurityRules": Fact(UPDATE, _src(f"{S}:225-229, :560-635"), unordered=True),
    "egressSecurityRules": Fact(UPDATE, _src(f"{S}:55-218, :560-635"), unordered=True),
}
SECURITY_LIST = ResourceFacts(
    type="oci:Core/securityList:SecurityList",
    fields={**_RULES, "vcnId": Fact(REPLACE, _src(f"{S}:36-40"))},
)
DEFAULT_SECURITY_LIST = ResourceFacts(
    type="oci:Core/defaultSecurityList:DefaultSecurityList",
    fields={**_RULES, "manageDefaultResourceId": Fact(REPLACE, _src("helpers_core.go:41-45"))},
)

N = "core_subnet_resource.go"
SUBNET = ResourceFacts(
    type="oci:Core/subnet:Subnet",
    fields={
        "vcnId": Fact(REPLACE, _src(f"{N}:40-44")),
        "cidrBlock": Fact(UPDATE, _src(f"{N}:54-58, :905-910")),
        "routeTableId": Fact(UPDATE, _src(f"{N}:124-128")),
        "securityListIds": Fact(UPDATE, _src(f"{N}:129-139"), unordered=True),
        "prohibitPublicIpOnVnic": Fact(REPLACE, _src(f"{N}:118-123")),
        "displayName": Fact(UPDATE, _src(f"{N}:71-75")),
        "compartmentId": Fact(UPDATE, _src(f"{N}:36-39")),
    },
)

B = "../objectstorage/objectstorage_bucket_resource.go"
BUCKET = ResourceFacts(
    type="oci:ObjectStorage/bucket:Bucket",
    stateful=_bucket_state,
    fields={
        "compartmentId": Fact(UPDATE, _src(f"{B}:39-42, :449-452")),
        "namespace": Fact(REPLACE, _src(f"{B}:48-52")),
        "name": Fact(REPLACE, _src(f"{B}:43-47, :490-496 (no rename in place)")),
        "accessType": Fact(UPDATE, _src(f"{B}:55-59, :432-434")),
        "storageTier": Fact(REPLACE, _src(f"{B}:103-108")),
        # Read back as "Enabled"; once enabled it can only become Suspended.
        "versioning": Fact(UPDATE, _src(f"{B}:166-170, :498-500")),
    },
)

CUSTOMER_SECRET_KEY = ResourceFacts(
    type="oci:Identity/customerSecretKey:CustomerSecretKey",
    fields={
        "userId": Fact(REPLACE, _src("../identity/identity_customer_secret_key_resource.go:40-44")),
        "displayName": Fact(UPDATE, _src("../identity/identity_customer_secret_key_resource.go:36-39, :203-228")),
    },
)

# No ForceNew but user_id; Update is Create, one UpdateUserCapabilities call with every flag set (:194-196,
# :131-164); Read stores the API's booleans as sent (:203-223).
UC = "../identity/identity_user_capabilities_management_resource.go"
USER_CAPABILITIES = ResourceFacts(
    type="oci:Identity/userCapabilitiesManagement:UserCapabilitiesManagement",
    fields={
        "userId": Fact(REPLACE, _src(f"{UC}:34-38")),
        "canUseApiKeys": Fact(UPDATE, _src(f"{UC}:40-44, :139-142")),
        "canUseAuthTokens": Fact(UPDATE, _src(f"{UC}:45-49, :144-147")),
        "canUseConsolePassword": Fact(UPDATE, _src(f"{UC}:50-54, :149-152")),
        "canUseCustomerSecretKeys": Fact(UPDATE, _src(f"{UC}:55-59, :154-157")),
        "canUseSmtpCredentials": Fact(UPDATE, _src(f"{UC}:60-64, :159-162")),
    },
)

U = "../identity/identity_user_resource.go"
IDENTITY_USER = ResourceFacts(
    type="oci:Identity/user:User",
    # compartmentId is not sent: Optional+Computed, the provider fills in its tenancy (:36-41, :228-248).
    fields={
        "name": Fact(REPLACE, _src(f"{U}:47-51")),
        "description": Fact(UPDATE, _src(f"{U}:43-46, :316-319")),
        # Optional+Computed, sent on update (:321-324); Read stores the API's value (:379-381).
        "email": Fact(UPDATE, _src(f"{U}:61-65, :321-324")),
    },
)

G = "../identity/identity_group_resource.go"
IDENTITY_GROUP = ResourceFacts(
    type="oci:Identity/group:Group",
    fields={
        "name": Fact(REPLACE, _src(f"{G}:47-51")),
        "description": Fact(UPDATE, _src(f"{G}:43-46, :239-242")),
    },
)

# No update function: both fields are force-new.
M = "../identity/identity_user_group_membership_resource.go"
USER_GROUP_MEMBERSHIP = ResourceFacts(
    type="oci:Identity/userGroupMembership:UserGroupMembership",
    fields={"groupId": Fact(REPLACE, _src(f"{M}:29-33")), "userId": Fact(REPLACE, _src(f"{M}:34-38"))},
)

IP = "../identity/identity_policy_resource.go"
IDENTITY_POLICY = ResourceFacts(
    type="oci:Identity/policy:Policy",
    fields={
        "compartmentId": Fact(REPLACE, _src(f"{IP}:36-40")),
        "name": Fact(REPLACE, _src(f"{IP}:45-49")),
        "description": Fact(UPDATE, _src(f"{IP}:41-44, :304-307")),
        # Compared by the MD5 of the statements as sent, stored at create (:263-264, :409-416): whatever
        # wording the API reads back, unchanged statements plan no diff.
        "statements": Fact(UPDATE, _src(f"{IP}:50-57, :316-326")),
    },
)

L = "../objectstorage/objectstorage_object_lifecycle_policy_resource.go"
OBJECT_LIFECYCLE_POLICY = ResourceFacts(
    type="oci:ObjectStorage/objectLifecyclePolicy:ObjectLifecyclePolicy",
    fields={
        "bucket": Fact(REPLACE, _src(f"{L}:42-46")),
        "namespace": Fact(REPLACE, _src(f"{L}:47-51")),
        # A set (hash :529-580) PUT whole on update (:271-311); time_amount reads back as the
        # decimal string sent (:450-452), time_unit and target verbatim (:446-454).
        "rules": Fact(UPDATE, _src(f"{L}:54-142, :271-311"), unordered=True),
    },
)

# Provider config has no ForceNew field (internal/provider/provider.go, grep): a provider update.
PROVIDER = ResourceFacts(
    type="pulumi:providers:oci",
    fields={"region": Fact(UPDATE, _src("internal/provider/provider.go:394"))},
)

ALL = (
    INSTANCE,
    PUBLIC_IP,
    VOLUME,
    ATTACHMENT,
    BACKUP_POLICY,
    BACKUP_ASSIGNMENT,
    VCN,
    INTERNET_GATEWAY,
    ROUTE_TABLE,
    SECURITY_LIST,
    DEFAULT_SECURITY_LIST,
    SUBNET,
    BUCKET,
    CUSTOMER_SECRET_KEY,
    USER_CAPABILITIES,
    IDENTITY_USER,
    IDENTITY_GROUP,
    USER_GROUP_MEMBERSHIP,
    IDENTITY_POLICY,
    OBJECT_LIFECYCLE_POLICY,
    PROVIDER,
)
