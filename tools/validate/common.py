"""What every validator returns, and the small helpers they share."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools.offline.stackfiles import REPO_ROOT

RENDER_DIR = REPO_ROOT / "build" / "render"
VALIDATE_DIR = REPO_ROOT / "build" / "validate"
TOOLS_DIR = Path(sys.prefix) / "tools"
"""Tools `make validate` installs beside this venv: checkov's own venv, actionlint (Makefile)."""
REPOSITORY = "repository"
"""The 'stack' of checks on the repository's own files (workflows, stack files, policy pack)."""
COMMAND_SECONDS = 600


@dataclass(frozen=True)
class Finding:
    location: str
    """file[:line] (relative to the repository) or resource name."""
    message: str


@dataclass
class ToolResult:
    """One tool over one stack's render (or over the repository)."""

    tool: str
    stack: str
    checked: int = 0
    """How many things the tool looked at (files, scripts, certificates, API calls)."""
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    """The tool could not run: counts as a failure."""

    @property
    def failed(self) -> bool:
        return bool(self.findings) or self.error is not None

    def cell(self) -> str:
        if self.error is not None:
            return "error"
        return f"{len(self.findings)} / {self.checked}"


class ToolMissing(RuntimeError):
    """A validator's tool is not installed (run `make validate`, which installs it)."""


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def executable(name: str, *candidates: Path) -> str:
    """The first existing candidate, else `name` on PATH, else ToolMissing."""
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise ToolMissing(f"{name} is not installed; `make validate` installs it")
    return found


def run(
    argv: Sequence[str],
    stdin: str | None = None,
    cwd: Path = REPO_ROOT,
    timeout: int = COMMAND_SECONDS,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion (bounded); output captured as text, never raises on exit codes."""
    return subprocess.run(
        list(argv), input=stdin, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
