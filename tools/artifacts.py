"""Artefact inventory: everything a stack pulls at `pulumi up` and while its nodes boot.

Collected from what the program renders, not from a list kept beside it:

- container images of every Kubernetes object (the CCM DaemonSet, the smoke Deployment);
- the Helm chart of every Helm release (chart, version, repository) and the images that chart
  version pulls with this program's values (`CiliumChart.images`, matrix data);
- from each node's cloud-config: the apt packages, every `https://` download of the boot script
  with the checksum file it is checked against, and from the control plane's kubeadm
  ClusterConfiguration the images kubeadm pulls (kube-* at the configured version; etcd, CoreDNS
  and pause at that kubeadm's own pins, `Release.kubeadm_image_tags`);
- the AMI lookup (owner and name filter), which also names the Ubuntu release of the packages.

`collect(graph)` reads a rendered stack; `release_artifacts(release, architecture)` renders one
release-matrix row with the same pure renderers the program uses, for rows no stack ships.
`check(artifacts, table)` compares either with docs/reference/artifacts.md, the table of
artefacts whose existence was checked upstream. Pure: the only file read is that table.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import ipaddress
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
from tools.offline.stackfiles import REPO_ROOT
from tools.output import UNKNOWN_TEXT, safe_file_name, write_json

TABLE_PATH = REPO_ROOT / "docs" / "reference" / "artifacts.md"
TABLE_HEADER = ("kind", "artefact", "status", "record")
VERIFIED = "verified"
UNVERIFIED = "unverified"
UNLISTED = "unlisted"
"""Status of an artefact the table does not list at all: `check` reports it, the tests fail."""

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


# -- the table of verified artefacts ---------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    kind: str
    name: str
    status: str
    record: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_rows(text: str, header: tuple[str, ...]) -> Iterator[tuple[list[str], str]]:
    """Cells (and the line) of every body row of the markdown tables headed by `header`."""
    in_table = False
    for line in text.splitlines():
        if not line.strip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if tuple(cell.lower() for cell in cells) == header:
            in_table = True
        elif in_table and not set("".join(cells)) <= set("-: "):
            yield cells, line


def parse_table(text: str) -> dict[tuple[str, str], TableRow]:
    """Rows of every markdown table whose header is TABLE_HEADER; names may be in backticks."""
    rows: dict[tuple[str, str], TableRow] = {}
    for cells, line in _table_rows(text, TABLE_HEADER):
        if len(cells) != len(TABLE_HEADER):
            raise ValueError(f"artefact table row has {len(cells)} cells, expected {len(TABLE_HEADER)}: {line}")
        kind, name, status, record = cells
        row = TableRow(kind, name.strip("`"), status.split(":", 1)[0].strip().lower(), record)
        if row.status not in (VERIFIED, UNVERIFIED):
            raise ValueError(f"artefact table row {row.name}: status {status!r}, allowed is verified or unverified")
        if row.key in rows:
            raise ValueError(f"artefact table lists {row.kind} {row.name} twice")
        rows[row.key] = row
    return rows


def load_table(path: Path = TABLE_PATH) -> dict[tuple[str, str], TableRow]:
    return parse_table(path.read_text())


PINS_HEADER = ("release", "etcd", "coredns", "pause", "status", "record")


@dataclass(frozen=True)
class PinRow:
    release: str
    etcd: str
    coredns: str
    pause: str
    status: str
    record: str


def parse_pins_table(text: str) -> dict[str, PinRow]:
    """The page's table of kubeadm's etcd, CoreDNS and pause tags per release (header PINS_HEADER)."""
    rows: dict[str, PinRow] = {}
    for cells, _ in _table_rows(text, PINS_HEADER):
        if len(cells) == len(PINS_HEADER):
            release, etcd, coredns, pause, status, record = cells
            rows[release] = PinRow(release, etcd, coredns, pause, status.split(":", 1)[0].strip().lower(), record)
    return rows


@dataclass(frozen=True)
class CheckResult:
    unlisted: tuple[Artifact, ...]
    unverified: tuple[tuple[Artifact, TableRow], ...]

    @property
    def ok(self) -> bool:
        return not self.unlisted


def check(artifacts: Sequence[Artifact], table: Mapping[tuple[str, str], TableRow]) -> CheckResult:
    unlisted = tuple(artifact for artifact in artifacts if artifact.key not in table)
    unverified = tuple(
        (artifact, table[artifact.key])
        for artifact in artifacts
        if artifact.key in table and table[artifact.key].status == UNVERIFIED
    )
    return CheckResult(unlisted, unverified)


def inventory_document(
    stack: str,
    artifacts: Sequence[Artifact],
    table: Mapping[tuple[str, str], TableRow],
    pins: Mapping[str, PinRow] | None = None,
) -> dict[str, Any]:
    """artifacts.json: every artefact with its table status and record, counts per kind."""

    def entry(artifact: Artifact) -> dict[str, Any]:
        row = table.get(artifact.key)
        document: dict[str, Any] = {
            "kind": artifact.kind.value,
            "name": artifact.name,
            "pulledBy": artifact.pulled_by,
            "foundIn": list(artifact.found_in),
            "status": row.status if row else UNLISTED,
            "record": row.record if row else "",
        }
        if artifact.checksum:
            document["checksum"] = artifact.checksum
        return document

    entries = [entry(artifact) for artifact in artifacts]
    # The releases whose kubeadm pins decided etcd, CoreDNS and pause: those of the kube-apiserver images.
    versions = sorted({a.name.rsplit(":v", 1)[1] for a in artifacts if "/kube-apiserver:v" in a.name})
    return {
        "stack": stack,
        "table": str(TABLE_PATH.relative_to(REPO_ROOT)),
        "counts": dict(sorted(Counter(artifact.kind.value for artifact in artifacts).items())),
        "unverified": [e["name"] for e in entries if e["status"] == UNVERIFIED],
        "unlisted": [e["name"] for e in entries if e["status"] == UNLISTED],
        "kubeadmPins": {
            version: pins[version].status if pins and version in pins else UNLISTED for version in versions
        },
        "artifacts": entries,
    }


def summary_lines(document: Mapping[str, Any]) -> Iterator[str]:
    """The render summary's lines about the inventory (counts, then what is not verified)."""
    counts = ", ".join(f"{count} {kind}" for kind, count in document["counts"].items())
    yield f"artifacts: {sum(document['counts'].values())} ({counts}) -> artifacts.json"
    unverified = document["unverified"]
    yield f"  unverified: {len(unverified)}" + (f" ({document['table']})" if unverified else "")
    yield from (f"    - {name}" for name in unverified)
    for version, status in document.get("kubeadmPins", {}).items():
        if status != VERIFIED:
            yield f"  kubeadm {version}: etcd/CoreDNS/pause tags {status} ({document['table']})"
    unlisted = document["unlisted"]
    if unlisted:
        yield f"  NOT IN {document['table']}: {len(unlisted)}"
        yield from (f"    - {name}" for name in unlisted)


# -- the render writer -----------------------------------------------------------------------


def stack_document(graph: Graph, table_path: Path = TABLE_PATH) -> dict[str, Any]:
    text = table_path.read_text()
    return inventory_document(graph.stack_name, collect(graph), parse_table(text), parse_pins_table(text))


def write_artifacts(graph: Graph, directory: Path) -> list[Path]:
    """`artifacts.json`: the stack's artefact inventory with each one's status in the table."""
    return [write_json(directory / "artifacts.json", stack_document(graph))]
