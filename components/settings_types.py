"""The typed, frozen settings a stack's configuration becomes, grouped by the concern that uses them.

`components.settings` reads and validates the raw config into these; components take them (or the
plain values they hold) and never read config themselves.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

from components.settings_reader import PROJECT, IPNetwork
from components.versions import Release

_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attrs>[a-z-]*)\.[a-z0-9]+$")


class IpFamily(enum.Enum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class Architecture(enum.Enum):
    AMD64 = "amd64"
    ARM64 = "arm64"


class ControlPlaneUserData(enum.Enum):
    """What a change to a control plane's user data does."""

    IGNORE = "ignore"
    """Nothing: updating the instance in place would only stop and start it (cloud-init runs once)."""
    REPLACE = "replace"
    """Replace the instance with one booting the new user data: set only for a deliberate roll."""


class ApiEndpointKind(enum.Enum):
    """How kubectl, the nodes and Cilium reach the API server."""

    ELASTIC_IP = "elastic-ip"
    """An Elastic IP on the single control plane (nodes use its fixed private address)."""
    NLB = "nlb"
    """An internet-facing dual-stack Network Load Balancer in front of every control plane."""


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
class NetworkSettings:
    """The VPC, its subnets and the cluster's address ranges."""

    availability_zone_count: int
    availability_zones: tuple[str, ...]
    """Explicit zones; empty means the first `availability_zone_count` the account offers."""
    vpc_ipv4_cidr: ipaddress.IPv4Network
    subnet_ipv4_prefix_length: int
    private_subnets: bool
    nat_gateway: bool
    pod_cidrs: DualStackCidrs
    service_cidrs: DualStackCidrs
    admin_cidrs: tuple[IPNetwork, ...]


@dataclass(frozen=True)
class WorkerScaling:
    """The workers' Auto Scaling group sizes: min <= desired <= max."""

    min_size: int
    max_size: int
    desired_capacity: int


@dataclass(frozen=True)
class TopologySettings:
    """How many nodes of each role, and how the API server is reached."""

    control_plane_count: int
    """1, 3 or 5; one per zone (the first `control_plane_count` zones)."""
    api_endpoint: ApiEndpointKind
    workers: WorkerScaling

    @property
    def max_nodes(self) -> int:
        """The most nodes the cluster can have at once: the pod CIDRs need a block for each."""
        return self.control_plane_count + self.workers.max_size


@dataclass(frozen=True)
class NodeSettings:
    """The EC2 instances of both roles: one architecture, one instance type per role."""

    architecture: Architecture
    control_plane_instance_type: str
    worker_instance_type: str
    root_volume_size_gib: int
    ami_id: str | None
    """None means Canonical's Ubuntu image for the release and architecture."""
    control_plane_user_data: ControlPlaneUserData


@dataclass(frozen=True)
class PkiSettings:
    ca_validity_hours: int
    cert_validity_hours: int


@dataclass(frozen=True)
class ClusterSideSettings:
    """What the program installs through the Kubernetes API once the control plane answers."""

    ccm_image: str | None
    """None means the image the release matrix pins."""
    smoke_workload: bool


@dataclass(frozen=True)
class StackSettings:
    """Validated settings of one stack. Every field is known at plan time."""

    stack: str
    cluster_name: str
    region: str
    release: Release
    primary_ip_family: IpFamily
    network: NetworkSettings
    topology: TopologySettings
    nodes: NodeSettings
    pki: PkiSettings
    cluster_side: ClusterSideSettings
    allow_version_rebuild: bool = False
    """A version skip or downgrade rebuilds the cluster instead of being refused (version_skew.py)."""

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
    def secrets_key_alias(self) -> str:
        """`alias/<project>/<cluster>`: the KMS key that encrypts the cluster's SecureStrings."""
        return f"alias/{PROJECT}/{self.cluster_name}"

    @property
    def effective_ccm_image(self) -> str:
        """Here rather than on ClusterSideSettings: the default comes from the release."""
        return self.cluster_side.ccm_image or self.release.ccm_image
