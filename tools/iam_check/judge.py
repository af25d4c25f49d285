"""Evaluate a stack's cases with the simulator and report: right / total, and every wrong decision."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from components.versions import Release, release_for
from tools.iam_check.cases import stack_cases
from tools.iam_check.model import Case, Category, Verdict, summarize
from tools.iam_check.runner import simulate
from tools.iam_check.stack_facts import StackFacts, stack_facts
from tools.offline.capture import Graph
from tools.offline.engine import run_program_capturing
from tools.offline.stackfiles import stack_config

KUBERNETES_VERSION = "k8s-dualstack-aws:kubernetesVersion"
_PROGRAM_LOCK = threading.Lock()
"""The Pulumi runtime keeps module-level state: one offline program run at a time per process."""


@dataclass(frozen=True)
class StackReport:
    stack: str
    release: Release
    facts: StackFacts
    verdicts: tuple[Verdict, ...]

    @property
    def wrong(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if not verdict.right]

    def counts(self) -> dict[Category, tuple[int, int]]:
        by_category: dict[Category, list[Verdict]] = {}
        for verdict in self.verdicts:
            by_category.setdefault(verdict.case.category, []).append(verdict)
        return {category: summarize(verdicts) for category, verdicts in by_category.items()}


def release_of_stack(stack: str) -> Release:
    version = stack_config(stack).get(KUBERNETES_VERSION)
    if not version:
        raise ValueError(f"stack {stack}: no {KUBERNETES_VERSION}")
    return release_for(version.strip('"'))


def render(stack: str) -> Graph:
    """The stack's program under the mock engine in up mode (ARNs, IDs and documents known)."""
    with _PROGRAM_LOCK:
        graph, error = run_program_capturing(stack, preview=False)
    if error is not None:
        raise error
    return graph


def judge_cases(cases: Sequence[Case]) -> list[Verdict]:
    """Run every simulation of the cases in one batch; one verdict per case, in order."""
    simulations = [simulation for case in cases for simulation in case.simulations]
    results = iter(simulate(simulations))
    return [Verdict(case, tuple(next(results) for _ in case.simulations)) for case in cases]


def judge_graph(graph: Graph, release: Release) -> StackReport:
    facts = stack_facts(graph)
    verdicts = judge_cases(stack_cases(facts, release))
    return StackReport(graph.stack_name, release, facts, tuple(verdicts))


def judge_stack(stack: str) -> StackReport:
    return judge_graph(render(stack), release_of_stack(stack))


def describe_wrong(verdict: Verdict) -> str:
    case = verdict.case
    expected = "allowed" if case.expect_allowed else "denied"
    got = "error" if verdict.errors else ("allowed" if verdict.allowed else "denied")
    lines = [
        f"WRONG [{case.category.value}] {case.role}: {case.title}",
        f"    action {case.action}; resource {case.resource}",
        f"    expected {expected}, got {got}; source: {case.source}" + (f"; note: {case.note}" if case.note else ""),
        f"    simulator: {verdict.explanation()}",
    ]
    return "\n".join(lines)


def report_text(reports: Sequence[StackReport]) -> str:
    """The tier's table (stack x category: right / total) and every wrong decision."""
    categories = list(Category)
    header = ["stack", "release", *[c.value for c in categories], "total"]
    rows = [header]
    for report in reports:
        counts = report.counts()
        right, total = summarize(report.verdicts)
        cells = [f"{counts[c][0]} / {counts[c][1]}" if c in counts else "-" for c in categories]
        rows.append([report.stack, report.release.ccm_tag, *cells, f"{right} / {total}"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("cell: decisions right / cases (a case is allowed only if every request in it is Allowed)")
    for report in reports:
        unvalidated = Counter(r.unvalidated for v in report.verdicts for r in v.results if r.unvalidated)
        for reason, count in unvalidated.items():
            lines.append(
                f"{report.stack}: {count} requests evaluated by the core engine without full validation: {reason}"
            )
        for verdict in report.wrong:
            lines.append(f"[{report.stack}] " + describe_wrong(verdict))
    return "\n".join(lines)
