"""The pure part of the in-place upgrade run (`make integration UPGRADE=1`): which versions, what the
cluster must look like after the upgrade, how the workers' instance refresh and the refused preview
are judged. Unit-tested offline (tests/test_integration_upgrade.py); `upgrade.py` does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from components.versions import RELEASES, Release
from integration.harness import PROVIDER_ID, Check

OPT_IN = "INTEGRATION_UPGRADE"
"""Set to 1 to run the upgrade (`make integration UPGRADE=1`): it is the longest and costliest run."""
FROM_VARIABLE = "INTEGRATION_UPGRADE_FROM"
"""The minor the throwaway stack starts at (default: the one below the newest row); it upgrades to the next."""
# Auto Scaling's instance refresh statuses (DescribeInstanceRefreshes): the run stops waiting at these.
REFRESH_DONE = "Successful"
REFRESH_FAILED = frozenset({"Failed", "Cancelled", "RollbackFailed", "RollbackSuccessful"})


# -- which versions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpgradePair:
    source: Release
    target: Release


def upgrade_pair(environ: Mapping[str, str], releases: Sequence[Release] = RELEASES) -> UpgradePair:
    """The row the stack starts at (INTEGRATION_UPGRADE_FROM, default the newest row's previous minor)
    and the row one minor above it, which the run upgrades to."""
    rows = sorted(releases, key=lambda row: row.version)
    wanted = environ.get(FROM_VARIABLE, "").strip() or rows[-2].minor
    by_minor = {row.minor: row for row in rows}
    source = by_minor.get(wanted)
    if source is None:
        raise ValueError(f"{FROM_VARIABLE}={wanted}: not a minor of the release matrix ({', '.join(by_minor)})")
    following = [
        row
        for row in rows
        if (row.version.major, row.version.minor) == (source.version.major, source.version.minor + 1)
    ]
    if not following:
        raise ValueError(f"{FROM_VARIABLE}={wanted}: the release matrix has no row one minor above it to upgrade to")
    return UpgradePair(source, following[0])


def skip_reason(environ: Mapping[str, str], missing: Sequence[str]) -> str | None:
    """Why the upgrade run does not run (None: it runs): it is asked for, and then needs what every run needs."""
    if environ.get(OPT_IN, "").strip() != "1":
        return (
            f"in-place upgrade run not asked for: make integration UPGRADE=1 (or {OPT_IN}=1); "
            "about an hour of three t3.medium instances, about $0.15"
        )
    if missing:
        return "in-place upgrade run on AWS needs " + "; ".join(missing)
    return None


# -- the refused preview --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalProbe:
    """A `kubernetesVersion` two minors away from the deployed version, and what its refusal must say."""

    minor: str
    expected: tuple[str, ...]


def refusal_probe(deployed: Release, releases: Sequence[Release] = RELEASES) -> RefusalProbe:
    """Two minors above the deployed row when the matrix has one (a skip: the message lists the path
    through the minor between), else two minors below (a downgrade: the message says which version
    to go back to). Either way the message names the deployed version, which the stack recorded in SSM."""
    rows = {(row.version.major, row.version.minor): row for row in releases}
    major, minor = deployed.version.major, deployed.version.minor
    above, between = rows.get((major, minor + 2)), rows.get((major, minor + 1))
    if above is not None and between is not None:
        path = f"{deployed.kubernetes_version} -> {between.kubernetes_version} -> {above.kubernetes_version}"
        skip = f"{deployed.kubernetes_version} -> {above.kubernetes_version} skips a minor"
        return RefusalProbe(above.minor, (skip, path))
    below = rows.get((major, minor - 2))
    if below is None:
        raise ValueError(f"the release matrix has no row two minors above or below {deployed.minor}")
    return RefusalProbe(
        below.minor,
        (f"{deployed.kubernetes_version} -> {below.kubernetes_version} is a downgrade", f"back to {deployed.minor}"),
    )


def refusal_checks(probe: RefusalProbe, refused: bool, output: str) -> list[Check]:
    """The preview failed, and its output carries every expected part of the program's refusal."""
    checks = [Check(f"preview of kubernetesVersion {probe.minor} is refused", refused, output.strip()[-300:])]
    for part in probe.expected:
        found = next((line.strip() for line in output.splitlines() if part in line), "")
        checks.append(Check(f"the refusal says {part!r}", bool(found), found[-600:] or "not in the preview output"))
    return checks


# -- the cluster after the upgrade ----------------------------------------------------------------


def instance_id(node: Mapping[str, Any]) -> str | None:
    match = PROVIDER_ID.match((node.get("spec") or {}).get("providerID", ""))
    return match["instance"] if match else None


def is_control_plane(node: Mapping[str, Any], labels: Iterable[str]) -> bool:
    return any(label in ((node.get("metadata") or {}).get("labels") or {}) for label in labels)


def control_plane_labels(pair: UpgradePair) -> tuple[str, ...]:
    return tuple(dict.fromkeys((pair.source.control_plane_label, pair.target.control_plane_label)))


@dataclass(frozen=True)
class Fleet:
    """The instances behind the nodes, by role, before the upgrade."""

    control_planes: frozenset[str]
    workers: frozenset[str]


def fleet(nodes: Mapping[str, Any], labels: Iterable[str]) -> Fleet:
    labels = tuple(labels)
    items = list(nodes.get("items") or [])
    planes = {instance_id(node) for node in items if is_control_plane(node, labels)}
    workers = {instance_id(node) for node in items if not is_control_plane(node, labels)}
    return Fleet(frozenset(i for i in planes if i), frozenset(i for i in workers if i))


def kubelet_checks(nodes: Mapping[str, Any], version: str) -> list[Check]:
    """Every node's kubelet reports `version` (status.nodeInfo.kubeletVersion, `v1.35.3`)."""
    checks = []
    for node in nodes.get("items") or []:
        reported = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        checks.append(Check(f"{node['metadata']['name']}: kubelet v{version}", reported == f"v{version}", reported))
    return checks or [Check(f"kubelets at v{version}", False, "no node")]


def upgraded_node_checks(
    nodes: Mapping[str, Any], target: str, before: Fleet, labels: Iterable[str], expected_count: int
) -> list[Check]:
    """Every node at `target`; the control planes the same instances as before (upgraded in place);
    the workers all new instances (replaced by the instance refresh), as many as before."""
    after = fleet(nodes, labels)
    count = len(nodes.get("items") or [])
    return [
        Check("node count", count == expected_count, f"{count} nodes, expected {expected_count}"),
        *kubelet_checks(nodes, target),
        Check(
            "control planes upgraded in place (the same instances)",
            bool(before.control_planes) and after.control_planes == before.control_planes,
            f"before {sorted(before.control_planes)}, after {sorted(after.control_planes)}",
        ),
        Check(
            "workers replaced by the instance refresh (all new instances)",
            bool(after.workers) and not after.workers & before.workers and len(after.workers) == len(before.workers),
            f"before {sorted(before.workers)}, after {sorted(after.workers)}",
        ),
    ]


def output_instance_check(before: Any, after: Any) -> Check:
    """The stack's `controlPlaneInstanceIds`: Pulumi replaced none of them."""
    ok = isinstance(before, list) and bool(before) and before == after
    return Check("the stack's controlPlaneInstanceIds unchanged", ok, f"before {before}, after {after}")


def api_version_check(version_document: Mapping[str, Any], target: str) -> Check:
    """`kubectl version -o json`: the API server's `/version` (serverVersion.gitVersion)."""
    reported = (version_document.get("serverVersion") or {}).get("gitVersion", "")
    return Check(f"API server /version v{target}", reported == f"v{target}", reported or "no serverVersion")


def ccm_checks(daemonset: Mapping[str, Any], image: str) -> list[Check]:
    """The CCM DaemonSet runs the new release's image, rolled out on every control plane."""
    containers = ((((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    images = [container.get("image") for container in containers]
    status, generation = daemonset.get("status") or {}, (daemonset.get("metadata") or {}).get("generation", 0)
    desired = status.get("desiredNumberScheduled", 0)
    counts = (status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0))
    rolled = desired > 0 and counts == (desired, desired) and status.get("observedGeneration", 0) >= generation
    return [
        Check(f"CCM DaemonSet image {image}", images == [image], str(images)),
        Check("CCM DaemonSet rolled out", rolled, f"desired {desired}, updated {counts[0]}, available {counts[1]}"),
    ]


def refresh_check(refresh: Mapping[str, Any] | None, since: datetime) -> tuple[Check, bool]:
    """The workers' group's newest instance refresh (DescribeInstanceRefreshes), started by the upgrade
    (at or after `since`): (the check, whether waiting longer can change it)."""
    name = "workers' instance refresh Successful"
    if not refresh:
        return Check(name, False, "no instance refresh"), False
    started = refresh.get("StartTime")
    status = str(refresh.get("Status", ""))
    detail = f"{status} {refresh.get('PercentageComplete', 0)}% (started {started}) {refresh.get('StatusReason', '')}"
    if not isinstance(started, datetime) or started < since:
        return Check(name, False, f"none since the upgrade began ({since}); newest: {detail.strip()}"), False
    return Check(name, status == REFRESH_DONE, detail.strip()), status == REFRESH_DONE or status in REFRESH_FAILED


def wait_until_final(
    probe: Callable[[], tuple[Check, bool]],
    *,
    wait_seconds: float,
    poll_seconds: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Check:
    """`probe` until it says its result is final or the wait is over; a probe that raises is retried."""
    deadline = clock() + wait_seconds
    while True:
        try:
            check, final = probe()
        except Exception as error:
            check, final = (
                Check("workers' instance refresh Successful", False, f"{type(error).__name__}: {error}"),
                False,
            )
        if final or clock() >= deadline:
            return check
        sleep(poll_seconds)
