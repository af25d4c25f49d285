"""ClusterIdentity: IAM roles and instance profiles of the control plane and the workers."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.firewall import NodeRole
from components.render.iam import AwsScope, ccm_policy, ec2_assume_role_policy, node_policy
from components.render.secrets_access import ssm_agent_policy, ssm_read_policy
from components.tags import cluster_tags
from components.versions import Release


@dataclass(frozen=True)
class ClusterIdentityArgs:
    cluster_name: str
    release: Release
    region: str
    ssm_prefix: str
    vpc_id: pulumi.Input[str]
    """The cluster's VPC: the CCM may create and claim security groups only there."""


def _ccm_policy_json(partition_account_vpc: list[str], args: ClusterIdentityArgs) -> str:
    partition, account_id, vpc_id = partition_account_vpc
    scope = AwsScope(partition=partition, region=args.region, account_id=account_id, vpc_id=vpc_id)
    return json.dumps(ccm_policy(args.release, args.cluster_name, scope), sort_keys=True)


def _ssm_policy_json(partition_and_account: list[str], args: ClusterIdentityArgs, control_plane: bool) -> str:
    partition, account_id = partition_and_account
    document = ssm_read_policy(partition, args.region, account_id, args.ssm_prefix, control_plane=control_plane)
    return json.dumps(document, sort_keys=True)


class ClusterIdentity(pulumi.ComponentResource):
    roles: dict[NodeRole, aws.iam.Role]
    instance_profiles: dict[NodeRole, aws.iam.InstanceProfile]
    """Attach to instances: the control plane's carries the CCM policy of the release."""
    policies: dict[NodeRole, list[aws.iam.RolePolicy]]
    """Inline policies per role: a node's boot reads SSM only once they exist."""

    def __init__(self, name: str, args: ClusterIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:identity:ClusterIdentity", name, None, opts)
        self._name = name
        self._args = args
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        self.roles = {}
        self.instance_profiles = {}
        self.policies = {role: [] for role in NodeRole}
        for role in NodeRole:
            iam_role = self._role(role)
            ssm_policy = pulumi.Output.all(partition, account_id).apply(
                functools.partial(_ssm_policy_json, args=args, control_plane=role is NodeRole.CONTROL_PLANE)
            )
            self._inline_policy(iam_role, role, "ssm-parameters", ssm_policy)
            # Session Manager and Run Command instead of SSH keys (no port 22 anywhere), without the
            # managed AmazonSSMManagedInstanceCore: its ssm:GetParameter(s) on * would read every
            # parameter of the account that the key policy lets this role decrypt.
            self._inline_policy(iam_role, role, "ssm-agent", json.dumps(ssm_agent_policy(), sort_keys=True))
            self.roles[role] = iam_role
            self.instance_profiles[role] = aws.iam.InstanceProfile(
                f"{name}-{role.value}",
                role=iam_role.name,
                tags=cluster_tags(args.cluster_name, f"{name}-{role.value}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self._inline_policy(
            self.roles[NodeRole.CONTROL_PLANE],
            NodeRole.CONTROL_PLANE,
            "cloud-controller-manager",
            pulumi.Output.all(partition, account_id, args.vpc_id).apply(functools.partial(_ccm_policy_json, args=args)),
        )
        # The control plane runs workloads too (the CCM itself pulls images), so both get the node policy.
        for role in NodeRole:
            self._inline_policy(self.roles[role], role, "node", json.dumps(node_policy(), sort_keys=True))

        self.register_outputs(
            {
                "roleArns": {role.value: r.arn for role, r in self.roles.items()},
                "instanceProfileNames": {role.value: p.name for role, p in self.instance_profiles.items()},
            }
        )

    def _role(self, role: NodeRole) -> aws.iam.Role:
        role_name = f"{self._name}-{role.value}"
        iam_role = aws.iam.Role(
            role_name,
            assume_role_policy=json.dumps(ec2_assume_role_policy(), sort_keys=True),
            description=f"{self._args.cluster_name} {role.value} nodes",
            tags=cluster_tags(self._args.cluster_name, role_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return iam_role

    def _inline_policy(self, iam_role: aws.iam.Role, role: NodeRole, purpose: str, document: pulumi.Input[str]) -> None:
        self.policies[role].append(
            aws.iam.RolePolicy(
                f"{self._name}-{role.value}-{purpose}",
                role=iam_role.id,
                policy=document,
                opts=pulumi.ResourceOptions(parent=iam_role),
            )
        )
