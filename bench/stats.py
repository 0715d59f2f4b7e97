"""Samples, medians, ratios and targets: the arithmetic of the report."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Series:
    """Repeated measurements of one quantity (a rate, a time, a size)."""

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> tuple[float, float] | None:
        return (min(self.samples), max(self.samples)) if self.samples else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "samples": self.samples,
            "median": self.median,
        }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / denominator`, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


_COMPARATORS = {
    ">=": lambda value, threshold: value >= threshold,
    "<=": lambda value, threshold: value <= threshold,
    "<": lambda value, threshold: value < threshold,
}
_SYMBOLS = {">=": "≥", "<=": "≤", "<": "<"}


@dataclass(frozen=True)
class Target:
    """A threshold the measured value must meet, e.g. `Target(">=", 0.95, "×")`."""

    comparator: str
    threshold: float
    unit: str

    def met_by(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return bool(_COMPARATORS[self.comparator](value, self.threshold))

    def describe(self) -> str:
        return f"{_SYMBOLS[self.comparator]} {format_value(self.threshold, self.unit)}"


@dataclass
class Outcome:
    """One measurement of the report: what was compared, the measured value, its target."""

    key: str
    title: str
    target: Target
    value: float | None = None
    series: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    #: Which series the report's "Ours" and "Reference" columns show.
    columns: tuple[int, int] = (0, 1)

    @property
    def met(self) -> bool | None:
        return None if self.skipped else self.target.met_by(self.value)

    def add_series(self, label: str, unit: str) -> Series:
        series = Series(label, unit)
        self.series.append(series)
        return series

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "value": self.value,
            "unit": self.target.unit,
            "target": self.target.describe(),
            "met": self.met,
            "skipped": self.skipped,
            "series": [s.as_dict() for s in self.series],
            "notes": self.notes,
        }


def format_value(value: float | None, unit: str) -> str:
    """A number as the report shows it: ratios with two decimals, the rest to three figures."""
    if value is None:
        return "—"
    if unit == "×":
        return f"{value:.2f}×"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()
