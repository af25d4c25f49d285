"""kubeadm configuration of the cluster's nodes: pure functions of plain values.

Values a node only learns at boot and the bootstrap token are `${VAR}` placeholders
(`components.render.bootstrap`); the boot script substitutes them before running kubeadm.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from components.pki_layout import KUBERNETES_PKI_DIR, bootstrap_token_parameter
from components.render.bootstrap import (
    ADDRESS_VARIABLE,
    BOOTSTRAP_TOKEN,
    NODE_IPV6,
    NODE_NAME,
    ClusterBootstrap,
    placeholder,
)
from components.render.yaml_dump import dump_yaml
from components.settings import NODE_POD_MASK, DualStackCidrs, IpFamily
from components.versions import KubeadmApi, NodeIpMode, Release

KUBELET_CONFIG_API = "kubelet.config.k8s.io/v1beta1"
BOOTSTRAP_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
API_SERVER_BIND_PORT = 6443
_CA_CERT_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")

# kubeadm sets the same aggregation flags when it owns the front-proxy CA; they are pinned
# here because the CCM's secure port authenticates the API server by exactly these.
# enable-aggregator-routing sends aggregated-API calls to endpoint IPs rather than service
# ClusterIPs, so they work before kube-proxy and the CNI program services on this host.
API_SERVER_ARGS: Mapping[str, str] = {
    "enable-aggregator-routing": "true",
    "proxy-client-cert-file": f"{KUBERNETES_PKI_DIR}/front-proxy-client.crt",
    "proxy-client-key-file": f"{KUBERNETES_PKI_DIR}/front-proxy-client.key",
    "requestheader-allowed-names": "front-proxy-client",
    "requestheader-client-ca-file": f"{KUBERNETES_PKI_DIR}/front-proxy-ca.crt",
    "requestheader-extra-headers-prefix": "X-Remote-Extra-",
    "requestheader-group-headers": "X-Remote-Group",
    "requestheader-username-headers": "X-Remote-User",
}
CONTROLLER_MANAGER_ARGS: Mapping[str, str] = {
    "cloud-provider": "external",
    # The per-node blocks the settings validated the pod CIDRs against.
    "node-cidr-mask-size-ipv4": str(NODE_POD_MASK[4]),
    "node-cidr-mask-size-ipv6": str(NODE_POD_MASK[6]),
}
# CoreDNS needs its own entry: kubeadm appends `/coredns` only to its default repository.
IMAGE_REPOSITORY = "registry.k8s.io"
COREDNS_IMAGE_REPOSITORY = f"{IMAGE_REPOSITORY}/coredns"


def kubelet_node_ip_expression(mode: NodeIpMode, families: tuple[IpFamily, IpFamily]) -> str | None:
    """The kubelet's `--node-ip` with placeholders, or None when the flag must stay unset."""
    if mode is NodeIpMode.UNSET:
        return None
    if mode is NodeIpMode.IPV6:
        return placeholder(NODE_IPV6)
    return ",".join(placeholder(ADDRESS_VARIABLE[family]) for family in families)


def discovery_hash(ca_cert_pem: str) -> str:
    """kubeadm's `caCertHashes` entry: sha256 over the CA's DER SubjectPublicKeyInfo."""
    certificate = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def render_init_configuration(cluster: ClusterBootstrap, api_server_cert_sans: Sequence[str]) -> str:
    """Control plane: InitConfiguration, ClusterConfiguration and KubeletConfiguration."""
    return dump_yaml(
        _init_configuration(cluster),
        _cluster_configuration(cluster, api_server_cert_sans),
        _kubelet_configuration(cluster.release),
    )


def render_join_configuration(cluster: ClusterBootstrap, ca_cert_hash: str) -> str:
    """Worker: JoinConfiguration (token discovery pinned to the CA) and KubeletConfiguration.

    kubeadm join applies the kubelet-config ConfigMap that init uploaded and skips the
    KubeletConfiguration document; it is kept so both files state the same kubelet settings.
    """
    if not _CA_CERT_HASH.match(ca_cert_hash):
        raise ValueError(f"ca_cert_hash must be sha256:<64 hex digits>, got {ca_cert_hash!r}")
    return dump_yaml(_join_configuration(cluster, ca_cert_hash), _kubelet_configuration(cluster.release))


