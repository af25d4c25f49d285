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

The collectors live in `tools.artifacts_collect`, the table and the inventory document in
`tools.artifacts_table`; this module re-exports both and writes `artifacts.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.artifacts_collect import (
    CHECKSUM_FETCH,
    DOWNLOAD_STEPS,
    GET_AMI,
    GZIP_MAGIC,
    KUBEADM_COMPONENT_IMAGES,
    POD_SPEC_KINDS,
    USERDATA_TYPES,
    Artifact,
    Kind,
    ami_artifact,
    boot_downloads,
    cloud_config_text,
    collect,
    decode_file_content,
    helm_artifacts,
    kubeadm_images,
    merge,
    object_images,
    release_artifacts,
    release_bootstrap,
    script_urls,
    ubuntu_release_of,
    user_data_artifacts,
)
from tools.artifacts_table import (
    PINS_HEADER,
    TABLE_HEADER,
    TABLE_PATH,
    UNLISTED,
    UNVERIFIED,
    VERIFIED,
    CheckResult,
    PinRow,
    TableRow,
    check,
    inventory_document,
    load_table,
    parse_pins_table,
    parse_table,
    summary_lines,
)
from tools.offline.capture import Graph
from tools.output import write_json

__all__ = [
    "CHECKSUM_FETCH",
    "DOWNLOAD_STEPS",
    "GET_AMI",
    "GZIP_MAGIC",
    "KUBEADM_COMPONENT_IMAGES",
    "PINS_HEADER",
    "POD_SPEC_KINDS",
    "TABLE_HEADER",
    "TABLE_PATH",
    "UNLISTED",
    "UNVERIFIED",
    "USERDATA_TYPES",
    "VERIFIED",
    "Artifact",
    "CheckResult",
    "Kind",
    "PinRow",
    "TableRow",
    "ami_artifact",
    "boot_downloads",
    "check",
    "cloud_config_text",
    "collect",
    "decode_file_content",
    "helm_artifacts",
    "inventory_document",
    "kubeadm_images",
    "load_table",
    "merge",
    "object_images",
    "parse_pins_table",
    "parse_table",
    "release_artifacts",
    "release_bootstrap",
    "script_urls",
    "stack_document",
    "summary_lines",
    "ubuntu_release_of",
    "user_data_artifacts",
    "write_artifacts",
]


def stack_document(graph: Graph, table_path: Path = TABLE_PATH) -> dict[str, Any]:
    text = table_path.read_text()
    return inventory_document(graph.stack_name, collect(graph), parse_table(text), parse_pins_table(text))


def write_artifacts(graph: Graph, directory: Path) -> list[Path]:
    """`artifacts.json`: the stack's artefact inventory with each one's status in the table."""
    return [write_json(directory / "artifacts.json", stack_document(graph))]
