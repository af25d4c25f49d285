"""Secrets in SSM: SecureStrings under the cluster's own KMS key, no role reading every parameter.

A SecureString under the account's default `aws/ssm` key is decrypted by SSM for anyone IAM lets
read it, so only a customer-managed key's policy limits who reads the cluster's private keys
(docs/reference/aws.md, "SSM parameters and KMS"). And a role allowed `ssm:GetParameter` on every
parameter (the managed AmazonSSMManagedInstanceCore does that) reads whatever another key policy
lets it decrypt: the nodes get Session Manager without it (components/render/secrets_access.py).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.aws_iam import ATTACHMENT_TYPES, POLICY_DOCUMENT_TYPES, one_or_many, policy_document
from policies.base import resource_policy
from policies.props import as_dict, as_list, is_unknown, plain, text

SSM_PARAMETER: Final = "aws:ssm/parameter:Parameter"
IAM_ROLE: Final = "aws:iam/role:Role"
DEFAULT_SSM_KEY_ALIAS: Final = "alias/aws/ssm"
PARAMETER_READ_ACTIONS: Final = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath")
# A parameter of some other application: a statement that covers it covers every parameter.
PROBE_PARAMETER: Final = "parameter/another-application/secret"
# AWS-managed policies that allow reading every parameter (checked against moto's copy of the AWS
# documents in tests/test_policies_aws.py): the ones an instance role is given for Session Manager,
# the SSM service roles, and the broad job-function policies.
ACCOUNT_WIDE_PARAMETER_READERS: Final = frozenset(
    {
        "AmazonSSMManagedInstanceCore",
        "AmazonEC2RoleforSSM",
        "AmazonSSMFullAccess",
        "AmazonSSMReadOnlyAccess",
        "AmazonSSMAutomationRole",
        "AmazonSSMMaintenanceWindowRole",
        "AmazonElasticFileSystemsUtils",
        "AdministratorAccess",
        "PowerUserAccess",
        "ReadOnlyAccess",
    }
)


def is_default_ssm_key(key_id: str) -> bool:
    """The account's AWS-managed SSM key, by alias name or alias ARN."""
    key = key_id.strip()
    return key == DEFAULT_SSM_KEY_ALIAS or (key.startswith("arn:") and key.endswith(f":{DEFAULT_SSM_KEY_ALIAS}"))


def validate_secure_parameters_use_cluster_key(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SSM_PARAMETER:
        return
    props = plain(args.props)
    if text(props.get("type")) != "SecureString":
        return  # String / StringList, or unknown: cannot tell
    key = props.get("keyId")
    if is_unknown(key):
        return
    key_id = text(key) or ""
    if not key_id.strip() or is_default_ssm_key(key_id):
        which = "no keyId (the account default alias/aws/ssm)" if not key_id.strip() else f"keyId {key_id!r}"
        report(
            f"SecureString '{args.name}' has {which}: SSM decrypts it for every principal whose IAM lets it "
            "read the parameter. Encrypt it with the cluster's own KMS key (components/secrets_key.py), whose "
            "policy names the roles that may decrypt it.",
            None,
        )


def _matches_probe(pattern: Any) -> bool:
    """Whether an IAM resource pattern covers a parameter of another application (any account)."""
    if not isinstance(pattern, str) or is_unknown(pattern):
        return False
    if pattern == "*":
        return True
    parts = pattern.split(":", 5)
    return len(parts) == 6 and fnmatchcase("ssm", parts[2]) and fnmatchcase(PROBE_PARAMETER, parts[5])


def _allows_a_read(statement: dict[str, Any]) -> bool:
    reads = [action.lower() for action in PARAMETER_READ_ACTIONS]
    if "Action" in statement:
        patterns = [p.lower() for p in one_or_many(statement["Action"]) if isinstance(p, str) and not is_unknown(p)]
        return any(fnmatchcase(read, pattern) for read in reads for pattern in patterns)
    if "NotAction" in statement:
        excluded = [p.lower() for p in one_or_many(statement["NotAction"]) if isinstance(p, str)]
        return any(not any(fnmatchcase(read, pattern) for pattern in excluded) for read in reads)
    return False


def _covers_every_parameter(statement: dict[str, Any]) -> bool:
    if "Resource" in statement:
        return any(_matches_probe(pattern) for pattern in one_or_many(statement["Resource"]))
    if "NotResource" in statement:
        return not any(_matches_probe(pattern) for pattern in one_or_many(statement["NotResource"]))
    return False


def account_wide_parameter_reads(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Allow statements that let a principal read every SSM parameter, whatever their conditions."""
    return [
        statement
        for statement in map(as_dict, one_or_many(document.get("Statement")))
        if statement.get("Effect") == "Allow" and _allows_a_read(statement) and _covers_every_parameter(statement)
    ]


def aws_managed_policy_name(policy_arn: str) -> str | None:
    """`AmazonSSMManagedInstanceCore` of `arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore` (any
    partition or path); None for a customer-managed policy."""
    parts = policy_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or parts[4] != "aws" or not parts[5].startswith("policy/"):
        return None
    return parts[5].rsplit("/", 1)[-1]


def _documents(resource_type: str, props: dict[str, Any]) -> list[Any]:
    if resource_type in POLICY_DOCUMENT_TYPES:
        return [props.get("policy")]
    if resource_type == IAM_ROLE:
        return [as_dict(inline).get("policy") for inline in as_list(props.get("inlinePolicies"))]
    return []


def _policy_arns(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type in ATTACHMENT_TYPES:
        arns = [props.get("policyArn")]
    elif resource_type == IAM_ROLE:
        arns = as_list(props.get("managedPolicyArns"))
    else:
        arns = []
    return [arn for arn in (text(value) for value in arns) if arn]


def validate_no_account_wide_parameter_read(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    for arn in _policy_arns(args.resource_type, props):
        name = aws_managed_policy_name(arn)
        if name in ACCOUNT_WIDE_PARAMETER_READERS:
            report(
                f"'{args.name}' attaches {name}, which allows ssm:GetParameter(s) on every parameter of the "
                "account: a node role gets Session Manager from the SSM agent policy "
                "(components/render/secrets_access.py) and reads only its own cluster's parameters.",
                None,
            )
    for value in _documents(args.resource_type, props):
        document = policy_document(value)
        if document is None:
            continue
        for statement in account_wide_parameter_reads(document):
            sid = f" (statement {statement['Sid']!r})" if isinstance(statement.get("Sid"), str) else ""
            report(
                f"'{args.name}' allows reading every SSM parameter of the account{sid}: name the cluster's "
                "parameter paths (arn:...:parameter/<project>/<cluster>/...) instead of '*'.",
                None,
            )


POLICIES: Final = [
    resource_policy(
        "secure-parameters-use-cluster-key",
        "Every SecureString SSM parameter is encrypted with a customer-managed key, not the account default "
        "alias/aws/ssm.",
        validate_secure_parameters_use_cluster_key,
        severity=Severity.CRITICAL,
        remediation="Pass key_id=<the cluster key's ARN> to every SecureString aws.ssm.Parameter "
        "(components/pki.py, components/secrets_key.py).",
    ),
    resource_policy(
        "no-account-wide-parameter-read",
        "No IAM policy, inline policy or managed-policy attachment lets a role read every SSM parameter "
        "(AmazonSSMManagedInstanceCore and the like).",
        validate_no_account_wide_parameter_read,
        severity=Severity.HIGH,
        remediation="Give node roles the SSM agent policy without parameter reads and a read of their own "
        "cluster's parameter paths (components/render/secrets_access.py).",
    ),
]
