"""The release matrix: one row per supported Kubernetes minor.

Everything that differs between Kubernetes versions is data in this module; the rest of
the program asks a `Release` row (or `Release.at_least`) instead of comparing version
strings. The facts behind each table, with their upstream sources: docs/reference/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.release_facts import (
    CCM_CLUSTER_TAGGED_ACTIONS,
    CCM_CREATE_ACTIONS,
    CCM_CREATES_UNTAGGED_LISTENERS,
    CCM_EC2_TAG_ON_CREATE,
    CCM_ELB_TAG_ON_CREATE,
    CCM_READ_ACTIONS,
    CCM_READS_SECRETS,
    CCM_TAGGING_ACTIONS,
    CCM_TAGS_NEW_TARGET_GROUPS_SEPARATELY,
    CCM_TARGET_GROUP_ATTRIBUTE_CHANGES,
    CCM_TARGET_GROUP_ATTRIBUTE_READS,
    CLOUD_CONFIG_KEYS,
    KUBEADM_IMAGE_TAGS,
    NODE_IAM_ACTIONS,
    SERVICE_NAME_TAG_KEY,
    UNKNOWN_KEY_TOLERATED_FROM,
    CcmIamActions,
    CiliumChart,
    CiliumValuesSchema,
    KubeadmApi,
    KubeadmImageTags,
    NodeIpMode,
    Since,
    Version,
    select_names,
)

# The facts' types are part of this module's interface: importers ask `components.versions`.
__all__ = [
    "CCM_IMAGE_REPOSITORY",
    "NODE_IAM_ACTIONS",
    "RELEASES",
    "SERVICE_NAME_TAG_KEY",
    "CcmIamActions",
    "CiliumChart",
    "CiliumValuesSchema",
    "KubeadmApi",
    "KubeadmImageTags",
    "NodeIpMode",
    "Release",
    "Since",
    "UnsupportedVersionError",
    "Version",
    "newest",
    "release_for",
    "supported_minors",
]

CCM_IMAGE_REPOSITORY = "registry.k8s.io/provider-aws/cloud-controller-manager"


@dataclass(frozen=True)
class Release:
    """One row of the matrix: everything version-specific about a Kubernetes minor."""

    kubernetes_version: str
    """Exact Kubernetes patch release installed on the nodes (dl.k8s.io binaries)."""
    ccm_tag: str
    """A tag of CCM_IMAGE_REPOSITORY that was actually promoted (not every git tag was)."""
    node_ip_mode: NodeIpMode
    ubuntu_release: str
    """Ubuntu LTS of the nodes: 20.04 unless this Kubernetes needs a newer one."""
    ubuntu_reason: str = ""
    cilium_chart_version: str = ""
    crictl_version: str = ""
    version: Version = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", Version.parse(self.kubernetes_version))

    @property
    def minor(self) -> str:
        return self.version.minor_str

    def at_least(self, minor: str) -> bool:
        return self.version >= Version.parse(minor)

    @property
    def cilium_chart(self) -> CiliumChart:
        if not self.cilium_chart_version:
            raise ValueError(f"release {self.minor} names no cilium_chart_version")
        return CiliumChart(self.cilium_chart_version)

    @property
    def ccm_image(self) -> str:
        return f"{CCM_IMAGE_REPOSITORY}:{self.ccm_tag}"

    @property
    def kubeadm_image_tags(self) -> KubeadmImageTags:
        """etcd, CoreDNS and pause tags kubeadm of exactly this patch pulls (release_facts.py)."""
        tags = KUBEADM_IMAGE_TAGS.get(self.kubernetes_version)
        if tags is None:
            raise ValueError(f"release {self.kubernetes_version} has no KUBEADM_IMAGE_TAGS row")
        return tags

    @property
    def kubeadm_api(self) -> KubeadmApi:
        if self.at_least("1.31"):
            return KubeadmApi.V1BETA4
        if self.at_least("1.22"):
            return KubeadmApi.V1BETA3
        return KubeadmApi.V1BETA2

    @property
    def cloud_config_keys(self) -> frozenset[str]:
        return frozenset(select_names(CLOUD_CONFIG_KEYS, self.version))

    @property
    def supports_node_ip_families(self) -> bool:
        return "NodeIPFamilies" in self.cloud_config_keys

    @property
    def ccm_fails_on_unknown_config_key(self) -> bool:
        tolerated_from = UNKNOWN_KEY_TOLERATED_FROM.get(self.minor)
        ccm_version = Version.parse(self.ccm_tag)
        if tolerated_from is None:
            return ccm_version < Version.parse("1.23")
        return ccm_version < Version.parse(tolerated_from)

    @property
    def control_plane_role(self) -> str:
        """`master` for the node-role label and taint before kubeadm 1.24, then `control-plane`."""
        return "control-plane" if self.at_least("1.24") else "master"

    @property
    def control_plane_label(self) -> str:
        return f"node-role.kubernetes.io/{self.control_plane_role}"

    @property
    def control_plane_taint_keys(self) -> tuple[str, ...]:
        # kubeadm 1.24 sets both taints during the rename; 1.25 drops `master`.
        if self.minor == "1.24":
            return ("node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane")
        return (self.control_plane_label,)

    @property
    def kubeadm_defaults_to_frozen_registry(self) -> bool:
        """kubeadm before 1.25 pulls from k8s.gcr.io, which is frozen; registry.k8s.io has every tag."""
        return not self.at_least("1.25")

    @property
    def requires_cgroup_v2(self) -> bool:
        # kubelet 1.35 sets failCgroupV1 by default; Ubuntu 20.04 boots cgroup v1.
        return self.at_least("1.35")

    @property
    def ccm_reads_secrets(self) -> bool:
        """The CCM reads Secrets in kube-system, so it gets a Role for them there (none does)."""
        return bool(select_names(CCM_READS_SECRETS, self.version))

    @property
    def ccm_iam_actions(self) -> CcmIamActions:
        ccm = Version.parse(self.ccm_tag)
        return CcmIamActions(
            read=select_names(CCM_READ_ACTIONS, self.version) + select_names(CCM_TARGET_GROUP_ATTRIBUTE_READS, ccm),
            create=select_names(CCM_CREATE_ACTIONS, self.version),
            tagging=select_names(CCM_TAGGING_ACTIONS, self.version),
            cluster_tagged=select_names(CCM_CLUSTER_TAGGED_ACTIONS, self.version)
            + select_names(CCM_TARGET_GROUP_ATTRIBUTE_CHANGES, ccm),
        )

    @property
    def ccm_tag_on_create(self) -> dict[str, tuple[str, ...]]:
        """Tagging action -> the create calls of this CCM whose request carries the new resource's tags."""
        ccm = Version.parse(self.ccm_tag)
        return {
            "ec2:CreateTags": select_names(CCM_EC2_TAG_ON_CREATE, ccm),
            "elasticloadbalancing:AddTags": select_names(CCM_ELB_TAG_ON_CREATE, ccm),
        }

    @property
    def ccm_tags_new_target_groups_separately(self) -> bool:
        return CCM_TAGS_NEW_TARGET_GROUPS_SEPARATELY.holds_for(Version.parse(self.ccm_tag))

    @property
    def ccm_creates_untagged_listeners(self) -> bool:
        return CCM_CREATES_UNTAGGED_LISTENERS.holds_for(Version.parse(self.ccm_tag))


