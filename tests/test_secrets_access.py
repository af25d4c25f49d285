"""Who may read the cluster's secrets (components/render/secrets_access.py): the KMS key policy's
statements and conditions, concretely; the SSM agent policy = AmazonSSMManagedInstanceCore minus
its parameter reads (docs/reference/aws.md, and moto's copy of the AWS document).

These check the documents' structure. Whether AWS would evaluate them as intended is the IAM
simulator tier's question, not these tests'.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
from conftest import ROOT

from components.pki_layout import CONTROL_PLANE_FILES, bootstrap_token_parameter
from components.render.secrets_access import (
    KEY_ADMIN_ACTIONS,
    SSM_READ_ACTIONS,
    ParameterScope,
    secrets_key_policy,
    ssm_agent_policy,
)

PREFIX = "/k8s-dualstack-aws/dev"
SCOPE = ParameterScope("aws", "us-east-1", "123456789012", PREFIX)
CONTROL_PLANE = "arn:aws:iam::123456789012:role/dev-control-plane-a81e309"
WORKER = "arn:aws:iam::123456789012:role/dev-worker-c6cc289"
ROOT_PRINCIPAL = {"AWS": "arn:aws:iam::123456789012:root"}
NOT_NODES = {"ArnNotEquals": {"aws:PrincipalArn": [CONTROL_PLANE, WORKER]}}
VIA_SSM = {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter"
TOKEN = f"{PARAMETER}/k8s-dualstack-aws/dev/bootstrap/token"
CONTEXT = "kms:EncryptionContext:PARAMETER_ARN"


def statements(scope: ParameterScope = SCOPE) -> dict[str, dict[str, Any]]:
    document = secrets_key_policy(scope, CONTROL_PLANE, WORKER)
    assert document["Version"] == "2012-10-17"
    by_sid = {statement["Sid"]: statement for statement in document["Statement"]}
    assert len(by_sid) == len(document["Statement"]), "Sids are unique"
    return by_sid


# Every statement of the key policy, exactly: principal, actions, conditions.
EXPECTED_STATEMENTS: dict[str, tuple[dict[str, str], list[str], dict[str, Any]]] = {
    "AccountAdministersKey": (ROOT_PRINCIPAL, sorted(KEY_ADMIN_ACTIONS), NOT_NODES),
    "AccountUsesKeyThroughSsm": (
        ROOT_PRINCIPAL,
        ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        {**NOT_NODES, "StringEquals": VIA_SSM},
    ),
    "ControlPlaneDecryptsPkiAndToken": (
        {"AWS": CONTROL_PLANE},
        ["kms:Decrypt"],
        {"StringEquals": VIA_SSM, "StringLike": {CONTEXT: [f"{PARAMETER}/k8s-dualstack-aws/dev/pki/*", TOKEN]}},
    ),
    "WorkersDecryptToken": ({"AWS": WORKER}, ["kms:Decrypt"], {"StringEquals": {**VIA_SSM, CONTEXT: TOKEN}}),
}


@pytest.mark.parametrize("sid", EXPECTED_STATEMENTS)
def test_key_policy_statement(sid: str) -> None:
    principal, actions, condition = EXPECTED_STATEMENTS[sid]
    statement = statements()[sid]
    assert statement == {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": actions,
        "Resource": "*",
        "Condition": condition,
    }


def test_key_policy_has_exactly_these_statements_and_no_wildcard_grant() -> None:
    by_sid = statements()
    assert set(by_sid) == set(EXPECTED_STATEMENTS)
    for statement in by_sid.values():
        assert statement["Principal"] != "*" and statement["Principal"].get("AWS") != "*"
        assert "kms:*" not in statement["Action"] and "*" not in statement["Action"]
        assert "NotAction" not in statement and "NotPrincipal" not in statement


def test_no_key_administration_action_decrypts() -> None:
    # kms:Get*, kms:Describe*, ... must not match a cryptographic operation (the admin statement
    # is IAM-delegated to the whole account).
    crypto = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo")
    assert not [(a, c) for a in KEY_ADMIN_ACTIONS for c in crypto if fnmatchcase(c.lower(), a.lower())]


def _decrypt_patterns(principal: str) -> list[str]:
    """The PARAMETER_ARN values a node role's Decrypt statements allow (StringEquals or StringLike)."""
    patterns: list[str] = []
    for statement in statements().values():
        if statement["Principal"] != {"AWS": principal}:
            continue
        assert statement["Action"] == ["kms:Decrypt"]
        assert statement["Condition"]["StringEquals"]["kms:ViaService"] == "ssm.us-east-1.amazonaws.com"
        for operator, values in statement["Condition"].items():
            value = values.get(CONTEXT)
            if value is not None:
                assert operator in ("StringEquals", "StringLike")
                patterns += value if isinstance(value, list) else [value]
    return patterns


