"""The engine tier's checks: pure functions of the engine's own results (change summaries and
per-resource steps) and of what the API server and the backend's files hold. Each returns the
problems it found; an empty list is a pass.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The operations that change nothing / that make or remove a resource (Pulumi's OpType values).
SAME = "same"
CHANGING_OPS = frozenset(
    {"create", "update", "delete", "replace", "create-replacement", "delete-replaced", "import", "import-replacement"}
)
REPLACING_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard", "discard-replaced"})
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
KUBERNETES_OBJECT_PREFIX = "kubernetes:"
PROVIDER_PREFIX = "pulumi:providers:"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
"""What the engine writes in place of a secret value in the state (sdk/go/common/resource/sig)."""


@dataclass(frozen=True)
class Step:
    op: str
    type: str
    urn: str


def steps_of(raw: Iterable[tuple[str, str, str]]) -> list[Step]:
    return [Step(op, type_, urn) for op, type_, urn in raw]


def counted(state_resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources the engine counts in its summaries: all but the default providers, which it
    registers by itself (`pulumi:providers:<package>::default...`) and leaves out of them."""
    return [
        r
        for r in state_resources
        if not (r["type"].startswith(PROVIDER_PREFIX) and r["urn"].rsplit("::", 1)[-1].startswith("default"))
    ]


def counts(summary: Mapping[Any, int]) -> dict[str, int]:
    """An engine summary keyed by operation name (the SDK keys previews by its OpType enum)."""
    return {str(getattr(op, "value", op)): int(count) for op, count in summary.items()}


def _counts_text(summary: Mapping[str, int]) -> str:
    return ", ".join(f"{op} {count}" for op, count in sorted(summary.items())) or "nothing"


def judge_first_up(
    summary: Mapping[str, int], state_resources: list[dict[str, Any]], expected_objects: int
) -> list[str]:
    """Every resource of the stack was created by this `up` and nothing else happened; the state holds
    exactly `expected_objects` Kubernetes objects (the manifests the components render)."""
    problems = []
    if set(summary) != {"create"}:
        problems.append(f"the first up did not only create: {_counts_text(summary)}")
    resource_count = len(counted(state_resources))
    if summary.get("create", 0) != resource_count:
        problems.append(f"the first up created {summary.get('create', 0)} resources, the state holds {resource_count}")
    skipped = skipped_awaits(state_resources)
    if skipped:
        problems.append(f"awaits skipped by annotation: {skipped}")
    objects = [r for r in state_resources if r["type"].startswith(KUBERNETES_OBJECT_PREFIX)]
    if len(objects) != expected_objects:
        problems.append(f"the state holds {len(objects)} Kubernetes objects, the components render {expected_objects}")
    return problems


SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"


def skipped_awaits(state_resources: list[dict[str, Any]]) -> list[str]:
    """Kubernetes objects whose inputs carry `pulumi.com/skipAwait` (the provider would not wait)."""
    found = []
    for resource in state_resources:
        if resource["type"].startswith(KUBERNETES_OBJECT_PREFIX):
            annotations = ((resource.get("inputs") or {}).get("metadata") or {}).get("annotations") or {}
            if SKIP_AWAIT_ANNOTATION in annotations:
                found.append(resource["urn"].rsplit("::", 1)[-1])
    return found


def judge_no_change(change_summary: Mapping[str, int], steps: list[Step], resource_count: int) -> list[str]:
    """A preview of the unchanged program: every resource `same`, nothing else."""
    problems = []
    if set(change_summary) != {SAME}:
        problems.append(f"the preview of the unchanged program reports changes: {_counts_text(change_summary)}")
    if change_summary.get(SAME, 0) != resource_count:
        problems.append(f"{change_summary.get(SAME, 0)} resources same, the stack holds {resource_count}")
    changed = [f"{step.op} {step.urn.rsplit('::', 1)[-1]}" for step in steps if step.op != SAME]
    if changed:
        problems.append(f"steps other than same: {changed}")
    return problems


