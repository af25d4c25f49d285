"""Rules for the AWS cloud-controller-manager: image, flags, cloud config, IMDS reachability."""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.aws_nodes import imds_hop_limit
from policies.base import CONFIG_MAP, NODE_TYPES, resource_policy, stack_policy, stack_resources
from policies.cloudconfig import format_problems, has_global_section, release_problems
from policies.facts import (
    CCM_IMAGE_REPOSITORY,
    CCM_IPV6_FROM,
    CCM_TAG_MARKERS_WITHOUT_IPV6,
    CCM_TAGS_WITHOUT_IMAGE,
    Version,
    at_least,
    minor_of,
)
from policies.props import as_dict, as_list, dig, is_unknown, plain, text, truth
from policies.workloads import (
    ccm_containers,
    cloud_config_of,
    cluster_versions,
    flag_values,
    image_tag,
    image_version,
    stack_ccm_containers,
)


def ccm_skew(api_server: Version, ccm: Version) -> str | None:
    """The version skew policy for the CCM: never newer than the API server, at most one minor older."""
    if ccm[:2] > api_server[:2]:
        return "newer than the API server: the CCM must never be newer"
    if ccm[0] != api_server[0] or ccm[1] < api_server[1] - 1:
        return "more than one minor older than the API server"
    return None


def validate_image_within_skew(args: StackValidationArgs, report: ReportViolation) -> None:
    versions = cluster_versions(args)
    for ccm in stack_ccm_containers(args):
        image = ccm.image
        version = image_version(image) if image else None
        if version is None:
            continue
        for api_server in sorted(versions):
            problem = ccm_skew(api_server, version)
            if problem:
                report(
                    f"CCM '{ccm.workload}' runs {image} (CCM {minor_of(version)}) with Kubernetes "
                    f"{minor_of(api_server)}: {problem}. Use the release-matrix row's image "
                    "(components/versions.py); during an upgrade the CCM follows the API server.",
                    ccm.urn,
                )


def image_problems(image: str) -> list[str]:
    tag = image_tag(image)
    repository = image.split("@", 1)[0].removesuffix(f":{tag}") if tag else image.split("@", 1)[0]
    problems = []
    if repository != CCM_IMAGE_REPOSITORY:
        problems.append(
            f"comes from {repository}, not the promoted {CCM_IMAGE_REPOSITORY} (staging and "
            "artifact registries are where the field report's image-pull errors came from)"
        )
    version = image_version(image)
    if not tag or tag == "latest" or version is None:
        problems.append("is not pinned to a release tag (vX.Y.Z): the CCM must follow the cluster's minor")
    elif tag in CCM_TAGS_WITHOUT_IMAGE:
        problems.append(f"uses tag {tag}, a git tag for which no image was promoted (ErrImagePull)")
    elif not at_least(version, CCM_IPV6_FROM) or any(marker in tag for marker in CCM_TAG_MARKERS_WITHOUT_IPV6):
        problems.append(
            f"uses {tag}, which reports no IPv6 node address (needs cloud-provider-aws PR #230, "
            "v1.21.0+): a dual-stack node's IPv6 --node-ip would be 'not found in cloudprovider'"
        )
    return problems


