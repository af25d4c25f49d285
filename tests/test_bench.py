"""The pure parts of `make bench`: critical path, serial-step analysis, costs, statistics, sampling."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from conftest import STACKS, RenderGraph

from tools.bench import breakdown, costs, data, prices
from tools.bench.__main__ import growth_fits, model_stack
from tools.bench.critical_path import CycleError, Dag, Edge, EdgeKind, dag_from_graph, redundant_edges, schedule
from tools.bench.measure import ChildError, Config, Sample, python_config, run_interleaved, run_once
from tools.bench.report import Measured, Results, render
from tools.bench.runtime import with_boot
from tools.bench.serial import SerialRule, analyse
from tools.bench.stats import linear_fit, summarize
from tools.offline.capture import Graph, ResourceRecord

STACK = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
D, P, X = EdgeKind.DATA, EdgeKind.PROVIDER, EdgeKind.EXPLICIT


def dag(seconds: dict[str, float], *edges: tuple[str, str, EdgeKind]) -> Dag:
    return Dag(seconds, tuple(Edge(a, b, kind) for a, b, kind in edges), dict.fromkeys(seconds, "t"))


# -- critical path ---------------------------------------------------------------------------


def test_critical_path_takes_the_longest_chain_not_the_most_nodes() -> None:
    toy = dag(
        {"a": 1, "b": 1, "c": 1, "slow": 10, "end": 2},
        ("b", "a", D),
        ("c", "b", D),
        ("end", "c", D),
        ("end", "slow", X),
    )
    plan = schedule(toy)
    assert plan.length == 12
    assert plan.path == ("slow", "end")
    assert plan.finish["c"] == 3
    assert plan.slack("c", 1) == 7  # c could finish 7 s later without delaying the end
    assert plan.slack("slow", 10) == 0
    assert plan.edge_slack(Edge("end", "c", D)) == 7
    assert plan.edge_slack(Edge("end", "slow", X)) == 0


def test_critical_path_of_independent_nodes_is_the_longest_one_and_ties_are_deterministic() -> None:
    assert schedule(dag({"x": 3, "y": 5, "z": 5})).path == ("y",)
    assert schedule(dag({})).length == 0


def test_cycle_is_an_error_naming_the_nodes() -> None:
    with pytest.raises(CycleError, match="a"):
        schedule(dag({"a": 1, "b": 1}, ("a", "b", D), ("b", "a", X)))


def test_redundant_edges_are_the_ones_another_path_implies() -> None:
    toy = dag({"a": 1, "b": 1, "c": 1}, ("b", "a", X), ("c", "b", X), ("c", "a", X))
    assert redundant_edges(toy, toy.edges) == {Edge("c", "a", X)}


# -- graph adapter -----------------------------------------------------------------------------


def record(
    name: str,
    type_: str,
    *,
    custom: bool = True,
    parent: str | None = STACK,
    deps: tuple[str, ...] = (),
    props: dict[str, tuple[str, ...]] | None = None,
    provider: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> ResourceRecord:
    return ResourceRecord(
        urn=f"urn:pulumi:s::p::{type_}::{name}",
        type=type_,
        name=name,
        custom=custom,
        parent=parent,
        dependencies=deps,
        property_dependencies=props or {},
        provider=provider,
        ignore_changes=(),
        replace_on_changes=(),
        protect=False,
        delete_before_replace=False,
        additional_secret_outputs=(),
        retain_on_delete=False,
        deleted_with=None,
        remote=False,
        inputs=inputs or {},
        id=None,
        state={},
    )


def graph_of(*records: ResourceRecord) -> Graph:
    stack = record("p-s", "pulumi:pulumi:Stack", custom=False, parent=None)
    return Graph(resources=sorted(records, key=lambda r: r.urn), stack=stack, exports={}, invokes=[])


def test_dag_from_graph_expands_components_adds_providers_and_ignores_parents() -> None:
    comp = record("comp", "my:x:Comp", custom=False)
    inner = record("inner", "aws:ec2/vpc:Vpc", parent=comp.urn)
    provider = record(
        "k8s", "pulumi:providers:kubernetes", parent=comp.urn, props={"kubeconfig": (inner.urn,)}, deps=(inner.urn,)
    )
    obj = record("obj", "kubernetes:core/v1:Secret", deps=(comp.urn,), provider=f"{provider.urn}::id")
    unknown = record("odd", "odd:thing:Thing")
    built, missing = dag_from_graph(graph_of(comp, inner, provider, obj, unknown), data.type_seconds)
    assert set(built.seconds) == {inner.urn, provider.urn, obj.urn, unknown.urn}  # components take no time
    edges = {(e.dependent, e.dependency): e.kind for e in built.edges}
    assert edges == {
        (provider.urn, inner.urn): D,  # data wins over the same pair's plain dependency
        (obj.urn, inner.urn): X,  # a dependency on a component is one on its custom descendants
        (obj.urn, provider.urn): P,
    }
    assert missing == {"odd:thing:Thing"}
    assert built.seconds[inner.urn] == data.type_seconds("aws:ec2/vpc:Vpc")


def test_every_resource_type_of_every_stack_has_a_creation_time(render_graph: RenderGraph) -> None:
    for stack in STACKS:
        _, missing = dag_from_graph(render_graph(stack, preview=True), data.type_seconds)
        assert not missing, f"{stack}: add rows to tools/bench/data.py TYPE_STEPS for {sorted(missing)}"


def test_every_row_names_a_source_and_an_honest_basis() -> None:
    for step in data.STEPS:
        assert step.source and step.basis in {"estimate", "code", "documented"}, step
    assert all(key in data.STEP_BY_KEY for keys in data.TYPE_STEPS.values() for key in keys)
    assert all(price.source.startswith("https://aws.amazon.com/") for price in data.PRICES.values())


# -- serial steps ------------------------------------------------------------------------------


def test_analysis_prices_a_not_required_chain_on_the_critical_path() -> None:
    comp = record("c", "my:x:Comp", custom=False)
    first = record("first", "kubernetes:core/v1:Secret", parent=comp.urn)
    second = record("second", "kubernetes:core/v1:ConfigMap", parent=comp.urn, deps=(first.urn,))
    last = record("last", "kubernetes:apps/v1:DaemonSet", parent=comp.urn, deps=(first.urn, second.urn))
    graph = graph_of(comp, first, second, last)
    built, _ = dag_from_graph(graph, {"kubernetes:apps/v1:DaemonSet": 40.0}.get)  # objects: 0 s...
    built = Dag({**built.seconds, first.urn: 1.0, second.urn: 1.0}, built.edges, built.types)  # ...then 1 s
    rules = (
        SerialRule("my:x:Comp", "my:x:Comp", "*:DaemonSet", "*", True, "needs them"),
        SerialRule("*", "*", "*", "*", False, "chain"),
    )
    report = analyse(built, graph, rules)
    assert report.full == 42 and report.data_only == 40 and report.required_only == 41
    assert report.avoidable == 1
    chain = next(group for group in report.groups if group.required is False)
    assert [(e.dependent, e.dependency) for e in chain.edges] == [(second.urn, first.urn)]
    assert chain.saving == 1 and chain.dependent_component == "Comp c"
    fan_in = next(group for group in report.groups if group.required)
    assert len(fan_in.edges) == 1 and len(fan_in.implied) == 1  # last -> first is implied via second


# -- costs -------------------------------------------------------------------------------------

HOURS = data.HOURS_PER_MONTH


def cluster(worker_subnet_public: bool, nat: bool = False) -> Graph:
    public = record("pub", costs.SUBNET, inputs={"mapPublicIpOnLaunch": True})
    private = record("priv", costs.SUBNET, inputs={"mapPublicIpOnLaunch": False})
    cp = record("cp", "k8sdualstack:nodes:ControlPlane", custom=False)
    node = {"instanceType": "t3.medium", "rootBlockDevice": {"volumeSize": 30.0}}
    cp_node = record("cp-node", costs.INSTANCE, parent=cp.urn, inputs=node, props={"subnetId": (public.urn,)})
    cp_eip = record("cp-eip", costs.EIP, parent=cp.urn)
    assoc = record("cp-assoc", costs.EIP_ASSOCIATION, parent=cp.urn, props={"instanceId": (cp_node.urn,)})
    worker_subnet = public if worker_subnet_public else private
    workers = [record(f"w{i}", costs.INSTANCE, inputs=node, props={"subnetId": (worker_subnet.urn,)}) for i in range(2)]
    extra = [record("nat-eip", costs.EIP), record("nat", costs.NAT_GATEWAY)] if nat else []
    return graph_of(public, private, cp, cp_node, cp_eip, assoc, *workers, *extra)


def test_inventory_counts_public_ipv4_per_address_not_per_instance() -> None:
    inv = costs.inventory(cluster(worker_subnet_public=True))
    assert inv.public_ipv4 == 3  # the control plane's EIP replaces its auto-assigned address
    assert [node.control_plane for node in inv.nodes] == [True, False, False]
    assert costs.inventory(cluster(worker_subnet_public=False, nat=True)).public_ipv4 == 2  # cp EIP + NAT EIP


def test_monthly_cost_arithmetic() -> None:
    inv = costs.inventory(cluster(worker_subnet_public=True))
    lines = {line.item: line.monthly_usd for line in costs.monthly(inv)}
    assert lines["EC2 t3.medium"] == pytest.approx(3 * 0.0416 * HOURS)  # 91.10
    assert lines["EBS gp3 root volumes"] == pytest.approx(90 * 0.08)
    assert lines["public IPv4 addresses"] == pytest.approx(3 * 0.005 * HOURS)
    assert costs.total(costs.monthly(inv)) == pytest.approx(109.254)
    assert [line.counted for line in costs.monthly(inv)] == ["3 instances", "90 GiB", "3 addresses"]
    eks = costs.monthly(costs.as_eks(inv))
    assert costs.total(eks) == pytest.approx(2 * 0.0416 * HOURS + 60 * 0.08 + 2 * 0.005 * HOURS + 0.10 * HOURS)
    nat = costs.monthly(costs.inventory(cluster(worker_subnet_public=False, nat=True)))
    assert {line.item for line in nat} >= {"NAT gateways (hourly, data excluded)"}
    assert costs.total(nat) == pytest.approx(109.254 - 3.65 + 0.045 * HOURS)


def test_unknown_instance_type_names_the_missing_price() -> None:
    inv = costs.Inventory((costs.Node("n", "m7g.large", 8, False, False),), 0, 0, 0)
    with pytest.raises(costs.MissingPriceError, match=r"instance:m7g\.large"):
        costs.monthly(inv)


# -- statistics --------------------------------------------------------------------------------

WORKERS = [1.0, 10.0, 100.0, 500.0]


def test_linear_fit_recovers_slope_and_intercept() -> None:
    fit = linear_fit(WORKERS, [0.5 + 0.007 * x for x in WORKERS])
    assert fit.slope == pytest.approx(0.007) and fit.intercept == pytest.approx(0.5)
    assert fit.r_squared == pytest.approx(1.0) and fit.curvature == pytest.approx(1.0)
    assert fit.is_linear()


def test_quadratic_growth_is_not_linear() -> None:
    fit = linear_fit(WORKERS, [0.5 + 1e-5 * x * x for x in WORKERS])
    assert fit.curvature > 4
    assert not fit.is_linear()


def test_fit_needs_two_distinct_x_and_summary_reports_spread() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        linear_fit([1.0, 1.0], [2.0, 3.0])
    summary = summarize([3.0, 1.0, 2.0, 10.0, 2.5])
    assert (summary.median, summary.low, summary.high, summary.n) == (2.5, 1.0, 10.0, 5)
    assert summary.spread == pytest.approx(3.6)


# -- sampling ----------------------------------------------------------------------------------


def test_samples_are_interleaved_round_robin() -> None:
    order: list[str] = []

    def fake(config: Config) -> Sample:
        order.append(config.label)
        return Sample(1.0, 1.0, 10.0, 0.0, {})

    samples = run_interleaved([Config("a", ()), Config("b", ())], runs=2, runner=fake)
    assert order == ["a", "b", "a", "b"] and len(samples["b"]) == 2
    with pytest.raises(ValueError, match="duplicate"):
        run_interleaved([Config("a", ()), Config("a", ())], runs=1, runner=fake)


def test_a_child_process_is_measured_alone() -> None:
    sample = run_once(
        python_config("alloc", "import json; b = bytearray(64 << 20); print(json.dumps({'ok': 1}))"),
        python=sys.executable,
    )
    assert sample.payload == {"ok": 1}
    assert sample.peak_rss_mib >= 64
    # Not inflated by this (large, Pulumi-importing) test process: a forked child would inherit its peak.
    assert run_once(python_config("empty", "pass")).peak_rss_mib < 40
    assert sample.cpu_seconds > 0 and sample.wall_seconds > 0
    with pytest.raises(ChildError, match="exit 3"):
        run_once(python_config("fail", "raise SystemExit(3)"))


# -- report ------------------------------------------------------------------------------------


def measured(label: str, seconds: float, *, resources: int = 0, planes: int | None = None, mode: str = "") -> Measured:
    summary = summarize([seconds * 0.9, seconds, seconds * 1.2])
    return Measured(
        label,
        summary,
        summary,
        summarize([100.0 + (planes or 0) * 0.25]),
        resources,
        summarize([1.0]) if mode == "up" else None,
        planes,
        mode,
    )


def test_report_renders_every_section_from_the_real_dev_and_prod_graphs(render_graph: RenderGraph) -> None:
    models = [model_stack("dev", run=render_graph), model_stack("prod", run=render_graph)]
    floors = [measured("python -c pass", 0.02), measured("import floor", 0.4), measured("SDK modules floor", 2.0)]
    points = [  # 4 resources and 40 ms of CPU per control plane: 10 ms per resource
        measured(f"prod {mode} {n}", 2 + 0.04 * n, resources=137 + 4 * n, planes=n, mode=mode)
        for mode in ("preview", "up")
        for n in (1, 3, 5)
    ]
    results = Results(
        {"CPUs": "2"},
        floors,
        [measured("dev preview", 2.3, resources=126, mode="preview")],
        points,
        growth_fits(points),
        models,
        runs=3,
    )
    report = render(results)
    for heading in ("## 1. Program", "## 2. Growth", "## 3. Critical path", "## 4. Monthly cost"):
        assert heading in report
    assert "40.00 ms" in report  # the fitted per-control-plane slope of the synthetic points
    assert "per added resource 10.0 ms CPU" in report
    for model in models:
        assert model.path[-1].finish == model.serial.full > 0 and not model.missing_types
    assert "Critical path of `prod`" in report and "NLB traffic (NLCU, assumed)" in report
    assert "$0.006" in report and "800 new connections/s" in report and "not re-verified here" in report


# -- prod: roles, group sizes, the NLB and EKS -------------------------------------------------


def test_breakdown_arithmetic_on_a_hand_computed_cluster() -> None:
    """Two control planes and one worker, one NLB in 2 zones; prices and traffic made up for round numbers."""
    toy = {
        key: prices.Price(key, usd, "USD", "https://aws.amazon.com/")
        for key, usd in (
            ("instance:cp.type", 1.0),
            ("instance:w.type", 0.5),
            ("ebs:gp3", 0.1),
            ("kms-key", 1.0),
            ("public-ipv4", 0.01),
            ("nlb", 0.02),
            ("nlb-nlcu", 0.01),
            ("eks-control-plane", 0.1),
        )
    }
    traffic = prices.ApiTraffic(1.0, 10.0, 0.25, "toy")  # 3 nodes: 3/800, 30/100000, 0.75 GB/h -> 0.75 NLCU
    inv = costs.Inventory(
        nodes=(
            costs.Node("cp0", "cp.type", 10, False, True),
            costs.Node("cp1", "cp.type", 10, False, True),
            costs.Node("w0", "w.type", 20, True, False),
        ),
        elastic_ips=0,
        control_plane_elastic_ips=0,
        nat_gateways=0,
        kms_keys=1,
        network_load_balancers=1,
        load_balancer_public_ipv4=2,
    )
    got = {line.item: line.monthly_usd for line in breakdown.lines(inv, toy, hours=100, traffic=traffic)}
    assert got == pytest.approx(
        {
            "EC2 control planes (cp.type)": 200.0,  # 2 x $1 x 100 h
            "EC2 workers (w.type)": 50.0,
            "EBS gp3 root volumes": 4.0,  # 40 GiB x $0.1 (per month, not per hour)
            "KMS customer-managed keys": 1.0,
            "public IPv4 addresses": 3.0,  # 2 of the NLB + the worker's, x $0.01 x 100 h
            breakdown.NLB_HOURS_ITEM: 2.0,
            breakdown.NLCU_ITEM: 0.75,  # 0.75 NLCU x $0.01 x 100 h
        }
    )
    eks = {line.item: line.monthly_usd for line in breakdown.lines(costs.as_eks(inv), toy, hours=100, traffic=traffic)}
    assert eks == pytest.approx(
        {
            "EC2 workers (w.type)": 50.0,
            "EBS gp3 root volumes": 2.0,
            "KMS customer-managed keys": 1.0,
            "public IPv4 addresses": 1.0,
            "EKS control plane": 10.0,
        }
    )


def test_an_nlcu_is_the_largest_of_the_three_tcp_dimensions() -> None:
    assert prices.ApiTraffic(800.0, 0.0, 0.0, "").nlcu(nodes=2) == 2  # new connections dominate
    assert prices.ApiTraffic(0.0, 50_000.0, 0.0, "").nlcu(nodes=3) == 1.5  # active connections
    assert prices.ApiTraffic(0.0, 0.0, 0.5, "").nlcu(nodes=4) == 2  # processed GB per hour
    assert prices.PRICES["nlb-nlcu"].usd == 0.006 and prices.PRICES["nlb"].usd == 0.0225


def test_every_price_says_when_it_was_taken_and_what_checked_it() -> None:
    for price in prices.PRICES.values():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.as_of) and price.checked, price
    assert {price.checked.startswith(prices.NOT_REVERIFIED) for price in prices.PRICES.values()} == {True, False}


def test_prod_costs_more_than_dev_has_an_nlb_and_scales_with_the_group(render_graph: RenderGraph) -> None:
    dev, prod = (model_stack(stack, run=render_graph).costs for stack in ("dev", "prod"))
    assert prod.total() > dev.total() and prod.total(eks=True) > dev.total(eks=True)
    assert prod.has_load_balancer and not dev.has_load_balancer
    items = {line.item for line in prod.self_managed["desired"]}
    assert {breakdown.NLB_HOURS_ITEM, breakdown.NLCU_ITEM, "EC2 control planes (m6i.large)"} <= items
    assert not {breakdown.NLB_HOURS_ITEM, breakdown.NLCU_ITEM} & {line.item for line in dev.self_managed["desired"]}
    assert not {breakdown.NLB_HOURS_ITEM, breakdown.NLCU_ITEM} & {line.item for line in prod.eks["desired"]}
    assert prod.control_planes == 3 and dict(prod.workers) == {"min": 3, "desired": 3, "max": 9}
    m6i = prices.PRICES["instance:m6i.large"].usd * HOURS
    assert prod.total("max") - prod.total("min") == pytest.approx(
        6 * (m6i + 50 * 0.08 + 0.005 * HOURS) + 6 * prices.API_TRAFFIC.processed_gb_per_hour_per_node * 0.006 * HOURS
    )  # six more workers: instance, 50 GiB, own public IPv4, and their share of the NLB's processed bytes


# -- boot model --------------------------------------------------------------------------------


def test_control_planes_join_in_parallel_after_the_first_answers_through_the_nlb(render_graph: RenderGraph) -> None:
    graph = render_graph("prod", preview=True)
    resources, _ = dag_from_graph(graph, data.type_seconds)
    boot = with_boot(resources, graph)
    plan = schedule(boot.full)
    answers = plan.finish["runtime::healthy::prod-control-plane-node"]
    joins = [plan.finish[f"runtime::join::prod-control-plane-node-{i}"] for i in (1, 2)]
    step = data.STEP_BY_KEY
    join_seconds = step["join-retry-wait"].seconds + step["kubeadm-join-control-plane"].seconds
    assert joins == [answers + join_seconds] * 2  # concurrently, not one after the other
    assert boot.milestones.control_planes_joined == answers + join_seconds + 20  # 2 checks x 10 s
    assert boot.milestones.api_answers == answers < boot.milestones.pulumi_up
    # `pulumi up` waits for the first control plane (through the gate), not for the joins.
    assert "runtime::join::prod-control-plane-node-1" not in boot.up_dag.seconds
    assert "runtime::init::prod-control-plane-node" in boot.up_dag.seconds
    gate = next(r.urn for r in graph.resources if r.type == "pulumi-python:dynamic:Resource")
    assert plan.finish[gate] == answers + step["readyz-poll"].seconds


def test_one_control_plane_answers_through_its_elastic_ip_without_probe(render_graph: RenderGraph) -> None:
    graph = render_graph("dev", preview=True)
    resources, _ = dag_from_graph(graph, data.type_seconds)
    boot = with_boot(resources, graph)
    assert not any("::probe::" in node or "::healthy::" in node for node in boot.full.seconds)
    step = data.STEP_BY_KEY
    instance = schedule(boot.full).finish[next(r.urn for r in graph.by_type(costs.INSTANCE))]
    boot_seconds = sum(step[key].seconds for key in (*data.NODE_BOOT, "kubeadm-init"))
    assert boot.milestones.api_answers == instance + boot_seconds
    assert boot.milestones.control_planes_joined == boot.milestones.api_answers
