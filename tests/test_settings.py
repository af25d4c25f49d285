"""Stack config validation: every bad key named with its value and what is allowed, all at once."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.settings import (
    CONFIG_KEYS,
    PROJECT,
    ApiEndpointKind,
    Architecture,
    ClusterSideSettings,
    ConfigError,
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
    parse_settings,
    read_cluster_side_settings,
    read_network_settings,
    read_node_settings,
    read_pki_settings,
    read_topology_settings,
)
from components.settings_reader import ConfigReader
from tools.offline.stackfiles import stack_config as load_stack_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def settings_with(**overrides: str) -> StackSettings:
    raw = load_stack_config("dev", overrides={f"{PROJECT}:{key}": value for key, value in overrides.items()})
    return parse_settings(raw, "dev")


def problems_of(**overrides: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        settings_with(**overrides)
    return {p.key: str(p) for p in caught.value.problems}


def test_config_keys_match_the_project_file() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == set(CONFIG_KEYS)
    for key, spec in declared.items():
        assert spec.get("description") and "default" in spec, key


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_shipped_stack_is_valid(stack: str) -> None:
    settings = parse_settings(load_stack_config(stack), stack)
    assert settings.cluster_name and settings.network.admin_cidrs


def test_unsupported_kubernetes_version_lists_the_supported_ones() -> None:
    message = problems_of(kubernetesVersion="1.99")["kubernetesVersion"]
    assert "k8s-dualstack-aws:kubernetesVersion = '1.99'" in message
    assert "1.21" in message and "1.22" in message and "1.35" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("vpcIpv4Cidr", "10.0.0.0/33", "IPv4 CIDR"),
        ("vpcIpv4Cidr", "10.0.0.1/16", "no host bits"),
        ("vpcIpv4Cidr", "10.0.0.0/8", "/16 to /28"),
        ("podIpv4Cidr", "fd00::/48", "IPv4 CIDR, not IPv6"),
        ("podIpv6Cidr", "fd00:10::/40", "/48 to /64"),
        ("serviceIpv6Cidr", "fd00:10:96::/64", "/108"),
        ("serviceIpv4Cidr", "10.0.0.0/8", "/12"),
    ],
)
def test_malformed_cidrs_name_the_key(key: str, value: str, expected: str) -> None:
    message = problems_of(**{key: value})[key]
    assert value in message and expected in message


@pytest.mark.parametrize(
    ("key", "value", "other"),
    [
        ("vpcIpv4Cidr", "10.244.0.0/16", "podIpv4Cidr"),
        ("podIpv4Cidr", "10.96.0.0/16", "serviceIpv4Cidr"),
        ("podIpv6Cidr", "fd00:10:96::/56", "serviceIpv6Cidr"),
    ],
)
def test_overlapping_cidrs_are_refused(key: str, value: str, other: str) -> None:
    problems = problems_of(**{key: value})
    assert any(other in message and "overlap" in message for message in problems.values())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("availabilityZoneCount", "1"),
        ("availabilityZoneCount", "7"),
        ("workerMinSize", "-1"),
        ("workerMaxSize", "100000"),
        ("workerDesiredCapacity", "two"),
        ("workerDesiredCapacity", "true"),
        ("controlPlaneCount", "0"),
        ("controlPlaneCount", "7"),
        ("rootVolumeSizeGib", "5"),
    ],
)
def test_numbers_out_of_range(key: str, value: str) -> None:
    assert "integer from" in problems_of(**{key: value})[key]


@pytest.mark.parametrize("value", ['["not-a-cidr"]', "[]", '["0.0.0.0/0"]', '"10.0.0.0/8"'])
def test_admin_cidrs(value: str) -> None:
    assert "adminCidrs" in problems_of(adminCidrs=value)


def test_admin_cidrs_take_both_families() -> None:
    settings = settings_with(adminCidrs='["203.0.113.7/32", "2001:db8::/64"]')
    assert [n.version for n in settings.network.admin_cidrs] == [4, 6]


def test_unknown_ip_family() -> None:
    assert "one of ipv4, ipv6" in problems_of(primaryIpFamily="ipv5")["primaryIpFamily"]


def test_ipv6_primary_needs_node_ip_families() -> None:
    assert "NodeIPFamilies" in problems_of(kubernetesVersion="1.21", primaryIpFamily="ipv6")["primaryIpFamily"]
    assert settings_with(kubernetesVersion="1.22", primaryIpFamily="ipv6").ip_families == (IpFamily.IPV6, IpFamily.IPV4)


def test_instance_type_must_match_the_ami_architecture() -> None:
    problems = problems_of(architecture="arm64")
    assert "arm64 instance type" in problems["controlPlaneInstanceType"]
    assert "workerInstanceType" in problems
    ok = settings_with(architecture="arm64", controlPlaneInstanceType="t4g.medium", workerInstanceType="m7g.large")
    assert ok.nodes.architecture is Architecture.ARM64


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [
        ("t3.medium", Architecture.AMD64),
        ("t4g.medium", Architecture.ARM64),
        ("m7gd.large", Architecture.ARM64),
        ("c7gn.xlarge", Architecture.ARM64),
        ("a1.large", Architecture.ARM64),
        ("g4dn.xlarge", Architecture.AMD64),
        ("m7i-flex.large", Architecture.AMD64),
        ("g5g.xlarge", Architecture.ARM64),
        ("t3", None),
        ("T3.large", None),
    ],
)
def test_instance_architecture(instance_type: str, arch: Architecture | None) -> None:
    assert instance_architecture(instance_type) is arch


def test_nat_gateway_and_private_subnets_go_together() -> None:
    assert "privateSubnets" in problems_of(natGateway="true")["natGateway"]
    assert "natGateway" in problems_of(privateSubnets="true")["privateSubnets"]
    assert settings_with(privateSubnets="true", natGateway="true").network.nat_gateway


def test_zones_must_belong_to_the_region_and_fit_the_vpc() -> None:
    assert (
        "zone of region us-east-1" in problems_of(availabilityZones='["eu-west-1a", "us-east-1b"]')["availabilityZones"]
    )
    assert "subnetIpv4PrefixLength" in problems_of(
        vpcIpv4Cidr="10.0.0.0/24", subnetIpv4PrefixLength="25", availabilityZoneCount="3"
    )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(kubernetesVersion="1.99", vpcIpv4Cidr="10.0.0.0/33", workerMaxSize="-3", clusterName="Bad_Name")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"kubernetesVersion", "vpcIpv4Cidr", "workerMaxSize", "clusterName"}
    assert str(caught.value).count("\n  - ") == 4


def test_certificate_validity_cannot_outlive_the_ca() -> None:
    assert "caValidityHours" in problems_of(caValidityHours="100", certValidityHours="200")["certValidityHours"]


# What Pulumi.yaml's defaults give; each shipped stack differs from them only where noted below.
DEFAULT_NETWORK = NetworkSettings(
    availability_zone_count=2,
    availability_zones=(),
    vpc_ipv4_cidr=ipaddress.IPv4Network("10.0.0.0/16"),
    subnet_ipv4_prefix_length=20,
    private_subnets=False,
    nat_gateway=False,
    pod_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.244.0.0/16"), ipaddress.IPv6Network("fd00:10:244::/48")),
    service_cidrs=DualStackCidrs(ipaddress.IPv4Network("10.96.0.0/16"), ipaddress.IPv6Network("fd00:10:96::/112")),
    admin_cidrs=(ipaddress.IPv4Network("192.0.2.0/24"), ipaddress.IPv6Network("2001:db8:100::/48")),
)
DEFAULT_NODES = NodeSettings(
    architecture=Architecture.AMD64,
    control_plane_instance_type="t3.medium",
    worker_instance_type="t3.medium",
    root_volume_size_gib=30,
    ami_id=None,
    control_plane_user_data=ControlPlaneUserData.IGNORE,
)
# One control plane behind an Elastic IP and a fixed pool of two workers: the stacks before the
# production topology, unchanged.
DEFAULT_TOPOLOGY = TopologySettings(
    control_plane_count=1,
    api_endpoint=ApiEndpointKind.ELASTIC_IP,
    workers=WorkerScaling(min_size=2, max_size=2, desired_capacity=2),
)
DEFAULT_PKI = PkiSettings(ca_validity_hours=87600, cert_validity_hours=8760)
DEFAULT_CLUSTER_SIDE = ClusterSideSettings(ccm_image=None, smoke_workload=False)

EXPECTED_BY_STACK: dict[str, dict[str, object]] = {
    "dev": {
        "network": DEFAULT_NETWORK,
        "topology": DEFAULT_TOPOLOGY,
        "nodes": DEFAULT_NODES,
        "pki": DEFAULT_PKI,
        "cluster_side": dataclasses.replace(DEFAULT_CLUSTER_SIDE, smoke_workload=True),
    },
    "k8s-1-21": {
        "network": DEFAULT_NETWORK,
        "topology": DEFAULT_TOPOLOGY,
        "nodes": DEFAULT_NODES,
        "pki": DEFAULT_PKI,
        "cluster_side": DEFAULT_CLUSTER_SIDE,
    },
    "k8s-1-22": {
        "network": DEFAULT_NETWORK,
        "topology": DEFAULT_TOPOLOGY,
        "nodes": DEFAULT_NODES,
        "pki": DEFAULT_PKI,
        "cluster_side": DEFAULT_CLUSTER_SIDE,
    },
    "k8s-1-35": {
        "network": dataclasses.replace(DEFAULT_NETWORK, availability_zone_count=3),
        "topology": DEFAULT_TOPOLOGY,
        "nodes": DEFAULT_NODES,
        "pki": DEFAULT_PKI,
        "cluster_side": DEFAULT_CLUSTER_SIDE,
    },
    "prod": {
        "network": dataclasses.replace(DEFAULT_NETWORK, availability_zone_count=3),
        "topology": TopologySettings(
            control_plane_count=3,
            api_endpoint=ApiEndpointKind.NLB,
            workers=WorkerScaling(min_size=3, max_size=9, desired_capacity=3),
        ),
        "nodes": dataclasses.replace(
            DEFAULT_NODES,
            control_plane_instance_type="m6i.large",
            worker_instance_type="m6i.large",
            root_volume_size_gib=50,
        ),
        "pki": DEFAULT_PKI,
        "cluster_side": DEFAULT_CLUSTER_SIDE,
    },
}

CONCERN_READERS: dict[str, Callable[[ConfigReader], object]] = {
    "network": lambda read: read_network_settings(read, "us-east-1", read_topology_settings(read)),
    "topology": read_topology_settings,
    "nodes": read_node_settings,
    "pki": read_pki_settings,
    "cluster_side": read_cluster_side_settings,
}


@pytest.mark.parametrize("concern", sorted(CONCERN_READERS))
@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_concern_reader_returns_its_typed_settings_for_every_shipped_stack(stack: str, concern: str) -> None:
    read = ConfigReader(load_stack_config(stack))
    concern_settings = CONCERN_READERS[concern](read)
    assert read.problems == []
    assert concern_settings == EXPECTED_BY_STACK[stack][concern]
    # parse_settings composes exactly what the concern reader returns.
    assert getattr(parse_settings(load_stack_config(stack), stack), concern) == concern_settings


@pytest.mark.parametrize(
    ("stack", "release_minor", "families", "ssm_prefix"),
    [
        ("dev", "1.22", (IpFamily.IPV4, IpFamily.IPV6), "/k8s-dualstack-aws/dev"),
        ("k8s-1-21", "1.21", (IpFamily.IPV4, IpFamily.IPV6), "/k8s-dualstack-aws/k8s-1-21"),
        ("k8s-1-22", "1.22", (IpFamily.IPV4, IpFamily.IPV6), "/k8s-dualstack-aws/k8s-1-22"),
        ("k8s-1-35", "1.35", (IpFamily.IPV6, IpFamily.IPV4), "/k8s-dualstack-aws/k8s-1-35"),
        ("prod", "1.35", (IpFamily.IPV4, IpFamily.IPV6), "/k8s-dualstack-aws/prod"),
    ],
)
def test_the_shared_identity_of_each_shipped_stack_sits_on_the_stack_settings(
    stack: str, release_minor: str, families: tuple[IpFamily, IpFamily], ssm_prefix: str
) -> None:
    settings = parse_settings(load_stack_config(stack), stack)
    assert (settings.stack, settings.cluster_name, settings.region) == (stack, stack, "us-east-1")
    assert settings.release.minor == release_minor
    assert settings.ip_families == families
    assert settings.ssm_prefix == ssm_prefix
    assert settings.effective_ccm_image == settings.release.ccm_image


def test_an_explicit_ccm_image_overrides_the_release_one() -> None:
    image = "registry.k8s.io/provider-aws/cloud-controller-manager:v1.22.9"
    settings = settings_with(ccmImage=image, amiId="ami-0123456789abcdef0")
    assert settings.cluster_side.ccm_image == settings.effective_ccm_image == image
    assert settings.nodes.ami_id == "ami-0123456789abcdef0"


# One bad key per concern (and two for some), all in one config: (key, value set, value reported, allowed text).
BAD_KEYS_ACROSS_CONCERNS: list[tuple[str, str | None, object, str]] = [
    ("kubernetesVersion", "1.99", "1.99", "one of 1.21, "),
    ("clusterName", "Bad_Name", "Bad_Name", "lowercase letters, digits and '-'"),
    ("vpcIpv4Cidr", "10.0.0.0/8", "10.0.0.0/8", "a prefix length from /16 to /28"),
    ("natGateway", "maybe", "maybe", "true or false"),
    ("podIpv6Cidr", "fd00:10::/40", "fd00:10::/40", "a prefix from /48 to /64"),
    ("architecture", "riscv", "riscv", "one of amd64, arm64"),
    ("workerInstanceType", None, None, "missing; Pulumi.yaml declares a default"),
    ("rootVolumeSizeGib", "5", 5, "an integer from 20 to 16384"),
    ("amiId", "ami-XYZ", "ami-XYZ", "an AMI ID such as ami-0123456789abcdef0"),
    ("caValidityHours", "1", 1, "an integer from 24 to 262800"),
    ("ccmImage", "not an image", "not an image", "a registry/repository:tag image reference"),
    ("smokeWorkload", "yes", "yes", "true or false"),
    ("controlPlaneCount", "2", 2, "1, 3 or 5"),
    ("workerDesiredCapacity", "many", "many", "an integer from 0 to 1000"),
]


def test_bad_keys_across_every_concern_are_reported_together_with_value_and_allowed_text() -> None:
    raw = load_stack_config("dev", overrides={key: value for key, value, _, _ in BAD_KEYS_ACROSS_CONCERNS})
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw, "dev")
    problems = caught.value.problems
    assert sorted(p.key for p in problems) == sorted(key for key, _, _, _ in BAD_KEYS_ACROSS_CONCERNS)
    by_key = {p.key: p for p in problems}
    for key, _, reported, allowed in BAD_KEYS_ACROSS_CONCERNS:
        assert by_key[key].value == reported, key
        assert allowed in by_key[key].allowed, key
        assert f"  - {PROJECT}:{key} = {reported!r}: allowed is " in str(caught.value)
    assert f"({len(BAD_KEYS_ACROSS_CONCERNS)} problem(s))" in str(caught.value)


ZONES = '["us-east-1a", "us-east-1b"]'
THREE_ZONES = '["us-east-1a", "us-east-1b", "us-east-1d"]'
EGRESS = {"privateSubnets": "true", "natGateway": "true"}


# (what the check spans, bad config, the same config made good, key reported, allowed text)
CROSS_CONCERN_CHECKS: list[tuple[str, dict[str, str], dict[str, str], str, str]] = [
    (
        "pod CIDR vs the most workers and the control planes",
        {"workerMaxSize": "254", "controlPlaneCount": "3", "apiEndpoint": "nlb", "availabilityZoneCount": "3"},
        {"workerMaxSize": "253", "controlPlaneCount": "3", "apiEndpoint": "nlb", "availabilityZoneCount": "3"},
        "podIpv4Cidr",
        "room for 257 node /24",
    ),
    (
        "several control planes vs the Elastic IP",
        {"controlPlaneCount": "3", "availabilityZoneCount": "3"},
        {"controlPlaneCount": "3", "availabilityZoneCount": "3", "apiEndpoint": "nlb"},
        "apiEndpoint",
        "nlb when controlPlaneCount is 3: an Elastic IP reaches one control plane",
    ),
    (
        "control planes vs zones",
        {"controlPlaneCount": "3", "apiEndpoint": "nlb"},
        {"controlPlaneCount": "3", "apiEndpoint": "nlb", "availabilityZones": THREE_ZONES},
        "controlPlaneCount",
        "at most the 2 zones of availabilityZoneCount/availabilityZones: one control plane per zone",
    ),
    (
        "worker minimum vs maximum",
        {"workerMinSize": "5", "workerMaxSize": "3", "workerDesiredCapacity": "4"},
        {"workerMinSize": "3", "workerMaxSize": "5", "workerDesiredCapacity": "4"},
        "workerMinSize",
        "at most workerMaxSize (3)",
    ),
    (
        "desired workers vs minimum and maximum",
        {"workerMinSize": "1", "workerMaxSize": "3", "workerDesiredCapacity": "4"},
        {"workerMinSize": "1", "workerMaxSize": "4", "workerDesiredCapacity": "4"},
        "workerDesiredCapacity",
        "from workerMinSize (1) to workerMaxSize (3)",
    ),
    (
        "primary family vs release",
        {"kubernetesVersion": "1.21", "primaryIpFamily": "ipv6"},
        {"kubernetesVersion": "1.22", "primaryIpFamily": "ipv6"},
        "primaryIpFamily",
        "ipv4 for Kubernetes 1.21: its CCM has no NodeIPFamilies",
    ),
    (
        "instance type vs architecture",
        {"architecture": "arm64", "controlPlaneInstanceType": "t4g.medium"},
        {"architecture": "arm64", "controlPlaneInstanceType": "t4g.medium", "workerInstanceType": "m7g.large"},
        "workerInstanceType",
        "an arm64 instance type to match architecture=arm64",
    ),
    ("NAT without private subnets", {"natGateway": "true"}, EGRESS, "natGateway", "only together with privateSubnets"),
    ("private subnets without NAT", {"privateSubnets": "true"}, EGRESS, "privateSubnets", "only with natGateway"),
    (
        "subnet prefix vs zone count and tiers",
        {"vpcIpv4Cidr": "10.0.0.0/24", "subnetIpv4PrefixLength": "26", "availabilityZoneCount": "3", **EGRESS},
        {"vpcIpv4Cidr": "10.0.0.0/24", "subnetIpv4PrefixLength": "26", "availabilityZoneCount": "3"},
        "subnetIpv4PrefixLength",
        "each of 3 zones a subnet per tier inside 10.0.0.0/24",
    ),
    (
        "zones vs region",
        {"aws:region": "eu-west-1", "availabilityZones": ZONES},
        {"aws:region": "us-east-1", "availabilityZones": ZONES},
        "availabilityZones",
        "a zone of region eu-west-1",
    ),
    (
        "certificate vs CA validity",
        {"caValidityHours": "100", "certValidityHours": "200"},
        {"caValidityHours": "200", "certValidityHours": "200"},
        "certValidityHours",
        "at most caValidityHours (100)",
    ),
]


@pytest.mark.parametrize(
    ("bad", "good", "key", "allowed"),
    [pytest.param(*row[1:], id=row[0]) for row in CROSS_CONCERN_CHECKS],
)
def test_checks_that_span_keys_refuse_the_bad_combination_and_accept_the_good_one(
    bad: dict[str, str], good: dict[str, str], key: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(load_stack_config("dev", overrides=bad), "dev")
    # Only the key the combination breaks, once per bad entry (each wrong zone is its own problem).
    assert {p.key for p in caught.value.problems} == {key}
    assert all(allowed in p.allowed for p in caught.value.problems)
    parse_settings(load_stack_config("dev", overrides=good), "dev")


def test_a_bad_worker_size_skips_the_pod_capacity_check_but_is_itself_reported() -> None:
    problems = problems_of(workerMaxSize="-1", podIpv4Cidr="10.244.0.0/24")
    assert set(problems) == {"workerMaxSize"}


@pytest.mark.parametrize("count", ["2", "4"])
def test_an_even_number_of_control_planes_is_refused(count: str) -> None:
    message = problems_of(controlPlaneCount=count, apiEndpoint="nlb", availabilityZoneCount="5")["controlPlaneCount"]
    assert f"controlPlaneCount = {count}: allowed is 1, 3 or 5" in message


def test_one_control_plane_may_sit_behind_the_load_balancer_too() -> None:
    settings = settings_with(apiEndpoint="nlb")
    assert (settings.topology.control_plane_count, settings.topology.api_endpoint) == (1, ApiEndpointKind.NLB)


def test_an_unknown_api_endpoint_names_the_choices() -> None:
    assert "one of elastic-ip, nlb" in problems_of(apiEndpoint="alb")["apiEndpoint"]


@pytest.mark.parametrize("value", ["3", "0"])
def test_the_removed_worker_count_key_names_its_replacements(value: str) -> None:
    # As a stack file that still sets it reaches the program (tools/offline/stackfiles.py passes every
    # key of the stack file, declared or not, as the engine does).
    with pytest.raises(ConfigError) as caught:
        parse_settings(load_stack_config("dev", overrides={f"{PROJECT}:workerCount": value}), "dev")
    (problem,) = caught.value.problems
    assert problem.key == "workerCount" and problem.value == int(value)
    for replacement in ("workerMinSize", "workerMaxSize", "workerDesiredCapacity"):
        assert replacement in problem.allowed
    assert f"{PROJECT}:workerCount = {value}: allowed is nothing: workerCount was removed" in str(caught.value)


def test_a_stack_file_that_still_sets_worker_count_fails_with_the_rename(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.old.yaml").write_text(
        (ROOT / "Pulumi.dev.yaml").read_text() + "  k8s-dualstack-aws:workerCount: 4\n", encoding="utf-8"
    )
    raw = load_stack_config("old", tmp_path)
    assert raw[f"{PROJECT}:workerCount"] == "4"
    with pytest.raises(ConfigError, match=r"k8s-dualstack-aws:workerCount = 4: allowed is nothing: workerCount was"):
        parse_settings(raw, "old")
