"""The aws-cloud-controller-manager's Kubernetes objects as plain manifests.

Every failure of the field report is designed out here: the client and front-proxy CAs are
mounted (no "missing content for CA bundle"), the service account may do what the CCM does
(no "forbidden"), the cloud config carries only keys its release knows, and the image is the
release row's published tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from components.render.rbac import (
    AUTH_READER_ROLE,
    AWS_CONTROLLER_ACCOUNTS,
    CLUSTER_ROLE,
    CONTROLLERS_ROLE,
    NAMESPACE,
    SERVICE_ACCOUNT,
    aws_controller_rules,
    ccm_cluster_role_rules,
    ccm_secrets_rules,
)
from components.versions import Release

Manifest = dict[str, Any]

DAEMONSET = "aws-cloud-controller-manager"
APP_LABELS = {"k8s-app": DAEMONSET}
CLIENT_CA_SECRET = "aws-ccm-client-ca"
REQUESTHEADER_CA_SECRET = "aws-ccm-requestheader-ca"
CLOUD_CONFIG_MAP = "aws-cloud-config"
CLOUD_CONFIG_FILE = "cloud.conf"
CLIENT_CA_FILE = "ca.crt"
REQUESTHEADER_CA_FILE = "front-proxy-ca.crt"
MOUNT_ROOT = "/etc/kubernetes/aws-ccm"
CHECKSUM_ANNOTATION = "checksum/cloud-config"
SECURE_PORT = 10258
FRONT_PROXY_CLIENT = "front-proxy-client"
UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
# distroless's "nonroot" user. The CCM needs no root: it binds an unprivileged port (10258),
# reads world-readable mounts, keeps its self-signed serving certificate in memory and reaches
# IMDS over the host network, which needs no privilege.
NONROOT_ID = 65532


@dataclass(frozen=True)
class Mount:
    volume: str
    source: Manifest
    directory: str


MOUNTS = (
    Mount("client-ca", {"secret": {"secretName": CLIENT_CA_SECRET}}, f"{MOUNT_ROOT}/client-ca"),
    Mount("requestheader-ca", {"secret": {"secretName": REQUESTHEADER_CA_SECRET}}, f"{MOUNT_ROOT}/requestheader-ca"),
    Mount("cloud-config", {"configMap": {"name": CLOUD_CONFIG_MAP}}, f"{MOUNT_ROOT}/cloud-config"),
)


@dataclass(frozen=True)
class CcmSettings:
    release: Release
    image: str
    cluster_name: str
    cloud_config: str


def ccm_args(cluster_name: str, mount_root: str = MOUNT_ROOT) -> list[str]:
    """The CCM's command line; `mount_root` lets the end-to-end harness run it as a process."""
    return [
        "--cloud-provider=aws",
        f"--cloud-config={mount_root}/cloud-config/{CLOUD_CONFIG_FILE}",
        f"--cluster-name={cluster_name}",
        "--use-service-account-credentials=true",
        "--configure-cloud-routes=false",
        "--allocate-node-cidrs=false",
        f"--client-ca-file={mount_root}/client-ca/{CLIENT_CA_FILE}",
        f"--requestheader-client-ca-file={mount_root}/requestheader-ca/{REQUESTHEADER_CA_FILE}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--leader-elect=true",
        f"--secure-port={SECURE_PORT}",
        "--v=2",
    ]


def config_checksum(cloud_config: str) -> str:
    return hashlib.sha256(cloud_config.encode()).hexdigest()


def _metadata(name: str, namespace: str | None = NAMESPACE) -> Manifest:
    metadata: Manifest = {"name": name, "labels": dict(APP_LABELS)}
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def tolerations(release: Release) -> list[Manifest]:
    # The CCM is what removes the uninitialized taint, and it must run before the CNI has
    # made the node Ready (Cilium needs the addresses the CCM sets).
    keys = [UNINITIALIZED_TAINT, *release.control_plane_taint_keys, "node.kubernetes.io/not-ready"]
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]


def _health_probe(initial_delay_seconds: int) -> Manifest:
    return {
        "httpGet": {"path": "/healthz", "port": SECURE_PORT, "scheme": "HTTPS"},
        "initialDelaySeconds": initial_delay_seconds,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }


def daemonset(settings: CcmSettings) -> Manifest:
    release = settings.release
    container = {
        "name": DAEMONSET,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ccm_args(settings.cluster_name),
        "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": m.volume, "mountPath": m.directory, "readOnly": True} for m in MOUNTS],
        "livenessProbe": _health_probe(initial_delay_seconds=20),
        # Ready once the secure port serves: a rollout waits for the new pod before the next node.
        "readinessProbe": _health_probe(initial_delay_seconds=5),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _metadata(DAEMONSET),
        "spec": {
            "selector": {"matchLabels": dict(APP_LABELS)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {
                    "labels": dict(APP_LABELS),
                    # A new cloud config changes the pod template, so the pods roll.
                    "annotations": {CHECKSUM_ANNOTATION: config_checksum(settings.cloud_config)},
                },
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    # IMDSv2 with hop limit 1 answers only the host network namespace.
                    "hostNetwork": True,
                    # Cluster DNS needs the CNI, which needs the addresses the CCM sets.
                    "dnsPolicy": "Default",
                    "priorityClassName": "system-node-critical",
                    "nodeSelector": {release.control_plane_label: ""},
                    "tolerations": tolerations(release),
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NONROOT_ID,
                        "runAsGroup": NONROOT_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": m.volume, **m.source} for m in MOUNTS],
                },
            },
        },
    }


def _secrets_role(subject: Manifest) -> list[Manifest]:
    """A Role and RoleBinding to read Secrets in kube-system, for a CCM release that reads them."""
    name = f"{SERVICE_ACCOUNT}:secrets"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(name),
            "rules": ccm_secrets_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject],
        },
    ]


def ccm_manifests(settings: CcmSettings, cluster_ca_cert_pem: Any, front_proxy_ca_cert_pem: Any) -> list[Manifest]:
    """Every object, dependencies first (the DaemonSet last).

    The CA certificates are placed as given (strings, or Pulumi outputs when the component
    builds the objects before the certificates exist)."""
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(SERVICE_ACCOUNT)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _metadata(CLUSTER_ROLE, None),
            "rules": ccm_cluster_role_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _metadata(CLUSTER_ROLE, None),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [subject],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _metadata(CONTROLLERS_ROLE, None),
            "rules": aws_controller_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _metadata(CONTROLLERS_ROLE, None),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CONTROLLERS_ROLE},
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
                for account in AWS_CONTROLLER_ACCOUNTS
            ],
        },
        *(_secrets_role(subject) if settings.release.ccm_reads_secrets else []),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _metadata(f"{SERVICE_ACCOUNT}:apiserver-authentication-reader"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AUTH_READER_ROLE},
            "subjects": [subject],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": _metadata(CLIENT_CA_SECRET),
            "stringData": {CLIENT_CA_FILE: cluster_ca_cert_pem},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": _metadata(REQUESTHEADER_CA_SECRET),
            "stringData": {REQUESTHEADER_CA_FILE: front_proxy_ca_cert_pem},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(CLOUD_CONFIG_MAP),
            "data": {CLOUD_CONFIG_FILE: settings.cloud_config},
        },
        daemonset(settings),
    ]
