"""The whole program under the mock engine, for every stack file, in preview and up mode.

Assertions read the captured resource graph (types, inputs, parents, dependencies). In
preview, values AWS or pulumi-tls compute are unknown as in a real `pulumi preview` of a new
stack; checks that need them run in up mode and assert the unknown in preview.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
import yaml
from bootstrap_support import expected_kubeadm_api
from conftest import EVERY_STACK, MODES, STACKS, RenderGraph, cluster_name

from components.ami import CANONICAL_OWNER_ID
from components.render import scripts
from components.render.user_data_encoding import decode_user_data
from components.settings import PROJECT, ConfigError
from components.versions import release_for
from tools.offline.capture import (
    Graph,
    ResourceRecord,
    contains_secrets,
    is_secret,
    is_unknown,
    redact_secrets,
    unwrap_secrets,
)
from tools.offline.engine import partial_graph, run_program
from tools.offline.stackfiles import stack_config

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
PARAMETER = "aws:ssm/parameter:Parameter"
INSTANCE_PROFILE = "aws:iam/instanceProfile:InstanceProfile"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
GET_AMI = "aws:ec2/getAmi:getAmi"


def kubernetes_minor(stack: str) -> str:
    return stack_config(stack)["k8s-dualstack-aws:kubernetesVersion"]


def control_plane_count(stack: str) -> int:
    return int(stack_config(stack)["k8s-dualstack-aws:controlPlaneCount"])


def test_every_stack_file_is_covered() -> None:
    assert {"dev", "k8s-1-21", "k8s-1-22", "k8s-1-35", "prod"} <= set(STACKS)


@EVERY_STACK
@MODES
def test_vpc_gets_amazon_ipv6_and_subnets_get_distinct_64s(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph: Graph = render_graph(stack, preview=preview)
    (vpc,) = graph.by_type(VPC)
    assert vpc.inputs["assignGeneratedIpv6CidrBlock"] is True
    subnets = graph.by_type(SUBNET)
    assert len({s.inputs["availabilityZone"] for s in subnets}) >= 2
    assert all(s.inputs["assignIpv6AddressOnCreation"] is True for s in subnets)
    assert all(s.inputs["enableResourceNameDnsAaaaRecordOnLaunch"] is True for s in subnets)
    if preview:
        assert all(is_unknown(s.inputs["ipv6CidrBlock"]) for s in subnets)
        return
    vpc_block = ipaddress.IPv6Network(vpc.state["ipv6CidrBlock"])
    blocks = [ipaddress.IPv6Network(s.inputs["ipv6CidrBlock"]) for s in subnets]
    assert len(set(blocks)) == len(blocks)
    assert all(b.prefixlen == 64 and b.subnet_of(vpc_block) for b in blocks)
    v4 = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets]
    assert all(n.subnet_of(ipaddress.IPv4Network(vpc.inputs["cidrBlock"])) for n in v4)


ROUTE_DESTINATIONS = ("destinationCidrBlock", "destinationIpv6CidrBlock", "destinationPrefixListId")
ROUTE_TARGETS = (
    "gatewayId",
    "egressOnlyGatewayId",
    "natGatewayId",
    "transitGatewayId",
    "vpcPeeringConnectionId",
    "networkInterfaceId",
    "vpcEndpointId",
    "carrierGatewayId",
    "localGatewayId",
    "coreNetworkArn",
)


def routes_by_table(graph: Graph) -> dict[str, set[tuple[str, str, str]]]:
    """Route table name -> its routes as (destination, target type, target name).

    Read from the dependencies, so preview (where every ID is unknown) reads the same."""
    tables = {table.urn: table for table in graph.by_type(ROUTE_TABLE)}
    routes: dict[str, set[tuple[str, str, str]]] = {table.name: set() for table in tables.values()}
    for table in tables.values():
        assert not table.inputs.get("routes"), f"{table.name} has inline routes"
    for route in graph.by_type(ROUTE):
        (table_urn,) = route.property_dependencies["routeTableId"]
        destinations = [route.inputs[key] for key in ROUTE_DESTINATIONS if route.inputs.get(key) is not None]
        targets = [graph.get(urn) for key in ROUTE_TARGETS for urn in route.property_dependencies.get(key, ()) if urn]
        assert len(destinations) == 1 and len(targets) == 1, (route.name, destinations, targets)
        entry = (destinations[0], targets[0].type, targets[0].name)
        assert entry not in routes[tables[table_urn].name], f"{route.name} repeats a route"
        routes[tables[table_urn].name].add(entry)
    return routes


def expected_routes(cluster: str, private: bool) -> dict[str, set[tuple[str, str, str]]]:
    igw = ("aws:ec2/internetGateway:InternetGateway", f"{cluster}-igw")
    expected = {f"{cluster}-public": {("0.0.0.0/0", *igw), ("::/0", *igw)}}
    if private:
        expected[f"{cluster}-private"] = {
            ("::/0", "aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway", f"{cluster}-eigw"),
            ("0.0.0.0/0", "aws:ec2/natGateway:NatGateway", f"{cluster}-nat"),
        }
    return expected


def subnets_by_table(graph: Graph) -> dict[str, set[str]]:
    """Route table name -> the tiers of the subnets associated with it; each subnet once."""
    associations = graph.by_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    subnets = [urn for a in associations for urn in a.property_dependencies["subnetId"]]
    assert sorted(subnets) == sorted(s.urn for s in graph.by_type(SUBNET)), "every subnet in exactly one table"
    tiers: dict[str, set[str]] = {}
    for association in associations:
        (table,) = association.property_dependencies["routeTableId"]
        (subnet,) = association.property_dependencies["subnetId"]
        tiers.setdefault(graph.get(table).name, set()).add(graph.get(subnet).inputs["tags"]["tier"])
    return tiers


@EVERY_STACK
@MODES
def test_each_route_table_has_exactly_its_default_routes(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph = render_graph(stack, preview=preview)
    cluster = cluster_name(stack)
    private = stack_config(stack).get("k8s-dualstack-aws:privateSubnets", "false") == "true"
    assert routes_by_table(graph) == expected_routes(cluster, private)
    assert subnets_by_table(graph) == {f"{cluster}-{tier}": {tier} for tier in ("public", "private")[: 1 + private]}


@MODES
def test_private_subnets_route_ipv6_through_the_egress_only_gateway_and_ipv4_through_nat(
    render_graph: RenderGraph, preview: bool
) -> None:
    graph = render_graph("dev", preview=preview, overrides={"privateSubnets": True, "natGateway": True})
    assert routes_by_table(graph) == expected_routes("dev", private=True)
    assert subnets_by_table(graph) == {"dev-public": {"public"}, "dev-private": {"private"}}


# Each case: a stack file as shipped, and dev with private subnets (workers behind the NAT gateway).
EGRESS_CASES = pytest.mark.parametrize(
    ("stack", "overrides"),
    [*((stack, None) for stack in STACKS), ("dev", {"privateSubnets": True, "natGateway": True})],
    ids=[*STACKS, "dev-private"],
)


def waits_for(graph: Graph, record: ResourceRecord) -> set[str]:
    """What a resource is created after: its own dependencies and those of its components."""
    return set(record.dependencies).union(*(ancestor.dependencies for ancestor in graph.ancestors(record)))


@EGRESS_CASES
@MODES
def test_nodes_boot_only_once_their_subnet_routes_to_the_internet(
    render_graph: RenderGraph, stack: str, overrides: dict[str, object] | None, preview: bool
) -> None:
    # The boot downloads apt packages, dl.k8s.io binaries and crictl from GitHub: a node that starts
    # before its subnet's default routes (or, private, the NAT gateway) exist fails its bootstrap. The
    # workers' group launches into every worker subnet, so it waits for each one's way out.
    graph = render_graph(stack, preview=preview, overrides=overrides)
    cluster = cluster_name(stack)
    routes = {route.urn: route for route in graph.by_type(ROUTE)}
    associations = graph.by_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    nat_gateways = {nat.urn for nat in graph.by_type("aws:ec2/natGateway:NatGateway")}
    launchers = [(i, i.property_dependencies["subnetId"]) for i in graph.by_type(INSTANCE)]
    launchers += [(g, g.property_dependencies["vpcZoneIdentifiers"]) for g in graph.by_type(AUTOSCALING_GROUP)]
    assert len(launchers) == control_plane_count(stack) + 1
    for launcher, subnets in launchers:
        assert subnets
        waits = waits_for(graph, launcher)
        for subnet in subnets:
            tier = graph.get(subnet).inputs["tags"]["tier"]
            table = graph.one(ROUTE_TABLE, f"{cluster}-{tier}")
            expected = {
                urn for urn, route in routes.items() if route.property_dependencies["routeTableId"] == (table.urn,)
            }
            assert len(expected) == 2, f"{table.name}: a default route per family"
            assert waits & routes.keys() >= expected, launcher.name
            (association,) = [a for a in associations if a.property_dependencies["subnetId"] == (subnet,)]
            assert association.urn in waits, f"{launcher.name}: without its association the subnet uses the main table"
            assert (waits & nat_gateways) == (nat_gateways if tier == "private" else set()), launcher.name
        tiers = {graph.get(subnet).inputs["tags"]["tier"] for subnet in subnets}
        wanted = {
            urn
            for urn, r in routes.items()
            if graph.get(r.property_dependencies["routeTableId"][0]).name in {f"{cluster}-{tier}" for tier in tiers}
        }
        assert waits & routes.keys() == wanted, launcher.name


@EVERY_STACK
@MODES
def test_instances_are_hardened_dual_stack_nodes(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    # The instances are the control planes; the workers' launch template: tests/test_topology.py.
    graph: Graph = render_graph(stack, preview=preview)
    instances = graph.by_type(INSTANCE)
    assert len(instances) == control_plane_count(stack)
    profiles = {p.urn for p in graph.by_type(INSTANCE_PROFILE)}
    # The deployed-version record is written after the nodes, never read by them.
    parameters = {p.urn for p in graph.by_type(PARAMETER) if "/state/" not in p.inputs["name"]}
    assert len(parameters) < len(graph.by_type(PARAMETER))
    for instance in instances:
        inputs = instance.inputs
        assert "control-plane" in instance.name
        assert inputs["metadataOptions"]["httpTokens"] == "required", instance.urn
        assert inputs["metadataOptions"]["httpProtocolIpv6"] == "enabled"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert inputs.get("ipv6AddressCount", 0) >= 1 or inputs.get("ipv6Addresses"), instance.urn
        assert inputs["enablePrimaryIpv6"] is True
        assert set(instance.property_dependencies["iamInstanceProfile"]) & profiles, instance.urn
        root = inputs["rootBlockDevice"]
        assert root["encrypted"] is True and root["volumeType"] == "gp3"
        assert "ami" in instance.ignore_changes
        # The control plane holds etcd: new user data never replaces it (README, replacing a control plane).
        assert inputs.get("userDataReplaceOnChange", False) is False
        assert parameters <= set(instance.dependencies), "nodes boot only once the SSM parameters they read exist"
        (profile,) = [graph.get(urn).name for urn in instance.property_dependencies["iamInstanceProfile"]]
        ssm_policy = graph.one("aws:iam/rolePolicy:RolePolicy", f"{profile}-ssm-parameters")
        assert ssm_policy.urn in instance.dependencies, "and the policy that lets them read them"


@EVERY_STACK
@MODES
def test_cluster_tag_on_everything_the_ccm_looks_up(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph: Graph = render_graph(stack, preview=preview)
    key = f"kubernetes.io/cluster/{cluster_name(stack)}"
    for type_token in (VPC, SUBNET, ROUTE_TABLE, SECURITY_GROUP, INSTANCE):
        for resource in graph.by_type(type_token):
            assert resource.inputs["tags"][key] == "owned", resource.urn
    for subnet in graph.by_type(SUBNET):
        tags = subnet.inputs["tags"]
        assert tags.get("kubernetes.io/role/elb") == "1" or tags.get("kubernetes.io/role/internal-elb") == "1"


@EVERY_STACK
def test_one_cluster_security_group_per_instance(render_graph: RenderGraph, stack: str) -> None:
    for instance in render_graph(stack).by_type(INSTANCE):
        assert len(instance.inputs["vpcSecurityGroupIds"]) == 1


@EVERY_STACK
def test_api_server_is_open_only_to_nodes_and_admin_cidrs(render_graph: RenderGraph, stack: str) -> None:
    admin = set(
        unwrap_secrets(stack_config(stack))["k8s-dualstack-aws:adminCidrs"].strip("[]").replace('"', "").split(",")
    )
    for rule in render_graph(stack).by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        inputs = rule.inputs
        cidr = inputs.get("cidrIpv4") or inputs.get("cidrIpv6")
        if inputs.get("fromPort") is not None and inputs["fromPort"] <= 6443 <= inputs["toPort"] and cidr:
            assert cidr in admin, rule.urn
        if cidr in ("0.0.0.0/0", "::/0"):
            assert inputs["ipProtocol"] in ("icmp", "icmpv6"), rule.urn


def cloud_config_of(instance: ResourceRecord) -> str:
    """The cloud-config cloud-init reads from the instance's user data (sent gzip-compressed)."""
    return decode_user_data(instance.inputs["userDataBase64"])


