"""Sections 3 and 4 of the report: the modelled `pulumi up` (critical path, boot milestones, serial
steps) and the monthly bill (by role, workers at min/desired/max, the NLB's hours and NLCUs, EKS)."""

from __future__ import annotations

from collections.abc import Mapping

from tools.bench import data, prices
from tools.bench.breakdown import NLCU_ITEM, SIZES
from tools.bench.costs import CostLine, GroupSize, total
from tools.bench.results import Results, StackModel, minutes, table, verdict

_BOOT_MODEL = (
    "Boot steps (`runtime:` rows, `tools/bench/runtime.py`) are not resources: they are what the nodes do "
    "after their instance runs, read from the graph. Every control plane boots at once; the first probes "
    "the others' etcd (several control planes only) and runs `kubeadm init`; the API answers through the "
    "Elastic IP's association, or once the load balancer's health check found the first target healthy "
    "(threshold x interval of the stack's target group). The readiness gate polls only then. The other "
    "control planes join **concurrently**, each after its own boot and the first's answer (plus half a "
    "retry interval), then turn healthy in the target group; the workers boot once their Auto Scaling "
    "group exists and join the same way. `pulumi up` ends with the last resource; the joins can end later."
)


def _shown(results: Results) -> list[StackModel]:
    """dev and every stack with a load balancer (one path table each)."""
    return [m for m in results.models if m.stack == "dev" or m.costs.has_load_balancer]


def critical_path_section(results: Results) -> list[str]:
    lines = ["## 3. Critical path and modelled `pulumi up` duration", "", data.PARALLELISM_NOTE, "", _BOOT_MODEL, ""]
    lines += table(
        [
            "stack",
            "resources",
            "`pulumi up`",
            "data edges only",
            "required orderings only",
            "avoidable",
            "API answers",
            "every control plane joined",
            "workers joined",
        ],
        [
            [
                m.stack,
                m.resources,
                minutes(m.serial.full),
                minutes(m.serial.data_only),
                minutes(m.serial.required_only),
                f"{m.serial.avoidable:.0f} s",
                f"{m.milestones.api_answers:.0f} s",
                f"{m.milestones.control_planes_joined:.0f} s ({m.costs.control_planes})",
                f"{m.milestones.workers_joined:.0f} s" if m.milestones.workers_joined is not None else "-",
            ]
            for m in results.models
        ],
    )
    for model in _shown(results):
        lines += [
            f"Critical path of `{model.stack}` ({len(model.path)} steps, {minutes(model.serial.full)}); *via* is "
            "why a step waits for the one before:",
            "",
        ]
        lines += table(
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
                for i, step in enumerate(model.path)
            ],
        )
    for model in _shown(results):
        lines += _serial_lines(model)
    missing = sorted({t for m in results.models for t in m.missing_types})
    if missing:
        lines.append(f"- Types without a creation-time row (counted as 0 s): {', '.join(missing)}.")
    lines += ["", "Creation and boot times (none measured: no cloud account):", ""]
    lines += table(
        ["step", "seconds", "basis", "source / reasoning"],
        [[s.key, f"{s.seconds:g}", s.basis, s.source] for s in data.STEPS],
    )
    return [*lines, ""]


def _serial_lines(model: StackModel) -> list[str]:
    lines = [
        f"Explicit orderings (`depends_on` with no data flow) in `{model.stack}`, grouped by component and "
        "verdict; *saving* is how much shorter the modelled critical path gets without them:",
        "",
    ]
    lines += table(
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
            for g in model.serial.groups
        ],
    )
    on_path = [g for g in model.serial.groups if g.required is not True and g.saving > 0]
    lines.append(
        f"- Target (`{model.stack}`): no avoidable serial step on the critical path: {verdict(not on_path)}"
        + (
            " - "
            + "; ".join(f"{g.dependent_component} -> {g.dependency_component} costs {g.saving:.0f} s" for g in on_path)
            if on_path
            else ""
        )
        + "."
    )
    off_path = [g for g in model.serial.groups if g.required is False and g.saving == 0]
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
    return [*lines, ""]


def _usd(value: float) -> str:
    return f"${value:.2f}"


