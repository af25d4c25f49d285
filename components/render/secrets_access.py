"""Who may read the cluster's secrets, as pure policy documents.

The private keys and the join token are SSM SecureString parameters encrypted with the
cluster's own KMS key (components/secrets_key.py). Reading one takes both an IAM allow of
`ssm:GetParameter` on the parameter and a key policy allow of `kms:Decrypt`, which SSM asks
for with the caller's identity, `kms:ViaService = ssm.<region>.<dns suffix>` and the encryption
context `PARAMETER_ARN = <the parameter's ARN>` (AWS docs, "How AWS Systems Manager Parameter
Store uses AWS KMS"; docs/reference/aws.md). So:

- `ssm_read_policy`: a node role's IAM read of its own cluster's parameters only;
- `ssm_agent_policy`: what the SSM agent needs for Session Manager and Run Command -
  AmazonSSMManagedInstanceCore without its `ssm:GetParameter(s)` on `*`;
- `secrets_key_policy`: the key policy - the account administers the key and uses it through
  SSM, except the cluster's node roles, which may only decrypt the parameters they boot from.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.pki_layout import bootstrap_token_parameter
from components.render.policy_document import VERSION, PolicyDocument, allow

SSM_READ_ACTIONS = ("ssm:GetParameter", "ssm:GetParameters")
# AmazonSSMManagedInstanceCore (docs/reference/aws.md) minus SSM_READ_ACTIONS: the agent's
# registration, associations (Run Command documents), inventory and patching reports ...
SSM_AGENT_ACTIONS: tuple[str, ...] = (
    "ssm:DescribeAssociation",
    "ssm:DescribeDocument",
    "ssm:GetDeployablePatchSnapshotForInstance",
    "ssm:GetDocument",
    "ssm:GetManifest",
    "ssm:ListAssociations",
    "ssm:ListInstanceAssociations",
    "ssm:PutComplianceItems",
    "ssm:PutConfigurePackageResult",
    "ssm:PutInventory",
    "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus",
    "ssm:UpdateInstanceInformation",
)
# ... the Session Manager channels ...
SESSION_MANAGER_ACTIONS: tuple[str, ...] = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
# ... and the Run Command message queue.
RUN_COMMAND_ACTIONS: tuple[str, ...] = (
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)
# The key administrators' actions of the AWS console's default key policy: manage, never use.
KEY_ADMIN_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
)
# What SSM asks KMS for when a principal writes (Encrypt; GenerateDataKey for advanced
# parameters) or reads with decryption (Decrypt) a SecureString.
KEY_USE_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
PARAMETER_ARN_CONTEXT = "kms:EncryptionContext:PARAMETER_ARN"


@dataclass(frozen=True)
class ParameterScope:
    """Where the cluster's parameters live: partition, region, account and the cluster's path."""

    partition: str
    region: str
    account_id: str
    ssm_prefix: str
    dns_suffix: str = "amazonaws.com"
    """The partition's DNS suffix (amazonaws.com.cn in China): part of SSM's service name."""

    def parameter_arn(self, name: str) -> str:
        return ssm_parameter_arn(self.partition, self.region, self.account_id, name)

    @property
    def token_arn(self) -> str:
        return self.parameter_arn(bootstrap_token_parameter(self.ssm_prefix))

    @property
    def pki_arns(self) -> str:
        """Every PKI parameter of the cluster (an ARN pattern)."""
        return self.parameter_arn(f"{self.ssm_prefix}/pki/*")

    @property
    def ssm_service(self) -> str:
        """The `kms:ViaService` value of calls SSM makes for a principal in this region."""
        return f"ssm.{self.region}.{self.dns_suffix}"

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"


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
    return {"Version": VERSION, "Statement": [allow("ReadOwnClusterParameters", SSM_READ_ACTIONS, arns)]}


def ssm_agent_policy() -> PolicyDocument:
    """Session Manager and Run Command for a node without reading any parameter."""
    return {
        "Version": VERSION,
        "Statement": [
            allow("SsmAgent", SSM_AGENT_ACTIONS),
            allow("SessionManagerChannels", SESSION_MANAGER_ACTIONS),
            allow("RunCommandMessages", RUN_COMMAND_ACTIONS),
        ],
    }


def secrets_key_policy(scope: ParameterScope, control_plane_role_arn: str, worker_role_arn: str) -> PolicyDocument:
    """The cluster key's policy: who may decrypt which of the cluster's parameters.

    - account principals (IAM-delegated: the deployer, whose Pulumi provider writes the
      parameters and reads them back on refresh) administer the key and use it through SSM;
      the cluster's node roles are excluded from both, whatever their IAM policies say;
    - the control-plane role decrypts, through SSM, its PKI parameters and the join token;
    - the worker role decrypts, through SSM, the join token only.
    """
    not_nodes = {"ArnNotEquals": {"aws:PrincipalArn": [control_plane_role_arn, worker_role_arn]}}
    through_ssm = {"kms:ViaService": scope.ssm_service}
    account = {"AWS": scope.account_root}
    return {
        "Version": VERSION,
        "Statement": [
            allow("AccountAdministersKey", KEY_ADMIN_ACTIONS, Principal=account, Condition=not_nodes),
            allow(
                "AccountUsesKeyThroughSsm",
                KEY_USE_ACTIONS,
                Principal=account,
                Condition={**not_nodes, "StringEquals": through_ssm},
            ),
            allow(
                "ControlPlaneDecryptsPkiAndToken",
                ("kms:Decrypt",),
                Principal={"AWS": control_plane_role_arn},
                Condition={
                    "StringEquals": through_ssm,
                    "StringLike": {PARAMETER_ARN_CONTEXT: [scope.pki_arns, scope.token_arn]},
                },
            ),
            allow(
                "WorkersDecryptToken",
                ("kms:Decrypt",),
                Principal={"AWS": worker_role_arn},
                Condition={"StringEquals": {**through_ssm, PARAMETER_ARN_CONTEXT: scope.token_arn}},
            ),
        ],
    }