def kubelet_extra_args(user_data: str, minor: str) -> dict[str, str]:
    """The kubelet flags of the node's kubeadm Init- or JoinConfiguration (a file of its cloud-init).

    Reads the form the release's kubeadm API takes: a map before v1beta4 (1.31), from it a list
    of name/value; the other form fails, as does a flag named twice."""
    kubeadm_files = [
        entry["content"]
        for entry in yaml.safe_load(user_data)["write_files"]
        if entry["path"] == scripts.KUBEADM_TEMPLATE
    ]
    assert len(kubeadm_files) == 1, f"{len(kubeadm_files)} kubeadm configuration files in the user data"
    (node,) = [
        doc for doc in yaml.safe_load_all(kubeadm_files[0]) if doc["kind"] in ("InitConfiguration", "JoinConfiguration")
    ]
    expected_api = expected_kubeadm_api(release_for(minor))
    assert node["apiVersion"] == expected_api
    args = node["nodeRegistration"]["kubeletExtraArgs"]
    if expected_api.endswith("v1beta4"):
        assert isinstance(args, list) and all(set(item) == {"name", "value"} for item in args), args
        names = [item["name"] for item in args]
        assert len(names) == len(set(names)), names
        return {item["name"]: item["value"] for item in args}
    assert isinstance(args, dict) and all(isinstance(value, str) for value in args.values()), args
    return args


