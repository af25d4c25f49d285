"""`make bench`: measure the program, model `pulumi up` and the monthly bill, write the report.

    python -m tools.bench [--runs 5] [--control-planes 1 3 5] [--stacks dev prod] [--out build/bench]

Prints the report and writes `<out>/report.md` and `<out>/samples.json` (every raw sample).
Takes several minutes: every sample is a fresh interpreter (see `tools.bench.measure`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.bench import breakdown, costs, data
from tools.bench.critical_path import EdgeKind, dag_from_graph, schedule
from tools.bench.measure import IMPORT_FLOOR, Config, Sample, program_config, python_config, run_interleaved, run_once
from tools.bench.report import Growth, Measured, PathStep, Results, StackModel, render
from tools.bench.runtime import with_boot
from tools.bench.serial import analyse
from tools.bench.stats import linear_fit, summarize
from tools.offline.capture import Graph
from tools.offline.engine import run_program
from tools.offline.stackfiles import REPO_ROOT, list_stacks

DEFAULT_OUT = REPO_ROOT / "build" / "bench"
DEFAULT_CONTROL_PLANES = (1, 3, 5)
GROWTH_STACK = "prod"
GROWTH_ZONES = 5
"""Enough zones for 5 control planes (one per zone), the same for every point: only the control
planes change. The workers are an Auto Scaling group: their count adds no resource to evaluate."""


def growth_overrides(control_planes: int) -> dict[str, object]:
    return {"controlPlaneCount": control_planes, "apiEndpoint": "nlb", "availabilityZoneCount": GROWTH_ZONES}


NAT_OVERRIDES: dict[str, object] = {"privateSubnets": True, "natGateway": True}
MODES = ("preview", "up")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measured(config: Config, samples: list[Sample]) -> Measured:
    payloads = [sample.payload for sample in samples]
    keys = [payload["key_cpu_seconds"] for payload in payloads if "key_cpu_seconds" in payload]
    return Measured(
        label=config.label,
        wall=summarize([sample.wall_seconds for sample in samples]),
        cpu=summarize([sample.cpu_seconds for sample in samples]),
        rss=summarize([sample.peak_rss_mib for sample in samples]),
        resources=int(payloads[0].get("resources", 0)),
        key_cpu=summarize(keys) if keys else None,
        control_planes=config.meta.get("control_planes"),
        mode=str(config.meta.get("mode", "")),
    )


def _sdk_floor_code() -> str:
    """Imports of every SDK submodule the dev program loads, learnt from one warm-up run."""
    modules = run_once(program_config("dev", "up")).payload["sdk_modules"]
    return "\n".join([IMPORT_FLOOR, *(f"import {module}" for module in modules)])


Raw = dict[str, dict[str, Any]]


def measure(
    stacks: Sequence[str], control_planes: Sequence[int], runs: int
) -> tuple[list[Measured], list[Measured], list[Measured], Raw]:
    """Floors, stack runs, growth points (each a median over `runs` samples) and every raw sample."""
    floors = [
        python_config("python -c pass", "pass"),
        python_config("import floor", IMPORT_FLOOR),
        python_config("SDK modules floor", _sdk_floor_code()),
    ]
    stack_configs = [program_config(stack, mode) for stack in stacks for mode in MODES]
    growth_configs = []
    for mode in MODES:
        for count in control_planes:
            growth_configs.append(
                program_config(
                    GROWTH_STACK,
                    mode,
                    growth_overrides(count),
                    label=f"{GROWTH_STACK} {mode} {count} control planes",
                    group="growth",
                    control_planes=count,
                )
            )
    everything = [*floors, *stack_configs, *growth_configs]
    samples = run_interleaved(everything, runs, progress=_log)
    raw = {
        config.label: {"argv": list(config.argv), "samples": [asdict(sample) for sample in samples[config.label]]}
        for config in everything
    }
    measured = {config.label: _measured(config, samples[config.label]) for config in everything}
    return (
        [measured[c.label] for c in floors],
        [measured[c.label] for c in stack_configs],
        [measured[c.label] for c in growth_configs],
        raw,
    )


def growth_fits(points: Sequence[Measured]) -> list[Growth]:
    fits = []
    for mode in MODES:
        rows = [point for point in points if point.mode == mode]
        xs = [float(point.control_planes or 0) for point in rows]
        fits.append(
            Growth(
                mode=mode,
                wall=linear_fit(xs, [point.wall.median for point in rows]),
                wall_best=linear_fit(xs, [point.wall.low for point in rows]),
                cpu=linear_fit(xs, [point.cpu.median for point in rows]),
                rss=linear_fit(xs, [point.rss.median for point in rows]),
                resources=linear_fit(xs, [float(point.resources) for point in rows]),
            )
        )
    return fits


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def model_stack(stack: str, run: Callable[..., Graph] = run_program) -> StackModel:
    """Critical path, boot milestones and costs from the captured graph (preview mode: the same
    graph, no keys made)."""
    graph = run(stack, preview=True)
    resources_only, missing = dag_from_graph(graph, data.type_seconds)
    boot = with_boot(resources_only, graph)
    dag = boot.up_dag
    plan = schedule(dag)
    kinds = {(edge.dependent, edge.dependency): edge.kind for edge in dag.edges}
    path = tuple(
        PathStep(
            _short(urn),
            dag.types[urn],
            dag.seconds[urn],
            plan.finish[urn],
            kinds.get((urn, plan.path[i - 1]), EdgeKind.DATA) if i else None,
        )
        for i, urn in enumerate(plan.path)
    )
    nat_inventory = costs.inventory(run(stack, preview=True, overrides=NAT_OVERRIDES))
    return StackModel(
        stack=stack,
        resources=len(graph.resources),
        serial=analyse(dag, graph),
        path=path,
        costs=breakdown.stack_costs(stack, {size: costs.inventory(graph, size) for size in breakdown.SIZES}),
        nat=breakdown.lines(nat_inventory),
        milestones=boot.milestones,
        missing_types=tuple(sorted(missing)),
    )


def _versions() -> str:
    names = ("pulumi", "pulumi-aws", "pulumi-kubernetes", "pulumi-tls", "pulumi-random")
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


def _load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="samples per configuration (median reported)")
    parser.add_argument(
        "--control-planes",
        type=int,
        nargs="+",
        default=list(DEFAULT_CONTROL_PLANES),
        help=f"growth points: controlPlaneCount of the {GROWTH_STACK} stack (1, 3 or 5)",
    )
    parser.add_argument("--stacks", nargs="+", default=None, help="default: every Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    stacks = args.stacks or list_stacks()
    if "dev" not in stacks:
        parser.error("the report is built around the dev stack; include it")
    if args.runs < 1 or len(set(args.control_planes)) < 2 or not set(args.control_planes) <= {1, 3, 5}:
        parser.error("need --runs >= 1 and at least two distinct --control-planes out of 1, 3 and 5")

    context = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPUs": str(os.cpu_count()),
        "python": platform.python_version(),
        "packages": _versions(),
        "load 1/5/15 min at start": _load(),
    }
    _log(f"modelling {', '.join(stacks)} ...")
    models = [model_stack(stack) for stack in stacks]
    _log("measuring (every sample is a fresh interpreter) ...")
    floors, stack_runs, growth_points, raw = measure(stacks, sorted(set(args.control_planes)), args.runs)
    context["load 1/5/15 min at end"] = _load()
    loads = [sample["load_1m"] for entry in raw.values() for sample in entry["samples"]]
    context["1-min load during samples"] = f"{min(loads):.1f}-{max(loads):.1f}"
    results = Results(context, floors, stack_runs, growth_points, growth_fits(growth_points), models, args.runs)
    report = render(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report, encoding="utf-8")
    (args.out / "samples.json").write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(report)
    _log(f"wrote {args.out / 'report.md'} and {args.out / 'samples.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
