"""Render writers for the cluster side: every Kubernetes object as the provider would send it,
and the CCM's cloud config.

Values marked secret are written only when they are certificates (public by nature, e.g. the
CA bundles the CCM mounts); anything else secret stays "[secret]".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from components.render.ccm_manifests import CLOUD_CONFIG_FILE, CLOUD_CONFIG_MAP
from tools.offline.capture import REDACTED, Graph, ResourceRecord, is_secret, is_unknown
from tools.output import UNKNOWN_TEXT, safe_file_name, write_text

KUBERNETES_PREFIX = "kubernetes:"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
_CERTIFICATES_ONLY = re.compile(r"^(\s*-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+$")


def _is_certificate_text(value: Any) -> bool:
    return isinstance(value, str) and bool(_CERTIFICATES_ONLY.match(value))


def public_view(value: Any) -> Any:
    """Plain data for a manifest file: secrets revealed only if they hold nothing but certificates;
    integral floats (the mock engine's numbers) back to ints."""
    if is_secret(value):
        inner = value["value"]
        leaves = list(inner.values()) if isinstance(inner, dict) else [inner]
        return public_view(inner) if all(_is_certificate_text(leaf) for leaf in leaves) else REDACTED
    if is_unknown(value):
        return UNKNOWN_TEXT
    if isinstance(value, dict):
        return {key: public_view(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [public_view(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest_of(record: ResourceRecord) -> dict[str, Any]:
    inputs = public_view(record.inputs)
    head = {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind"), "metadata": inputs.pop("metadata")}
    return head | dict(sorted(inputs.items()))


def manifest_file_name(manifest: dict[str, Any]) -> str:
    metadata = manifest["metadata"]
    parts = [manifest["kind"].lower(), metadata.get("namespace"), metadata["name"]]
    return safe_file_name("-".join(str(part) for part in parts if part)) + ".yaml"


def helm_release_document(record: ResourceRecord) -> dict[str, Any]:
    inputs = public_view(record.inputs)
    return {
        "kind": "HelmRelease",
        "name": record.name,
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "values": inputs.get("values", {}),
    }


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings (certificates, cloud config) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def _yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=120)


def write_manifests(graph: Graph, directory: Path) -> list[Path]:
    written = []
    for record in graph.resources:
        if not record.custom or not record.type.startswith(KUBERNETES_PREFIX):
            continue
        if record.type == HELM_RELEASE:
            name = f"helmrelease-{safe_file_name(record.name)}.yaml"
            written.append(write_text(directory / "manifests" / name, _yaml(helm_release_document(record))))
            continue
        manifest = manifest_of(record)
        written.append(write_text(directory / "manifests" / manifest_file_name(manifest), _yaml(manifest)))
    return written


def write_cloud_config(graph: Graph, directory: Path) -> list[Path]:
    for record in graph.by_type("kubernetes:core/v1:ConfigMap"):
        if record.inputs["metadata"]["name"] == CLOUD_CONFIG_MAP:
            return [write_text(directory / "cloud-config.conf", record.inputs["data"][CLOUD_CONFIG_FILE])]
    return []
