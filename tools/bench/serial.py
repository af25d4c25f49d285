"""Which `depends_on` orderings of the program are required, and what each costs on the critical path.

An explicit edge is ordering that no data flow asks for. `SERIAL_RULES` is our judgement per
kind of edge (first match wins; patterns are `fnmatch` patterns on type tokens) with the reason.
`analyse` removes each group of explicit edges in turn and re-plans: the critical path it
shortens is what that serialisation costs in the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from tools.bench.critical_path import Dag, Edge, EdgeKind, redundant_edges, schedule
from tools.offline.capture import Graph

_CCM = "k8sdualstack:ccm:AwsCloudControllerManager"
_SMOKE = "k8sdualstack:smoke:SmokeWorkload"
_CILIUM = "k8sdualstack:cni:CiliumCni"
_NODES = "k8sdualstack:nodes:*"


@dataclass(frozen=True)
class SerialRule:
    dependent_component: str
    dependency_component: str
    dependent_type: str
    dependency_type: str
    required: bool
    reason: str

    def matches(self, facts: tuple[str, str, str, str]) -> bool:
        patterns = (self.dependent_component, self.dependency_component, self.dependent_type, self.dependency_type)
        return all(fnmatchcase(value, pattern) for value, pattern in zip(facts, patterns, strict=True))


SERIAL_RULES: tuple[SerialRule, ...] = (
    SerialRule(
        _NODES,
        "k8sdualstack:pki:ClusterPki",
        "aws:ec2/instance:Instance",
        "aws:ssm/parameter:Parameter",
        True,
        "the boot script reads these SSM parameters; nothing the instance takes as input flows "
        "from them, so only depends_on can order it",
    ),
    SerialRule(
        _NODES,
        "k8sdualstack:secrets:ClusterSecretsKey",
        "aws:ec2/instance:Instance",
        "aws:kms/key:Key",
        True,
        "the boot's SSM reads decrypt with this key, whose policy names the node roles; nothing the "
        "instance takes as input flows from it (the parameters it encrypts already order the instance)",
    ),
    SerialRule(
        "k8sdualstack:cluster:ClusterAccess",
        _NODES,
        "pulumi-python:dynamic:Resource",
        "*",
        True,
        "the gate waits for every control plane and what routes to it; it costs nothing, since the endpoint "
        "answers only after the first control plane's boot and kubeadm init (a runtime wait, modelled as such)",
    ),
    SerialRule(
        _CCM,
        _CCM,
        "kubernetes:apps/v1:DaemonSet",
        "*",
        True,
        "by design: the CCM pod starts with its Secrets, ConfigMap, ServiceAccount and RBAC in place, "
        "so it never logs 'forbidden' (Kubernetes would retry, so not strictly needed)",
    ),
    SerialRule(
        _CCM,
        _CCM,
        "*",
        "*",
        False,
        "Secrets, ConfigMap, ServiceAccount and RBAC objects need nothing from each other; only the "
        "DaemonSet needs them all, yet each waits for the one before",
    ),
    SerialRule(
        _SMOKE,
        _SMOKE,
        "*",
        "kubernetes:core/v1:Namespace",
        True,
        "the API server rejects objects in a namespace that does not exist",
    ),
    SerialRule(
        _SMOKE,
        _SMOKE,
        "*",
        "*",
        False,
        "the Service needs no Deployment to exist; its endpoints follow the pods whenever they come",
    ),
    SerialRule(
        _SMOKE, _CILIUM, "kubernetes:apps/v1:Deployment", "*", True, "Pulumi awaits Ready pods, which need the CNI"
    ),
    SerialRule(
        _SMOKE,
        _CCM,
        "kubernetes:apps/v1:Deployment",
        "*",
        True,
        "Pulumi awaits Ready pods, which need a node the CCM has initialised (uninitialized taint)",
    ),
    SerialRule(_SMOKE, "*", "*", "*", False, "creating a Namespace or Service needs neither the CNI nor the CCM"),
)


@dataclass(frozen=True)
class SerialGroup:
    dependent_component: str
    dependency_component: str
    rule: SerialRule | None
    edges: tuple[Edge, ...]
    """The group's explicit edges that no other path implies."""
    implied: tuple[Edge, ...]
    """Explicit edges of the group that other edges already imply."""
    saving: float
    """How much shorter the critical path is without this group's edges."""
    slack: float
    """How much later the group's dependencies could finish before one of its edges delays the end."""

    @property
    def required(self) -> bool | None:
        return None if self.rule is None else self.rule.required


@dataclass(frozen=True)
class SerialReport:
    full: float
    data_only: float
    """Critical path with every explicit edge removed (data and provider edges only)."""
    required_only: float
    """Critical path with the edges judged not required removed."""
    groups: tuple[SerialGroup, ...]

    @property
    def avoidable(self) -> float:
        return self.full - self.required_only


def _component(graph: Graph, urn: str) -> tuple[str, str]:
    """("<Type> <name>", type token) of the nearest component ancestor (or the root Stack)."""
    for record in graph.ancestors(urn):
        if not record.custom:
            return f"{record.type.rsplit(':', 1)[-1]} {record.name}", record.type
    return "", ""


def rule_for(rules: Iterable[SerialRule], facts: tuple[str, str, str, str]) -> SerialRule | None:
    return next((rule for rule in rules if rule.matches(facts)), None)


def analyse(dag: Dag, graph: Graph, rules: Iterable[SerialRule] = SERIAL_RULES) -> SerialReport:
    rules = tuple(rules)
    explicit = [edge for edge in dag.edges if edge.kind is EdgeKind.EXPLICIT]
    implied = redundant_edges(dag, explicit)
    grouped: dict[tuple[str, str, int], tuple[SerialRule | None, list[Edge], list[Edge]]] = {}
    for edge in explicit:
        (dependent_name, dependent_component) = _component(graph, edge.dependent)
        (dependency_name, dependency_component) = _component(graph, edge.dependency)
        facts = (dependent_component, dependency_component, dag.types[edge.dependent], dag.types[edge.dependency])
        rule = rule_for(rules, facts)
        key = (dependent_name, dependency_name, rules.index(rule) if rule else -1)
        entry = grouped.setdefault(key, (rule, [], []))
        (entry[2] if edge in implied else entry[1]).append(edge)
    plan = schedule(dag)
    full = plan.length
    groups = tuple(
        SerialGroup(
            dependent,
            dependency,
            rule,
            tuple(edges),
            tuple(implied_edges),
            full - schedule(dag.without(edges + implied_edges)).length,
            min(plan.edge_slack(edge) for edge in edges + implied_edges),
        )
        for (dependent, dependency, _), (rule, edges, implied_edges) in sorted(grouped.items())
    )
    not_required = [edge for group in groups if group.required is not True for edge in group.edges + group.implied]
    return SerialReport(
        full=full,
        data_only=schedule(dag.without(explicit)).length,
        required_only=schedule(dag.without(not_required)).length,
        groups=groups,
    )
