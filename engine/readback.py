"""What the engine tier reads back from the API server: the nodes as the CCM and kwok left them, the
program's workloads and their pods, and whatever of the program's objects survived `destroy`.
"""

from __future__ import annotations

from typing import Any

from components.render.ccm_manifests import (
    APP_LABELS,
    CHECKSUM_ANNOTATION,
    CLOUD_CONFIG_FILE,
    CLOUD_CONFIG_MAP,
    DAEMONSET,
)
from components.render.rbac import NAMESPACE
from components.render.smoke import NAME as SMOKE_NAME
from components.render.smoke import NAMESPACE as SMOKE_NAMESPACE
from e2e.judge import is_initialised
from e2e.kube import ApiError, Kube
from engine.judge import object_path

CCM_SELECTOR = ",".join(f"{key}={value}" for key, value in APP_LABELS.items())
DAEMONSET_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets/{DAEMONSET}"
CONFIG_MAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CLOUD_CONFIG_MAP}"


def _ready(conditions: list[dict[str, Any]] | None) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions or [])


def node_summary(node: dict[str, Any]) -> dict[str, Any]:
    spec, status = node.get("spec", {}), node.get("status", {})
    return {
        "name": node["metadata"]["name"],
        "provider_id": spec.get("providerID"),
        "initialised": is_initialised(node),
        "taints": [t["key"] for t in spec.get("taints") or []],
        "pod_cidrs": spec.get("podCIDRs"),
        "addresses": [f"{a['type']}={a['address']}" for a in status.get("addresses") or []],
        "ready": _ready(status.get("conditions")),
        "zone": node["metadata"].get("labels", {}).get("topology.kubernetes.io/zone"),
    }


def pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    status = pod.get("status", {})
    return {
        "name": pod["metadata"]["name"],
        "node": pod.get("spec", {}).get("nodeName"),
        "phase": status.get("phase"),
        "ready": _ready(status.get("conditions")),
        "pod_ips": [entry["ip"] for entry in status.get("podIPs") or []],
        "checksum": (pod["metadata"].get("annotations") or {}).get(CHECKSUM_ANNOTATION),
    }


def template_checksum(daemonset: dict[str, Any]) -> str | None:
    annotations = daemonset["spec"]["template"]["metadata"].get("annotations") or {}
    value = annotations.get(CHECKSUM_ANNOTATION)
    return str(value) if value is not None else None


def cloud_config(admin: Kube) -> str | None:
    data = admin.get(CONFIG_MAP_PATH).get("data") or {}
    value = data.get(CLOUD_CONFIG_FILE)
    return str(value) if value is not None else None


def workloads(admin: Kube) -> dict[str, Any]:
    """The nodes, the CCM DaemonSet and its pods, the smoke Deployment, Service, EndpointSlices and pods."""
    daemonset = admin.get(DAEMONSET_PATH)
    deployment = admin.get(f"/apis/apps/v1/namespaces/{SMOKE_NAMESPACE}/deployments/{SMOKE_NAME}")
    service = admin.get(f"/api/v1/namespaces/{SMOKE_NAMESPACE}/services/{SMOKE_NAME}")
    slices = admin.get(f"/apis/discovery.k8s.io/v1/namespaces/{SMOKE_NAMESPACE}/endpointslices")["items"]
    return {
        "nodes": [node_summary(node) for node in admin.get("/api/v1/nodes")["items"]],
        "ccm_daemonset": {
            "generation": daemonset["metadata"].get("generation"),
            "template_checksum": template_checksum(daemonset),
            "status": daemonset.get("status", {}),
        },
        "ccm_pods": [
            pod_summary(pod)
            for pod in admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={CCM_SELECTOR}")["items"]
        ],
        "cloud_config": cloud_config(admin),
        "smoke_deployment": {
            "replicas": deployment["spec"].get("replicas"),
            "status": {k: v for k, v in deployment.get("status", {}).items() if k != "conditions"},
        },
        "smoke_service": {
            "cluster_ips": service["spec"].get("clusterIPs"),
            "ip_families": service["spec"].get("ipFamilies"),
            "ip_family_policy": service["spec"].get("ipFamilyPolicy"),
        },
        "smoke_endpoint_slices": [
            {
                "address_type": item.get("addressType"),
                "addresses": [a for e in item.get("endpoints") or [] for a in e.get("addresses", [])],
            }
            for item in slices
        ],
        "smoke_pods": [pod_summary(pod) for pod in admin.get(f"/api/v1/namespaces/{SMOKE_NAMESPACE}/pods")["items"]],
    }


def all_initialised(admin: Kube) -> bool:
    nodes = admin.get("/api/v1/nodes")["items"]
    return bool(nodes) and all(is_initialised(node) for node in nodes)


def workload_problems(objects: dict[str, Any]) -> list[str]:
    """What the cluster must show after an `up`: every node initialised by the CCM and Ready; the
    smoke pods Ready with an address of each family; the Service and its endpoints dual-stack."""
    problems = []
    for node in objects["nodes"]:
        if not node["initialised"] or not str(node["provider_id"] or "").startswith("aws://"):
            problems.append(f"node {node['name']} not initialised by the CCM: {node}")
        if not node["ready"]:
            problems.append(f"node {node['name']} not Ready")
    pods = objects["smoke_pods"]
    if not pods or not all(pod["ready"] and len(pod["pod_ips"]) == 2 for pod in pods):
        problems.append(f"smoke pods not all Ready with two addresses: {pods}")
    if len(objects["smoke_service"]["cluster_ips"] or []) != 2:
        problems.append(f"the smoke Service has not one cluster IP per family: {objects['smoke_service']}")
    families = sorted(s["address_type"] for s in objects["smoke_endpoint_slices"] if s["addresses"])
    if families != ["IPv4", "IPv6"]:
        problems.append(f"the smoke Service's endpoint slices with addresses: {families}, expected IPv4 and IPv6")
    return problems


def leftovers(admin: Kube, objects: list[tuple[str, str, str | None]]) -> list[str]:
    """Which of `objects` (kind, name, namespace) the API server still returns, and any pod of ours."""
    found = []
    for kind, name, namespace in objects:
        try:
            admin.get(object_path(kind, name, namespace))
        except ApiError as error:
            if error.status == 404:
                continue
            raise
        found.append(f"{kind} {namespace + '/' if namespace else ''}{name}")
    pods = admin.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={CCM_SELECTOR}")["items"]
    pods += admin.get(f"/api/v1/namespaces/{SMOKE_NAMESPACE}/pods")["items"]
    found += [f"Pod {pod['metadata']['namespace']}/{pod['metadata']['name']}" for pod in pods]
    return found
