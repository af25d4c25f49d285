"""The version facts the rules need, as the pack's own small table.

The pack runs under the Pulumi CLI from `policies/` with its own virtualenv, so it cannot
import the program's `components.versions`; tests/test_policies_facts.py checks that this table
and the release matrix agree, so the two cannot drift. Sources, with their upstream records:
docs/reference/ (cloud-config.md, ccm-images.md, kubelet-and-kubeadm.md).
"""

from __future__ import annotations

import re
from typing import Final

Version = tuple[int, int, int]

CLUSTER_TAG_PREFIX: Final = "kubernetes.io/cluster/"
CLUSTER_TAG_VALUES: Final = frozenset({"owned", "shared"})

# `[Global]` keys of the CCM's gcfg cloud config: key -> (first minor, first minor without it).
# A key its release does not know is fatal at start-up (before the patches listed in
# docs/reference/cloud-config.md), e.g. `can't store data at section "Global", variable "NodeIPFamilies"` on 1.21.
CLOUD_CONFIG_GLOBAL_KEYS: Final[dict[str, tuple[str, str | None]]] = {
    "Zone": ("1.20", None),
    "VPC": ("1.20", None),
    "SubnetID": ("1.20", None),
    "RouteTableID": ("1.20", None),
    "RoleARN": ("1.20", None),
    "KubernetesClusterTag": ("1.20", None),
    "KubernetesClusterID": ("1.20", None),
    "DisableSecurityGroupIngress": ("1.20", None),
    "ElbSecurityGroup": ("1.20", None),
    "DisableStrictZoneCheck": ("1.20", "1.28"),
    "NodeIPFamilies": ("1.22", None),
    "Region": ("1.28", None),
    "SourceARN": ("1.29", None),
    "ClusterServiceLoadBalancerHealthProbeMode": ("1.33", None),
    "ClusterServiceSharedLoadBalancerHealthProbePort": ("1.33", None),
    "ClusterServiceSharedLoadBalancerHealthProbePath": ("1.33", None),
    "SupportedTopologyInstanceTypePattern": ("1.33", None),
    "NLBSecurityGroupMode": ("1.35", None),
}
SERVICE_OVERRIDE_KEYS: Final = frozenset({"Service", "Region", "URL", "SigningRegion", "SigningMethod", "SigningName"})
NODE_IP_FAMILIES: Final = "NodeIPFamilies"
NODE_IP_FAMILY_VALUES: Final = ("ipv4", "ipv6")

# Two --node-ip addresses with a cloud provider need CloudDualStackNodeIPs (beta, on by
# default, in 1.29; KEP-3705); before, kubelet refuses `dual-stack --node-ip ... not supported
# when using a cloud provider`.
DUAL_STACK_NODE_IP_FROM: Final = "1.29"

CCM_IMAGE_REPOSITORY: Final = "registry.k8s.io/provider-aws/cloud-controller-manager"
# Git tags of cloud-provider-aws for which no image was ever promoted: pulling them fails
# (the field report's image-pull error).
CCM_TAGS_WITHOUT_IMAGE: Final = frozenset(
    {
        "v1.20.0",
        "v1.20.4",
        "v1.21.0",
        "v1.21.4",
        "v1.21.5",
        "v1.21.6",
        "v1.21.7",
        "v1.22.5",
        "v1.22.6",
        "v1.22.7",
        "v1.32.4",
        "v1.33.1",
        "v1.33.3",
        "v1.34.1",
        "v1.35.1",
    }
)
# IPv6 node addresses came with PR #230 (v1.21.0); v1.21.0-alpha.0 (the field report's 1.21
# image) and older report no IPv6 address: a dual-stack node's IPv6 --node-ip is "not found".
CCM_IPV6_FROM: Final = "1.21"
CCM_TAG_MARKERS_WITHOUT_IPV6: Final = ("v1.21.0-alpha.0",)

_VERSION = re.compile(r"(?<![\d.])v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> Version | None:
    """The first `[v]MAJOR.MINOR[.PATCH]` in `text` (`v20210510-v1.21.0-alpha.0` -> 1.21.0)."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def minor_of(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def at_least(version: Version, minor: str) -> bool:
    major, minor_number = (int(part) for part in minor.split("."))
    return version[:2] >= (major, minor_number)


# Kubernetes minors whose CCM reads Secrets in kube-system, as (first minor, first minor without):
# none. Every release of the matrix gets its controllers' tokens from the TokenRequest API, not
# from token Secrets (docs/reference/flags-and-rbac.md, "Secrets"); components.release_facts
# CCM_READS_SECRETS holds the same spans.
CCM_READS_SECRETS: Final[tuple[tuple[str, str | None], ...]] = ()


def ccm_reads_secrets(version: Version) -> bool:
    """Whether the CCM release of `version`'s minor reads Secrets in its namespace."""
    return any(
        at_least(version, first) and (until is None or not at_least(version, until))
        for first, until in CCM_READS_SECRETS
    )


def cloud_config_keys(version: Version) -> frozenset[str]:
    """The `[Global]` keys the CCM release of `version`'s minor knows."""
    return frozenset(
        key
        for key, (first, until) in CLOUD_CONFIG_GLOBAL_KEYS.items()
        if at_least(version, first) and (until is None or not at_least(version, until))
    )


def all_cloud_config_keys() -> frozenset[str]:
    return frozenset(CLOUD_CONFIG_GLOBAL_KEYS)
