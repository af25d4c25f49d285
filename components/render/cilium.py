"""Helm values of Cilium, dual-stack with Kubernetes host-scope IPAM, per chart version."""

from __future__ import annotations

from typing import Any

from components.versions import Version

HELM_REPOSITORY = "https://helm.cilium.io/"


def cilium_values(chart_version: str, api_server_host: str, api_server_port: int) -> dict[str, Any]:
    """Pod CIDRs come from kube-controller-manager's per-node allocation (`ipam.mode:
    kubernetes`), VXLAN between nodes, kube-proxy kept (kubeadm installs it)."""
    version = Version.parse(chart_version)
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
    # 1.14 replaced `tunnel` with routingMode/tunnelProtocol and 1.15 removed it;
    # kubeProxyReplacement went from disabled/partial/strict to "false" (1.14) to a boolean (1.16).
    if version < Version(1, 14):
        values |= {"tunnel": "vxlan", "kubeProxyReplacement": "disabled"}
    else:
        values |= {"routingMode": "tunnel", "tunnelProtocol": "vxlan"}
        values["kubeProxyReplacement"] = "false" if version < Version(1, 16) else False
    return values
