"""parliament's accepted findings (tools/validate/parliament-skips.yaml): each has a one-line
reason, and each reason is still true of every stack's render (a skip whose reason no longer
holds fails here instead of hiding a new finding). With parliament installed (`make validate`
installs it), each skip must also still be needed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import STACKS, RenderGraph

from components.versions import NODE_IAM_ACTIONS
from tools.iam_check.documents import KEY_POLICY, TRUST_POLICY, RenderedPolicy, graph_resources, rendered_policies
from tools.iam_check.managed import managed_policy_document
from tools.iam_check.runner import SIM_DIR
from tools.iam_check.stack_facts import stack_facts
from tools.validate import parliament
from tools.validate.__main__ import STACK_TOOLS, TOOL_ORDER

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
IAM_DATA_ELB = (
    SIM_DIR / "node_modules" / "@cloud-copilot" / "iam-data" / "data" / "actions" / "elasticloadbalancing.json"
)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policies(render_graph: RenderGraph, kind: str) -> list[tuple[str, RenderedPolicy]]:
    return [
        (stack, p)
        for stack in STACKS
        for p in rendered_policies(graph_resources(render_graph(stack)))
        if p.kind == kind
    ]


def key_policies_name_principals_and_the_key(render_graph: RenderGraph) -> None:
    for _, policy in _policies(render_graph, KEY_POLICY):
        for statement in _list(policy.document["Statement"]):
            assert "Principal" in statement and statement["Resource"] == "*", statement


def trust_policies_let_ec2_assume_the_role(render_graph: RenderGraph) -> None:
    policies = _policies(render_graph, TRUST_POLICY)
    assert policies
    for _, policy in policies:
        for statement in _list(policy.document["Statement"]):
            assert "Resource" not in statement and "NotResource" not in statement
            assert (
                statement["Principal"] == {"Service": "ec2.amazonaws.com"} and statement["Action"] == "sts:AssumeRole"
            )


def elb_create_action_is_a_documented_condition_key(render_graph: RenderGraph) -> None:
    if not IAM_DATA_ELB.is_file():
        pytest.skip("the simulator's data is not installed (make iam-sim-deps)")
    add_tags = json.loads(IAM_DATA_ELB.read_text(encoding="utf-8"))["addtags"]
    assert "elasticloadbalancing:CreateAction" in add_tags["conditionKeys"]
    used = [
        p
        for _, p in _policies(render_graph, "cloud-controller-manager")
        if "elasticloadbalancing:CreateAction" in p.text
    ]
    assert used


def nlb_listeners_are_a_resource_type_of_the_listener_actions(render_graph: RenderGraph) -> None:
    if not IAM_DATA_ELB.is_file():
        pytest.skip("the simulator's data is not installed (make iam-sim-deps)")
    actions = json.loads(IAM_DATA_ELB.read_text(encoding="utf-8"))
    for action in ("deletelistener", "modifylistener"):
        assert "listener/net" in {kind["name"] for kind in actions[action]["resourceTypes"]}
    statements = [
        s
        for _, p in _policies(render_graph, "cloud-controller-manager")
        for s in _list(p.document["Statement"])
        if s.get("Sid") == "CcmUntaggedListenersOfItsLoadBalancers"
    ]
    assert statements and all(":listener/net/" in s["Resource"] for s in statements)


def cluster_resources_are_scoped_by_the_cluster_tag(render_graph: RenderGraph) -> None:
    for stack in STACKS:
        facts = stack_facts(render_graph(stack))
        ccm = next(p for p in facts.roles["control-plane"].policies if p.name.endswith("cloud-controller-manager"))
        statement = next(s for s in ccm.document["Statement"] if s.get("Sid") == "CcmClusterResources")
        assert statement["Resource"] == "*"
        assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{facts.cluster_tag_key}": "owned"}}


def node_policy_is_upstreams_reads(render_graph: RenderGraph) -> None:
    for _, policy in _policies(render_graph, "node"):
        actions = {a for s in _list(policy.document["Statement"]) for a in _list(s["Action"])}
        assert actions <= set(NODE_IAM_ACTIONS)


def ssm_agent_calls_are_the_managed_policys_and_read_no_parameter(render_graph: RenderGraph) -> None:
    core = managed_policy_document(SSM_CORE)
    granted = {a for s in core["Statement"] if s["Resource"] == "*" for a in _list(s["Action"])}
    policies = _policies(render_graph, "ssm-agent")
    assert policies
    for _, policy in policies:
        for statement in _list(policy.document["Statement"]):
            if statement.get("Resource") != "*":
                continue
            actions = set(_list(statement["Action"]))
            assert actions <= granted, actions - granted
            assert not [a for a in actions if a.startswith("ssm:GetParameter")]


REASON_CHECKS: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Callable[[RenderGraph], None]] = {
    ("RESOURCE_STAR", (KEY_POLICY,), ()): key_policies_name_principals_and_the_key,
    ("MALFORMED", (TRUST_POLICY,), ()): trust_policies_let_ec2_assume_the_role,
    (
        "UNKNOWN_CONDITION_FOR_ACTION",
        ("cloud-controller-manager",),
        (),
    ): elb_create_action_is_a_documented_condition_key,
    (
        "RESOURCE_STAR",
        ("cloud-controller-manager",),
        ("CcmClusterResources",),
    ): cluster_resources_are_scoped_by_the_cluster_tag,
    ("RESOURCE_STAR", ("node",), ()): node_policy_is_upstreams_reads,
    (
        "RESOURCE_MISMATCH",
        ("cloud-controller-manager",),
        ("CcmUntaggedListenersOfItsLoadBalancers",),
    ): nlb_listeners_are_a_resource_type_of_the_listener_actions,
    ("RESOURCE_STAR", ("ssm-agent",), ()): ssm_agent_calls_are_the_managed_policys_and_read_no_parameter,
}


def test_every_skip_has_a_one_line_reason_and_a_check_of_it() -> None:
    skips = parliament.skips()
    keys = [(s.issue, s.kinds, s.sids) for s in skips]
    assert len(set(keys)) == len(keys)
    for skip in skips:
        assert len(skip.reason.split()) >= 6, f"{skip.issue}: reason missing or too thin: {skip.reason!r}"
    assert set(keys) == set(REASON_CHECKS), "each skip needs a test that its reason still holds"


@pytest.mark.parametrize("key", sorted(REASON_CHECKS), ids=lambda k: f"{k[0]}-{'+'.join(k[1])}")
def test_each_skips_reason_still_holds(
    render_graph: RenderGraph, key: tuple[str, tuple[str, ...], tuple[str, ...]]
) -> None:
    REASON_CHECKS[key](render_graph)


def test_validate_runs_parliament_and_the_iam_tier() -> None:
    assert {"parliament", "iam-sim"} <= set(TOOL_ORDER) and {"parliament", "iam-sim"} <= set(STACK_TOOLS)


def test_every_skip_is_still_needed(render_graph: RenderGraph) -> None:
    pytest.importorskip("parliament", reason="installed by make validate (requirements-validate.txt)")
    skips = parliament.skips()
    used: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    for stack in STACKS:
        _, skipped = parliament.judge(rendered_policies(graph_resources(render_graph(stack))), skips)
        used |= {(s.issue, s.kinds, s.sids) for s in skips for finding in skipped if s.covers(finding)}
    assert used == {(s.issue, s.kinds, s.sids) for s in skips}


def test_a_finding_is_attributed_to_its_statement() -> None:
    pytest.importorskip("parliament", reason="installed by make validate (requirements-validate.txt)")
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Reads", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
            {"Effect": "Allow", "Action": "ec2:DeleteSecurityGroup", "Resource": "*"},
        ],
    }
    findings = parliament.lint(RenderedPolicy("demo", "demo", json.dumps(document, sort_keys=True)))
    assert [(f.issue, f.statement) for f in findings] == [("RESOURCE_STAR", "#2")]
    assert not parliament.judge([RenderedPolicy("demo", "demo", json.dumps(document))], [])[1]
