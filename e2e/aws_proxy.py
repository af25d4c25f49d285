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

import copy
import dataclasses
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import boto3
from botocore.exceptions import ClientError

from e2e.aws_authz import (
    EC2,
    ELB,
    ELBV2,
    ApiCall,
    Authorization,
    AwsState,
    SecurityGroupState,
    Unmapped,
    authorizations,
    parse_call,
)
from tools.iam_check.model import NamedPolicy, SimResult, Simulation
from tools.iam_check.requests import ELB_SERVICE, build_request, data_gap_for
from tools.iam_check.runner import SimulatorSession
from tools.iam_check.stack_facts import RoleFacts, StackFacts, stack_facts
from tools.offline.capture import Graph

EC2_DENIAL = "UnauthorizedOperation"
ELB_DENIAL = "AccessDenied"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate"}
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SERVICE_LINKED_ROLE = "AWSServiceRoleForElasticLoadBalancing"
# The CreateTargetGroup settings AWS compares before answering a repeated create with the existing group.
TARGET_GROUP_SETTINGS = (
    "Protocol",
    "Port",
    "VpcId",
    "TargetType",
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckIntervalSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
)
CLASSIC_DEFAULT_HEALTH_CHECK = {"Interval": 30, "Timeout": 5, "UnhealthyThreshold": 2, "HealthyThreshold": 10}


class MotoState(AwsState):
    """The existing resources' tags (and a group's VPC) as moto holds them, read with boto3."""

    def __init__(self, moto_url: str, region: str) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, region_name=region, endpoint_url=moto_url, **DUMMY_CREDENTIALS)

        self.ec2, self.elb, self.elbv2, self.iam = client("ec2"), client("elb"), client("elbv2"), client("iam")

    def security_group(self, group_id: str) -> SecurityGroupState | None:
        try:
            groups = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        except ClientError:
            return None
        if not groups:
            return None
        tags = {tag["Key"]: tag["Value"] for tag in groups[0].get("Tags", [])}
        return SecurityGroupState(tags, groups[0].get("VpcId", ""))

    def ec2_tags(self, resource_id: str) -> Mapping[str, str]:
        found = self.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {tag["Key"]: tag["Value"] for tag in found}

    def classic_load_balancer_tags(self, name: str) -> Mapping[str, str]:
        try:
            described = self.elb.describe_tags(LoadBalancerNames=[name])["TagDescriptions"]
        except ClientError:
            return {}
        return {tag["Key"]: tag["Value"] for entry in described for tag in entry.get("Tags", [])}

    def elbv2_tags(self, arn: str) -> Mapping[str, str]:
        try:
            described = self.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        except ClientError:
            return {}
        return {tag["Key"]: tag["Value"] for entry in described for tag in entry.get("Tags", [])}

    def elbv2_load_balancer_type(self, arn: str) -> str | None:
        try:
            found = self.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
        except ClientError:
            return None
        return str(found[0]["Type"]) if found else None

    def target_group_has_settings(self, name: str, params: Mapping[str, str]) -> bool:
        """Whether moto's target group `name` has every setting a CreateTargetGroup request gives."""
        try:
            found = self.elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        except ClientError:
            return False
        if len(found) != 1:
            return False
        existing = {key: str(value) for key, value in found[0].items() if not isinstance(value, (dict, list))}
        compared = [key for key in TARGET_GROUP_SETTINGS if key in params]
        return all(existing.get(key) == params[key] for key in compared)

    def service_linked_role_exists(self, service: str) -> bool:
        try:
            self.iam.get_role(RoleName=SERVICE_LINKED_ROLE)
        except ClientError:
            return False
        return True

    def default_classic_health_check(self, name: str, instance_port: int) -> dict[str, Any]:
        """The health check AWS gives a classic ELB created without one (TCP on the first listener's
        instance port; the Classic Load Balancer guide's default interval, timeout and thresholds),
        set in moto, which leaves it empty."""
        check = {**CLASSIC_DEFAULT_HEALTH_CHECK, "Target": f"TCP:{instance_port}"}
        self.elb.configure_health_check(LoadBalancerName=name, HealthCheck=check)
        return check

    def create_service_linked_role(self, service: str) -> None:
        """What AWS does on the account's first load balancer, once the caller may. Created as a
        plain role under AWS's name and path (moto's CreateServiceLinkedRole names it differently)."""
        if not self.service_linked_role_exists(service):
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            }
            self.iam.create_role(
                RoleName=SERVICE_LINKED_ROLE,
                Path=f"/aws-service-role/{service}/",
                AssumeRolePolicyDocument=json.dumps(trust),
            )


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


