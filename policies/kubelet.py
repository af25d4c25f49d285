"""Kubelet flags in node user data: an external cloud provider and a --node-ip the version accepts."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.base import NODE_TYPES, resource_policy, stack_policy, stack_resources
from policies.facts import DUAL_STACK_NODE_IP_FROM, Version, at_least, minor_of
from policies.props import plain
from policies.userdata import KubeletFlags, cluster_version, kubelet_flags, node_version, user_data
from policies.workloads import known_user_data

_PLACEHOLDER: Final = re.compile(r"^\$\{?(\w+)\}?$|^\{\{.*\}\}$")


def _flags(args: ResourceValidationArgs) -> tuple[str, KubeletFlags] | None:
    if args.resource_type not in NODE_TYPES:
        return None
    data = user_data(args.resource_type, plain(args.props))
    if not isinstance(data, str):
        return None
    flags = kubelet_flags(data)
    return (data, flags) if flags.configures_kubelet else None


def validate_cloud_provider_external(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _flags(args)
    if found is None:
        return
    values = found[1].get("cloud-provider")
    if not values or any(value != "external" for value in values):
        shown = ", ".join(f"--cloud-provider={v}" for v in values) or "no --cloud-provider"
        report(
            f"'{args.name}' starts the kubelet with {shown}: with the external AWS CCM it must be "
            "--cloud-provider=external (kubeadm nodeRegistration.kubeletExtraArgs), or the CCM never "
            "initialises the node.",
            None,
        )


def _family(address: str) -> int | None:
    """4 or 6 for a literal address or a placeholder named like NODE_IPV6; None when it cannot be told."""
    placeholder = _PLACEHOLDER.match(address)
    if placeholder:
        name = (placeholder[1] or "").upper()
        return 6 if "V6" in name else 4 if "V4" in name else None
    return ipaddress.ip_address(address).version


def _node_ip_problems(value: str, version: tuple[int, int, int] | None) -> list[str]:
    addresses = [address.strip() for address in value.split(",") if address.strip()]
    problems = []
    try:
        families = [_family(address) for address in addresses]
    except ValueError:
        return [f"--node-ip={value} is not a list of IP addresses"]
    if len(addresses) > 2:
        problems.append(f"--node-ip={value} has {len(addresses)} addresses; at most one per family")
    elif len(addresses) == 2:
        if families[0] is not None and families[0] == families[1]:
            problems.append(f"--node-ip={value} gives two addresses of one family; dual-stack needs one of each")
        if version is not None and not at_least(version, DUAL_STACK_NODE_IP_FROM):
            problems.append(
                f"--node-ip={value} gives two addresses, which kubelet {minor_of(version)} refuses with a cloud "
                f"provider (CloudDualStackNodeIPs, {DUAL_STACK_NODE_IP_FROM}+): give one address (IPv6 with "
                "NodeIPFamilies ipv6 + ipv4) or none"
            )
    return problems


def validate_node_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    found = _flags(args)
    if found is None:
        return
    data, flags = found
    version = node_version(data) or cluster_version(data)
    for value in flags.get("node-ip"):
        for problem in _node_ip_problems(value, version):
            report(f"'{args.name}': {problem}.", None)


def kubelet_skew(control_plane: Version, kubelet: Version) -> str | None:
    """The version skew policy: a kubelet is never newer than the control plane, and at most 3 minors
    older (2 before 1.28)."""
    if kubelet[:2] > control_plane[:2]:
        return "newer than the control plane"
    behind = 3 if at_least(control_plane, "1.28") else 2
    if kubelet[0] != control_plane[0] or kubelet[1] < control_plane[1] - behind:
        return f"more than {behind} minors older than the control plane"
    return None


def validate_kubelet_within_skew(args: StackValidationArgs, report: ReportViolation) -> None:
    nodes = known_user_data(stack_resources(args, NODE_TYPES))
    control_planes = {version for _, data in nodes if (version := cluster_version(data))}
    for node, data in nodes:
        kubelet = node_version(data)
        if kubelet is None or cluster_version(data):
            continue
        for control_plane in sorted(control_planes):
            problem = kubelet_skew(control_plane, kubelet)
            if problem:
                report(
                    f"'{node.name}' installs kubelet {minor_of(kubelet)} with a control plane of "
                    f"{minor_of(control_plane)}: {problem}. Workers roll after the control planes (README, "
                    '"Upgrading a stack").',
                    node.urn,
                )


POLICIES: Final = [
    resource_policy(
        "kubelet-cloud-provider-external",
        "Kubelets in user data run with --cloud-provider=external.",
        validate_cloud_provider_external,
        severity=Severity.CRITICAL,
        remediation="Set kubeletExtraArgs cloud-provider: external in the kubeadm Init/JoinConfiguration.",
    ),
    resource_policy(
        "kubelet-node-ip-supported",
        f"The kubelet's --node-ip has a form its version accepts (two addresses only from {DUAL_STACK_NODE_IP_FROM}).",
        validate_node_ip,
        severity=Severity.CRITICAL,
        remediation="Use the release row's node-ip mode (components/versions.py NodeIpMode).",
    ),
    stack_policy(
        "kubelet-within-version-skew",
        "Workers' kubelets are never newer than the control plane, and at most 3 minors older (2 before 1.28).",
        validate_kubelet_within_skew,
        severity=Severity.CRITICAL,
        remediation="Take every node's version from the stack's release row; upgrade one minor at a time.",
    ),
]
