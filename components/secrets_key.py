"""ClusterSecretsKey: the customer-managed KMS key that encrypts the cluster's SSM SecureStrings.

With the account's default `aws/ssm` key, SSM decrypts a SecureString for anyone its IAM lets
read the parameter. This key's policy (components/render/secrets_access.py) decides instead:
the control-plane role decrypts its PKI parameters and the join token, the worker role the join
token, the rest of the account (the deployer) writes and reads them through SSM, and no node role
does anything else with the key.

`pulumi destroy` deletes the parameters first (they depend on the key), then the alias, then
schedules the key's deletion: it stays `PendingDeletion` for DELETION_WINDOW_DAYS (README, "Who
can read the cluster's keys").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.render.secrets_access import ParameterScope, secrets_key_policy
from components.tags import cluster_tags

DELETION_WINDOW_DAYS = 7
"""KMS's minimum (7-30): a destroyed cluster's key is gone a week later; until then
`aws kms cancel-key-deletion` brings it back."""


@dataclass(frozen=True)
class ClusterSecretsKeyArgs:
    cluster_name: str
    region: str
    ssm_prefix: str
    alias: str
    """`alias/<project>/<cluster>`."""
    control_plane_role_arn: pulumi.Input[str]
    worker_role_arn: pulumi.Input[str]


def _policy_json(values: list[str], args: ClusterSecretsKeyArgs) -> str:
    partition, dns_suffix, account_id, control_plane_role_arn, worker_role_arn = values
    scope = ParameterScope(partition, args.region, account_id, args.ssm_prefix, dns_suffix)
    return json.dumps(secrets_key_policy(scope, control_plane_role_arn, worker_role_arn), sort_keys=True)


class ClusterSecretsKey(pulumi.ComponentResource):
    key: aws.kms.Key
    """Every SecureString parameter of the cluster names it (`key_id`); nodes boot after it."""
    alias: aws.kms.Alias
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterSecretsKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:secrets:ClusterSecretsKey", name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        policy = pulumi.Output.all(
            partition.partition, partition.dns_suffix, account_id, args.control_plane_role_arn, args.worker_role_arn
        ).apply(lambda values: _policy_json(values, args))

        self.key = aws.kms.Key(
            f"{name}-secrets",
            description=f"{args.cluster_name}: SSM SecureStrings below {args.ssm_prefix} (PKI keys, join token)",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=policy,
            tags=cluster_tags(args.cluster_name, f"{name}-secrets"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alias = aws.kms.Alias(
            f"{name}-secrets",
            name=args.alias,
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = self.key.arn
        self.register_outputs({"keyArn": self.key.arn, "alias": self.alias.name})
