"""The monthly bill by role: control planes, workers at the group's min/desired/max, the load balancer.

`costs.monthly` is the bill of one inventory by item (the integration harness prices a run with
it); `lines` splits the instances by role and adds the NLB's traffic charge in NLCUs under the
assumption `prices.API_TRAFFIC`; `StackCosts` is a stack at each group size, self-managed and on
EKS (the EKS fee instead of the control planes, their Elastic IP and the load balancer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from tools.bench.costs import CostLine, GroupSize, Inventory, MissingPriceError, as_eks, total
from tools.bench.prices import API_TRAFFIC, HOURS_PER_MONTH, PRICES, ApiTraffic, Price

SIZES: tuple[GroupSize, ...] = ("min", "desired", "max")
NLCU_ITEM = "NLB traffic (NLCU, assumed)"
NLB_HOURS_ITEM = "NLB hours"


def _price(prices: Mapping[str, Price], key: str) -> float:
    if key not in prices:
        raise MissingPriceError(f"no price {key!r} in the table; known: {sorted(prices)}")
    return prices[key].usd


def lines(
    inv: Inventory,
    prices: Mapping[str, Price] = PRICES,
    hours: float = HOURS_PER_MONTH,
    traffic: ApiTraffic = API_TRAFFIC,
) -> list[CostLine]:
    """USD per month by role and item; quantities of zero are left out."""
    found: list[CostLine] = []
    for role, control_plane in (("control planes", True), ("workers", False)):
        types = Counter(node.instance_type for node in inv.nodes if node.control_plane is control_plane)
        found += [
            CostLine(f"EC2 {role} ({kind})", count, "instance", count * _price(prices, f"instance:{kind}") * hours)
            for kind, count in sorted(types.items())
        ]
    gib = sum(node.volume_gib for node in inv.nodes)
    nlcu = traffic.nlcu(len(inv.nodes))
    candidates = (
        ("EBS gp3 root volumes", gib, "GiB", gib * _price(prices, "ebs:gp3") if gib else 0.0),
        ("KMS customer-managed keys", inv.kms_keys, "key", inv.kms_keys * _price(prices, "kms-key")),
        ("public IPv4 addresses", inv.public_ipv4, "address", inv.public_ipv4 * _hourly(prices, "public-ipv4", hours)),
        (
            "NAT gateways (hourly, data excluded)",
            inv.nat_gateways,
            "gateway",
            _n(inv.nat_gateways, prices, "nat-gateway", hours),
        ),
        (
            NLB_HOURS_ITEM,
            inv.network_load_balancers,
            "load balancer",
            _n(inv.network_load_balancers, prices, "nlb", hours),
        ),
        (
            NLCU_ITEM,
            inv.network_load_balancers * nlcu,
            "NLCU",
            _n(inv.network_load_balancers * nlcu, prices, "nlb-nlcu", hours),
        ),
        ("EKS control plane", inv.eks_clusters, "cluster", _n(inv.eks_clusters, prices, "eks-control-plane", hours)),
    )
    found += [CostLine(item, quantity, unit, usd) for item, quantity, unit, usd in candidates if quantity]
    return found


def _hourly(prices: Mapping[str, Price], key: str, hours: float) -> float:
    return _price(prices, key) * hours


def _n(quantity: float, prices: Mapping[str, Price], key: str, hours: float) -> float:
    return quantity * _hourly(prices, key, hours) if quantity else 0.0


@dataclass(frozen=True)
class StackCosts:
    stack: str
    self_managed: Mapping[GroupSize, list[CostLine]]
    eks: Mapping[GroupSize, list[CostLine]]
    workers: Mapping[GroupSize, int]
    control_planes: int

    def total(self, size: GroupSize = "desired", eks: bool = False) -> float:
        return total(list((self.eks if eks else self.self_managed)[size]))

    @property
    def has_load_balancer(self) -> bool:
        return any(line.item == NLB_HOURS_ITEM for line in self.self_managed["desired"])


def stack_costs(
    stack: str,
    inventories: Mapping[GroupSize, Inventory],
    prices: Mapping[str, Price] = PRICES,
    traffic: ApiTraffic = API_TRAFFIC,
) -> StackCosts:
    """A stack's bill at every group size (`inventories`: `costs.inventory(graph, size)` per size)."""
    if set(inventories) != set(SIZES):
        raise ValueError(f"{stack}: need an inventory at each of {SIZES}, got {sorted(inventories)}")
    price = {size: lines(inv, prices, traffic=traffic) for size, inv in inventories.items()}
    eks = {size: lines(as_eks(inv), prices, traffic=traffic) for size, inv in inventories.items()}
    desired = inventories["desired"]
    return StackCosts(
        stack=stack,
        self_managed=price,
        eks=eks,
        workers={size: sum(not node.control_plane for node in inv.nodes) for size, inv in inventories.items()},
        control_planes=sum(node.control_plane for node in desired.nodes),
    )
