"""IAM: no policy of the stack grants every action on every resource."""

from __future__ import annotations

import json
from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from policies.base import resource_policy
from policies.props import as_dict, as_list, is_unknown, plain, text

POLICY_DOCUMENT_TYPES: Final = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENT_TYPES: Final = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ADMINISTRATOR_ACCESS: Final = "arn:aws:iam::aws:policy/AdministratorAccess"


def policy_document(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and not is_unknown(value):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def one_or_many(value: Any) -> list[Any]:
    """IAM JSON allows a single value where a list is expected."""
    return as_list(value) if isinstance(value, list) else [value]


def admin_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Allow statements whose actions include `*` on resource `*`."""
    return [
        statement
        for statement in map(as_dict, one_or_many(document.get("Statement")))
        if statement.get("Effect") == "Allow"
        and "*" in one_or_many(statement.get("Action"))
        and "*" in one_or_many(statement.get("Resource"))
    ]


def validate_no_admin_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    if args.resource_type in ATTACHMENT_TYPES and text(props.get("policyArn")) == ADMINISTRATOR_ACCESS:
        report(
            f"'{args.name}' attaches AdministratorAccess: attach the node role's own least-privilege "
            "policies (components/render/iam.py).",
            None,
        )
    document = policy_document(props.get("policy")) if args.resource_type in POLICY_DOCUMENT_TYPES else None
    if document is not None and admin_statements(document):
        report(
            f'\'{args.name}\' allows every action on every resource (Action "*", Resource "*"): list the '
            "actions the CCM and the nodes need (components/versions.py CCM IAM actions).",
            None,
        )


POLICIES: Final = [
    resource_policy(
        "iam-no-admin-access",
        "No IAM policy or attachment grants every action on every resource.",
        validate_no_admin_access,
        severity=Severity.CRITICAL,
        remediation="Grant the release's CCM actions and the node actions only (components/render/iam.py).",
    ),
]
