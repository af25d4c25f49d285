"""AWS network rules: a dual-stack VPC, /64 subnets, closed cluster ports, the cluster tag."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from policies.base import (
    ADMIN_CIDRS,
    ADMIN_CIDRS_CONFIG,
    CLUSTER_TAG_CONFIG,
    INGRESS_RULE,
    LAUNCH_TEMPLATE,
    NODE_TYPES,
    ROUTE_TABLE,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SUBNET,
    VPC,
    VPC_IPV6_ASSOCIATION,
    StackResource,
    cluster_tag_key,
    config_strings,
    resource_policy,
    stack_policy,
    stack_resources,
)
from policies.facts import CLUSTER_TAG_PREFIX, CLUSTER_TAG_VALUES
from policies.props import as_dict, as_list, dig, is_unknown, number, plain, text, truth

SENSITIVE_PORTS: Final = {22: "SSH", 2379: "etcd client", 2380: "etcd peer", 10250: "kubelet API"}
API_SERVER_PORT: Final = 6443
# Sources that cannot be on the internet: RFC 1918, shared address space, unique local IPv6.
_PRIVATE: Final = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_ALL_PROTOCOLS: Final = {"-1", "all"}
_TCP: Final = {"tcp", "6"}


# -- VPC and subnets ------------------------------------------------------------------------


def _vpc_has_ipv6(props: dict[str, Any]) -> bool | None:
    values = [props.get(key) for key in ("assignGeneratedIpv6CidrBlock", "ipv6CidrBlock", "ipv6IpamPoolId")]
    if any(is_unknown(value) for value in values):
        return None
    return truth(values[0]) is True or any(text(value) for value in values[1:])


def validate_vpc_ipv6(args: StackValidationArgs, report: ReportViolation) -> None:
    associated = {
        dependency.urn
        for association in stack_resources(args, [VPC_IPV6_ASSOCIATION])
        for dependency in association.property_dependencies("vpcId")
    }
    for vpc in stack_resources(args, [VPC]):
        if _vpc_has_ipv6(vpc.props) is False and vpc.urn not in associated:
            report(
                f"VPC '{vpc.name}' has no IPv6 block: set assign_generated_ipv6_cidr_block=True (an Amazon /56) "
                "so subnets and nodes can be dual-stack.",
                vpc.urn,
            )


def validate_subnet_ipv6_64(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SUBNET:
        return
    block = plain(args.props).get("ipv6CidrBlock")
    if is_unknown(block):
        return
    try:
        prefix = ipaddress.IPv6Network(block).prefixlen if isinstance(block, str) and block else None
    except ValueError:
        prefix = None
    if prefix != 64:
        report(
            f"Subnet '{args.name}' has IPv6 block {block!r}, not a /64 of the VPC's /56: set ipv6_cidr_block "
            "to one /64 per subnet (EC2 only assigns IPv6 addresses from /64 subnets).",
            None,
        )


def validate_subnet_assigns_ipv6(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SUBNET:
        return
    props = plain(args.props)
    if truth(props.get("assignIpv6AddressOnCreation")) is False and truth(props.get("ipv6Native")) is False:
        report(
            f"Subnet '{args.name}' does not assign IPv6 on creation: set assign_ipv6_address_on_creation=True, "
            "or nodes start without the IPv6 address the kubelet and the CCM need.",
            None,
        )


# -- security group openings ---------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """One known ingress source and the TCP ports it reaches (None: every port)."""

    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    ports: tuple[float, float] | None

    def reaches(self, port: int) -> bool:
        return self.ports is None or self.ports[0] <= port <= self.ports[1]

    @property
    def world(self) -> bool:
        return self.cidr.prefixlen == 0


def _opening_ports(protocol: Any, from_port: Any, to_port: Any) -> tuple[float, float] | bool | None:
    """(from, to) for TCP, None for every protocol, False when no TCP port is reached or unknown."""
    name = text(protocol)
    if name is None:
        return False
    if name.lower() in _ALL_PROTOCOLS:
        return None
    low, high = number(from_port), number(to_port)
    if name.lower() not in _TCP or low is None or high is None:
        return False
    return (low, high)


def _permission_openings(entry: Mapping[str, Any], protocol_key: str, cidrs: list[Any]) -> list[Opening]:
    ports = _opening_ports(entry.get(protocol_key), entry.get("fromPort"), entry.get("toPort"))
    if ports is False:
        return []
    openings = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False) if text(cidr) else None
        except ValueError:
            network = None
        if network is not None:
            openings.append(Opening(network, ports if isinstance(ports, tuple) else None))
    return openings


def _cidr_lists(entry: Mapping[str, Any]) -> list[Any]:
    return as_list(entry.get("cidrBlocks")) + as_list(entry.get("ipv6CidrBlocks"))


def ingress_openings(resource_type: str, props: dict[str, Any]) -> list[Opening]:
    """Every known CIDR ingress of the three ways pulumi-aws writes security group rules."""
    if resource_type == INGRESS_RULE:
        return _permission_openings(props, "ipProtocol", [props.get("cidrIpv4"), props.get("cidrIpv6")])
    if resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        return _permission_openings(props, "protocol", _cidr_lists(props))
    if resource_type == SECURITY_GROUP:
        return [
            opening
            for entry in as_list(props.get("ingress"))
            if isinstance(entry, dict)
            for opening in _permission_openings(entry, "protocol", _cidr_lists(entry))
        ]
    return []


def validate_no_world_cluster_ports(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for opening in ingress_openings(args.resource_type, plain(args.props)):
        exposed = [f"{port} ({what})" for port, what in SENSITIVE_PORTS.items() if opening.reaches(port)]
        if opening.world and exposed:
            report(
                f"Security group rule '{args.name}' opens {', '.join(exposed)} to {opening.cidr}: allow only the "
                "cluster's security groups (referenced_security_group_id); use Session Manager instead of SSH.",
                None,
            )


def _admin_networks(args: ResourceValidationArgs) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for cidr in config_strings(args.get_config(), ADMIN_CIDRS):
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return networks


def _inside(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    return any(network.version == other.version and network.subnet_of(other) for other in allowed)  # type: ignore[arg-type]


def validate_api_server_admin_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    admins = _admin_networks(args)
    for opening in ingress_openings(args.resource_type, plain(args.props)):
        if not opening.reaches(API_SERVER_PORT) or _inside(opening.cidr, admins):
            continue
        if opening.world or (admins and not _inside(opening.cidr, list(_PRIVATE))):
            allowed = ", ".join(str(n) for n in admins) or "your admin CIDRs (policy config allowedAdminCidrs)"
            report(
                f"Security group rule '{args.name}' opens the API server ({API_SERVER_PORT}) to {opening.cidr}: "
                f"allow only {allowed} and the cluster's own security groups.",
                None,
            )


# -- the cluster tag -----------------------------------------------------------------------


def cluster_tagged(tags: Any, key: str | None) -> bool | None:
    """Whether `tags` carry the cluster tag (`key`, or any kubernetes.io/cluster/* if None) = owned|shared."""
    if is_unknown(tags):
        return None
    values = [
        value for name, value in as_dict(tags).items() if (name == key if key else name.startswith(CLUSTER_TAG_PREFIX))
    ]
    if any(is_unknown(value) for value in values):
        return None
    return any(value in CLUSTER_TAG_VALUES for value in values)


def _tag_maps(args: ResourceValidationArgs, props: dict[str, Any]) -> list[Any]:
    if args.resource_type == LAUNCH_TEMPLATE:  # what the instances it launches are tagged with
        specs = props.get("tagSpecifications")
        if is_unknown(specs):
            return [specs]
        return [
            spec.get("tags")
            for spec in as_list(specs)
            if isinstance(spec, dict)
            and (is_unknown(spec.get("resourceType")) or spec.get("resourceType") == "instance")
        ]
    maps = [props.get("tags"), props.get("tagsAll")]
    if args.provider is not None:  # provider default_tags reach every resource
        maps.append(dig(plain(args.provider.props), "defaultTags", "tags"))
    return maps


def validate_cluster_tag(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (*NODE_TYPES, SUBNET, SECURITY_GROUP, ROUTE_TABLE):
        return
    key = cluster_tag_key(args.get_config())
    answers = [cluster_tagged(tags, key) for tags in _tag_maps(args, plain(args.props))]
    if True in answers or None in answers:
        return
    wanted = key or f"{CLUSTER_TAG_PREFIX}<cluster id>"
    what = "the instances it launches (tag_specifications)" if args.resource_type == LAUNCH_TEMPLATE else "it"
    report(
        f"'{args.name}' lacks the cluster tag {wanted} = owned|shared on {what}: the CCM finds instances, subnets, "
        "security groups and route tables by it ('AWS cloud failed to find ClusterID'). Tag it through "
        "components/tags.py.",
        None,
    )


def _security_group_ids(node: StackResource) -> list[Any]:
    ids = as_list(node.props.get("vpcSecurityGroupIds"))
    for interface in as_list(node.props.get("networkInterfaces")):
        ids += as_list(interface.get("securityGroups")) if isinstance(interface, dict) else [interface]
    return ids


def validate_one_cluster_security_group(args: StackValidationArgs, report: ReportViolation) -> None:
    key = cluster_tag_key(args.get_config())
    groups = stack_resources(args, [SECURITY_GROUP])
    by_urn = {group.urn: group for group in groups}
    by_id = {group.props["id"]: group for group in groups if text(group.props.get("id"))}
    for node in stack_resources(args, NODE_TYPES):
        ids = _security_group_ids(node)
        attached = {by_id[i].urn for i in ids if isinstance(i, str) and i in by_id}
        if not by_id or any(is_unknown(i) for i in ids):  # IDs not known yet (preview): follow the dependencies
            attached |= {
                dependency.urn
                for field in ("vpcSecurityGroupIds", "networkInterfaces")
                for dependency in node.property_dependencies(field)
                if dependency.urn in by_urn
            }
        unexplained = len(ids) - len(attached)  # unknown or foreign groups: their tags cannot be told
        answers = {urn: cluster_tagged(by_urn[urn].props.get("tags"), key) for urn in attached}
        tagged = sorted(by_urn[urn].name for urn, answer in answers.items() if answer)
        if len(tagged) > 1:
            report(
                f"'{node.name}' has {len(tagged)} cluster-tagged security groups ({', '.join(tagged)}): the CCM "
                "needs exactly one per instance to add load-balancer rules; tag only one of them.",
                node.urn,
            )
        elif not tagged and unexplained <= 0 and None not in answers.values():
            report(
                f"'{node.name}' has no cluster-tagged security group: attach exactly one security group tagged "
                f"{key or CLUSTER_TAG_PREFIX + '<cluster id>'} = owned.",
                node.urn,
            )


POLICIES: Final = [
    stack_policy(
        "vpc-has-ipv6",
        "Every VPC has an IPv6 block (dual stack).",
        validate_vpc_ipv6,
        severity=Severity.HIGH,
        remediation="Set assign_generated_ipv6_cidr_block=True on the VPC (components/network.py).",
    ),
    resource_policy(
        "subnet-ipv6-64",
        "Every subnet has an IPv6 /64.",
        validate_subnet_ipv6_64,
        severity=Severity.HIGH,
        remediation="Carve one /64 of the VPC's /56 per subnet (components/network_plan.py).",
    ),
    resource_policy(
        "subnet-assigns-ipv6-on-creation",
        "Subnets assign an IPv6 address to every new interface.",
        validate_subnet_assigns_ipv6,
        severity=Severity.HIGH,
        remediation="Set assign_ipv6_address_on_creation=True on the subnet.",
    ),
    resource_policy(
        "no-world-ssh-etcd-kubelet",
        "No security group rule opens 22, 2379-2380 or 10250 to 0.0.0.0/0 or ::/0.",
        validate_no_world_cluster_ports,
        severity=Severity.CRITICAL,
        remediation="Allow these ports only from the cluster's security groups; reach nodes with Session Manager.",
    ),
    resource_policy(
        "api-server-admin-cidrs-only",
        "The API server port 6443 is open only to the configured admin CIDRs.",
        validate_api_server_admin_only,
        severity=Severity.HIGH,
        config=ADMIN_CIDRS_CONFIG,
        remediation="Open 6443 only to the stack's adminCidrs and to the cluster's security groups.",
    ),
    resource_policy(
        "cluster-tag",
        "Instances, subnets, security groups and route tables carry kubernetes.io/cluster/<id>.",
        validate_cluster_tag,
        severity=Severity.HIGH,
        config=CLUSTER_TAG_CONFIG,
        remediation="Build every tag map with components/tags.py cluster_tags() (value owned or shared).",
    ),
    stack_policy(
        "one-cluster-security-group-per-instance",
        "Every instance has exactly one cluster-tagged security group.",
        validate_one_cluster_security_group,
        severity=Severity.HIGH,
        config=CLUSTER_TAG_CONFIG,
        remediation="Attach one cluster-tagged security group per node role; tag additional groups differently.",
    ),
]
