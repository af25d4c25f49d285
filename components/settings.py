"""Stack configuration → frozen, validated settings, grouped by the concern that consumes them.

`parse_settings` is pure: it takes the raw config strings (as the Pulumi engine hands them
to the program: `Pulumi.yaml` defaults merged with `Pulumi.<stack>.yaml`) and either returns
`StackSettings` or raises one `ConfigError` naming every bad key, its value and what is
allowed — before any resource is registered. Defaults live only in `Pulumi.yaml`.

Each concern (network, nodes, PKI, cluster side) has its own reader so a component only sees
the settings it uses; checks that span concerns get the other concern's value passed in.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping

# PROJECT and ConfigError are imported from here by the rest of the program.
from components.settings_reader import PROJECT, ConfigError, ConfigReader, IPNetwork, SomeNetwork, known
from components.settings_types import (
    ApiEndpointKind,
    Architecture,
    ClusterSideSettings,
    ControlPlaneUserData,
    DualStackCidrs,
    IpFamily,
    NetworkSettings,
    NodeSettings,
    PkiSettings,
    StackSettings,
    TopologySettings,
    WorkerScaling,
    instance_architecture,
)
from components.version_skew import ccm_skew_problem
from components.versions import Release, UnsupportedVersionError, Version, release_for, supported_minors

# The settings types are part of this module's interface: the program imports them from here.
__all__ = [
    "AZ_COUNT_RANGE",
    "CONFIG_KEYS",
    "CONTROL_PLANE_COUNTS",
    "NODE_POD_MASK",
    "PROJECT",
    "PROVIDER_KEYS",
    "REMOVED_KEYS",
    "ROOT_VOLUME_GIB_RANGE",
    "SERVICE_PREFIX_MIN",
    "SUBNET_PREFIX_RANGE",
    "VALIDITY_HOURS_RANGE",
    "VPC_PREFIX_RANGE",
    "WORKER_POOL_SIZE_RANGE",
    "ApiEndpointKind",
    "Architecture",
    "ClusterSideSettings",
    "ConfigError",
    "ControlPlaneUserData",
    "DualStackCidrs",
    "IpFamily",
    "NetworkSettings",
    "NodeSettings",
    "PkiSettings",
    "StackSettings",
    "TopologySettings",
    "WorkerScaling",
    "instance_architecture",
    "parse_settings",
    "read_cluster_side_settings",
    "read_network_settings",
    "read_node_settings",
    "read_pki_settings",
    "read_topology_settings",
]

# AWS allows VPC IPv4 blocks from /16 to /28.
VPC_PREFIX_RANGE = (16, 28)
SUBNET_PREFIX_RANGE = (17, 28)
AZ_COUNT_RANGE = (2, 6)
WORKER_POOL_SIZE_RANGE = (0, 1000)
# An odd number of stacked etcd members: 3 survive the loss of one, 5 of two (etcd FAQ, "Why an odd
# number of cluster members?"); one per zone.
CONTROL_PLANE_COUNTS = (1, 3, 5)
ROOT_VOLUME_GIB_RANGE = (20, 16384)
VALIDITY_HOURS_RANGE = (24, 24 * 365 * 30)
# kube-controller-manager hands every node a /24 (IPv4) and a /64 (IPv6) of the pod CIDRs and
# refuses a cluster CIDR more than 16 bits larger than the node mask.
NODE_POD_MASK = {4: 24, 6: 64}
# kube-apiserver refuses service ranges with more than 20 host bits (IPv6) / smaller than /12 (IPv4).
SERVICE_PREFIX_MIN = {4: 12, 6: 108}

_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ZONE_SUFFIX = re.compile(r"^[a-z]$")
# Empty is allowed for both: it means "look it up" / "the release's own".
_AMI = re.compile(r"^(ami-[0-9a-f]{8,17})?$")
_IMAGE = re.compile(r"^([a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64}))?$")


# Project keys of Pulumi.yaml's config block; tests check the two lists agree.
CONFIG_KEYS: tuple[str, ...] = (
    "kubernetesVersion",
    "clusterName",
    "primaryIpFamily",
    "availabilityZoneCount",
    "availabilityZones",
    "vpcIpv4Cidr",
    "subnetIpv4PrefixLength",
    "privateSubnets",
    "natGateway",
    "podIpv4Cidr",
    "podIpv6Cidr",
    "serviceIpv4Cidr",
    "serviceIpv6Cidr",
    "adminCidrs",
    "controlPlaneInstanceType",
    "workerInstanceType",
    "controlPlaneCount",
    "apiEndpoint",
    "workerMinSize",
    "workerMaxSize",
    "workerDesiredCapacity",
    "architecture",
    "rootVolumeSizeGib",
    "amiId",
    "controlPlaneUserData",
    "ccmImage",
    "smokeWorkload",
    "allowVersionRebuild",
    "caValidityHours",
    "certValidityHours",
)
PROVIDER_KEYS: tuple[str, ...] = ("aws:region",)
REMOVED_KEYS: Mapping[str, str] = {
    "workerCount": "workerMinSize, workerMaxSize and workerDesiredCapacity (the workers are an Auto Scaling "
    "group now; set all three to the old count for the same fixed pool)",
}
"""Project keys that no longer exist -> what replaces them. Not declared in Pulumi.yaml, so a stack
file that still sets one is reported by name instead of being silently ignored."""


def parse_settings(raw: Mapping[str, str], stack: str) -> StackSettings:
    """Validate every key at once; raise ConfigError naming each bad one."""
    read = ConfigReader(raw)
    release = _read_release(read)
    cluster_name = read.matching(
        "clusterName", _CLUSTER_NAME, "2-32 characters: lowercase letters, digits and '-', starting with a letter"
    )
    region = read.matching("aws:region", _REGION, "an AWS region name such as us-east-1")
    primary = _read_primary_ip_family(read, release)
    _report_removed_keys(read)
    # Read before the network: the node counts size the pod CIDRs and need a zone per control plane.
    topology = read_topology_settings(read)
    nodes = read_node_settings(read)
    network = read_network_settings(read, region, topology)
    pki = read_pki_settings(read)
    cluster_side = read_cluster_side_settings(read, release)
    allow_version_rebuild = read.boolean("allowVersionRebuild")
    if read.problems:
        raise ConfigError(read.problems)
    return StackSettings(
        stack=stack,
        cluster_name=known(cluster_name),
        region=known(region),
        release=known(release),
        primary_ip_family=known(primary),
        network=known(network),
        topology=known(topology),
        nodes=known(nodes),
        pki=known(pki),
        cluster_side=known(cluster_side),
        allow_version_rebuild=known(allow_version_rebuild),
    )


def _ccm_image_skew(image: str, release: Release) -> str | None:
    """Why an overriding image's version breaks the version skew policy (None: it keeps it, or its tag
    names no version, which the policy pack reports)."""
    tag = image.split("@", 1)[0].rsplit(":", 1)[-1]
    try:
        version = Version.parse(tag)
    except ValueError:
        return None
    return ccm_skew_problem(release.version, version)


def _allowed_ccm_minors(release: Release) -> str:
    """The CCM minors the version skew policy allows with `release`: its own, or one below."""
    return f"{release.minor} or {release.version.major}.{release.version.minor - 1}"


def _report_removed_keys(read: ConfigReader) -> None:
    for key, replacement in REMOVED_KEYS.items():
        text = read.raw.get(f"{PROJECT}:{key}")
        if text is not None:
            read.problem(key, _decoded_or_text(text), f"nothing: {key} was removed, set {replacement}")


def _decoded_or_text(text: str) -> object:
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return value


def _read_release(read: ConfigReader) -> Release | None:
    version = read.string("kubernetesVersion")
    if version is None:
        return None
    try:
        return release_for(version)
    except UnsupportedVersionError:
        read.problem("kubernetesVersion", version, "one of " + ", ".join(supported_minors()))
        return None


def _read_primary_ip_family(read: ConfigReader, release: Release | None) -> IpFamily | None:
    """IPv6 first needs a CCM that honours NodeIPFamilies; older ones always list IPv4 first."""
    primary = read.choice("primaryIpFamily", IpFamily)
    if primary is IpFamily.IPV6 and release is not None and not release.supports_node_ip_families:
        read.problem(
            "primaryIpFamily",
            primary.value,
            f"ipv4 for Kubernetes {release.minor}: its CCM has no NodeIPFamilies and lists IPv4 first",
        )
        return None
    return primary


def read_network_settings(
    read: ConfigReader, region: str | None, topology: TopologySettings | None
) -> NetworkSettings | None:
    """Zones must belong to `region` and hold a control plane each; the pod ranges need a block for
    each of the most nodes `topology` allows (control planes + the workers' maximum)."""
    mark = read.mark()
    zone_count, zones = _read_zones(read, region)
    _check_a_zone_per_control_plane(read, zone_count, topology)
    vpc = read.checked(
        "vpcIpv4Cidr",
        read.ipv4_network("vpcIpv4Cidr"),
        lambda n: VPC_PREFIX_RANGE[0] <= n.prefixlen <= VPC_PREFIX_RANGE[1],
        f"a prefix length from /{VPC_PREFIX_RANGE[0]} to /{VPC_PREFIX_RANGE[1]} (AWS limit)",
    )
    subnet_prefix = read.integer("subnetIpv4PrefixLength", SUBNET_PREFIX_RANGE)
    private_subnets = read.boolean("privateSubnets")
    nat_gateway = read.boolean("natGateway")
    _check_subnet_capacity(read, vpc, subnet_prefix, zone_count, private_subnets)
    _check_egress(read, private_subnets, nat_gateway)

    node_count = None if topology is None else topology.max_nodes
    pod_v4 = _pod_cidr(read, "podIpv4Cidr", read.ipv4_network("podIpv4Cidr"), node_count)
    pod_v6 = _pod_cidr(read, "podIpv6Cidr", read.ipv6_network("podIpv6Cidr"), node_count)
    service_v4 = _service_cidr(read, "serviceIpv4Cidr", read.ipv4_network("serviceIpv4Cidr"))
    service_v6 = _service_cidr(read, "serviceIpv6Cidr", read.ipv6_network("serviceIpv6Cidr"))
    read.disjoint({"vpcIpv4Cidr": vpc, "podIpv4Cidr": pod_v4, "serviceIpv4Cidr": service_v4})
    read.disjoint({"podIpv6Cidr": pod_v6, "serviceIpv6Cidr": service_v6})
    admin = _read_admin_cidrs(read)
    if read.failed_since(mark):
        return None
    return NetworkSettings(
        availability_zone_count=known(zone_count),
        availability_zones=zones,
        vpc_ipv4_cidr=known(vpc),
        subnet_ipv4_prefix_length=known(subnet_prefix),
        private_subnets=known(private_subnets),
        nat_gateway=known(nat_gateway),
        pod_cidrs=DualStackCidrs(known(pod_v4), known(pod_v6)),
        service_cidrs=DualStackCidrs(known(service_v4), known(service_v6)),
        admin_cidrs=admin,
    )


def _read_zones(read: ConfigReader, region: str | None) -> tuple[int | None, tuple[str, ...]]:
    """The zone count and the explicit zones; explicit zones decide the count."""
    count = read.integer("availabilityZoneCount", AZ_COUNT_RANGE)
    zones = read.string_list("availabilityZones") or []
    for zone in zones:
        if region is None or not zone.startswith(region) or not _ZONE_SUFFIX.match(zone[len(region) :]):
            read.problem("availabilityZones", zone, f"a zone of region {region} such as {region}a")
    if zones and not AZ_COUNT_RANGE[0] <= len(set(zones)) == len(zones) <= AZ_COUNT_RANGE[1]:
        read.problem("availabilityZones", zones, f"{AZ_COUNT_RANGE[0]} to {AZ_COUNT_RANGE[1]} distinct zones")
    return len(zones) or count, tuple(zones)


def _check_a_zone_per_control_plane(
    read: ConfigReader, zone_count: int | None, topology: TopologySettings | None
) -> None:
    if zone_count is None or topology is None or topology.control_plane_count <= zone_count:
        return
    read.problem(
        "controlPlaneCount",
        topology.control_plane_count,
        f"at most the {zone_count} zones of availabilityZoneCount/availabilityZones: one control plane per zone",
    )


def _check_subnet_capacity(
    read: ConfigReader,
    vpc: ipaddress.IPv4Network | None,
    subnet_prefix: int | None,
    zone_count: int | None,
    private_subnets: bool | None,
) -> None:
    if vpc is None or subnet_prefix is None or zone_count is None:
        return
    # network_plan keeps private subnets in the top half of the VPC.
    slots = 2 ** (subnet_prefix - vpc.prefixlen) if subnet_prefix > vpc.prefixlen else 0
    capacity = slots // 2 if private_subnets else slots
    if zone_count > capacity:
        read.problem(
            "subnetIpv4PrefixLength",
            subnet_prefix,
            f"a length that gives each of {zone_count} zones a subnet per tier inside {vpc}",
        )


def _check_egress(read: ConfigReader, private_subnets: bool | None, nat_gateway: bool | None) -> None:
    if nat_gateway and private_subnets is False:
        read.problem("natGateway", True, "true only together with privateSubnets: true")
    if private_subnets and nat_gateway is False:
        # The bootstrap fetches crictl from GitHub, which has no IPv6 address.
        read.problem("privateSubnets", True, "true only with natGateway: true (nodes need IPv4 egress to GitHub)")


def _pod_cidr(read: ConfigReader, key: str, network: SomeNetwork | None, node_count: int | None) -> SomeNetwork | None:
    if network is None:
        return None
    node_mask = NODE_POD_MASK[network.version]
    if not node_mask - 16 <= network.prefixlen <= node_mask:
        read.problem(
            key, str(network), f"a prefix from /{node_mask - 16} to /{node_mask} (each node gets a /{node_mask})"
        )
        return None
    if node_count is not None and 2 ** (node_mask - network.prefixlen) < node_count:
        read.problem(key, str(network), f"room for {node_count} node /{node_mask} blocks")
        return None
    return network


def _service_cidr(read: ConfigReader, key: str, network: SomeNetwork | None) -> SomeNetwork | None:
    if network is None:
        return None
    minimum = SERVICE_PREFIX_MIN[network.version]
    allowed = f"/{minimum} or smaller (kube-apiserver limit: 20 host bits)"
    return read.checked(key, network, lambda n: n.prefixlen >= minimum, allowed)


def _read_admin_cidrs(read: ConfigReader) -> tuple[IPNetwork, ...]:
    admin = read.network_list("adminCidrs")
    if admin is not None and not admin:
        read.problem("adminCidrs", [], "at least one CIDR allowed to reach the API server (port 6443)")
    for network in admin or ():
        if network.prefixlen == 0:
            read.problem("adminCidrs", str(network), "a CIDR narrower than the whole internet")
    return admin or ()


def read_topology_settings(read: ConfigReader) -> TopologySettings | None:
    """Control planes (1, 3 or 5; more than one needs the load balancer) and the workers' group sizes."""
    mark = read.mark()
    count = read.integer("controlPlaneCount", (CONTROL_PLANE_COUNTS[0], CONTROL_PLANE_COUNTS[-1]))
    if count is not None and count not in CONTROL_PLANE_COUNTS:
        read.problem("controlPlaneCount", count, "1, 3 or 5: etcd needs a majority, an even member adds no tolerance")
        count = None
    api_endpoint = read.choice("apiEndpoint", ApiEndpointKind)
    if api_endpoint is ApiEndpointKind.ELASTIC_IP and count is not None and count > 1:
        read.problem(
            "apiEndpoint",
            api_endpoint.value,
            f"nlb when controlPlaneCount is {count}: an Elastic IP reaches one control plane",
        )
    workers = _read_worker_scaling(read)
    if read.failed_since(mark):
        return None
    return TopologySettings(control_plane_count=known(count), api_endpoint=known(api_endpoint), workers=known(workers))


def _read_worker_scaling(read: ConfigReader) -> WorkerScaling | None:
    low = read.integer("workerMinSize", WORKER_POOL_SIZE_RANGE)
    high = read.integer("workerMaxSize", WORKER_POOL_SIZE_RANGE)
    desired = read.integer("workerDesiredCapacity", WORKER_POOL_SIZE_RANGE)
    if low is None or high is None or desired is None:
        return None
    if low > high:
        read.problem("workerMinSize", low, f"at most workerMaxSize ({high})")
        return None
    if not low <= desired <= high:
        read.problem("workerDesiredCapacity", desired, f"from workerMinSize ({low}) to workerMaxSize ({high})")
        return None
    return WorkerScaling(min_size=low, max_size=high, desired_capacity=desired)


def read_node_settings(read: ConfigReader) -> NodeSettings | None:
    """Both instance types must run the one architecture the AMI is built for."""
    mark = read.mark()
    architecture = read.choice("architecture", Architecture)
    control_plane_type = _instance_type(read, "controlPlaneInstanceType", architecture)
    worker_type = _instance_type(read, "workerInstanceType", architecture)
    root_volume = read.integer("rootVolumeSizeGib", ROOT_VOLUME_GIB_RANGE)
    ami_id = read.matching(
        "amiId", _AMI, "empty (look up Canonical's Ubuntu) or an AMI ID such as ami-0123456789abcdef0"
    )
    control_plane_user_data = read.choice("controlPlaneUserData", ControlPlaneUserData)
    if read.failed_since(mark):
        return None
    return NodeSettings(
        architecture=known(architecture),
        control_plane_instance_type=known(control_plane_type),
        worker_instance_type=known(worker_type),
        root_volume_size_gib=known(root_volume),
        ami_id=ami_id or None,
        control_plane_user_data=known(control_plane_user_data),
    )


def _instance_type(read: ConfigReader, key: str, architecture: Architecture | None) -> str | None:
    instance_type = read.string(key)
    if instance_type is None:
        return None
    arch = instance_architecture(instance_type)
    if arch is None:
        read.problem(key, instance_type, "an EC2 instance type such as t3.medium")
        return None
    if architecture is not None and arch is not architecture:
        read.problem(
            key, instance_type, f"an {architecture.value} instance type to match architecture={architecture.value}"
        )
        return None
    return instance_type


def read_pki_settings(read: ConfigReader) -> PkiSettings | None:
    """A leaf certificate may not outlive the CA that signed it."""
    ca_hours = read.integer("caValidityHours", VALIDITY_HOURS_RANGE)
    cert_hours = read.integer("certValidityHours", VALIDITY_HOURS_RANGE)
    if ca_hours is None or cert_hours is None:
        return None
    if cert_hours > ca_hours:
        read.problem("certValidityHours", cert_hours, f"at most caValidityHours ({ca_hours})")
        return None
    return PkiSettings(ca_validity_hours=ca_hours, cert_validity_hours=cert_hours)


def read_cluster_side_settings(read: ConfigReader, release: Release | None = None) -> ClusterSideSettings | None:
    ccm_image = read.matching(
        "ccmImage", _IMAGE, "empty (the release's image) or a registry/repository:tag image reference"
    )
    smoke_workload = read.boolean("smokeWorkload")
    if ccm_image is None or smoke_workload is None:
        return None
    skew = _ccm_image_skew(ccm_image, release) if ccm_image and release else None
    if skew and release:
        read.problem("ccmImage", ccm_image, f"a CCM of Kubernetes {_allowed_ccm_minors(release)}: {skew}")
        return None
    return ClusterSideSettings(ccm_image=ccm_image or None, smoke_workload=smoke_workload)
