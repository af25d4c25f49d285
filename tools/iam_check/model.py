"""The IAM tier's values: a request, a simulation (request + the policies in force), its result,
and a case (one or more simulations with the decision we expect and where that expectation comes
from). Pure data; `runner` evaluates simulations, `judge` turns results into verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ContextValue = str | tuple[str, ...]
PolicyDocument = dict[str, Any]


class Decision(StrEnum):
    """The simulator's answer for one request."""

    ALLOWED = "Allowed"
    EXPLICITLY_DENIED = "ExplicitlyDenied"
    IMPLICITLY_DENIED = "ImplicitlyDenied"


class Category(StrEnum):
    CCM = "ccm-calls"
    """A call the CCM of the stack's release makes (upstream file:line): must be allowed."""
    LEAST_PRIVILEGE = "least-privilege"
    """A request no node role needs (foreign or another cluster's resources): must be denied."""
    SSM_ACCESS = "ssm-access"
    """Who reads which SSM parameter (GetParameter and, for a customer key, Decrypt via SSM)."""


@dataclass(frozen=True)
class Request:
    principal: str
    """The caller: an EC2 instance's role session (`arn:aws:sts::<account>:assumed-role/<role>/<instance>`)."""
    action: str
    resource: str
    """The resource ARN, or `*` for actions that have no resource types."""
    account: str
    """The account that owns the resource."""
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "account": self.account,
            "context": {key: list(value) if isinstance(value, tuple) else value for key, value in self.context.items()},
        }


@dataclass(frozen=True)
class NamedPolicy:
    """An identity policy as the simulator sees it: a name (inline policy or managed ARN) and a document."""

    name: str
    document: PolicyDocument


@dataclass(frozen=True)
class Simulation:
    id: str
    request: Request
    identity_policies: tuple[NamedPolicy, ...]
    resource_policy: PolicyDocument | None = None
    """The resource's own policy, e.g. the KMS key policy for kms:Decrypt."""
    data_gap: str | None = None
    """Why the simulator's bundled action data cannot know this request's resource type (see
    tools/iam_sim/simulate.mjs); only then is the request evaluated without that validation."""
    keep_context_keys: tuple[str, ...] = ()
    """Context keys AWS sets that the simulator would drop as not applicable (see simulate.mjs)."""
    keep_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identityPolicies": [{"name": p.name, "policy": p.document} for p in self.identity_policies],
            "resourcePolicy": self.resource_policy,
            "dataGap": self.data_gap,
            "keepContextKeys": (
                {"keys": list(self.keep_context_keys), "reason": self.keep_reason} if self.keep_context_keys else None
            ),
            "request": self.request.to_json(),
        }


@dataclass(frozen=True)
class SimResult:
    id: str
    decision: Decision | None
    """None when the simulator could not evaluate the request (see `errors`)."""
    errors: Any = None
    explanation: tuple[str, ...] = ()
    ignored_context_keys: tuple[str, ...] = ()
    """Context keys the simulator dropped because they do not apply to the action/resource type."""
    resource_type: str | None = None
    unvalidated: str | None = None
    """Set when the request was evaluated without resource-type validation (a declared data gap)."""
    data_gap_unused: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SimResult:
        decision = data.get("decision")
        return cls(
            id=str(data["id"]),
            decision=Decision(decision) if decision else None,
            errors=data.get("errors"),
            explanation=tuple(data.get("explanation") or ()),
            ignored_context_keys=tuple(data.get("ignoredContextKeys") or ()),
            resource_type=data.get("resourceType"),
            unvalidated=data.get("unvalidated"),
            data_gap_unused=bool(data.get("dataGapUnused")),
        )

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


@dataclass(frozen=True)
class Case:
    """One expectation: the role may (or may not) do something that takes these simulations.

    The thing is allowed when every simulation is Allowed (a CCM call that AWS authorizes twice,
    or an SSM read = GetParameter and Decrypt via SSM).
    """

    category: Category
    role: str
    """The node role making the request (`control-plane`, `worker`)."""
    title: str
    simulations: tuple[Simulation, ...]
    expect_allowed: bool
    source: str
    """Where the expectation comes from (upstream file:line at the release's tag, a doc, a rule)."""
    note: str = ""

    @property
    def action(self) -> str:
        return " + ".join(dict.fromkeys(s.request.action for s in self.simulations))

    @property
    def resource(self) -> str:
        return " + ".join(dict.fromkeys(s.request.resource for s in self.simulations))


@dataclass(frozen=True)
class Verdict:
    case: Case
    results: tuple[SimResult, ...]

    @property
    def errors(self) -> list[SimResult]:
        return [result for result in self.results if result.decision is None]

    @property
    def allowed(self) -> bool:
        return all(result.allowed for result in self.results)

    @property
    def right(self) -> bool:
        """The simulator answered every request, and the combined decision is the expected one."""
        return not self.errors and self.allowed == self.case.expect_allowed

    def explanation(self) -> str:
        """Why the decision is what it is: the simulator's errors, or its decisive statements."""
        parts: list[str] = []
        for simulation, result in zip(self.case.simulations, self.results, strict=True):
            head = f"{simulation.request.action} on {simulation.request.resource}"
            if result.decision is None:
                parts.append(f"{head}: simulator error {result.errors}")
                continue
            detail = "; ".join(result.explanation) or "no statement applies"
            flags = f" [evaluated without resource-type validation: {result.unvalidated}]" if result.unvalidated else ""
            parts.append(f"{head}: {result.decision.value}: {detail}{flags}")
        return " | ".join(parts)


def summarize(verdicts: Sequence[Verdict]) -> tuple[int, int]:
    """(right, total)."""
    return sum(v.right for v in verdicts), len(verdicts)
