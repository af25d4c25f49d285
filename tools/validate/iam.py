"""The IAM simulation tier (tools/iam_check) as a validator: @cloud-copilot/iam-simulate judges
what each node role of the stack may do (the CCM's calls of the stack's release, least-privilege
counter-examples, who reads which SSM parameter). A finding is a wrong decision, with the role,
action, resource and the simulator's explanation.

The stack's program runs under the mock engine in up mode here (the ARNs the policies name, the
VPC and security group IDs and the KMS key policy are mock outputs, which resources.json does not
carry); one program run at a time in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from tools.iam_check.judge import StackReport, describe_wrong, judge_stack, report_text
from tools.iam_check.runner import SimulatorMissing, node_executable, run_node_version, simulator_version
from tools.validate.common import Finding, ToolMissing, ToolResult

TOOL = "iam-sim"
_REPORTS: dict[str, StackReport] = {}
_LOCK = threading.Lock()


def version() -> str:
    try:
        return f"@cloud-copilot/iam-simulate {simulator_version()} on node {run_node_version(node_executable())}"
    except SimulatorMissing as error:
        raise ToolMissing(str(error)) from error


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult(TOOL, stack)
    try:
        simulator_version()
        node_executable()
    except SimulatorMissing as error:
        raise ToolMissing(str(error)) from error
    report = judge_stack(stack)
    with _LOCK:
        _REPORTS[stack] = report
    result.checked = len(report.verdicts)
    for verdict in report.wrong:
        case = verdict.case
        result.findings.append(Finding(f"{case.role} {case.action}", describe_wrong(verdict)))
    counts = ", ".join(f"{category.value} {right}/{total}" for category, (right, total) in report.counts().items())
    result.notes.append(f"{report.release.ccm_tag}: right/total by category: {counts}")
    return result


def table(stacks: Sequence[str]) -> str:
    """The tier's own table (and its wrong decisions) for the stacks judged in this process."""
    with _LOCK:
        reports = [_REPORTS[stack] for stack in stacks if stack in _REPORTS]
    return report_text(reports) if reports else ""
