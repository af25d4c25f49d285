"""tools/iam_sim/simulate.mjs on hand-written requests whose answers AWS documents.

Sources: IAM User Guide, "Policy evaluation logic" (an explicit deny overrides any allow; no allow
is an implicit deny), "IAM JSON policy elements: Condition operators" (a negated operator matches
when the key is absent, ...IfExists matches an absent key, Null tests presence, the set
operators ForAllValues/ForAnyValue), and the KMS Developer Guide, "Key policies" (identity policies
count for a KMS key only when its key policy allows the account; a key policy may grant a role
directly). The simulator must answer errors for a request it cannot evaluate, never a denial.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

import pytest

from tools.iam_check.model import ContextValue, Decision, NamedPolicy, Request, SimResult, Simulation
from tools.iam_check.runner import SimulatorSession, ensure_installed, simulate

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/node"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/node/i-0123456789abcdef0"
SG = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123456789abcdef0"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PARAMETER = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/k8s/pki/ca.key"
TARGET_GROUP = (
    f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/k8s-default-web-1f2e3d4c5b/73e2d6bc24d8a067"
)
TAG = "aws:ResourceTag/kubernetes.io/cluster/dev"


@pytest.fixture(scope="session", autouse=True)
def simulator() -> str:
    """node is required; the simulator is installed through the Makefile stamp when missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return ensure_installed()


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def run(
    action: str,
    resource: str,
    statements: list[dict[str, Any]],
    context: Mapping[str, ContextValue] | None = None,
    *,
    resource_policy: dict[str, Any] | None = None,
    data_gap: str | None = None,
    keep: tuple[str, ...] = (),
) -> SimResult:
    identity = (NamedPolicy("identity", policy(*statements)),) if statements else ()
    simulation = Simulation(
        "case",
        Request(SESSION, action, resource, ACCOUNT, dict(context or {})),
        identity,
        resource_policy,
        data_gap,
        keep,
        "test" if keep else "",
    )
    return simulate([simulation])[0]


TAGGED_DELETE = allow("ec2:DeleteSecurityGroup", Condition={"StringEquals": {TAG: "owned"}})


@pytest.mark.parametrize(
    ("statement", "context", "expected"),
    [
        (TAGGED_DELETE, {TAG: "owned"}, Decision.ALLOWED),
        (TAGGED_DELETE, {TAG: "shared"}, Decision.IMPLICITLY_DENIED),
        (TAGGED_DELETE, {}, Decision.IMPLICITLY_DENIED),  # a missing key does not match
        # A negated operator matches when the key is absent.
        (
            allow("ec2:DeleteSecurityGroup", Condition={"StringNotEquals": {TAG: "owned"}}),
            {},
            Decision.ALLOWED,
        ),
        (
            allow("ec2:DeleteSecurityGroup", Condition={"StringEqualsIfExists": {TAG: "owned"}}),
            {},
            Decision.ALLOWED,
        ),
        (allow("ec2:DeleteSecurityGroup", Condition={"Null": {TAG: "false"}}), {}, Decision.IMPLICITLY_DENIED),
        (allow("ec2:DeleteSecurityGroup", Condition={"Null": {TAG: "false"}}), {TAG: "x"}, Decision.ALLOWED),
        (allow("ec2:DeleteSecurityGroup", Condition={"StringLike": {TAG: "own*"}}), {TAG: "owned"}, Decision.ALLOWED),
        (
            allow("ec2:DeleteSecurityGroup", Condition={"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:us-east-1:*:vpc/vpc-1"}}),
            {"ec2:Vpc": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-2"},
            Decision.IMPLICITLY_DENIED,
        ),
        (
            allow("ec2:DeleteSecurityGroup", Condition={"ArnLike": {"ec2:Vpc": "arn:aws:ec2:us-east-1:*:vpc/vpc-1"}}),
            {"ec2:Vpc": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"},
            Decision.ALLOWED,
        ),
        # A resource pattern that does not match the request's ARN.
        (allow("ec2:DeleteSecurityGroup", f"{SG[:-1]}9"), {}, Decision.IMPLICITLY_DENIED),
    ],
)
def test_condition_operators(statement: dict[str, Any], context: dict[str, ContextValue], expected: Decision) -> None:
    result = run("ec2:DeleteSecurityGroup", SG, [statement], context)
    assert result.errors is None
    assert result.decision is expected, result.explanation


CLAIM = allow(
    "ec2:CreateTags",
    Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["kubernetes.io/cluster/dev"]}},
)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("kubernetes.io/cluster/dev",), Decision.ALLOWED),
        (("kubernetes.io/cluster/dev", "team"), Decision.IMPLICITLY_DENIED),
    ],
)
def test_for_all_values_limits_the_tag_keys(keys: tuple[str, ...], expected: Decision) -> None:
    assert run("ec2:CreateTags", SG, [CLAIM], {"aws:TagKeys": keys}).decision is expected


