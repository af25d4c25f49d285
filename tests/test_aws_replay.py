"""The AWS replay (tools/aws_replay.py): the plan and its order without an API, then the real
boto3 calls against a moto server on loopback (skipped where moto is not installed; `make
validate` installs it and replays every stack). The API load balancer of the production topology:
tests/test_aws_replay_lb.py."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_replay_support import (
    ATTACHMENT,
    GROUP,
    INSTANCE,
    LAUNCH_TEMPLATE,
    LISTENER,
    LOAD_BALANCER,
    SUBNET,
    TARGET_GROUP,
    assert_workers,
    documents,
    moto_endpoint,
)
from conftest import RenderGraph

from components.network_plan import ipv6_subnet
from components.render.user_data_encoding import decode_user_data
from tools.aws_replay import planned_resources, region_of, replay_order
from tools.aws_replay_calls import HANDLERS, SKIPPED_TYPES, ipv6_index, same_host
from tools.offline.capture import Graph
from tools.render import write_resources


@pytest.fixture(scope="module")
def private_subnets_graph(render_graph: RenderGraph) -> Graph:
    """dev with private subnets and a NAT gateway: every network type the program can create."""
    return render_graph("dev", overrides={"privateSubnets": True, "natGateway": True})


def test_every_aws_type_the_program_creates_has_a_replay(
    private_subnets_graph: Graph, render_graph: RenderGraph
) -> None:
    types = {
        record.type
        for graph in (private_subnets_graph, render_graph("prod"))
        for record in graph.resources
        if record.custom and record.type.startswith("aws:")
    }
    assert {LOAD_BALANCER, TARGET_GROUP, LISTENER, ATTACHMENT} <= types, "prod has the API load balancer"
    assert types <= set(HANDLERS), f"no replay for {sorted(types - set(HANDLERS))}"
    assert not SKIPPED_TYPES, f"every type the program creates is replayed, none skipped: {SKIPPED_TYPES}"


@pytest.mark.parametrize("stack", ["k8s-1-35", "prod"])
def test_order_creates_everything_after_what_it_depends_on(render_graph: RenderGraph, stack: str) -> None:
    resources = planned_resources(render_graph(stack))
    order = replay_order(resources)
    position = {resource.urn: index for index, resource in enumerate(order)}
    assert order[0].type == "aws:ec2/vpc:Vpc"
    for resource in order:
        for edge in resource.edges & position.keys():
            assert position[edge] < position[resource.urn], f"{resource.name} before its dependency {edge}"


@pytest.mark.parametrize(
    ("stack", "kept"),
    [
        ("dev", {LAUNCH_TEMPLATE, "aws:iam/instanceProfile:InstanceProfile"}),
        # A target registration names an instance: it goes with them; the rest of the load balancer stays.
        ("prod", {LAUNCH_TEMPLATE, LOAD_BALANCER, TARGET_GROUP, LISTENER}),
    ],
)
def test_order_leaves_instances_out_on_request(render_graph: RenderGraph, stack: str, kept: set[str]) -> None:
    all_types = {r.type for r in replay_order(planned_resources(render_graph(stack)))}
    types = {r.type for r in replay_order(planned_resources(render_graph(stack)), include_instances=False)}
    left_out = {INSTANCE, GROUP, "aws:ec2/eipAssociation:EipAssociation", ATTACHMENT}
    assert types.isdisjoint(left_out) and all_types & left_out, all_types & left_out
    assert kept <= types


def test_resources_json_and_the_graph_give_the_same_plan(render_graph: RenderGraph, tmp_path: Path) -> None:
    graph = render_graph("k8s-1-22")
    (path,) = write_resources(graph, tmp_path)
    from_file = planned_resources(path)
    assert from_file == planned_resources(graph)
    assert planned_resources(json.loads(path.read_text())) == from_file
    assert region_of(from_file) == "us-east-1"


def test_subnet_index_and_fixed_host_survive_a_different_56() -> None:
    planned_block, real_block = "2600:1f18:cc36:100::/56", "2400:6500:73d4:bd00::/56"
    for index in (0, 1, 128, 255):
        planned = ipv6_subnet(planned_block, index)
        assert ipv6_index(planned) == index
        real = ipv6_subnet(real_block, index)
        assert same_host(str(ipaddress.IPv6Network(planned)[10]), real) == str(ipaddress.IPv6Network(real)[10])


# -- against moto ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


def test_replays_a_stack_with_the_real_ipv6_block(render_graph: RenderGraph, endpoint: str) -> None:
    from tools.aws_replay import replay  # noqa: PLC0415

    graph = render_graph("k8s-1-35")
    result = replay(graph, endpoint, include_instances=True)
    assert result.ok, result.report()
    assert not result.skipped, result.report()
    # The workers: the launch template and the Auto Scaling group launched the desired count from it.
    assert set(result.instances) == {"k8s-1-35-control-plane-node", "k8s-1-35-workers-0", "k8s-1-35-workers-1"}
    (block,) = result.vpc_ipv6_cidrs.values()
    assert ipaddress.IPv6Network(block).prefixlen == 56
    plans = {r.name: r.inputs["ipv6CidrBlock"] for r in planned_resources(graph) if r.type == SUBNET}
    assert result.subnet_ipv6_cidrs == {name: ipv6_subnet(block, ipv6_index(p)) for name, p in plans.items()}
    for name, info in result.instances.items():
        subnet = next(s for s, sid in result.ids.items() if sid == info.subnet_id)
        real = ipaddress.IPv6Network(result.subnet_ipv6_cidrs[result.names[subnet]])
        assert info.ipv6 and all(ipaddress.IPv6Address(a) in real for a in info.ipv6), name
        assert info.tags["kubernetes.io/cluster/k8s-1-35"] == "owned"
    control_plane = result.instances["k8s-1-35-control-plane-node"]
    assert control_plane.private_ipv4 == "10.0.0.10" and control_plane.ipv6[0].endswith("::a")
    assert control_plane.public_ipv4, "the API server's Elastic IP is associated"
    # Both fixed addresses explicitly reserved in the control plane's real subnet (IPv6 in the real /64).
    from tools.aws_replay import clients  # noqa: PLC0415

    assert all(result.id(f"k8s-1-35-control-plane-node-{family}").startswith("scr-") for family in ("ipv4", "ipv6"))
    reserved = clients(endpoint, result.region)["ec2"].get_subnet_cidr_reservations(SubnetId=control_plane.subnet_id)
    assert [(r["Cidr"], r["ReservationType"]) for r in reserved["SubnetIpv4CidrReservations"]] == [
        ("10.0.0.10/32", "explicit")
    ]
    assert [(r["Cidr"], r["ReservationType"]) for r in reserved["SubnetIpv6CidrReservations"]] == [
        (f"{control_plane.ipv6[0]}/128", "explicit")
    ]
    assert result.id("k8s-1-35-control-plane", "iam/role:Role") == "k8s-1-35-control-plane"
    assert_workers(result, graph, clients(endpoint, result.region), "k8s-1-35")
    # EC2 holds the gzip-compressed cloud-config the program planned, and it decompresses to it.
    ec2 = clients(endpoint, result.region)["ec2"]
    template = graph.one(LAUNCH_TEMPLATE, "k8s-1-35-workers").inputs["userData"]
    for name, info in result.instances.items():
        held = ec2.describe_instance_attribute(InstanceId=info.instance_id, Attribute="userData")["UserData"]["Value"]
        planned = (
            template if name.startswith("k8s-1-35-workers-") else graph.one(INSTANCE, name).inputs["userDataBase64"]
        )
        assert held == planned, name
        assert decode_user_data(held).startswith("#cloud-config\n"), name


def test_a_skipped_type_is_listed_with_its_reason_and_not_made(
    render_graph: RenderGraph, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.aws_replay  # noqa: PLC0415

    network = [doc for doc in documents(render_graph("k8s-1-21")) if doc["type"] in ("aws:ec2/vpc:Vpc", SUBNET)]
    monkeypatch.setattr(tools.aws_replay, "SKIPPED_TYPES", {SUBNET: "the reason it is not made yet"})
    result = tools.aws_replay.replay(network, endpoint, include_instances=False, region="us-east-1")
    subnets = sorted(doc["name"] for doc in network if doc["type"] == SUBNET)
    assert result.ok and len(subnets) == 2, result.report()
    assert sorted(result.names[urn] for urn in result.skipped) == subnets
    assert set(result.skipped.values()) == {f"{SUBNET}: the reason it is not made yet"}
    assert result.skip_notes == [f"not replayed (2: {', '.join(subnets)}): {SUBNET}: the reason it is not made yet"]
    assert all(f"skipped {name}: " in result.report() for name in subnets)
    assert [call.operation for call in result.calls] == ["ec2.create_vpc"] + ["ec2.modify_vpc_attribute"] * 2


def test_replays_private_subnets_with_egress_only_and_nat_gateways(private_subnets_graph: Graph, endpoint: str) -> None:
    from tools.aws_replay import replay  # noqa: PLC0415

    result = replay(private_subnets_graph, endpoint, include_instances=False)
    assert result.ok, result.report()
    ids = result.ids.values()
    assert any(i.startswith("eigw-") for i in ids) and any(i.startswith("nat-") for i in ids)
    private = [name for name in result.subnet_ipv6_cidrs if "-private-" in name]
    assert private and all(
        ipaddress.IPv6Network(result.subnet_ipv6_cidrs[n]).network_address.packed[7] >= 128 for n in private
    )


def test_a_failing_call_is_reported_and_its_dependents_are_not_attempted(
    render_graph: RenderGraph, endpoint: str
) -> None:
    from tools.aws_replay import replay  # noqa: PLC0415

    planned = documents(render_graph("k8s-1-21"))
    vpc = next(doc for doc in planned if doc["type"] == "aws:ec2/vpc:Vpc")
    vpc["inputs"]["cidrBlock"] = "10.0.0.0/8"  # EC2 takes /16 to /28
    # The worker's node policy: unlike the CCM policy (which names the VPC) it does not wait for the VPC.
    policy = next(
        doc
        for doc in planned
        if doc["type"] == "aws:iam/rolePolicy:RolePolicy" and doc["name"].endswith("-worker-node")
    )
    policy["inputs"]["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allw"}]})
    result = replay(planned, endpoint, include_instances=False)
    failed = {call.name: call for call in result.failures}
    assert failed[vpc["name"]].operation == "ec2.create_vpc"
    assert failed[policy["name"]].operation == "iam.put_role_policy"
    subnets = [doc["name"] for doc in planned if doc["type"] == SUBNET]
    assert subnets and all("not attempted" in str(failed[name].error) for name in subnets)
    assert not any(call.name.endswith("-ssm-agent") for call in result.failures), "IAM does not wait for the VPC"


def test_replays_the_cluster_key_and_the_parameters_under_it(render_graph: RenderGraph, endpoint: str) -> None:
    from tools.aws_replay import clients, replay  # noqa: PLC0415

    graph = render_graph("k8s-1-22")  # a stack no other test of this module replays into the shared server
    result = replay(graph, endpoint, include_instances=False)
    types = {r.urn: r.type for r in planned_resources(graph)}
    assert not [c for c in result.failures if types[c.urn].startswith(("aws:kms/", "aws:ssm/", "aws:iam/"))], (
        result.report()
    )
    api = clients(endpoint, result.region)
    key_id = result.id("k8s-1-22-secrets", "kms/key:Key")
    key = api["kms"].describe_key(KeyId=key_id)["KeyMetadata"]
    assert api["kms"].get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    aliases = api["kms"].list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/k8s-dualstack-aws/k8s-1-22"]
    # The key policy names the roles the replay created (the program's are auto-named).
    policy = json.loads(api["kms"].get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    roles = {r: api["iam"].get_role(RoleName=f"k8s-1-22-{r}")["Role"]["Arn"] for r in ("control-plane", "worker")}
    principals = {s["Sid"]: s["Principal"]["AWS"] for s in policy["Statement"]}
    assert principals["WorkersDecryptToken"] == roles["worker"]
    assert principals["ControlPlaneDecryptsPkiAndToken"] == roles["control-plane"]
    path = {"Key": "Path", "Option": "Recursive", "Values": ["/k8s-dualstack-aws/k8s-1-22"]}
    pages = api["ssm"].get_paginator("describe_parameters").paginate(ParameterFilters=[path])
    parameters = [parameter for page in pages for parameter in page["Parameters"]]
    # Every planned parameter, each of its planned type; the six secrets (the PKI and the join token)
    # under the cluster key.
    planned = {
        r.inputs["name"]: r.inputs["type"] for r in planned_resources(graph) if r.type == "aws:ssm/parameter:Parameter"
    }
    assert {p["Name"]: p["Type"] for p in parameters} == planned and len(planned) >= 11
    secure = {p["Name"]: p.get("KeyId") for p in parameters if p["Type"] == "SecureString"}
    assert len(secure) == 6 and set(secure.values()) == {key["Arn"]}
    assert all("KeyId" not in p for p in parameters if p["Type"] == "String")
    assert not [c for c in result.calls if c.operation == "iam.attach_role_policy"]
