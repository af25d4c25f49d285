"""The cluster's topology under the mock engine, for every stack file in preview and up mode: the
control planes (one per zone, the first runs `kubeadm init`, the others join it), the API endpoint
(the dual-stack NLB of `apiEndpoint: nlb`, else the Elastic IP), one endpoint string everywhere, and
the workers' launch template and Auto Scaling group.

User data is read as cloud-init reads it (`decode_user_data`), in up mode; in a preview it depends on
values AWS assigns and is unknown, which is asserted instead.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
import yaml
from conftest import EVERY_STACK, MODES, STACKS, RenderGraph

from components.network_plan import fixed_host
from components.render import node_tools, scripts
from components.render.kubeadm import discovery_hash
from components.render.user_data_encoding import decode_user_data
from components.settings import ConfigError
from components.versions import release_for
from tools.offline.capture import Graph, ResourceRecord, is_unknown, unwrap_secrets
from tools.offline.engine import partial_graph
from tools.offline.stackfiles import stack_config

INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
PARAMETER = "aws:ssm/parameter:Parameter"
KMS_KEY = "aws:kms/key:Key"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
GATE = "pulumi-python:dynamic:Resource"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
API_PORT = 6443


def setting(stack: str, key: str) -> str:
    return str(unwrap_secrets(stack_config(stack))[f"k8s-dualstack-aws:{key}"])


def behind_load_balancer(stack: str) -> bool:
    return setting(stack, "apiEndpoint") == "nlb"


def control_planes(graph: Graph) -> list[ResourceRecord]:
    """The control-plane instances in seat order: `-node`, then `-node-1`, `-node-2`, ..."""
    return sorted(graph.by_type(INSTANCE), key=lambda r: (len(r.name), r.name))


def cloud_config(record: ResourceRecord) -> dict[str, Any]:
    encoded = record.inputs["userDataBase64" if record.type == INSTANCE else "userData"]
    document: dict[str, Any] = yaml.safe_load(decode_user_data(encoded))
    return document


def files_of(record: ResourceRecord) -> dict[str, str]:
    return {entry["path"]: entry["content"] for entry in cloud_config(record)["write_files"]}


def kubeadm_documents(record: ResourceRecord) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(files_of(record)[scripts.KUBEADM_TEMPLATE])}


def boot_setting(record: ResourceRecord, name: str) -> str:
    """A `readonly NAME=value` line of the node's boot script."""
    script = files_of(record)[scripts.BOOT_SCRIPT]
    (line,) = [line for line in script.splitlines() if line.startswith(f"readonly {name}=")]
    return line.split("=", 1)[1].strip("'")


def public_subnets(graph: Graph) -> list[ResourceRecord]:
    """Each zone's public subnet, in zone order."""
    subnets = [s for s in graph.by_type(SUBNET) if s.inputs["tags"]["tier"] == "public"]
    return sorted(subnets, key=lambda s: s.inputs["availabilityZone"])


def group_named(graph: Graph, name: str) -> ResourceRecord:
    return graph.one(SECURITY_GROUP, name)


