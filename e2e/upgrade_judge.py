"""How the upgrade case (e2e/upgrade.py) is judged: pure functions over what it read back.

Each check is `{"name", "passed", "problems", "detail"}`; the case passes when it ran at least one
check and every check passed. The CCM start gate is the program's own version skew rule
(components/version_skew.py `ccm_skew_problem`), asked with the versions the running API server
reports on /version and the CCM binary reports on `--version`.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

from components.release_facts import Version
from components.render.ccm_manifests import UNINITIALIZED_TAINT
from components.version_skew import ccm_skew_problem
from e2e.judge import FORBIDDEN

GIT_VERSION = re.compile(r"\bv(\d+\.\d+\.\d+)\b")
KLOG_TIME = re.compile(r"^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) ")
RBAC_AND_DATA_KINDS = frozenset(
    {"Secret", "ConfigMap", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
)
"""The cluster-side objects the harness applies (the DaemonSet runs as a local process instead)."""


def check(name: str, problems: list[str], detail: Any = None) -> dict[str, Any]:
    return {"name": name, "passed": not problems, "problems": problems, "detail": detail}


def overall(checks: list[dict[str, Any]]) -> bool:
    """Passed: at least one check ran and none failed."""
    return bool(checks) and all(item["passed"] for item in checks)


def version_in(text: str) -> str | None:
    """The first `vX.Y.Z` in `text` (e.g. `Kubernetes v1.35.3`, a CCM's `--version`), without the `v`."""
    match = GIT_VERSION.search(text)
    return match.group(1) if match else None


def ccm_start_refusal(api_server_version: str, ccm_version: str) -> str | None:
    """Why the harness must not start this CCM against this API server (None: it may): the
    program's rule, never newer than the API server and at most one minor older."""
    return ccm_skew_problem(Version.parse(api_server_version), Version.parse(ccm_version))


def refusal_problems(message: str | None, must_name: Iterable[str]) -> list[str]:
    """A refusal must exist and name every one of `must_name` (both versions, the key)."""
    if message is None:
        return ["not refused"]
    return [f"the refusal does not name {item!r}: {message}" for item in must_name if item not in message]


def forbidden_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if FORBIDDEN.search(line)]


def klog_time(line: str, year: int) -> datetime.datetime | None:
    """The local time of a klog line (`E1129 19:40:24.605710 ...`; klog writes no year), or None."""
    match = KLOG_TIME.match(line)
    if match is None:
        return None
    month, day, hour, minute, second, micro = (int(part) for part in match.groups())
    return datetime.datetime(year, month, day, hour, minute, second, micro)  # local time, as klog writes it


def split_by_window(
    lines: list[str], start: datetime.datetime, end: datetime.datetime, year: int
) -> tuple[list[str], list[str]]:
    """(the lines logged within [start, end], every other line): a line without a klog time is outside."""
    inside: list[str] = []
    outside: list[str] = []
    for line in lines:
        when = klog_time(line, year)
        (inside if when is not None and start <= when <= end else outside).append(line)
    return inside, outside


def node_state(node: Mapping[str, Any]) -> dict[str, Any]:
    """What the CCM initialised on a Node: its provider ID, addresses and the uninitialised taint."""
    spec = node.get("spec", {})
    return {
        "providerID": spec.get("providerID"),
        "addresses": [[item["type"], item["address"]] for item in node.get("status", {}).get("addresses", [])],
        "uninitialised": any(taint["key"] == UNINITIALIZED_TAINT for taint in spec.get("taints") or []),
    }


def unchanged_problems(before: Mapping[str, dict[str, Any]], after: Mapping[str, dict[str, Any]]) -> list[str]:
    """Every node of `before` must still be in `after`, initialised, with the same provider ID and
    InternalIP addresses (hostnames may be added; an InternalIP that changes or goes is a problem)."""
    problems = []
    if not before:
        problems.append("no node was initialised before the upgrade")
    for name, old in sorted(before.items()):
        new = after.get(name)
        if new is None:
            problems.append(f"{name}: gone after the upgrade")
            continue
        if new["uninitialised"]:
            problems.append(f"{name}: tainted uninitialised again after the upgrade")
        if new["providerID"] != old["providerID"]:
            problems.append(f"{name}: providerID {old['providerID']!r} -> {new['providerID']!r}")
        old_ips = [address for kind, address in old["addresses"] if kind == "InternalIP"]
        new_ips = [address for kind, address in new["addresses"] if kind == "InternalIP"]
        if not old_ips:
            problems.append(f"{name}: had no InternalIP before the upgrade")
        if new_ips != old_ips:
            problems.append(f"{name}: InternalIPs {old_ips} -> {new_ips}")
    return problems


def object_key(manifest: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return str(manifest["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"])


def removed_objects(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """The objects the old release applied and the new one does not: what `pulumi up` deletes."""
    kept = {object_key(manifest) for manifest in new}
    return [key for key in (object_key(manifest) for manifest in old) if key not in kept]


def content_differs(wanted: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """Whether applying `wanted` changes `live`: any top-level field but metadata, or its labels
    and annotations (the server adds defaults, so only the keys `wanted` sets are compared). A
    Secret's `stringData` is held by the server base64-encoded in `data`."""
    if "stringData" in wanted:
        encoded = {key: base64.b64encode(str(value).encode()).decode() for key, value in wanted["stringData"].items()}
        if live.get("data") != {**(wanted.get("data") or {}), **encoded}:
            return True
    for key, value in wanted.items():
        if key in ("apiVersion", "kind", "stringData", "data" if "stringData" in wanted else ""):
            continue
        if key == "metadata":
            for part in ("labels", "annotations"):
                if (value.get(part) or {}) != {
                    k: v for k, v in (live.get("metadata", {}).get(part) or {}).items() if k in (value.get(part) or {})
                }:
                    return True
            continue
        if live.get(key) != value:
            return True
    return False


def successfully_initialised(log: str, node_name: str) -> list[str]:
    """The CCM's log lines saying it initialised `node_name` (the node controller's message)."""
    return [line for line in log.splitlines() if "Successfully initialized node" in line and node_name in line]