def render_control_plane_join_configuration(cluster: ClusterBootstrap, ca_cert_hash: str) -> str:
    """Another control plane: JoinConfiguration with `controlPlane` (stacked etcd, kubeadm's default)
    and KubeletConfiguration.

    Discovery is the workers' (bootstrap token, CA pinned). No `certificateKey`: the node fetched the
    shared CAs and keys from SSM as the first control plane did, and kubeadm uses the files it finds.
    The ClusterConfiguration (endpoint, SANs, networking) is the one `kubeadm init` uploaded.
    """
    if not _CA_CERT_HASH.match(ca_cert_hash):
        raise ValueError(f"ca_cert_hash must be sha256:<64 hex digits>, got {ca_cert_hash!r}")
    document = _join_configuration(cluster, ca_cert_hash)
    document["controlPlane"] = {
        "localAPIEndpoint": {"advertiseAddress": cluster.advertise_address, "bindPort": API_SERVER_BIND_PORT}
    }
    return dump_yaml(document, _kubelet_configuration(cluster.release))


def _init_configuration(cluster: ClusterBootstrap) -> dict[str, Any]:
    return {
        "apiVersion": cluster.api.value,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": placeholder(BOOTSTRAP_TOKEN),
                "description": f"worker join token, SSM {bootstrap_token_parameter(cluster.ssm_prefix)}",
                "groups": [BOOTSTRAP_TOKEN_GROUP],
                "usages": ["authentication", "signing"],
                # Never expires: workers created later (scale-out, replacements) join with
                # the same SSM token, and nothing on the nodes could mint a new one.
                "ttl": "0s",
            }
        ],
        "localAPIEndpoint": {"advertiseAddress": cluster.advertise_address, "bindPort": API_SERVER_BIND_PORT},
        "nodeRegistration": _node_registration(cluster),
    }


def _join_configuration(cluster: ClusterBootstrap, ca_cert_hash: str) -> dict[str, Any]:
    return {
        "apiVersion": cluster.api.value,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": cluster.control_plane_endpoint,
                "token": placeholder(BOOTSTRAP_TOKEN),
                "caCertHashes": [ca_cert_hash],
            }
        },
        "nodeRegistration": _node_registration(cluster),
    }


def _node_registration(cluster: ClusterBootstrap) -> dict[str, Any]:
    kubelet_args = {"cloud-provider": "external"}
    node_ip = kubelet_node_ip_expression(cluster.release.node_ip_mode, cluster.ip_families)
    if node_ip is not None:
        kubelet_args["node-ip"] = node_ip
    return {
        # The EC2 private DNS name: the CCM finds the instance by it.
        "name": placeholder(NODE_NAME),
        "criSocket": cluster.cri_socket,
        "kubeletExtraArgs": extra_args(cluster.api, kubelet_args),
    }


def _cluster_configuration(cluster: ClusterBootstrap, api_server_cert_sans: Sequence[str]) -> dict[str, Any]:
    release = cluster.release
    document: dict[str, Any] = {
        "apiVersion": cluster.api.value,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.cluster_name,
        "kubernetesVersion": f"v{release.kubernetes_version}",
        "controlPlaneEndpoint": cluster.control_plane_endpoint,
        "networking": {
            "podSubnet": _dual_stack(cluster.pod_cidrs, cluster.ip_families),
            "serviceSubnet": _dual_stack(cluster.service_cidrs, cluster.ip_families),
        },
        "apiServer": {
            "certSANs": list(dict.fromkeys(api_server_cert_sans)),
            "extraArgs": extra_args(cluster.api, API_SERVER_ARGS),
        },
        # kubeadm itself adds allocate-node-cidrs and cluster-cidr when podSubnet is set.
        "controllerManager": {"extraArgs": extra_args(cluster.api, CONTROLLER_MANAGER_ARGS)},
    }
    if release.kubeadm_defaults_to_frozen_registry:
        document["imageRepository"] = IMAGE_REPOSITORY
        document["dns"] = {"imageRepository": COREDNS_IMAGE_REPOSITORY}
    return document


def _kubelet_configuration(release: Release) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": KUBELET_CONFIG_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
    }
    if release.requires_cgroup_v2:
        # Stated, not defaulted: this release only runs on images that boot cgroup v2.
        document["failCgroupV1"] = True
    return document


def _dual_stack(cidrs: DualStackCidrs, families: tuple[IpFamily, IpFamily]) -> str:
    return ",".join(str(network) for network in cidrs.ordered(families))


def extra_args(api: KubeadmApi, args: Mapping[str, str]) -> dict[str, str] | list[dict[str, str]]:
    """Component flags in the form `api` expects: a map, or from v1beta4 a list of name/value."""
    ordered = sorted(args.items())
    if api is KubeadmApi.V1BETA4:
        return [{"name": name, "value": value} for name, value in ordered]
    return dict(ordered)
