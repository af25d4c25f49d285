"""IAM documents: the CCM's actions per release, scoped by the cluster tag; SSM read scoped to the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from components.release_facts import CCM_TARGET_GROUP_ATTRIBUTE_READS
from components.render.iam import AwsScope, ccm_policy, ec2_assume_role_policy, node_policy
from components.render.secrets_access import ssm_read_policy
from components.versions import RELEASES, Release, Version
from tools.iam_check.ccm_calls import every_release_calls

SCOPE = AwsScope(partition="aws", region="us-east-1", account_id="123456789012", vpc_id="vpc-0abc")
VPC_ARN = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0abc"
CLUSTER_TAG = "kubernetes.io/cluster/dev"
rows = pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])


def statements_of(release: Release) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in ccm_policy(release, "dev", SCOPE)["Statement"]}


def ccm_tags_on_create_from_1_23(release: Release) -> bool:
    """docs/reference/ccm-aws-calls.md: security groups, target groups and listeners are tagged in
    their create call from CCM v1.23.0 (commits 551de69d, 620e81ca); before, in a second call."""
    return Version.parse(release.ccm_tag) >= Version(1, 23)


@rows
def test_ccm_policy_grants_every_action_and_scopes_mutations(release: Release) -> None:
    statements = statements_of(release)
    granted = [a for s in statements.values() for a in s["Action"]]
    assert set(granted) == set(release.ccm_iam_actions.all)
    tagged = statements["CcmClusterResources"]
    assert tagged["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": "owned"}}
    assert "ec2:DeleteSecurityGroup" in tagged["Action"] and "ec2:DescribeInstances" not in tagged["Action"]
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert not any(a.endswith(":*") or a == "*" for a in granted)


@rows
def test_security_groups_are_created_only_in_the_cluster_vpc(release: Release) -> None:
    statements = statements_of(release)
    create = statements["CcmCreateSecurityGroupInClusterVpc"]
    assert create["Action"] == ["ec2:CreateSecurityGroup"]
    assert create["Resource"] == ["arn:aws:ec2:us-east-1:123456789012:security-group/*", VPC_ARN]
    assert [s["Sid"] for s in statements.values() if "ec2:CreateSecurityGroup" in s["Action"]] == [
        "CcmCreateSecurityGroupInClusterVpc"
    ]


@rows
def test_load_balancers_and_target_groups_are_created_only_under_the_ccm_names(release: Release) -> None:
    statements = statements_of(release)
    elb = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
    assert statements["CcmCreateLoadBalancers"]["Resource"] == [
        f"{elb}:loadbalancer/a*",
        f"{elb}:loadbalancer/net/a*/*",
    ]
    assert statements["CcmCreateTargetGroups"]["Resource"] == f"{elb}:targetgroup/k8s-*/*"


@rows
def test_the_service_linked_role_is_only_the_load_balancers(release: Release) -> None:
    statement = statements_of(release)["CcmElbServiceLinkedRole"]
    assert statement["Action"] == ["iam:CreateServiceLinkedRole"]
    assert statement["Resource"] == (
        "arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    )
    assert statement["Condition"] == {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}


@rows
def test_tagging_is_never_unconditional(release: Release) -> None:
    # An unconditional CreateTags would let the role tag any resource as the cluster's and so
    # unlock DeleteSecurityGroup, DeleteLoadBalancer, ... on it.
    for statement in statements_of(release).values():
        if {"ec2:CreateTags", "elasticloadbalancing:AddTags"} & set(statement["Action"]):
            assert statement.get("Condition"), statement["Sid"]


@rows
def test_tag_on_create_names_exactly_the_calls_that_carry_tags(release: Release) -> None:
    on_create = {
        s["Action"][0]: s["Condition"]["StringEquals"]
        for s in statements_of(release).values()
        if "TagOnCreate" in s["Sid"]
    }
    expected: dict[str, Any] = {
        "elasticloadbalancing:AddTags": {"elasticloadbalancing:CreateAction": ["CreateLoadBalancer"]}
    }
    if ccm_tags_on_create_from_1_23(release):
        expected = {
            "ec2:CreateTags": {"ec2:CreateAction": ["CreateSecurityGroup"]},
            "elasticloadbalancing:AddTags": {
                "elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup", "CreateListener"]
            },
        }
    assert on_create == expected


@rows
def test_a_standalone_create_tags_may_only_claim_a_security_group_of_the_cluster_vpc(release: Release) -> None:
    # readRepairClusterTags adds the missing cluster tag in every release; before 1.23 it is also
    # how a new ELB security group gets its tags.
    claim = statements_of(release)["CcmClaimSecurityGroupInClusterVpc"]
    assert claim["Action"] == ["ec2:CreateTags"]
    assert claim["Resource"] == "arn:aws:ec2:us-east-1:123456789012:security-group/*"
    assert claim["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": "owned"},
        "ArnEquals": {"ec2:Vpc": VPC_ARN},
        "ForAllValues:StringEquals": {"aws:TagKeys": [CLUSTER_TAG]},
    }


@rows
def test_new_target_groups_are_tagged_separately_only_before_1_23(release: Release) -> None:
    statement = statements_of(release).get("CcmTagNewTargetGroups")
    if ccm_tags_on_create_from_1_23(release):
        assert statement is None
        return
    assert statement is not None
    assert statement["Resource"] == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/k8s-*/*"
    assert statement["Condition"] == {
        "StringEquals": {f"aws:RequestTag/{CLUSTER_TAG}": "owned"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [CLUSTER_TAG, "kubernetes.io/service-name"]},
        # Not a group another CCM or the AWS Load Balancer Controller has tagged (both name theirs k8s-*).
        "Null": {"aws:ResourceTag/kubernetes.io/service-name": "true", "aws:ResourceTag/elbv2.k8s.aws/cluster": "true"},
    }


@rows
def test_untagged_listeners_of_old_releases_are_reachable_only_by_the_ccm_load_balancer_names(release: Release) -> None:
    statement = statements_of(release).get("CcmUntaggedListenersOfItsLoadBalancers")
    if ccm_tags_on_create_from_1_23(release):
        assert statement is None
        return
    assert statement is not None
    assert statement["Action"] == ["elasticloadbalancing:DeleteListener", "elasticloadbalancing:ModifyListener"]
    assert statement["Resource"] == "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/a*/*/*"


@rows
def test_target_group_attributes_only_for_ccm_releases_that_honour_the_annotation(release: Release) -> None:
    # Backported to v1.32.6, v1.33.3, v1.34.2; in v1.35.0 on (docs/reference/ccm-aws-calls.md).
    first = {"1.32": Version(1, 32, 6), "1.33": Version(1, 33, 3), "1.34": Version(1, 34, 2)}
    ccm = Version.parse(release.ccm_tag)
    expected = ccm >= Version(1, 35) or (release.minor in first and ccm >= first[release.minor])
    actions = release.ccm_iam_actions
    assert ("elasticloadbalancing:DescribeTargetGroupAttributes" in actions.read) is expected
    assert ("elasticloadbalancing:ModifyTargetGroupAttributes" in actions.cluster_tagged) is expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("v1.31.9", False),
        ("v1.32.5", False),
        ("v1.32.6", True),
        ("v1.34.1", False),
        ("v1.34.2", True),
        ("v1.35.0", True),
    ],
)
def test_backported_facts_hold_from_the_first_patch_of_each_minor(tag: str, expected: bool) -> None:
    (fact,) = CCM_TARGET_GROUP_ATTRIBUTE_READS
    assert fact.holds_for(Version.parse(tag)) is expected


def test_ssm_read_is_limited_to_the_cluster_path() -> None:
    control = ssm_read_policy("aws", "us-east-1", "123456789012", "/k8s-dualstack-aws/dev", control_plane=True)
    worker = ssm_read_policy("aws", "us-east-1", "123456789012", "/k8s-dualstack-aws/dev", control_plane=False)
    prefix = "arn:aws:ssm:us-east-1:123456789012:parameter/k8s-dualstack-aws/dev/"
    assert control["Statement"][0]["Resource"] == [prefix + "bootstrap/token", prefix + "pki/*"]
    assert worker["Statement"][0]["Resource"] == [prefix + "bootstrap/token"]
    assert worker["Statement"][0]["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]


def test_node_policy_and_trust() -> None:
    assert "ecr:BatchGetImage" in node_policy()["Statement"][0]["Action"]
    assert ec2_assume_role_policy()["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


# Calls only a Service annotation triggers, which the flows of tools/iam_check/ccm_calls.py leave out
# (docs/reference/ccm-aws-calls.md; v1.21.3 aws_loadbalancer.go:1455-1544 for the classic policies).
ANNOTATION_DRIVEN = {
    "elasticloadbalancing:CreateLoadBalancerPolicy": "aws-load-balancer-proxy-protocol / ssl-negotiation-policy",
    "elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer": "aws-load-balancer-proxy-protocol",
    "elasticloadbalancing:DescribeLoadBalancerPolicies": "aws-load-balancer-ssl-negotiation-policy",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener": "aws-load-balancer-ssl-negotiation-policy",
    "elasticloadbalancing:DescribeTargetGroupAttributes": "aws-load-balancer-target-group-attributes",
    "elasticloadbalancing:ModifyTargetGroupAttributes": "aws-load-balancer-target-group-attributes",
}


@rows
def test_every_granted_action_is_one_the_ccm_of_the_release_calls(release: Release) -> None:
    """Granted = what the upstream code at the matrix tag calls, plus annotation-only calls."""
    called = {row.call.action for row in every_release_calls()[release.minor]}
    granted = set(release.ccm_iam_actions.all)
    assert called <= granted, sorted(called - granted)
    assert granted - called <= set(ANNOTATION_DRIVEN), sorted(granted - called - set(ANNOTATION_DRIVEN))
