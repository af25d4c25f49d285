"""The Cilium values schema is release-matrix data, and the renderer spells each schema right.

Pure tests: no engine. The components that use them are tested in test_cluster_side.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from components.render.cilium import cilium_values
from components.versions import RELEASES, CiliumChart, CiliumValuesSchema, NodeIpMode, Release

RENDER = Path(__file__).resolve().parents[1] / "components" / "render"
TUNNEL = CiliumValuesSchema.TUNNEL
ROUTING = CiliumValuesSchema.ROUTING_MODE
BOOLEAN = CiliumValuesSchema.ROUTING_MODE_BOOLEAN_KPR

# Kubernetes minor -> (pinned chart, its schema): written out, not derived, so a new row or a
# chart bump has to be looked at here.
EXPECTED: dict[str, tuple[str, CiliumValuesSchema]] = {
    "1.21": ("1.13.16", TUNNEL),
    "1.22": ("1.13.16", TUNNEL),
    "1.23": ("1.13.16", TUNNEL),
    "1.24": ("1.13.16", TUNNEL),
    "1.25": ("1.13.16", TUNNEL),
    "1.26": ("1.13.16", TUNNEL),
    "1.27": ("1.15.18", ROUTING),
    "1.28": ("1.15.18", ROUTING),
    "1.29": ("1.15.18", ROUTING),
    "1.30": ("1.18.12", BOOLEAN),
    "1.31": ("1.18.12", BOOLEAN),
    "1.32": ("1.18.12", BOOLEAN),
    "1.33": ("1.18.12", BOOLEAN),
    "1.34": ("1.19.6", BOOLEAN),
    "1.35": ("1.19.6", BOOLEAN),
}

# How each schema spells VXLAN and "kube-proxy stays" (Cilium's values.yaml of each chart).
SPELLING: dict[CiliumValuesSchema, dict[str, Any]] = {
    TUNNEL: {"tunnel": "vxlan", "kubeProxyReplacement": "disabled"},
    ROUTING: {"routingMode": "tunnel", "tunnelProtocol": "vxlan", "kubeProxyReplacement": "false"},
    BOOLEAN: {"routingMode": "tunnel", "tunnelProtocol": "vxlan", "kubeProxyReplacement": False},
}
COMMON: dict[str, Any] = {
    "ipv4": {"enabled": True},
    "ipv6": {"enabled": True},
    "ipam": {"mode": "kubernetes"},
    "enableIPv4Masquerade": True,
    "enableIPv6Masquerade": True,
    "k8sServiceHost": "10.0.0.10",
    "k8sServicePort": 6443,
    "operator": {"replicas": 1},
}
EVERY_RELEASE = pytest.mark.parametrize("release", RELEASES, ids=lambda release: release.minor)


def test_expectations_cover_the_matrix() -> None:
    assert set(EXPECTED) == {release.minor for release in RELEASES}


@EVERY_RELEASE
def test_release_row_pins_a_chart_and_its_values_schema(release: Release) -> None:
    chart = release.cilium_chart
    assert (chart.version, chart.values_schema) == EXPECTED[release.minor]
    assert chart.version == release.cilium_chart_version


@EVERY_RELEASE
def test_rendered_values_follow_the_row_schema(release: Release) -> None:
    values = cilium_values(release.cilium_chart.values_schema, "10.0.0.10", 6443)
    assert values == COMMON | SPELLING[release.cilium_chart.values_schema]
    # `==` cannot tell the string "false" from False by itself: the type is the point from 1.16.
    kube_proxy_replacement = values["kubeProxyReplacement"]
    assert type(kube_proxy_replacement) is type(SPELLING[release.cilium_chart.values_schema]["kubeProxyReplacement"])
    # 1.15 removed `tunnel`: a chart that reads routingMode must not get both.
    assert ("tunnel" in values) != ("routingMode" in values)


@pytest.mark.parametrize(
    ("chart", "schema"),
    [
        ("1.9.0", TUNNEL),  # numeric, not string, order: 1.9 < 1.14
        ("1.13.16", TUNNEL),
        ("1.13.99", TUNNEL),
        ("1.14.0", ROUTING),
        ("1.15.18", ROUTING),
        ("1.15.99", ROUTING),
        ("1.16.0", BOOLEAN),
        ("1.18.12", BOOLEAN),
        ("1.19.6", BOOLEAN),
        ("v1.19.8", BOOLEAN),
    ],
)
def test_schema_boundaries(chart: str, schema: CiliumValuesSchema) -> None:
    assert CiliumChart(chart).values_schema is schema


@pytest.mark.parametrize(
    ("chart", "message"),
    [("latest", "not a version"), ("", "not a version"), ("0.9.0", "older than every known values schema")],
)
def test_unusable_chart_is_refused_with_its_value(chart: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CiliumChart(chart)


def test_chart_schema_cannot_be_set_apart_from_the_version() -> None:
    with pytest.raises(TypeError):
        CiliumChart("1.13.16", values_schema=BOOLEAN)  # type: ignore[call-arg]


def test_row_without_a_chart_names_its_minor() -> None:
    row = Release(kubernetes_version="1.99.0", ccm_tag="v1.99.0", node_ip_mode=NodeIpMode.DUAL, ubuntu_release="24.04")
    with pytest.raises(ValueError, match=re.escape("release 1.99 names no cilium_chart_version")):
        _ = row.cilium_chart


def _version_gates(path: Path) -> list[str]:
    """Places where a renderer decides by version itself instead of asking the matrix."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "Version" for alias in node.names):
            found.append(f"{path.name}:{node.lineno}: imports Version")
        elif isinstance(node, ast.Name) and node.id == "Version":
            found.append(f"{path.name}:{node.lineno}: uses Version")
        elif isinstance(node, ast.Attribute) and node.attr == "at_least":
            found.append(f"{path.name}:{node.lineno}: calls at_least")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            names = {operand.attr for operand in operands if isinstance(operand, ast.Attribute)}
            if names & {"version", "minor", "kubernetes_version", "cilium_chart_version", "ccm_tag"}:
                found.append(f"{path.name}:{node.lineno}: compares {sorted(names)}")
    return found


def test_renderers_ask_the_release_matrix_instead_of_comparing_versions() -> None:
    modules = sorted(RENDER.glob("*.py"))
    assert modules, RENDER
    assert [gate for path in modules for gate in _version_gates(path)] == []


def test_version_gate_finder_finds_gates(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from components.versions import Version\n"
        "def f(release):\n"
        "    return release.at_least('1.24') or release.version < Version(1, 14) or release.minor == '1.21'\n"
    )
    assert len(_version_gates(sample)) == 5
