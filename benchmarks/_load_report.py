"""Figures (one measured value each), the reports that collect them, and the printed table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

VALUE_WIDTH = 22


@dataclass(frozen=True)
class Target:
    limit: float
    at_most: bool = True

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:g}"


def at_most(limit: float) -> Target:
    return Target(limit)


def at_least(limit: float) -> Target:
    return Target(limit, at_most=False)


@dataclass(frozen=True)
class Figure:
    """One measured value: a cell of the table, for one backend."""

    case: str
    metric: str
    value: float | None
    unit: str = ""
    target: Target | None = None
    digits: int = 1

    @property
    def missed(self) -> bool:
        return (
            self.target is not None and self.value is not None and not self.target.met(self.value)
        )

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.value:,.{self.digits}f}{unit}{' ✗' if self.missed else ''}"


@dataclass
class Report:
    """What one backend's run of some cases gave: figures, and lines worth reading."""

    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def put(
        self,
        case: str,
        metric: str,
        value: float | None,
        unit: str = "",
        *,
        target: Target | None = None,
        digits: int = 1,
    ) -> None:
        self.figures.append(Figure(case, metric, value, unit, target, digits))

    def note(self, line: str) -> None:
        self.notes.append(line)

    def extend(self, other: Report) -> None:
        self.figures += other.figures
        self.notes += other.notes


def ms(seconds: float) -> float:
    return seconds * 1000.0


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def table(reports: Mapping[str, Report]) -> list[str]:
    """One row per metric, one column per backend, then the target; cases as headings."""
    backends = list(reports)
    rows: dict[tuple[str, str], dict[str, Figure]] = {}
    for backend, report in reports.items():
        for figure in report.figures:
            rows.setdefault((figure.case, figure.metric), {})[backend] = figure
    width = max([len(metric) for _, metric in rows] + [24]) + 4
    lines = [f"{'':{width}}" + "".join(f"{b:>{VALUE_WIDTH}}" for b in backends) + f"{'target':>10}"]
    case = None
    for (row_case, metric), by_backend in rows.items():
        if row_case != case:
            case = row_case
            lines.append(case)
        cells = "".join(
            f"{by_backend[b].shown() if b in by_backend else '':>{VALUE_WIDTH}}" for b in backends
        )
        target = next((f.target for f in by_backend.values() if f.target), None)
        lines.append(f"  {metric:{width - 2}}{cells}{target or ''!s:>10}")
    return lines
