"""Helm values of Cilium, dual-stack with Kubernetes host-scope IPAM, in the chart's values schema."""

from __future__ import annotations

from typing import Any

from components.versions import CiliumValuesSchema

HELM_REPOSITORY = "https://helm.cilium.io/"

# VXLAN between nodes and kube-proxy kept (kubeadm installs it), spelled the way each schema
# reads it; which schema a chart reads is the release matrix's business (versions.CiliumChart).
_TUNNEL_AND_KUBE_PROXY: dict[CiliumValuesSchema, dict[str, Any]] = {
    CiliumValuesSchema.TUNNEL: {"tunnel": "vxlan", "kubeProxyReplacement": "disabled"},
    CiliumValuesSchema.ROUTING_MODE: {
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        "kubeProxyReplacement": "false",
    },
    CiliumValuesSchema.ROUTING_MODE_BOOLEAN_KPR: {
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        "kubeProxyReplacement": False,
    },
}


def cilium_values(schema: CiliumValuesSchema, api_server_host: str, api_server_port: int) -> dict[str, Any]:
    """Pod CIDRs come from kube-controller-manager's per-node allocation (`ipam.mode:
    kubernetes`), VXLAN between nodes, kube-proxy kept (kubeadm installs it)."""
    values: dict[str, Any] = {
        "ipv4": {"enabled": True},
        "ipv6": {"enabled": True},
        "ipam": {"mode": "kubernetes"},
        # Pod IPv6 addresses come from a ULA range: leaving the node they must be masqueraded.
        "enableIPv4Masquerade": True,
        "enableIPv6Masquerade": True,
        # The agent must reach the API server before the kubernetes Service works.
        "k8sServiceHost": api_server_host,
        "k8sServicePort": api_server_port,
        "operator": {"replicas": 1},
    }
    return values | _TUNNEL_AND_KUBE_PROXY[schema]
