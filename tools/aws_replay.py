"""Replay the program's AWS plan against an AWS API (moto on loopback) with boto3.

    with moto_server() as endpoint:                 # tools.validate.motoserver
        result = replay(graph, endpoint, include_instances=True)
        assert result.ok, result.report()
        result.id("k8s-1-35-vpc")                  # the VPC's id in moto
        result.instances["k8s-1-35-workers-0"]     # InstanceInfo: id, IPv4, IPv6, subnet, zone, tags
                                                   # (an Auto Scaling group's: <group>-<i>, by instance ID)
        result.id("prod-api", "lb/loadBalancer:LoadBalancer")   # the API load balancer's ARN

The source is a captured `Graph` (up mode) or the render's `resources.json`. Each AWS resource
becomes the API calls its Pulumi provider makes (`tools.aws_replay_calls`), in dependency
order; references between resources follow the recorded property dependencies, not the mock
engine's placeholder IDs. AWS-assigned values come from the API, as on a real `pulumi up`: the
subnets' /64s are carved from the VPC's *actual* Amazon IPv6 /56 with `network_plan.ipv6_subnet`
at the program's index, and fixed IPv6 addresses keep their host part inside the real /64.
Names the provider would generate (roles, groups, profiles, load balancer, target group) are the
logical names.

Every call is recorded (`ReplayResult.calls`); a failed call fails its resource, and whatever
depends on it is reported as not attempted. The KMS key's policy names the roles as the program
does (auto-named); the replay names the roles it created instead, and SecureString parameters
name the replayed key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.aws_replay_calls import (
    HANDLERS,
    SKIPPED_TYPES,
    ApiReplay,
    Call,
    InstanceInfo,
    PlannedResource,
    ReplayError,
    ReplayState,
)
from tools.offline.capture import Graph
from tools.output import UNKNOWN_TEXT, jsonable

__all__ = [
    "SKIPPED_TYPES",
    "Call",
    "InstanceInfo",
    "PlannedResource",
    "ReplayResult",
    "planned_resources",
    "replay",
    "replay_order",
]

INSTANCE_TYPES = frozenset(
    {
        "aws:ec2/instance:Instance",
        "aws:ec2/eipAssociation:EipAssociation",
        "aws:autoscaling/group:Group",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment",
    }
)
"""What launches or needs instances (a target registration names one): left out with
`include_instances=False`."""
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SERVICES = ("ec2", "iam", "kms", "ssm", "autoscaling", "elbv2")

Source = Graph | Path | Sequence[Mapping[str, Any]]


@dataclass
class ReplayResult(ReplayState):
    """Everything the replay did: ids, the real IPv6 blocks, the instances, every call."""

    endpoint_url: str = ""
    region: str = ""
    not_replayed: list[str] = field(default_factory=list)
    """URNs of resources that are not AWS API objects (components, tls, random, kubernetes)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """URN -> why this AWS resource was not replayed (`SKIPPED_TYPES`: types the replay does not
    make yet; none today). Never silent: `report()` lists them."""

    @property
    def failures(self) -> list[Call]:
        return [call for call in self.calls if call.error is not None]

    @property
    def ok(self) -> bool:
        return not self.failures

    def id(self, name: str, type_token: str | None = None) -> str:
        """The API id of the resource with this logical name (and type, where names repeat)."""
        matches = [
            urn
            for urn, logical in self.names.items()
            if logical == name
            and urn in self.ids
            and (type_token is None or urn.rsplit("::", 2)[-2].endswith(type_token))
        ]
        if len(matches) != 1:
            raise KeyError(
                f"{len(matches)} replayed resources named {name!r}" + (f" of type {type_token}" if type_token else "")
            )
        return self.ids[matches[0]]

    def report(self) -> str:
        lines = [f"{len(self.calls)} calls, {len(self.failures)} failed, against {self.endpoint_url} ({self.region})"]
        lines += [f"  FAILED {call.operation} for {call.name}: {call.error}" for call in self.failures]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  skipped {self.names[urn]}: {reason}" for urn, reason in sorted(self.skipped.items())]
        return "\n".join(lines)

    @property
    def skip_notes(self) -> list[str]:
        """One line per skipped type: how many of its resources, and why."""
        by_reason: dict[str, list[str]] = {}
        for urn, reason in sorted(self.skipped.items()):
            by_reason.setdefault(reason, []).append(self.names[urn])
        return [f"not replayed ({len(names)}: {', '.join(names)}): {reason}" for reason, names in by_reason.items()]


