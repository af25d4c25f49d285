"""What happens on the nodes while `pulumi up` runs: boot, `kubeadm init`, the joins, the health checks.

The captured graph knows when an instance or Auto Scaling group is created, not what its boot
script then waits for. `with_boot` adds those waits to a `Dag` as runtime nodes (edge kind
RUNTIME), read from the graph, so the same model covers one control plane behind an Elastic IP
and several behind a load balancer:

- every control plane boots (`data.NODE_BOOT`) once its instance is running;
- the first runs `kubeadm init` (after probing the others' etcd when there are others); the API
  answers through the Elastic IP's association, or once the load balancer's health check has seen
  the first target healthy (threshold x interval of the stack's target group, after its listener
  and attachment exist);
- the readiness gate polls only after that answer;
- every other control plane joins concurrently, each after its own boot and after the first
  answers through the load balancer (plus half a retry interval), then turns healthy in the
  target group;
- the workers of each Auto Scaling group boot once the group exists and join the same way.

`pulumi up` waits only for what a resource waits for (the gate); the joins end later. `up_dag`
keeps the runtime nodes some resource waits for; `Milestones` reports the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tools.bench import data
from tools.bench.critical_path import Dag, Edge, EdgeKind, schedule
from tools.offline.capture import Graph, ResourceRecord

INSTANCE = "aws:ec2/instance:Instance"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TARGET_ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
LISTENER = "aws:lb/listener:Listener"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
READINESS_GATE = "pulumi-python:dynamic:Resource"
CONTROL_PLANE = "k8sdualstack:nodes:ControlPlane"
_JOINING = re.compile(r"-node-\d+$")
"""`components.nodes.control_plane_node_name`: the first is `<component>-node`, the others `-node-<i>`."""
RUNTIME_PREFIX = "runtime::"


def _seconds(*keys: str) -> float:
    return sum(data.STEP_BY_KEY[key].seconds for key in keys)


@dataclass(frozen=True)
class Milestones:
    """When (seconds after `pulumi up` starts) each part of the cluster is there."""

    pulumi_up: float
    api_answers: float
    """The first control plane answers through the cluster endpoint."""
    control_planes_joined: float
    """Every control plane initialised or joined (and healthy in the target group with a load balancer)."""
    workers_joined: float | None
    """`kubeadm join` done on the group's instances (desired capacity); None without workers."""

    @property
    def cluster_formed(self) -> float:
        return max(self.api_answers, self.control_planes_joined, self.workers_joined or 0.0)


@dataclass(frozen=True)
class BootModel:
    full: Dag
    """Resources and every runtime node."""
    up_dag: Dag
    """Resources and only the runtime nodes a resource waits for: what `pulumi up` takes."""
    milestones: Milestones


class BootModelError(ValueError):
    pass


def _node_id(step: str, record: ResourceRecord) -> str:
    return f"{RUNTIME_PREFIX}{step}::{record.name}"


def _dependency(record: ResourceRecord, key: str) -> str | None:
    urns = record.property_dependencies.get(key, ())
    return urns[0] if len(urns) == 1 else None


def health_check_seconds(graph: Graph) -> float:
    """Threshold x interval of the API target group's health check (the table's row without one)."""
    groups = graph.by_type(TARGET_GROUP)
    check = (groups[0].inputs.get("healthCheck") or {}) if len(groups) == 1 else {}
    if "healthyThreshold" in check and "interval" in check:
        return float(check["healthyThreshold"]) * float(check["interval"])
    return _seconds("nlb-target-healthy")


class _Builder:
    def __init__(self, dag: Dag) -> None:
        self.seconds = dict(dag.seconds)
        self.types = dict(dag.types)
        self.edges = list(dag.edges)

    def node(self, node: str, label: str, seconds: float, after: Iterable[str]) -> str:
        self.seconds[node] = seconds
        self.types[node] = f"runtime: {label}"
        self.edges += [Edge(node, dependency, EdgeKind.RUNTIME) for dependency in after]
        return node

    def wait(self, dependent: str, dependency: str) -> None:
        self.edges.append(Edge(dependent, dependency, EdgeKind.RUNTIME))

    def dag(self) -> Dag:
        return Dag(self.seconds, tuple(sorted(set(self.edges))), self.types)


