"""The VM's reserved public IP: the one address DNS, the sslip.io name, certificates and TURN rely on.

An instance's ephemeral public IP dies with the instance, so a replaced VM (another availability domain,
a host failure it cannot be restored from) would come back at a new address: every DNS record, the default
<ip>.sslip.io name with its certificates, LiveKit's advertised address and every saved TURN URL would then
point nowhere. A RESERVED public IP is a resource of its own, assigned to the instance's primary private IP:

- lifetime is force-new (core_public_ip_resource.go:33-37@v8.28.0), so it is created once and kept;
- private_ip_id is updated in place (:58-61, Update :288-292): a replacement instance gets the same address
  moved onto its new private IP, the change table's "updated in place (privateIpId)";
- a private IP has at most one public IP, so the instance carries none of its own
  (create_vnic_details.assign_public_ip "false"). On a stack launched before this, that is an in-place
  update that deletes the ephemeral IP (core_instance_resource.go updateVnicAssignPublicIp :2287-2347),
  and the reserved one is assigned after it: private_ip_id comes from the instance, so the engine orders them.
It is protected like the VM's data. Not verified here: the tenancy's limit on reserved public IPs and their price
on your account (Oracle's "Public IP Addresses" page: a reserved IP "exists beyond the lifetime of the instance").
"""
from __future__ import annotations

import pulumi
import pulumi_oci as oci


def instance_private_ip_id(instance: oci.core.Instance, subnet_id: pulumi.Input[str], opts: pulumi.InvokeOutputOptions) -> pulumi.Output[str]:
    """The OCID of the instance's primary private IP (its VNIC's address in the subnet)."""
    found = oci.core.get_private_ips_output(subnet_id=subnet_id, ip_address=instance.private_ip, opts=opts)

    def only(result) -> str:
        if len(result.private_ips) != 1:
            raise ValueError(f"expected one private IP {result.ip_address} in the subnet, found {len(result.private_ips)}")
        return result.private_ips[0].id

    return found.apply(only)


def reserved_public_ip(
    name: str,
    *,
    compartment_id: str,
    private_ip_id: pulumi.Input[str],
    protect: bool,
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
) -> oci.core.PublicIp:
    return oci.core.PublicIp(
        f"{name}-public-ip",
        compartment_id=compartment_id,
        lifetime="RESERVED",
        private_ip_id=private_ip_id,
        display_name=f"{pulumi.get_project()}-{pulumi.get_stack()}",
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            # Releasing it gives the address back to Oracle's pool: DNS and TURN URLs would break for good.
            protect=protect,
        ),
    )
