"""The benchmark's results and their Markdown report (`build/bench/report.md`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.bench import data
from tools.bench.costs import CostLine, total
from tools.bench.critical_path import EdgeKind
from tools.bench.measure import IMPORT_FLOOR
from tools.bench.serial import SerialReport
from tools.bench.stats import LinearFit, Summary

OVERHEAD_TARGET_S = 0.5
PER_WORKER_TARGET_MS = 10.0


@dataclass(frozen=True)
class Measured:
    label: str
    wall: Summary
    cpu: Summary
    rss: Summary
    resources: int = 0
    key_cpu: Summary | None = None
    """CPU the mock spent deriving RSA keys (up mode); None for floors."""
    workers: int | None = None
    mode: str = ""


@dataclass(frozen=True)
class Growth:
    mode: str
    wall: LinearFit
    wall_best: LinearFit
    """Fitted to the fastest run of each point: a check on how much load noise moved the medians."""
    cpu: LinearFit
    rss: LinearFit
    resources: LinearFit


@dataclass(frozen=True)
class PathStep:
    name: str
    type: str
    seconds: float
    finish: float
    via: EdgeKind | None


@dataclass(frozen=True)
class StackModel:
    stack: str
    resources: int
    serial: SerialReport
    path: tuple[PathStep, ...]
    self_managed: list[CostLine]
    eks: list[CostLine]
    nat: list[CostLine]
    missing_types: tuple[str, ...]


@dataclass(frozen=True)
class Results:
    context: dict[str, str]
    floors: list[Measured]
    stacks: list[Measured]
    growth_points: list[Measured]
    growth: list[Growth]
    models: list[StackModel]
    runs: int


def _s(summary: Summary, unit: str = "s", digits: int = 2) -> str:
    return f"{summary.median:.{digits}f} {unit} ({summary.low:.{digits}f}-{summary.high:.{digits}f})"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _floor(results: Results, label: str) -> Measured:
    return next(floor for floor in results.floors if floor.label == label)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def evaluation_section(results: Results) -> list[str]:
    floor = _floor(results, "import floor")
    lines = [
        f"## 1. Program evaluation under the mock engine (median of {results.runs} fresh processes, "
        "min-max in brackets)",
        "",
    ]
    lines += _table(
        [
            "run",
            "resources",
            "wall",
            "CPU (user+sys)",
            "peak RSS",
            "above import floor",
            "x floor",
            "mock RSA keys (CPU)",
        ],
        [
            [
                m.label,
                m.resources or "-",
                _s(m.wall),
                _s(m.cpu),
                _s(m.rss, "MiB", 0),
                f"{m.wall.median - floor.wall.median:+.2f} s" if m.resources else "-",
                f"{m.wall.median / floor.wall.median:.1f}" if m.resources else "-",
                _s(m.key_cpu) if m.key_cpu and m.key_cpu.median else "-",
            ]
            for m in [*results.floors, *results.stacks]
        ],
    )
    lines += [
        f"- *import floor* is `{IMPORT_FLOOR}` alone; *SDK modules floor* additionally imports every "
        "`pulumi_aws.*`/`pulumi_kubernetes.*`/`pulumi_tls.*`/`pulumi_random.*` module the dev program loads "
        "(the top-level packages load their submodules lazily, so the program pays for them, and so would "
        "`pulumi up`).",
        "- *preview* leaves tls outputs unknown, so no keys are made. *up* makes the 6 RSA-2048 keys with the "
        "offline engine's deterministic pure-Python derivation (cached per process only): that cost belongs to "
        "the mock, not to the program; a real `pulumi up` gets keys from the pulumi-tls provider.",
        "",
    ]
    dev = [m for m in results.stacks if m.label.startswith("dev ")]
    sdk = _floor(results, "SDK modules floor")
    for m in dev:
        keys = m.key_cpu.median if m.key_cpu else 0.0
        wall = m.wall.median - floor.wall.median - keys
        cpu = m.cpu.median - floor.cpu.median - keys
        sdk_wall, sdk_cpu = sdk.wall.median - floor.wall.median, sdk.cpu.median - floor.cpu.median
        minus = " minus the mock's key CPU" if keys else ""
        lines.append(
            f"- Target: `{m.label}` overhead above the import floor{minus} is {wall:.2f} s wall / {cpu:.2f} s CPU "
            f"(target < {OVERHEAD_TARGET_S} s): {_verdict(max(wall, cpu) < OVERHEAD_TARGET_S)}. Of it, "
            f"{sdk_wall:.2f} s wall / {sdk_cpu:.2f} s CPU is loading the SDK submodules used; "
            f"{wall - sdk_wall:.2f} s / {cpu - sdk_cpu:.2f} s is the program and the mock engine."
        )
    lines.append(
        "- On a shared machine CPU time (user + system of the child) is the load-robust measure; wall "
        "time also counts waiting for a core."
    )
    return [*lines, ""]


def growth_section(results: Results) -> list[str]:
    lines = ["## 2. Growth with worker count (dev stack, `podIpv4Cidr=10.240.0.0/14` so 500 nodes fit)", ""]
    lines += _table(
        ["mode", "workers", "resources", "wall", "CPU", "peak RSS"],
        [[m.mode, m.workers, m.resources, _s(m.wall), _s(m.cpu), _s(m.rss, "MiB", 0)] for m in results.growth_points],
    )
    rows = []
    for growth in results.growth:
        for what, fit, scale, unit in (
            ("wall", growth.wall, 1000, "ms"),
            ("CPU", growth.cpu, 1000, "ms"),
            ("wall, fastest run", growth.wall_best, 1000, "ms"),
            ("peak RSS", growth.rss, 1024, "KiB"),
            ("resources", growth.resources, 1, ""),
        ):
            segments = ", ".join(f"{slope * scale:.1f}" for slope in fit.segment_slopes)
            rows.append(
                [
                    growth.mode,
                    what,
                    f"{fit.slope * scale:.2f} {unit}".strip(),
                    f"{fit.intercept:.2f}",
                    f"{fit.r_squared:.4f}",
                    segments,
                    f"{fit.curvature:.2f}",
                ]
            )
    lines += _table(["mode", "per worker", "fitted slope", "intercept", "R²", "segment slopes", "curvature"], rows)
    lines.append(
        "Fits are over the medians unless said otherwise. Segment slopes are between consecutive worker "
        "counts; the first (1->10) is mostly noise. Curvature is the last segment (100->500) over the one "
        "before (10->100): 1 on a straight line, about 5 for quadratic growth."
    )
    lines.append("")
    for growth in results.growth:
        ms = growth.wall.slope * 1000
        linear = "; ".join(
            f"{what} {_verdict(fit.is_linear())} (R² {fit.r_squared:.3f}, curvature {fit.curvature:.2f})"
            for what, fit in (("wall", growth.wall), ("CPU", growth.cpu), ("fastest-run wall", growth.wall_best))
        )
        lines.append(
            f"- Target ({growth.mode}): per-worker evaluation cost {ms:.1f} ms wall / "
            f"{growth.cpu.slope * 1000:.1f} ms CPU / {growth.wall_best.slope * 1000:.1f} ms fastest-run wall "
            f"(target < {PER_WORKER_TARGET_MS:.0f} ms): wall {_verdict(ms < PER_WORKER_TARGET_MS)}, "
            f"CPU {_verdict(growth.cpu.slope * 1000 < PER_WORKER_TARGET_MS)}. "
            f"Linear (R² >= 0.99 and curvature <= 2): {linear}."
        )
    return [*lines, ""]


def critical_path_section(results: Results) -> list[str]:
    lines = ["## 3. Critical path and modelled `pulumi up` duration", "", data.PARALLELISM_NOTE, ""]
    lines += _table(
        ["stack", "resources", "critical path", "data edges only", "required orderings only", "avoidable"],
        [
            [
                m.stack,
                m.resources,
                _min(m.serial.full),
                _min(m.serial.data_only),
                _min(m.serial.required_only),
                f"{m.serial.avoidable:.0f} s",
            ]
            for m in results.models
        ],
    )
    dev = next(m for m in results.models if m.stack == "dev")
    lines += [
        f"Critical path of `dev` ({len(dev.path)} resources, {_min(dev.serial.full)}); *via* is why a step "
        "waits for the one before:",
        "",
    ]
    lines += _table(
        ["#", "resource", "type", "modelled s", "done at", "via"],
        [
            [
                i + 1,
                step.name,
                f"`{step.type}`",
                f"{step.seconds:g}",
                f"{step.finish:.0f} s",
                step.via.name.lower() if step.via is not None else "start",
            ]
            for i, step in enumerate(dev.path)
        ],
    )
    lines += [
        "Explicit orderings (`depends_on` with no data flow) in `dev`, grouped by component and verdict; "
        "*saving* is how much shorter the modelled critical path gets without them:",
        "",
    ]
    lines += _table(
        ["waits", "for", "edges (+implied)", "required", "saving", "why"],
        [
            [
                g.dependent_component,
                g.dependency_component,
                f"{len(g.edges)} (+{len(g.implied)})",
                {True: "yes", False: "**no**", None: "no rule"}[g.required],
                f"{g.saving:.0f} s",
                g.rule.reason if g.rule else "-",
            ]
            for g in dev.serial.groups
        ],
    )
    on_path = [g for g in dev.serial.groups if g.required is False and g.saving > 0]
    lines.append(
        f"- Target: no avoidable serial step on the critical path: {_verdict(not on_path)}"
        + (
            " - "
            + "; ".join(f"{g.dependent_component} -> {g.dependency_component} costs {g.saving:.0f} s" for g in on_path)
            if on_path
            else ""
        )
        + "."
    )
    off_path = [g for g in dev.serial.groups if g.required is False and g.saving == 0]
    if off_path:
        lines.append(
            "- Not required but off the critical path today (cost nothing in this model; *slack* is how "
            "much slower the branch may get before they would): "
            + "; ".join(
                f"{g.dependent_component} -> {g.dependency_component} ({len(g.edges)} serial edges, "
                f"{g.slack:.0f} s slack)"
                for g in off_path
            )
            + "."
        )
    missing = sorted({t for m in results.models for t in m.missing_types})
    if missing:
        lines.append(f"- Types without a creation-time row (counted as 0 s): {', '.join(missing)}.")
    lines += ["", "Creation times (none measured: no cloud account):", ""]
    lines += _table(
        ["step", "seconds", "basis", "source / reasoning"],
        [[s.key, f"{s.seconds:g}", s.basis, s.source] for s in data.STEPS],
    )
    lines.append(
        "The readiness gate (`pulumi-python:dynamic:Resource`) is "
        + " + ".join(data.READINESS_GATE)
        + f" = {data.type_seconds('pulumi-python:dynamic:Resource'):g} s after the instance is running."
    )
    return [*lines, ""]


def _min(seconds: float) -> str:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def cost_section(results: Results) -> list[str]:
    lines = ["## 4. Monthly cost in us-east-1 (730 h; data transfer and NAT data processing excluded)", ""]
    lines += _table(
        [
            "stack",
            "nodes",
            "self-managed (this program)",
            "same workers on EKS",
            "NAT-gateway design",
            "cheaper than EKS",
        ],
        [
            [
                m.stack,
                _nodes(m.self_managed),
                f"${total(m.self_managed):.2f}",
                f"${total(m.eks):.2f}",
                f"${total(m.nat):.2f} + $0.045/GB",
                "yes" if total(m.self_managed) < total(m.eks) else "**no**",
            ]
            for m in results.models
        ],
    )
    dev = next(m for m in results.models if m.stack == "dev")
    for title, cost_lines in (
        ("dev, self-managed", dev.self_managed),
        ("dev on EKS", dev.eks),
        ("dev, NAT-gateway design", dev.nat),
    ):
        lines += [f"{title}:", ""]
        lines += _table(
            ["item", "quantity", "USD/month"],
            [
                *([line.item, line.counted, f"{line.monthly_usd:.2f}"] for line in cost_lines),
                ["**total**", "", f"**{total(cost_lines):.2f}**"],
            ],
        )
    lines += [
        "- *EKS*: the control-plane node and its Elastic IP replaced by the EKS fee; workers, volumes and their "
        "public IPv4 unchanged. EKS no longer offers 1.21/1.22, and versions in extended support cost $0.60/h.",
        "- *NAT-gateway design*: this program with `privateSubnets` + `natGateway`: workers without public IPv4, "
        "one NAT gateway with its Elastic IP (one gateway, not one per zone).",
        f"- Target: `dev` cheaper per month than the same nodes on EKS: "
        f"{_verdict(total(dev.self_managed) < total(dev.eks))} (${total(dev.self_managed):.2f} vs "
        f"${total(dev.eks):.2f}).",
        "",
        data.PRICE_NOTE,
        "",
    ]
    lines += _table(
        ["price", "USD", "unit", "source"], [[p.key, f"{p.usd:g}", p.unit, p.source] for p in data.PRICES.values()]
    )
    lines.append(data.HOURS_SOURCE)
    return [*lines, ""]


def _nodes(lines: list[CostLine]) -> str:
    instances = (line for line in lines if line.item.startswith("EC2 "))
    return ", ".join(f"{line.quantity:g} {line.item.removeprefix('EC2 ')}" for line in instances)


def render(results: Results) -> str:
    lines = [
        "# Benchmarks and cost",
        "",
        "Machine and run: " + "; ".join(f"{k}: {v}" for k, v in results.context.items()),
        "",
    ]
    for section in (evaluation_section, growth_section, critical_path_section, cost_section):
        lines += section(results)
    return "\n".join(lines).rstrip() + "\n"
