"""What may change between the deployed Kubernetes version and the stack's, and the skew rules.

Pure rules, asked before any resource is registered: `plan_version_change` compares the version
the stack last deployed (components/deployed_state.py) with the one its config names, and
`ccm_skew_problem` / `kubelet_skew_problem` hold the Kubernetes version skew policy for the two
pieces this program versions apart from the API server. Sources: docs/reference/version-skew.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from components.release_facts import Version
from components.settings_reader import ConfigError, ConfigProblem
from components.versions import RELEASES, Release

REBUILD_KEY = "allowVersionRebuild"
"""The override: a skip or a downgrade rebuilds the cluster instead of being refused."""

# The kubelet may be this many minors older than the API server (version skew policy).
KUBELET_MAX_MINORS_BEHIND_SINCE_1_28 = 3
KUBELET_MAX_MINORS_BEHIND_BEFORE_1_28 = 2


class ChangeKind(enum.Enum):
    NEW = "new"
    """No version was deployed: a new stack (or one deployed before the program recorded it)."""
    UNCHANGED = "unchanged"
    PATCH = "patch"
    """Same minor, newer patch: the upgrade steps run, at the same minor."""
    MINOR = "minor"
    """One minor up: the upgrade steps run."""
    REBUILD = "rebuild"
    """A skip or a downgrade the stack allowed with `allowVersionRebuild`: every node is replaced."""


@dataclass(frozen=True)
class VersionChange:
    kind: ChangeKind
    deployed: Version | None
    target: Version

    @property
    def upgrades_in_place(self) -> bool:
        """The control planes run `kubeadm upgrade`, then the CCM, then the workers roll."""
        return self.kind in (ChangeKind.PATCH, ChangeKind.MINOR)

    @property
    def rebuilds(self) -> bool:
        return self.kind is ChangeKind.REBUILD


def upgrade_path(deployed: Version, target: Version) -> list[str]:
    """The versions to deploy one after the other: each next minor's row, ending at `target`."""
    steps = [str(deployed)]
    for release in sorted(RELEASES, key=lambda row: row.version):
        row = release.version
        if row.major == target.major and deployed.minor < row.minor < target.minor:
            steps.append(release.kubernetes_version)
    steps.append(str(target))
    return steps


def plan_version_change(deployed: Version | None, target: Release, rebuild_allowed: bool) -> VersionChange:
    """The change from `deployed` to `target`, or ConfigError naming both versions and the way forward."""
    wanted = target.version
    if deployed is None:
        return VersionChange(ChangeKind.NEW, None, wanted)
    if deployed == wanted:
        return VersionChange(ChangeKind.UNCHANGED, deployed, wanted)
    same_minor = (deployed.major, deployed.minor) == (wanted.major, wanted.minor)
    if wanted > deployed and same_minor:
        return VersionChange(ChangeKind.PATCH, deployed, wanted)
    if wanted > deployed and deployed.major == wanted.major and wanted.minor == deployed.minor + 1:
        return VersionChange(ChangeKind.MINOR, deployed, wanted)
    if rebuild_allowed:
        return VersionChange(ChangeKind.REBUILD, deployed, wanted)
    raise ConfigError([ConfigProblem("kubernetesVersion", target.kubernetes_version, _refusal(deployed, wanted))])


def _refusal(deployed: Version, wanted: Version) -> str:
    rebuild = (
        f"or set {REBUILD_KEY}: true to rebuild the cluster at {wanted} instead (every control plane and "
        "worker replaced, the etcd data of the old control planes not kept)"
    )
    if wanted < deployed:
        return (
            f"a version at or above the deployed {deployed}: {deployed} -> {wanted} is a downgrade, which "
            f"kubeadm cannot do in place (set kubernetesVersion back to {deployed.minor_str}, {rebuild})"
        )
    path = " -> ".join(upgrade_path(deployed, wanted))
    return (
        f"at most one minor above the deployed {deployed}: {deployed} -> {wanted} skips a minor, which kubeadm "
        f"refuses and the version skew policy does not support; upgrade one minor per `pulumi up`: {path} "
        f"({rebuild})"
    )


def ccm_skew_problem(api_server: Version, ccm: Version) -> str | None:
    """The CCM must never be newer than the API server, and at most one minor older."""
    if (ccm.major, ccm.minor) > (api_server.major, api_server.minor):
        return f"the CCM {ccm} is newer than the API server {api_server}; the CCM must never be newer"
    if ccm.major != api_server.major or ccm.minor < api_server.minor - 1:
        return f"the CCM {ccm} is more than one minor older than the API server {api_server}"
    return None


def kubelet_skew_problem(control_plane: Version, kubelet: Version) -> str | None:
    """The kubelet must never be newer than the control plane, and at most 3 minors older (2 before 1.28)."""
    if (kubelet.major, kubelet.minor) > (control_plane.major, control_plane.minor):
        return f"the kubelet {kubelet} is newer than the control plane {control_plane}"
    behind = (
        KUBELET_MAX_MINORS_BEHIND_SINCE_1_28
        if not control_plane < Version(1, 28)
        else KUBELET_MAX_MINORS_BEHIND_BEFORE_1_28
    )
    if kubelet.major != control_plane.major or kubelet.minor < control_plane.minor - behind:
        return f"the kubelet {kubelet} is more than {behind} minors older than the control plane {control_plane}"
    return None
