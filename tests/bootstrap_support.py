"""Shared inputs and parsers of the bootstrap renderer tests.

Expected values come from docs/reference/ (kubelet-and-kubeadm.md: kubeadm API per version,
node-ip per release range, discovery hash; flags-and-rbac.md: the aggregation flags) rather than
from the code.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml
from golden_support import GOLDEN_DIR

from components.render.bootstrap import ClusterBootstrap
from components.render.cloudinit import (
    render_control_plane_join_user_data,
    render_control_plane_user_data,
    render_worker_user_data,
)
from components.render.kubeadm import (
    render_control_plane_join_configuration,
    render_init_configuration,
    render_join_configuration,
)
from components.settings import Architecture, DualStackCidrs, IpFamily
from components.versions import RELEASES, NodeIpMode, Release

GOLDEN = GOLDEN_DIR / "bootstrap"
PREFIX = "/k8s-dualstack-aws/dev"
ENDPOINT = "10.0.0.10:6443"
SANS = ("203.0.113.10", "10.0.0.10", "2600:1f18:1234:5600::10")
CA_HASH = "sha256:" + "0123456789abcdef" * 4
# The other control planes of a three-zone cluster, as a joining one lists them (its own is left out).
ETCD_PEERS = ("10.0.0.10", "10.0.32.10")
V4_FIRST = (IpFamily.IPV4, IpFamily.IPV6)
V6_FIRST = (IpFamily.IPV6, IpFamily.IPV4)
# Shape kubeadm demands of a bootstrap token: a real one must never reach user data.
TOKEN_SHAPE = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")

rows = pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])
primaries = pytest.mark.parametrize("families", [V4_FIRST, V6_FIRST], ids=["ipv4-first", "ipv6-first"])

AGGREGATION_FLAGS = {
    "requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
    "requestheader-allowed-names": "front-proxy-client",
    "requestheader-username-headers": "X-Remote-User",
    "requestheader-group-headers": "X-Remote-Group",
    "requestheader-extra-headers-prefix": "X-Remote-Extra-",
    "proxy-client-cert-file": "/etc/kubernetes/pki/front-proxy-client.crt",
    "proxy-client-key-file": "/etc/kubernetes/pki/front-proxy-client.key",
    "enable-aggregator-routing": "true",
}


def expected_kubeadm_api(release: Release) -> str:
    """Facts: v1beta2 up to 1.21, v1beta3 from 1.22, v1beta4 from 1.31."""
    minor = release.version.minor
    return "kubeadm.k8s.io/" + ("v1beta2" if minor <= 21 else "v1beta3" if minor < 31 else "v1beta4")


def expected_node_ip_mode(release: Release) -> NodeIpMode:
    """1.21 unset; 1.22-1.23 one IPv6; 1.24-1.28 unset (PreferNodeIP); 1.29+ both (CloudDualStackNodeIPs)."""
    minor = release.version.minor
    if minor == 21 or 24 <= minor <= 28:
        return NodeIpMode.UNSET
    return NodeIpMode.IPV6 if minor in (22, 23) else NodeIpMode.DUAL


def make_cluster(
    release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST, arch: Architecture = Architecture.AMD64
) -> ClusterBootstrap:
    return ClusterBootstrap(
        release=release,
        cluster_name="dev",
        region="us-east-1",
        ip_families=families,
        pod_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.244.0.0/16"), ipaddress.IPv6Network("fd00:10:244::/48")),
        service_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.96.0.0/16"), ipaddress.IPv6Network("fd00:10:96::/112")),
        control_plane_endpoint=ENDPOINT,
        ssm_prefix=PREFIX,
        architecture=arch,
    )


def documents(text: str) -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all(text))
    kinds = [doc["kind"] for doc in docs]
    assert len(set(kinds)) == len(kinds), kinds
    return {doc["kind"]: doc for doc in docs}


def init_docs(release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST) -> dict[str, dict[str, Any]]:
    return documents(render_init_configuration(make_cluster(release, families), SANS))


def join_docs(release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST) -> dict[str, dict[str, Any]]:
    return documents(render_join_configuration(make_cluster(release, families), CA_HASH))


def control_plane_join_docs(
    release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST
) -> dict[str, dict[str, Any]]:
    return documents(render_control_plane_join_configuration(make_cluster(release, families), CA_HASH))


def as_map(release: Release, args: Any) -> dict[str, str]:
    """Reads extraArgs in the form the release's kubeadm API must use, failing on the other form."""
    if expected_kubeadm_api(release).endswith("v1beta4"):
        assert isinstance(args, list), args
        assert all(set(item) == {"name", "value"} for item in args), args
        return {item["name"]: item["value"] for item in args}
    assert isinstance(args, dict), args
    return args


ROLES = ["control-plane", "first-of-three-control-planes", "join-control-plane", "worker"]


def user_data(
    role: str, release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST, arch: Architecture = Architecture.AMD64
) -> str:
    cluster = make_cluster(release, families, arch)
    if role == "control-plane":
        return render_control_plane_user_data(cluster, SANS)
    if role == "first-of-three-control-planes":
        return render_control_plane_user_data(cluster, SANS, ca_cert_hash=CA_HASH, etcd_peers=ETCD_PEERS)
    if role == "join-control-plane":
        return render_control_plane_join_user_data(cluster, CA_HASH, ETCD_PEERS)
    return render_worker_user_data(cluster, CA_HASH)


def written(text: str) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}
