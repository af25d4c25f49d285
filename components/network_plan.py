"""Deterministic address plan of the VPC: pure functions, run before any resource exists.

Subnet positions are fixed by zone index, not by how many zones or tiers exist, so adding
a zone or turning on private subnets never renumbers (and so never replaces) a subnet:
public subnets take IPv4 blocks from the bottom half of the VPC and IPv6 /64s 0..n-1;
private subnets the top half and /64s 128..128+n-1 of the Amazon /56.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from components.tags import SubnetTier

VPC_IPV6_PREFIX = 56
SUBNET_IPV6_PREFIX = 64
PRIVATE_IPV6_OFFSET = 128
# AWS reserves the first four addresses of every subnet (and the last one of IPv4 subnets).
CONTROL_PLANE_HOST_OFFSET = 10
API_SERVER_PORT = 6443


@dataclass(frozen=True)
class SubnetPlan:
    name: str
    tier: SubnetTier
    zone: str
    ipv4_cidr: ipaddress.IPv4Network
    ipv6_index: int
    """Which /64 of the VPC's Amazon-provided /56 this subnet gets."""


def plan_subnets(
    cluster_name: str,
    vpc_cidr: ipaddress.IPv4Network,
    subnet_prefix_length: int,
    zones: tuple[str, ...],
    with_private: bool,
) -> tuple[SubnetPlan, ...]:
    slots = list(vpc_cidr.subnets(new_prefix=subnet_prefix_length))
    half = len(slots) // 2
    tiers = [SubnetTier.PUBLIC, SubnetTier.PRIVATE] if with_private else [SubnetTier.PUBLIC]
    if len(zones) > (half if with_private else len(slots)):
        raise ValueError(f"{len(zones)} zones do not fit /{subnet_prefix_length} subnets of {vpc_cidr}")
    plans = []
    for tier in tiers:
        for index, zone in enumerate(zones):
            private = tier is SubnetTier.PRIVATE
            plans.append(
                SubnetPlan(
                    name=f"{cluster_name}-{tier.value}-{zone}",
                    tier=tier,
                    zone=zone,
                    ipv4_cidr=slots[half + index] if private else slots[index],
                    ipv6_index=PRIVATE_IPV6_OFFSET + index if private else index,
                )
            )
    return tuple(plans)


def ipv6_subnet(vpc_ipv6_cidr: str, index: int) -> str:
    """The `index`-th /64 of the VPC's /56."""
    block = ipaddress.IPv6Network(vpc_ipv6_cidr)
    if block.prefixlen != VPC_IPV6_PREFIX:
        raise ValueError(f"expected an Amazon-provided /{VPC_IPV6_PREFIX}, got {vpc_ipv6_cidr}")
    if not 0 <= index < 2 ** (SUBNET_IPV6_PREFIX - VPC_IPV6_PREFIX):
        raise ValueError(f"/64 index {index} is outside the /56")
    size = 2 ** (128 - SUBNET_IPV6_PREFIX)
    return str(ipaddress.IPv6Network((int(block.network_address) + index * size, SUBNET_IPV6_PREFIX)))


def fixed_host(
    cidr: str | ipaddress.IPv4Network | ipaddress.IPv6Network, offset: int = CONTROL_PLANE_HOST_OFFSET
) -> str:
    """A fixed address inside a subnet, past the addresses AWS reserves.

    The control plane gets fixed addresses so the API server certificate, the kubeadm
    endpoint and the workers' join configuration are known before the instance exists.
    """
    network = ipaddress.ip_network(cidr)
    return str(network.network_address + offset)


def endpoint(host: str, port: int = API_SERVER_PORT) -> str:
    """`host:port`, bracketing IPv6 literals."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
