"""The AWS API calls of each resource type, as the Pulumi AWS provider makes them (boto3).

`ApiReplay` composes one mixin per resource family - `tools.aws_replay_network` (EC2 network),
`tools.aws_replay_identity` (IAM, KMS, SSM), `tools.aws_replay_compute` (instances, launch
template, Auto Scaling group) and `tools.aws_replay_lb` (the API load balancer) - over the shared
plumbing of `tools.aws_replay_base`; `HANDLERS` is their tables in one. Used by `tools.aws_replay`,
which orders the resources and owns the public result type; the names other modules import from
here (`PlannedResource`, `Call`, `InstanceInfo`, `ReplayState`, `ReplayError`, `ipv6_index`,
`same_host`) are re-exported from `tools.aws_replay_base`.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.aws_replay_base import (
    Call,
    InstanceInfo,
    PlannedResource,
    ReplayError,
    ReplayState,
    ipv6_index,
    same_host,
)
from tools.aws_replay_compute import COMPUTE_HANDLERS, ComputeCalls
from tools.aws_replay_identity import IDENTITY_HANDLERS, IdentityCalls
from tools.aws_replay_lb import LOAD_BALANCER_HANDLERS, LoadBalancerCalls
from tools.aws_replay_network import NETWORK_HANDLERS, NetworkCalls

__all__ = [
    "HANDLERS",
    "SKIPPED_TYPES",
    "ApiReplay",
    "Call",
    "Handler",
    "InstanceInfo",
    "PlannedResource",
    "ReplayError",
    "ReplayState",
    "ipv6_index",
    "same_host",
]


class ApiReplay(NetworkCalls, IdentityCalls, ComputeCalls, LoadBalancerCalls):
    """The API calls of each resource type, as the Pulumi AWS provider makes them."""


Handler = Callable[[ApiReplay, PlannedResource], None]
HANDLERS: dict[str, Handler] = {
    # Also the tie-break order of resources that are ready at the same time.
    **NETWORK_HANDLERS,
    **IDENTITY_HANDLERS,
    **COMPUTE_HANDLERS,
    **LOAD_BALANCER_HANDLERS,
}

SKIPPED_TYPES: dict[str, str] = {}
"""AWS type the program creates and the replay does not make yet -> why (empty: it makes every type).

The way a new type lands in the program before its replay: `replay` lists each resource of such a
type in `ReplayResult.skipped` with the reason (in the report and `make validate`'s notes) instead
of failing it, and whatever reads the replay (the e2e tier) can refuse a replay that skipped
anything. A type in neither this table nor `HANDLERS` fails the replay."""
