"""IAM documents: the CCM's actions per release, scoped by the cluster tag; SSM read scoped to the cluster."""

from __future__ import annotations

import pytest

from components.render.iam import ccm_policy, ec2_assume_role_policy, node_policy, ssm_read_policy
from components.versions import RELEASES, Release


@pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])
def test_ccm_policy_grants_every_action_and_scopes_mutations(release: Release) -> None:
    statements = {s["Sid"]: s for s in ccm_policy(release, "dev")["Statement"]}
    granted = [a for s in statements.values() for a in s["Action"]]
    assert set(granted) == set(release.ccm_iam_actions.all)
    tagged = statements["CcmClusterResources"]
    assert tagged["Condition"] == {"StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/dev": "owned"}}
    assert "ec2:DeleteSecurityGroup" in tagged["Action"] and "ec2:DescribeInstances" not in tagged["Action"]
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert not any(a.endswith(":*") or a == "*" for a in granted)


@pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])
def test_tagging_is_never_unconditional(release: Release) -> None:
    # An unconditional CreateTags would let the role tag any resource as the cluster's and so
    # unlock DeleteVolume, DeleteSecurityGroup, ... on it.
    statements = ccm_policy(release, "dev")["Statement"]
    for statement in statements:
        if {"ec2:CreateTags", "elasticloadbalancing:AddTags"} & set(statement["Action"]):
            assert statement.get("Condition"), statement["Sid"]
    on_create = {s["Action"][0]: s["Condition"]["StringEquals"] for s in statements if "TagOnCreate" in s["Sid"]}
    assert on_create == {
        "ec2:CreateTags": {"ec2:CreateAction": ["CreateSecurityGroup", "CreateVolume"]},
        "elasticloadbalancing:AddTags": {
            "elasticloadbalancing:CreateAction": ["CreateLoadBalancer", "CreateTargetGroup"]
        },
    }


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
