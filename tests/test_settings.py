"""Stack config validation: every bad key named with its value and what is allowed, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.settings import (
    CONFIG_KEYS,
    PROJECT,
    Architecture,
    ConfigError,
    IpFamily,
    StackSettings,
    instance_architecture,
    parse_settings,
)
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
    assert settings.cluster_name and settings.admin_cidrs


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
        ("workerCount", "-1"),
        ("workerCount", "100000"),
        ("workerCount", "two"),
        ("workerCount", "true"),
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
    assert [n.version for n in settings.admin_cidrs] == [4, 6]


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
    assert ok.architecture is Architecture.ARM64


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
    assert settings_with(privateSubnets="true", natGateway="true").nat_gateway


def test_zones_must_belong_to_the_region_and_fit_the_vpc() -> None:
    assert (
        "zone of region us-east-1" in problems_of(availabilityZones='["eu-west-1a", "us-east-1b"]')["availabilityZones"]
    )
    assert "subnetIpv4PrefixLength" in problems_of(
        vpcIpv4Cidr="10.0.0.0/24", subnetIpv4PrefixLength="25", availabilityZoneCount="3"
    )


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(kubernetesVersion="1.99", vpcIpv4Cidr="10.0.0.0/33", workerCount="-3", clusterName="Bad_Name")
    keys = {p.key for p in caught.value.problems}
    assert keys == {"kubernetesVersion", "vpcIpv4Cidr", "workerCount", "clusterName"}
    assert str(caught.value).count("\n  - ") == 4


def test_certificate_validity_cannot_outlive_the_ca() -> None:
    assert "caValidityHours" in problems_of(caValidityHours="100", certValidityHours="200")["certValidityHours"]
