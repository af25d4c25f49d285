"""Version-dependent facts as tables: what each Kubernetes or CCM release knows, needs or calls.

`components.versions` turns them into one `Release` row per minor; nothing else should read these
tables directly. The upstream record behind each table is in docs/reference/ (cloud-config.md,
aws.md, kubelet-and-kubeadm.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import total_ordering


@total_ordering
@dataclass(frozen=True)
class Version:
    """A `major.minor[.patch]` version, compared numerically (so 1.9 < 1.10)."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        parts = text.strip().lstrip("v").split("-", 1)[0].split(".")
        if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"not a version: {text!r} (expected MAJOR.MINOR or MAJOR.MINOR.PATCH)")
        numbers = [int(p) for p in parts] + [0] * (3 - len(parts))
        return cls(numbers[0], numbers[1], numbers[2])

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    @property
    def minor_str(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class NodeIpMode(enum.Enum):
    """What the kubelet's `--node-ip` carries.

    A provided node IP must be one of the addresses the CCM reports, and two addresses
    with a cloud provider need the CloudDualStackNodeIPs gate (beta, on by default, 1.29;
    KEP-3705) — before that the kubelet refuses to start with them.
    """

    UNSET = "unset"  # no --node-ip: the CCM supplies every address
    IPV6 = "ipv6"  # one IPv6 address: the field report's working 1.22 setup
    DUAL = "dual"  # both addresses, the stack's primary family first


class KubeadmApi(enum.Enum):
    V1BETA2 = "kubeadm.k8s.io/v1beta2"  # deprecated in kubeadm 1.26, refused from 1.27
    V1BETA3 = "kubeadm.k8s.io/v1beta3"  # 1.22+
    V1BETA4 = "kubeadm.k8s.io/v1beta4"  # 1.31+: extraArgs become lists of name/value


class CiliumValuesSchema(enum.Enum):
    """How a Cilium chart's values spell VXLAN tunnelling and "keep kube-proxy".

    A chart ignores keys it does not know (so the wrong spelling silently changes the
    datapath) and 1.16 rejects the old string values, so the renderer must follow the chart.
    """

    TUNNEL = "tunnel"  # before 1.14: `tunnel: vxlan`, kubeProxyReplacement disabled|partial|strict
    ROUTING_MODE = "routing-mode"  # 1.14, 1.15: routingMode/tunnelProtocol, kubeProxyReplacement "true"|"false"
    ROUTING_MODE_BOOLEAN_KPR = "routing-mode-boolean-kpr"  # 1.16+: kubeProxyReplacement is a boolean


# The first chart minor that reads each schema, oldest first (1.14 added routingMode and
# deprecated `tunnel`, 1.15 removed it; 1.16 made kubeProxyReplacement a boolean).
CILIUM_VALUES_SCHEMA_FROM: tuple[tuple[str, CiliumValuesSchema], ...] = (
    ("1.0", CiliumValuesSchema.TUNNEL),
    ("1.14", CiliumValuesSchema.ROUTING_MODE),
    ("1.16", CiliumValuesSchema.ROUTING_MODE_BOOLEAN_KPR),
)


@dataclass(frozen=True)
class CiliumChart:
    """A pinned Cilium Helm chart and the values schema it reads (derived, so the two always agree)."""

    version: str
    values_schema: CiliumValuesSchema = field(init=False)

    def __post_init__(self) -> None:
        chart = Version.parse(self.version)
        schemas = [schema for first, schema in CILIUM_VALUES_SCHEMA_FROM if chart >= Version.parse(first)]
        if not schemas:
            raise ValueError(f"Cilium chart {self.version!r} is older than every known values schema")
        object.__setattr__(self, "values_schema", schemas[-1])

    @property
    def images(self) -> tuple[str, ...]:
        """What the chart pulls with this program's values (components/render/cilium.py); empty if not recorded."""
        return CILIUM_CHART_IMAGES.get(self.version, ())


# The images each pinned chart pulls with this program's values: the agent (also its init
# containers), operator-generic (no cloud IPAM), and from 1.16 the standalone Envoy DaemonSet
# (`envoy.enabled` defaults to true when l7Proxy is on). Hubble relay and UI, certgen (TLS by
# the `helm` method), clustermesh, nodeinit, preflight and SPIRE stay off. From the chart's
# values.yaml (image.*, operator.image.* with genericDigest, envoy.image.*), cilium/charts
# cilium-<version>.tgz at commit 009b5e9582173785abfdedb3fda7a26d85ab7aca.
CILIUM_CHART_IMAGES: dict[str, tuple[str, ...]] = {
    "1.13.16": (
        "quay.io/cilium/cilium:v1.13.16@sha256:f1f26a973419ba449a47a08e8c4c8e280d8941bb4fd77d1e992e2721425c0629",
        "quay.io/cilium/operator-generic:v1.13.16@sha256:a2711d5b891da9fd66c2116b77782b58a1a428eb4abdab2dd3ac1221937d846b",
    ),
    "1.15.18": (
        "quay.io/cilium/cilium:v1.15.18@sha256:106bb45c89e1e0abca82c798b16ccc1f5b1c6cfa1205d811b69989fd1507fc5b",
        "quay.io/cilium/operator-generic:v1.15.18@sha256:ebc7a075ac4c3d95e98f11512853feb700e48f87b5beeff466128bdafb5e0cb9",
    ),
    "1.18.12": (
        "quay.io/cilium/cilium:v1.18.12@sha256:94149589d9b77fe3a78f900121b36fab51b1ede0c4190924e2328facc37de210",
        "quay.io/cilium/operator-generic:v1.18.12@sha256:86899c73438812b2761ac6fa435ea4e65f68e70d1ae54ac806fec8805d1ce011",
        "quay.io/cilium/cilium-envoy:v1.36.9-1782267392-edeb3f2af56c37c407efa1f63f0b32f595399bbc"
        "@sha256:767101fb8a5e38f055778cb43b7aa8eed80450b37f8121effac3d9de9e06dc99",
    ),
    "1.19.6": (
        "quay.io/cilium/cilium:v1.19.6@sha256:0df5b2750b64c49843aba1d649e9eaf61467cb0645ad3171db6f6962c095ac92",
        "quay.io/cilium/operator-generic:v1.19.6@sha256:0db4ca4e06969d8904ee036617795d0e9c3228cf7b8d902ba74fc2bb98d2d665",
        "quay.io/cilium/cilium-envoy:v1.36.9-1782267392-edeb3f2af56c37c407efa1f63f0b32f595399bbc"
        "@sha256:767101fb8a5e38f055778cb43b7aa8eed80450b37f8121effac3d9de9e06dc99",
    ),
}


@dataclass(frozen=True)
class KubeadmImageTags:
    """The tags `kubeadm init` pulls besides the release's own kube-* images (tagged v<patch>)."""

    etcd: str
    coredns: str
    pause: str


# kubeadm's pins per exact patch: cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at
# the tag; etcd is SupportedEtcdVersion[minor] (DefaultEtcdVersion when the minor is absent),
# then CoreDNSVersion and PauseVersion (cmd/kubeadm/app/images/images.go uses exactly these).
# Read at the tag for 1.21.14, 1.22.17 and 1.35.3; the other rows are unverified
# (docs/reference/artifacts.md says what to look up).
KUBEADM_IMAGE_TAGS: dict[str, KubeadmImageTags] = {
    "1.21.14": KubeadmImageTags(etcd="3.4.13-0", coredns="v1.8.0", pause="3.4.1"),
    "1.22.17": KubeadmImageTags(etcd="3.5.6-0", coredns="v1.8.4", pause="3.5"),
    "1.23.17": KubeadmImageTags(etcd="3.5.6-0", coredns="v1.8.6", pause="3.6"),
    "1.24.17": KubeadmImageTags(etcd="3.5.6-0", coredns="v1.8.6", pause="3.7"),
    "1.25.16": KubeadmImageTags(etcd="3.5.9-0", coredns="v1.9.3", pause="3.8"),
    "1.26.15": KubeadmImageTags(etcd="3.5.10-0", coredns="v1.9.3", pause="3.9"),
    "1.27.16": KubeadmImageTags(etcd="3.5.12-0", coredns="v1.10.1", pause="3.9"),
    "1.28.15": KubeadmImageTags(etcd="3.5.15-0", coredns="v1.10.1", pause="3.9"),
    "1.29.15": KubeadmImageTags(etcd="3.5.16-0", coredns="v1.11.1", pause="3.9"),
    "1.30.14": KubeadmImageTags(etcd="3.5.15-0", coredns="v1.11.3", pause="3.9"),
    "1.31.14": KubeadmImageTags(etcd="3.5.24-0", coredns="v1.11.3", pause="3.10"),
    "1.32.13": KubeadmImageTags(etcd="3.5.24-0", coredns="v1.11.3", pause="3.10"),
    "1.33.13": KubeadmImageTags(etcd="3.5.24-0", coredns="v1.12.0", pause="3.10"),
    "1.34.6": KubeadmImageTags(etcd="3.6.6-0", coredns="v1.12.1", pause="3.10.1"),
    "1.35.3": KubeadmImageTags(etcd="3.6.6-0", coredns="v1.13.1", pause="3.10.1"),
}


@dataclass(frozen=True)
class Since:
    """A fact that holds from `first` up to (not including) `until` Kubernetes minors."""

    name: str
    first: str
    until: str | None = None

    def holds_for(self, version: Version) -> bool:
        if version < Version.parse(self.first):
            return False
        return self.until is None or version < Version.parse(self.until)


# `[Global]` keys of the CCM's gcfg cloud config (pkg/providers/v1/config/config.go).
# A key a release does not know is fatal at start-up in releases before the patches in
# UNKNOWN_KEY_TOLERATED_FROM, so the renderer must only emit keys of this table.
CLOUD_CONFIG_KEYS: tuple[Since, ...] = (
    Since("Zone", "1.20"),
    Since("VPC", "1.20"),
    Since("SubnetID", "1.20"),
    Since("RouteTableID", "1.20"),
    Since("RoleARN", "1.20"),
    Since("KubernetesClusterTag", "1.20"),
    Since("KubernetesClusterID", "1.20"),
    Since("DisableSecurityGroupIngress", "1.20"),
    Since("ElbSecurityGroup", "1.20"),
    Since("DisableStrictZoneCheck", "1.20", until="1.28"),
    Since("NodeIPFamilies", "1.22"),
    Since("Region", "1.28"),
    Since("SourceARN", "1.29"),
    Since("ClusterServiceLoadBalancerHealthProbeMode", "1.33"),
    Since("ClusterServiceSharedLoadBalancerHealthProbePort", "1.33"),
    Since("ClusterServiceSharedLoadBalancerHealthProbePath", "1.33"),
    Since("SupportedTopologyInstanceTypePattern", "1.33"),
    Since("NLBSecurityGroupMode", "1.35"),
)

# The first CCM patch of each minor that only warns about an unknown cloud-config key.
UNKNOWN_KEY_TOLERATED_FROM: dict[str, str] = {
    "1.23": "1.23.18",
    "1.24": "1.24.16",
    "1.25": "1.25.12",
    "1.26": "1.26.7",
    "1.27": "1.27.3",
    "1.28": "1.28.2",
    "1.29": "1.29.0",
}

# Kubernetes minors whose CCM reads Secrets in kube-system (and so needs a Role for them): none.
# With --use-service-account-credentials every release of the matrix builds its controllers'
# clients with k8s.io/controller-manager's dynamic client builder, which asks the TokenRequest API
# (serviceaccounts get/create, serviceaccounts/token create) instead of reading token Secrets; read
# in cloud-provider-aws v1.21.3, v1.22.8, v1.23.20, v1.24.19 and v1.35.2 and the k8s.io/cloud-provider
# they vendor. docs/reference/flags-and-rbac.md, "Secrets".
CCM_READS_SECRETS: tuple[Since, ...] = ()

# The CCM's AWS calls, read from cloud-provider-aws at every matrix tag (docs/reference/ccm-aws-calls.md;
# the call-by-call table with file:line is tools/iam_check/ccm_calls.py). docs/prerequisites.md also
# lists actions no code path of the CCM binary reaches — autoscaling, volumes, routes (off with
# --configure-cloud-routes=false), ec2:DescribeRegions/DescribeVpcs, kms:DescribeKey,
# elasticloadbalancing:SetSecurityGroups — and the policy grants none of them.
CCM_READ_ACTIONS: tuple[Since, ...] = (
    # ec2:DescribeNetworkInterfaces is called only for Fargate nodes, which this cluster has none of.
    Since("ec2:DescribeInstances", "1.20"),
    Since("ec2:DescribeRouteTables", "1.20"),
    Since("ec2:DescribeSecurityGroups", "1.20"),
    Since("ec2:DescribeSubnets", "1.20"),
    # Load balancer subnet discovery from v1.26 (v1.26.14 aws.go:3719).
    Since("ec2:DescribeAvailabilityZones", "1.26"),
    # Node topology labels for hpc/trn/p instance types from v1.30.10.
    Since("ec2:DescribeInstanceTopology", "1.30"),
    Since("elasticloadbalancing:DescribeListeners", "1.20"),
    Since("elasticloadbalancing:DescribeLoadBalancerAttributes", "1.20"),
    Since("elasticloadbalancing:DescribeLoadBalancerPolicies", "1.20"),
    Since("elasticloadbalancing:DescribeLoadBalancers", "1.20"),
    Since("elasticloadbalancing:DescribeTargetGroups", "1.20"),
    Since("elasticloadbalancing:DescribeTargetHealth", "1.20"),
)

# Actions that create a resource: no tag exists yet to condition on; render/iam.py names the
# resources (the cluster's VPC, the CCM's load balancer and target group names).
CCM_CREATE_ACTIONS: tuple[Since, ...] = (
    Since("ec2:CreateSecurityGroup", "1.20"),
    Since("elasticloadbalancing:CreateLoadBalancer", "1.20"),
    Since("elasticloadbalancing:CreateTargetGroup", "1.20"),
    Since("iam:CreateServiceLinkedRole", "1.20"),
)

# Tagging: never unconditional, or the role could add the cluster tag to any resource in the
# account and so unlock every cluster-tagged action on it (render/iam.py scopes them).
CCM_TAGGING_ACTIONS: tuple[Since, ...] = (
    Since("ec2:CreateTags", "1.20"),
    Since("elasticloadbalancing:AddTags", "1.20"),
)

# Actions on resources that already exist: narrowed to the cluster's own resources by
# the `kubernetes.io/cluster/<name>` tag (kops does the same with aws:ResourceTag).
CCM_CLUSTER_TAGGED_ACTIONS: tuple[Since, ...] = (
    Since("ec2:AuthorizeSecurityGroupIngress", "1.20"),
    Since("ec2:DeleteSecurityGroup", "1.20"),
    Since("ec2:RevokeSecurityGroupIngress", "1.20"),
    Since("elasticloadbalancing:AttachLoadBalancerToSubnets", "1.20"),
    Since("elasticloadbalancing:ApplySecurityGroupsToLoadBalancer", "1.20"),
    # Classic load balancers' proxy-protocol and SSL-negotiation annotations.
    Since("elasticloadbalancing:CreateLoadBalancerPolicy", "1.20"),
    Since("elasticloadbalancing:CreateLoadBalancerListeners", "1.20"),
    Since("elasticloadbalancing:ConfigureHealthCheck", "1.20"),
    Since("elasticloadbalancing:DeleteLoadBalancer", "1.20"),
    Since("elasticloadbalancing:DeleteLoadBalancerListeners", "1.20"),
    Since("elasticloadbalancing:DetachLoadBalancerFromSubnets", "1.20"),
    Since("elasticloadbalancing:DeregisterInstancesFromLoadBalancer", "1.20"),
    Since("elasticloadbalancing:ModifyLoadBalancerAttributes", "1.20"),
    Since("elasticloadbalancing:RegisterInstancesWithLoadBalancer", "1.20"),
    Since("elasticloadbalancing:SetLoadBalancerPoliciesForBackendServer", "1.20"),
    Since("elasticloadbalancing:CreateListener", "1.20"),
    Since("elasticloadbalancing:DeleteListener", "1.20"),
    Since("elasticloadbalancing:DeleteTargetGroup", "1.20"),
    Since("elasticloadbalancing:ModifyListener", "1.20"),
    Since("elasticloadbalancing:ModifyTargetGroup", "1.20"),
    Since("elasticloadbalancing:RegisterTargets", "1.20"),
    Since("elasticloadbalancing:DeregisterTargets", "1.20"),
    Since("elasticloadbalancing:SetLoadBalancerPoliciesOfListener", "1.20"),
)


@dataclass(frozen=True)
class SinceCcmPatch:
    """A fact about CCM releases that starts at a patch of some minors (backports), then holds for
    every patch of `all_from` and later minors."""

    name: str
    first_patch: tuple[str, ...]
    """The first CCM tag with it in each minor before `all_from`, e.g. v1.33.3."""
    all_from: str

    def holds_for(self, ccm: Version) -> bool:
        if ccm >= Version.parse(self.all_from):
            return True
        firsts = {Version.parse(tag).minor_str: Version.parse(tag) for tag in self.first_patch}
        first = firsts.get(ccm.minor_str)
        return first is not None and ccm >= first


# The `aws-load-balancer-target-group-attributes` annotation (cloud-provider-aws commit 73428cd2):
# in v1.34.0 and v1.35.0 on, backported to v1.32.6, v1.33.3 and v1.34.2 (v1.34.1 was cut before
# the backport). Called only for Services with that annotation. docs/reference/ccm-aws-calls.md.
CCM_TARGET_GROUP_ATTRIBUTE_READS: tuple[SinceCcmPatch, ...] = (
    SinceCcmPatch("elasticloadbalancing:DescribeTargetGroupAttributes", ("v1.32.6", "v1.33.3", "v1.34.2"), "1.35"),
)
CCM_TARGET_GROUP_ATTRIBUTE_CHANGES: tuple[SinceCcmPatch, ...] = (
    SinceCcmPatch("elasticloadbalancing:ModifyTargetGroupAttributes", ("v1.32.6", "v1.33.3", "v1.34.2"), "1.35"),
)

# Tag-on-create: the create calls whose request carries the new resource's tags, so AWS also
# authorizes ec2:CreateTags / elasticloadbalancing:AddTags with `<service>:CreateAction` = the call.
# Security groups, target groups and listeners from v1.23.0 (cloud-provider-aws commits 551de69d and
# 620e81ca); load balancers in every release. docs/reference/ccm-aws-calls.md has the file:line.
CCM_EC2_TAG_ON_CREATE: tuple[Since, ...] = (Since("CreateSecurityGroup", "1.23"),)
CCM_ELB_TAG_ON_CREATE: tuple[Since, ...] = (
    Since("CreateLoadBalancer", "1.20"),
    Since("CreateTargetGroup", "1.23"),
    Since("CreateListener", "1.23"),
)
# Before v1.23.0 the CCM creates an NLB's target group untagged and tags it in a separate
# elasticloadbalancing:AddTags call (cluster tag and kubernetes.io/service-name).
CCM_TAGS_NEW_TARGET_GROUPS_SEPARATELY = Since("target groups tagged after CreateTargetGroup", "1.20", until="1.23")
# Before v1.23.0 listeners are created without tags (v1.21.3 aws_loadbalancer.go:544), yet later
# modified and deleted (:313, :553): the cluster-tag condition cannot cover them.
CCM_CREATES_UNTAGGED_LISTENERS = Since("listeners created without tags", "1.20", until="1.23")
# The tag keys the CCM puts on a target group it created (plus the keys of a Service's
# additional-resource-tags annotation, which the narrow statement for old releases does not allow).
SERVICE_NAME_TAG_KEY = "kubernetes.io/service-name"

NODE_IAM_ACTIONS: tuple[str, ...] = (
    "ec2:DescribeInstances",
    "ec2:DescribeRegions",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:BatchGetImage",
)


def select_names(table: tuple[Since, ...] | tuple[SinceCcmPatch, ...], version: Version) -> tuple[str, ...]:
    return tuple(entry.name for entry in table if entry.holds_for(version))


@dataclass(frozen=True)
class CcmIamActions:
    """The CCM's control-plane IAM actions for one release, split by how they are scoped."""

    read: tuple[str, ...]
    create: tuple[str, ...]
    tagging: tuple[str, ...]
    cluster_tagged: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.read + self.create + self.tagging + self.cluster_tagged
