"""The cluster side: readiness gate and Kubernetes provider (`ClusterAccess`), then the CCM, the CNI
(`components/cni.py`) and the smoke workload (`components/smoke.py`) through `install_cluster_side`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.ccm import AwsCloudControllerManager, AwsCloudControllerManagerArgs
from components.cni import CiliumCni, CiliumCniArgs
from components.network_plan import API_SERVER_PORT
from components.readiness import ApiServerReady, ApiServerVersion
from components.render.kubeconfig import render_kubeconfig
from components.settings import IpFamily
from components.smoke import SmokeWorkload, SmokeWorkloadArgs
from components.versions import Release


@dataclass(frozen=True)
class ClusterAccessArgs:
    cluster_name: str
    endpoint: pulumi.Input[str]
    """`https://host:6443` where pulumi reaches the API server: the Elastic IP or the load balancer."""
    cluster_ca_cert_pem: pulumi.Input[str]
    admin_cert_pem: pulumi.Input[str]
    admin_key_pem: pulumi.Input[str]
    control_plane: Sequence[pulumi.Resource]
    """Every control-plane instance and what routes to them (the Elastic IP's association, or the
    load balancer's listener and target attachments): the gate waits for these as well as for an answer."""
    kubernetes_version: str
    """The release the control planes run (`1.23.17`): the version gate waits until /version says so."""
    upgrade_steps: Sequence[pulumi.Resource] = ()
    """An in-place upgrade's runs (`ControlPlaneUpgrade.steps`): the version gate waits for them."""


class ClusterAccess(pulumi.ComponentResource):
    ready: ApiServerReady
    version: ApiServerVersion
    """Every Kubernetes object waits for the API server to report the stack's version (after an
    upgrade of the control planes, the new one)."""
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.control_plane)),
        )
        self.version = ApiServerVersion(
            f"{name}-api-version",
            endpoint=args.endpoint,
            ca_cert_pem=args.cluster_ca_cert_pem,
            expected_version=f"v{args.kubernetes_version}",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready, *args.upgrade_steps]),
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
            # A cloud-config change is then an in-place update (the DaemonSet's checksum rolls the CCM);
            # otherwise the provider deletes the ConfigMap and creates it again (docs/reference/engine-tier.md).
            enable_config_map_mutable=True,
            # Only an ordering: the version gate is replaced by an upgrade, the provider must not be.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ready, self.version]),
        )
        self.register_outputs({"endpoint": self.ready.endpoint})


@dataclass(frozen=True)
class ClusterSideArgs:
    """Everything the cluster side needs from the stack, explicitly (no StackSettings)."""

    release: Release
    cluster_name: str
    region: str
    zone: str
    """The control plane's zone, where the CCM runs."""
    ip_families: tuple[IpFamily, IpFamily]
    ccm_image: str
    """The release row's published image unless the stack overrides it."""
    smoke_workload: bool
    api_server_host: pulumi.Input[str]
    """Where Cilium's agents reach the API server: the first control plane's fixed private address
    with an Elastic IP, the load balancer's DNS name with one."""
    cluster_ca_cert_pem: pulumi.Input[str]
    front_proxy_ca_cert_pem: pulumi.Input[str]
    provider: k8s.Provider
    """`ClusterAccess.provider`: every object waits for the readiness gate."""
    api_server_port: int = API_SERVER_PORT
    cilium: bool = True
    """False only where no chart repository is reachable (the engine tier, engine/program.py)."""


@dataclass(frozen=True)
class ClusterSide:
    ccm: AwsCloudControllerManager
    cni: CiliumCni | None
    """None only with `ClusterSideArgs.cilium` off."""
    smoke: SmokeWorkload | None
    """None when the stack turns the smoke workload off."""

    @property
    def cni_resources(self) -> list[pulumi.Resource]:
        return [self.cni.release] if self.cni else []


def install_cluster_side(args: ClusterSideArgs) -> ClusterSide:
    """CCM and Cilium side by side (each needs the other for a Ready node), the smoke workload last."""
    name = args.cluster_name
    ccm = AwsCloudControllerManager(
        f"{name}-ccm",
        AwsCloudControllerManagerArgs(
            release=args.release,
            cluster_name=name,
            region=args.region,
            zone=args.zone,
            ip_families=args.ip_families,
            image=args.ccm_image,
            cluster_ca_cert_pem=args.cluster_ca_cert_pem,
            front_proxy_ca_cert_pem=args.front_proxy_ca_cert_pem,
            provider=args.provider,
        ),
    )
    cni = None
    if args.cilium:
        cni = CiliumCni(
            f"{name}-cilium",
            CiliumCniArgs(
                chart=args.release.cilium_chart,
                api_server_host=args.api_server_host,
                api_server_port=args.api_server_port,
                provider=args.provider,
            ),
        )
    smoke = None
    if args.smoke_workload:
        smoke = SmokeWorkload(
            f"{name}-smoke",
            SmokeWorkloadArgs(
                ip_families=args.ip_families,
                provider=args.provider,
                pods_wait_for=(*([cni.release] if cni else []), *ccm.objects),
            ),
        )
    return ClusterSide(ccm=ccm, cni=cni, smoke=smoke)