def _control_planes(graph: Graph) -> list[ResourceRecord]:
    planes = [
        record
        for record in graph.by_type(INSTANCE)
        if any(ancestor.type == CONTROL_PLANE for ancestor in graph.ancestors(record))
    ]
    firsts = [record for record in planes if not _JOINING.search(record.name)]
    if len(firsts) != 1:
        raise BootModelError(f"expected one first control plane (`<name>-node`), found {[r.name for r in firsts]}")
    return firsts + sorted((record for record in planes if record not in firsts), key=lambda record: record.name)


def with_boot(dag: Dag, graph: Graph) -> BootModel:
    """The resource DAG of `graph` with the nodes' boot, init, joins and health checks added."""
    build = _Builder(dag)
    first, *joining = _control_planes(graph)
    attachments = {_dependency(record, "targetId"): record.urn for record in graph.by_type(TARGET_ATTACHMENT)}
    listeners = [record.urn for record in graph.by_type(LISTENER)]
    associations = [record.urn for record in graph.by_type(EIP_ASSOCIATION)]
    healthy_seconds = health_check_seconds(graph)
    behind_balancer = first.urn in attachments

    boot = build.node(
        _node_id("boot", first), "boot (cloud-init, packages, binaries)", _seconds(*data.NODE_BOOT), [first.urn]
    )
    if joining:
        boot = build.node(
            _node_id("probe", first), "etcd probe for a running cluster", _seconds("cluster-probe"), [boot]
        )
    init = build.node(_node_id("init", first), "kubeadm init", _seconds("kubeadm-init"), [boot])
    if behind_balancer:
        answers = build.node(
            _node_id("healthy", first),
            "target healthy, the API answers through the load balancer",
            healthy_seconds,
            [init, str(attachments[first.urn]), *listeners],
        )
    else:
        answers = build.node(
            _node_id("answers", first), "API answers through the Elastic IP", 0.0, [init, *associations]
        )
    for gate in graph.by_type(READINESS_GATE):
        build.wait(gate.urn, answers)

    joined = [answers]
    for plane in joining:
        if plane.urn not in attachments:
            raise BootModelError(f"{plane.name}: a joining control plane without a target attachment")
        own_boot = build.node(
            _node_id("boot", plane), "boot (cloud-init, packages, binaries)", _seconds(*data.NODE_BOOT), [plane.urn]
        )
        join = build.node(
            _node_id("join", plane),
            "kubeadm join --control-plane (after a retry wait)",
            _seconds("join-retry-wait", "kubeadm-join-control-plane"),
            [own_boot, answers],
        )
        joined.append(
            build.node(
                _node_id("healthy", plane), "target healthy", healthy_seconds, [join, str(attachments[plane.urn])]
            )
        )
    workers = []
    for group in graph.by_type(AUTOSCALING_GROUP):
        group_boot = build.node(_node_id("boot", group), "workers boot", _seconds(*data.NODE_BOOT), [group.urn])
        workers.append(
            build.node(
                _node_id("join", group),
                "workers' kubeadm join (after a retry wait)",
                _seconds("join-retry-wait", "kubeadm-join-worker"),
                [group_boot, answers],
            )
        )
    full = build.dag()
    plan = schedule(full)
    up_dag = _waited_for(full)
    return BootModel(
        full=full,
        up_dag=up_dag,
        milestones=Milestones(
            pulumi_up=schedule(up_dag).length,
            api_answers=plan.finish[answers],
            control_planes_joined=max(plan.finish[node] for node in joined),
            workers_joined=max((plan.finish[node] for node in workers), default=None),
        ),
    )


def _waited_for(dag: Dag) -> Dag:
    """Without the runtime nodes no resource waits for (their end is after `pulumi up`)."""
    preds = dag.predecessors()
    keep = {node for node in dag.seconds if not node.startswith(RUNTIME_PREFIX)}
    frontier = list(keep)
    while frontier:
        for dependency in preds[frontier.pop()]:
            if dependency not in keep:
                keep.add(dependency)
                frontier.append(dependency)
    return Dag(
        {node: seconds for node, seconds in dag.seconds.items() if node in keep},
        tuple(edge for edge in dag.edges if edge.dependent in keep and edge.dependency in keep),
        {node: kind for node, kind in dag.types.items() if node in keep},
    )
