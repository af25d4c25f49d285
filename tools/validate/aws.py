"""moto as the AWS API: replay each stack's rendered plan (tools/aws_replay.py) - network, IAM,
instance profiles, the cluster's KMS key, SSM parameters and the instances - and require every
call to succeed; then read back what the program relies on (the Amazon /56, the /64s carved from
it, every security group rule, both default routes, the profiles' roles, every SecureString under
the rotating cluster key, the instances' dual-stack addresses).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

from tools.aws_replay import PlannedResource, ReplayResult, clients, planned_resources, replay
from tools.validate.common import VALIDATE_DIR, Finding, ToolResult
from tools.validate.motoserver import moto_server

RULE_TYPES = {
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": False,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": True,
}


def version() -> str:
    from importlib.metadata import version as package_version  # noqa: PLC0415 - only when reporting

    return f"moto {package_version('moto')}, boto3 {package_version('boto3')}"


ByType = dict[str, list[PlannedResource]]
"""Planned resources by type token."""


def readback(result: ReplayResult, planned: list[PlannedResource]) -> list[Finding]:
    """What the API holds after the replay, against what the program planned."""
    if not result.ok:
        return []  # the failures are the findings
    api: dict[str, Any] = clients(result.endpoint_url, result.region)
    ec2, iam = api["ec2"], api["iam"]
    by_type: ByType = {}
    for resource in planned:
        by_type.setdefault(resource.type, []).append(resource)
    return [
        *_ipv6_block_findings(result, by_type, ec2),
        *_security_group_findings(result, by_type, ec2),
        *_route_findings(result, by_type, ec2),
        *_instance_profile_findings(result, by_type, iam),
        *_secrets_key_findings(result, by_type, api["kms"], api["ssm"]),
        *_instance_address_findings(result, by_type),
    ]


def _ipv6_block_findings(result: ReplayResult, by_type: ByType, ec2: Any) -> list[Finding]:
    """The VPC's Amazon /56 and each subnet's /64 carved from it, assigned on creation."""
    findings: list[Finding] = []
    for vpc in by_type.get("aws:ec2/vpc:Vpc", []):
        block = result.vpc_ipv6_cidrs.get(vpc.name)
        if not block or ipaddress.IPv6Network(block).prefixlen != 56:
            findings.append(Finding(vpc.name, f"no Amazon-provided IPv6 /56 (got {block})"))
    for subnet in by_type.get("aws:ec2/subnet:Subnet", []):
        described = ec2.describe_subnets(SubnetIds=[result.ids[subnet.urn]])["Subnets"][0]
        blocks = [a["Ipv6CidrBlock"] for a in described.get("Ipv6CidrBlockAssociationSet", [])]
        if blocks != [result.subnet_ipv6_cidrs.get(subnet.name)] or not described.get("AssignIpv6AddressOnCreation"):
            findings.append(
                Finding(subnet.name, f"IPv6 {blocks}, auto-assign {described.get('AssignIpv6AddressOnCreation')}")
            )
    return findings


def _security_group_findings(result: ReplayResult, by_type: ByType, ec2: Any) -> list[Finding]:
    """Every planned ingress and egress rule of each group, no more."""
    planned_rules = Counter(
        (r.property_dependencies["securityGroupId"][0], RULE_TYPES[r.type])
        for t in RULE_TYPES
        for r in by_type.get(t, [])
    )
    findings: list[Finding] = []
    for group in by_type.get("aws:ec2/securityGroup:SecurityGroup", []):
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [result.ids[group.urn]]}])
        held = Counter(rule["IsEgress"] for rule in rules["SecurityGroupRules"])
        for egress in (False, True):
            if held[egress] != planned_rules[(group.urn, egress)]:
                direction = "egress" if egress else "ingress"
                findings.append(
                    Finding(
                        group.name, f"{held[egress]} {direction} rules, planned {planned_rules[(group.urn, egress)]}"
                    )
                )
    return findings


def _route_findings(result: ReplayResult, by_type: ByType, ec2: Any) -> list[Finding]:
    """Both default routes in every route table."""
    findings: list[Finding] = []
    for table in by_type.get("aws:ec2/routeTable:RouteTable", []):
        routes = ec2.describe_route_tables(RouteTableIds=[result.ids[table.urn]])["RouteTables"][0]["Routes"]
        destinations = {r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") for r in routes}
        findings += [Finding(table.name, f"no {d} route") for d in ("0.0.0.0/0", "::/0") if d not in destinations]
    return findings


def _instance_profile_findings(result: ReplayResult, by_type: ByType, iam: Any) -> list[Finding]:
    """Exactly one role in each instance profile."""
    findings: list[Finding] = []
    for profile in by_type.get("aws:iam/instanceProfile:InstanceProfile", []):
        roles = iam.get_instance_profile(InstanceProfileName=result.ids[profile.urn])["InstanceProfile"]["Roles"]
        if len(roles) != 1:
            findings.append(Finding(profile.name, f"{len(roles)} roles in the instance profile"))
    return findings


def _secrets_key_findings(result: ReplayResult, by_type: ByType, kms: Any, ssm: Any) -> list[Finding]:
    """One rotating key, and every SecureString parameter encrypted with it."""
    keys = by_type.get("aws:kms/key:Key", [])
    if len(keys) != 1:
        return [Finding("kms", f"{len(keys)} KMS keys, expected the cluster's one")]
    key_id = result.ids[keys[0].urn]
    findings = []
    if not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]:
        findings.append(Finding(keys[0].name, "key rotation is off"))
    key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    for parameter in by_type.get("aws:ssm/parameter:Parameter", []):
        if parameter.inputs.get("type") != "SecureString":
            continue
        name = result.ids[parameter.urn]
        described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
        held = described[0].get("KeyId") if described else None
        if held != key_arn:
            findings.append(Finding(parameter.name, f"SecureString under {held}, not the cluster key {key_arn}"))
    return findings


def _instance_address_findings(result: ReplayResult, by_type: ByType) -> list[Finding]:
    """Each instance's IPv4 and an IPv6 address inside its subnet's blocks."""
    findings: list[Finding] = []
    for name, instance in result.instances.items():
        subnet = next(s for s in by_type["aws:ec2/subnet:Subnet"] if result.ids[s.urn] == instance.subnet_id)
        ipv4_ok = ipaddress.ip_address(instance.private_ipv4) in ipaddress.ip_network(subnet.inputs["cidrBlock"])
        ipv6_ok = any(
            ipaddress.ip_address(a) in ipaddress.ip_network(result.subnet_ipv6_cidrs[subnet.name])
            for a in instance.ipv6
        )
        if not (ipv4_ok and ipv6_ok):
            findings.append(Finding(name, f"addresses {instance.private_ipv4} {instance.ipv6} not in {subnet.name}"))
    return findings


def check(stack: str, stack_dir: Path) -> ToolResult:
    tool_result = ToolResult("moto", stack)
    source = stack_dir / "resources.json"
    log = VALIDATE_DIR / stack / "moto.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with moto_server(log=log) as endpoint:
        result = replay(source, endpoint, include_instances=True)
        tool_result.checked = len(result.calls)
        tool_result.findings += [Finding(call.name, f"{call.operation}: {call.error}") for call in result.failures]
        tool_result.findings += readback(result, planned_resources(source))
    tool_result.notes += result.notes + result.skip_notes
    return tool_result
