"""RBAC of the aws-cloud-controller-manager (upstream names, same in every release)."""

from __future__ import annotations

from typing import Any

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cloud-controller-manager"
CLUSTER_ROLE = "system:cloud-controller-manager"
AUTH_READER_ROLE = "extension-apiserver-authentication-reader"
CONTROLLERS_ROLE = "system:cloud-controller-manager:aws-controllers"
# With --use-service-account-credentials the CCM runs its controllers under per-controller
# service accounts. node-controller, service-controller and route-controller have
# kube-apiserver bootstrap roles; these two AWS ones do not (system:aws-cloud-provider was
# removed in kubernetes#66635), and the field report's `serviceaccounts "aws-cloud-provider"`
# is the first of them.
AWS_CONTROLLER_ACCOUNTS = ("aws-cloud-provider", "tagging-controller")

Rule = dict[str, Any]


def _rule(group: str, resources: list[str], verbs: list[str]) -> Rule:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


def ccm_cluster_role_rules() -> list[Rule]:
    """cloud-provider-aws's current ClusterRole plus what the field report's errors prove is
    needed: serviceaccounts get (v1.20's role lacked it), token and access reviews for the
    authenticated secure port."""
    return [
        _rule("", ["events"], ["create", "patch", "update"]),
        _rule("", ["nodes"], ["*"]),
        _rule("", ["nodes/status"], ["patch"]),
        _rule("", ["services"], ["list", "patch", "update", "watch"]),
        _rule("", ["services/status"], ["list", "patch", "update", "watch"]),
        _rule("", ["serviceaccounts"], ["create", "get", "list", "watch"]),
        _rule("", ["persistentvolumes"], ["get", "list", "update", "watch"]),
        _rule("", ["endpoints"], ["create", "get", "list", "watch", "update"]),
        _rule("coordination.k8s.io", ["leases"], ["create", "get", "list", "watch", "update"]),
        _rule("", ["serviceaccounts/token"], ["create"]),
        _rule("authentication.k8s.io", ["tokenreviews"], ["create"]),
        _rule("authorization.k8s.io", ["subjectaccessreviews"], ["create"]),
    ]


def ccm_secrets_rules() -> list[Rule]:
    """Secrets read-only and only in kube-system, never cluster-wide, for a CCM release that reads
    them (`Release.ccm_reads_secrets`; none of the matrix does: its client builder asks the
    TokenRequest API, docs/reference/flags-and-rbac.md)."""
    return [_rule("", ["secrets"], ["get", "list", "watch"])]


def aws_controller_rules() -> list[Rule]:
    """Events for the AWS provider's recorder; nodes for the tagging controller."""
    return [
        _rule("", ["events"], ["create", "patch", "update"]),
        _rule("", ["nodes"], ["get", "list", "watch", "patch", "update"]),
    ]
