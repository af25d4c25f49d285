"""What every rule module shares: type tokens, policy builders, config, stack-resource access.

A rule is a plain validator `(args, report_violation)`; `resource_policy` / `stack_policy`
wrap it with the metadata every rule must have (description, enforcement level, severity,
remediation), so the pack and the offline report show the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.facts import CLUSTER_TAG_PREFIX
from policies.props import plain, text

VPC: Final = "aws:ec2/vpc:Vpc"
VPC_IPV6_ASSOCIATION: Final = "aws:ec2/vpcIpv6CidrBlockAssociation:VpcIpv6CidrBlockAssociation"
SUBNET: Final = "aws:ec2/subnet:Subnet"
ROUTE_TABLE: Final = "aws:ec2/routeTable:RouteTable"
SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INSTANCE: Final = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE: Final = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME: Final = "aws:ebs/volume:Volume"
NODE_TYPES: Final = (INSTANCE, LAUNCH_TEMPLATE)

DAEMONSET: Final = "kubernetes:apps/v1:DaemonSet"
DEPLOYMENT: Final = "kubernetes:apps/v1:Deployment"
POD: Final = "kubernetes:core/v1:Pod"
CONFIG_MAP: Final = "kubernetes:core/v1:ConfigMap"
RBAC_TYPES: Final = tuple(
    f"kubernetes:rbac.authorization.k8s.io/v1:{kind}"
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
)

ResourceValidator = Callable[[ResourceValidationArgs, ReportViolation], None]
StackValidator = Callable[[StackValidationArgs, ReportViolation], None]

CLUSTER_TAG_KEY: Final = "clusterTagKey"
ADMIN_CIDRS: Final = "allowedAdminCidrs"
CLUSTER_TAG_CONFIG: Final = PolicyConfigSchema(
    properties={
        CLUSTER_TAG_KEY: {
            "type": "string",
            "pattern": "^kubernetes\\.io/cluster/[^/]+$",
            "description": "The cluster's ownership tag key, kubernetes.io/cluster/<cluster id>; "
            "unset: any kubernetes.io/cluster/* key counts.",
        },
    }
)
ADMIN_CIDRS_CONFIG: Final = PolicyConfigSchema(
    properties={
        ADMIN_CIDRS: {
            "type": "array",
            "items": {"type": "string"},
            "description": "IPv4/IPv6 CIDRs allowed to reach the API server (6443); unset: only the "
            "whole internet is refused.",
        },
    }
)


def _metadata(
    *,
    severity: Severity,
    remediation: str,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: PolicyConfigSchema | None = None,
) -> dict[str, Any]:
    """What every rule must say besides its validator: severity and remediation are required."""
    return {
        "severity": severity,
        "remediation_steps": remediation,
        "enforcement_level": enforcement,
        "config_schema": config,
    }


def resource_policy(
    name: str, description: str, validate: ResourceValidator, **metadata: Any
) -> ResourceValidationPolicy:
    """A resource rule; `metadata`: severity, remediation, enforcement (default mandatory), config."""
    return ResourceValidationPolicy(name=name, description=description, validate=validate, **_metadata(**metadata))


def stack_policy(name: str, description: str, validate: StackValidator, **metadata: Any) -> StackValidationPolicy:
    """A stack rule; `metadata` as for resource_policy."""
    return StackValidationPolicy(name=name, description=description, validate=validate, **_metadata(**metadata))


def config_strings(config: Mapping[str, Any], key: str) -> list[str]:
    values = plain(config.get(key))
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def cluster_tag_key(config: Mapping[str, Any]) -> str | None:
    """The configured cluster tag key; None means "any kubernetes.io/cluster/* key"."""
    key = text(plain(config.get(CLUSTER_TAG_KEY)))
    return key if key and key.startswith(CLUSTER_TAG_PREFIX) else None


@dataclass(frozen=True)
class StackResource:
    """A resource of a stack validation with its props as plain data (see props.plain)."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    resource: PolicyResource

    def property_dependencies(self, key: str) -> list[PolicyResource]:
        return list(self.resource.property_dependencies.get(key) or [])


def stack_resources(args: StackValidationArgs, types: Iterable[str]) -> list[StackResource]:
    wanted = set(types)
    return [
        StackResource(r.resource_type, r.name, r.urn, plain(r.props), r)
        for r in args.resources
        if r.resource_type in wanted
    ]
