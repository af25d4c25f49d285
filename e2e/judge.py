"""How a case is judged from what it left: the CCM log, the Node objects read back, the secure
port's answers, the Service and the enforcing proxy's recorded AWS calls.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from components.render.ccm_manifests import UNINITIALIZED_TAINT
from components.settings import IpFamily
from e2e.cases import Case
from e2e.environment import Environment, Instance
from e2e.services import (
    authorization_errors,
    call_problems,
    ingress,
    is_listener_tag_on_create_denial,
    service_path,
)

FORBIDDEN = re.compile(r"\bforbidden\b", re.IGNORECASE)
MISSING_CA = "missing content for CA bundle"


def is_initialised(node: dict[str, Any]) -> bool:
    taints = node.get("spec", {}).get("taints") or []
    return bool(node.get("spec", {}).get("providerID")) and not any(t["key"] == UNINITIALIZED_TAINT for t in taints)


def check_positive(
    log: str, nodes: list[dict[str, Any]], instances: list[Instance], families: tuple[IpFamily, IpFamily]
) -> list[str]:
    """Every problem a positive case has; empty when it passed."""
    problems = []
    if FORBIDDEN.search(log):
        problems.append("CCM log contains 'forbidden'")
    if MISSING_CA in log:
        problems.append(f"CCM log contains {MISSING_CA!r}")
    problems += [f"CCM log has an AWS authorization error: {line[:300]}" for line in authorization_errors(log)[:3]]
    by_name = {node["metadata"]["name"]: node for node in nodes}
    for instance in instances:
        node = by_name.get(instance.node_name)
        if node is None:
            problems.append(f"node {instance.node_name} missing")
            continue
        taints = [t["key"] for t in node.get("spec", {}).get("taints") or []]
        if UNINITIALIZED_TAINT in taints:
            problems.append(f"{instance.node_name}: still tainted {UNINITIALIZED_TAINT}")
        expected_id = f"aws:///{instance.availability_zone}/{instance.instance_id}"
        if node.get("spec", {}).get("providerID") != expected_id:
            problems.append(
                f"{instance.node_name}: providerID {node.get('spec', {}).get('providerID')!r} != {expected_id!r}"
            )
        internal = [a["address"] for a in node.get("status", {}).get("addresses", []) if a["type"] == "InternalIP"]
        by_family = {IpFamily.IPV4: instance.ipv4, IpFamily.IPV6: instance.ipv6}
        expected = [by_family[family] for family in families]
        got_families = [IpFamily.IPV4 if ipaddress.ip_address(a).version == 4 else IpFamily.IPV6 for a in internal]
        if internal != expected:
            problems.append(
                f"{instance.node_name}: InternalIPs {internal} ({[f.value for f in got_families]}) "
                f"!= {expected} ({[f.value for f in families]})"
            )
    return problems


def judge(
    env: Environment,
    case: Case,
    *,
    log: str,
    nodes: list[dict[str, Any]],
    secure_port_answers: dict[str, int | str],
    service: dict[str, Any] | None,
    aws_calls: dict[str, Any],
    calls: list[dict[str, Any]],
) -> tuple[bool, list[str], list[str]]:
    """Whether the case passed, its problems and the log lines that decided it."""
    if case.failure is None:
        problems = check_positive(log, nodes, env.instances, env.ip_families)
        problems += [
            f"CCM secure port {name}: {answer} (expected 200)"
            for name, answer in secure_port_answers.items()
            if answer != 200
        ]
        problems += call_problems(aws_calls)
        if case.load_balancer is not None and not ingress(service or {}):
            problems.append(f"Service {service_path()} has no status.loadBalancer.ingress")
        lines = log.splitlines()
        ensured = [line for line in lines if "EnsuredLoadBalancer" in line or "has DNS name" in line]
        decisive = (
            ensured
            + [
                line
                for line in lines
                if "Successfully initialized node" in line or "forbidden" in line.lower() or MISSING_CA in line
            ]
        )[:10]
        return not problems, problems, decisive
    matches = [line for line in log.splitlines() if case.failure.search(line)]
    problems = [] if matches else [f"the expected failure /{case.failure.pattern}/ is not in the CCM log"]
    if case.load_balancer is not None:
        if ingress(service or {}):
            problems.append(f"Service {service_path()} got an address: {ingress(service or {})}")
        refused = [call for call in calls if call["decision"] != "allowed"]
        if len(refused) < max(case.denials, 1):
            problems.append(f"{len(refused)} AWS calls denied, expected at least {max(case.denials, 1)}")
        problems += [
            f"AWS call #{call['seq']} {call['operation']} refused for another reason: "
            f"{call.get('error') or call.get('denied')}"
            for call in refused
            if not is_listener_tag_on_create_denial(call)
        ]
    return not problems, problems, matches[:3]
