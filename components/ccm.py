"""AwsCloudControllerManager: everything the field report deployed by hand, for one release."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.k8s_objects import create_object
from components.render.ccm_manifests import CcmSettings, ccm_manifests
from components.render.cloud_config import render_cloud_config
from components.settings import IpFamily
from components.versions import Release


@dataclass(frozen=True)
class AwsCloudControllerManagerArgs:
    release: Release
    cluster_name: str
    region: str
    zone: str
    """The control plane's zone, where the CCM runs."""
    ip_families: tuple[IpFamily, IpFamily]
    image: str
    """The release row's published image unless the stack overrides it."""
    cluster_ca_cert_pem: pulumi.Input[str]
    front_proxy_ca_cert_pem: pulumi.Input[str]
    provider: k8s.Provider


class AwsCloudControllerManager(pulumi.ComponentResource):
    cloud_config: str
    """The rendered `--cloud-config`, known at plan time."""
    objects: list[pulumi.CustomResource]
    """Secrets, ConfigMap, ServiceAccount, RBAC and the DaemonSet, in apply order."""

    def __init__(
        self, name: str, args: AwsCloudControllerManagerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("k8sdualstack:ccm:AwsCloudControllerManager", name, None, opts)
        self.cloud_config = render_cloud_config(
            args.release,
            cluster_name=args.cluster_name,
            zone=args.zone,
            region=args.region,
            ip_families=args.ip_families,
        )
        settings = CcmSettings(
            release=args.release, image=args.image, cluster_name=args.cluster_name, cloud_config=self.cloud_config
        )
        self.objects = []
        manifests = ccm_manifests(settings, args.cluster_ca_cert_pem, args.front_proxy_ca_cert_pem)
        *config_and_rbac, workload = manifests
        for manifest in config_and_rbac:
            self.objects.append(
                create_object(
                    name,
                    manifest,
                    pulumi.ResourceOptions(
                        parent=self,
                        provider=args.provider,
                    ),
                )
            )
        # The DaemonSet alone waits for the rest: its first pod must find its RBAC, Secrets and
        # ConfigMap (no "forbidden", no missing CA bundle); the others can go in parallel.
        self.objects.append(
            create_object(
                name,
                workload,
                pulumi.ResourceOptions(
                    parent=self,
                    provider=args.provider,
                    depends_on=list(self.objects),
                ),
            )
        )
        self.register_outputs({"image": args.image, "cloudConfig": self.cloud_config})
