"""Monthly cost of what a captured graph creates, from the price table in `tools.bench.data`.

`inventory` reads the billable things out of a graph (works on preview graphs: subnets and
instances are linked through property dependencies, not IDs). `monthly` prices an inventory;
`as_eks` is the same cluster with the control-plane node replaced by the EKS fee. Data transfer
(including NAT data processing) is excluded everywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from tools.bench.prices import HOURS_PER_MONTH, PRICES, Price
from tools.offline.capture import Graph, ResourceRecord

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
SUBNET = "aws:ec2/subnet:Subnet"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
KMS_KEY = "aws:kms/key:Key"
CONTROL_PLANE = "k8sdualstack:nodes:ControlPlane"
GroupSize = Literal["min", "desired", "max"]
_SIZE_INPUT: dict[str, str] = {"min": "minSize", "desired": "desiredCapacity", "max": "maxSize"}


@dataclass(frozen=True)
class Node:
    name: str
    instance_type: str
    volume_gib: float
    auto_public_ipv4: bool
    """Keeps the public IPv4 its subnet assigns at launch (an associated Elastic IP replaces it)."""
    control_plane: bool


@dataclass(frozen=True)
class Inventory:
    nodes: tuple[Node, ...]
    elastic_ips: int
    control_plane_elastic_ips: int
    nat_gateways: int
    eks_clusters: int = 0
    kms_keys: int = 0
    network_load_balancers: int = 0
    load_balancer_public_ipv4: int = 0
    """An internet-facing load balancer's public IPv4 addresses: one per subnet (zone) it is in."""

    @property
    def public_ipv4(self) -> int:
        return self.elastic_ips + self.load_balancer_public_ipv4 + sum(node.auto_public_ipv4 for node in self.nodes)


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    """Singular ("instance", "GiB"); see `counted`."""
    monthly_usd: float

    @property
    def counted(self) -> str:
        """ "3 instances", "1 address", "90 GiB"."""
        plural = self.quantity != 1 and self.unit != "GiB"
        suffix = ("es" if self.unit.endswith("ss") else "s") if plural else ""
        return f"{self.quantity:g} {self.unit}{suffix}"


class MissingPriceError(KeyError):
    pass


def _under_control_plane(graph: Graph, record: ResourceRecord) -> bool:
    return any(ancestor.type == CONTROL_PLANE for ancestor in graph.ancestors(record))


def _dependency(record: ResourceRecord, key: str) -> str | None:
    urns = record.property_dependencies.get(key, ())
    return urns[0] if len(urns) == 1 else None


def inventory(graph: Graph, group_size: GroupSize = "desired") -> Inventory:
    """What the graph bills for, with every Auto Scaling group at its min, desired or max size."""
    subnets_public = {record.urn: bool(record.inputs.get("mapPublicIpOnLaunch")) for record in graph.by_type(SUBNET)}
    with_eip = {_dependency(record, "instanceId") for record in graph.by_type(EIP_ASSOCIATION)}
    nodes = []
    for record in graph.by_type(INSTANCE):
        root = record.inputs.get("rootBlockDevice") or {}
        if "volumeSize" not in root:
            raise ValueError(f"{record.name}: no rootBlockDevice.volumeSize, the root volume size is unknown")
        explicit = record.inputs.get("associatePublicIpAddress")
        public = (
            bool(explicit) if explicit is not None else subnets_public.get(_dependency(record, "subnetId") or "", False)
        )
        nodes.append(
            Node(
                name=record.name,
                instance_type=str(record.inputs["instanceType"]),
                volume_gib=float(root["volumeSize"]),
                auto_public_ipv4=public and record.urn not in with_eip,
                control_plane=_under_control_plane(graph, record),
            )
        )
    nodes += _group_nodes(graph, subnets_public, group_size)
    eips = graph.by_type(EIP)
    balancers = graph.by_type(LOAD_BALANCER)
    return Inventory(
        nodes=tuple(sorted(nodes, key=lambda node: node.name)),
        elastic_ips=len(eips),
        control_plane_elastic_ips=sum(_under_control_plane(graph, record) for record in eips),
        nat_gateways=len(graph.by_type(NAT_GATEWAY)),
        kms_keys=len(graph.by_type(KMS_KEY)),
        network_load_balancers=sum(record.inputs.get("loadBalancerType") == "network" for record in balancers),
        load_balancer_public_ipv4=sum(
            len(record.property_dependencies.get("subnets", ()))
            for record in balancers
            if not record.inputs.get("internal")
        ),
    )


