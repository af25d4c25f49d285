"""SmokeWorkload: the field report's dual-stack check, agnhost netexec behind a PreferDualStack Service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components.k8s_objects import create_object
from components.render.smoke import smoke_manifests
from components.settings import IpFamily

_Object = TypeVar("_Object", bound=pulumi.CustomResource)


@dataclass(frozen=True)
class SmokeWorkloadArgs:
    ip_families: tuple[IpFamily, IpFamily]
    """The Service's families, the stack's primary first (its first cluster IP is of that family)."""
    provider: k8s.Provider
    pods_wait_for: tuple[pulumi.Resource, ...] = ()
    """What the pods need before they can start: the CNI (else no pod network) and the CCM (else
    the nodes keep the `uninitialized` taint). Pulumi waits for Ready pods, so without these the
    Deployment would time out instead of waiting its turn."""

    def __post_init__(self) -> None:
        if len(self.ip_families) != 2 or set(self.ip_families) != set(IpFamily):
            raise ValueError(
                f"SmokeWorkloadArgs.ip_families = {self.ip_families!r}: allowed is both families, primary first"
            )


def _expect(kind: type[_Object], resource: pulumi.CustomResource) -> _Object:
    """The object `create_object` made, typed; a mismatch means the renderer changed its kinds."""
    if not isinstance(resource, kind):
        raise TypeError(f"smoke manifest made a {type(resource).__name__}, expected a {kind.__name__}")
    return resource


class SmokeWorkload(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    deployment: k8s.apps.v1.Deployment
    """Two agnhost netexec replicas (one multi-architecture image); Ready once pods got addresses of both families."""
    service: k8s.core.v1.Service
    """`PreferDualStack`: one cluster IP per family when the cluster is dual-stack."""
    objects: list[pulumi.CustomResource]
    """Namespace, Deployment and Service, in apply order."""
    namespace_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service_cluster_ips: pulumi.Output[list[str]]
    """The cluster IPs the API server assigned, primary family first; two prove dual-stack services."""

    def __init__(self, name: str, args: SmokeWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("k8sdualstack:smoke:SmokeWorkload", name, None, opts)
        namespace, *namespaced = smoke_manifests(args.ip_families)
        self.namespace = _expect(
            k8s.core.v1.Namespace,
            create_object(name, namespace, pulumi.ResourceOptions(parent=self, provider=args.provider)),
        )
        created: dict[str, pulumi.CustomResource] = {}
        for manifest in namespaced:
            # Pods need the CNI and initialised nodes; the Service only its namespace.
            needs = [self.namespace, *args.pods_wait_for] if manifest["kind"] == "Deployment" else [self.namespace]
            created[manifest["kind"]] = create_object(
                name, manifest, pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=needs)
            )
        self.deployment = _expect(k8s.apps.v1.Deployment, created["Deployment"])
        self.service = _expect(k8s.core.v1.Service, created["Service"])
        self.objects = [self.namespace, self.deployment, self.service]
        # The manifests name every object; the API server echoes the name back once it exists.
        self.namespace_name = self.namespace.metadata.apply(lambda metadata: str(metadata.name))
        self.service_name = self.service.metadata.apply(lambda metadata: str(metadata.name))
        self.service_cluster_ips = self.service.spec.apply(lambda spec: list(spec.cluster_ips or []) if spec else [])
        self.register_outputs(
            {
                "namespace": self.namespace.urn,
                "deployment": self.deployment.urn,
                "service": self.service.urn,
                "objects": [resource.urn for resource in self.objects],
                "namespaceName": self.namespace_name,
                "serviceName": self.service_name,
                "serviceClusterIps": self.service_cluster_ips,
            }
        )
