"""CIDR carving: parametrized cases plus hypothesis invariants (no overlap, inside the VPC, stable)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.firewall import RULES, NodeRole, Source, rules_for
from components.network_plan import endpoint, fixed_host, ipv6_subnet, plan_subnets
from components.tags import SubnetTier

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f")
VPC_V6 = "2600:1f18:1234:5600::/56"


def test_dev_layout() -> None:
    plans = plan_subnets("dev", ipaddress.IPv4Network("10.0.0.0/16"), 20, ZONES[:2], with_private=True)
    assert [(p.name, str(p.ipv4_cidr), p.ipv6_index) for p in plans] == [
        ("dev-public-us-east-1a", "10.0.0.0/20", 0),
        ("dev-public-us-east-1b", "10.0.16.0/20", 1),
        ("dev-private-us-east-1a", "10.0.128.0/20", 128),
        ("dev-private-us-east-1b", "10.0.144.0/20", 129),
    ]


@given(
    vpc_prefix=st.integers(16, 24),
    extra_bits=st.integers(2, 6),
    zone_count=st.integers(2, 6),
    with_private=st.booleans(),
)
def test_subnets_never_overlap_and_stay_inside(
    vpc_prefix: int, extra_bits: int, zone_count: int, with_private: bool
) -> None:
    vpc = ipaddress.IPv4Network(f"10.0.0.0/{vpc_prefix}")
    subnet_prefix = min(vpc_prefix + extra_bits, 28)
    slots = 2 ** (subnet_prefix - vpc_prefix)
    if zone_count > (slots // 2 if with_private else slots):
        with pytest.raises(ValueError):
            plan_subnets("c", vpc, subnet_prefix, ZONES[:zone_count], with_private)
        return
    plans = plan_subnets("c", vpc, subnet_prefix, ZONES[:zone_count], with_private)
    assert len(plans) == zone_count * (2 if with_private else 1)
    for index, plan in enumerate(plans):
        assert plan.ipv4_cidr.subnet_of(vpc) and plan.ipv4_cidr.prefixlen == subnet_prefix
        for other in plans[index + 1 :]:
            assert not plan.ipv4_cidr.overlaps(other.ipv4_cidr)
            assert plan.ipv6_index != other.ipv6_index
    v6 = [ipaddress.IPv6Network(ipv6_subnet(VPC_V6, p.ipv6_index)) for p in plans]
    assert all(n.prefixlen == 64 and n.subnet_of(ipaddress.IPv6Network(VPC_V6)) for n in v6)


@given(zone_count=st.integers(2, 5))
def test_adding_a_zone_or_private_tier_never_moves_a_subnet(zone_count: int) -> None:
    vpc = ipaddress.IPv4Network("10.0.0.0/16")
    before = {p.name: p for p in plan_subnets("c", vpc, 20, ZONES[:zone_count], with_private=False)}
    after = {p.name: p for p in plan_subnets("c", vpc, 20, ZONES[: zone_count + 1], with_private=True)}
    for name, plan in before.items():
        assert after[name] == plan


def test_ipv6_subnet_needs_a_56() -> None:
    assert ipv6_subnet(VPC_V6, 255) == "2600:1f18:1234:56ff::/64"
    with pytest.raises(ValueError):
        ipv6_subnet("2600:1f18:1234::/48", 0)
    with pytest.raises(ValueError):
        ipv6_subnet(VPC_V6, 256)


def test_fixed_host_skips_aws_reserved_addresses_and_brackets_ipv6() -> None:
    assert fixed_host("10.0.0.0/20") == "10.0.0.10"
    assert fixed_host("2600:1f18:1234:5600::/64") == "2600:1f18:1234:5600::a"
    assert endpoint("10.0.0.10") == "10.0.0.10:6443"
    assert endpoint("2600::a") == "[2600::a]:6443"


def test_firewall_keeps_sensitive_ports_off_the_internet() -> None:
    for rule in RULES:
        if Source.INTERNET in rule.sources:
            assert rule.protocol in ("icmp", "icmpv6"), rule.name
        if rule.from_port <= 2380 and rule.to_port >= 2379:
            assert rule.sources == (Source.CONTROL_PLANE,)
    assert {r.name for r in rules_for(NodeRole.WORKER)}.isdisjoint({"apiserver", "etcd"})
    api = next(r for r in RULES if r.name == "apiserver")
    assert Source.ADMIN in api.sources and Source.INTERNET not in api.sources


def test_subnet_tier_tags() -> None:
    assert SubnetTier.PUBLIC.elb_role_tag == "kubernetes.io/role/elb"
    assert SubnetTier.PRIVATE.elb_role_tag == "kubernetes.io/role/internal-elb"
