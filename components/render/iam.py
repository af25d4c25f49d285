"""IAM policy documents as pure functions of the release row and the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.render.policy_document import VERSION, PolicyDocument, allow
from components.tags import OWNED, cluster_tag_key
from components.versions import NODE_IAM_ACTIONS, SERVICE_NAME_TAG_KEY, Release

# The service's condition key naming the create call that carries a new resource's tags.
CREATE_ACTION_KEY: dict[str, str] = {
    "ec2:CreateTags": "ec2:CreateAction",
    "elasticloadbalancing:AddTags": "elasticloadbalancing:CreateAction",
}
# Tags that mark a target group as someone else's: a CCM's (any cluster) or the AWS Load Balancer Controller's.
FOREIGN_TARGET_GROUP_TAG_KEYS: tuple[str, ...] = (SERVICE_NAME_TAG_KEY, "elbv2.k8s.aws/cluster")
# The only service-linked role the CCM needs: AWS creates it on an account's first load balancer.
ELB_SERVICE_LINKED_ROLE = "elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True)
class AwsScope:
    """Where the cluster lives: what the CCM's resource-level statements name."""

    partition: str
    region: str
    account_id: str
    vpc_id: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    @property
    def vpc_arn(self) -> str:
        return self.arn("ec2", f"vpc/{self.vpc_id}")


def ec2_assume_role_policy() -> PolicyDocument:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }


def ccm_policy(release: Release, cluster_name: str, scope: AwsScope) -> PolicyDocument:
    """docs/prerequisites.md's control-plane policy of this release, least privilege: mutations of
    existing resources only on those carrying the cluster tag, tagging only where this release's CCM
    tags (docs/reference/aws.md, "How CCM releases tag")."""
    actions = release.ccm_iam_actions
    cluster_tag = cluster_tag_key(cluster_name)
    owned = {"StringEquals": {f"aws:ResourceTag/{cluster_tag}": OWNED}}
    statements = [
        allow("CcmDescribe", actions.read),
        # Names the CCM gives what it creates: load balancers `a` + the Service's UID
        # (k8s.io/cloud-provider DefaultLoadBalancerName), target groups `k8s-<ns>-<name>-<hash>`.
        allow(
            "CcmCreateLoadBalancers",
            ("elasticloadbalancing:CreateLoadBalancer",),
            [
                scope.arn("elasticloadbalancing", "loadbalancer/a*"),
                scope.arn("elasticloadbalancing", "loadbalancer/net/a*/*"),
            ],
        ),
        allow(
            "CcmCreateTargetGroups",
            ("elasticloadbalancing:CreateTargetGroup",),
            scope.arn("elasticloadbalancing", "targetgroup/k8s-*/*"),
        ),
        # CreateSecurityGroup is authorized on the new group and on its VPC: only the cluster's VPC.
        allow(
            "CcmCreateSecurityGroupInClusterVpc",
            ("ec2:CreateSecurityGroup",),
            [scope.arn("ec2", "security-group/*"), scope.vpc_arn],
        ),
        allow(
            "CcmElbServiceLinkedRole",
            ("iam:CreateServiceLinkedRole",),
            f"arn:{scope.partition}:iam::{scope.account_id}:role/aws-service-role/{ELB_SERVICE_LINKED_ROLE}/"
            "AWSServiceRoleForElasticLoadBalancing",
            Condition={"StringEquals": {"iam:AWSServiceName": ELB_SERVICE_LINKED_ROLE}},
        ),
        allow("CcmClusterResources", actions.cluster_tagged + actions.tagging, Condition=owned),
        *_tag_on_create_statements(release),
        # readRepairClusterTags (every release) and, before 1.23, the tagging of a new ELB security
        # group: a standalone CreateTags that may only add this cluster's owned tag, on a security
        # group of the cluster's VPC. Anything wider would let the role claim a foreign group and
        # then delete it.
        allow(
            "CcmClaimSecurityGroupInClusterVpc",
            ("ec2:CreateTags",),
            scope.arn("ec2", "security-group/*"),
            Condition={
                "StringEquals": {f"aws:RequestTag/{cluster_tag}": OWNED},
                "ArnEquals": {"ec2:Vpc": scope.vpc_arn},
                "ForAllValues:StringEquals": {"aws:TagKeys": [cluster_tag]},
            },
        ),
    ]
    if release.ccm_tags_new_target_groups_separately:
        # Target groups the CCM names k8s-*, tagged in a second call right after CreateTargetGroup.
        statements.append(
            allow(
                "CcmTagNewTargetGroups",
                ("elasticloadbalancing:AddTags",),
                scope.arn("elasticloadbalancing", "targetgroup/k8s-*/*"),
                Condition={
                    "StringEquals": {f"aws:RequestTag/{cluster_tag}": OWNED},
                    "ForAllValues:StringEquals": {"aws:TagKeys": [cluster_tag, SERVICE_NAME_TAG_KEY]},
                    # Only a group nobody has tagged yet: another cluster's CCM and the AWS Load
                    # Balancer Controller also name theirs k8s-*, and a claimed group could be deleted.
                    "Null": {f"aws:ResourceTag/{key}": "true" for key in FOREIGN_TARGET_GROUP_TAG_KEYS},
                },
            )
        )
    if release.ccm_creates_untagged_listeners:
        statements.append(
            allow(
                "CcmUntaggedListenersOfItsLoadBalancers",
                ("elasticloadbalancing:DeleteListener", "elasticloadbalancing:ModifyListener"),
                scope.arn("elasticloadbalancing", "listener/net/a*/*/*"),
            )
        )
    return {"Version": VERSION, "Statement": statements}


def _tag_on_create_statements(release: Release) -> list[dict[str, Any]]:
    return [
        allow(
            f"CcmTagOnCreate{index}",
            (action,),
            Condition={"StringEquals": {CREATE_ACTION_KEY[action]: list(creators)}},
        )
        for index, (action, creators) in enumerate(sorted(release.ccm_tag_on_create.items()))
        if creators
    ]


def node_policy() -> PolicyDocument:
    return {"Version": VERSION, "Statement": [allow("NodeDescribeAndPull", NODE_IAM_ACTIONS)]}
