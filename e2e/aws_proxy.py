"""An enforcing AWS endpoint on loopback: IAM as AWS would apply it, between the CCM and moto.

moto does not evaluate IAM. The CCM's cloud config points EC2, ELB and ELBv2 at this proxy; for
each request it derives what AWS's authorization would see (`e2e/aws_authz.py`: the IAM actions,
resource ARNs and condition keys, the existing resource's tags read from moto), asks the IAM
simulator (`tools/iam_sim`, one long-lived `--lines` process) for each authorization with the
control-plane role's identity policies as the program renders them, and then

- all allowed: forwards the request to moto and returns moto's answer unchanged;
- any denied (or not evaluable, or not modelled): answers as AWS does, without reaching moto:
  EC2 `403 UnauthorizedOperation` in `<Response><Errors>`, ELB/ELBv2 `403 AccessDenied` in
  `<ErrorResponse>`, naming the role session, the action and the resource.

Every request is recorded (operation, authorizations with their context, the simulator's decision
and explanation, the status returned) and written by `write_calls`.

This module is the HTTP server and its forwarding; the decisions and denial bodies are
`e2e/enforcer.py`'s, moto's lookups and amendments `e2e/moto_state.py`'s, and the control-plane
role as judged (moto's IDs, fix 3 reverted) `e2e/aws_policies.py`'s.

Where moto differs from AWS on a call the CCM makes, the proxy acts after the authorization, never
instead of it, and records what it did on the call: AWS's side effects of an allowed call that
moto lacks are applied to moto directly (`_after`: the ELB service-linked role with the first load
balancer, a new classic ELB's default health check), and two moto errors AWS does not give are
answered as AWS does from moto's own data (`_moto_deviation`: DescribeTargetGroups of a load
balancer without groups, CreateTargetGroup repeating an existing group). moto's `loadbalancer/app/`
ARN of a network load balancer is judged as AWS's `loadbalancer/net/` (`aws_authz.aws_elbv2_arn`).

Not modelled: STS and the request signature (moto accepts any), service control and resource
control policies, permission boundaries, session policies, VPC endpoint policies, and any service
other than EC2 and Elastic Load Balancing (a request for one is recorded and denied).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from e2e.aws_authz import EC2, ELB, ELBV2, ApiCall, Unmapped, parse_call
from e2e.enforcer import Enforcer, Verdict, denial_body, record_check
from e2e.moto_state import SERVICE_LINKED_ROLE, MotoState
from tools.iam_check.requests import ELB_SERVICE

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate"}


def _elbv2_response(operation: str, result: str) -> bytes:
    return (
        f'<{operation}Response xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<{operation}Result>{result}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{operation}Response>"
    ).encode()


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (the CCM stopped mid-request) is not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class AwsProxy:
    """The enforcing endpoint: `url` for the cloud config's ServiceOverride sections."""

    def __init__(self, moto_url: str, enforcer: Enforcer, state: MotoState | None = None) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.enforcer = enforcer
        self.state = state
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, answer = proxy.handle(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AwsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _forward(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.moto.hostname or "127.0.0.1", self.moto.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            returned = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            return response.status, returned, data
        finally:
            connection.close()

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        started = time.monotonic()
        authorization_header = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        try:
            call: ApiCall | None = parse_call(authorization_header, body)
        except Unmapped as error:
            call = None
            verdict = Verdict(None, (), f"not modelled: {error}")
        else:
            assert call is not None
            try:
                verdict = self.enforcer.judge(call)
            except Exception as error:  # a failing lookup or simulator is an error, never an allow
                verdict = Verdict(call, (), f"{type(error).__name__}: {error}")
        record: dict[str, Any] = {
            "api": call.api if call else None,
            "operation": call.action if call else None,
            "iam_action": call.iam_action if call else None,
            "decision": verdict.decision,
            "authorizations": [record_check(*check) for check in verdict.checks],
            "params": dict(call.params) if call else {},
        }
        if verdict.error:
            record["error"] = verdict.error
        if verdict.allowed:
            status, returned, answer = self._forward(method, path, headers, body)
            if call is not None and self.state is not None and status == 400:
                replaced = self._moto_deviation(call, path, headers, answer)
                if replaced is not None:
                    record["moto_answer_replaced"] = {"status": status, "body": answer.decode(errors="replace")}
                    record["moto_deviation"] = replaced[1]
                    status, answer = 200, replaced[0]
            record["status"] = status
            if call is not None and self.state is not None and 200 <= status < 300:
                try:
                    notes = self._after(call, verdict)
                except Exception as error:  # recorded; the answer stays moto's
                    notes = [f"applying AWS's side effects to moto failed: {type(error).__name__}: {error}"]
                if notes:
                    record["aws_side_effects_applied_to_moto"] = notes
        else:
            action, resource, result = verdict.first_refusal()
            api = call.api if call else EC2
            request_id, answer = denial_body(api, self.enforcer.role.session_arn, action, resource, result)
            status = 403
            header = "x-amzn-RequestId" if api != EC2 else "x-amz-request-id"
            returned = [("Content-Type", "text/xml;charset=UTF-8"), (header, request_id)]
            record |= {"status": status, "denied": {"action": action, "resource": resource}}
        record["milliseconds"] = round((time.monotonic() - started) * 1000, 1)
        with self._lock:
            record = {"seq": len(self.calls) + 1, **record}
            self.calls.append(record)
        return status, returned, answer

    def _after(self, call: ApiCall, verdict: Verdict) -> list[str]:
        """What AWS does on an authorized call that moto does not, done to moto directly (never
        through the proxy: no authorization is involved); a note for each."""
        assert self.state is not None
        notes = []
        if any(check[0].action == "iam:CreateServiceLinkedRole" for check in verdict.checks):
            self.state.create_service_linked_role(ELB_SERVICE)
            notes.append(f"AWS creates {SERVICE_LINKED_ROLE} with the account's first load balancer: created in moto")
        if call.api == ELB and call.action == "CreateLoadBalancer":
            port = call.params.get("Listeners.member.1.InstancePort", "80")
            check = self.state.default_classic_health_check(call.params["LoadBalancerName"], int(port))
            notes.append(
                "AWS gives a new classic ELB a health check, moto none (the CCM dereferences it: "
                f"aws_loadbalancer.go:1589): moto's set to AWS's default {check}"
            )
        return notes

    def _moto_deviation(
        self, call: ApiCall, path: str, headers: Mapping[str, str], answer: bytes
    ) -> tuple[bytes, str] | None:
        """AWS's answer where moto's error is one AWS does not give: (body, why), or None.

        Only for an authorized request, after moto answered it, and from moto's own data."""
        text = answer.decode(errors="replace")
        if call.api == ELBV2 and call.action == "DescribeTargetGroups" and "<Code>TargetGroupNotFound</Code>" in text:
            return self._no_target_groups(call)
        if call.api == ELBV2 and call.action == "CreateTargetGroup" and "<Code>DuplicateTargetGroupName</Code>" in text:
            return self._existing_target_group(call, path, headers)
        return None

    def _no_target_groups(self, call: ApiCall) -> tuple[bytes, str] | None:
        assert self.state is not None
        lb_arn = call.params.get("LoadBalancerArn")
        if not lb_arn or self.state.elbv2_load_balancer_type(lb_arn) is None:
            return None
        return (
            _elbv2_response("DescribeTargetGroups", "<TargetGroups/>"),
            "moto answers DescribeTargetGroups for a load balancer without target groups with "
            "TargetGroupNotFound; AWS answers an empty list",
        )

    def _existing_target_group(self, call: ApiCall, path: str, headers: Mapping[str, str]) -> tuple[bytes, str] | None:
        assert self.state is not None
        name = call.params.get("Name")
        if not name or not self.state.target_group_has_settings(name, call.params):
            return None
        describe = urllib.parse.urlencode(
            {"Action": "DescribeTargetGroups", "Version": call.params["Version"], "Names.member.1": name}
        ).encode()
        status, _, described = self._forward("POST", path, headers, describe)
        if status != 200:
            return None
        return (
            described.replace(b"DescribeTargetGroups", b"CreateTargetGroup"),
            "moto answers CreateTargetGroup with the name of an existing group with DuplicateTargetGroupName; "
            "AWS returns the existing group when the settings are the same (moto's own description of it)",
        )

    def summary(self) -> dict[str, Any]:
        with self._lock:
            calls = list(self.calls)
        decisions = [call["decision"] for call in calls]
        checks = [check for call in calls for check in call["authorizations"]]
        return {
            "requests": len(calls),
            "allowed": decisions.count("allowed"),
            "denied": decisions.count("denied"),
            "errors": decisions.count("error"),
            "authorizations": len(checks),
            "authorizations_allowed": sum(1 for check in checks if check["decision"] == "Allowed"),
            "operations": sorted({f"{call['api']}:{call['operation']}" for call in calls}),
            "denials": [
                {
                    "seq": call["seq"],
                    "operation": call["operation"],
                    **call.get("denied", {}),
                    "error": call.get("error"),
                }
                for call in calls
                if call["decision"] != "allowed"
            ],
        }

    def write_calls(self, path: Path, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        summary = self.summary()
        with self._lock:
            calls = list(self.calls)
        document = {**(extra or {}), "summary": summary, "calls": calls}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        return summary