def rule_peer(graph: Graph, rule: ResourceRecord) -> str:
    """A rule's other end: its CIDR, or the name of the security group it references."""
    referenced = rule.property_dependencies.get("referencedSecurityGroupId", ())
    if referenced:
        (urn,) = referenced
        return graph.get(urn).name
    return str(rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6"))


def rules_of(graph: Graph, group: ResourceRecord, type_token: str) -> set[tuple[str, int, int, str]]:
    return {
        (r.inputs["ipProtocol"], int(r.inputs["fromPort"]), int(r.inputs["toPort"]), rule_peer(graph, r))
        for r in graph.by_type(type_token)
        if r.property_dependencies["securityGroupId"] == (group.urn,)
    }


def admin_cidrs(stack: str) -> list[str]:
    cidrs: list[str] = json.loads(setting(stack, "adminCidrs"))
    return cidrs


# -- control planes ---------------------------------------------------------------------------


@EVERY_STACK
@MODES
def test_a_control_plane_per_zone_at_the_fixed_host_of_its_public_subnet(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    name = setting(stack, "clusterName")
    count = int(setting(stack, "controlPlaneCount"))
    nodes = control_planes(graph)
    assert [node.name for node in nodes] == [
        f"{name}-control-plane-node" if index == 0 else f"{name}-control-plane-node-{index}" for index in range(count)
    ]
    subnets = public_subnets(graph)[:count]
    assert len(subnets) == count, "one control plane per zone needs as many zones"
    for node, subnet in zip(nodes, subnets, strict=True):
        assert node.property_dependencies["subnetId"] == (subnet.urn,)
        assert node.inputs["privateIp"] == fixed_host(subnet.inputs["cidrBlock"])
        assert node.inputs["instanceType"] == setting(stack, "controlPlaneInstanceType")
        (ipv6,) = node.inputs["ipv6Addresses"]
        if preview:
            assert is_unknown(ipv6) and is_unknown(node.inputs["userDataBase64"])
        else:
            assert ipv6 == fixed_host(subnet.inputs["ipv6CidrBlock"])
    assert len({subnet.inputs["availabilityZone"] for subnet in subnets}) == count


@EVERY_STACK
def test_the_first_control_plane_initialises_and_the_others_join_it_as_control_planes(
    render_graph: RenderGraph, stack: str
) -> None:
    graph = render_graph(stack)
    name = setting(stack, "clusterName")
    first, *others = control_planes(graph)
    assert set(kubeadm_documents(first)) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    ca = str(graph.one(SELF_SIGNED, f"{name}-ca").state["certPem"])
    primary_v4 = setting(stack, "primaryIpFamily") == "ipv4"
    first_files = files_of(first)
    if not others:
        assert "kubeadm join" not in first_files[scripts.BOOT_SCRIPT]
        assert scripts.KUBEADM_JOIN_TEMPLATE not in first_files
    else:
        # A replacement of the first control plane finds the others' etcd and joins them (README,
        # "Topology"): it carries the same JoinConfiguration as the others, to use instead of init.
        join_template = yaml.safe_load(first_files[scripts.KUBEADM_JOIN_TEMPLATE].split("---")[0])
        assert join_template == kubeadm_documents(others[0])["JoinConfiguration"]
        assert first_files[scripts.REMOVE_STALE_ETCD_MEMBER_SCRIPT] == node_tools.REMOVE_STALE_ETCD_MEMBER
        hosts = [n.inputs["privateIp"] if primary_v4 else f"[{n.inputs['ipv6Addresses'][0]}]" for n in others]
        assert boot_setting(first, "ETCD_MEMBER_HOSTS") == ",".join(hosts)
    for index, node in enumerate(others, start=1):
        documents = kubeadm_documents(node)
        assert set(documents) == {"JoinConfiguration", "KubeletConfiguration"}, node.name
        join = documents["JoinConfiguration"]
        own = "${NODE_IPV4}" if primary_v4 else "${NODE_IPV6}"
        assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": own, "bindPort": API_PORT}}
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [discovery_hash(ca)]
        # The CAs and keys from SSM as the first fetched them: the same manifest, no upload-certs.
        manifest = files_of(node)[scripts.FETCH_MANIFEST]
        assert manifest == files_of(first)[scripts.FETCH_MANIFEST] and "/pki/etcd/ca.key" in manifest
        script = files_of(node)[scripts.BOOT_SCRIPT]
        assert "kubeadm init" not in script and "--certificate-key" not in script
        # The stale-member cleanup asks the other control planes' etcd, at their primary-family address.
        peers = [
            other.inputs["privateIp"] if primary_v4 else f"[{other.inputs['ipv6Addresses'][0]}]"
            for position, other in enumerate([first, *others])
            if position != index
        ]
        assert boot_setting(node, "ETCD_MEMBER_HOSTS") == ",".join(peers)
        assert files_of(node)[scripts.REMOVE_STALE_ETCD_MEMBER_SCRIPT] == node_tools.REMOVE_STALE_ETCD_MEMBER
        etcd = release_for(setting(stack, "kubernetesVersion")).kubeadm_image_tags.etcd
        assert f"export ETCD_IMAGE=registry.k8s.io/etcd:{etcd}\n" in script


# -- the API endpoint -------------------------------------------------------------------------


@EVERY_STACK
@MODES
def test_the_endpoint_is_a_dual_stack_nlb_or_the_elastic_ip(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    name = setting(stack, "clusterName")
    nodes = control_planes(graph)
    if not behind_load_balancer(stack):
        assert not [r for t in (LOAD_BALANCER, TARGET_GROUP, LISTENER, ATTACHMENT) for r in graph.by_type(t)]
        assert [r.name for r in graph.by_type(EIP)] == [f"{name}-control-plane-api"]
        (association,) = graph.by_type(EIP_ASSOCIATION)
        assert association.property_dependencies["instanceId"] == (nodes[0].urn,)
        return
    assert graph.by_type(EIP) == [] and graph.by_type(EIP_ASSOCIATION) == []
    (balancer,) = graph.by_type(LOAD_BALANCER)
    inputs = balancer.inputs
    assert (inputs["loadBalancerType"], inputs["ipAddressType"], inputs["internal"]) == ("network", "dualstack", False)
    assert inputs["enableCrossZoneLoadBalancing"] is True
    assert set(balancer.property_dependencies["subnets"]) == {s.urn for s in public_subnets(graph)}
    assert len(inputs["subnets"]) == int(setting(stack, "availabilityZoneCount"))
    assert balancer.property_dependencies["securityGroups"] == (group_named(graph, f"{name}-api-lb").urn,)
    assert inputs["tags"][f"kubernetes.io/cluster/{name}"] == "owned"
    (listener,) = graph.by_type(LISTENER)
    (target_group,) = graph.by_type(TARGET_GROUP)
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (API_PORT, "TCP")
    assert listener.property_dependencies["loadBalancerArn"] == (balancer.urn,)
    ((action,),) = [listener.inputs["defaultActions"]]
    assert action["type"] == "forward" and listener.property_dependencies["defaultActions"] == (target_group.urn,)
    group = target_group.inputs
    assert (group["targetType"], group["protocol"], group["port"]) == ("instance", "TCP", API_PORT)
    # A control plane reaching itself through the load balancer must not be dropped (docs/reference/aws.md).
    assert group["preserveClientIp"] == "false"
    check = group["healthCheck"]
    assert (check["protocol"], check["path"], check["port"], check["matcher"]) == ("HTTPS", "/readyz", "6443", "200")
    assert check["enabled"] is True and check["timeout"] < check["interval"]
    attachments = graph.by_type(ATTACHMENT)
    assert sorted(a.property_dependencies["targetId"] for a in attachments) == sorted((n.urn,) for n in nodes)
    assert all(a.property_dependencies["targetGroupArn"] == (target_group.urn,) for a in attachments)
    assert all(a.inputs["port"] == API_PORT for a in attachments)


@pytest.mark.parametrize("stack", [stack for stack in STACKS if behind_load_balancer(stack)])
@MODES
def test_the_load_balancer_admits_6443_from_the_admin_cidrs_and_the_nodes_only(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    name = setting(stack, "clusterName")
    balancer_group = group_named(graph, f"{name}-api-lb")
    assert balancer_group.inputs["tags"][f"kubernetes.io/cluster/{name}"] == "owned"
    nodes = {f"{name}-control-plane", f"{name}-worker"}
    assert rules_of(graph, balancer_group, INGRESS) == {
        ("tcp", API_PORT, API_PORT, peer) for peer in [*admin_cidrs(stack), *nodes]
    }
    assert rules_of(graph, balancer_group, EGRESS) == {("tcp", API_PORT, API_PORT, f"{name}-control-plane")}
    # The control planes admit the load balancer (traffic and health checks) on 6443, nothing else of it.
    (from_balancer,) = [r for r in graph.by_type(INGRESS) if rule_peer(graph, r) == f"{name}-api-lb"]
    assert from_balancer.name == f"{name}-control-plane-apiserver-from-api-load-balancer"
    assert from_balancer.property_dependencies["securityGroupId"] == (group_named(graph, f"{name}-control-plane").urn,)
    inputs = from_balancer.inputs
    assert (inputs["ipProtocol"], inputs["fromPort"], inputs["toPort"]) == ("tcp", API_PORT, API_PORT)


@pytest.mark.parametrize("stack", [stack for stack in STACKS if not behind_load_balancer(stack)])
def test_without_a_load_balancer_there_is_no_group_for_one(render_graph: RenderGraph, stack: str) -> None:
    graph = render_graph(stack)
    name = setting(stack, "clusterName")
    assert sorted(g.name for g in graph.by_type(SECURITY_GROUP)) == [f"{name}-control-plane", f"{name}-worker"]
    assert not [r for r in graph.by_type(INGRESS) if "api-load-balancer" in r.name]


@EVERY_STACK
def test_one_endpoint_everywhere(render_graph: RenderGraph, stack: str) -> None:
    """kubeadm's controlPlaneEndpoint and every join, the API certificate, the kubeconfig, the readiness
    gate and Cilium: the load balancer's DNS name behind one. With an Elastic IP (the stacks before the
    load balancer, unchanged): the nodes and Cilium use the control plane's fixed private address,
    pulumi and kubectl the Elastic IP, and the certificate names both."""
    graph = render_graph(stack)
    first, *others = nodes = control_planes(graph)
    ipv4s = [node.inputs["privateIp"] for node in nodes]
    ipv6s = [node.inputs["ipv6Addresses"][0] for node in nodes]
    if behind_load_balancer(stack):
        (balancer,) = graph.by_type(LOAD_BALANCER)
        node_host = public_host = str(balancer.state["dnsName"])
        assert node_host.endswith(".elb.us-east-1.amazonaws.com")
        sans = [public_host, *ipv4s, *ipv6s]
    else:
        (address,) = graph.by_type(EIP)
        public_host, node_host = str(address.state["publicIp"]), ipv4s[0]
        sans = [public_host, ipv4s[0], ipv6s[0]]
    init = kubeadm_documents(first)["ClusterConfiguration"]
    assert init["controlPlaneEndpoint"] == f"{node_host}:{API_PORT}"
    assert init["apiServer"]["certSANs"] == sans
    (template,) = graph.by_type(LAUNCH_TEMPLATE)
    for joining in [*others, template]:
        discovery = kubeadm_documents(joining)["JoinConfiguration"]["discovery"]["bootstrapToken"]
        assert discovery["apiServerEndpoint"] == f"{node_host}:{API_PORT}", joining.name
    url = f"https://{public_host}:{API_PORT}"
    (gate,) = [r for r in graph.by_type(GATE) if r.name.endswith("-api-ready")]
    assert gate.inputs["endpoint"] == graph.exports["controlPlaneEndpoint"] == url
    assert graph.exports["apiServerHost"] == public_host
    kubeconfig = yaml.safe_load(unwrap_secrets(graph.exports["kubeconfig"]))
    assert [cluster["cluster"]["server"] for cluster in kubeconfig["clusters"]] == [url]
    (cilium,) = graph.by_type(HELM_RELEASE)
    assert (cilium.inputs["values"]["k8sServiceHost"], cilium.inputs["values"]["k8sServicePort"]) == (
        node_host,
        API_PORT,
    )


@EVERY_STACK
@MODES
def test_the_gate_waits_for_every_control_plane_and_the_way_to_it(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    (gate,) = [r for r in graph.by_type(GATE) if r.name.endswith("-api-ready")]
    routes = graph.by_type(LISTENER) + graph.by_type(ATTACHMENT) + graph.by_type(EIP_ASSOCIATION)
    assert routes
    for record in [*control_planes(graph), *routes]:
        assert record.urn in gate.dependencies, record.name


@pytest.mark.parametrize("stack", [stack for stack in STACKS if behind_load_balancer(stack)])
def test_the_ccm_runs_on_every_control_plane_with_leader_election(render_graph: RenderGraph, stack: str) -> None:
    # One pod per control plane (a DaemonSet on the control-plane label); one of them leads.
    graph = render_graph(stack)
    (daemonset,) = graph.by_type(DAEMONSET)
    spec = daemonset.inputs["spec"]["template"]["spec"]
    release = release_for(setting(stack, "kubernetesVersion"))
    assert spec["nodeSelector"] == {release.control_plane_label: ""}
    assert "--leader-elect=true" in spec["containers"][0]["args"]


# -- the workers ------------------------------------------------------------------------------


@EVERY_STACK
@MODES
def test_the_workers_launch_template_is_a_hardened_dual_stack_node(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph = render_graph(stack, preview=preview)
    name = setting(stack, "clusterName")
    (template,) = graph.by_type(LAUNCH_TEMPLATE)
    inputs = template.inputs
    assert template.name == f"{name}-workers" and inputs["instanceType"] == setting(stack, "workerInstanceType")
    assert inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "httpProtocolIpv6": "enabled",
    }
    ((interface,),) = [inputs["networkInterfaces"]]
    assert (interface["ipv6AddressCount"], interface["primaryIpv6"], interface["deviceIndex"]) == (1, "true", 0)
    assert template.property_dependencies["networkInterfaces"] == (group_named(graph, f"{name}-worker").urn,)
    ((device,),) = [inputs["blockDeviceMappings"]]
    assert device["deviceName"] == "/dev/sda1"
    assert device["ebs"] == {
        "volumeType": "gp3",
        "volumeSize": int(setting(stack, "rootVolumeSizeGib")),
        "encrypted": "true",
        "deleteOnTermination": "true",
    }
    assert template.property_dependencies["iamInstanceProfile"] == (graph.one(INSTANCE_PROFILE, f"{name}-worker").urn,)
    tagged = {spec["resourceType"]: spec["tags"] for spec in inputs["tagSpecifications"]}
    assert set(tagged) == {"instance", "volume"}
    assert all(tags[f"kubernetes.io/cluster/{name}"] == "owned" for tags in tagged.values())
    # The AMI is looked up once: a newer image never rolls the workers; new user data does.
    assert template.ignore_changes == ("imageId",)
    assert inputs["imageId"] == control_planes(graph)[0].inputs["ami"]
    if preview:
        assert is_unknown(inputs["userData"])
        return
    documents = kubeadm_documents(template)
    assert set(documents) == {"JoinConfiguration", "KubeletConfiguration"}
    assert "controlPlane" not in documents["JoinConfiguration"]
    assert json.loads(files_of(template)[scripts.FETCH_MANIFEST])[0]["parameter"].endswith("/bootstrap/token")
    assert len(json.loads(files_of(template)[scripts.FETCH_MANIFEST])) == 1


@EVERY_STACK
@MODES
def test_the_workers_auto_scaling_group_spans_every_zone(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    name = setting(stack, "clusterName")
    (group,) = graph.by_type(GROUP)
    (template,) = graph.by_type(LAUNCH_TEMPLATE)
    inputs = group.inputs
    sizes = (inputs["minSize"], inputs["desiredCapacity"], inputs["maxSize"])
    assert sizes == tuple(
        int(setting(stack, key)) for key in ("workerMinSize", "workerDesiredCapacity", "workerMaxSize")
    )
    tier = "private" if setting(stack, "privateSubnets") == "true" else "public"
    subnets = {s.urn for s in graph.by_type(SUBNET) if s.inputs["tags"]["tier"] == tier}
    assert set(group.property_dependencies["vpcZoneIdentifiers"]) == subnets
    assert len(subnets) == int(setting(stack, "availabilityZoneCount"))
    refresh = inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"] == {"minHealthyPercentage": 66, "instanceWarmup": "300"}
    assert group.property_dependencies["launchTemplate"] == (template.urn,)
    if preview:
        assert is_unknown(inputs["launchTemplate"]["version"])
    else:
        # The template's version number, not $Latest: a new version is a diff that starts a refresh.
        assert inputs["launchTemplate"] == {"id": template.id, "version": str(template.state["latestVersion"])}
    tags = {tag["key"]: tag for tag in inputs["tags"]}
    assert tags[f"kubernetes.io/cluster/{name}"] == {
        "key": f"kubernetes.io/cluster/{name}",
        "value": "owned",
        "propagateAtLaunch": True,
    }
    assert all(tag["propagateAtLaunch"] is True for tag in tags.values())
    # The workers' boot reads the join token: the group starts once it, the key and their IAM exist.
    token = graph.one(PARAMETER, f"{name}-bootstrap-token")
    policies = {p.urn for p in graph.by_type(ROLE_POLICY) if p.name.startswith(f"{name}-worker-")}
    (key,) = graph.by_type(KMS_KEY)
    assert {token.urn, key.urn} | policies <= set(group.dependencies)
    assert not {p.urn for p in graph.by_type(PARAMETER) if "/pki/" in p.inputs["name"]} & set(group.dependencies)


# -- other shapes than the shipped stacks -------------------------------------------------------


def test_five_control_planes_in_five_zones_each_join_the_others(render_graph: RenderGraph) -> None:
    overrides = {"controlPlaneCount": 5, "apiEndpoint": "nlb", "availabilityZoneCount": 5}
    graph = render_graph("k8s-1-35", overrides=overrides)  # IPv6 first: etcd speaks IPv6
    nodes = control_planes(graph)
    assert len(nodes) == len(graph.by_type(ATTACHMENT)) == 5
    zones = {graph.get(n.property_dependencies["subnetId"][0]).inputs["availabilityZone"] for n in nodes}
    assert len(zones) == 5
    for index, node in enumerate(nodes[1:], start=1):
        hosts = boot_setting(node, "ETCD_MEMBER_HOSTS").split(",")
        assert len(hosts) == 4 and f"[{node.inputs['ipv6Addresses'][0]}]" not in hosts
        assert all(ipaddress.IPv6Address(host.strip("[]")) for host in hosts), index


def test_one_control_plane_may_sit_behind_the_load_balancer(render_graph: RenderGraph) -> None:
    graph = render_graph("dev", overrides={"apiEndpoint": "nlb"})
    (node,) = control_planes(graph)
    (balancer,) = graph.by_type(LOAD_BALANCER)
    assert graph.by_type(EIP) == []
    assert kubeadm_documents(node)["ClusterConfiguration"]["controlPlaneEndpoint"] == (
        f"{balancer.state['dnsName']}:{API_PORT}"
    )
    # No Elastic IP to wait for at boot.
    assert "bootcmd" not in cloud_config(node)


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        ({"controlPlaneCount": 2, "apiEndpoint": "nlb"}, "controlPlaneCount", "1, 3 or 5"),
        ({"controlPlaneCount": 3, "availabilityZoneCount": 3}, "apiEndpoint", "nlb when controlPlaneCount is 3"),
        ({"controlPlaneCount": 3, "apiEndpoint": "nlb"}, "controlPlaneCount", "at most the 2 zones"),
        ({"workerMinSize": 4, "workerMaxSize": 3, "workerDesiredCapacity": 3}, "workerMinSize", "at most workerMax"),
        ({"workerMinSize": 1, "workerMaxSize": 3, "workerDesiredCapacity": 4}, "workerDesiredCapacity", "from work"),
        ({"workerCount": 3}, "workerCount", "nothing: workerCount was removed, set workerMinSize"),
    ],
    ids=["even-count", "elastic-ip-for-three", "more-than-zones", "min-over-max", "desired-over-max", "worker-count"],
)
@MODES
def test_a_bad_topology_fails_before_any_resource(
    render_graph: RenderGraph, overrides: dict[str, object], key: str, allowed: str, preview: bool
) -> None:
    with pytest.raises(ConfigError) as caught:
        render_graph("dev", preview=preview, overrides=overrides)
    (problem,) = caught.value.problems
    assert problem.key == key and allowed in problem.allowed
    graph = partial_graph(caught.value)
    assert graph is not None and graph.resources == []


def test_the_single_control_plane_keeps_the_names_it_had(render_graph: RenderGraph) -> None:
    # Renaming any of these would replace it on the next `pulumi up` of a running stack: the instance
    # (etcd), its reserved addresses, the Elastic IP in the API certificate.
    graph = render_graph("dev")
    component = graph.one("k8sdualstack:nodes:ControlPlane", "dev-control-plane")
    prefix = "urn:pulumi:dev::k8s-dualstack-aws::k8sdualstack:nodes:ControlPlane$"
    assert sorted(record.urn for record in graph.children_of(component)) == sorted(
        [
            f"{prefix}aws:ec2/eip:Eip::dev-control-plane-api",
            f"{prefix}aws:ec2/eipAssociation:EipAssociation::dev-control-plane-api",
            f"{prefix}aws:ec2/instance:Instance::dev-control-plane-node",
            f"{prefix}aws:ec2/subnetCidrReservation:SubnetCidrReservation::dev-control-plane-node-ipv4",
            f"{prefix}aws:ec2/subnetCidrReservation:SubnetCidrReservation::dev-control-plane-node-ipv6",
        ]
    )
    assert component.urn == "urn:pulumi:dev::k8s-dualstack-aws::k8sdualstack:nodes:ControlPlane::dev-control-plane"
