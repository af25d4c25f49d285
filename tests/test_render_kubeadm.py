"""kubeadm configuration per release, the discovery hash, the kubeconfig and reviewed snapshots.

Snapshots in tests/golden/bootstrap/ were read line by line against the facts; refresh them
with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from bootstrap_support import (
    AGGREGATION_FLAGS,
    CA_HASH,
    ENDPOINT,
    GOLDEN,
    SANS,
    V4_FIRST,
    V6_FIRST,
    as_map,
    control_plane_join_docs,
    expected_kubeadm_api,
    expected_node_ip_mode,
    init_docs,
    join_docs,
    make_cluster,
    primaries,
    rows,
    user_data,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from golden_support import assert_matches_golden

from components.render.bootstrap import ClusterBootstrap
from components.render.kubeadm import (
    discovery_hash,
    kubelet_node_ip_expression,
    render_control_plane_join_configuration,
    render_init_configuration,
    render_join_configuration,
)
from components.render.kubeconfig import render_kubeconfig
from components.settings import Architecture, IpFamily
from components.versions import RELEASES, NodeIpMode, Release, release_for

# --- kubeadm configuration -------------------------------------------------------------------


@rows
def test_every_kubeadm_document_uses_the_release_api(release: Release) -> None:
    init, join = init_docs(release), join_docs(release)
    assert set(init) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    assert set(join) == {"JoinConfiguration", "KubeletConfiguration"}
    api = expected_kubeadm_api(release)
    for doc in [init["InitConfiguration"], init["ClusterConfiguration"], join["JoinConfiguration"]]:
        assert doc["apiVersion"] == api
    assert init["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert init["KubeletConfiguration"] == join["KubeletConfiguration"]


@pytest.mark.parametrize(("minor", "form"), [("1.30", dict), ("1.31", list), ("1.22", dict), ("1.21", dict)], ids=str)
def test_extra_args_are_lists_from_v1beta4_and_maps_before(minor: str, form: type) -> None:
    release = release_for(minor)
    cluster_config = init_docs(release)["ClusterConfiguration"]
    for args in [
        cluster_config["apiServer"]["extraArgs"],
        cluster_config["controllerManager"]["extraArgs"],
        init_docs(release)["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"],
        join_docs(release)["JoinConfiguration"]["nodeRegistration"]["kubeletExtraArgs"],
    ]:
        assert isinstance(args, form)
    if form is list:
        assert cluster_config["controllerManager"]["extraArgs"] == [
            {"name": "cloud-provider", "value": "external"},
            {"name": "node-cidr-mask-size-ipv4", "value": "24"},
            {"name": "node-cidr-mask-size-ipv6", "value": "64"},
        ]


@rows
@primaries
def test_pod_and_service_subnets_list_the_primary_family_first(
    release: Release, families: tuple[IpFamily, IpFamily]
) -> None:
    networking = init_docs(release, families)["ClusterConfiguration"]["networking"]
    if families == V4_FIRST:
        assert networking == {
            "podSubnet": "10.244.0.0/16,fd00:10:244::/48",
            "serviceSubnet": "10.96.0.0/16,fd00:10:96::/112",
        }
    else:
        assert networking == {
            "podSubnet": "fd00:10:244::/48,10.244.0.0/16",
            "serviceSubnet": "fd00:10:96::/112,10.96.0.0/16",
        }


@rows
@primaries
def test_advertise_address_has_the_family_of_the_first_service_cidr(
    release: Release, families: tuple[IpFamily, IpFamily]
) -> None:
    # kube-apiserver: "service IP family ... must match public address family".
    endpoint = init_docs(release, families)["InitConfiguration"]["localAPIEndpoint"]
    expected = "${NODE_IPV4}" if families == V4_FIRST else "${NODE_IPV6}"
    assert endpoint == {"advertiseAddress": expected, "bindPort": 6443}


@rows
@primaries
def test_kubelet_node_ip_follows_the_release_mode(release: Release, families: tuple[IpFamily, IpFamily]) -> None:
    mode = expected_node_ip_mode(release)
    expected = {
        NodeIpMode.UNSET: None,
        NodeIpMode.IPV6: "${NODE_IPV6}",
        NodeIpMode.DUAL: "${NODE_IPV4},${NODE_IPV6}" if families == V4_FIRST else "${NODE_IPV6},${NODE_IPV4}",
    }[mode]
    assert kubelet_node_ip_expression(release.node_ip_mode, families) == expected
    for doc in [init_docs(release, families)["InitConfiguration"], join_docs(release, families)["JoinConfiguration"]]:
        kubelet_args = as_map(release, doc["nodeRegistration"]["kubeletExtraArgs"])
        assert kubelet_args.get("node-ip") == expected
        assert kubelet_args["cloud-provider"] == "external"
        assert set(kubelet_args) <= {"cloud-provider", "node-ip"}


@rows
def test_controller_manager_is_external_and_api_server_has_aggregation_flags_only(release: Release) -> None:
    cluster_config = init_docs(release)["ClusterConfiguration"]
    assert as_map(release, cluster_config["apiServer"]["extraArgs"]) == AGGREGATION_FLAGS
    assert as_map(release, cluster_config["controllerManager"]["extraArgs"]) == {
        "cloud-provider": "external",
        "node-cidr-mask-size-ipv4": "24",
        "node-cidr-mask-size-ipv6": "64",
    }
    assert "cloud-provider" not in cluster_config["apiServer"]["extraArgs"].__repr__()


@rows
def test_cluster_configuration_names_the_exact_release_and_endpoint(release: Release) -> None:
    cluster_config = init_docs(release)["ClusterConfiguration"]
    assert cluster_config["kubernetesVersion"] == f"v{release.kubernetes_version}"
    assert re.fullmatch(r"v1\.\d+\.\d+", cluster_config["kubernetesVersion"])
    assert cluster_config["clusterName"] == "dev"
    assert cluster_config["controlPlaneEndpoint"] == ENDPOINT
    assert cluster_config["apiServer"]["certSANs"] == list(SANS)
    # k8s.gcr.io (kubeadm's default before 1.25) is frozen: pin registry.k8s.io there.
    if release.version.minor < 25:
        assert cluster_config["imageRepository"] == "registry.k8s.io"
        assert cluster_config["dns"] == {"imageRepository": "registry.k8s.io/coredns"}
    else:
        assert "imageRepository" not in cluster_config and "dns" not in cluster_config


@rows
def test_init_creates_a_never_expiring_node_token_from_the_placeholder(release: Release) -> None:
    init = init_docs(release)["InitConfiguration"]
    (token,) = init["bootstrapTokens"]
    assert token["token"] == "${BOOTSTRAP_TOKEN}"
    assert token["ttl"] == "0s"
    assert token["groups"] == ["system:bootstrappers:kubeadm:default-node-token"]
    assert sorted(token["usages"]) == ["authentication", "signing"]
    registration = init["nodeRegistration"]
    assert registration["name"] == "${NODE_NAME}"
    bare = "/run/containerd/containerd.sock"
    assert registration["criSocket"] == (bare if release.version.minor <= 21 else f"unix://{bare}")


@rows
def test_join_discovers_the_control_plane_by_token_and_pinned_ca(release: Release) -> None:
    join = join_docs(release)["JoinConfiguration"]
    assert join["discovery"] == {
        "bootstrapToken": {"apiServerEndpoint": ENDPOINT, "token": "${BOOTSTRAP_TOKEN}", "caCertHashes": [CA_HASH]}
    }
    assert join["nodeRegistration"]["name"] == "${NODE_NAME}"


@rows
@primaries
def test_a_joining_control_plane_advertises_itself_and_discovers_like_a_worker(
    release: Release, families: tuple[IpFamily, IpFamily]
) -> None:
    docs = control_plane_join_docs(release, families)
    assert list(docs) == ["JoinConfiguration", "KubeletConfiguration"]
    join = docs["JoinConfiguration"]
    assert join["apiVersion"] == expected_kubeadm_api(release)
    # Its own address, of the first service CIDR's family (kube-apiserver insists), on 6443.
    own = "${NODE_IPV4}" if families[0] is IpFamily.IPV4 else "${NODE_IPV6}"
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": own, "bindPort": 6443}}
    # No certificateKey: the shared CAs and keys come from SSM, not from kubeadm's upload-certs Secret.
    assert "certificateKey" not in join["controlPlane"]
    worker = join_docs(release, families)
    assert {key: value for key, value in join.items() if key != "controlPlane"} == worker["JoinConfiguration"]
    assert docs["KubeletConfiguration"] == worker["KubeletConfiguration"]


@rows
def test_kubelet_uses_systemd_cgroups_and_refuses_cgroup_v1_only_where_kubelet_does(release: Release) -> None:
    kubelet = init_docs(release)["KubeletConfiguration"]
    assert kubelet["cgroupDriver"] == "systemd"
    if release.version.minor >= 35:
        assert kubelet["failCgroupV1"] is True
    else:
        assert "failCgroupV1" not in kubelet


def test_bad_inputs_are_rejected() -> None:
    release = RELEASES[-1]
    with pytest.raises(ValueError, match="ip_families"):
        ClusterBootstrap(**{**make_cluster(release).__dict__, "ip_families": (IpFamily.IPV4, IpFamily.IPV4)})
    for endpoint in ["10.0.0.10", "https://10.0.0.10:6443", "2600::1:6443", "10.0.0.10:0"]:
        with pytest.raises(ValueError, match="control_plane_endpoint"):
            ClusterBootstrap(**{**make_cluster(release).__dict__, "control_plane_endpoint": endpoint})
    assert ClusterBootstrap(**{**make_cluster(release).__dict__, "control_plane_endpoint": "[2600::1]:6443"})
    with pytest.raises(ValueError, match="crictl_version"):
        make_cluster(dataclasses.replace(release, crictl_version=""))
    with pytest.raises(ValueError, match="ca_cert_hash"):
        render_join_configuration(make_cluster(release), "sha256:ABC")
    with pytest.raises(ValueError, match="ca_cert_hash"):
        render_control_plane_join_configuration(make_cluster(release), "sha256:" + "0" * 63)


# --- discovery hash --------------------------------------------------------------------------


def self_signed_ca(key: Any) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("key_type", ["rsa", "ecdsa"])
def test_discovery_hash_matches_openssl(key_type: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    key = rsa.generate_private_key(65537, 2048) if key_type == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = self_signed_ca(key)
    # kubeadm's documented recipe: openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum
    public = subprocess.run([openssl, "x509", "-pubkey", "-noout"], input=pem.encode(), capture_output=True, check=True)
    der = subprocess.run(
        [openssl, "pkey", "-pubin", "-outform", "der"], input=public.stdout, capture_output=True, check=True
    )
    assert discovery_hash(pem) == "sha256:" + hashlib.sha256(der.stdout).hexdigest()
    assert discovery_hash(pem) != discovery_hash(self_signed_ca(rsa.generate_private_key(65537, 2048)))


# --- kubeconfig ------------------------------------------------------------------------------


def test_kubeconfig_embeds_base64_credentials() -> None:
    text = render_kubeconfig("dev", "https://203.0.113.10:6443", "CA PEM\n", "CERT PEM\n", "KEY PEM\n")
    config = yaml.safe_load(text)
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    (cluster,) = config["clusters"]
    assert cluster == {
        "name": "dev",
        "cluster": {"server": "https://203.0.113.10:6443", "certificate-authority-data": "Q0EgUEVNCg=="},
    }
    (user,) = config["users"]
    assert user["name"] == "admin"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"CERT PEM\n"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"KEY PEM\n"
    assert config["contexts"] == [{"name": "admin@dev", "context": {"cluster": "dev", "user": "admin"}}]
    assert config["current-context"] == "admin@dev"


@pytest.mark.parametrize(
    "server", ["203.0.113.10:6443", "http://203.0.113.10:6443", "https://", "https://h/x", "https://h:99999"]
)
def test_kubeconfig_rejects_a_server_that_is_not_an_https_url(server: str) -> None:
    with pytest.raises(ValueError, match="server"):
        render_kubeconfig("dev", server, "a", "b", "c")


# --- snapshots -------------------------------------------------------------------------------

NLB_ENDPOINT = "prod-api-0123456789abcdef.elb.us-east-1.amazonaws.com:6443"

SNAPSHOTS = {
    "init-1.21-ipv4-first.yaml": lambda: render_init_configuration(make_cluster(release_for("1.21")), SANS),
    "join-1.22-ipv6-first.yaml": lambda: render_join_configuration(
        make_cluster(release_for("1.22"), V6_FIRST), CA_HASH
    ),
    "init-1.35-ipv4-first.yaml": lambda: render_init_configuration(make_cluster(release_for("1.35")), SANS),
    "join-1.35-ipv4-first.yaml": lambda: render_join_configuration(make_cluster(release_for("1.35")), CA_HASH),
    # kubeadm.k8s.io/v1beta3 and v1beta4, behind a load balancer (the prod stack's endpoint shape).
    "join-control-plane-1.22-ipv4-first.yaml": lambda: render_control_plane_join_configuration(
        dataclasses.replace(make_cluster(release_for("1.22")), control_plane_endpoint=NLB_ENDPOINT), CA_HASH
    ),
    "join-control-plane-1.35-ipv6-first.yaml": lambda: render_control_plane_join_configuration(
        dataclasses.replace(make_cluster(release_for("1.35"), V6_FIRST), control_plane_endpoint=NLB_ENDPOINT), CA_HASH
    ),
    "user-data-join-control-plane-1.35-amd64.yaml": lambda: user_data("join-control-plane", release_for("1.35")),
    "user-data-control-plane-1.35-amd64.yaml": lambda: user_data("control-plane", release_for("1.35")),
    "user-data-worker-1.22-arm64.yaml": lambda: user_data("worker", release_for("1.22"), V6_FIRST, Architecture.ARM64),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_rendering_matches_reviewed_snapshot(name: str) -> None:
    assert_matches_golden(GOLDEN / name, SNAPSHOTS[name]())
