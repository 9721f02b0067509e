"""The VM's network: a VCN with one public subnet whose firewall is exactly the stack's port list."""
from __future__ import annotations

import pulumi
import pulumi_oci as oci

from renderers.oci_rules import WORLD, egress_all, instance_ingress_rules
from renderers.ports import PortRule

VCN_CIDR = "10.0.0.0/16"
SUBNET_CIDR = "10.0.0.0/24"


def public_network(
    name: str,
    *,
    compartment_id: str,
    ingress: tuple[PortRule, ...],
    admin_cidrs: tuple[str, ...],
    opts: pulumi.ResourceOptions,
) -> oci.core.Subnet:
    """VCN, internet gateway, route table, security lists and the public subnet.

    ``opts`` carries the parent and the provider every child shares.
    """
    label = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    vcn = oci.core.Vcn(
        f"{name}-vcn",
        compartment_id=compartment_id,
        cidr_blocks=[VCN_CIDR],
        display_name=label,
        opts=opts,
    )
    gateway = oci.core.InternetGateway(
        f"{name}-internet-gateway",
        compartment_id=compartment_id,
        vcn_id=vcn.id,
        enabled=True,
        display_name=f"{label}-internet",
        opts=opts,
    )
    routes = oci.core.RouteTable(
        f"{name}-routes",
        compartment_id=compartment_id,
        vcn_id=vcn.id,
        display_name=f"{label}-public",
        route_rules=[{"network_entity_id": gateway.id, "destination": WORLD, "destination_type": "CIDR_BLOCK"}],
        opts=opts,
    )
    # Every VCN comes with a default security list that lets SSH in from anywhere. Our subnet
    # does not use it, but any subnet added later would; taking it over empties its ingress.
    oci.core.DefaultSecurityList(
        f"{name}-default-security-list",
        manage_default_resource_id=vcn.default_security_list_id,
        compartment_id=compartment_id,
        display_name=f"{label}-default-closed",
        ingress_security_rules=[],
        egress_security_rules=egress_all(),
        opts=opts,
    )
    security_list = oci.core.SecurityList(
        f"{name}-security-list",
        compartment_id=compartment_id,
        vcn_id=vcn.id,
        display_name=f"{label}-public",
        ingress_security_rules=instance_ingress_rules(ingress, admin_cidrs=admin_cidrs, vcn_cidr=VCN_CIDR),
        egress_security_rules=egress_all(),
        opts=opts,
    )
    return oci.core.Subnet(
        f"{name}-subnet",
        compartment_id=compartment_id,
        vcn_id=vcn.id,
        cidr_block=SUBNET_CIDR,
        display_name=f"{label}-public",
        route_table_id=routes.id,
        security_list_ids=[security_list.id],
        prohibit_public_ip_on_vnic=False,
        opts=opts,
    )