# Newest patch of each minor; CCM tags: the newest promoted in kubernetes/k8s.io
# registry.k8s.io/images/k8s-staging-provider-aws/images.yaml (v1.21.0-alpha.0, the article's
# image, lacks PR #230 and so reports no IPv6 address). Node-IP modes: 1.21-1.23 only check that
# a provided IP exists; 1.24-1.28 (PreferNodeIP, kubernetes#107750) keep just the provided
# address of its type, so one IPv6 --node-ip would drop the IPv4 InternalIP: leave it unset
# and let NodeIPFamilies order the addresses; 1.29+ accept both (CloudDualStackNodeIPs beta).
# Cilium: chart = Cilium release whose compatibility list covers the minor, and that cilium/charts
# (helm.cilium.io) really has: 1.18.12 and 1.19.6 are the newest there (commit 009b5e9, Aug 2026),
# 1.18.13+ and 1.19.7+ were never published as charts (docs/reference/artifacts.md).
RELEASES: tuple[Release, ...] = (
    Release(
        kubernetes_version="1.21.14",
        ccm_tag="v1.21.3",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.21.0",
    ),
    Release(
        kubernetes_version="1.22.17",
        ccm_tag="v1.22.8",
        node_ip_mode=NodeIpMode.IPV6,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.22.0",
    ),
    Release(
        kubernetes_version="1.23.17",
        ccm_tag="v1.23.20",
        node_ip_mode=NodeIpMode.IPV6,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.23.0",
    ),
    Release(
        kubernetes_version="1.24.17",
        ccm_tag="v1.24.19",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.24.0",
    ),
    Release(
        kubernetes_version="1.25.16",
        ccm_tag="v1.25.15",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.25.0",
    ),
    Release(
        kubernetes_version="1.26.15",
        ccm_tag="v1.26.14",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.13.16",
        crictl_version="v1.26.0",
    ),
    Release(
        kubernetes_version="1.27.16",
        ccm_tag="v1.27.10",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.15.18",
        crictl_version="v1.27.0",
    ),
    Release(
        kubernetes_version="1.28.15",
        ccm_tag="v1.28.11",
        node_ip_mode=NodeIpMode.UNSET,
        ubuntu_release="20.04",
        cilium_chart_version="1.15.18",
        crictl_version="v1.28.0",
    ),
    Release(
        kubernetes_version="1.29.15",
        ccm_tag="v1.29.10",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.15.18",
        crictl_version="v1.29.0",
    ),
    Release(
        kubernetes_version="1.30.14",
        ccm_tag="v1.30.10",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.18.12",
        crictl_version="v1.30.0",
    ),
    Release(
        kubernetes_version="1.31.14",
        ccm_tag="v1.31.9",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.18.12",
        crictl_version="v1.31.0",
    ),
    Release(
        kubernetes_version="1.32.13",
        ccm_tag="v1.32.8",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.18.12",
        crictl_version="v1.32.0",
    ),
    Release(
        kubernetes_version="1.33.13",
        ccm_tag="v1.33.4",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.18.12",
        crictl_version="v1.33.0",
    ),
    Release(
        kubernetes_version="1.34.6",
        ccm_tag="v1.34.3",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="20.04",
        cilium_chart_version="1.19.6",
        crictl_version="v1.34.0",
    ),
    Release(
        kubernetes_version="1.35.3",
        ccm_tag="v1.35.2",
        node_ip_mode=NodeIpMode.DUAL,
        ubuntu_release="24.04",
        ubuntu_reason="kubelet 1.35 refuses cgroup v1 (failCgroupV1); 20.04 boots cgroup v1",
        cilium_chart_version="1.19.6",
        crictl_version="v1.35.0",
    ),
)

_BY_MINOR: dict[str, Release] = {release.minor: release for release in RELEASES}


def supported_minors() -> tuple[str, ...]:
    return tuple(_BY_MINOR)


def newest() -> Release:
    return max(RELEASES, key=lambda release: release.version)


class UnsupportedVersionError(ValueError):
    pass


def release_for(kubernetes_version: str) -> Release:
    """The matrix row for `1.X` (or `1.X.Y` naming that row's exact patch); never a fallback."""
    try:
        wanted = Version.parse(kubernetes_version)
    except ValueError as error:
        raise UnsupportedVersionError(str(error)) from error
    release = _BY_MINOR.get(wanted.minor_str)
    patch_given = kubernetes_version.strip().lstrip("v").count(".") == 2
    if release is None or (patch_given and wanted != release.version):
        raise UnsupportedVersionError(
            f"{kubernetes_version!r} is not in the release matrix; supported: "
            + ", ".join(f"{r.minor} (= {r.kubernetes_version})" for r in RELEASES)
        )
    return release