def planned_resources(source: Source) -> list[PlannedResource]:
    """The custom resources of a graph or of a render's `resources.json` (path or parsed list)."""
    if isinstance(source, Graph):
        return [
            PlannedResource(
                record.urn,
                record.type,
                record.name,
                jsonable(record.inputs),
                record.dependencies,
                dict(record.property_dependencies),
            )
            for record in source.resources
            if record.custom
        ]
    documents = json.loads(source.read_text(encoding="utf-8")) if isinstance(source, Path) else source
    return [
        PlannedResource(
            doc["urn"],
            doc["type"],
            doc["name"],
            doc["inputs"],
            tuple(doc["dependencies"]),
            {key: tuple(urns) for key, urns in doc["propertyDependencies"].items()},
        )
        for doc in documents
        if doc.get("custom", True)
    ]


def replay_order(resources: Sequence[PlannedResource], include_instances: bool = True) -> list[PlannedResource]:
    """The AWS resources to create, each after everything it depends on (ties: HANDLERS order, name)."""
    chosen = {
        r.urn: r for r in resources if r.type.startswith("aws:") and (include_instances or r.type not in INSTANCE_TYPES)
    }
    rank = {type_token: index for index, type_token in enumerate(HANDLERS)}
    waiting = {urn: {edge for edge in r.edges if edge in chosen} for urn, r in chosen.items()}
    order: list[PlannedResource] = []
    while waiting:
        ready = sorted(
            (chosen[urn] for urn, edges in waiting.items() if not edges),
            key=lambda r: (rank.get(r.type, len(rank)), r.type, r.name),
        )
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(waiting)}")
        for resource in ready:
            order.append(resource)
            del waiting[resource.urn]
        for edges in waiting.values():
            edges.difference_update(r.urn for r in ready)
    return order


def region_of(resources: Sequence[PlannedResource]) -> str:
    """The region of the subnets' zones (us-east-1a -> us-east-1)."""
    zones = {str(r.inputs["availabilityZone"]) for r in resources if r.type == "aws:ec2/subnet:Subnet"}
    regions = {re.sub(r"[a-z]+$", "", zone) for zone in zones}
    if len(regions) != 1:
        raise ValueError(f"cannot tell the region from subnet zones {sorted(zones)}; pass region=")
    return regions.pop()


def clients(endpoint_url: str, region: str) -> dict[str, Any]:
    """boto3 clients for the replay's services, with short timeouts and one retry."""
    # boto3 is a validation extra (requirements-validate.txt): planning works without it.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    session = boto3.session.Session(region_name=region, **TEST_CREDENTIALS)
    return {service: session.client(service, endpoint_url=endpoint_url, config=config) for service in SERVICES}


def replay(
    source: Source, endpoint_url: str, include_instances: bool = True, region: str | None = None
) -> ReplayResult:
    """Create the program's AWS resources through the API at `endpoint_url`.

    API errors never raise: they are in `ReplayResult.failures`. An AWS type without a
    mapping is a failure too, so a new resource type cannot slip past the replay; the types the
    replay does not make yet (`SKIPPED_TYPES`) are in `ReplayResult.skipped`, each with its reason."""
    resources = planned_resources(source)
    unknown = [r.name for r in resources if UNKNOWN_TEXT in json.dumps(r.inputs)]
    if unknown:
        raise ValueError(f"unknown inputs in {unknown[:3]}: replay an up-mode graph, not a preview")
    region = region or region_of(resources)
    result = ReplayResult(endpoint_url=endpoint_url, region=region, names={r.urn: r.name for r in resources})
    order = replay_order(resources, include_instances)
    result.not_replayed = sorted({r.urn for r in resources} - {r.urn for r in order})
    api = ApiReplay(clients(endpoint_url, region), result, {r.urn: r.type for r in resources})
    failed: set[str] = set()
    for resource in order:
        if resource.type in SKIPPED_TYPES:
            result.skipped[resource.urn] = f"{resource.type}: {SKIPPED_TYPES[resource.type]}"
            continue
        blocked = sorted(result.names[edge] for edge in resource.edges if edge in failed)
        handler = HANDLERS.get(resource.type)
        problem = (
            f"not attempted: depends on {blocked}"
            if blocked
            else None
            if handler
            else f"no replay for type {resource.type}"
        )
        if problem or handler is None:
            failed.add(resource.urn)
            result.calls.append(Call(resource.urn, resource.name, "-", problem))
            continue
        try:
            handler(api, resource)
        except ReplayError:
            failed.add(resource.urn)  # the failing call is recorded
        except (KeyError, IndexError, ValueError) as error:  # the response lacked what the provider reads
            failed.add(resource.urn)
            result.calls.append(Call(resource.urn, resource.name, "-", f"{type(error).__name__}: {error}"))
    return result
