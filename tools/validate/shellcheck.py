"""shellcheck over every shell script a node's user data carries: the runcmd (and bootcmd) bodies
as cloud-init runs them, and every written file that is a shell script (`.sh`, or a sh/bash
shebang). Findings at severity warning or above count.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.validate.common import Finding, ToolResult, executable, relative, run

SEVERITY = "warning"
_SHELLS = ("sh", "bash", "dash", "ksh")


@dataclass(frozen=True)
class Script:
    name: str
    """Where it comes from: `<user data file>:runcmd` or `<user data file>:<written path>`."""
    shell: str
    text: str


def _command_line(entry: Any) -> str:
    # cloud-init runs a list entry as an argv (quoted into its script) and a string as shell text.
    return shlex.join(str(part) for part in entry) if isinstance(entry, list) else str(entry)


def _shebang_shell(text: str) -> str | None:
    first = text.split("\n", 1)[0]
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    program = Path(words[0]).name if words else ""
    if program == "env" and len(words) > 1:
        program = words[1]
    return program if program in _SHELLS else None


def scripts(user_data_file: Path) -> list[Script]:
    document = yaml.safe_load(user_data_file.read_text(encoding="utf-8")) or {}
    origin = relative(user_data_file)
    found = []
    for key in ("bootcmd", "runcmd"):
        if document.get(key):
            body = "\n".join(_command_line(entry) for entry in document[key])
            # cloud-init writes these into a /bin/sh script.
            found.append(Script(f"{origin}:{key}", "sh", "#!/bin/sh\n" + body + "\n"))
    for written in document.get("write_files") or []:
        content = str(written.get("content", ""))
        shell = _shebang_shell(content)
        if shell is None and str(written.get("path", "")).endswith(".sh"):
            shell = "bash"
        if shell is not None:
            found.append(Script(f"{origin}:{written['path']}", shell, content))
    return found


def version() -> str:
    lines = run([executable("shellcheck"), "--version"]).stdout.splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("version:")), "?")


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult("shellcheck", stack)
    shellcheck = executable("shellcheck")
    for user_data in sorted((stack_dir / "userdata").glob("*.yaml")):
        for script in scripts(user_data):
            result.checked += 1
            completed = run(
                [shellcheck, f"--severity={SEVERITY}", f"--shell={script.shell}", "--format=json1", "-"],
                stdin=script.text,
            )
            if completed.returncode not in (0, 1):
                result.error = f"shellcheck exited {completed.returncode} on {script.name}: {completed.stderr[-1000:]}"
                return result
            for comment in json.loads(completed.stdout or '{"comments": []}')["comments"]:
                message = f"SC{comment['code']} ({comment['level']}): {comment['message']}"
                result.findings.append(Finding(f"{script.name}:{comment['line']}", message))
    if result.checked == 0:
        result.notes.append("no shell scripts in the user data")
    return result