def _elbv2_response(operation: str, result: str) -> bytes:
    return (
        f'<{operation}Response xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">'
        f"<{operation}Result>{result}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{operation}Response>"
    ).encode()


def _record_check(authorization: Authorization, simulation: Simulation, result: SimResult) -> dict[str, Any]:
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
            "authorizations": [_record_check(*check) for check in verdict.checks],
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


def role_for_proxy(role: RoleFacts, policies: Sequence[NamedPolicy], session_name: str) -> RoleFacts:
    """The role as the proxy judges it: these policies, the session named after the instance."""
    return dataclasses.replace(role, policies=tuple(policies), session_name=session_name)


AWS_ID = r"\b(?:vpc|subnet|sg|igw|eigw|rtb|i|eni|nat|eipalloc)-[0-9a-f]{8,17}\b"


def with_replayed_ids(policies: Sequence[NamedPolicy], ids: Mapping[str, str]) -> tuple[NamedPolicy, ...]:
    """The documents as the program renders them once deployed: every ID the mock engine gave a
    resource (a VPC in a statement's Resource or ArnEquals) replaced by the ID the replay into moto got.

    An ID in a document that the replay does not know is an error: the document would name
    nothing in the account."""
    pattern = re.compile(AWS_ID)
    replaced = []
    for policy in policies:
        text = json.dumps(policy.document)
        unknown = sorted({found for found in pattern.findall(text) if found not in ids})
        if unknown:
            raise LookupError(f"policy {policy.name} names {unknown}, which the replay into moto did not create")
        replaced.append(NamedPolicy(policy.name, json.loads(pattern.sub(lambda m: ids[m.group(0)], text))))
    return tuple(replaced)


LISTENER_CREATE_ACTION = "CreateListener"


def without_listener_tag_on_create(policies: Sequence[NamedPolicy]) -> tuple[NamedPolicy, ...]:
    """Fix 3 reverted: the CCM policy's `elasticloadbalancing:AddTags` tag-on-create statement
    without `CreateListener` in its `elasticloadbalancing:CreateAction` list (as before the policy
    followed the CCM's v1.23+ tagging of listeners on create). Raises if no statement has it."""
    changed: list[NamedPolicy] = []
    removed = 0
    for policy in policies:
        document = copy.deepcopy(policy.document)
        kept = []
        for statement in document.get("Statement", []):
            values = statement.get("Condition", {}).get("StringEquals", {}).get("elasticloadbalancing:CreateAction")
            if isinstance(values, list) and LISTENER_CREATE_ACTION in values:
                removed += 1
                values = [value for value in values if value != LISTENER_CREATE_ACTION]
                if not values:
                    continue  # the statement allowed listeners only: without them it allows nothing
                statement["Condition"]["StringEquals"]["elasticloadbalancing:CreateAction"] = values
            elif values == LISTENER_CREATE_ACTION:
                removed += 1
                continue
            kept.append(statement)
        document["Statement"] = kept
        changed.append(NamedPolicy(policy.name, document))
    if removed == 0:
        raise LookupError("no statement allows elasticloadbalancing:CreateAction = CreateListener")
    return tuple(changed)


CONTROL_PLANE = "control-plane"


def deployed_control_plane(graph: Graph, replayed_ids: Mapping[str, str]) -> tuple[StackFacts, RoleFacts]:
    """The render's facts and control-plane role as deployed into moto: the VPC and every ID in the
    role's policies replaced by the ID the replay got (`with_replayed_ids`)."""
    facts = stack_facts(graph)
    if facts.vpc_id not in replayed_ids:
        raise LookupError(f"the replay into moto did not create the render's VPC {facts.vpc_id}")
    facts = dataclasses.replace(facts, vpc_id=replayed_ids[facts.vpc_id])
    role = facts.roles[CONTROL_PLANE]
    return facts, dataclasses.replace(role, policies=with_replayed_ids(role.policies, replayed_ids))