@EVERY_STACK
@MODES
def test_user_data_sets_external_cloud_provider_and_carries_no_secret(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    graph: Graph = render_graph(stack, preview=preview)
    token = unwrap_secrets(graph.one(PARAMETER, f"{cluster_name(stack)}-bootstrap-token").inputs["value"])
    instances = graph.by_type(INSTANCE)
    assert instances
    (template,) = graph.by_type(LAUNCH_TEMPLATE)
    for instance in [*instances, template]:
        key = "userDataBase64" if instance.type == INSTANCE else "userData"  # a launch template's is base64
        assert "userData" not in instance.inputs or instance.type == LAUNCH_TEMPLATE, "sent gzip-compressed"
        if preview:
            assert is_unknown(instance.inputs[key])  # depends on the Elastic IP / the CA certificate
            continue
        user_data = decode_user_data(instance.inputs[key])
        assert user_data.startswith("#cloud-config\n")
        assert kubelet_extra_args(user_data, kubernetes_minor(stack))["cloud-provider"] == "external", instance.name
        assert "PRIVATE KEY" not in user_data
        assert token not in user_data and "${BOOTSTRAP_TOKEN}" in user_data
        assert not contains_secrets(user_data)


@EVERY_STACK
def test_ubuntu_from_canonical_of_the_release(render_graph: RenderGraph, stack: str) -> None:
    graph: Graph = render_graph(stack)
    (lookup,) = graph.invokes_of(GET_AMI)
    assert lookup.args["owners"] == [CANONICAL_OWNER_ID]
    name_filter = next(f for f in lookup.args["filters"] if f["name"] == "name")["values"][0]
    release = release_for(kubernetes_minor(stack))
    assert f"-{release.ubuntu_release}-amd64-server-" in name_filter
    if release.minor in ("1.21", "1.22"):
        assert "ubuntu-focal-20.04" in name_filter
    amis = {instance.inputs["ami"] for instance in graph.by_type(INSTANCE)}
    assert len(amis) == 1 and amis.pop().startswith("ami-")


@EVERY_STACK
@MODES
def test_private_keys_only_in_secure_string_parameters(render_graph: RenderGraph, stack: str, preview: bool) -> None:
    graph: Graph = render_graph(stack, preview=preview)
    secure = [p for p in graph.by_type(PARAMETER) if p.inputs["type"] == "SecureString"]
    prefix = f"/k8s-dualstack-aws/{cluster_name(stack)}/"
    assert {p.inputs["name"].removeprefix(prefix) for p in secure} == {
        "pki/ca.key",
        "pki/front-proxy-ca.key",
        "pki/front-proxy-client.key",
        "pki/etcd/ca.key",
        "pki/sa.key",
        "bootstrap/token",
    }
    assert all(is_secret(p.inputs["value"]) or is_unknown(p.inputs["value"]) for p in secure)
    assert all(p.inputs["name"].startswith(prefix) for p in graph.by_type(PARAMETER))
    for resource in graph.resources:
        if resource.type.startswith("tls:") or resource in secure:
            continue
        assert "PRIVATE KEY" not in repr(redact_secrets(resource.inputs)), resource.urn
    assert "PRIVATE KEY" not in repr(redact_secrets(graph.exports))
    assert is_secret(graph.exports["kubeconfig"]) or is_unknown(graph.exports["kubeconfig"])


def _cert(graph: Graph, type_token: str, name: str) -> str:
    return str(graph.one(type_token, name).state["certPem"])


@EVERY_STACK
def test_front_proxy_client_verifies_against_the_front_proxy_ca(
    render_graph: RenderGraph, stack: str, tmp_path: Path
) -> None:
    graph: Graph = render_graph(stack)
    name = cluster_name(stack)
    ca = tmp_path / "front-proxy-ca.crt"
    client = tmp_path / "front-proxy-client.crt"
    cluster_ca = tmp_path / "ca.crt"
    ca.write_text(_cert(graph, "tls:index/selfSignedCert:SelfSignedCert", f"{name}-front-proxy-ca"))
    client.write_text(_cert(graph, "tls:index/locallySignedCert:LocallySignedCert", f"{name}-front-proxy-client"))
    cluster_ca.write_text(_cert(graph, "tls:index/selfSignedCert:SelfSignedCert", f"{name}-ca"))
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(client)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0 and f"{client}: OK" in verified.stdout, verified.stderr
    wrong = subprocess.run(
        ["openssl", "verify", "-CAfile", str(cluster_ca), str(client)], capture_output=True, text=True, check=False
    )
    assert wrong.returncode != 0, "the front-proxy client must not chain to the cluster CA"
    text = subprocess.run(
        ["openssl", "x509", "-in", str(client), "-noout", "-subject", "-ext", "extendedKeyUsage"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CN = front-proxy-client" in text and "TLS Web Client Authentication" in text


@EVERY_STACK
def test_admin_certificate_is_a_system_masters_client(render_graph: RenderGraph, stack: str, tmp_path: Path) -> None:
    graph: Graph = render_graph(stack)
    admin = tmp_path / "admin.crt"
    admin.write_text(_cert(graph, "tls:index/locallySignedCert:LocallySignedCert", f"{cluster_name(stack)}-admin"))
    subject = subprocess.run(
        ["openssl", "x509", "-in", str(admin), "-noout", "-subject"], capture_output=True, text=True, check=True
    ).stdout
    assert "O = system:masters" in subject and "CN = kubernetes-admin" in subject


@EVERY_STACK
def test_every_resource_belongs_to_a_component(render_graph: RenderGraph, stack: str) -> None:
    graph: Graph = render_graph(stack)
    for resource in graph.resources:
        if resource.custom:
            chain = graph.ancestors(resource)
            assert any(a.type.startswith("k8sdualstack:") for a in chain), resource.urn
        else:
            assert resource.type.startswith("k8sdualstack:") and resource.type.count(":") == 2


@pytest.mark.parametrize(
    ("override", "key"),
    [({"kubernetesVersion": "1.99"}, "kubernetesVersion"), ({"vpcIpv4Cidr": "10.0.0.0/33"}, "vpcIpv4Cidr")],
)
@MODES
def test_bad_config_fails_before_any_resource(
    render_graph: RenderGraph, override: dict[str, str], key: str, preview: bool
) -> None:
    with pytest.raises(ConfigError) as caught:
        render_graph("dev", preview=preview, overrides=override)
    assert f"k8s-dualstack-aws:{key}" in str(caught.value)
    graph = partial_graph(caught.value)
    assert graph is not None and graph.resources == [] and graph.invokes == []


def test_workers_scale_in_the_private_subnets_of_every_zone(render_graph: RenderGraph) -> None:
    overrides = {"workerMinSize": 1, "workerMaxSize": 9, "workerDesiredCapacity": 5, "privateSubnets": True}
    graph: Graph = render_graph("dev", overrides={**overrides, "natGateway": True})
    subnets = {s.urn: s for s in graph.by_type(SUBNET)}
    private = {urn for urn, s in subnets.items() if s.inputs["tags"].get("tier") == "private"}
    (group,) = graph.by_type(AUTOSCALING_GROUP)
    assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (1, 9, 5)
    assert set(group.property_dependencies["vpcZoneIdentifiers"]) == private
    assert len({subnets[urn].inputs["availabilityZone"] for urn in private}) == 2, "workers spread over both zones"
    assert sorted(group.inputs["vpcZoneIdentifiers"]) == sorted(str(subnets[urn].id) for urn in private)
    assert [i.name for i in graph.by_type(INSTANCE)] == ["dev-control-plane-node"]
    assert routes_by_table(graph) == expected_routes("dev", private=True)


def test_no_workers_is_a_valid_cluster(render_graph: RenderGraph) -> None:
    graph: Graph = render_graph("dev", overrides={"workerMinSize": 0, "workerMaxSize": 0, "workerDesiredCapacity": 0})
    assert [i.name for i in graph.by_type(INSTANCE)] == ["dev-control-plane-node"]
    (group,) = graph.by_type(AUTOSCALING_GROUP)
    assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (0, 0, 0)


@pytest.mark.parametrize("value", [2, 0])
@MODES
def test_a_stack_that_still_sets_worker_count_fails_before_any_resource(
    render_graph: RenderGraph, value: int, preview: bool
) -> None:
    # The key a stack file of before the Auto Scaling group may still set: the engine passes it to the
    # program (it is read although Pulumi.yaml no longer declares it) and the error names its successors.
    with pytest.raises(ConfigError) as caught:
        render_graph("dev", preview=preview, overrides={"workerCount": value})
    assert f"k8s-dualstack-aws:workerCount = {value}: allowed is nothing: workerCount was removed" in str(caught.value)
    assert "workerMinSize, workerMaxSize and workerDesiredCapacity" in str(caught.value)
    graph = partial_graph(caught.value)
    assert graph is not None and graph.resources == []


def test_control_plane_has_fixed_addresses_named_in_its_certificate(render_graph: RenderGraph) -> None:
    graph: Graph = render_graph("dev")
    node: ResourceRecord = graph.one(INSTANCE, "dev-control-plane-node")
    assert node.inputs["privateIp"] == "10.0.0.10"
    (ipv6,) = node.inputs["ipv6Addresses"]
    assert ipaddress.IPv6Address(ipv6) in ipaddress.IPv6Network(
        graph.one(SUBNET, "dev-public-us-east-1a").inputs["ipv6CidrBlock"]
    )
    assert node.delete_before_replace
    user_data = cloud_config_of(node)
    assert ipv6 in user_data and "10.0.0.10" in user_data
    public_ip = graph.one("aws:ec2/eip:Eip", "dev-control-plane-api").state["publicIp"]
    assert public_ip in user_data
    assert graph.exports["controlPlaneEndpoint"] == f"https://{public_ip}:6443"


RESERVATION = "aws:ec2/subnetCidrReservation:SubnetCidrReservation"


@EVERY_STACK
@MODES
def test_control_plane_addresses_are_reserved_in_its_subnet(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    # An explicit reservation keeps EC2 from handing the fixed addresses to another interface (a
    # worker, a CCM-made load balancer) while the control plane is being replaced or not yet created.
    graph = render_graph(stack, preview=preview)
    nodes = graph.by_type(INSTANCE)
    reservations = graph.by_type(RESERVATION)
    assert len(nodes) == control_plane_count(stack) and len(reservations) == 2 * len(nodes)
    for node in nodes:
        (subnet,) = node.property_dependencies["subnetId"]
        own = [r for r in reservations if r.name in (f"{node.name}-ipv4", f"{node.name}-ipv6")]
        assert len(own) == 2
        for reservation in own:
            assert reservation.inputs["reservationType"] == "explicit"
            assert reservation.property_dependencies["subnetId"] == (subnet,)
            assert reservation.urn in node.dependencies, "the instance takes its address only once it is reserved"
        cidrs = [reservation.inputs["cidrBlock"] for reservation in own]
        assert f"{node.inputs['privateIp']}/32" in cidrs
        if preview:
            assert sum(is_unknown(cidr) for cidr in cidrs) == 1  # the IPv6 /128 follows the VPC's /56
            continue
        (ipv6,) = node.inputs["ipv6Addresses"]
        assert sorted(cidrs) == sorted([f"{node.inputs['privateIp']}/32", f"{ipv6}/128"])
        assert str(ipaddress.ip_network(f"{ipv6}/128")) == f"{ipv6}/128", "IPv6 as EC2 returns it (RFC 5952)"


@EVERY_STACK
@MODES
def test_new_user_data_replaces_workers_and_leaves_the_control_plane_alone(
    render_graph: RenderGraph, stack: str, preview: bool
) -> None:
    # An in-place user-data change would stop and start the instance and cloud-init would not run
    # again: workers get a new launch template version, which the group rolls out as new instances;
    # the control planes (etcd) keep running until replaced deliberately (README, "Running it for real").
    graph = render_graph(stack, preview=preview)
    for instance in graph.by_type(INSTANCE):
        assert "control-plane" in instance.name
        assert {"userData", "userDataBase64"} <= set(instance.ignore_changes), instance.ignore_changes
        assert not instance.inputs.get("userDataReplaceOnChange", False)
    (template,) = graph.by_type(LAUNCH_TEMPLATE)
    assert template.ignore_changes == ("imageId",), "user data changes are new versions, the AMI lookup is not"
    assert template.inputs["updateDefaultVersion"] is True
    (group,) = graph.by_type(AUTOSCALING_GROUP)
    assert group.property_dependencies["launchTemplate"] == (template.urn,)
    assert group.inputs["instanceRefresh"]["strategy"] == "Rolling"


@MODES
def test_a_deliberate_roll_replaces_control_planes_with_the_new_user_data(preview: bool) -> None:
    """An ignored input keeps its old value even on `--replace`; `controlPlaneUserData: replace`
    lifts the ignore so the replacement boots what the program renders now."""
    graph = run_program("dev", preview=preview, overrides={f"{PROJECT}:controlPlaneUserData": "replace"})
    (instance,) = graph.by_type(INSTANCE)
    assert "userDataBase64" not in instance.ignore_changes and "ami" in instance.ignore_changes
    assert instance.inputs["userDataReplaceOnChange"] is True


def test_control_plane_user_data_policy_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"controlPlaneUserData = 'roll': allowed is one of ignore, replace"):
        run_program("dev", preview=False, overrides={f"{PROJECT}:controlPlaneUserData": "roll"})


@EVERY_STACK
def test_preview_plans_exactly_the_resources_up_creates(render_graph: RenderGraph, stack: str) -> None:
    up = {r.urn for r in render_graph(stack).resources}
    preview = {r.urn for r in render_graph(stack, preview=True).resources}
    assert preview == up


def test_same_config_gives_byte_identical_inputs() -> None:
    # Fresh runs (not the session cache): nothing may depend on time, randomness or set order,
    # or `pulumi up` would never converge.
    first, second = (run_program("k8s-1-35", preview=False) for _ in range(2))
    assert [(r.urn, r.inputs) for r in first.resources] == [(r.urn, r.inputs) for r in second.resources]


@EVERY_STACK
def test_smoke_exports_exist_exactly_when_the_smoke_workload_does(render_graph: RenderGraph, stack: str) -> None:
    graph: Graph = render_graph(stack)
    smoke_on = stack_config(stack)["k8s-dualstack-aws:smokeWorkload"] == "true"
    assert ("verifyServiceIps" in graph.exports) is smoke_on
    assert ("smokeServiceClusterIps" in graph.exports) is smoke_on
    assert bool(graph.by_type("kubernetes:apps/v1:Deployment")) is smoke_on
