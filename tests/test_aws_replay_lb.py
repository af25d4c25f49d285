"""The production topology's API load balancer in the AWS replay (tools/aws_replay_lb.py): the
health check and attribute mapping without an API, then the prod stack replayed into moto and
read back - the network load balancer, its target group, listener and targets - against what
issue 12 asks of it. Each moto read-back says whether moto derived or checked the value, or only
stores what the replay sent (then the point is that the replay maps the program's input)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aws_replay_support import ATTACHMENT, LISTENER, LOAD_BALANCER, TARGET_GROUP, assert_workers, moto_endpoint
from conftest import RenderGraph

from tools.aws_replay import ReplayResult, planned_resources
from tools.aws_replay_lb import attribute_value, health_check_params
from tools.offline.capture import Graph


@pytest.mark.parametrize(
    ("check", "target_type", "expected"),
    [
        # The program's check: HTTPS /readyz on the traffic port, its own timings.
        (
            {
                "protocol": "HTTPS",
                "port": "6443",
                "path": "/readyz",
                "matcher": "200",
                "interval": 10.0,
                "timeout": 5.0,
            },
            "instance",
            {
                "HealthCheckEnabled": True,
                "HealthCheckIntervalSeconds": 10,
                "HealthyThresholdCount": 3,
                "UnhealthyThresholdCount": 3,
                "HealthCheckTimeoutSeconds": 5,
                "HealthCheckPath": "/readyz",
                "Matcher": {"HttpCode": "200"},
                "HealthCheckPort": "6443",
                "HealthCheckProtocol": "HTTPS",
            },
        ),
        # A TCP check has no path or success codes, even when given; the provider's defaults fill in.
        (
            {"protocol": "TCP", "path": "/ignored", "matcher": "200"},
            "ip",
            {
                "HealthCheckEnabled": True,
                "HealthCheckIntervalSeconds": 30,
                "HealthyThresholdCount": 3,
                "UnhealthyThresholdCount": 3,
                "HealthCheckPort": "traffic-port",
                "HealthCheckProtocol": "TCP",
            },
        ),
        # A Lambda target has no health check port or protocol; the protocol defaults to HTTP.
        (
            {"enabled": False, "path": "/health"},
            "lambda",
            {
                "HealthCheckEnabled": False,
                "HealthCheckIntervalSeconds": 30,
                "HealthyThresholdCount": 3,
                "UnhealthyThresholdCount": 3,
                "HealthCheckPath": "/health",
            },
        ),
    ],
)
def test_health_check_block_to_create_target_group_parameters(
    check: dict[str, Any], target_type: str, expected: dict[str, Any]
) -> None:
    assert health_check_params(check, target_type) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, "true"), (False, "false"), ("false", "false"), (30.0, "30"), (2.5, "2.5")]
)
def test_attribute_values_as_the_api_takes_them(value: object, expected: str) -> None:
    assert attribute_value(value) == expected


# -- against moto ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_endpoint() as url:
        yield url


@pytest.fixture(scope="module")
def prod(render_graph: RenderGraph, endpoint: str) -> tuple[Graph, ReplayResult, dict[str, Any]]:
    """The production topology replayed once: its graph, the result, and boto3 clients of the server."""
    from tools.aws_replay import clients, replay  # noqa: PLC0415

    graph = render_graph("prod")
    result = replay(graph, endpoint, include_instances=True)
    return graph, result, clients(endpoint, result.region)


def test_replays_the_production_topology(prod: tuple[Graph, ReplayResult, dict[str, Any]]) -> None:
    graph, result, api = prod
    assert result.ok, result.report()
    assert not result.skipped and not result.skip_notes, result.report()
    replayed = {r.type for r in planned_resources(graph) if r.urn in result.ids}
    assert {LOAD_BALANCER, TARGET_GROUP, LISTENER, ATTACHMENT} <= replayed
    # Three control planes at the fixed host of their zone's public subnet; the load balancer's group
    # and its rules (EC2 security groups).
    control_planes = [info for name, info in result.instances.items() if "-control-plane-" in name]
    addresses = sorted(info.private_ipv4 for info in control_planes)
    assert addresses == ["10.0.0.10", "10.0.16.10", "10.0.32.10"]
    assert len({info.availability_zone for info in control_planes}) == 3
    assert_workers(result, graph, api, "prod")
    group = result.id("prod-api-lb", "ec2/securityGroup:SecurityGroup")
    rules = api["ec2"].describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    assert sorted((r["IsEgress"], r["FromPort"]) for r in rules["SecurityGroupRules"]) == [(False, 6443)] * 4 + [
        (True, 6443)
    ]


# What issue 12 asks of the API load balancer, read back from moto. "round trip": moto stores what
# the replay sent, so the row checks that the replay maps the program's input to the API; "moto":
# a value moto derives or checks itself.
LOAD_BALANCER_FACTS = [
    ("Type", "network", "round trip (and moto accepts the TCP listener only on a network load balancer)"),
    ("Scheme", "internet-facing", "round trip of internal=false"),
    ("IpAddressType", "dualstack", "round trip; moto checks the value is ipv4 or dualstack"),
    ("State", "active", "moto: active once described, the provider's wait"),
    (
        "load_balancing.cross_zone.enabled",
        "true",
        "round trip of ModifyLoadBalancerAttributes; moto's default is false",
    ),
    ("access_logs.s3.enabled", "false", "round trip: the provider turns access logs off explicitly"),
]


@pytest.mark.parametrize(("key", "expected", "what"), LOAD_BALANCER_FACTS, ids=[row[0] for row in LOAD_BALANCER_FACTS])
def test_the_api_load_balancer(
    prod: tuple[Graph, ReplayResult, dict[str, Any]], key: str, expected: str, what: str
) -> None:
    _, result, api = prod
    arn = result.id("prod-api", "lb/loadBalancer:LoadBalancer")
    (held,) = api["elbv2"].describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    attributes = {
        a["Key"]: a["Value"] for a in api["elbv2"].describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    }
    value = held["State"]["Code"] if key == "State" else held[key] if key in held else attributes.get(key)
    assert value == expected, f"{key} is {value!r}, expected {expected!r} ({what})"


def test_the_api_load_balancer_spans_the_public_subnet_of_every_zone(
    prod: tuple[Graph, ReplayResult, dict[str, Any]],
) -> None:
    _, result, api = prod
    ec2 = api["ec2"]
    (held,) = api["elbv2"].describe_load_balancers(Names=["prod-api"])["LoadBalancers"]
    vpc = result.id("prod-vpc", "ec2/vpc:Vpc")
    # Public, as EC2 says: associated with a route table whose IPv4 default route is an internet gateway.
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    public = {
        association["SubnetId"]
        for table in tables
        if any(
            r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId", "").startswith("igw-")
            for r in table["Routes"]
        )
        for association in table.get("Associations", [])
        if "SubnetId" in association
    }
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    # moto derives the zones and the VPC from the subnets it was given.
    assert {(z["SubnetId"], z["ZoneName"]) for z in held["AvailabilityZones"]} == {
        (s["SubnetId"], s["AvailabilityZone"]) for s in subnets if s["SubnetId"] in public
    }
    assert len(held["AvailabilityZones"]) == len(zones) == 3 and held["VpcId"] == vpc
    # AWS requires an IPv6 block on every subnet of a dual-stack load balancer; moto does not check it.
    assert all(s.get("Ipv6CidrBlockAssociationSet") for s in subnets if s["SubnetId"] in public)
    # Its own security group, the one EC2 knows by the program's name (moto does not look it up).
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["prod-api-lb"]}])[
        "SecurityGroups"
    ]
    assert held["SecurityGroups"] == [group["GroupId"]]


def test_the_api_target_group_and_listener(prod: tuple[Graph, ReplayResult, dict[str, Any]]) -> None:
    graph, result, api = prod
    elbv2 = api["elbv2"]
    lb_arn = result.id("prod-api", "lb/loadBalancer:LoadBalancer")
    arn = result.id("prod-api", "lb/targetGroup:TargetGroup")
    (group,) = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    # What the issue asks (round trips): TCP 6443 to the instances, an HTTPS check of /readyz.
    asked = ("Protocol", "Port", "TargetType", "HealthCheckProtocol", "HealthCheckPath", "HealthCheckEnabled")
    assert {key: group[key] for key in asked} == {
        "Protocol": "TCP",
        "Port": 6443,
        "TargetType": "instance",
        "HealthCheckProtocol": "HTTPS",
        "HealthCheckPath": "/readyz",
        "HealthCheckEnabled": True,
    }
    # The rest of the check as planned (round trips; moto checks the timeout is below the interval).
    check = graph.one(TARGET_GROUP, "prod-api").inputs["healthCheck"]
    assert (
        group["HealthCheckPort"],
        group["Matcher"],
        group["HealthCheckIntervalSeconds"],
        group["HealthCheckTimeoutSeconds"],
        group["HealthyThresholdCount"],
        group["UnhealthyThresholdCount"],
    ) == (
        check["port"],
        {"HttpCode": check["matcher"]},
        int(check["interval"]),
        int(check["timeout"]),
        int(check["healthyThreshold"]),
        int(check["unhealthyThreshold"]),
    )
    assert group["VpcId"] == result.id("prod-vpc", "ec2/vpc:Vpc")
    # Client IP preservation off: a round trip of ModifyTargetGroupAttributes (moto has no default for
    # it and stores any attribute; AWS's default for instance targets is on).
    attributes = {
        a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attributes.get("preserve_client_ip.enabled") == "false", attributes
    assert attributes.get("deregistration_delay.timeout_seconds") == "30", attributes
    # The listener: TCP 6443 forwarding to that group. moto records the group's load balancer from it.
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (6443, "TCP")
    assert [(a["Type"], a["TargetGroupArn"]) for a in listener["DefaultActions"]] == [("forward", arn)]
    assert group["LoadBalancerArns"] == [lb_arn]


def test_every_control_plane_is_a_target(prod: tuple[Graph, ReplayResult, dict[str, Any]]) -> None:
    _, result, api = prod
    arn = result.id("prod-api", "lb/targetGroup:TargetGroup")
    health = api["elbv2"].describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    registered = {(h["Target"]["Id"], h["Target"]["Port"]) for h in health}
    # The control planes, as EC2 knows them by their Name tag; Pulumi.prod.yaml asks for three.
    reservations = api["ec2"].describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": ["prod-control-plane-node*"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    control_planes = {i["InstanceId"] for r in reservations for i in r["Instances"]}
    assert len(control_planes) == 3
    assert registered == {(instance_id, 6443) for instance_id in control_planes}
    # moto runs no health check: a registered running instance is "healthy" (an unregistered one is
    # "unused"), so the state says registered, not ready.
    assert {h["TargetHealth"]["State"] for h in health} == {"healthy"}
