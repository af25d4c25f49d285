"""Stack configuration → frozen, validated settings.

`parse_settings` is pure: it takes the raw config strings (as the Pulumi engine hands them
to the program: `Pulumi.yaml` defaults merged with `Pulumi.<stack>.yaml`) and either returns
`StackSettings` or raises one `ConfigError` naming every bad key, its value and what is
allowed — before any resource is registered. Defaults live only in `Pulumi.yaml`.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from components.versions import Release, UnsupportedVersionError, release_for, supported_minors

PROJECT = "k8s-dualstack-aws"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

# AWS allows VPC IPv4 blocks from /16 to /28.
VPC_PREFIX_RANGE = (16, 28)
AZ_COUNT_RANGE = (2, 6)
WORKER_COUNT_RANGE = (0, 1000)
ROOT_VOLUME_GIB_RANGE = (20, 16384)
# kube-controller-manager hands every node a /24 (IPv4) and a /64 (IPv6) of the pod CIDRs and
# refuses a cluster CIDR more than 16 bits larger than the node mask.
NODE_POD_MASK = {4: 24, 6: 64}
# kube-apiserver refuses service ranges with more than 20 host bits (IPv6) / smaller than /12 (IPv4).
SERVICE_PREFIX_MIN = {4: 12, 6: 108}

_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ZONE_SUFFIX = re.compile(r"^[a-z]$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attrs>[a-z-]*)\.[a-z0-9]+$")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$")


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
    "workerCount",
    "architecture",
    "rootVolumeSizeGib",
    "amiId",
    "ccmImage",
    "smokeWorkload",
    "caValidityHours",
    "certValidityHours",
)
PROVIDER_KEYS: tuple[str, ...] = ("aws:region",)


class IpFamily(enum.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Architecture(enum.Enum):
    AMD64 = "amd64"
    ARM64 = "arm64"


def instance_architecture(instance_type: str) -> Architecture | None:
    """The CPU architecture of an EC2 instance type, or None when the name is malformed.

    Graviton types carry a `g` in the attribute letters after the generation (t4g, m7gd,
    c7gn) and a1 is the first-generation Graviton; `g` before the digit is a GPU family.
    """
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        return None
    if match["family"] == "a" or "g" in match["attrs"].split("-")[0]:
        return Architecture.ARM64
    return Architecture.AMD64


@dataclass(frozen=True)
class DualStackCidrs:
    ipv4: ipaddress.IPv4Network
    ipv6: ipaddress.IPv6Network

    def ordered(self, families: tuple[IpFamily, IpFamily]) -> tuple[IPNetwork, IPNetwork]:
        by_family: dict[IpFamily, IPNetwork] = {IpFamily.IPV4: self.ipv4, IpFamily.IPV6: self.ipv6}
        return (by_family[families[0]], by_family[families[1]])


@dataclass(frozen=True)
class StackSettings:
    """Validated settings of one stack. Every field is known at plan time."""

    stack: str
    cluster_name: str
    region: str
    release: Release
    primary_ip_family: IpFamily
    availability_zone_count: int
    availability_zones: tuple[str, ...]
    """Explicit zones; empty means the first `availability_zone_count` the account offers."""
    vpc_ipv4_cidr: ipaddress.IPv4Network
    subnet_ipv4_prefix_length: int
    pod_cidrs: DualStackCidrs
    service_cidrs: DualStackCidrs
    admin_cidrs: tuple[IPNetwork, ...]
    control_plane_instance_type: str
    worker_instance_type: str
    worker_count: int
    architecture: Architecture
    root_volume_size_gib: int
    private_subnets: bool
    nat_gateway: bool
    ami_id: str | None
    ccm_image: str | None
    smoke_workload: bool
    ca_validity_hours: int
    cert_validity_hours: int

    @property
    def ip_families(self) -> tuple[IpFamily, IpFamily]:
        """Both families, the primary one first: the order of every dual-stack list."""
        other = IpFamily.IPV6 if self.primary_ip_family is IpFamily.IPV4 else IpFamily.IPV4
        return (self.primary_ip_family, other)

    @property
    def ssm_prefix(self) -> str:
        """SSM parameter path of this cluster; the nodes' roles may read only below it."""
        return f"/{PROJECT}/{self.cluster_name}"

    @property
    def effective_ccm_image(self) -> str:
        return self.ccm_image or self.release.ccm_image


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    value: object
    allowed: str

    @property
    def full_key(self) -> str:
        return self.key if ":" in self.key else f"{PROJECT}:{self.key}"

    def __str__(self) -> str:
        return f"{self.full_key} = {self.value!r}: allowed is {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's configuration, reported together."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class _Reader:
    """Reads typed values out of raw config strings, collecting problems instead of raising."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, value: object, allowed: str) -> None:
        self.problems.append(ConfigProblem(key, value, allowed))

    def _get(self, key: str) -> str | None:
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        value = self.raw.get(full_key)
        if value is None:
            self.problem(key, None, "missing; Pulumi.yaml declares a default for every project key")
        return value

    def string(self, key: str) -> str | None:
        return self._get(key)

    def _json(self, key: str, kind: type, allowed: str) -> Any:
        text = self._get(key)
        if text is None:
            return None
        try:
            value = json.loads(text) if kind is not str else text
        except json.JSONDecodeError:
            value = text
        # bool is an int subclass; an int key must not accept true/false.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(key, text, allowed)
            return None
        return value

    def integer(self, key: str, bounds: tuple[int, int]) -> int | None:
        low, high = bounds
        value = self._json(key, int, f"an integer from {low} to {high}")
        if value is not None and not low <= value <= high:
            self.problem(key, value, f"an integer from {low} to {high}")
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        return self._json(key, bool, "true or false")

    def string_list(self, key: str) -> list[str] | None:
        value = self._json(key, list, "a list of strings")
        if value is not None and not all(isinstance(item, str) for item in value):
            self.problem(key, value, "a list of strings")
            return None
        return value

    def choice(self, key: str, enum_type: type[enum.Enum]) -> Any:
        text = self.string(key)
        allowed = [member.value for member in enum_type]
        if text is None:
            return None
        if text not in allowed:
            self.problem(key, text, "one of " + ", ".join(allowed))
            return None
        return enum_type(text)

    def matching(self, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        text = self.string(key)
        if text is not None and not pattern.match(text):
            self.problem(key, text, allowed)
            return None
        return text

    def network(self, key: str, version: int, text: str | None = None) -> Any:
        text = self.string(key) if text is None else text
        if text is None:
            return None
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as error:
            self.problem(key, text, f"an IPv{version} CIDR with no host bits set ({error})")
            return None
        if network.version != version:
            self.problem(key, text, f"an IPv{version} CIDR, not IPv{network.version}")
            return None
        return network

    def checked(self, key: str, value: T | None, ok: Callable[[T], bool], allowed: str) -> T | None:
        if value is not None and not ok(value):
            self.problem(key, str(value), allowed)
            return None
        return value


def parse_settings(raw: Mapping[str, str], stack: str) -> StackSettings:
    """Validate every key at once; raise ConfigError naming each bad one."""
    read = _Reader(raw)

    version_text = read.string("kubernetesVersion")
    release: Release | None = None
    if version_text is not None:
        try:
            release = release_for(version_text)
        except UnsupportedVersionError:
            read.problem("kubernetesVersion", version_text, "one of " + ", ".join(supported_minors()))

    if release is not None and primary_text_is_ipv6(raw) and not release.supports_node_ip_families:
        read.problem(
            "primaryIpFamily",
            "ipv6",
            f"ipv4 for Kubernetes {release.minor}: its CCM has no NodeIPFamilies and lists IPv4 first",
        )
    cluster_name = read.matching(
        "clusterName", _CLUSTER_NAME, "2-32 characters: lowercase letters, digits and '-', starting with a letter"
    )
    region = read.matching("aws:region", _REGION, "an AWS region name such as us-east-1")
    primary = read.choice("primaryIpFamily", IpFamily)
    az_count = read.integer("availabilityZoneCount", AZ_COUNT_RANGE)
    zones = read.string_list("availabilityZones") or []
    for zone in zones:
        if region is None or not zone.startswith(region) or not _ZONE_SUFFIX.match(zone[len(region) :]):
            read.problem("availabilityZones", zone, f"a zone of region {region} such as {region}a")
    if zones and not AZ_COUNT_RANGE[0] <= len(set(zones)) == len(zones) <= AZ_COUNT_RANGE[1]:
        read.problem("availabilityZones", zones, f"{AZ_COUNT_RANGE[0]} to {AZ_COUNT_RANGE[1]} distinct zones")

    vpc = read.network("vpcIpv4Cidr", 4)
    vpc = read.checked(
        "vpcIpv4Cidr",
        vpc,
        lambda n: VPC_PREFIX_RANGE[0] <= n.prefixlen <= VPC_PREFIX_RANGE[1],
        f"a prefix length from /{VPC_PREFIX_RANGE[0]} to /{VPC_PREFIX_RANGE[1]} (AWS limit)",
    )
    subnet_prefix = read.integer("subnetIpv4PrefixLength", (17, 28))
    private_subnets = read.boolean("privateSubnets")
    nat_gateway = read.boolean("natGateway")
    zone_total = len(zones) or az_count
    if vpc is not None and subnet_prefix is not None and zone_total is not None:
        # network_plan keeps private subnets in the top half of the VPC.
        slots = 2 ** (subnet_prefix - vpc.prefixlen) if subnet_prefix > vpc.prefixlen else 0
        capacity = slots // 2 if private_subnets else slots
        if zone_total > capacity:
            read.problem(
                "subnetIpv4PrefixLength",
                subnet_prefix,
                f"a length that gives each of {zone_total} zones a subnet per tier inside {vpc}",
            )
    if nat_gateway and private_subnets is False:
        read.problem("natGateway", True, "true only together with privateSubnets: true")
    if private_subnets and nat_gateway is False:
        # The bootstrap fetches crictl from GitHub, which has no IPv6 address.
        read.problem("privateSubnets", True, "true only with natGateway: true (nodes need IPv4 egress to GitHub)")

    worker_count = read.integer("workerCount", WORKER_COUNT_RANGE)
    node_count = None if worker_count is None else worker_count + 1
    pod_v4 = _pod_cidr(read, "podIpv4Cidr", 4, node_count)
    pod_v6 = _pod_cidr(read, "podIpv6Cidr", 6, node_count)
    service_v4 = read.checked(
        "serviceIpv4Cidr",
        read.network("serviceIpv4Cidr", 4),
        lambda n: n.prefixlen >= SERVICE_PREFIX_MIN[4],
        f"/{SERVICE_PREFIX_MIN[4]} or smaller (kube-apiserver limit)",
    )
    service_v6 = read.checked(
        "serviceIpv6Cidr",
        read.network("serviceIpv6Cidr", 6),
        lambda n: n.prefixlen >= SERVICE_PREFIX_MIN[6],
        f"/{SERVICE_PREFIX_MIN[6]} or smaller (kube-apiserver limit: 20 host bits)",
    )
    _no_overlaps(read, {"vpcIpv4Cidr": vpc, "podIpv4Cidr": pod_v4, "serviceIpv4Cidr": service_v4})
    _no_overlaps(read, {"podIpv6Cidr": pod_v6, "serviceIpv6Cidr": service_v6})

    admin_texts = read.string_list("adminCidrs")
    admin: list[IPNetwork] = []
    for text in admin_texts or []:
        try:
            admin.append(ipaddress.ip_network(text, strict=True))
        except ValueError as error:
            read.problem("adminCidrs", text, f"an IPv4 or IPv6 CIDR ({error})")
    if admin_texts is not None and not admin_texts:
        read.problem("adminCidrs", [], "at least one CIDR allowed to reach the API server (port 6443)")
    for network in admin:
        if network.prefixlen == 0:
            read.problem("adminCidrs", str(network), "a CIDR narrower than the whole internet")

    architecture = read.choice("architecture", Architecture)
    instance_types: dict[str, str | None] = {}
    for key in ("controlPlaneInstanceType", "workerInstanceType"):
        instance_type = read.string(key)
        arch = None if instance_type is None else instance_architecture(instance_type)
        if instance_type is not None and arch is None:
            read.problem(key, instance_type, "an EC2 instance type such as t3.medium")
        elif arch is not None and architecture is not None and arch is not architecture:
            read.problem(
                key, instance_type, f"an {architecture.value} instance type to match architecture={architecture.value}"
            )
        else:
            instance_types[key] = instance_type

    root_volume = read.integer("rootVolumeSizeGib", ROOT_VOLUME_GIB_RANGE)
    ami_id = read.string("amiId")
    if ami_id and not _AMI.match(ami_id):
        read.problem("amiId", ami_id, "empty (look up Canonical's Ubuntu) or an AMI ID such as ami-0123456789abcdef0")
    ccm_image = read.string("ccmImage")
    if ccm_image and not _IMAGE.match(ccm_image):
        read.problem("ccmImage", ccm_image, "empty (the release's image) or a registry/repository:tag image reference")
    smoke_workload = read.boolean("smokeWorkload")
    ca_hours = read.integer("caValidityHours", (24, 24 * 365 * 30))
    cert_hours = read.integer("certValidityHours", (24, 24 * 365 * 30))
    if ca_hours is not None and cert_hours is not None and cert_hours > ca_hours:
        read.problem("certValidityHours", cert_hours, f"at most caValidityHours ({ca_hours})")

    if read.problems:
        raise ConfigError(read.problems)
    return StackSettings(
        stack=stack,
        cluster_name=_known(cluster_name),
        region=_known(region),
        release=_known(release),
        primary_ip_family=primary,
        availability_zone_count=len(zones) or _known(az_count),
        availability_zones=tuple(zones),
        vpc_ipv4_cidr=_known(vpc),
        subnet_ipv4_prefix_length=_known(subnet_prefix),
        pod_cidrs=DualStackCidrs(_known(pod_v4), _known(pod_v6)),
        service_cidrs=DualStackCidrs(_known(service_v4), _known(service_v6)),
        admin_cidrs=tuple(admin),
        control_plane_instance_type=_known(instance_types["controlPlaneInstanceType"]),
        worker_instance_type=_known(instance_types["workerInstanceType"]),
        worker_count=_known(worker_count),
        architecture=architecture,
        root_volume_size_gib=_known(root_volume),
        private_subnets=_known(private_subnets),
        nat_gateway=_known(nat_gateway),
        ami_id=ami_id or None,
        ccm_image=ccm_image or None,
        smoke_workload=_known(smoke_workload),
        ca_validity_hours=_known(ca_hours),
        cert_validity_hours=_known(cert_hours),
    )


def primary_text_is_ipv6(raw: Mapping[str, str]) -> bool:
    return raw.get(f"{PROJECT}:primaryIpFamily") == IpFamily.IPV6.value


def _known(value: T | None) -> T:
    """Narrow a value that cannot be None once no problem was recorded."""
    assert value is not None
    return value


def _pod_cidr(read: _Reader, key: str, version: int, node_count: int | None) -> Any:
    network = read.network(key, version)
    node_mask = NODE_POD_MASK[version]
    network = read.checked(
        key,
        network,
        lambda n: node_mask - 16 <= n.prefixlen <= node_mask,
        f"a prefix from /{node_mask - 16} to /{node_mask} (each node gets a /{node_mask})",
    )
    if network is not None and node_count is not None and 2 ** (node_mask - network.prefixlen) < node_count:
        read.problem(key, str(network), f"room for {node_count} node /{node_mask} blocks")
        return None
    return network


def _no_overlaps(read: _Reader, networks: Mapping[str, IPNetwork | None]) -> None:
    named = [(key, net) for key, net in networks.items() if net is not None]
    for index, (key, net) in enumerate(named):
        for other_key, other in named[index + 1 :]:
            if net.overlaps(other):
                read.problem(key, str(net), f"a range that does not overlap {other_key} ({other})")
