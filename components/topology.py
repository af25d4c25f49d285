"""Where the control planes sit and how the nodes reach the API server: the composition root's
plan for `ControlPlane` and the bootstrap every node shares, from the settings and the network."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pulumi

from components.api_endpoint import ApiLoadBalancer, ApiLoadBalancerArgs
from components.network import DualStackNetwork
from components.network_plan import SubnetPlan, endpoint, fixed_host, ipv6_subnet
from components.nodes import ControlPlaneSeat, NodeSubnet
from components.render.bootstrap import ClusterBootstrap
from components.settings import ApiEndpointKind, StackSettings
from components.tags import SubnetTier


def node_subnet(network: DualStackNetwork, plan_name: str) -> NodeSubnet:
    return NodeSubnet(network.subnets[plan_name].id, network.internet_path(plan_name))


def control_plane_seats(
    network: DualStackNetwork, plans: Sequence[SubnetPlan], count: int
) -> tuple[ControlPlaneSeat, ...]:
    """One control plane in the public subnet of each of the first `count` zones, at the subnet's
    fixed host of both families (`network_plan.fixed_host`)."""
    public = [plan for plan in plans if plan.tier is SubnetTier.PUBLIC]
    if count > len(public):
        raise ValueError(f"{count} control planes need as many zones, the network has {len(public)}")
    return tuple(
        ControlPlaneSeat(
            zone=plan.zone,
            subnet=node_subnet(network, plan.name),
            private_ipv4=fixed_host(plan.ipv4_cidr),
            ipv6=network.vpc.ipv6_cidr_block.apply(functools.partial(_fixed_ipv6, index=plan.ipv6_index)),
        )
        for plan in public[:count]
    )


def _fixed_ipv6(vpc_block: str, index: int) -> str:
    return fixed_host(ipv6_subnet(vpc_block, index))


def api_load_balancer(
    settings: StackSettings, network: DualStackNetwork, plans: Sequence[SubnetPlan]
) -> ApiLoadBalancer | None:
    """The API load balancer in every zone's public subnet, or None for an Elastic IP."""
    if settings.topology.api_endpoint is not ApiEndpointKind.NLB:
        return None
    group = network.api_load_balancer_group
    if group is None:
        raise ValueError("apiEndpoint nlb needs DualStackNetworkArgs(api_load_balancer=True)")
    return ApiLoadBalancer(
        f"{settings.cluster_name}-api",
        ApiLoadBalancerArgs(
            cluster_name=settings.cluster_name,
            vpc_id=network.vpc.id,
            subnet_ids=[network.subnets[plan.name].id for plan in plans if plan.tier is SubnetTier.PUBLIC],
            security_group_id=group.id,
        ),
    )


def cluster_bootstrap(settings: StackSettings, api_host: pulumi.Input[str]) -> pulumi.Output[ClusterBootstrap]:
    """What every node's bootstrap shares, once `api_host` (where the nodes reach the API server) is known."""
    network = settings.network
    make = functools.partial(
        ClusterBootstrap,
        release=settings.release,
        cluster_name=settings.cluster_name,
        region=settings.region,
        ip_families=settings.ip_families,
        pod_cidrs=network.pod_cidrs,
        service_cidrs=network.service_cidrs,
        ssm_prefix=settings.ssm_prefix,
        architecture=settings.nodes.architecture,
    )
    return pulumi.Output.from_input(api_host).apply(lambda host: make(control_plane_endpoint=endpoint(host)))
