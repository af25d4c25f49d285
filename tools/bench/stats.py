"""Small statistics for the benchmark: medians with spread, least-squares line, linearity check."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the runs were."""
        return (self.high - self.low) / self.median if self.median else 0.0


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no values to summarize")
    return Summary(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class LinearFit:
    slope: float
    intercept: float
    r_squared: float
    segment_slopes: tuple[float, ...]
    """Slope between consecutive x values: equal for a straight line, rising for superlinear growth."""

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x

    @property
    def curvature(self) -> float:
        """Last segment slope / the one before (1.0 on a straight line, ~5 for x**2 over 10, 100, 500).

        The first segments of a 1-10-100-500 series carry too little signal to compare against.
        """
        if len(self.segment_slopes) < 2:
            return 1.0
        before, last = self.segment_slopes[-2], self.segment_slopes[-1]
        return last / before if before > 0 else float("inf")

    def is_linear(self, min_r_squared: float = 0.99, max_curvature: float = 2.0) -> bool:
        """Straight within noise: the line explains the points and the marginal cost does not keep growing."""
        return self.r_squared >= min_r_squared and self.curvature <= max_curvature


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> LinearFit:
    """Ordinary least squares of ys on xs (at least two distinct xs)."""
    if len(xs) != len(ys) or len(set(xs)) < 2:
        raise ValueError("a line needs at least two distinct x values and one y per x")
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - mean_y) ** 2 for y in ys)
    points = sorted(zip(xs, ys, strict=True))
    segments = tuple((y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in itertools.pairwise(points) if x2 != x1)
    return LinearFit(slope, intercept, 1.0 - residual / total if total else 1.0, segments)
