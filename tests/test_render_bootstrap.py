"""Node bootstrap renderers: kubeadm configuration, cloud-init user data, kubeconfig.

Expected values come from ../shared/reference/ccm-facts.md (kubeadm API per version, the
aggregation flags, node-ip per release range, discovery hash) rather than from the code.
Snapshots in tests/golden/bootstrap/ were read line by line against those facts; refresh
them with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from components.pki_layout import CONTROL_PLANE_FILES
from components.render import scripts
from components.render.cloudinit import render_control_plane_user_data, render_worker_user_data
from components.render.kubeadm import (
    ClusterBootstrap,
    discovery_hash,
    kubelet_node_ip_expression,
    render_init_configuration,
    render_join_configuration,
)
from components.render.kubeconfig import render_kubeconfig
from components.settings import Architecture, DualStackCidrs, IpFamily
from components.versions import RELEASES, NodeIpMode, Release, release_for

GOLDEN = Path(__file__).parent / "golden" / "bootstrap"
PREFIX = "/k8s-dualstack-aws/dev"
ENDPOINT = "10.0.0.10:6443"
SANS = ("203.0.113.10", "10.0.0.10", "2600:1f18:1234:5600::10")
CA_HASH = "sha256:" + "0123456789abcdef" * 4
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


def as_map(release: Release, args: Any) -> dict[str, str]:
    """Reads extraArgs in the form the release's kubeadm API must use, failing on the other form."""
    if expected_kubeadm_api(release).endswith("v1beta4"):
        assert isinstance(args, list), args
        assert all(set(item) == {"name", "value"} for item in args), args
        return {item["name"]: item["value"] for item in args}
    assert isinstance(args, dict), args
    return args


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


@pytest.mark.parametrize(
    ("minor", "form"), [("1.30", dict), ("1.31", list), ("1.22", dict), ("1.21", dict)], ids=str
)
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
        assert networking == {"podSubnet": "10.244.0.0/16,fd00:10:244::/48",
                              "serviceSubnet": "10.96.0.0/16,fd00:10:96::/112"}
    else:
        assert networking == {"podSubnet": "fd00:10:244::/48,10.244.0.0/16",
                              "serviceSubnet": "fd00:10:96::/112,10.96.0.0/16"}


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


# --- cloud-init user data --------------------------------------------------------------------

ROLES = ["control-plane", "worker"]


def user_data(role: str, release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST,
              arch: Architecture = Architecture.AMD64) -> str:
    cluster = make_cluster(release, families, arch)
    if role == "control-plane":
        return render_control_plane_user_data(cluster, SANS)
    return render_worker_user_data(cluster, CA_HASH)


def written(text: str) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in yaml.safe_load(text)["write_files"]}


# Every script variant: role x release, both architectures and primaries spread over the rows.
script_variants = pytest.mark.parametrize(
    ("role", "release", "arch"),
    [(role, release, list(Architecture)[i % 2]) for role in ROLES for i, release in enumerate(RELEASES)],
    ids=lambda value: value.minor if isinstance(value, Release) else getattr(value, "value", str(value)),
)


@rows
@pytest.mark.parametrize("role", ROLES)
def test_user_data_is_cloud_config_without_secrets(role: str, release: Release) -> None:
    text = user_data(role, release)
    assert text.startswith("#cloud-config\n")
    assert len(text.encode()) < 16384
    assert "PRIVATE KEY" not in text
    assert TOKEN_SHAPE.search(text) is None
    config = yaml.safe_load(text)
    assert {"containerd", "conntrack", "socat", "ethtool", "curl", "ca-certificates", "python3-boto3",
            "gettext-base"} <= set(config["packages"])
    assert config["runcmd"] == [["bash", "/usr/local/lib/k8s-bootstrap/bootstrap.sh"]]
    assert text == user_data(role, release)


@rows
@pytest.mark.parametrize("arch", list(Architecture), ids=lambda a: a.value)
def test_boot_script_installs_exact_binaries_checked_against_published_digests(
    release: Release, arch: Architecture
) -> None:
    script = written(user_data("worker", release, arch=arch))[scripts.BOOT_SCRIPT]["content"]
    base = f"https://dl.k8s.io/release/v{release.kubernetes_version}/bin/linux/{arch.value}"
    for binary in ["kubeadm", "kubelet", "kubectl"]:
        assert f"install_binary {base}/{binary} {binary}\n" in script
    crictl = (
        f"https://github.com/kubernetes-sigs/cri-tools/releases/download/{release.crictl_version}/"
        f"crictl-{release.crictl_version}-linux-{arch.value}.tar.gz"
    )
    assert f"install_crictl {crictl}\n" in script
    assert 'expected="$(download "${url}.sha256" | awk \'{print $1}\')"' in script
    assert 'actual="$(sha256sum "${file}" | awk \'{print $1}\')"' in script
    assert '[[ "${actual}" == "${expected}" ]] || fail' in script
    assert script.startswith("#!/bin/bash\n") and "set -Eeuo pipefail\n" in script
    assert "readonly LOG_FILE=/var/log/k8s-bootstrap.log\n" in script
    assert ("/sys/fs/cgroup/cgroup.controllers" in script) == (release.version.minor >= 35)


