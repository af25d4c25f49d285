"""The field report's dual-stack smoke test: kuard behind a PreferDualStack Service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.settings import Architecture, IpFamily

NAMESPACE = "dualstack-smoke"
NAME = "kuard"
KUARD_IMAGES = {
    Architecture.AMD64: "gcr.io/kuar-demo/kuard-amd64:blue",
    Architecture.ARM64: "gcr.io/kuar-demo/kuard-arm64:blue",
}
KUARD_PORT = 8080
SERVICE_FAMILY = {IpFamily.IPV4: "IPv4", IpFamily.IPV6: "IPv6"}

NODE_ADDRESSES_COMMAND = (
    'kubectl get nodes -o go-template --template=\'{{range .items}}{{.metadata.name}}{{"\\n"}}'
    '{{range .status.addresses}}{{printf "  %s: %s \\n" .type .address}}{{end}}{{end}}\''
)
SERVICE_IPS_COMMAND = (
    f"kubectl -n {NAMESPACE} get service {NAME} -o go-template "
    "--template='{{range .spec.clusterIPs}}{{printf \"%s \\n\" .}}{{end}}'"
)


def smoke_manifests(architecture: Architecture, ip_families: Sequence[IpFamily]) -> list[dict[str, Any]]:
    labels = {"app": NAME}
    metadata = {"name": NAME, "namespace": NAMESPACE, "labels": labels}
    container = {
        "name": NAME,
        "image": KUARD_IMAGES[architecture],
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": KUARD_PORT}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": KUARD_PORT}},
        "livenessProbe": {"httpGet": {"path": "/healthy", "port": KUARD_PORT}},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [container],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {
                "selector": labels,
                "ipFamilyPolicy": "PreferDualStack",
                "ipFamilies": [SERVICE_FAMILY[family] for family in ip_families],
                "ports": [{"name": "http", "port": 80, "targetPort": KUARD_PORT}],
            },
        },
    ]
