"""What the rules read from instance and launch-template user data.

User data reaches the pack as the resource's input: plain text (`userData` of an instance),
base64 (`userDataBase64`, a launch template's `userData`), possibly gzip-compressed as a whole:
the program's nodes send their cloud-config gzip-compressed in `userDataBase64`, and cloud-init
decompresses it, so the rules read it decompressed. A cloud-config's `write_files` may carry
base64 or gzip content of their own; every text the node would see is scanned.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import yaml

from policies.base import LAUNCH_TEMPLATE
from policies.facts import Version, parse_version
from policies.props import UNKNOWN, is_unknown, text

PRIVATE_KEY: Final = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----|PuTTY-User-Key-File-")
_CLUSTER_VERSION: Final = re.compile(r"kubernetesVersion:\s*[\"']?(v?\d+\.\d+\.\d+)")
_NODE_VERSION: Final = re.compile(
    r"dl\.k8s\.io/(?:release/)?(v\d+\.\d+\.\d+)/bin/|pkgs\.k8s\.io/core:/stable:/(v\d+\.\d+)/"
)
_KUBELET_FLAG: Final = re.compile(r"--(cloud-provider|node-ip)(?:=|\s+)[\"']?([^\s\"']*)")
_KUBEADM_NODE_KINDS: Final = ("InitConfiguration", "JoinConfiguration")
_GZIP_MAGIC: Final = b"\x1f\x8b"
_APT: Final = re.compile(
    r"^(?:package_update|package_upgrade|packages|apt):|\bapt(?:-get)? (?:install|update)\b", re.MULTILINE
)


def _bytes_to_text(data: bytes) -> str:
    if data.startswith(_GZIP_MAGIC):
        with contextlib.suppress(OSError, EOFError, zlib.error):  # not gzip after all: read as it is
            data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _b64(raw: str) -> str | None:
    try:
        return _bytes_to_text(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return None


def user_data(resource_type: str, props: dict[str, Any]) -> Any:
    """The decoded user data: a string, None when unset, UNKNOWN when not known yet."""
    raw, encoded = props.get("userData"), resource_type == LAUNCH_TEMPLATE
    if raw is None and props.get("userDataBase64") is not None:
        raw, encoded = props.get("userDataBase64"), True
    if is_unknown(raw):
        return UNKNOWN
    raw = text(raw)
    if raw is None:
        return None
    return (_b64(raw) or raw) if encoded else raw


def _file_content(entry: dict[str, Any]) -> str | None:
    content = text(entry.get("content"))
    if content is None:
        return None
    encoding = str(entry.get("encoding") or "").lower()
    if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
        return _b64(content)
    return content


@lru_cache(maxsize=256)
def texts(data: str) -> tuple[str, ...]:
    """The user data and every file its cloud-config writes, decoded."""
    found = [data]
    if data.lstrip().startswith("#cloud-config"):
        try:
            document = yaml.safe_load(data)
        except yaml.YAMLError:
            document = None
        if isinstance(document, dict):
            for entry in document.get("write_files") or []:
                content = _file_content(entry) if isinstance(entry, dict) else None
                if content is not None and content not in found:
                    found.append(content)
    return tuple(found)


def private_key_markers(data: str) -> list[str]:
    return sorted({match[0] for chunk in texts(data) for match in PRIVATE_KEY.finditer(chunk)})


def _yaml_documents(chunk: str) -> Iterator[dict[str, Any]]:
    if "kind:" not in chunk:
        return
    try:
        for document in yaml.safe_load_all(chunk):
            if isinstance(document, dict):
                yield document
    except yaml.YAMLError:
        return


@dataclass(frozen=True)
class KubeletFlags:
    """The kubelet flags a node's user data sets (kubeadm kubeletExtraArgs and kubelet command lines)."""

    configures_kubelet: bool
    values: dict[str, list[str]] = field(default_factory=dict)

    def get(self, flag: str) -> list[str]:
        return self.values.get(flag, [])


def _extra_args(arguments: Any) -> Iterator[tuple[str, str]]:
    if isinstance(arguments, dict):  # kubeadm v1beta2/v1beta3: a map
        yield from ((str(name), str(value)) for name, value in arguments.items())
    elif isinstance(arguments, list):  # kubeadm v1beta4: a list of {name, value}
        yield from ((str(item.get("name")), str(item.get("value"))) for item in arguments if isinstance(item, dict))


def _kubelet_lines(chunk: str) -> Iterator[str]:
    for line in chunk.replace("\\\n", " ").splitlines():
        if "kubelet" in line.lower():
            yield line


@lru_cache(maxsize=256)
def kubelet_flags(data: str) -> KubeletFlags:
    values: dict[str, list[str]] = {}
    kubeadm = False
    for chunk in texts(data):
        for document in _yaml_documents(chunk):
            if document.get("kind") in _KUBEADM_NODE_KINDS:
                kubeadm = True
                registration = document.get("nodeRegistration") or {}
                for name, value in _extra_args(registration.get("kubeletExtraArgs")):
                    values.setdefault(name, []).append(value)
        for line in _kubelet_lines(chunk):
            for name, value in _KUBELET_FLAG.findall(line):
                values.setdefault(name, []).append(value)
    mentions_kubelet = any(re.search(r"\bkubelet\b", chunk) for chunk in texts(data))
    return KubeletFlags(kubeadm or mentions_kubelet, values)


def cluster_version(data: str) -> Version | None:
    """`kubernetesVersion` of a kubeadm ClusterConfiguration in the user data."""
    match = _CLUSTER_VERSION.search("\n".join(texts(data)))
    return parse_version(match[1]) if match else None


def node_version(data: str) -> Version | None:
    """The Kubernetes release the node installs (dl.k8s.io binaries, pkgs.k8s.io repository)."""
    match = _NODE_VERSION.search("\n".join(texts(data)))
    return parse_version(match[1] or match[2]) if match else None


def uses_apt(data: str) -> bool:
    """A Debian-family bootstrap: cloud-config packages or apt commands (the Ubuntu hint the pack can see)."""
    return bool(_APT.search(data)) or "ubuntu" in data.lower()