def test_for_any_value_needs_one_of_the_keys() -> None:
    statement = allow("ec2:CreateTags", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}})
    assert run("ec2:CreateTags", SG, [statement], {"aws:TagKeys": ("a", "team")}).decision is Decision.ALLOWED
    assert run("ec2:CreateTags", SG, [statement], {"aws:TagKeys": ("a",)}).decision is Decision.IMPLICITLY_DENIED


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Effect": "Deny", "Action": "ec2:*", "Resource": SG, "Sid": "NoTouch"}
    result = run("ec2:DeleteSecurityGroup", SG, [allow("ec2:DeleteSecurityGroup"), deny])
    assert result.decision is Decision.EXPLICITLY_DENIED
    assert any("NoTouch" in line for line in result.explanation)


def test_the_explanation_names_the_allowing_statement() -> None:
    result = run("ec2:DescribeInstances", "*", [allow("ec2:Describe*", Sid="Reads")])
    assert result.decision is Decision.ALLOWED
    assert result.explanation == ("allowed by identity policy identity, Sid Reads",)


ROOT_DELEGATION = {
    "Sid": "Account",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def role_grant(**condition: Any) -> dict[str, Any]:
    grant: dict[str, Any] = {
        "Sid": "Role",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    return {**grant, "Condition": condition} if condition else grant


@pytest.mark.parametrize(
    ("identity", "key_policy", "expected"),
    [
        # The key policy grants the role: no identity policy needed.
        ([], policy(role_grant()), Decision.ALLOWED),
        # The key policy lets the account's IAM policies decide: the identity policy grants.
        ([allow("kms:Decrypt", KEY)], policy(ROOT_DELEGATION), Decision.ALLOWED),
        # ... and without one nothing grants.
        ([], policy(ROOT_DELEGATION), Decision.IMPLICITLY_DENIED),
        # An identity policy alone cannot use a key whose policy does not delegate to the account.
        (
            [allow("kms:Decrypt", KEY)],
            policy(ROOT_DELEGATION | {"Principal": {"AWS": "arn:aws:iam::111122223333:root"}}),
            Decision.IMPLICITLY_DENIED,
        ),
    ],
)
def test_a_kms_key_policy_and_identity_policies(
    identity: list[dict[str, Any]], key_policy: dict[str, Any], expected: Decision
) -> None:
    result = run(
        "kms:Decrypt", KEY, identity, {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}, resource_policy=key_policy
    )
    assert result.errors is None
    assert result.decision is expected, result.explanation


CONTEXT_ARN = "kms:EncryptionContext:PARAMETER_ARN"


@pytest.mark.parametrize(
    ("parameter", "expected"), [(PARAMETER, Decision.ALLOWED), (PARAMETER + "x", Decision.IMPLICITLY_DENIED)]
)
def test_the_encryption_context_condition_is_kept_and_judged(parameter: str, expected: Decision) -> None:
    key_policy = policy(
        role_grant(StringEquals={CONTEXT_ARN: PARAMETER, "kms:ViaService": "ssm.us-east-1.amazonaws.com"})
    )
    context = {CONTEXT_ARN: parameter, "kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    result = run("kms:Decrypt", KEY, [], context, resource_policy=key_policy, keep=(CONTEXT_ARN,))
    assert result.decision is expected, result.explanation
    assert result.unvalidated and CONTEXT_ARN in result.unvalidated


def test_without_keeping_it_the_simulator_drops_the_encryption_context_key() -> None:
    """Why `keep` exists: iam-simulate 0.1.173 does not know kms:EncryptionContext:<key> keys."""
    key_policy = policy(role_grant(StringEquals={CONTEXT_ARN: PARAMETER}))
    result = run("kms:Decrypt", KEY, [], {CONTEXT_ARN: PARAMETER}, resource_policy=key_policy)
    assert CONTEXT_ARN in result.ignored_context_keys
    assert result.decision is Decision.IMPLICITLY_DENIED and result.unvalidated is None


@pytest.mark.parametrize(
    ("action", "resource", "statements", "message"),
    [
        ("ec2:NoSuchAction", "*", [allow("ec2:*")], "invalid.action"),
        ("nosuchservice:Describe", "*", [allow("*")], "invalid.service"),
        ("ec2:DeleteSecurityGroup", KEY, [allow("ec2:*")], "no.resource.types"),  # not a security group ARN
        ("ec2:DescribeInstances", SG, [allow("ec2:*")], "must.use.wildcard"),
        ("ec2:DeleteSecurityGroup", "*", [allow("ec2:*")], "wildcard.resource.for.action.with.resource.types"),
        ("ec2:DeleteSecurityGroup", SG, [{"Effect": "Maybe", "Action": "ec2:*", "Resource": "*"}], "policy.errors"),
    ],
)
def test_a_request_the_simulator_cannot_evaluate_is_an_error_not_a_denial(
    action: str, resource: str, statements: list[dict[str, Any]], message: str
) -> None:
    result = run(action, resource, statements)
    assert result.decision is None
    assert result.errors["message"] == message


def test_a_declared_data_gap_is_evaluated_without_resource_type_validation_and_says_so() -> None:
    statement = allow(
        "elasticloadbalancing:AddTags",
        Condition={"StringEquals": {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}},
    )
    context = {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}
    undeclared = run("elasticloadbalancing:AddTags", TARGET_GROUP, [statement], context)
    assert undeclared.decision is None and undeclared.errors["message"] == "no.resource.types"
    declared = run("elasticloadbalancing:AddTags", TARGET_GROUP, [statement], context, data_gap="v2 types missing")
    assert declared.decision is Decision.ALLOWED and declared.unvalidated and "v2 types missing" in declared.unvalidated
    other = run(
        "elasticloadbalancing:AddTags",
        TARGET_GROUP,
        [statement],
        {"elasticloadbalancing:CreateAction": "X"},
        data_gap="gap",
    )
    assert other.decision is Decision.IMPLICITLY_DENIED
    classic = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/a1"
    unused = run("elasticloadbalancing:AddTags", classic, [allow("elasticloadbalancing:AddTags")], data_gap="gap")
    assert unused.decision is Decision.ALLOWED and unused.data_gap_unused and unused.unvalidated is None


def test_one_batch_answers_every_simulation_in_order() -> None:
    simulations = [
        Simulation(
            f"s{i}",
            Request(SESSION, action, "*", ACCOUNT, {}),
            (NamedPolicy("p", policy(allow("ec2:DescribeInstances"))),),
        )
        for i, action in enumerate(["ec2:DescribeInstances", "ec2:DescribeRegions", "ec2:Bogus"] * 20)
    ]
    results = simulate(simulations)
    assert [r.id for r in results] == [s.id for s in simulations]
    assert [r.decision for r in results[:3]] == [Decision.ALLOWED, Decision.IMPLICITLY_DENIED, None]


def test_line_mode_answers_like_the_batch_one_at_a_time() -> None:
    """The long-lived session (simulate.mjs --lines) gives the batch's results, request by request,
    including the data-gap path and an error for an unknown action."""
    tagged = {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateTargetGroup"}}
    simulations = [
        Simulation(
            "allowed",
            Request(SESSION, "ec2:DescribeInstances", "*", ACCOUNT, {}),
            (NamedPolicy("p", policy(allow("ec2:DescribeInstances"))),),
        ),
        Simulation(
            "denied",
            Request(SESSION, "ec2:DeleteSecurityGroup", SG, ACCOUNT, {TAG: "shared"}),
            (NamedPolicy("p", policy(TAGGED_DELETE)),),
        ),
        Simulation(
            "unknown", Request(SESSION, "ec2:Bogus", "*", ACCOUNT, {}), (NamedPolicy("p", policy(allow("ec2:*"))),)
        ),
        Simulation(
            "gap",
            Request(
                SESSION,
                "elasticloadbalancing:AddTags",
                TARGET_GROUP,
                ACCOUNT,
                {"elasticloadbalancing:CreateAction": "CreateTargetGroup"},
            ),
            (NamedPolicy("p", policy(allow("elasticloadbalancing:AddTags", Condition=tagged))),),
            data_gap="v2 types missing",
        ),
    ]
    batch = simulate(simulations)
    with SimulatorSession() as session:
        one_by_one = [session.simulate_one(simulation) for simulation in simulations]
        again = session.simulate_one(simulations[0])
    assert one_by_one == batch
    assert [r.decision for r in one_by_one] == [Decision.ALLOWED, Decision.IMPLICITLY_DENIED, None, Decision.ALLOWED]
    assert again == batch[0]
