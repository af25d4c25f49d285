"""yamllint, with the checked-in .yamllint.yaml, over each stack's rendered manifests and over
the repository's own YAML (stack files, workflows, policy pack, tool configs)."""

from __future__ import annotations

import re
from pathlib import Path

from tools.offline.stackfiles import REPO_ROOT
from tools.validate.common import REPOSITORY, Finding, ToolResult, executable, relative, run

CONFIG = REPO_ROOT / ".yamllint.yaml"
_PARSABLE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): \[(?P<level>\w+)\] (?P<message>.*)$")


def repository_yaml(root: Path = REPO_ROOT) -> list[Path]:
    """The repository's YAML files as yamllint finds them, .yamllint.yaml's `ignore` applied."""
    completed = run([executable("yamllint"), "--config-file", str(CONFIG), "--list-files", "."], cwd=root)
    return sorted(root / line.strip() for line in completed.stdout.splitlines() if line.strip())


def version() -> str:
    return run([executable("yamllint"), "--version"]).stdout.strip().rsplit(" ", 1)[-1]


def lint(tool_result: ToolResult, files: list[Path]) -> ToolResult:
    if not files:
        tool_result.notes.append("no YAML files")
        return tool_result
    completed = run(
        [
            executable("yamllint"),
            "--config-file",
            str(CONFIG),
            "--format",
            "parsable",
            *(relative(path) for path in files),
        ]
    )  # relative: .yamllint.yaml's ignore patterns
    if completed.returncode not in (0, 1):
        tool_result.error = f"yamllint exited {completed.returncode}: {completed.stderr[-1000:]}"
        return tool_result
    tool_result.checked = len(files)
    for line in completed.stdout.splitlines():
        match = _PARSABLE.match(line)
        if match:
            location = f"{relative(Path(match['file']))}:{match['line']}:{match['column']}"
            tool_result.findings.append(Finding(location, f"[{match['level']}] {match['message']}"))
        elif line.strip():
            tool_result.findings.append(Finding("?", line.strip()))
    return tool_result


def check(stack: str, stack_dir: Path) -> ToolResult:
    return lint(ToolResult("yamllint", stack), sorted((stack_dir / "manifests").glob("*.yaml")))


def check_repository(root: Path = REPO_ROOT) -> ToolResult:
    return lint(ToolResult("yamllint", REPOSITORY), repository_yaml(root))
