"""parliament (duo-labs, pinned in requirements-validate.txt) over every IAM policy document of each
stack's render: inline role policies, trust policies, KMS key policies, customer-managed policies.

Default auditors, findings of severity LOW and above (parliament's CLI default). A finding is
attributed to the statement it points into (its Sid, or `#<n>`); it is accepted only when
tools/validate/parliament-skips.yaml lists its issue for that document kind (and Sid, when the
skip names Sids), with the reason on the line above; tests/test_iam_sim_parliament.py keeps each
reason true of what the program renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.iam_check.documents import RenderedPolicy, json_resources, rendered_policies
from tools.offline.stackfiles import REPO_ROOT
from tools.validate.common import Finding, ToolMissing, ToolResult

CONFIG = REPO_ROOT / "tools" / "validate" / "parliament-skips.yaml"
MINIMUM_SEVERITY = "LOW"
_SKIP_LINE = re.compile(r"^\s*-\s+issue:\s*(\S+)")


@dataclass(frozen=True)
class Skip:
    issue: str
    kinds: tuple[str, ...]
    sids: tuple[str, ...]
    """Empty: every statement of those documents."""
    detail: str | None
    """A regular expression the finding's detail must match in full; None: any detail."""
    reason: str

    def covers(self, finding: PolicyFinding) -> bool:
        return (
            finding.issue == self.issue
            and finding.policy.kind in self.kinds
            and (not self.sids or finding.statement in self.sids)
            and (self.detail is None or re.fullmatch(self.detail, finding.detail) is not None)
        )


@dataclass(frozen=True)
class PolicyFinding:
    policy: RenderedPolicy
    issue: str
    severity: str
    statement: str
    """The Sid of the statement the finding points into, `#<n>` without one, or `document`."""
    detail: str

    def message(self) -> str:
        return f"{self.issue} ({self.severity}) in {self.policy.kind} statement {self.statement}: {self.detail}"


def _parliament() -> Any:
    try:
        import parliament  # noqa: PLC0415 - a validation extra (requirements-validate.txt)
    except ImportError as error:
        raise ToolMissing("parliament is not installed; `make validate` installs it") from error
    return parliament


def version() -> str:
    return f"parliament {_parliament().__version__}"


def skips(config: Path = CONFIG) -> list[Skip]:
    """The accepted findings; each one's reason is the comment line right above its `- issue:`."""
    text = config.read_text(encoding="utf-8")
    reasons: list[str] = []
    previous = ""
    for line in text.splitlines():
        if _SKIP_LINE.match(line):
            reasons.append(previous)
        stripped = line.strip()
        previous = stripped[1:].strip() if stripped.startswith("#") else ""
    entries = (yaml.safe_load(text) or {}).get("skips") or []
    if len(entries) != len(reasons):
        raise ValueError(f"{CONFIG.name}: every skip is a `- issue:` item with its reason on the line above")
    return [
        Skip(
            str(entry["issue"]),
            tuple(entry["kinds"]),
            tuple(entry.get("sids") or ()),
            entry.get("detail"),
            reason,
        )
        for entry, reason in zip(entries, reasons, strict=True)
    ]


def _statement_starts(text: str) -> list[tuple[tuple[int, int], str]]:
    import jsoncfg  # noqa: PLC0415 - parliament's own JSON parser (positions as it reports them)

    starts: list[tuple[tuple[int, int], str]] = []
    statements = jsoncfg.loads_config(text)["Statement"]
    nodes = statements if jsoncfg.node_is_array(statements) else [statements]
    for index, node in enumerate(nodes, start=1):
        location = jsoncfg.node_location(node)
        sid = node["Sid"].value if jsoncfg.node_exists(node["Sid"]) else f"#{index}"
        starts.append(((location.line, location.column), str(sid)))
    return starts


def _statement_of(location: Any, starts: list[tuple[tuple[int, int], str]]) -> str:
    if not isinstance(location, dict) or "line" not in location:
        return "document"
    where = (int(location["line"]), int(location.get("column", 0)))
    before = [sid for start, sid in starts if start <= where]
    return before[-1] if before else "document"


def lint(policy: RenderedPolicy) -> list[PolicyFinding]:
    """parliament's findings (LOW and above) for one document, each with its statement."""
    parliament = _parliament()
    from parliament.cli import is_finding_filtered  # noqa: PLC0415

    analyzed = parliament.analyze_policy_string(policy.text, config=parliament.config)
    try:
        starts = _statement_starts(policy.text)
    except Exception:  # a malformed document: parliament reports it, every finding is document-wide
        starts = []
    found = []
    for raw in analyzed.findings:
        finding = parliament.enhance_finding(raw)
        if is_finding_filtered(finding, MINIMUM_SEVERITY):
            continue
        found.append(
            PolicyFinding(
                policy, finding.issue, finding.severity, _statement_of(finding.location, starts), str(finding.detail)
            )
        )
    return found


def judge(policies: list[RenderedPolicy], accepted: list[Skip]) -> tuple[list[PolicyFinding], list[PolicyFinding]]:
    """(findings no skip covers, findings a skip covers)."""
    failing: list[PolicyFinding] = []
    skipped: list[PolicyFinding] = []
    for policy in policies:
        for finding in lint(policy):
            (skipped if any(skip.covers(finding) for skip in accepted) else failing).append(finding)
    return failing, skipped


def check(stack: str, stack_dir: Path) -> ToolResult:
    result = ToolResult("parliament", stack)
    policies = rendered_policies(json_resources(stack_dir / "resources.json"))
    result.checked = len(policies)
    failing, skipped = judge(policies, skips())
    result.findings += [Finding(f.policy.resource, f.message()) for f in failing]
    if skipped:
        issues = sorted({f"{f.issue} ({f.policy.kind} {f.statement})" for f in skipped})
        result.notes.append(f"{len(skipped)} findings accepted in {CONFIG.name}: {', '.join(issues)}")
    return result
