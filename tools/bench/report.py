"""The benchmark's Markdown report (`build/bench/report.md`): sections 1-2 here, 3-4 in
`tools.bench.report_model`; the result types are in `tools.bench.results` (re-exported)."""

from __future__ import annotations

from tools.bench.measure import IMPORT_FLOOR
from tools.bench.report_model import cost_section, critical_path_section
from tools.bench.results import Growth, Measured, PathStep, Results, StackModel, s, table, verdict

__all__ = ["Growth", "Measured", "PathStep", "Results", "StackModel", "render"]

OVERHEAD_TARGET_S = 0.5
PER_RESOURCE_TARGET_MS = 10.0
"""The old per-worker target, now per resource a control plane adds (it adds several)."""


def _floor(results: Results, label: str) -> Measured:
    return next(floor for floor in results.floors if floor.label == label)


def evaluation_section(results: Results) -> list[str]:
    floor = _floor(results, "import floor")
    lines = [
        f"## 1. Program evaluation under the mock engine (median of {results.runs} fresh processes, "
        "min-max in brackets)",
        "",
    ]
    lines += table(
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
                s(m.wall),
                s(m.cpu),
                s(m.rss, "MiB", 0),
                f"{m.wall.median - floor.wall.median:+.2f} s" if m.resources else "-",
                f"{m.wall.median / floor.wall.median:.1f}" if m.resources else "-",
                s(m.key_cpu) if m.key_cpu and m.key_cpu.median else "-",
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
            f"(target < {OVERHEAD_TARGET_S} s): {verdict(max(wall, cpu) < OVERHEAD_TARGET_S)}. Of it, "
            f"{sdk_wall:.2f} s wall / {sdk_cpu:.2f} s CPU is loading the SDK submodules used; "
            f"{wall - sdk_wall:.2f} s / {cpu - sdk_cpu:.2f} s is the program and the mock engine."
        )
    lines.append(
        "- On a shared machine CPU time (user + system of the child) is the load-robust measure; wall "
        "time also counts waiting for a core."
    )
    return [*lines, ""]


def growth_section(results: Results) -> list[str]:
    lines = [
        "## 2. Growth with the control-plane count (`prod` with `availabilityZoneCount=5`, "
        "`controlPlaneCount` 1 / 3 / 5)",
        "",
        "Each control plane adds its instance, two address reservations and a target attachment, and its "
        "own rendered user data; the zones (network) stay the same. The workers are an Auto Scaling group, so "
        "their number adds nothing to evaluate and is not a growth axis any more.",
        "",
    ]
    lines += table(
        ["mode", "control planes", "resources", "wall", "CPU", "peak RSS"],
        [
            [m.mode, m.control_planes, m.resources, s(m.wall), s(m.cpu), s(m.rss, "MiB", 0)]
            for m in results.growth_points
        ],
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
                ]
            )
    lines += table(["mode", "per control plane", "fitted slope", "intercept", "R²", "segment slopes"], rows)
    lines.append(
        "Fits are over the medians unless said otherwise; segment slopes are between consecutive counts. "
        "Three points show a trend, not a curve: the difference per control plane is small next to the "
        "noise of a shared machine, so read the CPU row and R² together."
    )
    lines.append("")
    for growth in results.growth:
        per_resource = growth.resources.slope or 1.0
        cpu_ms = growth.cpu.slope * 1000 / per_resource
        wall_ms = growth.wall.slope * 1000 / per_resource
        lines.append(
            f"- Target ({growth.mode}): evaluation cost per added resource {cpu_ms:.1f} ms CPU / {wall_ms:.1f} ms "
            f"wall ({growth.resources.slope:g} resources per control plane; target < {PER_RESOURCE_TARGET_MS:.0f} ms): "
            f"CPU {verdict(cpu_ms < PER_RESOURCE_TARGET_MS)}, wall {verdict(wall_ms < PER_RESOURCE_TARGET_MS)} "
            f"(R² {growth.cpu.r_squared:.3f} CPU, {growth.wall.r_squared:.3f} wall)."
        )
    return [*lines, ""]


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
