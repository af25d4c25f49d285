"""Deterministic placeholder values of the offline engine: what AWS and pulumi-random would assign.

Every value is derived from a hash of the resource name (`digest`), so the same program always
gets the same IDs, addresses and strings. Used by `tools.offline.mock_aws` and `tools.offline.mocks`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

ACCOUNT_ID = "123456789012"
AMI_DATE = "20250115"
# AWS allocates VPC IPv6 /56 blocks from 2600:1f18::/32 in us-east-1 (one of Amazon's pools).
AMAZON_IPV6_POOL = ipaddress.IPv6Network("2600:1f18::/32")
INSTANCE_PUBLIC_RANGE = ipaddress.IPv4Network("203.0.113.0/24")  # RFC 5737 TEST-NET-3
EIP_RANGE = ipaddress.IPv4Network("198.51.100.0/24")  # RFC 5737 TEST-NET-2
RANDOM_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
ZONE_COUNTS = {"us-east-1": 6, "us-west-2": 4, "ap-northeast-1": 3}
# EC2 ID prefix and ARN resource kind per resource type.
EC2_IDS: dict[str, tuple[str, str]] = {
    "aws:ec2/vpc:Vpc": ("vpc", "vpc"),
    "aws:ec2/subnet:Subnet": ("subnet", "subnet"),
    "aws:ec2/securityGroup:SecurityGroup": ("sg", "security-group"),
    "aws:ec2/instance:Instance": ("i", "instance"),
    "aws:ec2/eip:Eip": ("eipalloc", "elastic-ip"),
    "aws:ec2/internetGateway:InternetGateway": ("igw", "internet-gateway"),
    "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway": ("eigw", "egress-only-internet-gateway"),
    "aws:ec2/routeTable:RouteTable": ("rtb", "route-table"),
    "aws:ec2/natGateway:NatGateway": ("nat", "natgateway"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("lt", "launch-template"),
    "aws:ec2/networkInterface:NetworkInterface": ("eni", "network-interface"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("rtbassoc", "route-table-association"),
    "aws:ec2/eipAssociation:EipAssociation": ("eipassoc", "eip-association"),
    "aws:ec2/keyPair:KeyPair": ("key", "key-pair"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("sgr", "security-group-rule"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("sgr", "security-group-rule"),
    "aws:ec2/securityGroupRule:SecurityGroupRule": ("sgrule", "security-group-rule"),
}
# Types the provider auto-names (`<name>-<7 random chars>`) when the program sets no name.
AUTONAMED = {
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/instanceProfile:InstanceProfile": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:ssm/parameter:Parameter": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:ec2/keyPair:KeyPair": "keyName",
    "aws:lb/loadBalancer:LoadBalancer": "name",
    "aws:lb/targetGroup:TargetGroup": "name",
    "aws:autoscaling/group:Group": "name",
}
# Elastic Load Balancing names are at most 32 characters; the provider shortens the logical name.
NAME_LIMITS = {"aws:lb/loadBalancer:LoadBalancer": 32, "aws:lb/targetGroup:TargetGroup": 32}
# Route 53 hosted zone of a region's Network Load Balancers (the load balancer's `zoneId`).
NLB_HOSTED_ZONES = {"us-east-1": "Z26RNL4JYFTOTI", "us-west-2": "Z18D5FSROUN65G", "eu-west-1": "Z2IFOLAFXWLO4F"}


def digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def ec2_id(prefix: str, name: str) -> str:
    """An EC2-style ID with 17 hex digits, e.g. `vpc-0a1b2c3d4e5f60718`."""
    return f"{prefix}-0{digest(prefix, name)[:16]}"


def host_address(network: ipaddress.IPv4Network | ipaddress.IPv6Network, key: str, used: set[str]) -> str:
    """An address of `network` chosen by hash, skipping AWS's reserved first four and last one."""
    usable = min(network.num_addresses - 5, 2**32)
    if usable <= 0:
        raise ValueError(f"{network} has no usable addresses")
    offset = int(digest(key, network)[:16], 16) % usable
    for step in range(usable):
        address = str(network[4 + (offset + step) % usable])
        if address not in used:
            used.add(address)
            return address
    raise ValueError(f"{network} is full")


def in_range(network: ipaddress.IPv4Network, key: str) -> str:
    return str(network[1 + int(digest(key)[:8], 16) % (network.num_addresses - 2)])


def dashed(address: str) -> str:
    return address.replace(".", "-")


def deterministic_string(name: str, inputs: dict[str, Any]) -> str:
    """Deterministic stand-in for pulumi-random: honours length, classes and minimums. NOT random."""
    length = int(inputs.get("length", 16))
    classes = {
        "upper": ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "minUpper"),
        "lower": ("abcdefghijklmnopqrstuvwxyz", "minLower"),
        "numeric": ("0123456789", "minNumeric"),
        "special": (inputs.get("overrideSpecial") or RANDOM_SPECIAL, "minSpecial"),
    }
    enabled = {key: chars for key, (chars, _) in classes.items() if inputs.get(key, True) and chars}
    if not enabled:
        raise ValueError(f"random string {name}: every character class is disabled")
    stream = iter(bytes.fromhex("".join(digest(name, "random", block) for block in range(8 + length // 8))))
    picked = [
        chars[next(stream) % len(chars)]
        for key, chars in enabled.items()
        for _ in range(int(inputs.get(classes[key][1], 0)))
    ]
    alphabet = "".join(enabled.values())
    picked += [alphabet[next(stream) % len(alphabet)] for _ in range(max(0, length - len(picked)))]
    # Deterministic shuffle so minimum-class characters are not all at the front.
    order = sorted(range(len(picked)), key=lambda index: digest(name, "order", index))
    return "".join(picked[index] for index in order)[: max(length, len(picked))]