@rows
def test_control_plane_fetches_every_pki_file_and_the_token_then_runs_init(release: Release) -> None:
    files = written(user_data("control-plane", release))
    manifest = json.loads(files["/etc/k8s-bootstrap/ssm-parameters.json"]["content"])
    expected = [
        {"parameter": f"{PREFIX}/pki/{f.relative_path}", "path": f"/etc/kubernetes/pki/{f.relative_path}",
         "mode": "0600" if f.secret else "0644"}
        for f in CONTROL_PLANE_FILES
    ] + [{"parameter": f"{PREFIX}/bootstrap/token", "path": "/etc/k8s-bootstrap/bootstrap-token", "mode": "0600"}]
    assert manifest == expected
    assert {"/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/sa.key"} <= {e["path"] for e in manifest}
    template = files["/etc/k8s-bootstrap/kubeadm.yaml.tmpl"]
    assert template["permissions"] == "0600"
    assert template["content"] == render_init_configuration(make_cluster(release), SANS)
    script = files[scripts.BOOT_SCRIPT]["content"]
    assert 'kubeadm init --config "${KUBEADM_CONFIG}" --skip-token-print\n' in script
    assert "install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config\n" in script
    assert "kubeadm join" not in script


@rows
def test_worker_fetches_only_the_token_and_retries_join(release: Release) -> None:
    files = written(user_data("worker", release))
    manifest = json.loads(files["/etc/k8s-bootstrap/ssm-parameters.json"]["content"])
    assert manifest == [
        {"parameter": f"{PREFIX}/bootstrap/token", "path": "/etc/k8s-bootstrap/bootstrap-token", "mode": "0600"}
    ]
    assert files["/etc/k8s-bootstrap/kubeadm.yaml.tmpl"]["content"] == render_join_configuration(
        make_cluster(release), CA_HASH
    )
    script = files[scripts.BOOT_SCRIPT]["content"]
    assert "readonly JOIN_ATTEMPTS=40\n" in script
    assert 'for attempt in $(seq 1 "${JOIN_ATTEMPTS}"); do' in script
    assert 'kubeadm reset -f --cri-socket "${CRI_SOCKET}" || true' in script
    assert "kubeadm init" not in script


@rows
def test_units_and_kernel_settings_match_kubeadm_packaging(release: Release) -> None:
    files = written(user_data("worker", release))
    assert files["/etc/modules-load.d/kubernetes.conf"]["content"].split() == ["overlay", "br_netfilter"]
    sysctls = dict(
        line.split(" = ") for line in files["/etc/sysctl.d/99-kubernetes.conf"]["content"].splitlines()
    )
    assert sysctls == {
        "net.ipv4.ip_forward": "1",
        "net.ipv6.conf.all.forwarding": "1",
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": "1",
    }
    drop_in = files["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"]["content"]
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n" in drop_in
    assert drop_in.endswith(
        "ExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS "
        "$KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n"
    )
    assert "ExecStart=/usr/local/bin/kubelet\n" in files["/etc/systemd/system/kubelet.service"]["content"]


def test_fetch_script_runs_on_ubuntu_20_04_python() -> None:
    source = scripts.FETCH_SSM_PARAMETERS
    ast.parse(source, feature_version=(3, 8))
    assert "WithDecryption=True" in source
    assert "X-aws-ec2-metadata-token" in source
    assert re.search(r"print\([^)]*\bvalue\b", source) is None


@pytest.mark.parametrize("role", ROLES)
def test_boot_script_parses_in_bash(role: str) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not installed")
    for release in RELEASES:
        script = written(user_data(role, release))[scripts.BOOT_SCRIPT]["content"]
        subprocess.run([bash, "-n"], input=script, text=True, check=True)


