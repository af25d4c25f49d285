"""Artefact collection: everything a stack pulls at `pulumi up` and while its nodes boot.

Collected from what the program renders, not from a list kept beside it (see `tools.artifacts`):
container images of every Kubernetes object, Helm charts and the images their versions pull,
each node's apt packages, boot downloads and kubeadm images, and the AMI lookup.

`collect(graph)` reads a rendered stack; `release_artifacts(release, architecture)` renders one
release-matrix row with the same pure renderers the program uses, for rows no stack ships.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.ami import CANONICAL_OWNER_ID, EC2_ARCHITECTURE, ubuntu_ami_name_pattern
from components.render import scripts
from components.render.bootstrap import ClusterBootstrap
from components.render.ccm_manifests import CcmSettings, ccm_manifests
from components.render.cilium import HELM_REPOSITORY
from components.render.cloudinit import render_control_plane_user_data, render_worker_user_data
from components.render.smoke import smoke_manifests
from components.settings import Architecture, DualStackCidrs, IpFamily
from components.versions import CiliumChart, Release, release_for
from tools.manifests import HELM_RELEASE, manifest_file_name, manifest_of
from tools.offline.capture import Graph, ResourceRecord, is_secret, is_unknown
from tools.output import UNKNOWN_TEXT, safe_file_name

USERDATA_TYPES = ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate")
GET_AMI = "aws:ec2/getAmi:getAmi"
GZIP_MAGIC = b"\x1f\x8b"
POD_SPEC_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job")
KUBEADM_COMPONENT_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
_UBUNTU_RELEASE = re.compile(r"ubuntu-[a-z]+-(\d+\.\d+)-")
_URL = re.compile(r"https://[^\s'\"]+")
# The boot script's steps that download (components/render/scripts.py `_install_steps`): the URL is
# their first argument, and `fetch_verified` checks it against `${url}.sha256`.
DOWNLOAD_STEPS = ("install_binary", "install_crictl")
CHECKSUM_FETCH = 'download "${url}.sha256"'


class Kind(enum.StrEnum):
    IMAGE = "image"
    HELM_CHART = "helm-chart"
    BINARY = "binary"
    APT_PACKAGE = "apt-package"
    AMI = "ami"


@dataclass(frozen=True, order=True)
class Artifact:
    """One thing pulled from outside: its kind, the name it is pulled by, and who pulls it when."""

    kind: Kind
    name: str
    """Image reference, `chart version from repository`, download URL, `ubuntu-<release>/<package>`
    or `owner name-filter architecture` of an AMI lookup; the key of the table."""
    checksum: str = ""
    """The URL of the digest a download is checked against (binaries), else empty."""
    pulled_by: str = field(default="", compare=False)
    found_in: tuple[str, ...] = field(default=(), compare=False)
    """Where in build/render/<stack>/ it shows (a file, or the step that implies it)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.name)


def merge(artifacts: Iterable[Artifact]) -> list[Artifact]:
    """One entry per (kind, name), sorted, with every place it was found."""
    merged: dict[tuple[str, str], Artifact] = {}
    for artifact in artifacts:
        known = merged.get(artifact.key)
        if known is None:
            merged[artifact.key] = artifact
            continue
        found = tuple(sorted(set(known.found_in) | set(artifact.found_in)))
        merged[artifact.key] = Artifact(
            known.kind, known.name, known.checksum or artifact.checksum, known.pulled_by, found
        )
    return [merged[key] for key in sorted(merged)]


# -- collectors over rendered documents ----------------------------------------------------


