"""What AWS's authorization sees for one query-API request of the CCM.

A request (form-encoded `Action=...&Version=...`, the service from the SigV4 credential scope, ELB
and ELBv2 told apart by `Version`) becomes the IAM authorizations AWS makes for it: the action,
the resource ARN and the condition keys, built with tools/iam_check's request builders
(`tools/iam_check/requests.py`), so the e2e proxy and the IAM tier share one model:

- `Describe*` of every service: the action on `*` (none of them has resource types);
- EC2: security-group actions on `security-group/<id>` with the group's tags and `ec2:Vpc`;
  CreateSecurityGroup on the new group (the request's tags, `ec2:Vpc`) and on its VPC
  (`ec2:VpcID`, the VPC's tags) and, with TagSpecifications, `ec2:CreateTags` on the new group
  with `ec2:CreateAction=CreateSecurityGroup`; CreateTags on each resource it names, with that
  resource's tags and the request's;
- classic ELB (2012-06-01): every call on `loadbalancer/<name>` with the load balancer's tags;
  CreateLoadBalancer with Tags also needs `elasticloadbalancing:AddTags` with
  `elasticloadbalancing:CreateAction=CreateLoadBalancer`;
- ELBv2 (2015-12-01): calls on the load balancer, target group or listener ARN they name, with its
  tags; CreateLoadBalancer on `loadbalancer/net/<name>/<id>`, CreateTargetGroup on
  `targetgroup/<name>/<id>`, CreateListener on its load balancer, each with Tags also needing
  `elasticloadbalancing:AddTags` with `CreateAction=<call>` on the new resource (for a listener:
  `listener/net/<lb>/<lb id>/<id>`);
- the account's first load balancer: AWS creates the ELB service-linked role as the caller, so
  CreateLoadBalancer then also needs `iam:CreateServiceLinkedRole`.

A resource being created has no ID before the call returns: its ARN carries a placeholder ID
derived from the request (`placeholder_id`); the policy names the CCM's resources by name
patterns, never by ID. The existing resource's tags come from `AwsState` (moto, in the e2e run).
A request with no mapping raises `Unmapped`: the proxy records it as an error and denies it.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tools.iam_check.requests import (
    ELB_SERVICE,
    Resource,
    classic_load_balancer_arn,
    ec2_arn,
    elb_resource,
    elb_service_linked_role_arn,
    listener_arn,
    security_group,
    target_group_arn,
)
from tools.iam_check.stack_facts import StackFacts

EC2 = "ec2"
ELB = "elb"
ELBV2 = "elbv2"
ELB_VERSIONS = {"2012-06-01": ELB, "2015-12-01": ELBV2}
IAM_SERVICE = {EC2: "ec2", ELB: "elasticloadbalancing", ELBV2: "elasticloadbalancing"}
CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
EC2_ID_TYPES = {
    "sg": "security-group",
    "i": "instance",
    "vpc": "vpc",
    "subnet": "subnet",
    "rtb": "route-table",
    "eni": "network-interface",
    "vol": "volume",
}
ELBV2_TYPE_PREFIX = {"network": "net", "application": "app", "gateway": "gwy"}
CLASSIC_LOAD_BALANCER_ACTIONS = frozenset(
    {
        "ApplySecurityGroupsToLoadBalancer",
        "AttachLoadBalancerToSubnets",
        "ConfigureHealthCheck",
        "CreateAppCookieStickinessPolicy",
        "CreateLBCookieStickinessPolicy",
        "CreateLoadBalancerListeners",
        "CreateLoadBalancerPolicy",
        "DeleteLoadBalancer",
        "DeleteLoadBalancerListeners",
        "DeleteLoadBalancerPolicy",
        "DeregisterInstancesFromLoadBalancer",
        "DetachLoadBalancerFromSubnets",
        "DisableAvailabilityZonesForLoadBalancer",
        "EnableAvailabilityZonesForLoadBalancer",
        "ModifyLoadBalancerAttributes",
        "RegisterInstancesWithLoadBalancer",
        "SetLoadBalancerListenerSSLCertificate",
        "SetLoadBalancerPoliciesForBackendServer",
        "SetLoadBalancerPoliciesOfListener",
    }
)
# ELBv2 calls authorized on the one resource their ARN parameter names.
ELBV2_ARN_PARAMETER = {
    "DeleteLoadBalancer": "LoadBalancerArn",
    "ModifyLoadBalancerAttributes": "LoadBalancerArn",
    "SetIpAddressType": "LoadBalancerArn",
    "SetSecurityGroups": "LoadBalancerArn",
    "SetSubnets": "LoadBalancerArn",
    "DeleteTargetGroup": "TargetGroupArn",
    "DeregisterTargets": "TargetGroupArn",
    "ModifyTargetGroup": "TargetGroupArn",
    "ModifyTargetGroupAttributes": "TargetGroupArn",
    "RegisterTargets": "TargetGroupArn",
    "DeleteListener": "ListenerArn",
    "ModifyListener": "ListenerArn",
}
# EC2 calls authorized on the security group `GroupId` names.
EC2_SECURITY_GROUP_ACTIONS = frozenset(
    {
        "AuthorizeSecurityGroupEgress",
        "AuthorizeSecurityGroupIngress",
        "DeleteSecurityGroup",
        "RevokeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
    }
)


class Unmapped(ValueError):
    """A request the model does not know: recorded as an error and denied, never allowed."""


@dataclass(frozen=True)
class ApiCall:
    """One query-API request: the API (`ec2`, `elb` classic, `elbv2`), the operation, its parameters."""

    api: str
    action: str
    params: Mapping[str, str]
    region: str = ""

    @property
    def iam_action(self) -> str:
        return f"{IAM_SERVICE[self.api]}:{self.action}"


def parse_call(authorization_header: str, body: bytes | str) -> ApiCall:
    """The API, operation and flat parameters of a SigV4-signed query request (Unmapped if not one)."""
    text = body.decode() if isinstance(body, bytes) else body
    params = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    match = CREDENTIAL.search(authorization_header or "")
    action = params.get("Action", "")
    if match is None or not action:
        raise Unmapped(f"not a SigV4-signed query request (Action={action!r})")
    service, region = match.group("service"), match.group("region")
    if service == "ec2":
        api = EC2
    elif service == "elasticloadbalancing":
        version = params.get("Version", "")
        if version not in ELB_VERSIONS:
            raise Unmapped(f"elasticloadbalancing API version {version!r} is neither 2012-06-01 nor 2015-12-01")
        api = ELB_VERSIONS[version]
    else:
        raise Unmapped(f"service {service!r} is not modelled (only ec2 and elasticloadbalancing)")
    return ApiCall(api, action, params, region)


@dataclass(frozen=True)
class Authorization:
    """One authorization AWS makes for a request."""

    action: str
    resource: Resource
    request_tags: Mapping[str, str] = field(default_factory=dict)
    create_action: str | None = None
    why: str = ""


@dataclass(frozen=True)
class SecurityGroupState:
    tags: Mapping[str, str]
    vpc_id: str


class AwsState(Protocol):
    """The account's existing resources, as the authorization reads them (tags, a group's VPC)."""

    def security_group(self, group_id: str) -> SecurityGroupState | None: ...

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]: ...

    def classic_load_balancer_tags(self, name: str) -> Mapping[str, str]: ...

    def elbv2_tags(self, arn: str) -> Mapping[str, str]: ...

    def elbv2_load_balancer_type(self, arn: str) -> str | None:
        """`network`, `application` or `gateway`; None if there is no such load balancer."""
        ...

    def service_linked_role_exists(self, service: str) -> bool: ...


def members(params: Mapping[str, str], prefix: str) -> list[str]:
    """`prefix.1`, `prefix.2`, ... (EC2 lists) or `prefix.member.1`, ... (ELB lists), in order."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(?:member\.)?(\d+)$")
    found = sorted((int(m.group(1)), value) for key, value in params.items() if (m := pattern.match(key)))
    return [value for _, value in found]