def judge_in_place_update(
    change_summary: Mapping[str, int],
    steps: list[Step],
    expected_types: frozenset[str] = frozenset({CONFIG_MAP, DAEMON_SET}),
) -> list[str]:
    """A cloud-config change: exactly one update of each of `expected_types`, nothing created,
    deleted or replaced, everything else `same`."""
    problems = []
    unexpected_ops = sorted(set(change_summary) - {SAME, "update"})
    if unexpected_ops:
        problems.append(f"the change is not only updates: {_counts_text(change_summary)}")
    if change_summary.get("update", 0) != len(expected_types):
        problems.append(
            f"{change_summary.get('update', 0)} updates, expected {len(expected_types)} ({sorted(expected_types)})"
        )
    updated = sorted(step.type for step in steps if step.op == "update")
    if updated != sorted(expected_types):
        problems.append(f"updated types {updated}, expected {sorted(expected_types)}")
    replaced = [f"{step.op} {step.urn.rsplit('::', 1)[-1]}" for step in steps if step.op in REPLACING_OPS]
    if replaced:
        problems.append(f"replacements planned: {replaced}")
    return problems


def judge_destroy(summary: Mapping[str, int], resource_count: int, leftovers: list[str]) -> list[str]:
    problems = []
    if set(summary) != {"delete"} or summary.get("delete", 0) != resource_count:
        problems.append(f"destroy did {_counts_text(summary)}, expected delete {resource_count}")
    if leftovers:
        problems.append(f"the API server still holds: {leftovers}")
    return problems


def judge_rollout(old_checksum: str | None, new_checksum: str | None, cloud_config: str | None) -> list[str]:
    """The DaemonSet's pod template after the update: a new checksum annotation, the SHA-256 of
    the ConfigMap's cloud config as read back from the API server."""
    problems = []
    if not new_checksum:
        problems.append("the DaemonSet's pod template has no checksum annotation")
    elif new_checksum == old_checksum:
        problems.append(f"the checksum annotation did not change ({new_checksum})")
    if cloud_config is None:
        problems.append("the ConfigMap holds no cloud config")
    elif new_checksum != hashlib.sha256(cloud_config.encode()).hexdigest():
        problems.append("the checksum annotation is not the SHA-256 of the ConfigMap's cloud config")
    return problems


# kind -> (API path prefix, plural) of the kinds the components create.
OBJECT_PATHS: dict[str, tuple[str, str]] = {
    "Namespace": ("/api/v1", "namespaces"),
    "ServiceAccount": ("/api/v1", "serviceaccounts"),
    "Secret": ("/api/v1", "secrets"),
    "ConfigMap": ("/api/v1", "configmaps"),
    "Service": ("/api/v1", "services"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets"),
    "Deployment": ("/apis/apps/v1", "deployments"),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings"),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
}


def object_path(kind: str, name: str, namespace: str | None) -> str:
    if kind not in OBJECT_PATHS:
        raise KeyError(f"no API path known for kind {kind}")
    prefix, plural = OBJECT_PATHS[kind]
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{prefix}{scope}/{plural}/{name}"


def state_objects(state_resources: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """(kind, name, namespace) of every Kubernetes object in an exported deployment's resources."""
    found = []
    for resource in state_resources:
        if not resource["type"].startswith(KUBERNETES_OBJECT_PREFIX):
            continue
        outputs = resource.get("outputs") or {}
        metadata = outputs.get("metadata") or {}
        found.append((str(outputs.get("kind")), str(metadata.get("name")), metadata.get("namespace")))
    return found


def secret_needles(key_pem: str) -> dict[str, str]:
    """What would betray `key_pem` in a file: its PEM label, each full body line, the body as one
    string, and the start of the base64 of the whole PEM (a kubeconfig's `client-key-data`)."""
    lines = [line.strip() for line in key_pem.strip().splitlines()]
    body = [line for line in lines if line and not line.startswith("-----")]
    needles = {"PEM label": "PRIVATE KEY", "key body": "".join(body)}
    needles |= {f"key body line {i + 1}": line for i, line in enumerate(body) if len(line) >= 40}
    needles["client-key-data"] = base64.b64encode(key_pem.encode()).decode()[:60]
    return needles


def find_in_files(files: Iterable[Path], needles: Mapping[str, str]) -> list[str]:
    """`<file>: <needle name>` for every needle a file holds (the `\\n` JSON escapes removed, so a
    body split across escaped line breaks is still found)."""
    found = []
    for path in files:
        text = path.read_text(errors="replace")
        joined = text.replace("\\n", "").replace("\n", "")
        for name, needle in needles.items():
            if needle in text or needle in joined:
                found.append(f"{path}: {name}")
    return found