@script_variants
def test_shellcheck_passes_on_every_boot_script(
    tmp_path: Path, role: str, release: Release, arch: Architecture
) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed")
    path = tmp_path / "bootstrap.sh"
    path.write_text(written(user_data(role, release, arch=arch))[scripts.BOOT_SCRIPT]["content"])
    result = subprocess.run([shellcheck, "-S", "warning", "-s", "bash", str(path)], check=False, capture_output=True)
    assert result.returncode == 0, result.stdout.decode()


@rows
@pytest.mark.parametrize("role", ROLES)
def test_cloud_init_schema_accepts_user_data(tmp_path: Path, role: str, release: Release) -> None:
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("cloud-init not installed")
    path = tmp_path / "user-data"
    path.write_text(user_data(role, release, V6_FIRST, Architecture.ARM64))
    result = subprocess.run([cloud_init, "schema", "--config-file", str(path)], check=False, capture_output=True,
                            text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid cloud-config" in output
    assert "deprecat" not in output.lower(), output


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

SNAPSHOTS = {
    "init-1.21-ipv4-first.yaml": lambda: render_init_configuration(make_cluster(release_for("1.21")), SANS),
    "join-1.22-ipv6-first.yaml": lambda: render_join_configuration(make_cluster(release_for("1.22"), V6_FIRST),
                                                                   CA_HASH),
    "init-1.35-ipv4-first.yaml": lambda: render_init_configuration(make_cluster(release_for("1.35")), SANS),
    "join-1.35-ipv4-first.yaml": lambda: render_join_configuration(make_cluster(release_for("1.35")), CA_HASH),
    "user-data-control-plane-1.35-amd64.yaml": lambda: user_data("control-plane", release_for("1.35")),
    "user-data-worker-1.22-arm64.yaml": lambda: user_data("worker", release_for("1.22"), V6_FIRST,
                                                          Architecture.ARM64),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_rendering_matches_reviewed_snapshot(name: str) -> None:
    rendered = SNAPSHOTS[name]()
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert rendered == path.read_text(), f"{name} changed; review it and refresh with UPDATE_GOLDEN=1"


# --- boot scripts run against stubs ----------------------------------------------------------

STUB_CURL = r'''#!/usr/bin/env python3
"""curl stand-in: IMDS answers, release downloads and their published digests."""
import gzip, hashlib, io, os, sys, tarfile

args = sys.argv[1:]
url = [a for a in args if a.startswith("http")][-1]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write("curl " + url + "\n")
META = {"local-hostname": "ip-10-0-1-5.ec2.internal", "local-ipv4": "10.0.1.5", "mac": "0a:1b:2c:3d:4e:5f",
        "network/interfaces/macs/0a:1b:2c:3d:4e:5f/ipv6s": "2600:1f18:10:20::5\n2600:1f18:10:20::6\n",
        "placement/region": "us-east-1"}


def payload(target):
    if not target.endswith(".tar.gz"):
        return ("binary " + target).encode()
    data = io.BytesIO()
    with gzip.GzipFile(fileobj=data, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        body = b"crictl binary"
        info = tarfile.TarInfo("crictl")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


if url.endswith("/api/token"):
    sys.stdout.write("imds-session-token")
elif "/meta-data/" in url:
    key = url.split("/meta-data/", 1)[1]
    if key not in META:
        sys.exit(22)
    sys.stdout.write(META[key])
elif url.endswith(".sha256"):
    target = url[: -len(".sha256")]
    digest = hashlib.sha256(payload(target)).hexdigest()
    if os.environ.get("STUB_BAD_DIGEST") and target.endswith("/" + os.environ["STUB_BAD_DIGEST"]):
        digest = "0" * 64
    # dl.k8s.io publishes the bare digest, cri-tools "digest  name": the script must read both.
    print(digest + ("  " + target.rsplit("/", 1)[1] if target.endswith(".tar.gz") else ""))
else:
    with open(args[args.index("-o") + 1], "wb") as out:
        out.write(payload(url))
'''

STUB_KUBEADM = r'''#!/bin/bash
echo "kubeadm $*" >>"${STUB_LOG}"
case "$1" in
  init)
    cp "$3" "${STUB_ROOT}/captured-kubeadm.yaml"
    mkdir -p "${STUB_ROOT}/etc/kubernetes"
    echo "admin kubeconfig" >"${STUB_ROOT}/etc/kubernetes/admin.conf" ;;
  join)
    cp "$3" "${STUB_ROOT}/captured-kubeadm.yaml"
    tries=$(( $(cat "${STUB_ROOT}/join-tries" 2>/dev/null || echo 0) + 1 ))
    echo "${tries}" >"${STUB_ROOT}/join-tries"
    [[ "${tries}" -ge "${STUB_JOIN_SUCCEEDS_AT}" ]] ;;
esac
'''

STUB_FETCHER = r'''import json, os, sys
with open(sys.argv[2]) as handle:
    for entry in json.load(handle):
        value = "abcdef.0123456789abcdef" if entry["parameter"].endswith("/bootstrap/token") else "PEM " + entry["path"]
        os.makedirs(os.path.dirname(entry["path"]), exist_ok=True)
        with open(entry["path"], "w") as out:
            out.write(value + "\n")
'''

SANDBOXED_PREFIXES = ("/etc/", "/var/log/", "/usr/local/", "/root/", "/sys/fs/cgroup/")


def run_boot_script(root: Path, text: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Lays the user data's files out below `root` and runs its boot script with stub commands."""
    def sandboxed(content: str) -> str:
        for prefix in SANDBOXED_PREFIXES:
            content = content.replace(prefix, f"{root}{prefix}")
        return content

    for path, entry in written(text).items():
        target = Path(sandboxed(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STUB_FETCHER if path == scripts.FETCH_SCRIPT else sandboxed(entry["content"]))
    stubs = root / "stubs"
    stubs.mkdir()
    commands = {"curl": STUB_CURL, "kubeadm": STUB_KUBEADM, "containerd": "#!/bin/sh\necho '  SystemdCgroup = false'\n"}
    commands |= dict.fromkeys(["modprobe", "sysctl", "systemctl"], '#!/bin/sh\necho "$0 $*" >>"${STUB_LOG}"\n')
    commands["sleep"] = "#!/bin/sh\n"
    for name, body in commands.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    for directory in ["etc", "var/log", "usr/local/bin", "root", "sys/fs/cgroup"]:  # present on any Ubuntu
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    environment = {"PATH": f"{stubs}:/usr/bin:/bin", "STUB_LOG": str(root / "calls.log"), "STUB_ROOT": str(root),
                   "STUB_JOIN_SUCCEEDS_AT": "1", **env}
    boot = Path(sandboxed(scripts.BOOT_SCRIPT))
    return subprocess.run(["bash", str(boot)], check=False, env=environment, capture_output=True, text=True, timeout=60)


def needs_boot_tools() -> None:
    for tool in ["bash", "envsubst", "tar", "sha256sum", "python3"]:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


@pytest.mark.parametrize("minor", ["1.21", "1.35"])
def test_worker_boot_installs_verified_binaries_and_retries_join_until_it_succeeds(tmp_path: Path, minor: str) -> None:
    needs_boot_tools()
    release = release_for(minor)
    result = run_boot_script(tmp_path, user_data("worker", release), STUB_JOIN_SUCCEEDS_AT="3")
    assert result.returncode == 0, result.stdout + result.stderr
    for binary in ["kubeadm", "kubelet", "kubectl"]:
        url = f"https://dl.k8s.io/release/v{release.kubernetes_version}/bin/linux/amd64/{binary}"
        assert (tmp_path / "usr/local/bin" / binary).read_text() == f"binary {url}"
    assert (tmp_path / "usr/local/bin/crictl").read_bytes() == b"crictl binary"
    assert "SystemdCgroup = true" in (tmp_path / "etc/containerd/config.toml").read_text()
    calls = (tmp_path / "calls.log").read_text()
    reset = "kubeadm reset -f --cri-socket " + ("/run/containerd/containerd.sock" if minor == "1.21"
                                               else "unix:///run/containerd/containerd.sock")
    assert calls.count(reset) == 2 and calls.count("kubeadm join --config") == 3
    config = documents((tmp_path / "captured-kubeadm.yaml").read_text())["JoinConfiguration"]
    assert config["nodeRegistration"]["name"] == "ip-10-0-1-5.ec2.internal"
    assert config["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    if minor == "1.35":  # dual --node-ip; the IPv6 came from the per-MAC fallback, first address only
        assert config["nodeRegistration"]["kubeletExtraArgs"][1] == {"name": "node-ip",
                                                                     "value": "10.0.1.5,2600:1f18:10:20::5"}
    assert not (tmp_path / "etc/k8s-bootstrap/bootstrap-token").exists()
    assert not (tmp_path / "etc/k8s-bootstrap/kubeadm.yaml").exists()
    log = tmp_path / "var/log/k8s-bootstrap.log"
    assert log.stat().st_mode & 0o777 == 0o600
    assert "worker joined" in log.read_text() and "abcdef.0123456789abcdef" not in log.read_text()


def test_worker_boot_stops_on_a_digest_mismatch(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("worker", release_for("1.29")), STUB_BAD_DIGEST="kubelet")
    assert result.returncode != 0
    assert "sha256 mismatch for https://dl.k8s.io/release/v1.29.15/bin/linux/amd64/kubelet" in result.stdout
    assert (tmp_path / "usr/local/bin/kubeadm").exists() and not (tmp_path / "usr/local/bin/kubelet").exists()
    assert "kubeadm join" not in (tmp_path / "calls.log").read_text()


def test_worker_boot_gives_up_after_the_bounded_join_retries(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("worker", release_for("1.29")), STUB_JOIN_SUCCEEDS_AT="1000")
    assert result.returncode != 0
    assert "kubeadm join failed 40 times" in result.stdout
    assert (tmp_path / "join-tries").read_text().strip() == "40"


def test_control_plane_boot_fetches_pki_runs_init_and_writes_root_kubeconfig(tmp_path: Path) -> None:
    needs_boot_tools()
    result = run_boot_script(tmp_path, user_data("control-plane", release_for("1.35")))
    assert result.returncode == 0, result.stdout + result.stderr
    for entry in CONTROL_PLANE_FILES:
        assert (tmp_path / "etc/kubernetes/pki" / entry.relative_path).is_file()
    assert "kubeadm init --config" in (tmp_path / "calls.log").read_text()
    assert "--skip-token-print" in (tmp_path / "calls.log").read_text()
    config = documents((tmp_path / "captured-kubeadm.yaml").read_text())["InitConfiguration"]
    assert config["bootstrapTokens"][0]["token"] == "abcdef.0123456789abcdef"
    assert config["localAPIEndpoint"]["advertiseAddress"] == "10.0.1.5"
    kubeconfig = tmp_path / "root/.kube/config"
    assert kubeconfig.read_text() == "admin kubeconfig\n" and kubeconfig.stat().st_mode & 0o777 == 0o600


def test_fetch_script_writes_each_parameter_with_its_mode_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real fetcher against a fake IMDS and a fake boto3 (SSM answers after two refusals)."""
    imds = {"/latest/api/token": b"t", "/latest/meta-data/iam/security-credentials/": b"node-role\n",
            "/latest/meta-data/iam/security-credentials/node-role":
                b'{"AccessKeyId": "AK", "SecretAccessKey": "SK", "Token": "ST"}'}

    class Response:
        def __init__(self, request: Any) -> None:
            self.body = imds[request.full_url.split("169.254.169.254", 1)[1]]

        def __enter__(self) -> Response:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def read(self) -> bytes:
            return self.body

    refusals = {"count": 0}
    values = {"/p/ca.key": "-----BEGIN SECRET-----\nkey\n", "/p/token": "abcdef.0123456789abcdef"}

    class Ssm:
        def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:
            assert WithDecryption is True
            if refusals["count"] < 2:
                refusals["count"] += 1
                raise RuntimeError("ParameterNotFound")
            return {"Parameter": {"Value": values[Name]}}

    clients: list[dict[str, Any]] = []

    class Boto3:
        @staticmethod
        def client(service: str, **kwargs: Any) -> Ssm:
            clients.append({"service": service, **kwargs})
            return Ssm()

    monkeypatch.setitem(__import__("sys").modules, "boto3", Boto3)
    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout: Response(request))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([
        {"parameter": "/p/ca.key", "path": str(tmp_path / "pki/etcd/ca.key"), "mode": "0600"},
        {"parameter": "/p/token", "path": str(tmp_path / "token"), "mode": "0640"},
    ]))
    namespace: dict[str, Any] = {"__name__": "fetcher"}
    exec(compile(scripts.FETCH_SSM_PARAMETERS, "fetch-ssm-parameters.py", "exec"), namespace)
    namespace["main"]("eu-west-1", str(manifest))
    assert (tmp_path / "pki/etcd/ca.key").read_text() == "-----BEGIN SECRET-----\nkey\n"
    assert (tmp_path / "pki/etcd/ca.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "token").read_text() == "abcdef.0123456789abcdef\n"
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o640
    assert refusals["count"] == 2 and len(clients) == 4
    assert clients[0] == {"service": "ssm", "region_name": "eu-west-1", "aws_access_key_id": "AK",
                          "aws_secret_access_key": "SK", "aws_session_token": "ST"}
    output = capsys.readouterr()
    assert "try 2/90: RuntimeError: ParameterNotFound" in output.err
    assert "key" not in output.out.replace("ca.key", "") and "abcdef" not in output.out + output.err
