"""Rules for the production topology: the API load balancer, the workers' launch template, etcd quorum."""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.base import INSTANCE, LAUNCH_TEMPLATE, resource_policy, stack_policy, stack_resources
from policies.props import as_list, dig, is_unknown, number, plain, text, truth
from policies.userdata import texts
from policies.workloads import known_user_data

LOAD_BALANCER: Final = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP: Final = "aws:lb/targetGroup:TargetGroup"
# A control plane's kubeadm configuration: the first one's InitConfiguration, or a join with `controlPlane`.
_CONTROL_PLANE_MARKERS: Final = ("kind: InitConfiguration", "controlPlane:")


def validate_load_balancer_dual_stack(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LOAD_BALANCER:
        return
    props = plain(args.props)
    kind = props.get("loadBalancerType") or "application"
    address_type = props.get("ipAddressType")
    if is_unknown(address_type) or kind != "network":
        return
    if address_type != "dualstack":
        report(
            f"network load balancer '{args.name}' has ipAddressType {address_type or 'ipv4 (the default)'}: a "
            "dual-stack cluster's API endpoint must answer on IPv6 too (its DNS name gets an AAAA record only "
            "with dualstack), and nodes that reach it over IPv6 cannot otherwise.",
            None,
        )


def validate_target_group_client_ip(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != TARGET_GROUP:
        return
    props = plain(args.props)
    if props.get("protocol") not in ("TCP", "TLS", "TCP_UDP") or props.get("targetType", "instance") != "instance":
        return
    preserve = truth(props.get("preserveClientIp"))
    if preserve is None and is_unknown(props.get("preserveClientIp")):
        return
    # Unset is on for instance targets (AWS's default), so only an explicit "false" passes.
    if props.get("preserveClientIp") is None or preserve:
        report(
            f"target group '{args.name}' keeps client-IP preservation on (unset means on for instance targets): a "
            "control plane that reaches the API server through the load balancer (kubeadm, the kubelet, Cilium) "
            "is sometimes sent to itself, and a connection from an address to itself through an NLB fails.",
            None,
        )


def _interface_problems(interface: dict[str, Any]) -> list[str]:
    count, addresses = number(dig(interface, "ipv6AddressCount")), as_list(dig(interface, "ipv6Addresses"))
    problems = []
    if is_unknown(count) or is_unknown(dig(interface, "primaryIpv6")):
        return []
    if not (count and count >= 1) and not addresses:
        problems.append("no IPv6 address (ipv6_address_count = 1)")
    if truth(dig(interface, "primaryIpv6")) is not True:
        problems.append("no primary IPv6 address (primary_ipv6 = true, what the CCM reports first and keeps stable)")
    return problems


def validate_launch_template_ipv6(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    props = plain(args.props)
    interfaces = [i for i in as_list(props.get("networkInterfaces")) if isinstance(i, dict)]
    primary = [i for i in interfaces if number(i.get("deviceIndex")) in (None, 0)]
    if not primary:
        report(
            f"launch template '{args.name}' declares no primary network interface: its instances get no IPv6 "
            "address, and a dual-stack node needs one (set network_interfaces with ipv6_address_count = 1).",
            None,
        )
        return
    for problem in _interface_problems(primary[0]):
        report(f"launch template '{args.name}': the primary network interface has {problem}.", None)


def _is_control_plane(data: str) -> bool:
    return any(marker in chunk for chunk in texts(data) for marker in _CONTROL_PLANE_MARKERS)


def validate_control_plane_count_odd(args: StackValidationArgs, report: ReportViolation) -> None:
    instances = known_user_data(stack_resources(args, [INSTANCE]))
    control_planes = [node for node, data in instances if _is_control_plane(data)]
    if len(control_planes) % 2 == 0 and control_planes:
        names = ", ".join(text(node.name) or "?" for node in control_planes)
        report(
            f"{len(control_planes)} control planes ({names}): stacked etcd needs a majority, so an even count "
            f"tolerates no more failures than {len(control_planes) - 1} members do, and a network split can "
            "leave no side with a majority. Use 1, 3 or 5.",
            None,
        )


POLICIES: Final = [
    resource_policy(
        "api-load-balancer-dual-stack",
        "Network load balancers are dual-stack (ipAddressType dualstack).",
        validate_load_balancer_dual_stack,
        severity=Severity.HIGH,
        remediation="Create the API load balancer with ip_address_type='dualstack' (components/api_endpoint.py).",
    ),
    resource_policy(
        "target-group-client-ip-preservation-off",
        "TCP target groups of instances turn client-IP preservation off (no hairpin failures).",
        validate_target_group_client_ip,
        severity=Severity.HIGH,
        remediation="Set preserve_client_ip='false' on the API target group (components/api_endpoint.py).",
    ),
    resource_policy(
        "launch-template-ipv6",
        "Launch templates give the primary interface an IPv6 address and make it the primary IPv6.",
        validate_launch_template_ipv6,
        severity=Severity.HIGH,
        remediation="network_interfaces=[{device_index: 0, ipv6_address_count: 1, primary_ipv6: 'true', ...}].",
    ),
    stack_policy(
        "control-plane-count-odd",
        "The number of control planes (stacked etcd members) is odd.",
        validate_control_plane_count_odd,
        severity=Severity.HIGH,
        remediation="Set controlPlaneCount to 1, 3 or 5.",
    ),
]
