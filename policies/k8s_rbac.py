"""RBAC rules, decided by evaluating the stack's roles and bindings (policies/rbac_eval.py)."""

from __future__ import annotations

from typing import Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.base import RBAC_TYPES, StackResource, resource_policy, stack_policy, stack_resources
from policies.facts import Version, ccm_reads_secrets
from policies.props import contains_unknown, dig, plain
from policies.rbac_eval import Request, ServiceAccount, allowed, grants, rule_allows, wildcard_rules
from policies.workloads import image_version, stack_ccm_containers

AUTH_CONFIG_MAP: Final = "extension-apiserver-authentication"
SECRETS_NAMESPACE: Final = "kube-system"
_FORBIDDEN_SA: Final = 'the field report\'s `serviceaccounts "aws-cloud-provider" is forbidden ... cannot get`'
_FORBIDDEN_NODES: Final = 'the field report\'s `nodes is forbidden ... cannot list resource "nodes"`'
_READS_SECRETS: Final = "its release reads Secrets there, docs/reference/flags-and-rbac.md"


def required_requests(namespace: str, version: Version | None = None) -> list[tuple[Request, str]]:
    """What the CCM's own service account must be allowed, and why (upstream ClusterRole, field report).

    Secrets only for a release (`version` of its image) that reads them; no release of the matrix does."""
    reads_secrets = version is not None and ccm_reads_secrets(version)
    return [
        *((Request(verb, "serviceaccounts", namespace=namespace), _FORBIDDEN_SA) for verb in ("get", "create")),
        (
            Request("create", "serviceaccounts/token", namespace=namespace),
            "tokens for the per-controller accounts of --use-service-account-credentials",
        ),
        *((Request(verb, "nodes"), _FORBIDDEN_NODES) for verb in ("get", "list", "watch", "update", "patch")),
        (Request("patch", "nodes/status"), "the node controller writes the addresses of every node"),
        *(
            (Request(verb, "services"), "the service controller manages load balancers")
            for verb in ("list", "watch", "patch", "update")
        ),
        *((Request(verb, "services/status"), "load balancer status") for verb in ("patch", "update")),
        *((Request(verb, "events", namespace="default"), "event recording") for verb in ("create", "patch", "update")),
        *(
            (Request(verb, "secrets", namespace=namespace), _READS_SECRETS)
            for verb in ("get", "list", "watch")
            if reads_secrets
        ),
        *(
            (Request(verb, "leases", group="coordination.k8s.io", namespace=namespace), "leader election")
            for verb in ("get", "create", "update")
        ),
        *(
            (
                Request(verb, "configmaps", namespace="kube-system", name=AUTH_CONFIG_MAP),
                "the field report's `missing content for CA bundle` (RoleBinding to "
                "extension-apiserver-authentication-reader)",
            )
            for verb in ("get", "list", "watch")
        ),
        (Request("create", "tokenreviews", group="authentication.k8s.io"), "authentication of the secure port"),
        (Request("create", "subjectaccessreviews", group="authorization.k8s.io"), "authorization of the secure port"),
    ]


def _rbac_resources(args: StackValidationArgs) -> list[StackResource] | None:
    """The stack's roles and bindings (props are their manifests); None when one is not known yet."""
    resources = stack_resources(args, RBAC_TYPES)
    return None if any(contains_unknown(resource.props) for resource in resources) else resources


def _describe(request: Request) -> str:
    group = f"{request.group}/" if request.group else ""
    where = f" in {request.namespace}" if request.namespace else " cluster-wide"
    name = f" {request.name}" if request.name else ""
    return f"{request.verb} {group}{request.resource}{name}{where}"


def validate_ccm_permissions(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = _rbac_resources(args)
    if resources is None:
        return
    objects = [resource.props for resource in resources]
    for ccm in stack_ccm_containers(args):
        account = ServiceAccount(ccm.namespace, ccm.service_account)
        missing = [
            (request, why)
            for request, why in required_requests(ccm.namespace, image_version(ccm.image or ""))
            if not allowed(objects, account, request)
        ]
        for request, why in missing:
            report(
                f"CCM service account {account.namespace}/{account.name} may not {_describe(request)} ({why}): "
                "grant it through the CCM's ClusterRole/Role bindings (components/render/rbac.py).",
                ccm.urn,
            )


def validate_no_wildcard(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in RBAC_TYPES:
        return
    manifest = plain(args.props)
    for role, rule in wildcard_rules([manifest]):
        report(
            f"{manifest.get('kind')} '{role or args.name}' grants every verb on every resource ({rule}): list "
            "the verbs and resources the workload needs.",
            None,
        )
    if dig(manifest, "roleRef", "kind") == "ClusterRole" and dig(manifest, "roleRef", "name") == "cluster-admin":
        report(
            f"{manifest.get('kind')} '{args.name}' binds cluster-admin (every verb on every resource): bind a "
            "role with only the permissions needed.",
            None,
        )


def validate_secrets_only_in_kube_system(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = _rbac_resources(args)
    if resources is None:
        return
    urns = {id(resource.props): resource.urn for resource in resources}
    for grant in grants([resource.props for resource in resources]):
        if grant.namespace == SECRETS_NAMESPACE:
            continue
        verbs = [
            verb
            for verb in ("get", "list", "watch")
            if any(rule_allows(rule, Request(verb, "secrets", namespace=grant.namespace)) for rule in grant.rules)
        ]
        if verbs:
            name = dig(grant.binding, "metadata", "name")
            scope = f"namespace {grant.namespace}" if grant.namespace else "every namespace"
            subjects = ", ".join(f"{s.get('kind')} {s.get('name')}" for s in grant.subjects) or "nobody"
            report(
                f"{grant.binding.get('kind')} '{name}' lets {subjects} {'/'.join(verbs)} secrets in {scope}: "
                f"grant secrets only through a Role and RoleBinding in {SECRETS_NAMESPACE}.",
                urns.get(id(grant.binding)),
            )


POLICIES: Final = [
    stack_policy(
        "ccm-rbac-sufficient",
        "The CCM's service account may do everything the CCM does (the field report's forbidden errors).",
        validate_ccm_permissions,
        severity=Severity.HIGH,
        remediation="Bind system:cloud-controller-manager and extension-apiserver-authentication-reader (and, "
        "for a release that reads Secrets, a Role for them in its namespace) to the CCM's service account "
        "(components/render/rbac.py).",
    ),
    resource_policy(
        "rbac-no-wildcard",
        "No role grants * on * and no binding uses cluster-admin.",
        validate_no_wildcard,
        severity=Severity.CRITICAL,
        remediation="Name the verbs and resources a role needs.",
    ),
    stack_policy(
        "secrets-readable-only-in-kube-system",
        "Secrets are readable only through bindings in kube-system.",
        validate_secrets_only_in_kube_system,
        severity=Severity.HIGH,
        remediation="Grant secrets get/list/watch with a Role + RoleBinding in kube-system, never cluster-wide.",
    ),
]
