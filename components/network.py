"""DualStackNetwork: VPC with an Amazon IPv6 /56, dual-stack subnets, gateways, routes and
one cluster-tagged security group per node role."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.firewall import (
    API_LOAD_BALANCER_EGRESS_PORT,
    API_LOAD_BALANCER_RULES,
    NodeRole,
    Rule,
    Source,
    rules_for,
)
from components.network_plan import SubnetPlan, ipv6_subnet
from components.tags import SubnetTier, cluster_tags, subnet_tags

IPV4_ANY = "0.0.0.0/0"
IPV6_ANY = "::/0"


def ipv6_subnet_of(vpc_block: str, index: int) -> str:
    return ipv6_subnet(vpc_block, index)


@dataclass(frozen=True)
class DualStackNetworkArgs:
    cluster_name: str
    vpc_ipv4_cidr: ipaddress.IPv4Network
    subnets: tuple[SubnetPlan, ...]
    nat_gateway: bool
    admin_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    api_load_balancer: bool = False
    """Also a security group for the API server's load balancer (`API_LOAD_BALANCER_RULES`), which
    the control planes admit on 6443."""


class DualStackNetwork(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    """The VPC; `vpc.ipv6_cidr_block` is its Amazon-provided /56."""
    subnets: dict[str, aws.ec2.Subnet]
    """Every subnet by its plan name (`<cluster>-<tier>-<zone>`)."""
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    route_tables: list[aws.ec2.RouteTable]
    route_table_associations: dict[str, aws.ec2.RouteTableAssociation]
    """Each subnet's association with its tier's route table, by plan name; until it exists the
    subnet uses the VPC's main table, which has no route out."""
    default_routes: dict[SubnetTier, tuple[aws.ec2.Route, ...]]
    """The `0.0.0.0/0` and `::/0` routes of each tier's route table."""
    nat_gateway: aws.ec2.NatGateway | None
    """The private subnets' IPv4 way out, if there are private subnets."""
    security_groups: dict[NodeRole, aws.ec2.SecurityGroup]
    """Exactly one cluster-tagged group per node role: the CCM refuses instances with several."""
    api_load_balancer_group: aws.ec2.SecurityGroup | None
    """The API load balancer's own group (6443 from the admin CIDRs and the nodes), if it has one."""

    def __init__(self, name: str, args: DualStackNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:network:DualStackNetwork", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.vpc_ipv4_cidr),
            assign_generated_ipv6_cidr_block=True,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags(f"{name}-vpc"),
            opts=child,
        )
        self.subnets = {plan.name: self._subnet(plan) for plan in args.subnets}
        self.public_subnets = [self.subnets[p.name] for p in args.subnets if p.tier is SubnetTier.PUBLIC]
        self.private_subnets = [self.subnets[p.name] for p in args.subnets if p.tier is SubnetTier.PRIVATE]
        self.route_table_associations = {}
        self.default_routes = {}
        self.nat_gateway = None
        self.route_tables = [self._public_routes()]
        if self.private_subnets:
            self.route_tables.append(self._private_routes())
        self.security_groups = {role: self._security_group(role) for role in NodeRole}
        self.api_load_balancer_group = self._api_load_balancer_group() if args.api_load_balancer else None
        for role, group in self.security_groups.items():
            self._firewall(role, group)

        outputs: dict[str, object] = {
            "vpcId": self.vpc.id,
            "vpcIpv6CidrBlock": self.vpc.ipv6_cidr_block,
            "subnetIds": [subnet.id for subnet in self.subnets.values()],
            "securityGroupIds": {role.value: group.id for role, group in self.security_groups.items()},
        }
        if self.api_load_balancer_group is not None:
            outputs["apiLoadBalancerSecurityGroupId"] = self.api_load_balancer_group.id
        self.register_outputs(outputs)

    def internet_path(self, subnet_name: str) -> tuple[pulumi.Resource, ...]:
        """What traffic from the subnet (by plan name) to the internet needs: its route-table
        association, that table's default routes and, for a private subnet, the NAT gateway.

        A node depends on these: its boot downloads from apt, dl.k8s.io and GitHub."""
        tier = next(plan.tier for plan in self._args.subnets if plan.name == subnet_name)
        nat = (self.nat_gateway,) if tier is SubnetTier.PRIVATE and self.nat_gateway is not None else ()
        return (self.route_table_associations[subnet_name], *self.default_routes[tier], *nat)

    def _tags(self, name: str) -> dict[str, str]:
        return cluster_tags(self._args.cluster_name, name)

    def _child(self, parent: pulumi.Resource | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent or self)

    def _subnet(self, plan: SubnetPlan) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            plan.name,
            vpc_id=self.vpc.id,
            availability_zone=plan.zone,
            cidr_block=str(plan.ipv4_cidr),
            ipv6_cidr_block=self.vpc.ipv6_cidr_block.apply(functools.partial(ipv6_subnet_of, index=plan.ipv6_index)),
            assign_ipv6_address_on_creation=True,
            map_public_ip_on_launch=plan.tier is SubnetTier.PUBLIC,
            # IP-based names: the CCM matches nodes named ip-a-b-c-d.<region>.compute.internal.
            private_dns_hostname_type_on_launch="ip-name",
            enable_resource_name_dns_a_record_on_launch=True,
            enable_resource_name_dns_aaaa_record_on_launch=True,
            tags=subnet_tags(self._args.cluster_name, plan.name, plan.tier),
            opts=self._child(),
        )

    def _route_table(self, tier: SubnetTier, subnets: list[aws.ec2.Subnet]) -> aws.ec2.RouteTable:
        table_name = f"{self._name}-{tier.value}"
        table = aws.ec2.RouteTable(table_name, vpc_id=self.vpc.id, tags=self._tags(table_name), opts=self._child())
        for subnet, plan in zip(subnets, [p for p in self._args.subnets if p.tier is tier], strict=True):
            self.route_table_associations[plan.name] = aws.ec2.RouteTableAssociation(
                f"{plan.name}-rta", route_table_id=table.id, subnet_id=subnet.id, opts=self._child(parent=table)
            )
        return table

    def _default_route(
        self, table: aws.ec2.RouteTable, tier: SubnetTier, ipv6: bool, **target: pulumi.Input[str]
    ) -> None:
        """Adds the tier's default route of one family to `default_routes`."""
        family, destination = (
            ("ipv6", {"destination_ipv6_cidr_block": IPV6_ANY})
            if ipv6
            else ("ipv4", {"destination_cidr_block": IPV4_ANY})
        )
        route = aws.ec2.Route(
            f"{self._name}-{tier.value}-default-{family}",
            route_table_id=table.id,
            opts=self._child(parent=table),
            **destination,
            **target,
        )
        self.default_routes[tier] = (*self.default_routes.get(tier, ()), route)

    def _public_routes(self) -> aws.ec2.RouteTable:
        gateway = aws.ec2.InternetGateway(
            f"{self._name}-igw", vpc_id=self.vpc.id, tags=self._tags(f"{self._name}-igw"), opts=self._child()
        )
        table = self._route_table(SubnetTier.PUBLIC, self.public_subnets)
        for ipv6 in (False, True):
            self._default_route(table, SubnetTier.PUBLIC, ipv6, gateway_id=gateway.id)
        return table

    def _private_routes(self) -> aws.ec2.RouteTable:
        egress_only = aws.ec2.EgressOnlyInternetGateway(
            f"{self._name}-eigw", vpc_id=self.vpc.id, tags=self._tags(f"{self._name}-eigw"), opts=self._child()
        )
        table = self._route_table(SubnetTier.PRIVATE, self.private_subnets)
        # IPv6 leaves through the egress-only gateway: no hourly charge, no inbound connections.
        self._default_route(table, SubnetTier.PRIVATE, True, egress_only_gateway_id=egress_only.id)
        if self._args.nat_gateway:
            address = aws.ec2.Eip(
                f"{self._name}-nat", domain="vpc", tags=self._tags(f"{self._name}-nat"), opts=self._child()
            )
            nat = aws.ec2.NatGateway(
                f"{self._name}-nat",
                allocation_id=address.id,
                subnet_id=self.public_subnets[0].id,
                tags=self._tags(f"{self._name}-nat"),
                opts=self._child(),
            )
            self.nat_gateway = nat
            self._default_route(table, SubnetTier.PRIVATE, False, nat_gateway_id=nat.id)
        return table

    def _security_group(self, role: NodeRole) -> aws.ec2.SecurityGroup:
        group_name = f"{self._name}-{role.value}"
        group = aws.ec2.SecurityGroup(
            group_name,
            vpc_id=self.vpc.id,
            description=f"{self._args.cluster_name} {role.value} nodes",
            tags=self._tags(group_name),
            opts=self._child(),
        )
        on_group = self._child(parent=group)
        aws.vpc.SecurityGroupEgressRule(
            f"{group_name}-egress-ipv4", security_group_id=group.id, ip_protocol="-1", cidr_ipv4=IPV4_ANY, opts=on_group
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{group_name}-egress-ipv6", security_group_id=group.id, ip_protocol="-1", cidr_ipv6=IPV6_ANY, opts=on_group
        )
        return group

    def _api_load_balancer_group(self) -> aws.ec2.SecurityGroup:
        """The API load balancer's group: admits `API_LOAD_BALANCER_RULES`, sends only to the control planes."""
        group_name = f"{self._name}-api-lb"
        group = aws.ec2.SecurityGroup(
            group_name,
            vpc_id=self.vpc.id,
            description=f"{self._args.cluster_name} API server load balancer",
            tags=self._tags(group_name),
            opts=self._child(),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{group_name}-egress-control-plane",
            security_group_id=group.id,
            description="kube-apiserver traffic and /readyz health checks to the control planes",
            ip_protocol="tcp",
            from_port=API_LOAD_BALANCER_EGRESS_PORT,
            to_port=API_LOAD_BALANCER_EGRESS_PORT,
            referenced_security_group_id=self.security_groups[NodeRole.CONTROL_PLANE].id,
            tags=self._tags(f"{group_name}-egress-control-plane"),
            opts=self._child(parent=group),
        )
        for rule in API_LOAD_BALANCER_RULES:
            self._ingress(group, group_name, rule)
        return group

    def _firewall(self, role: NodeRole, group: aws.ec2.SecurityGroup) -> None:
        for rule in rules_for(role):
            self._ingress(group, f"{self._name}-{role.value}", rule)

    def _ingress(self, group: aws.ec2.SecurityGroup, prefix: str, rule: Rule) -> None:
        for source in rule.sources:
            for suffix, peer in self._peers(rule, source):
                aws.vpc.SecurityGroupIngressRule(
                    f"{prefix}-{rule.name}-from-{suffix}",
                    security_group_id=group.id,
                    description=rule.description,
                    ip_protocol=rule.protocol,
                    from_port=rule.from_port,
                    to_port=rule.to_port,
                    tags=self._tags(f"{prefix}-{rule.name}"),
                    opts=self._child(parent=group),
                    **peer,
                )

    def _peers(self, rule: Rule, source: Source) -> list[tuple[str, dict[str, pulumi.Input[str]]]]:
        """(name suffix, peer argument) pairs for one rule source; one per family for CIDR sources."""
        if source is Source.API_LOAD_BALANCER:
            group = self.api_load_balancer_group
            return [(source.value, {"referenced_security_group_id": group.id})] if group is not None else []
        if source in (Source.CONTROL_PLANE, Source.WORKERS):
            role = NodeRole.CONTROL_PLANE if source is Source.CONTROL_PLANE else NodeRole.WORKER
            return [(source.value, {"referenced_security_group_id": self.security_groups[role].id})]
        cidrs: list[tuple[str, pulumi.Input[str]]]
        if source is Source.ADMIN:
            cidrs = [(f"admin-{i}", str(net)) for i, net in enumerate(self._args.admin_cidrs)]
        elif source is Source.VPC:
            cidrs = [("vpc-ipv4", str(self._args.vpc_ipv4_cidr)), ("vpc-ipv6", self.vpc.ipv6_cidr_block)]
        else:
            cidrs = [("any-ipv4", IPV4_ANY), ("any-ipv6", IPV6_ANY)]
        peers = []
        for suffix, cidr in cidrs:
            ipv6 = suffix.endswith("ipv6") or (isinstance(cidr, str) and ":" in cidr)
            if (rule.protocol == "icmp" and ipv6) or (rule.protocol == "icmpv6" and not ipv6):
                continue
            peers.append((suffix, {"cidr_ipv6" if ipv6 else "cidr_ipv4": cidr}))
        return peers
