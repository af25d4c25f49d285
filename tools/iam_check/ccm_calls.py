"""The AWS calls the cloud-controller-manager of each matrix release makes, as IAM requests.

Flows: node initialisation (cloud-node, cloud-node-lifecycle), a Service of type LoadBalancer as a
classic ELB (ensure, delete) and as an NLB (`aws-load-balancer-type: nlb`; ensure, delete), for a
Service without annotations (no additional-resource-tags, no SSL/proxy-protocol policies, no
target-group attributes) and the default cloud config (no NLBSecurityGroupMode=Managed, no
RoleARN, routes not configured). The tagging controller is off by default in every release.

Sources. The rows are the research notes on kubernetes/cloud-provider-aws at v1.21.3, v1.22.8,
v1.23.20, v1.24.19 and v1.35.2 (every call with its file:line at the tag), written down once as
flows. Which rows a release has, and the file:line cited for it, come from `ccm_sources.json`
(`python -m tools.iam_check.upstream`): a row whose code is not found at a release's tag is not
in that release's table, and a row with `requires`/`unless` follows the code that decides it
(e.g. `sg-tag-specifications`: v1.23.0 moved the security group's tags onto CreateSecurityGroup).
For 1.25-1.34, which the research did not cover, the same locators were run at each tag, and the
set of AWS SDK calls in the provider's non-test code was compared with the neighbouring researched
release (`apiCalls` in the JSON): the only differences are ec2 DescribeAvailabilityZones from
v1.26.14 (load balancer subnets' zone types; from v1.30 also the node's zone-id label),
DescribeInstanceTopology from v1.30.10 (only for hpc/trn/p instance types), the volume calls gone
from v1.31 (never made by the CCM binary) and target-group attributes from v1.32.8 (annotation only).

How AWS authorizes a call (Service Authorization Reference; EC2 and ELB user guides on tagging on
creation): CreateSecurityGroup on the new group and on its VPC; tags in a create request need
ec2:CreateTags / elasticloadbalancing:AddTags with the CreateAction condition key on the new
resource; CreateListener is authorized on the load balancer, its tags on the new listener.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from components.versions import RELEASES, Release
from tools.iam_check.upstream import REPOSITORY, SOURCES_JSON


class Flow(StrEnum):
    NODE_INIT = "node-init"
    CLB_ENSURE = "clb-ensure"
    CLB_DELETE = "clb-delete"
    NLB_ENSURE = "nlb-ensure"
    NLB_DELETE = "nlb-delete"


class Target(StrEnum):
    """The resource a request is authorized on; `requests.resolve` gives its ARN and tags."""

    ANY = "*"
    VPC = "vpc"
    ELB_SG_NEW = "elb-sg-new"
    """k8s-elb-<lb>, in the call that creates it."""
    ELB_SG_UNTAGGED = "elb-sg-untagged"
    """k8s-elb-<lb> in the cluster VPC without the cluster tag (just created before 1.23, or found by name)."""
    ELB_SG = "elb-sg"
    """k8s-elb-<lb> with the cluster tag (owned)."""
    NODE_SG = "node-sg"
    """Each node security group of the render, with its tags."""
    CLB_NEW = "clb-new"
    CLB = "clb"
    NLB_NEW = "nlb-new"
    NLB = "nlb"
    TG_NEW = "tg-new"
    TG_UNTAGGED = "tg-untagged"
    TG = "tg"
    LISTENER_NEW = "listener-new"
    LISTENER_UNTAGGED = "listener-untagged"
    LISTENER = "listener"
    ELB_SERVICE_LINKED_ROLE = "elb-service-linked-role"


class Tags(StrEnum):
    """Tags sent in the request (research: T_LB, T_SG, T_REPAIR; no additional-resource-tags)."""

    NONE = "none"
    LB = "lb"
    """kubernetes.io/service-name=<ns>/<name>, kubernetes.io/cluster/<id>=owned."""
    SG = "sg"
    """kubernetes.io/cluster/<id>=owned."""
    REPAIR = "repair"
    """The missing cluster tag only: kubernetes.io/cluster/<id>=owned."""


@dataclass(frozen=True)
class Call:
    flow: Flow
    action: str
    target: Target
    locators: tuple[str, ...]
    """Keys of `upstream.LOCATORS` cited for this row; each must be found at the release's tag."""
    tags: Tags = Tags.NONE
    create_action: str | None = None
    """The CreateAction condition value of a tag-on-create authorization."""
    requires: tuple[str, ...] = ()
    """Locators that must be found at the tag for the row to apply."""
    unless: tuple[str, ...] = ()
    """Locators that must not be found at the tag for the row to apply."""
    instance_type_pattern: str | None = None
    """Only when a node's instance type matches (topology.go's default pattern)."""
    note: str = ""