def cost_section(results: Results) -> list[str]:
    lines = [
        "## 4. Monthly cost in us-east-1 (730 h; data transfer and NAT data processing excluded)",
        "",
        "Workers at the Auto Scaling group's min / desired / max; control planes, volumes and addresses "
        "from the stack's graph (`tools/bench/breakdown.py`).",
        "",
    ]
    lines += table(
        [
            "stack",
            "control planes",
            "workers min/desired/max",
            "self-managed at min / **desired** / max",
            "same workers on EKS (desired)",
            "NAT-gateway design (desired)",
            "cheaper than EKS",
        ],
        [
            [
                m.stack,
                m.costs.control_planes,
                "/".join(str(m.costs.workers[size]) for size in SIZES),
                " / ".join(
                    f"**{_usd(m.costs.total(size))}**" if size == "desired" else _usd(m.costs.total(size))
                    for size in SIZES
                ),
                _usd(m.costs.total(eks=True)),
                f"{_usd(total(m.nat))} + $0.045/GB",
                "yes" if m.costs.total() < m.costs.total(eks=True) else "**no**",
            ]
            for m in results.models
        ],
    )
    for model in _shown(results):
        lines += _breakdown_table(f"`{model.stack}`, self-managed", model.costs.self_managed)
        lines += _breakdown_table(f"`{model.stack}` on EKS", model.costs.eks)
    dev = next(m for m in results.models if m.stack == "dev")
    unit, traffic = prices.NLCU, prices.API_TRAFFIC
    per_nlcu = prices.PRICES["nlb-nlcu"].usd * prices.HOURS_PER_MONTH
    lines += [
        "- *EKS*: the control planes, their Elastic IP and the API load balancer replaced by the EKS fee "
        "($0.10 per cluster-hour); workers, their volumes and public IPv4 unchanged. EKS no longer offers "
        "1.21/1.22, and versions in extended support cost $0.60/h.",
        "- *NAT-gateway design*: this program with `privateSubnets` + `natGateway`: workers without public IPv4, "
        "one NAT gateway with its Elastic IP (one gateway, not one per zone).",
        f"- *{NLCU_ITEM}*: an NLCU (TCP) is {unit.new_connections_per_second:,.0f} new connections/s, "
        f"{unit.active_connections:,.0f} active connections or {unit.processed_gb_per_hour:g} GB processed per "
        f"hour, whichever is largest in the hour; ${prices.PRICES['nlb-nlcu'].usd:g} per NLCU-hour, so one "
        f"NLCU all month is {_usd(per_nlcu)}. Assumed per node (control planes and workers): "
        f"{traffic.new_connections_per_second_per_node:g} new connections/s, "
        f"{traffic.active_connections_per_node:g} active connections, "
        f"{traffic.processed_gb_per_hour_per_node:g} GB/h - {traffic.basis}",
        "- Public IPv4: the control plane's Elastic IP, every worker's own address, and one per zone of an "
        "internet-facing load balancer.",
        f"- Target: `dev` cheaper per month than the same nodes on EKS: "
        f"{verdict(dev.costs.total() < dev.costs.total(eks=True))} ({_usd(dev.costs.total())} vs "
        f"{_usd(dev.costs.total(eks=True))}).",
        "",
        prices.PRICE_NOTE,
        "",
    ]
    lines += table(
        ["price", "USD", "unit", "source", "taken", "checked"],
        [[p.key, f"{p.usd:g}", p.unit, p.source, p.as_of, p.checked] for p in prices.PRICES.values()],
    )
    lines.append(prices.HOURS_SOURCE)
    return [*lines, ""]


def _breakdown_table(title: str, by_size: Mapping[GroupSize, list[CostLine]]) -> list[str]:
    items: list[str] = []
    for size in SIZES:
        items += [line.item for line in by_size[size] if line.item not in items]

    def cell(size: GroupSize, item: str) -> str:
        found = [line for line in by_size[size] if line.item == item]
        return f"{found[0].counted}: {found[0].monthly_usd:.2f}" if found else "-"

    rows = [[item, *(cell(size, item) for size in SIZES)] for item in items]
    rows.append(["**total**", *(f"**{total(by_size[size]):.2f}**" for size in SIZES)])
    return [f"{title} (USD/month; workers at min / desired / max):", "", *table(["item", *SIZES], rows)]
