"""The table a run prints: one row per figure, with the target it is read against."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    id: str
    metric: str
    value: str
    target: str = ""


def ms(seconds: float | None, digits: int = 2) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.{digits}f} ms"


def us(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1e6:.1f} µs"


def quotient(numerator: float, denominator: float) -> float:
    """numerator / denominator, or NaN (printed "n/a") when the denominator is zero or unknown.

    A smoke run is short enough that a cheap arm can show 0 CPU ticks in /proc, so a ratio
    against it has to be undefined, not a crash that loses the rest of the table."""
    if not denominator or math.isnan(denominator):
        return float("nan")
    return numerator / denominator


def times(value: float, ci: tuple[float, float] | None = None) -> str:
    if math.isnan(value) or math.isinf(value):
        return "n/a"
    text = f"{value:.2f}x"
    if ci is not None and not any(math.isnan(c) or math.isinf(c) for c in ci):
        text += f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})"
    return text


def table(rows: Sequence[Row]) -> str:
    headers = ("ID", "metric", "value", "target")
    cells = [headers, *((r.id, r.metric, r.value, r.target) for r in rows)]
    widths = [max(len(str(row[i])) for row in cells) for i in range(4)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| ID | metric | value | target |", "|---|---|---|---|"]
    lines += [f"| {r.id} | {r.metric} | {r.value} | {r.target} |" for r in rows]
    return "\n".join(lines)
