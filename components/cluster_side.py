"""The cluster side: readiness gate, Kubernetes provider, CCM, CNI and the smoke workload."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.ccm import AwsCloudControllerManager, AwsCloudControllerManagerArgs
from components.k8s_objects import create_object
from components.network_plan import API_SERVER_PORT
from components.readiness import ApiServerReady
from components.render.cilium import HELM_REPOSITORY, cilium_values
from components.render.kubeconfig import render_kubeconfig
from components.render.smoke import smoke_manifests
from components.settings import StackSettings


@dataclass(frozen=True)
class ClusterAccessArgs:
    cluster_name: str
    endpoint: pulumi.Input[str]
    """`https://host:6443` where pulumi reaches the API server."""
    cluster_ca_cert_pem: pulumi.Input[str]
    admin_cert_pem: pulumi.Input[str]
    admin_key_pem: pulumi.Input[str]
    control_plane: pulumi.Resource
    """The control-plane instance: the gate waits for it as well as for its answer."""


class ClusterAccess(pulumi.ComponentResource):
    ready: ApiServerReady
    provider: k8s.Provider
    """Every Kubernetes object uses it; it depends on the readiness gate."""
    kubeconfig: pulumi.Output[str]
    """Secret: admin kubeconfig."""

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:cluster:ClusterAccess", name, None, opts)
        self.ready = ApiServerReady(
            f"{name}-api-ready",
            endpoint=args.endpoint,
            ca_cert_pem=args.cluster_ca_cert_pem,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.control_plane]),
        )
        # The server comes from the gate's output, so the provider cannot be configured
        # before the API server has answered.
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.ready.endpoint, args.cluster_ca_cert_pem, args.admin_cert_pem, args.admin_key_pem
            ).apply(lambda values: render_kubeconfig(args.cluster_name, *values))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready]),
        )
        self.register_outputs({"endpoint": self.ready.endpoint})


class CiliumCni(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    """The Helm release, chart version pinned by the release row."""

    def __init__(
        self,
        name: str,
        chart_version: str,
        api_server_host: str,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("k8sdualstack:cni:CiliumCni", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart="cilium",
            version=chart_version,
            namespace="kube-system",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=HELM_REPOSITORY),
            values=cilium_values(chart_version, api_server_host, API_SERVER_PORT),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.register_outputs({"chartVersion": chart_version})


class SmokeWorkload(pulumi.ComponentResource):
    objects: list[pulumi.CustomResource]

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        provider: k8s.Provider,
        after: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("k8sdualstack:smoke:SmokeWorkload", name, None, opts)
        namespace, *namespaced = smoke_manifests(settings.architecture, settings.ip_families)
        created_namespace = create_object(name, namespace, pulumi.ResourceOptions(parent=self, provider=provider))
        self.objects = [created_namespace]
        for manifest in namespaced:
            # Pods need the CNI and initialised nodes; the Service only its namespace.
            needs = [created_namespace, *after] if manifest["kind"] == "Deployment" else [created_namespace]
            self.objects.append(
                create_object(
                    name,
                    manifest,
                    pulumi.ResourceOptions(
                        parent=self,
                        provider=provider,
                        depends_on=needs,
                    ),
                )
            )
        self.register_outputs({})


def install_cluster_side(
    settings: StackSettings,
    access: ClusterAccess,
    *,
    zone: str,
    api_server_host: str,
    cluster_ca_cert_pem: pulumi.Input[str],
    front_proxy_ca_cert_pem: pulumi.Input[str],
) -> AwsCloudControllerManager:
    """CCM and Cilium side by side (each needs the other for a Ready node), the smoke workload last."""
    name = settings.cluster_name
    ccm = AwsCloudControllerManager(
        f"{name}-ccm",
        AwsCloudControllerManagerArgs(
            release=settings.release,
            cluster_name=name,
            region=settings.region,
            zone=zone,
            ip_families=settings.ip_families,
            image=settings.effective_ccm_image,
            cluster_ca_cert_pem=cluster_ca_cert_pem,
            front_proxy_ca_cert_pem=front_proxy_ca_cert_pem,
            provider=access.provider,
        ),
    )
    cni = CiliumCni(f"{name}-cilium", settings.release.cilium_chart_version, api_server_host, access.provider)
    if settings.smoke_workload:
        SmokeWorkload(f"{name}-smoke", settings, access.provider, after=[cni.release, *ccm.objects])
    return ccm