ELB_AUTHZ = "ELB user guide, 'API permissions to tag resources during creation'; SAR, Elastic Load Balancing V2"
CLASSIC_CREATE_ACTION = (
    "the ELB guide's CreateAction rule is generic; whether the classic API sets it is unconfirmed (research §8)"
)
SLR = (
    "AWS creates AWSServiceRoleForElasticLoadBalancing on an account's first load balancer, as the caller "
    "(cloud-provider-aws docs/prerequisites.md lists iam:CreateServiceLinkedRole)"
)
TOPOLOGY_PATTERN = r"^(hpc|trn|p)[0-9]+[a-z]*(-[a-z0-9]+)?(\.[0-9a-z]*)$"
"""topology.go `defaultSupportedTopologyInstanceTypePattern`, the same at every tag from v1.30.10."""


NODE_INIT: tuple[Call, ...] = (
    Call(Flow.NODE_INIT, "ec2:DescribeInstances", Target.ANY, ("ec2.DescribeInstances",)),
    Call(
        Flow.NODE_INIT,
        "ec2:DescribeAvailabilityZones",
        Target.ANY,
        ("zone-id-label", "ec2.DescribeAvailabilityZones"),
        requires=("zone-id-label",),
        note="InstanceMetadata fails, and the node stays uninitialised, if the zone ID cannot be read",
    ),
    Call(
        Flow.NODE_INIT,
        "ec2:DescribeInstanceTopology",
        Target.ANY,
        ("ec2.DescribeInstanceTopology", "topology-pattern"),
        requires=("ec2.DescribeInstanceTopology",),
        instance_type_pattern=TOPOLOGY_PATTERN,
    ),
)

_SUBNETS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("ec2:DescribeInstances", ("ec2.DescribeInstances",), ()),
    ("ec2:DescribeSubnets", ("ec2.DescribeSubnets",), ()),
    ("ec2:DescribeRouteTables", ("ec2.DescribeRouteTables",), ()),
    (
        "ec2:DescribeAvailabilityZones",
        ("lb-subnet-zone-types", "ec2.DescribeAvailabilityZones"),
        ("lb-subnet-zone-types",),
    ),
    ("ec2:DescribeSecurityGroups", ("ec2.DescribeSecurityGroups",), ()),
)


def _describes(flow: Flow) -> tuple[Call, ...]:
    return tuple(Call(flow, action, Target.ANY, locators, requires=requires) for action, locators, requires in _SUBNETS)


def _node_sg_rules(flow: Flow) -> tuple[Call, ...]:
    return (
        Call(flow, "ec2:AuthorizeSecurityGroupIngress", Target.NODE_SG, ("ec2.AuthorizeSecurityGroupIngress",)),
        Call(flow, "ec2:RevokeSecurityGroupIngress", Target.NODE_SG, ("ec2.RevokeSecurityGroupIngress",)),
    )


def _service_linked_role(flow: Flow, create: str) -> Call:
    return Call(flow, "iam:CreateServiceLinkedRole", Target.ELB_SERVICE_LINKED_ROLE, (create,), note=SLR)


