"""Every matrix row checked against facts recorded independently of the code.

Sources: docs/reference/ccm-images.md (kubernetes/k8s.io's promotion manifest and
cloud-provider-aws's git tags), docs/reference/cloud-config.md and kubelet-and-kubeadm.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.versions import (
    CCM_IMAGE_REPOSITORY,
    RELEASES,
    KubeadmApi,
    NodeIpMode,
    Release,
    UnsupportedVersionError,
    Version,
    newest,
    release_for,
)

CCM_IMAGES_PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "ccm-images.md"
_TABLE_ROW = re.compile(r"^\| (?P<minor>1\.\d+) \| (?P<tags>v[^|]+) \|$")
_RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")

# Newest Kubernetes patch releases per kubernetes/website eol.yaml and release notes.
KNOWN_PATCHES = {
    "1.21": 14,
    "1.22": 17,
    "1.23": 17,
    "1.24": 17,
    "1.25": 16,
    "1.26": 15,
    "1.27": 16,
    "1.28": 15,
    "1.29": 15,
    "1.30": 14,
    "1.31": 14,
    "1.32": 13,
    "1.33": 13,
}

rows = pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])


def tag_table(heading: str) -> dict[str, list[str]]:
    """The `| minor | tags |` table under `## <heading>` of the CCM images page."""
    section = CCM_IMAGES_PAGE.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = _TABLE_ROW.match(line)
        if match:
            table[match["minor"]] = [tag.strip() for tag in match["tags"].split(",")]
    return table


def promoted_tags() -> dict[str, list[str]]:
    return tag_table("Promoted release tags per minor")


def tags_without_an_image() -> set[str]:
    return {tag for tags in tag_table("Git tags with no image").values() for tag in tags}


def newest_promoted_release_tag(minor: str) -> str:
    releases = [tag for tag in promoted_tags()[minor] if _RELEASE_TAG.match(tag)]
    return max(releases, key=Version.parse)


def test_the_reference_tables_parse_into_what_they_record() -> None:
    promoted, missing = promoted_tags(), tags_without_an_image()
    assert {r.minor for r in RELEASES} <= set(promoted)
    assert promoted["1.22"][-1] == "v1.22.8" and "v1.21.0-alpha.0" in promoted["1.21"]
    assert {"v1.21.4", "v1.21.7", "v1.22.5", "v1.23.21", "v1.35.1"} <= missing
    assert not missing & {tag for tags in promoted.values() for tag in tags}


@rows
def test_ccm_image_is_the_newest_promoted_release_of_the_same_minor(release: Release) -> None:
    assert release.ccm_tag == newest_promoted_release_tag(release.minor)
    assert release.ccm_tag in promoted_tags()[release.minor]
    assert release.ccm_tag not in tags_without_an_image()
    assert Version.parse(release.ccm_tag).minor_str == release.minor
    assert release.ccm_image == f"{CCM_IMAGE_REPOSITORY}:{release.ccm_tag}"
    assert "alpha" not in release.ccm_tag and "staging" not in release.ccm_image


@rows
def test_kubernetes_patch_is_a_released_one(release: Release) -> None:
    if release.minor in KNOWN_PATCHES:
        assert release.version.patch == KNOWN_PATCHES[release.minor]
    assert release.version.patch > 0


@rows
def test_kubeadm_api_follows_the_kubeadm_support_window(release: Release) -> None:
    expected = (
        KubeadmApi.V1BETA2
        if release.version < Version(1, 22)
        else KubeadmApi.V1BETA3
        if release.version < Version(1, 31)
        else KubeadmApi.V1BETA4
    )
    assert release.kubeadm_api is expected
    if release.at_least("1.26"):
        assert release.kubeadm_api is not KubeadmApi.V1BETA2  # removed in 1.26


@rows
def test_cloud_config_keys(release: Release) -> None:
    keys = release.cloud_config_keys
    assert {"Zone", "KubernetesClusterID", "KubernetesClusterTag", "RoleARN"} <= keys
    assert ("NodeIPFamilies" in keys) == release.at_least("1.22")
    assert ("Region" in keys) == release.at_least("1.28")
    assert ("DisableStrictZoneCheck" in keys) == (not release.at_least("1.28"))
    assert ("SourceARN" in keys) == release.at_least("1.29")
    assert ("NLBSecurityGroupMode" in keys) == release.at_least("1.35")


def test_unknown_cloud_config_key_is_fatal_exactly_before_the_fixed_patches() -> None:
    assert release_for("1.21").ccm_fails_on_unknown_config_key
    assert release_for("1.22").ccm_fails_on_unknown_config_key
    assert not release_for("1.23").ccm_fails_on_unknown_config_key  # v1.23.20 >= v1.23.18
    assert not release_for("1.35").ccm_fails_on_unknown_config_key


@rows
def test_node_ip_mode_is_one_the_kubelet_and_ccm_accept(release: Release) -> None:
    if release.node_ip_mode is NodeIpMode.DUAL:
        # CloudDualStackNodeIPs: beta and on by default from 1.29.
        assert release.at_least("1.29")
    if release.node_ip_mode is NodeIpMode.IPV6:
        # NodeIPFamilies is needed to report the IPv6 address; PreferNodeIP (1.24+) would
        # drop the IPv4 InternalIP of a single IPv6 --node-ip.
        assert release.supports_node_ip_families and not release.at_least("1.24")
    if release.minor == "1.21":
        assert release.node_ip_mode is NodeIpMode.UNSET


@rows
def test_control_plane_role_names(release: Release) -> None:
    if release.at_least("1.24"):
        assert release.control_plane_label == "node-role.kubernetes.io/control-plane"
    else:
        assert release.control_plane_label == "node-role.kubernetes.io/master"
    assert release.control_plane_label in release.control_plane_taint_keys


@rows
def test_ubuntu_release_boots_what_the_kubelet_needs(release: Release) -> None:
    if release.requires_cgroup_v2:
        assert release.ubuntu_release != "20.04" and release.ubuntu_reason
    else:
        assert release.ubuntu_release == "20.04"


@rows
def test_iam_actions_per_release(release: Release) -> None:
    """docs/reference/ccm-aws-calls.md: what the CCM binary calls, not everything docs/prerequisites.md lists."""
    actions = release.ccm_iam_actions
    assert len(set(actions.all)) == len(actions.all)
    assert {"ec2:DescribeInstances", "ec2:CreateTags", "ec2:DeleteSecurityGroup"} <= set(actions.all)
    assert ("ec2:DescribeAvailabilityZones" in actions.read) == release.at_least("1.26")
    assert ("ec2:DescribeInstanceTopology" in actions.read) == release.at_least("1.30")
    never_called = {
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:CreateVolume",
        "ec2:AttachVolume",
        "ec2:DescribeVolumes",
        "ec2:CreateRoute",
        "ec2:ModifyInstanceAttribute",
        "ec2:DescribeRegions",
        "ec2:DescribeVpcs",
        "kms:DescribeKey",
        "elasticloadbalancing:SetSecurityGroups",
    }
    assert not never_called & set(actions.all)


def test_matrix_covers_the_shipped_minors_and_is_ordered() -> None:
    minors = [r.minor for r in RELEASES]
    assert {"1.21", "1.22"} <= set(minors)
    assert newest().minor == "1.35"
    assert [r.version for r in RELEASES] == sorted(r.version for r in RELEASES)
    assert len(set(minors)) == len(minors)


@pytest.mark.parametrize("text", ["1.99", "1.20", "2.0", "banana", "1.22.3", ""])
def test_unknown_versions_are_refused_never_approximated(text: str) -> None:
    with pytest.raises(UnsupportedVersionError):
        release_for(text)


def test_exact_patch_and_v_prefix_are_accepted() -> None:
    assert release_for("v1.22.17") is release_for("1.22")


def test_versions_compare_numerically() -> None:
    assert Version.parse("1.9") < Version.parse("1.10") < Version.parse("1.10.1")


@rows
def test_only_kubeadm_before_1_25_needs_the_registry_pinned(release: Release) -> None:
    assert release.kubeadm_defaults_to_frozen_registry == (release.version < Version(1, 25))


RBAC_PAGE = CCM_IMAGES_PAGE.with_name("flags-and-rbac.md")
_SECRETS_ROW = re.compile(r"^\| (?P<tag>v\d+\.\d+\.\d+) \| (?P<reads>yes|no) \|$")


def ccm_tags_reading_secrets() -> dict[str, bool]:
    """The `| CCM tag | reads Secrets |` table under `## Secrets` of the RBAC page."""
    section = RBAC_PAGE.read_text().split("## Secrets\n", 1)[1].split("\n## ", 1)[0]
    return {m["tag"]: m["reads"] == "yes" for m in map(_SECRETS_ROW.match, section.splitlines()) if m}


def test_the_secrets_table_covers_the_matrix_ends() -> None:
    read = ccm_tags_reading_secrets()
    assert {RELEASES[0].ccm_tag, newest().ccm_tag} <= read.keys()


@rows
def test_ccm_reads_secrets_as_its_source_was_read(release: Release) -> None:
    # A row's tag as the page records it; a tag between two recorded ones that agree, like them.
    read = ccm_tags_reading_secrets()
    if release.ccm_tag in read:
        assert release.ccm_reads_secrets is read[release.ccm_tag]
        return
    by_version = sorted((Version.parse(tag), reads) for tag, reads in read.items())
    below = [reads for version, reads in by_version if version < Version.parse(release.ccm_tag)]
    above = [reads for version, reads in by_version if version > Version.parse(release.ccm_tag)]
    assert below and above, f"{release.ccm_tag} is outside the recorded tags"
    if below[-1] == above[0]:
        assert release.ccm_reads_secrets is below[-1]
