"""The pack's own version table agrees with the program's release matrix, so the two cannot drift."""

from __future__ import annotations

import pytest

from components import release_facts, tags, versions
from components.render.cloud_config import render_cloud_config
from components.settings import IpFamily
from components.versions import RELEASES, NodeIpMode, Release
from policies import facts
from policies.cloudconfig import format_problems, release_problems
from policies.k8s_ccm import image_problems

EVERY_RELEASE = pytest.mark.parametrize("release", RELEASES, ids=lambda release: release.minor)


def test_cloud_config_key_spans_are_the_matrix_spans() -> None:
    assert {key.name: (key.first, key.until) for key in versions.CLOUD_CONFIG_KEYS} == facts.CLOUD_CONFIG_GLOBAL_KEYS


@EVERY_RELEASE
def test_keys_known_per_release_match(release: Release) -> None:
    version = facts.parse_version(release.kubernetes_version)
    assert version is not None
    assert facts.cloud_config_keys(version) == release.cloud_config_keys
    assert (facts.NODE_IP_FAMILIES in facts.cloud_config_keys(version)) == release.supports_node_ip_families


def test_node_ip_families_start_where_the_matrix_starts_them() -> None:
    first = min(release.version for release in RELEASES if release.supports_node_ip_families)
    assert facts.CLOUD_CONFIG_GLOBAL_KEYS[facts.NODE_IP_FAMILIES][0] == first.minor_str == "1.22"


def test_dual_node_ip_starts_where_the_matrix_first_uses_it() -> None:
    dual = [release for release in RELEASES if release.node_ip_mode is NodeIpMode.DUAL]
    assert min(release.version for release in dual).minor_str == facts.DUAL_STACK_NODE_IP_FROM == "1.29"
    assert all(release.at_least(facts.DUAL_STACK_NODE_IP_FROM) for release in dual)


def test_tag_and_image_constants_match_the_program() -> None:
    assert facts.CLUSTER_TAG_PREFIX == tags.CLUSTER_TAG_PREFIX
    assert tags.OWNED in facts.CLUSTER_TAG_VALUES
    assert facts.CCM_IMAGE_REPOSITORY == versions.CCM_IMAGE_REPOSITORY


@EVERY_RELEASE
def test_every_matrix_image_is_published_and_its_rendered_config_passes(release: Release) -> None:
    assert release.ccm_tag not in facts.CCM_TAGS_WITHOUT_IMAGE
    assert image_problems(release.ccm_image) == []
    config = render_cloud_config(
        release, cluster_name="c", zone="us-east-1a", region="us-east-1", ip_families=(IpFamily.IPV6, IpFamily.IPV4)
    )
    version = facts.parse_version(release.ccm_tag)
    assert version is not None and version[:2] == (release.version.major, release.version.minor)
    assert format_problems(config) == [] and release_problems(config, version) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.22.8", (1, 22, 8)),
        ("1.35", (1, 35, 0)),
        ("v20210510-v1.21.0-alpha.0", (1, 21, 0)),
        ("registry.k8s.io/provider-aws/cloud-controller-manager:v1.22.0-alpha.1", (1, 22, 0)),
        ("latest", None),
    ],
)
def test_parse_version(text: str, expected: facts.Version | None) -> None:
    assert facts.parse_version(text) == expected


def test_version_gates_are_numeric() -> None:
    assert facts.at_least((1, 29, 0), "1.29") and not facts.at_least((1, 28, 15), "1.29")
    assert facts.at_least((1, 100, 0), "1.9")
    assert "DisableStrictZoneCheck" in facts.cloud_config_keys((1, 27, 0))
    assert "DisableStrictZoneCheck" not in facts.cloud_config_keys((1, 28, 0))


def test_ccm_secret_reads_are_the_matrix_spans() -> None:
    assert {(span.first, span.until) for span in release_facts.CCM_READS_SECRETS} == set(facts.CCM_READS_SECRETS)


@EVERY_RELEASE
def test_ccm_secret_reads_per_release_match(release: Release) -> None:
    version = facts.parse_version(release.ccm_tag)
    assert version is not None and facts.ccm_reads_secrets(version) is release.ccm_reads_secrets