def validate_image_published(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for ccm in ccm_containers(args.resource_type, args.name, args.urn, plain(args.props)):
        image = ccm.image
        for problem in image_problems(image) if image else []:
            report(f"CCM '{ccm.workload}' image {image} {problem}.", None)


def validate_cloud_config_format(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONFIG_MAP:
        return
    for key, content in as_dict(plain(args.props).get("data")).items():
        if isinstance(content, str) and not is_unknown(content) and has_global_section(content):
            for problem in format_problems(content):
                report(f"Cloud config '{args.name}' ({key}) {problem}.", None)


def validate_cloud_config_release(args: StackValidationArgs, report: ReportViolation) -> None:
    versions = cluster_versions(args)
    for ccm in stack_ccm_containers(args):
        version = (image_version(ccm.image) if ccm.image else None) or (min(versions) if len(versions) == 1 else None)
        found = cloud_config_of(args, ccm)
        if version is None or found is None:
            continue
        config_map, content = found
        for problem in release_problems(content, version):
            report(
                f"Cloud config '{config_map.name}' of CCM '{ccm.workload}': {problem}. Render it from the "
                "release row (components/render/cloud_config.py).",
                config_map.urn,
            )


# Files the CCM reads at start-up; each must come from a volume, or the pod crash-loops.
FILE_FLAGS: Final = (
    "--cloud-config",
    "--client-ca-file",
    "--requestheader-client-ca-file",
    "--kubeconfig",
    "--tls-cert-file",
    "--tls-private-key-file",
)
UNINITIALIZED_TAINT: Final = "node.cloudprovider.kubernetes.io/uninitialized"
NODE_ROLE_PREFIX: Final = "node-role.kubernetes.io/"


def _unmounted(path: str, mount_paths: list[str | None]) -> bool:
    return not any(p and (path == p or path.startswith(p.rstrip("/") + "/")) for p in mount_paths)


def validate_ccm_args(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for ccm in ccm_containers(args.resource_type, args.name, args.urn, plain(args.props)):
        arguments = ccm.arguments
        if is_unknown(arguments):
            continue
        if flag_values(arguments, "--cloud-provider") != ["aws"]:
            report(
                f"CCM '{ccm.workload}' does not run with --cloud-provider=aws: without it no AWS controller "
                "starts and nodes keep the uninitialized taint.",
                None,
            )
        if not [path for path in flag_values(arguments, "--cloud-config") if path]:
            report(
                f"CCM '{ccm.workload}' has no --cloud-config: it then cannot know the cluster ID and the "
                "NodeIPFamilies of a dual-stack cluster; mount the cloud config ConfigMap and pass its path.",
                None,
            )
        mounts = as_list(ccm.container.get("volumeMounts"))
        if any(is_unknown(dig(mount, "mountPath")) for mount in mounts):
            continue
        mount_paths = [text(dig(mount, "mountPath")) for mount in mounts]
        for flag in FILE_FLAGS:
            for path in flag_values(arguments, flag):
                if path and _unmounted(path, mount_paths):
                    report(
                        f"CCM '{ccm.workload}' reads {flag}={path}, which no volumeMount provides: mount the "
                        "Secret or ConfigMap that holds it.",
                        None,
                    )


def _tolerates(tolerations: list[Any], key: str, value: str) -> bool | None:
    """Whether a NoSchedule taint `key=value` is tolerated; None when a toleration is unknown."""
    if any(is_unknown(toleration) for toleration in tolerations):
        return None
    for toleration in map(as_dict, tolerations):
        operator = toleration.get("operator") or "Equal"
        key_ok = toleration.get("key") == key or (not toleration.get("key") and operator == "Exists")
        effect_ok = toleration.get("effect") in (None, "", "NoSchedule")
        if key_ok and effect_ok and (operator == "Exists" or (toleration.get("value") or "") == value):
            return True
    return False


def validate_ccm_tolerations(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for ccm in ccm_containers(args.resource_type, args.name, args.urn, plain(args.props)):
        tolerations = ccm.spec.get("tolerations")
        if is_unknown(tolerations):
            continue
        selector = as_dict(ccm.spec.get("nodeSelector"))
        taints = [(UNINITIALIZED_TAINT, "true")] + [(k, "") for k in selector if k.startswith(NODE_ROLE_PREFIX)]
        for key, value in taints:
            if _tolerates(as_list(tolerations), key, value) is False:
                report(
                    f"CCM '{ccm.workload}' does not tolerate the NoSchedule taint {key}: every new node carries "
                    "it until the CCM initialises it (the field report removed the tolerations and untainted "
                    "nodes by hand).",
                    None,
                )


def validate_host_network_for_imds(args: StackValidationArgs, report: ReportViolation) -> None:
    one_hop = sorted(
        node.name
        for node in stack_resources(args, NODE_TYPES)
        if dig(node.props, "metadataOptions", "httpEndpoint") != "disabled" and imds_hop_limit(node.props) == 1
    )
    for ccm in stack_ccm_containers(args):
        if one_hop and truth(ccm.spec.get("hostNetwork")) is False:
            report(
                f"CCM '{ccm.workload}' is not on the host network while {', '.join(one_hop)} allow IMDS hop "
                "limit 1: from a pod network the CCM cannot reach the instance metadata service. Set "
                "hostNetwork: true (upstream's manifest does).",
                ccm.urn,
            )


POLICIES: Final = [
    stack_policy(
        "ccm-within-version-skew",
        "The CCM's minor is never above the API server's and at most one below it.",
        validate_image_within_skew,
        severity=Severity.CRITICAL,
        remediation="Take the CCM image from the stack's release-matrix row (components/versions.py ccm_tag).",
    ),
    resource_policy(
        "ccm-image-published",
        "The CCM image is a promoted release tag of registry.k8s.io/provider-aws.",
        validate_image_published,
        severity=Severity.HIGH,
        remediation=f"Use {CCM_IMAGE_REPOSITORY}:<tag of the cluster's minor> with a tag that was promoted.",
    ),
    resource_policy(
        "cloud-config-format",
        "The CCM cloud config has known keys and NodeIPFamilies one ipv4/ipv6 per line.",
        validate_cloud_config_format,
        severity=Severity.CRITICAL,
        remediation="Render the cloud config with components/render/cloud_config.py (one NodeIPFamilies per line).",
    ),
    stack_policy(
        "cloud-config-keys-match-ccm-release",
        "The cloud config holds only keys its CCM release knows.",
        validate_cloud_config_release,
        severity=Severity.CRITICAL,
        remediation="Drop keys the release does not know (NodeIPFamilies needs CCM 1.22+, Region 1.28+).",
    ),
    resource_policy(
        "ccm-args",
        "The CCM runs with --cloud-provider=aws and a --cloud-config; every file it reads is mounted.",
        validate_ccm_args,
        severity=Severity.HIGH,
        remediation="Use components/render/ccm_manifests.py ccm_args().",
    ),
    resource_policy(
        "ccm-tolerations",
        "The CCM tolerates the uninitialized taint and the taint of the nodes it selects.",
        validate_ccm_tolerations,
        severity=Severity.HIGH,
        remediation="Tolerate node.cloudprovider.kubernetes.io/uninitialized and the control-plane taint "
        "(components/render/ccm_manifests.py).",
    ),
    stack_policy(
        "ccm-host-network-with-imds-hop-limit-1",
        "A CCM off the host network needs an IMDS hop limit above 1.",
        validate_host_network_for_imds,
        severity=Severity.HIGH,
        remediation="Run the CCM with hostNetwork: true (or raise http_put_response_hop_limit to 2).",
    ),
]
