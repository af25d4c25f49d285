"""checkov (`--framework kubernetes`) over one stack's rendered Kubernetes manifests.

checkov pins `packaging<24`, pulumi needs `>=26`: it lives in a venv of its own
(.venv/tools/checkov, from tools/validate/requirements-checkov.txt). Checks are skipped only in
the checked-in .checkov.yaml, one reason per check ID. One run per stack: checkov's graph checks
link objects by name, and every stack has objects of the same names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tools.offline.stackfiles import REPO_ROOT
from tools.validate.common import TOOLS_DIR, Finding, ToolResult, executable, relative, run

CONFIG = REPO_ROOT / ".checkov.yaml"
CHECKOV = TOOLS_DIR / "checkov" / "bin" / "checkov"
NOT_MANIFESTS = "helmrelease-"  # a summary of a Helm release, not a Kubernetes object
_SKIP_LINE = re.compile(r"^\s*-\s*(CKV\w+)\s*$")


def manifests(stack_dir: Path) -> list[Path]:
    return sorted(p for p in (stack_dir / "manifests").glob("*.yaml") if not p.name.startswith(NOT_MANIFESTS))


def skip_reasons(config: Path = CONFIG) -> dict[str, str]:
    """Skipped check ID -> the comment line right above it ("" when there is none)."""
    reasons: dict[str, str] = {}
    previous = ""
    for line in config.read_text(encoding="utf-8").splitlines():
        match = _SKIP_LINE.match(line)
        if match:
            reasons[match.group(1)] = previous
        stripped = line.strip()
        previous = stripped[1:].strip() if stripped.startswith("#") else ""
    return reasons


def version() -> str:
    return run([executable("checkov", CHECKOV), "--version"]).stdout.strip()


def _reports(stdout: str) -> list[dict[str, Any]]:
    data = json.loads(stdout)
    return data if isinstance(data, list) else [data]


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult("checkov", stack)
    files = manifests(stack_dir)
    if not files:
        result.notes.append("no Kubernetes manifests rendered")
        return result
    argv = [executable("checkov", CHECKOV), "--config-file", str(CONFIG), "--output", "json"]
    for path in files:
        argv += ["--file", str(path)]
    completed = run(argv)
    if completed.returncode not in (0, 1) or not completed.stdout.strip().startswith(("{", "[")):
        result.error = f"checkov exited {completed.returncode}: {(completed.stderr or completed.stdout)[-2000:]}"
        return result
    for report in _reports(completed.stdout):
        summary = report.get("summary", {})
        result.checked += int(summary.get("passed", 0)) + int(summary.get("failed", 0))
        for failed in report.get("results", {}).get("failed_checks", []):
            location = relative(Path(failed.get("file_abs_path") or failed.get("file_path", "?")))
            message = f"{failed['check_id']} {failed['check_name']} ({failed.get('resource', '?')})"
            result.findings.append(Finding(location, message))
        if summary.get("parsing_errors"):
            result.findings.append(
                Finding(
                    relative(stack_dir / "manifests"), f"{summary['parsing_errors']} file(s) checkov could not parse"
                )
            )
    result.notes.append(f"{len(files)} manifests; skipped by .checkov.yaml: {', '.join(skip_reasons())}")
    return result