CLB_ENSURE: tuple[Call, ...] = (
    *_describes(Flow.CLB_ENSURE),
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateTags",
        Target.ELB_SG_UNTAGGED,
        ("sg-read-repair", "tags.createTags"),
        tags=Tags.REPAIR,
        note="readRepairClusterTags: only when a group named k8s-elb-<lb> exists without the cluster tag",
    ),
    # before v1.23.0: the group is created untagged, then tagged by a standalone CreateTags
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateSecurityGroup",
        Target.ELB_SG_NEW,
        ("ec2.CreateSecurityGroup",),
        unless=("sg-tag-specifications",),
    ),
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateSecurityGroup",
        Target.VPC,
        ("ec2.CreateSecurityGroup",),
        unless=("sg-tag-specifications",),
    ),
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateTags",
        Target.ELB_SG_UNTAGGED,
        ("sg-separate-create-tags", "tags.createTags"),
        tags=Tags.SG,
        requires=("sg-separate-create-tags",),
        note="the new group, tagged right after CreateSecurityGroup (no ec2:CreateAction)",
    ),
    # from v1.23.0: the tags ride on CreateSecurityGroup (TagSpecifications)
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateSecurityGroup",
        Target.ELB_SG_NEW,
        ("ec2.CreateSecurityGroup", "sg-tag-specifications"),
        tags=Tags.SG,
        requires=("sg-tag-specifications",),
    ),
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateSecurityGroup",
        Target.VPC,
        ("ec2.CreateSecurityGroup",),
        requires=("sg-tag-specifications",),
    ),
    Call(
        Flow.CLB_ENSURE,
        "ec2:CreateTags",
        Target.ELB_SG_NEW,
        ("sg-tag-specifications", "ec2.CreateSecurityGroup"),
        tags=Tags.SG,
        create_action="CreateSecurityGroup",
        requires=("sg-tag-specifications",),
    ),
    Call(Flow.CLB_ENSURE, "ec2:AuthorizeSecurityGroupIngress", Target.ELB_SG, ("ec2.AuthorizeSecurityGroupIngress",)),
    Call(Flow.CLB_ENSURE, "ec2:RevokeSecurityGroupIngress", Target.ELB_SG, ("ec2.RevokeSecurityGroupIngress",)),
    Call(Flow.CLB_ENSURE, "elasticloadbalancing:DescribeLoadBalancers", Target.ANY, ("elb.DescribeLoadBalancers",)),
    _service_linked_role(Flow.CLB_ENSURE, "elb.CreateLoadBalancer"),
    Call(
        Flow.CLB_ENSURE,
        "elasticloadbalancing:CreateLoadBalancer",
        Target.CLB_NEW,
        ("elb.CreateLoadBalancer", "elb-create-tags"),
        tags=Tags.LB,
    ),
    Call(
        Flow.CLB_ENSURE,
        "elasticloadbalancing:AddTags",
        Target.CLB_NEW,
        ("elb-create-tags",),
        tags=Tags.LB,
        create_action="CreateLoadBalancer",
        note=CLASSIC_CREATE_ACTION,
    ),
    *(
        Call(Flow.CLB_ENSURE, f"elasticloadbalancing:{method}", Target.CLB, (f"elb.{method}",))
        for method in (
            "DetachLoadBalancerFromSubnets",
            "AttachLoadBalancerToSubnets",
            "ApplySecurityGroupsToLoadBalancer",
            "DeleteLoadBalancerListeners",
            "CreateLoadBalancerListeners",
            "ModifyLoadBalancerAttributes",
            "ConfigureHealthCheck",
            "RegisterInstancesWithLoadBalancer",
            "DeregisterInstancesFromLoadBalancer",
        )
    ),
    Call(
        Flow.CLB_ENSURE,
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        Target.ANY,
        ("elb.DescribeLoadBalancerAttributes",),
    ),
    *_node_sg_rules(Flow.CLB_ENSURE),
)

