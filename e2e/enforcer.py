"""The enforcing AWS proxy's decisions (e2e/aws_proxy.py): a request's authorizations judged by the
IAM simulator for the role's policies, and AWS's answers to a refused one.

`Enforcer.judge` derives what AWS's authorization sees (`e2e/aws_authz.authorizations`) and asks
the simulator (`tools/iam_sim`, one long-lived `--lines` process) for each; `denial_body` is what
AWS answers when any is refused: EC2 `403 UnauthorizedOperation` in `<Response><Errors>`, ELB/ELBv2
`403 AccessDenied` in `<ErrorResponse>`, naming the role session, the action and the resource;
`record_check` is one authorization as the proxy records it.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from typing import Any
from xml.sax.saxutils import escape

from e2e.aws_authz import EC2, ApiCall, Authorization, AwsState, Unmapped, authorizations
from tools.iam_check.model import SimResult, Simulation
from tools.iam_check.requests import build_request, data_gap_for
from tools.iam_check.runner import SimulatorSession
from tools.iam_check.stack_facts import RoleFacts, StackFacts

EC2_DENIAL = "UnauthorizedOperation"
ELB_DENIAL = "AccessDenied"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The decision on one request: every authorization with its simulator result."""

    call: ApiCall | None
    checks: tuple[tuple[Authorization, Simulation, SimResult], ...]
    error: str | None = None

    @property
    def allowed(self) -> bool:
        return self.error is None and bool(self.checks) and all(result.allowed for _, _, result in self.checks)

    @property
    def decision(self) -> str:
        if self.error is not None or any(result.decision is None for _, _, result in self.checks):
            return "error"
        return "allowed" if self.allowed else "denied"

    def first_refusal(self) -> tuple[str, str, SimResult | None]:
        """(action, resource, result) of the first authorization that did not pass."""
        for authorization, simulation, result in self.checks:
            if not result.allowed:
                return authorization.action, simulation.request.resource, result
        action = self.call.iam_action if self.call is not None else "unknown:Unknown"
        return action, "*", None


class Enforcer:
    """Authorizations of a request -> the simulator's decisions for the role's policies."""

    def __init__(
        self,
        facts: StackFacts,
        role: RoleFacts,
        state: AwsState,
        simulator: SimulatorSession,
    ) -> None:
        self.facts, self.role, self.state, self.simulator = facts, role, state, simulator
        self._ids = iter(range(1, 1 << 62))
        self._lock = threading.Lock()

    def _simulation(self, authorization: Authorization) -> Simulation:
        request = build_request(
            self.facts,
            self.role,
            authorization.action,
            authorization.resource,
            request_tags=authorization.request_tags,
            create_action=authorization.create_action,
        )
        with self._lock:
            sim_id = f"proxy#{next(self._ids)}"
        return Simulation(
            sim_id, request, self.role.policies, None, data_gap_for(authorization.action, authorization.resource)
        )

    def judge(self, call: ApiCall) -> Verdict:
        try:
            needed = authorizations(call, self.facts, self.state)
        except Unmapped as error:
            return Verdict(call, (), f"not modelled: {error}")
        checks = []
        for authorization in needed:
            simulation = self._simulation(authorization)
            checks.append((authorization, simulation, self.simulator.simulate_one(simulation)))
        return Verdict(call, tuple(checks))


def _because(result: SimResult | None) -> str:
    if result is not None and result.decision is not None and result.decision.value == "ExplicitlyDenied":
        return "with an explicit deny in an identity-based policy"
    return "because no identity-based policy allows the {action} action"


def denial_body(api: str, principal: str, action: str, resource: str, result: SimResult | None) -> tuple[str, bytes]:
    """(request ID, body) of AWS's answer to an unauthorized request of this API."""
    request_id = str(uuid.uuid4())
    because = _because(result).format(action=action)
    detail = f"User: {principal} is not authorized to perform: {action} on resource: {resource} {because}"
    if api == EC2:
        message = f"You are not authorized to perform this operation. {detail}"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{EC2_DENIAL}</Code><Message>{escape(message)}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        version = "2012-06-01" if api == "elb" else "2015-12-01"
        body = (
            f'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/{version}/">'
            f"<Error><Type>Sender</Type><Code>{ELB_DENIAL}</Code><Message>{escape(detail)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return request_id, body.encode()


def record_check(authorization: Authorization, simulation: Simulation, result: SimResult) -> dict[str, Any]:
    return {
        "action": authorization.action,
        "resource": simulation.request.resource,
        "why": authorization.why,
        "context": simulation.request.to_json()["context"],
        "decision": result.decision.value if result.decision is not None else None,
        "explanation": list(result.explanation),
        "ignored_context_keys": list(result.ignored_context_keys),
        **({"unvalidated": result.unvalidated} if result.unvalidated else {}),
        **({"errors": result.errors} if result.errors else {}),
    }
