"""CiliumCni: the Cilium Helm release, dual-stack with Kubernetes IPAM, in its chart's values schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.render.cilium import HELM_REPOSITORY, cilium_values
from components.versions import CiliumChart, CiliumValuesSchema

NAMESPACE = "kube-system"


@dataclass(frozen=True)
class CiliumCniArgs:
    chart: CiliumChart
    """The release row's pinned chart; its values schema decides how the values are spelled."""
    api_server_host: pulumi.Input[str]
    """The API server's host (the first control plane's fixed address, or the API load balancer's DNS
    name; port separate): the agent needs the API server before the kubernetes Service works (there
    is no kube-proxy rule for it until a CNI runs)."""
    api_server_port: int
    provider: k8s.Provider

    def __post_init__(self) -> None:
        # Caught here rather than as a crash-looping agent on a cluster that took minutes to boot.
        if isinstance(self.api_server_host, str) and not self.api_server_host.strip():
            raise ValueError("CiliumCniArgs.api_server_host is empty: the agent could not reach the API server")
        if not 0 < self.api_server_port < 65536:
            raise ValueError(f"CiliumCniArgs.api_server_port = {self.api_server_port}: allowed is 1-65535")


class CiliumCni(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    """The Helm release in kube-system, chart version pinned by the release row."""
    chart_version: str
    """The pinned chart version, known at plan time."""
    values_schema: CiliumValuesSchema
    """The values schema the release was rendered for, known at plan time."""

    def __init__(self, name: str, args: CiliumCniArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:cni:CiliumCni", name, None, opts)
        self.chart_version = args.chart.version
        self.values_schema = args.chart.values_schema
        self.release = k8s.helm.v3.Release(
            name,
            chart="cilium",
            version=self.chart_version,
            namespace=NAMESPACE,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=HELM_REPOSITORY),
            values=self._values(args),
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )
        self.register_outputs(
            {
                "release": self.release.urn,
                "chartVersion": self.chart_version,
                "valuesSchema": self.values_schema.value,
            }
        )

    def _values(self, args: CiliumCniArgs) -> pulumi.Input[dict[str, Any]]:
        """The chart values; a host known only later (a load balancer's name) is applied at this edge."""
        if isinstance(args.api_server_host, str):
            return cilium_values(self.values_schema, args.api_server_host, args.api_server_port)
        host: pulumi.Output[str] = pulumi.Output.from_input(args.api_server_host)
        return host.apply(lambda known: cilium_values(self.values_schema, known, args.api_server_port))
