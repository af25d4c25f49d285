"""The network's API calls (EC2), as the Pulumi AWS provider makes them: the VPC with its Amazon
IPv6 block, subnets with /64s carved from the block the API assigned, gateways, route tables and
routes, CIDR reservations, security groups and their rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from components.network_plan import ipv6_subnet
from tools.aws_replay_base import (
    SECURITY_GROUP,
    SUBNET,
    VPC,
    ApiCalls,
    PlannedResource,
    ipv6_index,
    same_host,
    tag_spec,
)


class NetworkCalls(ApiCalls):
    """A mixin of `ApiCalls`: one method per network resource type."""

    def vpc(self, r: PlannedResource) -> None:
        i = r.inputs
        vpc = self.call(
            r,
            "ec2",
            "create_vpc",
            CidrBlock=i["cidrBlock"],
            AmazonProvidedIpv6CidrBlock=bool(i.get("assignGeneratedIpv6CidrBlock")),
            **tag_spec("vpc", i),
        )["Vpc"]
        for attribute, key in (("EnableDnsSupport", "enableDnsSupport"), ("EnableDnsHostnames", "enableDnsHostnames")):
            if key in i:  # one attribute per call, as the API demands
                self.call(r, "ec2", "modify_vpc_attribute", VpcId=vpc["VpcId"], **{attribute: {"Value": bool(i[key])}})
        blocks = [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]
        if blocks:
            self.result.vpc_ipv6_cidrs[r.name] = blocks[0]
        self.done(r, vpc["VpcId"])

    def subnet(self, r: PlannedResource) -> None:
        i = r.inputs
        params: dict[str, Any] = {
            "VpcId": self.ref(r, "vpcId"),
            "CidrBlock": i["cidrBlock"],
            "AvailabilityZone": i["availabilityZone"],
            **tag_spec("subnet", i),
        }
        if i.get("ipv6CidrBlock"):
            block, planned = self.vpc_block(r, "ipv6CidrBlock"), i["ipv6CidrBlock"]
            params["Ipv6CidrBlock"] = ipv6_subnet(block, ipv6_index(planned)) if block else planned
        subnet = self.call(r, "ec2", "create_subnet", **params)["Subnet"]
        attributes = {
            "assignIpv6AddressOnCreation": "AssignIpv6AddressOnCreation",
            "mapPublicIpOnLaunch": "MapPublicIpOnLaunch",
            "enableResourceNameDnsARecordOnLaunch": "EnableResourceNameDnsARecordOnLaunch",
            "enableResourceNameDnsAaaaRecordOnLaunch": "EnableResourceNameDnsAAAARecordOnLaunch",
            "enableDns64": "EnableDns64",
        }
        for key, attribute in attributes.items():
            if key in i:
                self.call(
                    r,
                    "ec2",
                    "modify_subnet_attribute",
                    SubnetId=subnet["SubnetId"],
                    **{attribute: {"Value": bool(i[key])}},
                )
        if "privateDnsHostnameTypeOnLaunch" in i:
            self.call(
                r,
                "ec2",
                "modify_subnet_attribute",
                SubnetId=subnet["SubnetId"],
                PrivateDnsHostnameTypeOnLaunch=i["privateDnsHostnameTypeOnLaunch"],
            )
        if "Ipv6CidrBlock" in params:
            self.result.subnet_ipv6_cidrs[r.name] = params["Ipv6CidrBlock"]
        self.done(r, subnet["SubnetId"])

    def internet_gateway(self, r: PlannedResource) -> None:
        gateway = self.call(r, "ec2", "create_internet_gateway", **tag_spec("internet-gateway", r.inputs))
        gateway_id = gateway["InternetGateway"]["InternetGatewayId"]
        self.call(r, "ec2", "attach_internet_gateway", InternetGatewayId=gateway_id, VpcId=self.ref(r, "vpcId"))
        self.done(r, gateway_id)

    def egress_only_gateway(self, r: PlannedResource) -> None:
        gateway = self.call(
            r,
            "ec2",
            "create_egress_only_internet_gateway",
            VpcId=self.ref(r, "vpcId"),
            **tag_spec("egress-only-internet-gateway", r.inputs),
        )
        self.done(r, gateway["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"])

    def eip(self, r: PlannedResource) -> None:
        address = self.call(
            r, "ec2", "allocate_address", Domain=r.inputs.get("domain", "vpc"), **tag_spec("elastic-ip", r.inputs)
        )
        self.done(r, address["AllocationId"])

    def nat_gateway(self, r: PlannedResource) -> None:
        nat = self.call(
            r,
            "ec2",
            "create_nat_gateway",
            AllocationId=self.ref(r, "allocationId"),
            SubnetId=self.ref(r, "subnetId"),
            **tag_spec("natgateway", r.inputs),
        )
        self.done(r, nat["NatGateway"]["NatGatewayId"])

    def route_table(self, r: PlannedResource) -> None:
        table = self.call(
            r, "ec2", "create_route_table", VpcId=self.ref(r, "vpcId"), **tag_spec("route-table", r.inputs)
        )
        self.done(r, table["RouteTable"]["RouteTableId"])

    def route_table_association(self, r: PlannedResource) -> None:
        association = self.call(
            r,
            "ec2",
            "associate_route_table",
            RouteTableId=self.ref(r, "routeTableId"),
            SubnetId=self.ref(r, "subnetId"),
        )
        self.done(r, association["AssociationId"])

    def route(self, r: PlannedResource) -> None:
        i = r.inputs
        table = self.ref(r, "routeTableId")
        params: dict[str, Any] = {"RouteTableId": table}
        if "destinationCidrBlock" in i:
            params["DestinationCidrBlock"] = i["destinationCidrBlock"]
        if "destinationIpv6CidrBlock" in i:
            params["DestinationIpv6CidrBlock"] = i["destinationIpv6CidrBlock"]
        targets = {
            "gatewayId": "GatewayId",
            "egressOnlyGatewayId": "EgressOnlyInternetGatewayId",
            "natGatewayId": "NatGatewayId",
        }
        params.update({target: self.ref(r, key) for key, target in targets.items() if key in i})
        self.call(r, "ec2", "create_route", **params)
        destination = params.get("DestinationCidrBlock") or params.get("DestinationIpv6CidrBlock")
        self.done(r, f"{table}_{destination}")  # the provider's id for a route

    def subnet_cidr_reservation(self, r: PlannedResource) -> None:
        i = r.inputs
        cidr = str(i["cidrBlock"])
        subnet_urns = [urn for urn in r.property_dependencies.get("subnetId", ()) if urn in self.result.ids]
        subnet_block = self.result.subnet_ipv6_cidrs.get(self.result.names[subnet_urns[0]]) if subnet_urns else None
        if ":" in cidr and subnet_block:  # a fixed IPv6 host keeps its host part inside the real /64
            address, prefix = cidr.split("/")
            cidr = f"{same_host(address, subnet_block)}/{prefix}"
        params: dict[str, Any] = {
            "SubnetId": self.ref(r, "subnetId"),
            "Cidr": cidr,
            "ReservationType": i["reservationType"],
        }
        if i.get("description"):
            params["Description"] = i["description"]
        reservation = self.call(r, "ec2", "create_subnet_cidr_reservation", **params)["SubnetCidrReservation"]
        self.done(r, reservation["SubnetCidrReservationId"])

    def security_group(self, r: PlannedResource) -> None:
        group = self.call(
            r,
            "ec2",
            "create_security_group",
            GroupName=r.name,
            VpcId=self.ref(r, "vpcId"),
            Description=r.inputs.get("description", "Managed by Pulumi"),
            **tag_spec("security-group", r.inputs),
        )
        group_id = group["GroupId"]
        # The provider revokes the allow-all egress AWS adds: the group has exactly the declared rules.
        described = self.call(r, "ec2", "describe_security_groups", GroupIds=[group_id])["SecurityGroups"][0]
        if described.get("IpPermissionsEgress"):
            self.call(
                r,
                "ec2",
                "revoke_security_group_egress",
                GroupId=group_id,
                IpPermissions=described["IpPermissionsEgress"],
            )
        self.done(r, group_id)

    def security_group_rule(self, r: PlannedResource) -> None:
        i = r.inputs
        permission: dict[str, Any] = {"IpProtocol": str(i["ipProtocol"])}
        if "fromPort" in i:
            permission.update(FromPort=int(i["fromPort"]), ToPort=int(i["toPort"]))
        described = {"Description": i["description"]} if i.get("description") else {}
        if "cidrIpv4" in i:
            permission["IpRanges"] = [{"CidrIp": i["cidrIpv4"], **described}]
        if "cidrIpv6" in i:
            permission["Ipv6Ranges"] = [{"CidrIpv6": self.vpc_block(r, "cidrIpv6") or i["cidrIpv6"], **described}]
        if "referencedSecurityGroupId" in i:
            permission["UserIdGroupPairs"] = [{"GroupId": self.ref(r, "referencedSecurityGroupId"), **described}]
        if "prefixListId" in i:
            permission["PrefixListIds"] = [{"PrefixListId": i["prefixListId"], **described}]
        egress = r.type.endswith("EgressRule")
        operation = "authorize_security_group_egress" if egress else "authorize_security_group_ingress"
        response = self.call(
            r,
            "ec2",
            operation,
            GroupId=self.ref(r, "securityGroupId"),
            IpPermissions=[permission],
            **tag_spec("security-group-rule", i),
        )
        rules = response.get("SecurityGroupRules") or [{}]
        self.done(r, rules[0].get("SecurityGroupRuleId", "sgr-unknown"))


NETWORK_HANDLERS: dict[str, Callable[[NetworkCalls, PlannedResource], None]] = {
    VPC: NetworkCalls.vpc,
    "aws:ec2/internetGateway:InternetGateway": NetworkCalls.internet_gateway,
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": NetworkCalls.egress_only_gateway,
    "aws:ec2/eip:Eip": NetworkCalls.eip,
    SUBNET: NetworkCalls.subnet,
    "aws:ec2/natGateway:NatGateway": NetworkCalls.nat_gateway,
    "aws:ec2/routeTable:RouteTable": NetworkCalls.route_table,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": NetworkCalls.route_table_association,
    "aws:ec2/route:Route": NetworkCalls.route,
    "aws:ec2/subnetCidrReservation:SubnetCidrReservation": NetworkCalls.subnet_cidr_reservation,
    SECURITY_GROUP: NetworkCalls.security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": NetworkCalls.security_group_rule,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": NetworkCalls.security_group_rule,
}
"""Type token -> its calls, in the order of `tools.aws_replay_calls.HANDLERS`."""