def _group_nodes(graph: Graph, subnets_public: Mapping[str, bool], group_size: GroupSize) -> list[Node]:
    """An Auto Scaling group's instances at the given size, as its launch template makes them."""
    nodes = []
    for group in graph.by_type(AUTOSCALING_GROUP):
        template_urn = _dependency(group, "launchTemplate")
        if template_urn is None:
            raise ValueError(f"{group.name}: no launch template, its instances are unknown")
        template = graph.get(template_urn)
        (root,) = [m["ebs"] for m in template.inputs.get("blockDeviceMappings") or [] if m.get("ebs")] or [{}]
        if "volumeSize" not in root:
            raise ValueError(f"{template.name}: no block device volumeSize, the root volume size is unknown")
        public = any(
            subnets_public.get(urn, False) for urn in group.property_dependencies.get("vpcZoneIdentifiers", ())
        )
        nodes += [
            Node(
                name=f"{group.name}[{index}]",
                instance_type=str(template.inputs["instanceType"]),
                volume_gib=float(root["volumeSize"]),
                auto_public_ipv4=public,
                control_plane=_under_control_plane(graph, group),
            )
            for index in range(int(group.inputs.get(_SIZE_INPUT[group_size]) or 0))
        ]
    return nodes


def as_eks(inv: Inventory) -> Inventory:
    """The same workers on EKS: no control-plane node, its Elastic IP or the API load balancer, one EKS
    cluster fee."""
    return replace(
        inv,
        nodes=tuple(node for node in inv.nodes if not node.control_plane),
        elastic_ips=inv.elastic_ips - inv.control_plane_elastic_ips,
        control_plane_elastic_ips=0,
        network_load_balancers=0,
        load_balancer_public_ipv4=0,
        eks_clusters=inv.eks_clusters + 1,
    )


def _price(prices: Mapping[str, Price], key: str) -> float:
    try:
        return prices[key].usd
    except KeyError:
        raise MissingPriceError(f"no price {key!r} in the table; known: {sorted(prices)}") from None


def monthly(inv: Inventory, prices: Mapping[str, Price] = PRICES, hours: float = HOURS_PER_MONTH) -> list[CostLine]:
    """One line per billable item with a non-zero quantity, in USD per month."""
    lines = []
    for instance_type, count in sorted(Counter(node.instance_type for node in inv.nodes).items()):
        hourly = _price(prices, f"instance:{instance_type}")
        lines.append(CostLine(f"EC2 {instance_type}", count, "instance", count * hourly * hours))
    gib = sum(node.volume_gib for node in inv.nodes)
    hourly_items = (
        ("public IPv4 addresses", inv.public_ipv4, "address", "public-ipv4"),
        ("NAT gateways (hourly, data excluded)", inv.nat_gateways, "gateway", "nat-gateway"),
        ("Network Load Balancers (hourly, NLCU excluded)", inv.network_load_balancers, "load balancer", "nlb"),
        ("EKS control plane", inv.eks_clusters, "cluster", "eks-control-plane"),
    )
    if gib:
        lines.append(CostLine("EBS gp3 root volumes", gib, "GiB", gib * _price(prices, "ebs:gp3")))
    if inv.kms_keys:
        lines.append(
            CostLine("KMS customer-managed keys", inv.kms_keys, "key", inv.kms_keys * _price(prices, "kms-key"))
        )
    lines += [
        CostLine(item, quantity, unit, quantity * _price(prices, key) * hours)
        for item, quantity, unit, key in hourly_items
        if quantity
    ]
    return lines


def total(lines: list[CostLine]) -> float:
    return sum(line.monthly_usd for line in lines)
