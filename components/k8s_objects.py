"""Turn plain manifests (from the pure renderers) into pulumi-kubernetes resources."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

KINDS: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def logical_name(prefix: str, manifest: dict[str, Any]) -> str:
    metadata = manifest["metadata"]
    scope = f"{metadata['namespace']}-" if "namespace" in metadata else ""
    return f"{prefix}-{manifest['kind'].lower()}-{scope}{metadata['name']}".replace(":", "-")


def create_object(prefix: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One resource per manifest; top-level fields become the SDK's keyword arguments."""
    resource_type = KINDS[(manifest["apiVersion"], manifest["kind"])]
    fields = {
        _CAMEL.sub("_", key).lower(): value for key, value in manifest.items() if key not in ("apiVersion", "kind")
    }
    return resource_type(logical_name(prefix, manifest), opts=opts, **fields)