def object_images(manifest: Mapping[str, Any], found_in: str) -> list[Artifact]:
    """Every container and init-container image of a workload object (unknown values skipped)."""
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        pod = spec
    elif kind in POD_SPEC_KINDS:
        pod = (spec.get("template") or {}).get("spec") or {}
    else:
        return []
    name = (manifest.get("metadata") or {}).get("name")
    containers = [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
    return [
        Artifact(Kind.IMAGE, image, pulled_by=f"kubelet: {kind} {name}", found_in=(found_in,))
        for image in (container.get("image") for container in containers)
        if isinstance(image, str) and not is_unknown(image) and image != UNKNOWN_TEXT
    ]


def helm_artifacts(chart: str, version: str, repository: str, release_name: str, found_in: str) -> list[Artifact]:
    """The chart itself (fetched by `pulumi up`) and, for Cilium, the images its version pulls."""
    found = [
        Artifact(
            Kind.HELM_CHART,
            f"{chart} {version} from {repository}",
            pulled_by=f"pulumi up: Helm release {release_name}",
            found_in=(found_in,),
        )
    ]
    if chart == "cilium" and repository == HELM_REPOSITORY:
        images = CiliumChart(version).images
        found += [
            Artifact(Kind.IMAGE, image, pulled_by=f"kubelet: Cilium chart {version}", found_in=(found_in,))
            for image in images
        ]
    return found


def ami_artifact(args: Mapping[str, Any], found_in: str) -> Artifact:
    filters = {item["name"]: list(item["values"]) for item in args.get("filters") or []}
    owners = ",".join(args.get("owners") or [])
    name = f"{owners} {','.join(filters.get('name', ['*']))} {','.join(filters.get('architecture', ['*']))}"
    return Artifact(Kind.AMI, name, pulled_by="pulumi up: aws:ec2/getAmi (newest match)", found_in=(found_in,))


def ubuntu_release_of(ami: Artifact) -> str | None:
    match = _UBUNTU_RELEASE.search(ami.name)
    return match.group(1) if match else None


def decode_file_content(entry: Mapping[str, Any]) -> str:
    """A cloud-config `write_files` entry's content, whatever its `encoding`."""
    content = entry.get("content") or ""
    encoding = str(entry.get("encoding") or "").lower()
    raw = content.encode()
    if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        raw = base64.b64decode(content)
    if encoding.startswith(("gz", "gzip")):
        raw = gzip.decompress(raw)
    return raw.decode()


def cloud_config_text(record: ResourceRecord) -> str | None:
    """The `#cloud-config` a node's user data carries: plain, base64, or gzip then base64."""
    encoded = record.type == "aws:ec2/launchTemplate:LaunchTemplate"
    raw = record.inputs.get("userData")
    if raw is None and "userDataBase64" in record.inputs:
        raw, encoded = record.inputs["userDataBase64"], True
    if raw is None or is_unknown(raw) or is_secret(raw):
        return None
    data = str(raw).encode()
    if encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except binascii.Error:
            return None
    if data.startswith(GZIP_MAGIC):
        data = gzip.decompress(data)
    text = data.decode()
    return text if text.startswith("#cloud-config") else None


def boot_downloads(script: str, found_in: str) -> list[Artifact]:
    """Every URL a download step of the boot script fetches, with the checksum it is checked against."""
    checksum_suffix = ".sha256" if CHECKSUM_FETCH in script else ""
    found = []
    for line in script.splitlines():
        words = shlex.split(line) if line.strip().startswith(DOWNLOAD_STEPS) else []
        if len(words) >= 2 and words[0] in DOWNLOAD_STEPS:
            url = words[1]
            found.append(
                Artifact(
                    Kind.BINARY,
                    url,
                    checksum=url + checksum_suffix if checksum_suffix else "",
                    pulled_by=f"node boot: {words[0]}",
                    found_in=(found_in,),
                )
            )
    return found


def script_urls(script: str) -> set[str]:
    """Every https URL written in a boot script (the tests check each is collected)."""
    return set(_URL.findall(script))


def kubeadm_images(cluster_configuration: Mapping[str, Any], found_in: str) -> list[Artifact]:
    """What `kubeadm init` pulls for this ClusterConfiguration (cmd/kubeadm/app/images/images.go)."""
    version = str(cluster_configuration["kubernetesVersion"])
    release = release_for(version.lstrip("v"))
    default_repository = "k8s.gcr.io" if release.kubeadm_defaults_to_frozen_registry else "registry.k8s.io"
    repository = cluster_configuration.get("imageRepository") or default_repository
    dns = cluster_configuration.get("dns") or {}
    dns_repository = dns.get("imageRepository") or repository
    if dns_repository == default_repository:
        dns_repository = f"{dns_repository}/coredns"
    etcd = (cluster_configuration.get("etcd") or {}).get("local") or {}
    tags = release.kubeadm_image_tags
    images = [f"{repository}/{name}:{version.replace('+', '_')}" for name in KUBEADM_COMPONENT_IMAGES]
    images += [
        f"{dns_repository}/coredns:{dns.get('imageTag') or tags.coredns}",
        f"{repository}/pause:{tags.pause}",
        f"{etcd.get('imageRepository') or repository}/etcd:{etcd.get('imageTag') or tags.etcd}",
    ]
    pulled_by = f"kubeadm init {version} (kube-proxy and CoreDNS: kubelet, on every node)"
    return [Artifact(Kind.IMAGE, image, pulled_by=pulled_by, found_in=(found_in,)) for image in images]


def user_data_artifacts(cloud_config: str, ubuntu_release: str | None, found_in: str) -> list[Artifact]:
    """apt packages, boot downloads and (control plane) kubeadm images of one node's cloud-config."""
    document = yaml.safe_load(cloud_config) or {}
    release = ubuntu_release or "unknown"
    found = [
        Artifact(
            Kind.APT_PACKAGE,
            f"ubuntu-{release}/{package}",
            pulled_by="node boot: cloud-init packages",
            found_in=(found_in,),
        )
        for package in document.get("packages") or []
    ]
    files = {entry["path"]: decode_file_content(entry) for entry in document.get("write_files") or []}
    script = files.get(scripts.BOOT_SCRIPT, "")
    found += boot_downloads(script, found_in)
    for kubeadm_document in yaml.safe_load_all(files.get(scripts.KUBEADM_TEMPLATE, "")):
        if isinstance(kubeadm_document, dict) and kubeadm_document.get("kind") == "ClusterConfiguration":
            found += kubeadm_images(kubeadm_document, found_in)
    return found


# -- a rendered stack ------------------------------------------------------------------------


def collect(graph: Graph) -> list[Artifact]:
    """Everything the rendered stack pulls, from its resources, invokes and user data."""
    amis = [
        ami_artifact(invoke.args, "invoke aws:ec2/getAmi (components/ami.py)")
        for invoke in graph.invokes
        if invoke.token == GET_AMI
    ]
    ubuntu = {release for release in (ubuntu_release_of(ami) for ami in amis) if release}
    found: list[Artifact] = list(amis)
    for record in graph.resources:
        if record.type in USERDATA_TYPES:
            text = cloud_config_text(record)
            if text is not None:
                release = _stack_ubuntu_release(ubuntu, text)
                found += user_data_artifacts(text, release, f"userdata/{safe_file_name(record.name)}.yaml")
        elif record.type == HELM_RELEASE:
            inputs = record.inputs
            repository = (inputs.get("repositoryOpts") or {}).get("repo") or ""
            found += helm_artifacts(
                str(inputs.get("chart")),
                str(inputs.get("version")),
                str(repository),
                record.name,
                f"manifests/helmrelease-{safe_file_name(record.name)}.yaml",
            )
        elif record.custom and record.type.startswith("kubernetes:") and "kind" in record.inputs:
            manifest = manifest_of(record)
            found += object_images(manifest, f"manifests/{manifest_file_name(manifest)}")
    return merge(found)


def _stack_ubuntu_release(from_amis: set[str], cloud_config: str) -> str | None:
    """The Ubuntu release the AMI lookup names; with a pinned AMI, the release row's (its kubeadm version)."""
    if len(from_amis) == 1:
        return next(iter(from_amis))
    match = re.search(r"kubernetesVersion: v(\d+\.\d+\.\d+)", cloud_config)
    return release_for(match.group(1)).ubuntu_release if match else None


# -- a release-matrix row, rendered with the program's pure renderers -------------------------

_ROW_FAMILIES = (IpFamily.IPV4, IpFamily.IPV6)


def release_bootstrap(release: Release, architecture: Architecture) -> ClusterBootstrap:
    return ClusterBootstrap(
        release=release,
        cluster_name="inventory",
        region="us-east-1",
        ip_families=_ROW_FAMILIES,
        pod_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.244.0.0/16"), ipaddress.IPv6Network("fd00:10:244::/48")),
        service_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.96.0.0/16"), ipaddress.IPv6Network("fd00:10:96::/112")),
        control_plane_endpoint="10.0.0.10:6443",
        ssm_prefix="/k8s-dualstack-aws/inventory",
        architecture=architecture,
    )


def release_artifacts(release: Release, architecture: Architecture, smoke_workload: bool = True) -> list[Artifact]:
    """What a stack of this row and architecture pulls: same renderers and collectors as `collect`."""
    row = f"release {release.kubernetes_version} {architecture.value}"
    ami = Artifact(
        Kind.AMI,
        f"{CANONICAL_OWNER_ID} {ubuntu_ami_name_pattern(release.ubuntu_release, architecture)} "
        f"{EC2_ARCHITECTURE[architecture]}",
        pulled_by="pulumi up: aws:ec2/getAmi (newest match)",
        found_in=(f"{row}: components/ami.py",),
    )
    cluster = release_bootstrap(release, architecture)
    user_data = (
        render_control_plane_user_data(
            cluster, ["203.0.113.10", "10.0.0.10", "2001:db8::a"], elastic_ip="203.0.113.10"
        ),
        render_worker_user_data(cluster, "sha256:" + "0" * 64),
    )
    found = [ami]
    for text in user_data:
        found += user_data_artifacts(text, release.ubuntu_release, f"{row}: user data")
    manifests = ccm_manifests(CcmSettings(release, release.ccm_image, "inventory", ""), "ca", "front-proxy-ca")
    if smoke_workload:
        manifests += smoke_manifests(_ROW_FAMILIES)
    for manifest in manifests:
        found += object_images(manifest, f"{row}: {manifest['kind']} {manifest['metadata']['name']}")
    found += helm_artifacts("cilium", release.cilium_chart_version, HELM_REPOSITORY, "cilium", f"{row}: Cilium")
    return merge(found)
