"""The validation summary: a tool x stack table for the terminal and build/validate/summary.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tools.validate.checkov import skip_reasons
from tools.validate.common import REPOSITORY, ToolResult
from tools.validate.parliament import skips as parliament_skips

NOT_APPLICABLE = "-"
LEGEND = (
    "cell: findings / things checked (checkov: checks run; shellcheck: scripts; cloud-init, yamllint, "
    "actionlint: files; kubeadm: kubeadm configuration files (repository: every release row's); "
    "openssl: certificates; moto: API calls; parliament: policy documents; iam-sim: wrong "
    "decisions / cases); `-`: not run there"
)


def _columns(results: Sequence[ToolResult], stacks: Sequence[str]) -> list[str]:
    return [*stacks, *([REPOSITORY] if any(r.stack == REPOSITORY for r in results) else [])]


def _grid(results: Sequence[ToolResult], tools: Sequence[str], stacks: Sequence[str]) -> list[list[str]]:
    cells = {(r.tool, r.stack): r.cell() for r in results}
    rows = [r.tool for r in results if r.tool not in tools] + list(tools)  # a failed render comes first
    columns = _columns(results, stacks)
    grid = [["tool", *columns]]
    for tool in dict.fromkeys(rows):
        grid.append([tool, *(cells.get((tool, column), NOT_APPLICABLE) for column in columns)])
    return grid


def table(results: Sequence[ToolResult], tools: Sequence[str], stacks: Sequence[str]) -> str:
    """A plain-text table for the terminal."""
    grid = _grid(results, tools, stacks)
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in grid]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*lines, LEGEND])


def summary_markdown(
    results: Sequence[ToolResult],
    tools: Sequence[str],
    stacks: Sequence[str],
    versions: Mapping[str, str],
    seconds: float,
) -> str:
    grid = _grid(results, tools, stacks)
    lines = ["# Validation by third-party tools", "", f"`make validate`, {seconds:.0f} s. {LEGEND}.", ""]
    lines += ["| " + " | ".join(grid[0]) + " |", "|" + "---|" * len(grid[0])]
    lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
    lines += ["", "## Tool versions", ""]
    lines += [f"- {tool}: {versions[tool]}" for tool in tools if tool in versions]
    if "checkov" in tools:
        lines += ["", "## checkov checks skipped in .checkov.yaml", ""]
        lines += [f"- `{check_id}`: {reason or '(no reason given)'}" for check_id, reason in skip_reasons().items()]
    if "parliament" in tools:
        lines += ["", "## parliament findings accepted in tools/validate/parliament-skips.yaml", ""]
        for skip in parliament_skips():
            where = ", ".join(skip.kinds) + (f" ({', '.join(skip.sids)})" if skip.sids else "")
            lines.append(f"- `{skip.issue}` in {where}: {skip.reason}")
    failed = [r for r in results if r.failed]
    lines += ["", "## Findings", ""]
    if not failed:
        lines.append("None.")
    for result in failed:
        lines.append(f"### {result.tool} - {result.stack}")
        lines.append("")
        if result.error:
            lines += ["could not run:", "", "```", result.error, "```"]
        lines += [f"- `{finding.location}`: {finding.message}" for finding in result.findings]
        lines.append("")
    noted = [r for r in results if r.notes]
    if noted:
        lines += ["", "## Notes", ""]
        lines += [f"- {r.tool} - {r.stack}: {note}" for r in noted for note in r.notes]
    return "\n".join(lines).rstrip() + "\n"