CLB_DELETE: tuple[Call, ...] = (
    Call(Flow.CLB_DELETE, "elasticloadbalancing:DescribeLoadBalancers", Target.ANY, ("elb.DescribeLoadBalancers",)),
    Call(Flow.CLB_DELETE, "ec2:DescribeSecurityGroups", Target.ANY, ("ec2.DescribeSecurityGroups",)),
    Call(Flow.CLB_DELETE, "ec2:RevokeSecurityGroupIngress", Target.NODE_SG, ("ec2.RevokeSecurityGroupIngress",)),
    Call(Flow.CLB_DELETE, "elasticloadbalancing:DeleteLoadBalancer", Target.CLB, ("elb.DeleteLoadBalancer",)),
    Call(Flow.CLB_DELETE, "ec2:DeleteSecurityGroup", Target.ELB_SG, ("ec2.DeleteSecurityGroup",)),
)

NLB_ENSURE: tuple[Call, ...] = (
    *_describes(Flow.NLB_ENSURE),
    *(
        Call(Flow.NLB_ENSURE, f"elasticloadbalancing:{method}", Target.ANY, (f"elbv2.{method}",))
        for method in (
            "DescribeLoadBalancers",
            "DescribeListeners",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
            "DescribeLoadBalancerAttributes",
        )
    ),
    _service_linked_role(Flow.NLB_ENSURE, "elbv2.CreateLoadBalancer"),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:CreateLoadBalancer",
        Target.NLB_NEW,
        ("elbv2.CreateLoadBalancer", "elbv2-create-tags"),
        tags=Tags.LB,
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:AddTags",
        Target.NLB_NEW,
        ("elbv2-create-tags",),
        tags=Tags.LB,
        create_action="CreateLoadBalancer",
        note=ELB_AUTHZ,
    ),
    # before v1.23.0: CreateTargetGroup without tags, then a standalone AddTags on the new group
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:CreateTargetGroup",
        Target.TG_NEW,
        ("elbv2.CreateTargetGroup",),
        unless=("tg-tags-on-create",),
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:AddTags",
        Target.TG_UNTAGGED,
        ("elbv2.AddTags",),
        tags=Tags.LB,
        requires=("elbv2.AddTags",),
        note="the target group k8s-<ns>-<name>-<hash>, tagged right after CreateTargetGroup",
    ),
    # from v1.23.0: tags on CreateTargetGroup
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:CreateTargetGroup",
        Target.TG_NEW,
        ("elbv2.CreateTargetGroup", "tg-tags-on-create"),
        tags=Tags.LB,
        requires=("tg-tags-on-create",),
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:AddTags",
        Target.TG_NEW,
        ("tg-tags-on-create",),
        tags=Tags.LB,
        create_action="CreateTargetGroup",
        requires=("tg-tags-on-create",),
        note=ELB_AUTHZ,
    ),
    *(
        Call(Flow.NLB_ENSURE, f"elasticloadbalancing:{method}", Target.TG, (f"elbv2.{method}",))
        for method in ("RegisterTargets", "DeregisterTargets", "ModifyTargetGroup", "DeleteTargetGroup")
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:CreateListener",
        Target.NLB,
        ("elbv2.CreateListener",),
        unless=("listener-tags-on-create",),
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:CreateListener",
        Target.NLB,
        ("elbv2.CreateListener", "listener-tags-on-create"),
        tags=Tags.LB,
        requires=("listener-tags-on-create",),
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:AddTags",
        Target.LISTENER_NEW,
        ("listener-tags-on-create", "elbv2.CreateListener"),
        tags=Tags.LB,
        create_action="CreateListener",
        requires=("listener-tags-on-create",),
        note=ELB_AUTHZ,
    ),
    *(
        Call(
            Flow.NLB_ENSURE,
            f"elasticloadbalancing:{method}",
            Target.LISTENER_UNTAGGED,
            (f"elbv2.{method}",),
            unless=("listener-tags-on-create",),
            note="listeners of these releases carry no tags",
        )
        for method in ("ModifyListener", "DeleteListener")
    ),
    *(
        Call(
            Flow.NLB_ENSURE,
            f"elasticloadbalancing:{method}",
            Target.LISTENER,
            (f"elbv2.{method}",),
            requires=("listener-tags-on-create",),
        )
        for method in ("ModifyListener", "DeleteListener")
    ),
    Call(
        Flow.NLB_ENSURE,
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        Target.NLB,
        ("elbv2.ModifyLoadBalancerAttributes",),
    ),
    *_node_sg_rules(Flow.NLB_ENSURE),
)

