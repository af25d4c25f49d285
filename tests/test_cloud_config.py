"""The CCM cloud config per release: only known keys, NodeIPFamilies one per line in order."""

from __future__ import annotations

import configparser
from typing import Any

import pytest

from components.render.cloud_config import ServiceOverride, render_cloud_config
from components.settings import IpFamily
from components.versions import RELEASES, Release, release_for

V4_FIRST = (IpFamily.IPV4, IpFamily.IPV6)
V6_FIRST = (IpFamily.IPV6, IpFamily.IPV4)


def render(release: Release, families: tuple[IpFamily, IpFamily] = V4_FIRST, **kwargs: Any) -> str:
    return render_cloud_config(
        release, cluster_name="dev", zone="us-east-1a", region="us-east-1", ip_families=families, **kwargs
    )


def global_lines(text: str) -> list[tuple[str, str]]:
    section = text.split("\n\n", 1)[0].splitlines()
    assert section[0] == "[Global]"
    return [tuple(part.strip() for part in line.split("=", 1)) for line in section[1:]]  # type: ignore[misc]


@pytest.mark.parametrize("release", RELEASES, ids=[r.minor for r in RELEASES])
@pytest.mark.parametrize("families", [V4_FIRST, V6_FIRST], ids=["ipv4-first", "ipv6-first"])
def test_every_key_is_known_to_the_release(release: Release, families: tuple[IpFamily, IpFamily]) -> None:
    lines = global_lines(render(release, families))
    assert {key for key, _ in lines} <= release.cloud_config_keys
    assert ("Zone", "us-east-1a") in lines and ("KubernetesClusterID", "dev") in lines
    assert (("Region", "us-east-1") in lines) == release.at_least("1.28")
    node_ip_families = [value for key, value in lines if key == "NodeIPFamilies"]
    if release.at_least("1.22"):
        assert node_ip_families == [family.value for family in families]
    else:
        assert node_ip_families == []


def test_1_21_has_no_node_ip_families_and_1_22_has_one_line_per_family() -> None:
    assert "NodeIPFamilies" not in render(release_for("1.21"))
    text = render(release_for("1.22"), V6_FIRST)
    assert "NodeIPFamilies = ipv6\nNodeIPFamilies = ipv4\n" in text
    assert "ipv4,ipv6" not in text and "ipv6,ipv4" not in text


def test_service_overrides_are_sections_gcfg_style() -> None:
    text = render(
        release_for("1.35"),
        service_overrides=[
            ServiceOverride("ec2", "us-east-1", "http://127.0.0.1:5000", "us-east-1"),
            ServiceOverride("sts", "us-east-1", "http://127.0.0.1:5000", "us-east-1", signing_name="sts"),
        ],
    )
    parser = configparser.ConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    assert parser['ServiceOverride "2"']["Service"] == "sts"
    assert parser['ServiceOverride "1"']["URL"] == "http://127.0.0.1:5000"
    assert "SigningName" not in parser['ServiceOverride "1"']
    assert parser['ServiceOverride "2"']["SigningName"] == "sts"
