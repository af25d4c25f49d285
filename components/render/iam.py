"""IAM policy documents as pure functions of the release row and the cluster."""

from __future__ import annotations

from typing import Any

from components.pki_layout import bootstrap_token_parameter
from components.tags import OWNED, cluster_tag_key
from components.versions import NODE_IAM_ACTIONS, Release

PolicyDocument = dict[str, Any]
VERSION = "2012-10-17"
SSM_READ_ACTIONS = ("ssm:GetParameter", "ssm:GetParameters")
# Tags may also be set by the call that creates the resource (tag-on-create), named by the
# service's CreateAction condition key.
TAG_ON_CREATE: dict[str, tuple[str, tuple[str, ...]]] = {
    "ec2:CreateTags": ("ec2:CreateAction", ("CreateSecurityGroup", "CreateVolume")),
    "elasticloadbalancing:AddTags": ("elasticloadbalancing:CreateAction", ("CreateLoadBalancer", "CreateTargetGroup")),
}


def _statement(sid: str, actions: tuple[str, ...], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource, **extra}


def ec2_assume_role_policy() -> PolicyDocument:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }


def ccm_policy(release: Release, cluster_name: str) -> PolicyDocument:
    """docs/prerequisites.md's control-plane policy of this release, with mutations of existing
    resources narrowed to those carrying the cluster tag."""
    actions = release.ccm_iam_actions
    tag_condition = {"StringEquals": {f"aws:ResourceTag/{cluster_tag_key(cluster_name)}": OWNED}}
    tag_on_create = [
        _statement(f"CcmTagOnCreate{index}", (action,), Condition={"StringEquals": {key: list(creators)}})
        for index, action in enumerate(actions.tagging)
        for key, creators in [TAG_ON_CREATE[action]]
    ]
    return {
        "Version": VERSION,
        "Statement": [
            _statement("CcmDescribe", actions.read),
            _statement("CcmCreate", actions.create),
            _statement("CcmClusterResources", actions.cluster_tagged + actions.tagging, Condition=tag_condition),
            *tag_on_create,
        ],
    }


def node_policy() -> PolicyDocument:
    return {"Version": VERSION, "Statement": [_statement("NodeDescribeAndPull", NODE_IAM_ACTIONS)]}


def ssm_parameter_arn(partition: str, region: str, account_id: str, name: str) -> str:
    # Parameter names start with '/', which the ARN keeps after "parameter".
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter{name}"


def ssm_read_policy(
    partition: str, region: str, account_id: str, ssm_prefix: str, *, control_plane: bool
) -> PolicyDocument:
    """Read access to this cluster's parameters only: PKI for the control plane, the join
    token for every node."""
    names = [bootstrap_token_parameter(ssm_prefix)]
    if control_plane:
        names.append(f"{ssm_prefix}/pki/*")
    arns = [ssm_parameter_arn(partition, region, account_id, name) for name in names]
    return {"Version": VERSION, "Statement": [_statement("ReadOwnClusterParameters", SSM_READ_ACTIONS, arns)]}
