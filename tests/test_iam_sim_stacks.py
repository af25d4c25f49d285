"""The IAM simulation tier over every stack's render and every release of the matrix: each role
may do exactly what it needs. Decisions by @cloud-copilot/iam-simulate (tools/iam_sim).

A failure lists every wrong decision with the role, action, resource, the expectation's source and
the simulator's explanation. The mutation tests show the tier is not vacuous: the policies of
before the KMS fix (AmazonSSMManagedInstanceCore attached, SecureStrings under aws/ssm) make the
worker read the PKI keys, and an unscoped CCM policy fails every least-privilege case.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from conftest import STACKS, RenderGraph

from components.versions import RELEASES, Release
from tools.iam_check.cases import stack_cases
from tools.iam_check.judge import StackReport, describe_wrong, judge_cases, judge_graph, release_of_stack
from tools.iam_check.managed import managed_policy_document
from tools.iam_check.model import Category, NamedPolicy, Verdict
from tools.iam_check.runner import ensure_installed
from tools.iam_check.stack_facts import StackFacts, stack_facts

SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
MATRIX_STACK = "dev"


@pytest.fixture(scope="module", autouse=True)
def simulator() -> str:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return ensure_installed()


_REPORTS: dict[str, StackReport] = {}


def _report(stack: str, render: RenderGraph) -> StackReport:
    if stack not in _REPORTS:
        _REPORTS[stack] = judge_graph(render(stack), release_of_stack(stack))
    return _REPORTS[stack]


def _wrong(verdicts: list[Verdict] | tuple[Verdict, ...], category: Category) -> list[str]:
    return [describe_wrong(v) for v in verdicts if v.case.category is category and not v.right]


@pytest.mark.parametrize("category", list(Category), ids=lambda c: c.value)
@pytest.mark.parametrize("stack", STACKS)
def test_every_decision_of_the_stack_is_right(render_graph: RenderGraph, stack: str, category: Category) -> None:
    report = _report(stack, render_graph)
    assert [v for v in report.verdicts if v.case.category is category], "no cases in this category"
    wrong = _wrong(report.verdicts, category)
    assert not wrong, "\n" + "\n".join(wrong)


@pytest.mark.slow
@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.minor)
def test_every_release_of_the_matrix_allows_its_ccm_calls_and_nothing_foreign(
    render_graph: RenderGraph, release: Release
) -> None:
    """The stack `dev` rendered at each minor: the CCM policy of that release against its calls."""
    graph = render_graph(MATRIX_STACK, overrides={"kubernetesVersion": release.minor})
    report = judge_graph(graph, release)
    wrong = _wrong(report.verdicts, Category.CCM) + _wrong(report.verdicts, Category.LEAST_PRIVILEGE)
    assert not wrong, "\n" + "\n".join(wrong)


def _with_policies(facts: StackFacts, role: str, policies: tuple[NamedPolicy, ...]) -> StackFacts:
    roles = dict(facts.roles)
    roles[role] = dataclasses.replace(roles[role], policies=policies)
    return dataclasses.replace(facts, roles=roles)


def _ssm_wrong(facts: StackFacts, release: Release) -> list[tuple[str, str]]:
    cases = [c for c in stack_cases(facts, release) if c.category is Category.SSM_ACCESS]
    return [(v.case.role, v.case.title) for v in judge_cases(cases) if not v.right]


def test_before_the_kms_fix_the_tier_reports_workers_reading_the_pki(render_graph: RenderGraph) -> None:
    """AmazonSSMManagedInstanceCore (ssm:GetParameter* on *) and the account's aws/ssm key: every
    node reads every parameter of the account; the tier must call those rows wrong."""
    facts = stack_facts(render_graph("k8s-1-35"))
    core = NamedPolicy(SSM_CORE, managed_policy_document(SSM_CORE))
    for role in ("control-plane", "worker"):
        facts = _with_policies(facts, role, (*facts.roles[role].policies, core))
    facts = dataclasses.replace(facts, parameters=tuple(dataclasses.replace(p, key=None) for p in facts.parameters))
    wrong = _ssm_wrong(facts, release_of_stack("k8s-1-35"))
    token = f"{facts.ssm_prefix}/bootstrap/token"
    pki = {p.name for p in facts.parameters if p.name != token}
    assert {title.removeprefix("read ") for role, title in wrong if role == "worker" and "another" not in title} == pki
    # The control plane reads every PKI parameter anyway; the deployed-version record is no secret.
    assert not [
        title
        for role, title in wrong
        if role == "control-plane" and "another cluster" not in title and "/state/" not in title
    ]
    assert sum("another cluster" in title for _, title in wrong) == 4  # both roles x two foreign parameters


def test_a_customer_key_policy_alone_keeps_the_pki_from_a_worker_that_may_get_every_parameter(
    render_graph: RenderGraph,
) -> None:
    """GetParameter on * (the managed policy) but the render's key policy: decryption is the gate."""
    facts = stack_facts(render_graph("k8s-1-35"))
    if not facts.keys:
        pytest.skip("this render has no customer-managed key")
    core = NamedPolicy(SSM_CORE, managed_policy_document(SSM_CORE))
    facts = _with_policies(facts, "worker", (*facts.roles["worker"].policies, core))
    wrong = _ssm_wrong(facts, release_of_stack("k8s-1-35"))
    # The worker now gets the plain certificates and the neighbour's parameters (judged on
    # GetParameter alone), but no SecureString of ours: the key policy does not let it decrypt.
    secure = {f"read {p.name}" for p in facts.parameters if p.secure}
    assert wrong and {role for role, _ in wrong} == {"worker"}
    assert not secure & {title for _, title in wrong}
    assert sum("another cluster" in title for _, title in wrong) == 2


def test_an_unscoped_ccm_policy_fails_every_least_privilege_case(render_graph: RenderGraph) -> None:
    facts = stack_facts(render_graph("k8s-1-35"))
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ec2:*", "elasticloadbalancing:*", "iam:*"], "Resource": "*"}],
    }
    facts = _with_policies(facts, "control-plane", (NamedPolicy("unscoped", everything),))
    cases = [c for c in stack_cases(facts, release_of_stack("k8s-1-35")) if c.role == "control-plane"]
    verdicts = judge_cases([c for c in cases if c.category is not Category.SSM_ACCESS])
    assert all(v.right for v in verdicts if v.case.category is Category.CCM)
    assert not [v for v in verdicts if v.case.category is Category.LEAST_PRIVILEGE and v.right]


def test_without_the_ccm_policy_no_ccm_call_but_the_node_reads_is_allowed(render_graph: RenderGraph) -> None:
    facts = stack_facts(render_graph("k8s-1-21"))
    policies = tuple(
        p for p in facts.roles["control-plane"].policies if not p.name.endswith("cloud-controller-manager")
    )
    facts = _with_policies(facts, "control-plane", policies)
    verdicts = judge_cases([c for c in stack_cases(facts, release_of_stack("k8s-1-21")) if c.category is Category.CCM])
    allowed = {v.case.action for v in verdicts if v.allowed}
    assert allowed == {"ec2:DescribeInstances"}  # the node policy's own read
