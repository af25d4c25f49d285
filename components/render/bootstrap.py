"""What every node's bootstrap shares: the cluster's plain values and the boot-time placeholders.

`ClusterBootstrap` is the one input of the kubeadm, boot-script and cloud-init renderers.
Values a node only learns at boot (its name and addresses) and the bootstrap token (a
secret that must never enter user data) are `${VAR}` placeholders; the boot script
substitutes exactly `PLACEHOLDER_VARIABLES` with envsubst before running kubeadm.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from components.settings import Architecture, DualStackCidrs, IpFamily
from components.versions import KubeadmApi, Release

NODE_NAME = "NODE_NAME"
NODE_IPV4 = "NODE_IPV4"
NODE_IPV6 = "NODE_IPV6"
BOOTSTRAP_TOKEN = "BOOTSTRAP_TOKEN"
PLACEHOLDER_VARIABLES: tuple[str, ...] = (NODE_NAME, NODE_IPV4, NODE_IPV6, BOOTSTRAP_TOKEN)

ADDRESS_VARIABLE: Mapping[IpFamily, str] = {IpFamily.IPV4: NODE_IPV4, IpFamily.IPV6: NODE_IPV6}
"""The placeholder of the node's address of each family."""
CONTAINERD_SOCKET = "/run/containerd/containerd.sock"


def placeholder(variable: str) -> str:
    return "${" + variable + "}"


@dataclass(frozen=True)
class ClusterBootstrap:
    """What every node of the cluster shares."""

    release: Release
    cluster_name: str
    region: str
    ip_families: tuple[IpFamily, IpFamily]
    """Primary family first: the order of podSubnet, serviceSubnet and a dual --node-ip."""
    pod_cidrs: DualStackCidrs
    service_cidrs: DualStackCidrs
    control_plane_endpoint: str
    """`host:port` of the API server: the control plane's fixed private IPv4, e.g. 10.0.0.10:6443."""
    ssm_prefix: str
    """SSM path below which the nodes find the PKI and the bootstrap token."""
    architecture: Architecture

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid ClusterBootstrap: " + "; ".join(problems))

    @property
    def api(self) -> KubeadmApi:
        return self.release.kubeadm_api

    @property
    def cri_socket(self) -> str:
        # v1beta2 (kubeadm <= 1.21) expects a bare path; later kubeadm warns about one.
        return CONTAINERD_SOCKET if self.api is KubeadmApi.V1BETA2 else f"unix://{CONTAINERD_SOCKET}"

    @property
    def advertise_address(self) -> str:
        # kube-apiserver refuses an advertise address whose family differs from the first
        # service CIDR's ("service IP family ... must match public address family").
        return placeholder(ADDRESS_VARIABLE[self.ip_families[0]])


def _problems(cluster: ClusterBootstrap) -> list[str]:
    problems = []
    if set(cluster.ip_families) != {IpFamily.IPV4, IpFamily.IPV6}:
        problems.append(f"ip_families must hold IPv4 and IPv6 once each, got {cluster.ip_families}")
    if not cluster.cluster_name:
        problems.append("cluster_name is empty")
    if not _is_host_port(cluster.control_plane_endpoint):
        problems.append(f"control_plane_endpoint must be host:port, got {cluster.control_plane_endpoint!r}")
    if not cluster.release.crictl_version:
        problems.append(f"release {cluster.release.minor} names no crictl_version to install")
    if not cluster.ssm_prefix.startswith("/") or cluster.ssm_prefix.endswith("/"):
        problems.append(f"ssm_prefix must start and not end with '/', got {cluster.ssm_prefix!r}")
    return problems


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
    elif not host or ":" in host:
        return False
    return port.isdigit() and 0 < int(port) < 65536