def tags_at(params: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The tags `prefix.N.Key`/`prefix.N.Value` (EC2 `Tag`) or `prefix.member.N.Key` (ELB `Tags`)."""
    pattern = re.compile(rf"^{re.escape(prefix)}\.(?:member\.)?(\d+)\.Key$")
    tags: list[tuple[int, str, str]] = []
    for key, value in params.items():
        if m := pattern.match(key):
            index = m.group(1)
            member = "member." if f"{prefix}.member.{index}.Key" == key else ""
            tags.append((int(index), value, params.get(f"{prefix}.{member}{index}.Value", "")))
    return {key: value for _, key, value in sorted(tags)}


def tag_specifications(params: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """EC2 TagSpecification.N: resource type -> tags."""
    specs: dict[str, dict[str, str]] = {}
    for index in sorted({int(m.group(1)) for key in params if (m := re.match(r"^TagSpecification\.(\d+)\.", key))}):
        resource_type = params.get(f"TagSpecification.{index}.ResourceType", "")
        specs.setdefault(resource_type, {}).update(tags_at(params, f"TagSpecification.{index}.Tag"))
    return specs


def placeholder_id(*parts: str, length: int = 16) -> str:
    """A stable stand-in for the ID AWS gives a resource the request creates (hex, from the request)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def _required(call: ApiCall, name: str) -> str:
    value = call.params.get(name)
    if not value:
        raise Unmapped(f"{call.iam_action} without {name}")
    return value


def _security_group(facts: StackFacts, state: AwsState, group_id: str) -> Resource:
    found = state.security_group(group_id)
    if found is None:
        # Not in the account: no tags, no VPC. AWS answers such a call with InvalidGroup.NotFound
        # only if it is authorized at all; an untagged group is denied by a tag-conditioned policy.
        return Resource(ec2_arn(facts, "security-group", group_id), description=f"unknown group {group_id}")
    return security_group(facts, group_id, found.tags, found.vpc_id, f"security group {group_id}")


def _ec2_resource(facts: StackFacts, state: AwsState, resource_id: str) -> Resource:
    prefix = resource_id.split("-", 1)[0]
    if prefix == "sg":
        return _security_group(facts, state, resource_id)
    if prefix not in EC2_ID_TYPES:
        raise Unmapped(f"EC2 resource ID {resource_id!r} of no modelled type")
    resource_type = EC2_ID_TYPES[prefix]
    tags = dict(state.ec2_tags(resource_id))
    vpc_id = resource_id if resource_type == "vpc" else None
    return Resource(ec2_arn(facts, resource_type, resource_id), tags, vpc_id=vpc_id, description=resource_id)


def _tag_on_create(action: str, resource: Resource, tags: Mapping[str, str], create_action: str) -> Authorization:
    return Authorization(action, resource, tags, create_action, f"tags on create ({create_action})")


def _ec2(call: ApiCall, facts: StackFacts, state: AwsState) -> list[Authorization]:
    action, params = call.iam_action, call.params
    if call.action == "CreateSecurityGroup":
        vpc_id = _required(call, "VpcId")
        specs = tag_specifications(params)
        unknown = sorted(set(specs) - {"security-group"})
        if unknown:
            raise Unmapped(f"CreateSecurityGroup TagSpecifications for {unknown}")
        tags = specs.get("security-group", {})
        group_name = _required(call, "GroupName")
        new_id = "sg-" + placeholder_id(vpc_id, group_name, length=17)
        new_group = security_group(facts, new_id, {}, vpc_id, f"new security group {group_name}")
        vpc = Resource(ec2_arn(facts, "vpc", vpc_id), dict(state.ec2_tags(vpc_id)), vpc_id=vpc_id, description=vpc_id)
        authorizations = [
            Authorization(action, new_group, tags, why="the new group"),
            Authorization(action, vpc, why="the VPC it is created in"),
        ]
        if tags:
            authorizations.append(_tag_on_create("ec2:CreateTags", new_group, tags, "CreateSecurityGroup"))
        return authorizations
    if call.action in EC2_SECURITY_GROUP_ACTIONS:
        if "GroupId" not in params:
            raise Unmapped(f"{action} by group name (no GroupId)")
        if any(key.startswith("TagSpecification.") for key in params):
            raise Unmapped(f"{action} with TagSpecifications (security group rule tags are not modelled)")
        return [Authorization(action, _security_group(facts, state, params["GroupId"]))]
    if call.action in ("CreateTags", "DeleteTags"):
        resource_ids = members(params, "ResourceId")
        if not resource_ids:
            raise Unmapped(f"{action} without ResourceId")
        tags = tags_at(params, "Tag")
        return [Authorization(action, _ec2_resource(facts, state, rid), tags) for rid in resource_ids]
    raise Unmapped(f"no mapping for {action}")


def _elb_tags(call: ApiCall) -> dict[str, str]:
    return tags_at(call.params, "Tags")


def _service_linked_role(facts: StackFacts, state: AwsState) -> list[Authorization]:
    if state.service_linked_role_exists(ELB_SERVICE):
        return []
    role = Resource(elb_service_linked_role_arn(facts), description="the ELB service-linked role")
    return [
        Authorization(
            "iam:CreateServiceLinkedRole",
            role,
            why="the account's first load balancer: AWS creates AWSServiceRoleForElasticLoadBalancing as the caller",
        )
    ]


def _classic(call: ApiCall, facts: StackFacts, state: AwsState) -> list[Authorization]:
    action, params = call.iam_action, call.params
    if call.action == "CreateLoadBalancer":
        name = _required(call, "LoadBalancerName")
        tags = _elb_tags(call)
        new = elb_resource(facts, classic_load_balancer_arn(facts, name), {}, f"new classic ELB {name}")
        authorizations = [Authorization(action, new, tags, why="the new load balancer")]
        if tags:
            authorizations.append(_tag_on_create("elasticloadbalancing:AddTags", new, tags, "CreateLoadBalancer"))
        return authorizations + _service_linked_role(facts, state)
    if call.action in ("AddTags", "RemoveTags"):
        names = members(params, "LoadBalancerNames")
        if not names:
            raise Unmapped(f"{action} without LoadBalancerNames")
        tags = _elb_tags(call) if call.action == "AddTags" else {}
        return [
            Authorization(
                action,
                elb_resource(
                    facts, classic_load_balancer_arn(facts, name), state.classic_load_balancer_tags(name), name
                ),
                tags,
            )
            for name in names
        ]
    if call.action in CLASSIC_LOAD_BALANCER_ACTIONS:
        name = _required(call, "LoadBalancerName")
        arn = classic_load_balancer_arn(facts, name)
        return [Authorization(action, elb_resource(facts, arn, state.classic_load_balancer_tags(name), name))]
    raise Unmapped(f"no mapping for classic ELB {call.action}")


MOTO_ELBV2_ARN = re.compile(
    r"^(?P<head>arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:)(?P<kind>loadbalancer|listener)/app/"
    r"(?P<name>[^/]+)/(?P<id>[^/]+)(?P<rest>/.*)?$"
)


def aws_elbv2_arn(state: AwsState, arn: str) -> str:
    """The ARN AWS gives the load balancer or listener that `arn` names in moto.

    moto names every ELBv2 load balancer `loadbalancer/app/<name>/<id>` and its listeners
    `listener/app/...`, whatever the type; AWS names a network load balancer's
    `loadbalancer/net/...` and `listener/net/...` (a gateway's `gwy`). Authorization is judged on
    AWS's ARN; the request that reaches moto keeps moto's."""
    match = MOTO_ELBV2_ARN.match(arn)
    if match is None:
        return arn
    head, name, lb_id = match.group("head"), match.group("name"), match.group("id")
    lb_type = state.elbv2_load_balancer_type(f"{head}loadbalancer/app/{name}/{lb_id}") or "application"
    segment = ELBV2_TYPE_PREFIX.get(lb_type, "app")
    return f"{head}{match.group('kind')}/{segment}/{name}/{lb_id}{match.group('rest') or ''}"


def _elbv2_existing(facts: StackFacts, state: AwsState, arn: str) -> Resource:
    aws_arn = aws_elbv2_arn(state, arn)
    return elb_resource(facts, aws_arn, state.elbv2_tags(arn), aws_arn.split(":", 5)[-1])


def _elbv2(call: ApiCall, facts: StackFacts, state: AwsState) -> list[Authorization]:
    action, params = call.iam_action, call.params
    tags = _elb_tags(call)
    if call.action == "CreateLoadBalancer":
        name = _required(call, "Name")
        kind = params.get("Type", "application")
        if kind not in ELBV2_TYPE_PREFIX:
            raise Unmapped(f"ELBv2 load balancer type {kind!r}")
        new_arn = facts.arn(
            "elasticloadbalancing", f"loadbalancer/{ELBV2_TYPE_PREFIX[kind]}/{name}/{placeholder_id(kind, name)}"
        )
        new = elb_resource(facts, new_arn, {}, f"new {kind} load balancer {name}")
        authorizations = [Authorization(action, new, tags, why="the new load balancer")]
        if tags:
            authorizations.append(_tag_on_create("elasticloadbalancing:AddTags", new, tags, "CreateLoadBalancer"))
        return authorizations + _service_linked_role(facts, state)
    if call.action == "CreateTargetGroup":
        name = _required(call, "Name")
        new_arn = target_group_arn(facts, name, placeholder_id(name, params.get("VpcId", "")))
        new = elb_resource(facts, new_arn, {}, f"new target group {name}")
        authorizations = [Authorization(action, new, tags, why="the new target group")]
        if tags:
            authorizations.append(_tag_on_create("elasticloadbalancing:AddTags", new, tags, "CreateTargetGroup"))
        return authorizations
    if call.action == "CreateListener":
        lb_arn = _required(call, "LoadBalancerArn")
        lb_path = aws_elbv2_arn(state, lb_arn).split(":", 5)[-1].split("/")
        if len(lb_path) != 4 or lb_path[1] != "net":
            raise Unmapped(f"CreateListener on {lb_arn!r} (only network load balancers are modelled)")
        _, _, lb_name, lb_id = lb_path
        authorizations = [Authorization(action, _elbv2_existing(facts, state, lb_arn), tags, why="its load balancer")]
        if tags:
            new_arn = listener_arn(facts, lb_name, lb_id, placeholder_id(lb_arn, params.get("Port", "")))
            new = elb_resource(facts, new_arn, {}, f"new listener of {lb_name}")
            authorizations.append(_tag_on_create("elasticloadbalancing:AddTags", new, tags, "CreateListener"))
        return authorizations
    if call.action in ("AddTags", "RemoveTags"):
        arns = members(params, "ResourceArns")
        if not arns:
            raise Unmapped(f"{action} without ResourceArns")
        request_tags = tags if call.action == "AddTags" else {}
        return [Authorization(action, _elbv2_existing(facts, state, arn), request_tags) for arn in arns]
    if call.action in ELBV2_ARN_PARAMETER:
        arn = _required(call, ELBV2_ARN_PARAMETER[call.action])
        return [Authorization(action, _elbv2_existing(facts, state, arn))]
    raise Unmapped(f"no mapping for ELBv2 {call.action}")


def authorizations(call: ApiCall, facts: StackFacts, state: AwsState) -> list[Authorization]:
    """Every authorization AWS makes for the request, in order; Unmapped if the model lacks it."""
    if call.action.startswith("Describe"):
        return [Authorization(call.iam_action, Resource("*"), why="Describe* has no resource types")]
    if call.api == EC2:
        return _ec2(call, facts, state)
    if call.api == ELB:
        return _classic(call, facts, state)
    if call.api == ELBV2:
        return _elbv2(call, facts, state)
    raise Unmapped(f"API {call.api!r}")
