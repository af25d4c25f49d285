"""The field report's broken setup, for the negative controls.

Its RBAC is cloud-provider-aws's v1.20-era manifest: the same ServiceAccount, ClusterRoleBinding
and authentication-reader RoleBinding as today, but a ClusterRole whose only serviceaccounts
verb is `create` and that has no `serviceaccounts/token` (docs/reference/flags-and-rbac.md, "RBAC").
"""

from __future__ import annotations

import copy
from typing import Any

from components.render.ccm_manifests import CLOUD_CONFIG_FILE
from components.render.rbac import AUTH_READER_ROLE, CLUSTER_ROLE, NAMESPACE, SERVICE_ACCOUNT

Manifest = dict[str, Any]
RBAC_API = "rbac.authorization.k8s.io/v1"


def _rule(resources: list[str], verbs: list[str], group: str = "") -> Manifest:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def cluster_role_v1_20_rules() -> list[Manifest]:
    return [
        _rule(["events"], ["create", "patch", "update"]),
        _rule(["nodes"], ["*"]),
        _rule(["nodes/status"], ["patch"]),
        _rule(["services"], ["list", "patch", "update", "watch"]),
        _rule(["services/status"], ["list", "patch", "update", "watch"]),
        _rule(["serviceaccounts"], ["create"]),
        _rule(["persistentvolumes"], ["get", "list", "update", "watch"]),
        _rule(["endpoints"], ["create", "get", "list", "watch", "update"]),
        _rule(["leases"], ["create", "get", "list", "watch", "update"], "coordination.k8s.io"),
    ]


def rbac_v1_20() -> list[Manifest]:
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}},
        {
            "apiVersion": RBAC_API,
            "kind": "RoleBinding",
            "metadata": {"name": f"{SERVICE_ACCOUNT}:apiserver-authentication-reader", "namespace": NAMESPACE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AUTH_READER_ROLE},
            "subjects": [subject],
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE},
            "rules": cluster_role_v1_20_rules(),
        },
        {
            "apiVersion": RBAC_API,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": CLUSTER_ROLE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [subject],
        },
    ]


def with_cloud_config(config_map: Manifest, cloud_config: str) -> Manifest:
    """The program's cloud-config ConfigMap with other content (the field report's cloud config)."""
    changed = copy.deepcopy(config_map)
    changed["data"][CLOUD_CONFIG_FILE] = cloud_config
    return changed
