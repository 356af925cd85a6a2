"""Small statistics for paired, interleaved runs: percentiles, round medians, bootstrap CIs."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100), linearly interpolated; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bootstrap(
    values: Sequence[float], stat: Callable[[Sequence[float]], float] = median, n: int = 1000, seed: int = 1
) -> tuple[float, float]:
    """A 95% bootstrap confidence interval of ``stat``."""
    if len(values) < 2:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    draws = sorted(stat(rng.choices(values, k=len(values))) for _ in range(n))
    return draws[int(0.025 * n)], draws[int(0.975 * n) - 1]


@dataclass(frozen=True)
class Paired:
    """The median over rounds of ``arm - direct`` (each round's median), with IQR and CI."""

    median: float
    q1: float
    q3: float
    ci: tuple[float, float]
    rounds: int


def paired(differences: Sequence[float]) -> Paired:
    return Paired(
        median=median(differences),
        q1=percentile(differences, 25),
        q3=percentile(differences, 75),
        ci=bootstrap(differences),
        rounds=len(differences),
    )


def ratio_ci(
    numerators: Sequence[float], denominators: Sequence[float], seed: int = 2
) -> tuple[float, float]:
    """95% CI of ``median(numerators) / median(denominators)``, resampling rounds in pairs."""
    pairs = list(zip(numerators, denominators, strict=True))
    if len(pairs) < 2:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    draws = []
    for _ in range(1000):
        sample = rng.choices(pairs, k=len(pairs))
        below = median([d for _, d in sample])
        draws.append(median([n for n, _ in sample]) / below if below else float("inf"))
    draws.sort()
    return draws[25], draws[974]
