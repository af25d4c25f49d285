"""The commands the stack exports to check the workers it cannot name at plan time: pure functions."""

from __future__ import annotations

import shlex

WORKER_INSTANCES_QUERY = "AutoScalingGroups[0].Instances[].[InstanceId,AvailabilityZone,LifecycleState,HealthStatus]"


def worker_group_command(group_name: str) -> str:
    """The workers' Auto Scaling group, one instance a line: ID, zone, lifecycle state, health."""
    return (
        f"aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {shlex.quote(group_name)} "
        f"--query {shlex.quote(WORKER_INSTANCES_QUERY)} --output text"
    )
