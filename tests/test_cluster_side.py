"""The cluster side for every stack, in preview and up mode: the CCM's objects, their
permissions (evaluated from the rendered RBAC, not from names), placement, the readiness
gate in front of every Kubernetes object, Cilium and the smoke workload."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from conftest import EVERY_STACK, MODES, STACKS, RenderGraph

from components.cluster_side import ClusterSide, ClusterSideArgs, install_cluster_side
from components.cni import CiliumCni, CiliumCniArgs
from components.render.smoke import AGNHOST_IMAGE, SERVICE_FAMILIES_COMMAND, SERVICE_IPS_COMMAND
from components.settings import IpFamily
from components.smoke import SmokeWorkload, SmokeWorkloadArgs
from components.versions import CiliumChart, Release, Version, release_for
from policies.rbac_eval import Request, ServiceAccount, allowed, wildcard_rules
from tools.manifests import write_manifests
from tools.offline.capture import Graph, ResourceRecord, unwrap_secrets
from tools.offline.stackfiles import stack_config

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
GATE = "pulumi-python:dynamic:Resource"
PROVIDER = "pulumi:providers:kubernetes"
CCM = ServiceAccount("kube-system", "cloud-controller-manager")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
CILIUM_COMPONENT = "k8sdualstack:cni:CiliumCni"
SMOKE_COMPONENT = "k8sdualstack:smoke:SmokeWorkload"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
# Args never touch the provider themselves; a real one needs the engine (see the programs below).
NO_PROVIDER = cast(k8s.Provider, object())


def config(stack: str, key: str) -> str:
    return stack_config(stack)[f"k8s-dualstack-aws:{key}"]


def kubernetes_objects(graph: Graph) -> list[ResourceRecord]:
    return [r for r in graph.resources if r.custom and r.type.startswith("kubernetes:")]


def manifests(graph: Graph) -> list[dict[str, Any]]:
    return [unwrap_secrets(r.inputs) for r in kubernetes_objects(graph) if r.type != "kubernetes:helm.sh/v3:Release"]


def daemonset(graph: Graph) -> dict[str, Any]:
    (record,) = graph.by_type(DAEMONSET)
    return unwrap_secrets(record.inputs)


def cloud_config(graph: Graph) -> str:
    (record,) = [r for r in graph.by_type(CONFIG_MAP) if r.inputs["metadata"]["name"] == "aws-cloud-config"]
    return str(record.inputs["data"]["cloud.conf"])


@EVERY_STACK
@MODES
def test_ccm_image_follows_the_stack_minor(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    (container,) = daemonset(graph)["spec"]["template"]["spec"]["containers"]
    image = container["image"]
    repository, tag = image.rsplit(":", 1)
    assert repository == "registry.k8s.io/provider-aws/cloud-controller-manager"
    assert Version.parse(tag).minor_str == config(stack, "kubernetesVersion")
    assert image == release_for(config(stack, "kubernetesVersion")).ccm_image
    assert graph.exports["ccmImage"] == image


@EVERY_STACK
@MODES
def test_cloud_config_node_ip_families(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    text = cloud_config(render_graph(stack, preview=preview))
    release = release_for(config(stack, "kubernetesVersion"))
    keys = [line.split("=", 1)[0].strip() for line in text.splitlines()[1:] if "=" in line]
    assert set(keys) <= release.cloud_config_keys
    families = [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("NodeIPFamilies")]
    if release.minor == "1.21":
        assert families == []
    else:
        primary = config(stack, "primaryIpFamily")
        assert families == [primary, "ipv6" if primary == "ipv4" else "ipv4"]


@EVERY_STACK
def test_daemonset_args_mounts_and_placement(render_graph: RenderGraph, stack: str) -> None:
    ds = daemonset(render_graph(stack))
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for flag in (
        "--cloud-provider=aws",
        "--use-service-account-credentials=true",
        "--configure-cloud-routes=false",
        "--allocate-node-cidrs=false",
        "--requestheader-allowed-names=front-proxy-client",
        "--leader-elect=true",
        "--v=2",
    ):
        assert flag in args
    files = {arg.split("=", 1)[0]: arg.split("=", 1)[1] for arg in args if "-file=" in arg or "cloud-config=" in arg}
    assert volumes["cloud-config"]["configMap"]["name"] == "aws-cloud-config"
    assert files["--cloud-config"] == f"{mounted['cloud-config']}/cloud.conf"
    assert files["--client-ca-file"] == f"{mounted['client-ca']}/ca.crt"
    assert volumes["client-ca"]["secret"]["secretName"] == "aws-ccm-client-ca"
    assert files["--requestheader-client-ca-file"] == f"{mounted['requestheader-ca']}/front-proxy-ca.crt"
    assert volumes["requestheader-ca"]["secret"]["secretName"] == "aws-ccm-requestheader-ca"
    assert pod["hostNetwork"] is True and pod["priorityClassName"] == "system-node-critical"
    release = release_for(config(stack, "kubernetesVersion"))
    assert pod["nodeSelector"] == {release.control_plane_label: ""}
    tolerated = {t["key"] for t in pod["tolerations"]}
    assert {"node.cloudprovider.kubernetes.io/uninitialized", *release.control_plane_taint_keys} <= tolerated
    assert container["resources"]["requests"]["cpu"] == "200m"
    annotation = ds["spec"]["template"]["metadata"]["annotations"]["checksum/cloud-config"]
    assert annotation == hashlib.sha256(cloud_config(render_graph(stack)).encode()).hexdigest()


@EVERY_STACK
def test_secrets_hold_the_ca_certificates_and_never_keys(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    name = config(stack, "clusterName")
    expected = {
        "aws-ccm-client-ca": graph.one("tls:index/selfSignedCert:SelfSignedCert", f"{name}-ca").state["certPem"],
        "aws-ccm-requestheader-ca": graph.one(
            "tls:index/selfSignedCert:SelfSignedCert", f"{name}-front-proxy-ca"
        ).state["certPem"],
    }
    records = graph.by_type("kubernetes:core/v1:Secret")
    secrets = {r.inputs["metadata"]["name"]: unwrap_secrets(r.inputs) for r in records}
    assert set(secrets) == set(expected)
    for secret_name, secret in secrets.items():
        (value,) = secret["stringData"].values()
        assert value == expected[secret_name] and "PRIVATE KEY" not in value


def test_changing_the_cloud_config_rolls_the_pods(render_graph: RenderGraph) -> None:
    before = daemonset(render_graph("k8s-1-22"))["spec"]["template"]["metadata"]["annotations"]
    after = daemonset(render_graph("k8s-1-22", overrides={"primaryIpFamily": "ipv6"}))["spec"]["template"]
    assert after["metadata"]["annotations"]["checksum/cloud-config"] != before["checksum/cloud-config"]


@EVERY_STACK
@pytest.mark.parametrize(
    "request_",
    [
        # The field report's "forbidden" errors, each one a request that must now be allowed.
        Request("get", "serviceaccounts", namespace="kube-system", name="aws-cloud-provider"),
        Request("create", "serviceaccounts", namespace="kube-system"),
        Request("create", "serviceaccounts/token", namespace="kube-system", name="node-controller"),
        Request("list", "nodes"),
        Request("watch", "nodes"),
        Request("patch", "nodes/status"),
        Request("create", "events", namespace="default"),
        Request("create", "tokenreviews", group="authentication.k8s.io"),
        Request("create", "subjectaccessreviews", group="authorization.k8s.io"),
        Request("get", "leases", group="coordination.k8s.io", namespace="kube-system"),
        Request("get", "configmaps", namespace="kube-system", name="extension-apiserver-authentication"),
    ],
    ids=lambda r: f"{r.verb}-{r.resource}",
)
def test_ccm_may_do_what_the_field_report_was_forbidden(
    render_graph: RenderGraph, stack: str, request_: Request
) -> None:
    assert allowed(manifests(render_graph(stack)), CCM, request_)


@EVERY_STACK
@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_ccm_reads_secrets_in_kube_system_only_if_its_release_does(
    render_graph: RenderGraph, stack: str, verb: str
) -> None:
    # No release of the matrix reads Secrets (docs/reference/flags-and-rbac.md, "Secrets"): its
    # per-controller tokens come from the TokenRequest API, not from token Secrets.
    reads = release_for(config(stack, "kubernetesVersion")).ccm_reads_secrets
    assert allowed(manifests(render_graph(stack)), CCM, Request(verb, "secrets", namespace="kube-system")) is reads


@EVERY_STACK
@pytest.mark.parametrize(
    "request_",
    [
        Request("list", "secrets"),
        Request("get", "secrets", namespace="default"),
        Request("list", "secrets", namespace="kube-public"),
        Request("get", "configmaps", namespace="kube-system", name="kubeadm-config"),
        Request("delete", "namespaces"),
    ],
    ids=lambda r: f"{r.verb}-{r.resource}-{r.namespace}",
)
def test_ccm_may_not_read_secrets_outside_kube_system(render_graph: RenderGraph, stack: str, request_: Request) -> None:
    assert not allowed(manifests(render_graph(stack)), CCM, request_)


@EVERY_STACK
def test_aws_controller_accounts_can_record_events_and_no_role_grants_everything(
    render_graph: RenderGraph, stack: str
) -> None:
    objects = manifests(render_graph(stack))
    for account in ("aws-cloud-provider", "tagging-controller"):
        assert allowed(objects, ServiceAccount("kube-system", account), Request("create", "events", namespace="x"))
    assert wildcard_rules(objects) == []


@EVERY_STACK
@MODES
def test_every_kubernetes_object_waits_for_the_gate_and_the_control_plane(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    (provider,) = graph.by_type(PROVIDER)
    (gate,) = [r for r in graph.by_type(GATE) if r.name.endswith("-api-ready")]
    control_plane = graph.one("aws:ec2/instance:Instance", f"{config(stack, 'clusterName')}-control-plane-node")
    assert graph.depends_on(gate, control_plane)
    assert graph.depends_on(provider, gate)
    assert set(provider.property_dependencies["kubeconfig"]) & {gate.urn}, "the kubeconfig comes from the gate"
    (version_gate,) = [r for r in graph.by_type(GATE) if r.name.endswith("-api-version")]
    assert graph.depends_on(provider, version_gate) and graph.depends_on(version_gate, gate)
    assert version_gate.urn not in provider.property_dependencies["kubeconfig"], (
        "an ordering only: an upgrade replaces the version gate, never the provider"
    )
    objects = kubernetes_objects(graph)
    assert len(objects) >= 11  # the CCM's 10 objects and the Cilium release, at least
    for record in objects:
        assert record.provider_urn == provider.urn, record.urn


@EVERY_STACK
def test_a_cloud_config_change_updates_the_config_map_in_place(render_graph: RenderGraph, stack: str) -> None:
    """pulumi-kubernetes replaces a ConfigMap whose data changed (delete, then create: the CCM's config
    is gone meanwhile) unless the provider makes ConfigMaps mutable; the engine tier saw the replace."""
    (provider,) = render_graph(stack).by_type(PROVIDER)
    assert provider.inputs.get("enableConfigMapMutable") in (True, "true")


@EVERY_STACK
def test_gate_polls_the_public_endpoint_with_the_cluster_ca(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    (gate,) = [r for r in graph.by_type(GATE) if r.name.endswith("-api-ready")]
    name = config(stack, "clusterName")
    assert gate.inputs["endpoint"] == graph.exports["controlPlaneEndpoint"]
    assert (
        gate.inputs["caCertPem"] == graph.one("tls:index/selfSignedCert:SelfSignedCert", f"{name}-ca").state["certPem"]
    )
    assert 0 < gate.inputs["timeoutSeconds"] <= 3600


@EVERY_STACK
def test_cilium_is_dual_stack_with_kubernetes_ipam(render_graph: RenderGraph, stack: str) -> None:
    (release,) = render_graph(stack).by_type(HELM_RELEASE)
    values = release.inputs["values"]
    assert release.inputs["version"] == release_for(config(stack, "kubernetesVersion")).cilium_chart_version
    assert values["ipv4"]["enabled"] and values["ipv6"]["enabled"]
    assert values["ipam"]["mode"] == "kubernetes"
    # Where the agents reach the API server before the kubernetes Service works: the load balancer's
    # name behind one (host and port apart), else the one control plane's fixed private address.
    behind_load_balancer = config(stack, "apiEndpoint") == "nlb"
    (balancer,) = render_graph(stack).by_type(LOAD_BALANCER) if behind_load_balancer else [None]
    expected = balancer.state["dnsName"] if balancer else "10.0.0.10"
    assert values["k8sServiceHost"] == expected and values["k8sServicePort"] == 6443


@EVERY_STACK
def test_smoke_workload_where_enabled(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    services = graph.by_type("kubernetes:core/v1:Service")
    if config(stack, "smokeWorkload") != "true":
        assert services == [] and not {"verifyServiceIps", "verifyServiceFamilies"} & set(graph.exports)
        return
    (service,) = services
    primary = config(stack, "primaryIpFamily")
    assert service.inputs["spec"]["ipFamilyPolicy"] == "PreferDualStack"
    assert service.inputs["spec"]["ipFamilies"] == (["IPv4", "IPv6"] if primary == "ipv4" else ["IPv6", "IPv4"])
    assert graph.exports["verifyServiceIps"] == SERVICE_IPS_COMMAND
    assert graph.exports["verifyServiceFamilies"] == SERVICE_FAMILIES_COMMAND


@EVERY_STACK
def test_exports_for_verification(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    exports = graph.exports
    nodes = exports["controlPlaneAddresses"]
    assert len(nodes) == len(exports["controlPlaneInstanceIds"]) == int(config(stack, "controlPlaneCount"))
    assert all(":" in node["ipv6"] and "." in node["ipv4"] for node in nodes.values())
    assert ".status.addresses" in exports["verifyNodeAddresses"]
    # Workers have no addresses at plan time: their group, and how to list it.
    (group,) = graph.by_type("aws:autoscaling/group:Group")
    assert exports["workerAutoScalingGroup"] == group.state["name"]
    assert exports["verifyWorkers"] == (
        f"aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {group.state['name']} --query "
        "'AutoScalingGroups[0].Instances[].[InstanceId,AvailabilityZone,LifecycleState,HealthStatus]' --output text"
    )
    assert not {"nodeAddresses", "workerInstanceIds"} & set(exports)


@EVERY_STACK
def test_rendered_manifests_load_as_kubernetes_objects(render_graph: RenderGraph, stack: str, tmp_path: Path) -> None:
    written = write_manifests(render_graph(stack), tmp_path)
    assert len(written) == len(kubernetes_objects(render_graph(stack)))
    for path in written:
        document = yaml.safe_load(path.read_text())
        assert "PRIVATE KEY" not in path.read_text()
        if document["kind"] == "HelmRelease":
            continue
        assert document["apiVersion"] and document["metadata"]["name"]
        assert path.name.startswith(document["kind"].lower())


# --- the components themselves: Args, public outputs, parents ------------------------------


def camel(attribute: str) -> str:
    head, *rest = attribute.split("_")
    return head + "".join(word.title() for word in rest)


def public_outputs(component: type[pulumi.ComponentResource]) -> set[str]:
    """The class-level declared attributes, as register_outputs keys."""
    return {camel(name) for name in vars(component).get("__annotations__", {}) if not name.startswith("_")}


@pytest.mark.parametrize("component", [CiliumCni, SmokeWorkload])
def test_register_outputs_names_every_public_output(render_graph: RenderGraph, component: type) -> None:
    graph = render_graph("dev")
    type_token = {CiliumCni: CILIUM_COMPONENT, SmokeWorkload: SMOKE_COMPONENT}[component]
    (record,) = graph.by_type(type_token)
    assert set(record.outputs) == public_outputs(component)


@EVERY_STACK
@MODES
def test_cilium_component_owns_its_release(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    name = config(stack, "clusterName")
    component = graph.one(CILIUM_COMPONENT, f"{name}-cilium")
    (helm,) = graph.children_of(component)
    # URN unchanged by the move to components/cni.py: same type token, same names.
    assert helm.urn.endswith(f"::{CILIUM_COMPONENT}${HELM_RELEASE}::{name}-cilium")
    chart = release_for(config(stack, "kubernetesVersion")).cilium_chart
    assert component.outputs == {
        "release": helm.urn,
        "chartVersion": chart.version,
        "valuesSchema": chart.values_schema.value,
    }
    assert helm.inputs["version"] == chart.version and helm.inputs["namespace"] == "kube-system"


@EVERY_STACK
@MODES
def test_smoke_component_owns_its_objects(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    name = config(stack, "clusterName")
    components = graph.by_type(SMOKE_COMPONENT)
    if config(stack, "smokeWorkload") != "true":
        assert components == []
        return
    (component,) = components
    assert component.name == f"{name}-smoke"
    children = {record.type: record for record in graph.children_of(component)}
    assert set(children) == {NAMESPACE, DEPLOYMENT, SERVICE}
    assert graph.descendants_of(component) == sorted(children.values(), key=lambda record: record.urn)
    outputs = component.outputs
    assert outputs["namespace"] == children[NAMESPACE].urn
    assert outputs["deployment"] == children[DEPLOYMENT].urn
    assert outputs["service"] == children[SERVICE].urn
    assert outputs["objects"] == [children[kind].urn for kind in (NAMESPACE, DEPLOYMENT, SERVICE)]
    # Names are inputs, so a preview knows them too.
    assert outputs["namespaceName"] == "dualstack-smoke" and outputs["serviceName"] == "agnhost"
    assert isinstance(outputs["serviceClusterIps"], list)


@pytest.mark.parametrize("stack", [stack for stack in STACKS if config(stack, "smokeWorkload") == "true"])
def test_smoke_pods_wait_for_cilium_and_the_ccm_and_the_service_does_not(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    (helm,) = graph.by_type(HELM_RELEASE)
    (ccm_daemonset,) = graph.by_type(DAEMONSET)
    (deployment,) = graph.by_type(DEPLOYMENT)
    (service,) = graph.by_type(SERVICE)
    assert {helm.urn, ccm_daemonset.urn} <= set(deployment.dependencies)
    assert not graph.depends_on(service, helm) and not graph.depends_on(service, ccm_daemonset)


def cluster_side_args(release: Release, **overrides: Any) -> ClusterSideArgs:
    """Explicit cluster-side inputs of a plain IPv4-first amd64 cluster, with `overrides` applied."""
    values: dict[str, Any] = {
        "release": release,
        "cluster_name": "unit",
        "region": "us-east-1",
        "zone": "us-east-1a",
        "ip_families": (IpFamily.IPV4, IpFamily.IPV6),
        "ccm_image": release.ccm_image,
        "smoke_workload": False,
        "api_server_host": "10.0.0.10",
        "cluster_ca_cert_pem": "unit-ca",
        "front_proxy_ca_cert_pem": "unit-front-proxy-ca",
    }
    return ClusterSideArgs(**(values | overrides))


def test_args_are_frozen() -> None:
    cilium = CiliumCniArgs(
        chart=CiliumChart("1.19.6"), api_server_host="10.0.0.10", api_server_port=6443, provider=NO_PROVIDER
    )
    smoke = SmokeWorkloadArgs(ip_families=(IpFamily.IPV4, IpFamily.IPV6), provider=NO_PROVIDER)
    side = cluster_side_args(release_for("1.22"), provider=NO_PROVIDER, smoke_workload=True)
    assert side.api_server_port == 6443
    for args, field in ((cilium, "api_server_port"), (smoke, "ip_families"), (side, "smoke_workload")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(args, field, None)


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("", 6443, "api_server_host is empty"),
        ("  ", 6443, "api_server_host is empty"),
        ("10.0.0.10", 0, "api_server_port = 0: allowed is 1-65535"),
        ("10.0.0.10", 65536, "api_server_port = 65536: allowed is 1-65535"),
    ],
)
def test_cilium_args_refuse_an_unreachable_api_server(host: str, port: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CiliumCniArgs(chart=CiliumChart("1.19.6"), api_server_host=host, api_server_port=port, provider=NO_PROVIDER)


@pytest.mark.parametrize(
    "families",
    [(IpFamily.IPV4, IpFamily.IPV4), (IpFamily.IPV6,), (IpFamily.IPV4, IpFamily.IPV6, IpFamily.IPV4)],
    ids=["twice-ipv4", "one", "three"],
)
def test_smoke_args_refuse_anything_but_both_families(families: tuple[IpFamily, ...]) -> None:
    with pytest.raises(ValueError, match=r"ip_families = .*: allowed is both families, primary first"):
        SmokeWorkloadArgs(
            ip_families=families,  # type: ignore[arg-type]
            provider=NO_PROVIDER,
        )


def cluster_side_program(smoke: bool, result: dict[str, ClusterSide]) -> Callable[[], None]:
    """`install_cluster_side` alone, with explicit inputs (no stack settings, no AWS side)."""

    def program() -> None:
        provider = k8s.Provider("unit-k8s", kubeconfig="unit")
        side = install_cluster_side(
            cluster_side_args(
                release_for("1.35"),
                provider=provider,
                smoke_workload=smoke,
                region="eu-west-1",
                zone="eu-west-1b",
                ip_families=(IpFamily.IPV6, IpFamily.IPV4),
                api_server_host="10.9.0.10",
            )
        )
        result["side"] = side
        assert side.cni is not None
        pulumi.export("chartVersion", side.cni.chart_version)
        if side.smoke is not None:
            # Exported, then read from the finished graph: nothing is asserted inside an apply.
            pulumi.export("namespaceName", side.smoke.namespace_name)
            pulumi.export("serviceName", side.smoke.service_name)
            pulumi.export("serviceClusterIps", side.smoke.service_cluster_ips)

    return program


@pytest.mark.parametrize("smoke", [True, False], ids=["smoke", "no-smoke"])
def test_install_cluster_side_takes_explicit_inputs(render_graph: RenderGraph, smoke: bool) -> None:
    result: dict[str, ClusterSide] = {}
    graph = render_graph("dev", program=cluster_side_program(smoke, result))
    side = result["side"]
    assert side.cni is not None and side.cni_resources == [side.cni.release]
    assert isinstance(side.cni.release, k8s.helm.v3.Release)
    assert side.cni.chart_version == release_for("1.35").cilium_chart_version
    assert graph.exports["chartVersion"] == side.cni.chart_version
    (helm,) = graph.by_type(HELM_RELEASE)
    assert helm.inputs["values"]["k8sServiceHost"] == "10.9.0.10"
    assert helm.inputs["values"]["k8sServicePort"] == 6443
    assert "eu-west-1b" in cloud_config(graph)
    if not smoke:
        assert side.smoke is None and graph.by_type(SMOKE_COMPONENT) == [] and graph.by_type(SERVICE) == []
        return
    assert side.smoke is not None
    assert isinstance(side.smoke.namespace, k8s.core.v1.Namespace)
    assert isinstance(side.smoke.deployment, k8s.apps.v1.Deployment)
    assert isinstance(side.smoke.service, k8s.core.v1.Service)
    assert graph.exports["namespaceName"] == "dualstack-smoke"
    assert graph.exports["serviceName"] == "agnhost"
    assert isinstance(graph.exports["serviceClusterIps"], list)
    (service,) = graph.by_type(SERVICE)
    assert service.inputs["spec"]["ipFamilies"] == ["IPv6", "IPv4"]
    (deployment,) = graph.by_type(DEPLOYMENT)
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    # One multi-architecture image: the same on these arm64 inputs as on amd64.
    assert container["image"] == AGNHOST_IMAGE


def test_without_cilium_the_smoke_pods_wait_for_the_ccm_only(render_graph: RenderGraph) -> None:
    """The engine tier's composition (no chart repository there): no Helm release, nothing waits for one."""
    result: dict[str, ClusterSide] = {}

    def program() -> None:
        provider = k8s.Provider("unit-k8s", kubeconfig="unit")
        args = cluster_side_args(release_for("1.35"), provider=provider, smoke_workload=True)
        result["side"] = install_cluster_side(dataclasses.replace(args, cilium=False))

    graph = render_graph("dev", program=program)
    side = result["side"]
    assert side.cni is None and side.cni_resources == [] and side.smoke is not None
    assert graph.by_type(HELM_RELEASE) == []
    deployment = next(r for r in graph.by_type("kubernetes:apps/v1:Deployment"))
    ccm = next(r for r in graph.by_type("kubernetes:apps/v1:DaemonSet"))
    assert graph.depends_on(deployment, ccm)
