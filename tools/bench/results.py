"""The benchmark's results (what `tools.bench.__main__` measured and modelled) and Markdown helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tools.bench.breakdown import StackCosts
from tools.bench.costs import CostLine
from tools.bench.critical_path import EdgeKind
from tools.bench.runtime import Milestones
from tools.bench.serial import SerialReport
from tools.bench.stats import LinearFit, Summary


@dataclass(frozen=True)
class Measured:
    label: str
    wall: Summary
    cpu: Summary
    rss: Summary
    resources: int = 0
    key_cpu: Summary | None = None
    """CPU the mock spent deriving RSA keys (up mode); None for floors."""
    control_planes: int | None = None
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
    """The critical path of `pulumi up`, first step first (resources and the boot steps they wait for)."""
    costs: StackCosts
    nat: list[CostLine]
    """The bill of the NAT-gateway design at the group's desired size."""
    milestones: Milestones
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


def s(summary: Summary, unit: str = "s", digits: int = 2) -> str:
    return f"{summary.median:.{digits}f} {unit} ({summary.low:.{digits}f}-{summary.high:.{digits}f})"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
