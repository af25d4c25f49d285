"""Evaluate Kubernetes RBAC from Role/ClusterRole/binding manifests, as the API server does.

Pure and dependency-free, so the policy pack and the tests decide "may this service account
do X?" from the rules that would really be applied, not from object names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Manifest = Mapping[str, Any]

# Built into kube-apiserver (bootstrap policy); the CCM's RoleBinding refers to it.
EXTENSION_APISERVER_AUTHENTICATION_READER: Manifest = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "extension-apiserver-authentication-reader", "namespace": "kube-system"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "watch"],
            "resourceNames": ["extension-apiserver-authentication"],
        }
    ],
}
# Built in too; a binding to it grants every verb on every resource.
CLUSTER_ADMIN: Manifest = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "cluster-admin"},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
}
BUILTIN_ROLES: tuple[Manifest, ...] = (EXTENSION_APISERVER_AUTHENTICATION_READER, CLUSTER_ADMIN)


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def groups(self) -> tuple[str, ...]:
        return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated")


@dataclass(frozen=True)
class Request:
    verb: str
    resource: str
    """`pods`, or `pods/log` for a subresource."""
    group: str = ""
    namespace: str | None = None
    """None for a cluster-scoped resource or a request across all namespaces."""
    name: str | None = None


def _matches(values: Iterable[str] | None, wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def rule_allows(rule: Mapping[str, Any], request: Request) -> bool:
    resource, _, subresource = request.resource.partition("/")
    resources = list(rule.get("resources") or [])
    resource_ok = (
        "*" in resources or request.resource in resources or (bool(subresource) and f"{resource}/*" in resources)
    )
    names = list(rule.get("resourceNames") or [])
    return (
        resource_ok
        and _matches(rule.get("apiGroups"), request.group)
        and _matches(rule.get("verbs"), request.verb)
        and (not names or (request.name is not None and request.name in names))
    )


def _binds(binding: Manifest, account: ServiceAccount) -> bool:
    for subject in binding.get("subjects") or []:
        kind = subject.get("kind")
        if kind == "ServiceAccount" and (subject.get("namespace"), subject.get("name")) == (
            account.namespace,
            account.name,
        ):
            return True
        if kind == "User" and subject.get("name") == account.username:
            return True
        if kind == "Group" and subject.get("name") in account.groups:
            return True
    return False


def _role_rules(objects: list[Manifest], kind: str, name: str, namespace: str | None) -> list[Mapping[str, Any]]:
    for obj in objects:
        metadata = obj.get("metadata") or {}
        if (
            obj.get("kind") == kind
            and metadata.get("name") == name
            and (kind == "ClusterRole" or metadata.get("namespace") == namespace)
        ):
            return list(obj.get("rules") or [])
    return []


@dataclass(frozen=True)
class Grant:
    """What one binding grants: its role's rules, in one namespace or (None) in every namespace."""

    binding: Manifest
    namespace: str | None
    rules: list[Mapping[str, Any]]

    @property
    def subjects(self) -> list[Mapping[str, Any]]:
        return list(self.binding.get("subjects") or [])

    def binds(self, account: ServiceAccount) -> bool:
        return _binds(self.binding, account)


def grants(objects: Iterable[Manifest]) -> list[Grant]:
    """Every RoleBinding / ClusterRoleBinding among `objects` with the rules it grants (built-in roles included)."""
    everything = [*objects, *BUILTIN_ROLES]
    found = []
    for binding in everything:
        kind = binding.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        namespace = (binding.get("metadata") or {}).get("namespace") if kind == "RoleBinding" else None
        ref = binding.get("roleRef") or {}
        found.append(
            Grant(binding, namespace, _role_rules(everything, ref.get("kind", ""), ref.get("name", ""), namespace))
        )
    return found


def allowed(objects: Iterable[Manifest], account: ServiceAccount, request: Request) -> bool:
    """Whether any binding among `objects` grants `request` to `account`."""
    for grant in grants(objects):
        if not grant.binds(account):
            continue
        if grant.namespace is not None and request.namespace != grant.namespace:
            continue  # a RoleBinding grants only inside its own namespace
        if any(rule_allows(rule, request) for rule in grant.rules):
            return True
    return False


def wildcard_rules(objects: Iterable[Manifest]) -> list[tuple[str, Mapping[str, Any]]]:
    """(role name, rule) pairs granting every verb on every resource."""
    found = []
    for obj in objects:
        if obj.get("kind") in ("Role", "ClusterRole"):
            for rule in obj.get("rules") or []:
                if "*" in (rule.get("verbs") or []) and "*" in (rule.get("resources") or []):
                    found.append(((obj.get("metadata") or {}).get("name", ""), rule))
    return found
