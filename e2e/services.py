"""The load balancer cases: a pod-less Service of type LoadBalancer, and how a case is judged on it.

The CCM's service controller (on by default: the DaemonSet passes no `--controllers`) ensures a
load balancer for every Service of type LoadBalancer over the Nodes that are not excluded, not
being deleted and not marked ToBeDeletedByClusterAutoscaler (k8s.io/cloud-provider v0.35.3
service controller, `stableNodeSetPredicates`; readiness is not among them), and the AWS
provider maps them to instances by their providerID. So the Service is created once the CCM has
initialised every Node. Neither a classic ELB nor an NLB needs endpoints from the CCM: the
health check is TCP on the traffic port for `externalTrafficPolicy: Cluster`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from e2e.kube import Kube

CLB = "clb"
NLB = "nlb"
SERVICE_NAME = "web"
SERVICE_NAMESPACE = "default"
LOAD_BALANCER_TYPE = "service.beta.kubernetes.io/aws-load-balancer-type"
AUTHORIZATION_ERROR = re.compile(r"\b(UnauthorizedOperation|AccessDenied)\b")
# The CCM's error for the listener's tag-on-create authorization, as the SDK words AWS's answer.
LISTENER_TAGS_DENIED = re.compile(
    r"api error AccessDenied: User: arn:aws:sts::\d{12}:assumed-role/\S+ is not authorized to perform: "
    r"elasticloadbalancing:AddTags on resource: arn:aws:elasticloadbalancing:[\w-]+:\d{12}:listener/net/"
)


def service_manifest(kind: str) -> dict[str, Any]:
    """`default/web`, port 80 to 8080, a selector no pod matches; `nlb` adds the NLB annotation."""
    metadata: dict[str, Any] = {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE}
    if kind == NLB:
        metadata["annotations"] = {LOAD_BALANCER_TYPE: "nlb"}
    elif kind != CLB:
        raise ValueError(f"unknown load balancer kind {kind!r}")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": SERVICE_NAME},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def service_path() -> str:
    """The API path of the Service the load balancer cases create (the same for either kind)."""
    manifest = service_manifest("clb")
    return f"{Kube.object_path(manifest)}/{manifest['metadata']['name']}"


def ingress(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(service.get("status", {}).get("loadBalancer", {}).get("ingress") or [])


def authorization_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if AUTHORIZATION_ERROR.search(line)]


def call_problems(summary: Mapping[str, Any]) -> list[str]:
    """A positive case's recorded AWS calls: every request allowed, none unmodelled."""
    return [
        f"AWS call #{denial['seq']} {denial['operation']} was {'an error' if denial.get('error') else 'denied'}: "
        f"{denial.get('error') or denial.get('action')} on {denial.get('resource')}"
        for denial in summary.get("denials", [])
    ]


def is_listener_tag_on_create_denial(call: Mapping[str, Any]) -> bool:
    """A CreateListener denied for exactly its tags: AddTags with CreateAction=CreateListener on the
    new listener refused, every other authorization of the request allowed."""
    if call.get("operation") != "CreateListener" or call.get("decision") != "denied":
        return False
    refused = [check for check in call["authorizations"] if check["decision"] != "Allowed"]
    return len(refused) == 1 and (
        refused[0]["action"] == "elasticloadbalancing:AddTags"
        and refused[0]["context"].get("elasticloadbalancing:CreateAction") == "CreateListener"
        and ":listener/net/" in refused[0]["resource"]
    )
