"""Every IAM policy document a render contains, as the text the program sends, with its kind.

Kinds: an inline role policy is named by its purpose (`<cluster>-<role>-<purpose>`:
`cloud-controller-manager`, `node`, `ssm-parameters`, ...), a role's trust policy is
`trust-policy`, a KMS key policy `key-policy`, a customer-managed policy `managed-policy`.
Works on a captured Graph or on a render's resources.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.offline.capture import Graph, unwrap_secrets

TRUST_POLICY = "trust-policy"
KEY_POLICY = "key-policy"
MANAGED_POLICY = "managed-policy"


@dataclass(frozen=True)
class RenderedPolicy:
    resource: str
    """Logical name of the resource that carries the document."""
    kind: str
    text: str

    @property
    def document(self) -> dict[str, Any]:
        loaded = json.loads(self.text)
        if not isinstance(loaded, dict):
            raise ValueError(f"{self.resource}: the policy is not a JSON object")
        return loaded


def graph_resources(graph: Graph) -> list[dict[str, Any]]:
    """The graph's resources in resources.json's shape (the fields read here)."""
    return [
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "inputs": unwrap_secrets(r.inputs)}
        for r in graph.resources
    ]


def json_resources(path: Path) -> list[dict[str, Any]]:
    loaded = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, list):
        raise ValueError(f"{path}: not a list of resources")
    return loaded


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value if isinstance(value, str) and value.lstrip().startswith("{") else None


def rendered_policies(resources: Sequence[Mapping[str, Any]]) -> list[RenderedPolicy]:
    names = {str(r.get("urn", "")): str(r["name"]) for r in resources}
    found: list[RenderedPolicy] = []

    def add(resource: Mapping[str, Any], kind: str, value: Any) -> None:
        text = _text(value)
        if text is not None:
            found.append(RenderedPolicy(str(resource["name"]), kind, text))

    for resource in resources:
        kind, inputs = resource["type"], resource.get("inputs") or {}
        if kind == "aws:iam/rolePolicy:RolePolicy":
            role = names.get(str(resource.get("parent")), "")
            purpose = str(resource["name"]).removeprefix(f"{role}-") if role else str(resource["name"])
            add(resource, purpose, inputs.get("policy"))
        elif kind == "aws:iam/role:Role":
            add(resource, TRUST_POLICY, inputs.get("assumeRolePolicy"))
            for inline in inputs.get("inlinePolicies") or []:
                add(resource, str(inline.get("name") or "inline"), inline.get("policy"))
        elif kind in ("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy"):
            add(resource, KEY_POLICY, inputs.get("policy"))
        elif kind == "aws:iam/policy:Policy":
            add(resource, MANAGED_POLICY, inputs.get("policy"))
    return found
