"""The dual-stack smoke test: agnhost `netexec` behind a PreferDualStack Service.

agnhost is the Kubernetes project's own e2e test image, served by registry.k8s.io as one
multi-architecture image (amd64 and arm64). `netexec` answers `/clientip` with the caller's
`ip:port`, so a request to each of the Service's cluster IPs shows which family carried it.
The tag is the one Kubernetes 1.35's own e2e tests run (`test/utils/image/manifest.go`); tag and
digest are in kubernetes/k8s.io `registry.k8s.io/images/k8s-staging-e2e-test-images/images.yaml`,
entry `agnhost` (docs/reference/artifacts.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.settings import IpFamily

NAMESPACE = "dualstack-smoke"
NAME = "agnhost"
AGNHOST_REPOSITORY = "registry.k8s.io/e2e-test-images/agnhost"
AGNHOST_TAG = "2.59"
AGNHOST_DIGEST = "sha256:10ed98804c877e505e17bced991682b6fd50ab1da9cddcd19935b48d645da40a"
"""The promoted digest of AGNHOST_TAG (its multi-architecture index): the tag cannot be moved under us."""
AGNHOST_IMAGE = f"{AGNHOST_REPOSITORY}:{AGNHOST_TAG}@{AGNHOST_DIGEST}"
HTTP_PORT = 8080
UDP_PORT = 8081
"""netexec's UDP server: not exposed, but netexec reports ready (/healthz, /readyz) only once it runs."""
SERVICE_PORT = 80
NETEXEC_ARGS = ("netexec", f"--http-port={HTTP_PORT}", f"--udp-port={UDP_PORT}")
CLIENT_IP_PATH = "/clientip"
SERVICE_FAMILY = {IpFamily.IPV4: "IPv4", IpFamily.IPV6: "IPv6"}

NODE_ADDRESSES_COMMAND = (
    'kubectl get nodes -o go-template --template=\'{{range .items}}{{.metadata.name}}{{"\\n"}}'
    '{{range .status.addresses}}{{printf "  %s: %s \\n" .type .address}}{{end}}{{end}}\''
)
SERVICE_IPS_COMMAND = (
    f"kubectl -n {NAMESPACE} get service {NAME} -o go-template "
    "--template='{{range .spec.clusterIPs}}{{printf \"%s \\n\" .}}{{end}}'"
)
# "<family> <cluster IP>" per line, in the Service's family order.
SERVICE_FAMILIES_TEMPLATE = (
    '{{range $i, $family := .spec.ipFamilies}}{{printf "%s %s\\n" $family (index $.spec.clusterIPs $i)}}{{end}}'
)
# One request per cluster IP, each naming its family: from inside a smoke pod (the image has curl),
# `curl` to the cluster IP's /clientip; netexec answers with the caller's address as it saw it,
# which is of the cluster IP's family (the pod's own address, or its node's when the request
# hairpins back to the calling pod). `-g`: an IPv6 literal in brackets is not a curl glob.
SERVICE_FAMILIES_COMMAND = (
    f"kubectl -n {NAMESPACE} get service {NAME} -o go-template --template='{SERVICE_FAMILIES_TEMPLATE}'"
    " | while read -r family ip; do"
    ' host="$ip"; case "$ip" in *:*) host="[$ip]";; esac;'
    ' printf \'%s %s -> \' "$family" "$ip";'
    f" kubectl -n {NAMESPACE} exec deploy/{NAME} -- curl -sS -g --max-time 5"
    f' "http://$host:{SERVICE_PORT}{CLIENT_IP_PATH}" </dev/null; echo;'
    " done"
)
SERVICE_FAMILIES_EXPECTED = (
    "IPv4 10.96.148.21 -> 10.244.1.7:43512",
    "IPv6 fd00:10:96::9c4e -> [fd00:10:244:1::7]:51288",
)
"""What `SERVICE_FAMILIES_COMMAND` prints on a healthy IPv4-primary cluster (addresses vary):
one line per family, the answer an address of that family."""


def smoke_manifests(ip_families: Sequence[IpFamily]) -> list[dict[str, Any]]:
    labels = {"app": NAME}
    metadata = {"name": NAME, "namespace": NAMESPACE, "labels": labels}
    container = {
        "name": NAME,
        "image": AGNHOST_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": list(NETEXEC_ARGS),
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        # /readyz turns 503 on SIGTERM, so a pod leaves the endpoints before it stops.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": HTTP_PORT}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": HTTP_PORT}},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        # netexec writes only on /upload (to /uploads), which the check never calls.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
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
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": HTTP_PORT}],
            },
        },
    ]
