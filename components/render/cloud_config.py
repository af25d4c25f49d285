"""The CCM's `--cloud-config` file (gcfg INI) for one release.

Only keys the release knows are written: before v1.23.18 / v1.24.16 / ... / v1.29.0 an
unknown key stops the CCM at start-up ("can't store data at section "Global", variable
"NodeIPFamilies"" in the field report). `NodeIPFamilies` is multi-valued: one line per
family, in address order; `ipv4,ipv6` on one line is a single value matching nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.settings import IpFamily
from components.versions import Release


@dataclass(frozen=True)
class ServiceOverride:
    """A `[ServiceOverride "N"]` section: send one AWS service's calls to another endpoint."""

    service: str
    region: str
    url: str
    signing_region: str
    signing_name: str | None = None
    """SigV4 service name; without it newer CCMs sign the overridden calls with an empty one."""


class UnknownCloudConfigKeyError(ValueError):
    pass


def cloud_config_entries(
    release: Release, *, cluster_name: str, zone: str, region: str, ip_families: Sequence[IpFamily]
) -> list[tuple[str, str]]:
    """The `[Global]` entries, in file order."""
    entries = [("Zone", zone)]
    if "Region" in release.cloud_config_keys:
        entries.append(("Region", region))
    entries.append(("KubernetesClusterID", cluster_name))
    if release.supports_node_ip_families:
        entries.extend(("NodeIPFamilies", family.value) for family in ip_families)
    unknown = sorted({key for key, _ in entries} - release.cloud_config_keys)
    if unknown:
        raise UnknownCloudConfigKeyError(f"CCM {release.ccm_tag} does not know {unknown}")
    return entries


def render_cloud_config(
    release: Release,
    *,
    cluster_name: str,
    zone: str,
    region: str,
    ip_families: Sequence[IpFamily],
    service_overrides: Sequence[ServiceOverride] = (),
) -> str:
    lines = ["[Global]"]
    lines += [
        f"{key} = {value}"
        for key, value in cloud_config_entries(
            release, cluster_name=cluster_name, zone=zone, region=region, ip_families=ip_families
        )
    ]
    for index, override in enumerate(service_overrides, start=1):
        lines += [
            "",
            f'[ServiceOverride "{index}"]',
            f"Service = {override.service}",
            f"Region = {override.region}",
            f"URL = {override.url}",
            f"SigningRegion = {override.signing_region}",
        ]
        if override.signing_name:
            lines.append(f"SigningName = {override.signing_name}")
    return "\n".join(lines) + "\n"