NLB_DELETE: tuple[Call, ...] = (
    Call(Flow.NLB_DELETE, "elasticloadbalancing:DescribeLoadBalancers", Target.ANY, ("elbv2.DescribeLoadBalancers",)),
    Call(Flow.NLB_DELETE, "elasticloadbalancing:DescribeTargetGroups", Target.ANY, ("elbv2.DescribeTargetGroups",)),
    Call(Flow.NLB_DELETE, "elasticloadbalancing:DeleteLoadBalancer", Target.NLB, ("elbv2.DeleteLoadBalancer",)),
    Call(Flow.NLB_DELETE, "elasticloadbalancing:DeleteTargetGroup", Target.TG, ("elbv2.DeleteTargetGroup",)),
    Call(Flow.NLB_DELETE, "ec2:DescribeSecurityGroups", Target.ANY, ("ec2.DescribeSecurityGroups",)),
    Call(Flow.NLB_DELETE, "ec2:RevokeSecurityGroupIngress", Target.NODE_SG, ("ec2.RevokeSecurityGroupIngress",)),
)

CALLS: tuple[Call, ...] = (*NODE_INIT, *CLB_ENSURE, *CLB_DELETE, *NLB_ENSURE, *NLB_DELETE)


@dataclass(frozen=True)
class ReleaseCall:
    """A row of one release's table: the call and its file:line at the release's tag."""

    call: Call
    tag: str
    commit: str
    lines: tuple[str, ...]

    @property
    def source(self) -> str:
        where = ", ".join(self.lines)
        return f"cloud-provider-aws {self.tag} pkg/providers/v1/ {where}"


@functools.cache
def sources() -> dict[str, Any]:
    data = json.loads(SOURCES_JSON.read_text(encoding="utf-8"))
    if data.get("repository") != REPOSITORY:
        raise ValueError(f"{SOURCES_JSON}: not the locations in {REPOSITORY}")
    return dict(data)


class SourcesOutOfDate(LookupError):
    """ccm_sources.json has no entry for a matrix tag, or a cited locator found nothing there."""


def _tag_entry(tag: str) -> Mapping[str, Any]:
    entry = sources()["tags"].get(tag)
    if entry is None:
        raise SourcesOutOfDate(f"{tag} is not in {SOURCES_JSON.name}: run python -m tools.iam_check.upstream")
    return dict(entry)


def applies(call: Call, located: Mapping[str, list[str]]) -> bool:
    return all(located.get(key) for key in call.requires) and not any(located.get(key) for key in call.unless)


def release_calls(release: Release) -> list[ReleaseCall]:
    """The release's call table: rows that apply at its CCM tag, each with file:line there."""
    entry = _tag_entry(release.ccm_tag)
    located: Mapping[str, list[str]] = entry["locators"]
    rows: list[ReleaseCall] = []
    for call in CALLS:
        if not applies(call, located):
            continue
        lines = [line for key in call.locators for line in located.get(key, [])]
        missing = [key for key in call.locators if not located.get(key)]
        if missing:
            raise SourcesOutOfDate(f"{release.ccm_tag}: {call.flow.value} {call.action}: no code found for {missing}")
        rows.append(ReleaseCall(call, release.ccm_tag, str(entry["commit"]), tuple(dict.fromkeys(lines))))
    return rows


def every_release_calls() -> dict[str, list[ReleaseCall]]:
    return {release.minor: release_calls(release) for release in RELEASES}
