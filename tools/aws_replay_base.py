"""What every part of the AWS replay shares: the planned resource, the record of a call, what the
calls established, and `ApiCalls`, the plumbing each resource family's calls build on (one API
call recorded, references between resources resolved to the API's ids).

The families (`tools.aws_replay_network`, `_identity`, `_compute`, `_lb`) are mixins of `ApiCalls`;
`tools.aws_replay_calls` composes them into `ApiReplay` and its handler table. This module imports
none of them, so the modules import in one direction only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.network_plan import SUBNET_IPV6_PREFIX, VPC_IPV6_PREFIX

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INSTANCE = "aws:ec2/instance:Instance"


@dataclass(frozen=True)
class PlannedResource:
    """One resource as the program registered it: JSON inputs (secrets "[secret]") and its edges."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]

    @property
    def edges(self) -> set[str]:
        return set(self.dependencies).union(*self.property_dependencies.values())


@dataclass(frozen=True)
class Call:
    """One API call of the replay (or a resource that could not be attempted: operation "-")."""

    urn: str
    name: str
    operation: str
    error: str | None = None


@dataclass(frozen=True)
class InstanceInfo:
    instance_id: str
    subnet_id: str
    availability_zone: str
    private_ipv4: str
    ipv6: tuple[str, ...]
    public_ipv4: str | None
    tags: dict[str, str]


@dataclass
class ReplayState:
    """What the calls established; `tools.aws_replay.ReplayResult` adds where and how it went."""

    names: dict[str, str] = field(default_factory=dict)
    """Program resource URN -> its logical name."""
    ids: dict[str, str] = field(default_factory=dict)
    """Program resource URN -> the API's id (vpc-..., subnet-..., sgr-..., role and profile
    names, parameter names, i-..., load balancer and target group ARNs)."""
    calls: list[Call] = field(default_factory=list)
    vpc_ipv6_cidrs: dict[str, str] = field(default_factory=dict)
    """VPC name -> the /56 the API assigned."""
    subnet_ipv6_cidrs: dict[str, str] = field(default_factory=dict)
    """Subnet name -> the /64 carved from that /56."""
    instances: dict[str, InstanceInfo] = field(default_factory=dict)
    """Instance name -> what the API says about it."""
    notes: list[str] = field(default_factory=list)
    """Where the API needed a second call to reach the program's intent (a moto gap)."""


class ReplayError(Exception):
    """A resource could not be created; the failing call is already recorded."""


def tag_list(inputs: Mapping[str, Any]) -> list[dict[str, str]]:
    """The input `tags` map as the API's [{"Key", "Value"}] list, sorted by key."""
    return [{"Key": key, "Value": str(value)} for key, value in sorted((inputs.get("tags") or {}).items())]


def tag_spec(resource_type: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """EC2's `TagSpecifications` parameter for the input `tags` (none when there are no tags)."""
    tags = tag_list(inputs)
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tags}]} if tags else {}


def ipv6_index(planned_subnet: str) -> int:
    """Which /64 of its /56 a planned subnet is (the low bits of its prefix)."""
    bits = SUBNET_IPV6_PREFIX - VPC_IPV6_PREFIX
    return (int(ipaddress.IPv6Network(planned_subnet).network_address) >> (128 - SUBNET_IPV6_PREFIX)) % 2**bits


def same_host(planned_address: str, subnet: str) -> str:
    """The planned address's host part inside the real /64 (fixed addresses like `::a`)."""
    host = int(ipaddress.IPv6Address(planned_address)) % 2 ** (128 - SUBNET_IPV6_PREFIX)
    return str(ipaddress.IPv6Network(subnet).network_address + host)


class ApiCalls:
    """The plumbing of the replay's calls; each resource family is a mixin of this class."""

    def __init__(self, api: Mapping[str, Any], result: ReplayState, types: Mapping[str, str]) -> None:
        self.api = api
        """boto3 client by service name (`tools.aws_replay.SERVICES`)."""
        self.result = result
        self.types = types
        """Program resource URN -> its type token."""

    def call(self, resource: PlannedResource, service: str, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - a validation extra

        name = f"{service}.{operation}"
        try:
            response: dict[str, Any] = getattr(self.api[service], operation)(**params)
        except (ClientError, BotoCoreError) as error:
            self.result.calls.append(Call(resource.urn, resource.name, name, str(error)))
            raise ReplayError(name) from error
        self.result.calls.append(Call(resource.urn, resource.name, name))
        return response

    def fail(self, resource: PlannedResource, message: str) -> ReplayError:
        """Record why `resource` cannot be made without an API call (operation "-"); raise the result."""
        self.result.calls.append(Call(resource.urn, resource.name, "-", message))
        return ReplayError(message)

    def refs(self, resource: PlannedResource, key: str, type_token: str | None = None) -> list[str]:
        """The API ids of the replayed resources that input `key` was computed from."""
        return [
            self.result.ids[urn]
            for urn in resource.property_dependencies.get(key, ())
            if urn in self.result.ids and (type_token is None or self.types[urn] == type_token)
        ]

    def ref(self, resource: PlannedResource, key: str, type_token: str | None = None) -> str:
        """The API id of the one replayed resource input `key` was computed from."""
        found = self.refs(resource, key, type_token)
        if len(found) != 1:
            raise self.fail(
                resource, f"input {key} of {resource.name} refers to {len(found)} replayed resources, expected 1"
            )
        return found[0]

    def every_ref(self, resource: PlannedResource, key: str, type_token: str) -> list[str]:
        """The API ids for the list input `key`, one per planned element (none may be missing)."""
        found = self.refs(resource, key, type_token)
        if len(found) != len(resource.inputs.get(key, [])):
            raise self.fail(resource, f"input {key} of {resource.name} names {len(found)} replayed {type_token}")
        return found

    def vpc_block(self, resource: PlannedResource, key: str) -> str | None:
        """The real /56 when input `key` came from a VPC's IPv6 block, else None."""
        sources = resource.property_dependencies.get(key, ())
        blocks = [self.result.vpc_ipv6_cidrs[self.result.names[urn]] for urn in sources if self.types.get(urn) == VPC]
        return blocks[0] if blocks else None

    def done(self, resource: PlannedResource, api_id: str) -> None:
        self.result.ids[resource.urn] = api_id
