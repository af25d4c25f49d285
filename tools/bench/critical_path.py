"""Longest chain of dependent resources, weighted by modelled creation time.

A `Dag` has one node per custom resource (what the engine creates; components take no time)
and one edge per "must wait for": a property dependency (data flows), a `depends_on` with no
data (explicit) or the resource's provider; `tools.bench.runtime` adds the waits of the nodes' boot.
A parent is not a dependency. A dependency on a
component stands for its custom descendants (the SDK already sends it that way; `dag_from_graph`
expands it again so a hand-built graph behaves the same).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tools.offline.capture import Graph


class EdgeKind(enum.IntEnum):
    """Why a resource waits; a pair linked in several ways keeps the strongest (lowest) kind."""

    DATA = 0
    PROVIDER = 1
    EXPLICIT = 2
    RUNTIME = 3
    """Not an edge of the graph: a wait at boot (`tools.bench.runtime`), e.g. a join for the first control plane."""


@dataclass(frozen=True, order=True)
class Edge:
    dependent: str
    dependency: str
    kind: EdgeKind


@dataclass(frozen=True)
class Dag:
    seconds: Mapping[str, float]
    """Node -> modelled creation time."""
    edges: tuple[Edge, ...]
    types: Mapping[str, str] = field(default_factory=dict)
    """Node -> resource type (for reports)."""

    def without(self, removed: Iterable[Edge]) -> Dag:
        gone = set(removed)
        return Dag(self.seconds, tuple(edge for edge in self.edges if edge not in gone), self.types)

    def predecessors(self) -> dict[str, list[str]]:
        preds: dict[str, list[str]] = {node: [] for node in self.seconds}
        for edge in self.edges:
            preds[edge.dependent].append(edge.dependency)
        return preds


@dataclass(frozen=True)
class Schedule:
    """Earliest start/finish of every node with unbounded parallelism."""

    finish: dict[str, float]
    tail: dict[str, float]
    """Longest chain from the node (included) to the end."""
    length: float
    path: tuple[str, ...]
    """The critical path, first resource first."""

    def slack(self, node: str, seconds: float) -> float:
        """How much later the node could finish without delaying the end."""
        return self.length - (self.finish[node] + self.tail[node] - seconds)

    def edge_slack(self, edge: Edge) -> float:
        """How much later the dependency could finish before this edge delays the end (0: on the critical path)."""
        return self.length - (self.finish[edge.dependency] + self.tail[edge.dependent])


class CycleError(ValueError):
    pass


def _topological(dag: Dag) -> list[str]:
    preds = dag.predecessors()
    waiting = {node: len(set(deps)) for node, deps in preds.items()}
    succs: dict[str, set[str]] = {node: set() for node in dag.seconds}
    for node, deps in preds.items():
        for dep in set(deps):
            succs[dep].add(node)
    ready = sorted(node for node, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for succ in sorted(succs[node]):
            waiting[succ] -= 1
            if waiting[succ] == 0:
                ready.append(succ)
    if len(order) != len(dag.seconds):
        raise CycleError(f"dependency cycle among {sorted(set(dag.seconds) - set(order))}")
    return order


def schedule(dag: Dag) -> Schedule:
    """Critical path by dynamic programming over a topological order (ties: smallest name)."""
    order = _topological(dag)
    preds = dag.predecessors()
    finish: dict[str, float] = {}
    best: dict[str, str | None] = {}
    for node in order:
        deps = sorted(set(preds[node]), key=lambda dep: (-finish[dep], dep))
        best[node] = deps[0] if deps else None
        finish[node] = dag.seconds[node] + (finish[deps[0]] if deps else 0.0)
    succs: dict[str, list[str]] = {node: [] for node in dag.seconds}
    for node, deps in preds.items():
        for dep in deps:
            succs[dep].append(node)
    tail: dict[str, float] = {}
    for node in reversed(order):
        tail[node] = dag.seconds[node] + max((tail[succ] for succ in succs[node]), default=0.0)
    if not order:
        return Schedule({}, {}, 0.0, ())
    end = min(order, key=lambda node: (-finish[node], node))
    path: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        path.append(cursor)
        cursor = best[cursor]
    return Schedule(finish, tail, finish[end], tuple(reversed(path)))


def redundant_edges(dag: Dag, candidates: Iterable[Edge]) -> set[Edge]:
    """Candidate edges whose dependency is reached anyway through the dependent's other edges."""
    preds = dag.predecessors()
    found: set[Edge] = set()
    for edge in candidates:
        seen: set[str] = set()
        frontier = [dep for dep in preds[edge.dependent] if dep != edge.dependency]
        while frontier:
            node = frontier.pop()
            if node == edge.dependency:
                found.add(edge)
                break
            if node not in seen:
                seen.add(node)
                frontier.extend(preds[node])
    return found


def dag_from_graph(graph: Graph, seconds: Callable[[str], float | None]) -> tuple[Dag, set[str]]:
    """The custom resources of a captured graph and their waits; also the types `seconds` does not know."""
    customs = {record.urn: record for record in graph.resources if record.custom}
    expanded: dict[str, list[str]] = {}

    def targets(urn: str) -> list[str]:
        if urn in customs:
            return [urn]
        if urn not in expanded:
            expanded[urn] = [record.urn for record in graph.descendants_of(urn) if record.custom]
        return expanded[urn]

    kinds: dict[tuple[str, str], EdgeKind] = {}

    def link(dependent: str, dependency: str, kind: EdgeKind) -> None:
        for target in targets(dependency):
            if target != dependent:
                pair = (dependent, target)
                kinds[pair] = min(kinds.get(pair, kind), kind)

    missing: set[str] = set()
    durations: dict[str, float] = {}
    for urn, record in customs.items():
        value = seconds(record.type)
        if value is None:
            missing.add(record.type)
        durations[urn] = value or 0.0
        for urns in record.property_dependencies.values():
            for dependency in urns:
                link(urn, dependency, EdgeKind.DATA)
        if record.provider_urn in customs:
            link(urn, str(record.provider_urn), EdgeKind.PROVIDER)
        for dependency in record.dependencies:
            link(urn, dependency, EdgeKind.EXPLICIT)
    edges = tuple(sorted(Edge(a, b, kind) for (a, b), kind in kinds.items()))
    return Dag(durations, edges, {urn: record.type for urn, record in customs.items()}), missing
