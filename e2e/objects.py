"""What a case creates in the API server before the CCM starts: the program's Secrets, ConfigMap
and RBAC (or the field report's, as the case says), and the Node objects as each instance's
kubelet registers them.
"""

from __future__ import annotations

from typing import Any

from components.render.bootstrap import NODE_IPV4, NODE_IPV6, placeholder
from components.render.ccm_manifests import UNINITIALIZED_TAINT
from components.render.kubeadm import kubelet_node_ip_expression
from components.settings import IpFamily
from e2e import field_report
from e2e.cases import Case
from e2e.ccm import service_overrides_text
from e2e.cluster import iter_objects
from e2e.environment import Environment, Instance
from e2e.kube import ApiError, Kube

PROVIDED_NODE_IP = "alpha.kubernetes.io/provided-node-ip"


def apply_manifests(admin: Kube, manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        try:
            admin.create(manifest)
        except ApiError as error:
            raise RuntimeError(f"applying {manifest['kind']} {manifest['metadata']['name']}: {error}") from None


def apply_ccm_objects(env: Environment, case: Case, admin: Kube, families: tuple[IpFamily, ...], aws_url: str) -> str:
    """The program's Secrets and ConfigMaps (the case's cloud config) and RBAC; the service overrides text."""
    base_config, overrides_text = service_overrides_text(env, families, aws_url)
    data_objects = list(iter_objects(env.objects, {"Secret", "ConfigMap"}))
    if case.node_ip_families is not None:
        data_objects = [
            field_report.with_cloud_config(m, base_config) if m["kind"] == "ConfigMap" else m for m in data_objects
        ]
    elif base_config != env.cloud_config:
        raise AssertionError("render_cloud_config does not reproduce the program's cloud config")
    rbac = (
        field_report.rbac_v1_20()
        if case.field_report_rbac
        else list(
            iter_objects(env.objects, {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})
        )
    )
    apply_manifests(admin, data_objects + rbac)
    return overrides_text


def _node_ip(expression: str | None, instance: Instance) -> str | None:
    if expression is None:
        return None
    return expression.replace(placeholder(NODE_IPV4), instance.ipv4).replace(placeholder(NODE_IPV6), instance.ipv6)


def node_manifest(instance: Instance, node_ip: str | None) -> dict[str, Any]:
    """A Node as kubelet --cloud-provider=external registers it (addresses are the CCM's to set)."""
    metadata: dict[str, Any] = {
        "name": instance.node_name,
        "labels": {
            "kubernetes.io/hostname": instance.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        },
    }
    if node_ip is not None:
        metadata["annotations"] = {PROVIDED_NODE_IP: node_ip}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata,
        "spec": {"taints": [{"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}]},
    }


def register_nodes(env: Environment, case: Case, admin: Kube) -> None:
    """The Node objects as each instance's kubelet registers them, with the case's --node-ip: the
    control planes and the workers the Auto Scaling group launched (each names itself after its
    instance's private DNS name, as a worker does from the metadata at boot)."""
    node_ip_expression = (
        env.config.node_ip_expression
        if case.node_ip_mode is None
        else kubelet_node_ip_expression(case.node_ip_mode, env.ip_families)
    )
    apply_manifests(
        admin, [node_manifest(instance, _node_ip(node_ip_expression, instance)) for instance in env.instances]
    )
