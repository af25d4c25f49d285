"""cloud-init's own schema validator (`cloud-init schema --config-file`, Debian's cloud-init
package) over every node's user data: schema errors (wrong types, missing required keys) and
deprecations both count. The render writes each node's cloud-config decoded (`userdata/<node>.yaml`);
EC2 receives it gzip-compressed, and tests/test_user_data_size.py has cloud-init's own reader
decompress those bytes back to the same text.
"""

from __future__ import annotations

import re
from pathlib import Path

from tools.validate.common import Finding, ToolResult, executable, relative, run

# 22.x: "Cloud config schema errors: ...", "Cloud config schema deprecations: ..."; newer
# releases drop "Cloud config schema" and say "Valid schema" instead of "Valid cloud-config".
_HEADINGS = re.compile(r"^(?:Error:\s*)?(?:Cloud config schema )?(errors|deprecations):\s*(.*)$", re.IGNORECASE)
_VALID = ("Valid cloud-config", "Valid schema")


def problems(output: str) -> list[str]:
    """Every error and deprecation `cloud-init schema` printed, one string each.

    It prints a heading line per kind, with the entries comma-separated after it (an empty
    deprecation heading means none)."""
    found = []
    for line in output.splitlines():
        match = _HEADINGS.match(line.strip())
        if match and match.group(2).strip():
            kind = match.group(1).lower().rstrip("s")
            found += [f"{kind}: {item.strip()}" for item in re.split(r",\s+(?=[\w.-]+:\s)", match.group(2)) if item]
    return found


def version() -> str:
    completed = run([executable("cloud-init"), "--version"])
    return (completed.stdout or completed.stderr).strip().rsplit(" ", 1)[-1]


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult("cloud-init", stack)
    cloud_init = executable("cloud-init")
    for user_data in sorted((stack_dir / "userdata").glob("*.yaml")):
        result.checked += 1
        completed = run([cloud_init, "schema", "--config-file", str(user_data)])
        output = completed.stdout + "\n" + completed.stderr
        found = problems(output)
        result.findings += [Finding(relative(user_data), problem) for problem in found]
        if completed.returncode != 0 and not found:
            result.findings.append(
                Finding(
                    relative(user_data), f"cloud-init schema exited {completed.returncode}: {output.strip()[-500:]}"
                )
            )
        elif completed.returncode == 0 and not any(marker in output for marker in _VALID):
            result.findings.append(Finding(relative(user_data), f"no verdict from cloud-init: {output.strip()[-500:]}"))
    if result.checked == 0:
        result.notes.append("no user data rendered")
    return result
