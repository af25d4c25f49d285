"""The benchmark's one price table: us-east-1 on-demand public list prices, each with where it is from.

Nothing here was fetched live: this project has no internet access. `as_of` is the date the value
was taken into the table, `source` the AWS page that publishes it, `checked` what was done to
confirm it here (mostly nothing: "not re-verified here"). The NLB's traffic charge is in NLCUs
(`NLCU`), priced with an explicit traffic assumption (`API_TRAFFIC`), never silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_DATE = "2026-11-26"
"""When the prices that came with the project's brief and reference notes were taken into the table."""
NLB_PRICE_DATE = "2026-11-27"
"""When the NLB rows were added and searched for (see their `checked`)."""
PRICE_NOTE = (
    "us-east-1 on-demand list prices. None was fetched live (no internet): each row names the AWS "
    "pricing page it is from, the date it was taken into the table and what, if anything, confirmed it."
)
HOURS_PER_MONTH = 730.0
HOURS_SOURCE = "AWS Pricing Calculator convention: 730 hours per month (https://calculator.aws/)"
NOT_REVERIFIED = "not re-verified here"


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    source: str
    """The AWS page that publishes it (https://aws.amazon.com/...)."""
    as_of: str = PRICE_DATE
    checked: str = NOT_REVERIFIED


_EC2_PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/"
_VPC_PRICING = "https://aws.amazon.com/vpc/pricing/"
_ELB_PRICING = "https://aws.amazon.com/elasticloadbalancing/pricing/"

PRICES: dict[str, Price] = {
    price.key: price
    for price in (
        Price("instance:t3.medium", 0.0416, "USD per hour", f"{_EC2_PRICING} (Linux, us-east-1)"),
        Price(
            "instance:m6i.large",
            0.096,
            "USD per hour",
            f"{_EC2_PRICING} (Linux, us-east-1)",
            as_of=NLB_PRICE_DATE,
            checked=f"{NOT_REVERIFIED}; added with the prod stack, no AWS page or price-list row for it found",
        ),
        Price(
            "nlb",
            0.0225,
            "USD per load-balancer-hour",
            f"{_ELB_PRICING} (Network Load Balancer, hourly charge)",
            as_of=NLB_PRICE_DATE,
            checked=(
                f"{NOT_REVERIFIED} against AWS: the AWS page was not in the searchable corpus; the same "
                "figure for NLB in US East is stated by a third-party summary (awsnegotiations.com, "
                '"Elastic Load Balancer Cost", 2026)'
            ),
        ),
        Price(
            "nlb-nlcu",
            0.006,
            "USD per NLCU-hour",
            f"{_ELB_PRICING} (Network Load Balancer, NLCU)",
            as_of=NLB_PRICE_DATE,
            checked=(
                "corroborated, not re-verified against AWS: a transcription of the AWS page read on "
                "2026-09-20 (github.com/api-evangelist/amazon-elastic-load-balancing, "
                "plans/amazon-elastic-load-balancing-plans-pricing.yml) quotes '$0.006 per NLCU' from the "
                "page's us-east-1 examples, and the TCP NLCU (800 new connections/s, 100,000 active, 1 GB/h)"
            ),
        ),
        Price(
            "ebs:gp3",
            0.08,
            "USD per GB-month",
            "https://aws.amazon.com/ebs/pricing/ (gp3 storage; the "
            "included 3,000 IOPS / 125 MB/s baseline is all these root volumes use)",
        ),
        Price(
            "public-ipv4",
            0.005,
            "USD per address-hour",
            f"{_VPC_PRICING} (in-use and idle public IPv4, since 2024-02-01)",
        ),
        Price("nat-gateway", 0.045, "USD per hour", _VPC_PRICING),
        Price(
            "kms-key",
            1.0,
            "USD per key-month",
            "https://aws.amazon.com/kms/pricing/ (a customer managed key; its first two yearly automatic "
            "rotations add $1/month each; requests within the free tier)",
        ),
        Price("nat-gateway-data", 0.045, "USD per GB processed", f"{_VPC_PRICING} (not in the totals)"),
        Price(
            "eks-control-plane",
            0.10,
            "USD per cluster-hour",
            "https://aws.amazon.com/eks/pricing/ (standard support; a version in extended support is $0.60/h)",
        ),
    )
}


@dataclass(frozen=True)
class NlcuUnit:
    """What one NLCU covers for TCP traffic; an hour is billed at the largest of the three ratios."""

    new_connections_per_second: float
    active_connections: float
    """Sampled per minute."""
    processed_gb_per_hour: float
    source: str


NLCU = NlcuUnit(
    new_connections_per_second=800,
    active_connections=100_000,
    processed_gb_per_hour=1.0,
    source=f"{_ELB_PRICING} (TCP; corroborated by the transcription named in the nlb-nlcu row)",
)


@dataclass(frozen=True)
class ApiTraffic:
    """Assumed traffic through the API server's load balancer, per node of the cluster (control planes
    and workers): an estimate for an idle cluster, not a measurement."""

    new_connections_per_second_per_node: float
    active_connections_per_node: float
    processed_gb_per_hour_per_node: float
    basis: str

    def nlcu(self, nodes: int, unit: NlcuUnit = NLCU) -> float:
        """NLCUs of one hour: the largest of the three dimensions, fractional (billed as computed)."""
        return max(
            nodes * self.new_connections_per_second_per_node / unit.new_connections_per_second,
            nodes * self.active_connections_per_node / unit.active_connections,
            nodes * self.processed_gb_per_hour_per_node / unit.processed_gb_per_hour,
        )


API_TRAFFIC = ApiTraffic(
    new_connections_per_second_per_node=0.1,
    active_connections_per_node=10,
    processed_gb_per_hour_per_node=0.1,
    basis=(
        "estimate for an idle cluster: every node's kubelet, Cilium agent (k8sServiceHost is the NLB) and, on "
        "the control planes, the CCM keep a few long-lived watch connections through the NLB and send status "
        "and lease updates every ~10 s; 0.1 GB/h per node is a generous guess for those watches and updates. "
        "kubectl use, large lists and busy controllers add to it; etcd's peer and client traffic "
        "does not cross the NLB. Processed bytes dominate, so the NLCU line scales with it."
    ),
)