def _may_decrypt(principal: str, parameter_name: str) -> bool:
    arn = f"{PARAMETER}{parameter_name}"
    return any(fnmatchcase(arn, pattern) for pattern in _decrypt_patterns(principal))


SECRET_PARAMETERS = [f.parameter_name(PREFIX) for f in CONTROL_PLANE_FILES if f.secret]
DECRYPT_CASES = [
    *((name, True, False) for name in SECRET_PARAMETERS),
    (bootstrap_token_parameter(PREFIX), True, True),
    # Other clusters, other applications, names that only start like ours.
    ("/k8s-dualstack-aws/other/pki/ca.key", False, False),
    ("/k8s-dualstack-aws/other/bootstrap/token", False, False),
    ("/k8s-dualstack-aws/dev-2/pki/ca.key", False, False),
    ("/k8s-dualstack-aws/dev/bootstrap/token-old", False, False),
    ("/another-application/database/password", False, False),
]


@pytest.mark.parametrize(("name", "control_plane", "worker"), DECRYPT_CASES, ids=[c[0] for c in DECRYPT_CASES])
def test_which_node_role_may_decrypt_which_parameter(name: str, control_plane: bool, worker: bool) -> None:
    assert _may_decrypt(CONTROL_PLANE, name) is control_plane
    assert _may_decrypt(WORKER, name) is worker


def test_node_roles_appear_only_in_their_decrypt_statements_and_the_exclusions() -> None:
    for role in (CONTROL_PLANE, WORKER):
        for sid, statement in statements().items():
            mentioned = role in json.dumps(statement)
            if statement["Principal"] == {"AWS": role}:
                assert statement["Action"] == ["kms:Decrypt"], sid
            elif statement["Principal"] == ROOT_PRINCIPAL:
                assert role in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"], sid
            else:
                assert not mentioned, sid


def test_other_partitions_name_their_arns_and_ssm_endpoint() -> None:
    china = ParameterScope("aws-cn", "cn-north-1", "123456789012", PREFIX, "amazonaws.com.cn")
    by_sid = statements(china)
    assert by_sid["AccountAdministersKey"]["Principal"] == {"AWS": "arn:aws-cn:iam::123456789012:root"}
    worker = by_sid["WorkersDecryptToken"]["Condition"]["StringEquals"]
    assert worker == {
        "kms:ViaService": "ssm.cn-north-1.amazonaws.com.cn",
        CONTEXT: "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/k8s-dualstack-aws/dev/bootstrap/token",
    }


# -- the SSM agent policy ----------------------------------------------------------------------


def _agent_actions() -> set[str]:
    document = ssm_agent_policy()
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" and "Condition" not in s for s in document["Statement"])
    return {action for statement in document["Statement"] for action in statement["Action"]}


def documented_managed_instance_core() -> set[str]:
    """AmazonSSMManagedInstanceCore's actions as docs/reference/aws.md records them."""
    page = (ROOT / "docs" / "reference" / "aws.md").read_text()
    table = page.split("`AmazonSSMManagedInstanceCore` (AWS managed policy reference", 1)[1]
    rows = re.findall(r"^\| (ssm|ssmmessages|ec2messages) \| (.+) \|$", table, re.MULTILINE)
    assert [service for service, _ in rows] == ["ssm", "ssmmessages", "ec2messages"]
    return {f"{service}:{action}" for service, actions in rows for action in re.findall(r"`(\w+)`", actions)}


def test_ssm_agent_policy_is_the_managed_policy_without_parameter_reads() -> None:
    managed = documented_managed_instance_core()
    assert set(SSM_READ_ACTIONS) <= managed
    assert _agent_actions() == managed - set(SSM_READ_ACTIONS)
    assert not [a for a in _agent_actions() if "*" in a or a.startswith(("ssm:GetParameter", "kms:"))]


def test_the_documented_managed_policy_is_the_aws_document() -> None:
    pytest.importorskip("moto", reason="moto comes with requirements-dev.txt")
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415 - after the skip

    document = json.loads(aws_managed_policies_data)["AmazonSSMManagedInstanceCore"]["Document"]
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in document["Statement"])
    shipped = {action for statement in document["Statement"] for action in statement["Action"]}
    assert shipped == documented_managed_instance_core()
    assert _agent_actions() == shipped - {"ssm:GetParameter", "ssm:GetParameters"}
