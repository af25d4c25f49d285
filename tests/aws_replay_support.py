"""Shared by the AWS replay tests (tests/test_aws_replay.py, tests/test_aws_replay_lb.py): the type
tokens, a moto server for a module, what the workers must look like in moto, and a stack's
resources.json to change."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tools.offline.capture import Graph
from tools.output import jsonable
from tools.render import resource_document

SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"


@contextmanager
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback (the test is skipped where moto is not installed)."""
    pytest.importorskip("moto", reason="moto comes with requirements-dev.txt")
    from tools.validate.motoserver import moto_server  # noqa: PLC0415 - after the skip

    with moto_server() as url:
        yield url


def assert_workers(result: Any, graph: Graph, api: dict[str, Any], stack: str) -> None:
    """The workers' launch template as planned, the group over every worker subnet with the desired
    count, and each of its instances in one of those subnets with an IPv6 address of its /64."""
    template = graph.one(LAUNCH_TEMPLATE, f"{stack}-workers").inputs
    group_plan = graph.one(GROUP, f"{stack}-workers").inputs
    template_id = result.id(f"{stack}-workers", "launchTemplate:LaunchTemplate")
    (version,) = api["ec2"].describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Latest"])[
        "LaunchTemplateVersions"
    ]
    data = version["LaunchTemplateData"]
    assert data["InstanceType"] == template["instanceType"] and data["UserData"] == template["userData"]
    assert data["ImageId"].startswith("ami-")
    assert data["IamInstanceProfile"] == {"Name": result.id(f"{stack}-worker", "instanceProfile:InstanceProfile")}
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert int(data["MetadataOptions"]["HttpPutResponseHopLimit"]) == 1
    (interface,) = data["NetworkInterfaces"]
    assert int(interface["Ipv6AddressCount"]) == 1 and interface["PrimaryIpv6"] in (True, "true")
    assert interface["Groups"] == [result.id(f"{stack}-worker", "ec2/securityGroup:SecurityGroup")]
    # (moto also lists the template's own tags here)
    assert {"instance", "volume"} <= {s["ResourceType"] for s in data["TagSpecifications"]}
    (group,) = api["autoscaling"].describe_auto_scaling_groups(
        AutoScalingGroupNames=[result.id(f"{stack}-workers", "autoscaling/group:Group")]
    )["AutoScalingGroups"]
    desired = int(group_plan["desiredCapacity"])
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (
        int(group_plan["minSize"]),
        int(group_plan["maxSize"]),
        desired,
    )
    assert group["LaunchTemplate"]["LaunchTemplateId"] == template_id
    worker_subnets = set(group["VPCZoneIdentifier"].split(","))
    assert len(worker_subnets) == len(group_plan["vpcZoneIdentifiers"]) == 3
    assert {t["Key"]: t["PropagateAtLaunch"] for t in group["Tags"]}[f"kubernetes.io/cluster/{stack}"] is True
    workers = {name: info for name, info in result.instances.items() if name.startswith(f"{stack}-workers-")}
    assert len(workers) == desired and sorted(i.instance_id for i in workers.values()) == sorted(
        i["InstanceId"] for i in group["Instances"]
    )
    by_id = {sid: result.names[urn] for urn, sid in result.ids.items()}
    for name, info in workers.items():
        assert info.subnet_id in worker_subnets, name
        real = ipaddress.IPv6Network(result.subnet_ipv6_cidrs[by_id[info.subnet_id]])
        assert len(info.ipv6) == 1 and ipaddress.IPv6Address(info.ipv6[0]) in real, name
        assert info.tags[f"kubernetes.io/cluster/{stack}"] == "owned" and info.tags["Name"] == f"{stack}-workers-node"


def documents(graph: Graph) -> list[dict[str, Any]]:
    """resources.json of a graph, as a fresh copy to change."""
    return json.loads(json.dumps([jsonable(resource_document(r)) for r in graph.resources]))
