"""Arena's leaderboard plots as SVG, drawn on the server: no script, no network, no library.

Each chart comes with the data it draws, so a page can link the same numbers as JSON. Every plotted
item (a model's interval, a matrix cell, a bar, a point in time) is one element with class
``mark``, which is what a reader (or a test) counts. Model ids are hostile text like any other:
everything written into the SVG goes through ``_text``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from bot.engine.leaderboard import Standing
from bot.engine.ratings import ELO_SCALE, PairRecord

FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
LABEL_CHARS = 32
INK = "#1f2430"
MUTED = "#6b7280"
GRID_LINE = "#e5e7eb"
ACCENT = "#3b5bdb"
# Matrices label every cell with its value only while the labels stay legible.
CELL_VALUES_UP_TO = 20
CELL_TITLES_UP_TO = 60
PALETTE_STEPS = 65  # matrix colours are this many steps of their scale


@dataclass(frozen=True, slots=True)
class Chart:
    svg: str  # a complete <svg> element
    data: dict[str, Any]  # the numbers it draws, ready for JSON


def ratings_chart(rows: Sequence[Standing]) -> Chart:
    """Each model's rating as a dot on its 95% interval, best first, on a shared axis."""
    data = {
        "models": [
            {
                "model": r.model,
                "rating": r.rating.rating,
                "low": r.rating.low,
                "high": r.rating.high,
            }
            for r in rows
        ]
    }
    if not rows:
        return Chart(_empty("No rated battles yet."), data)
    row_height, label_width, plot_width, top = 18, 240, 520, 28
    low = min(r.rating.low for r in rows)
    high = max(r.rating.high for r in rows)
    low, high, ticks = _axis(low, high)
    width, height = label_width + plot_width + 20, top + row_height * len(rows) + 24

    def x(value: float) -> float:
        return label_width + (value - low) / (high - low) * plot_width

    parts = _ticks_x(ticks, x, top, height - 20)
    for i, row in enumerate(rows):
        y = top + row_height * i + row_height / 2
        rating = row.rating
        parts.append(
            f'<g class="mark"><title>{_text(row.model)}: {rating.rating:.0f}'
            f" ({rating.low:.0f} to {rating.high:.0f})</title>"
            f'<line x1="{x(rating.low):.1f}" x2="{x(rating.high):.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{ACCENT}" stroke-width="2"/>'
            f'<circle cx="{x(rating.rating):.1f}" cy="{y:.1f}" r="4" fill="{ACCENT}"/></g>'
            f'<text x="{label_width - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{_label(row.model)}</text>"
        )
    return Chart(_svg(width, height, "Ratings with 95% intervals", parts), data)


def pair_tables(models: Sequence[str], pairs: Sequence[PairRecord]) -> tuple[Any, Any]:
    """Among ``models``, as n x n arrays: the row model's average score against the column model
    (its mean vote share, draws half; NaN when they never met), and the battles between them."""
    index = {model: i for i, model in enumerate(models)}
    n, size = len(models), len(pairs)
    first = np.fromiter((index.get(p.model_a, -1) for p in pairs), np.intp, size)
    second = np.fromiter((index.get(p.model_b, -1) for p in pairs), np.intp, size)
    count = np.fromiter((p.battles for p in pairs), float, size)
    score = np.fromiter((p.score_a for p in pairs), float, size)
    keep = (first >= 0) & (second >= 0) & (first != second)
    first, second, count, score = first[keep], second[keep], count[keep], score[keep]
    forward, backward = first * n + second, second * n + first
    battles = (np.bincount(forward, count, n * n) + np.bincount(backward, count, n * n)).reshape(
        n, n
    )
    scores = (
        np.bincount(forward, score, n * n) + np.bincount(backward, count - score, n * n)
    ).reshape(n, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(battles > 0, scores / battles, np.nan)
    return rates, battles


def winrate_chart(models: Sequence[str], pairs: Sequence[PairRecord]) -> Chart:
    """Arena's pairwise win-rate heatmap: row model's score against the column model."""
    rates, _ = pair_tables(models, pairs)
    data = {"models": list(models), "winrate": _nullable(rates)}
    bins = np.rint(np.nan_to_num(rates) * (PALETTE_STEPS - 1)).astype(int)
    palette = [_diverging(k / (PALETTE_STEPS - 1)) for k in range(PALETTE_STEPS)]
    svg = _matrix(models, rates, bins, palette, "{:.2f}", "Win rate of the row model (vote share)")
    return Chart(svg, data)


def battle_count_chart(models: Sequence[str], pairs: Sequence[PairRecord]) -> Chart:
    """Arena's battle-count matrix: rated battles between each pair of models."""
    _, battles = pair_tables(models, pairs)
    counts = np.rint(battles).astype(int)
    data = {"models": list(models), "battles": counts.tolist()}
    most = int(counts.max()) if counts.size else 0
    shares = np.log1p(counts) / math.log1p(most) if most else np.zeros_like(battles)
    bins = np.rint(shares * (PALETTE_STEPS - 1)).astype(int)
    palette = [_sequential(k / (PALETTE_STEPS - 1)) for k in range(PALETTE_STEPS)]
    values = np.where(counts > 0, counts, np.nan)
    return Chart(_matrix(models, values, bins, palette, "{:.0f}", "Battles between models"), data)


def _nullable(matrix: Any) -> list[list[float | None]]:
    """A float matrix as nested lists, NaN as None (null in JSON)."""
    return [
        [None if value != value else value for value in row]  # NaN is not equal to itself
        for row in matrix.tolist()
    ]


def average_winrate_chart(rows: Sequence[Standing]) -> Chart:
    """Arena's fourth plot: each model's expected win rate against all the others, uniformly
    sampled, from the fitted ratings."""
    averages = []
    for row in rows:
        others = [other.rating.rating for other in rows if other.model != row.model]
        expected = [1 / (1 + 10 ** ((r - row.rating.rating) / ELO_SCALE)) for r in others]
        averages.append(sum(expected) / len(expected) if expected else 0.5)
    data = {
        "models": [
            {"model": row.model, "average_winrate": average}
            for row, average in zip(rows, averages, strict=True)
        ]
    }
    if not rows:
        return Chart(_empty("No rated battles yet."), data)
    row_height, label_width, plot_width, top = 18, 240, 420, 28
    width, height = label_width + plot_width + 60, top + row_height * len(rows) + 24
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]

    def x(value: float) -> float:
        return label_width + value * plot_width

    parts = _ticks_x(ticks, x, top, height - 20, "{:.2f}")
    for i, (row, average) in enumerate(zip(rows, averages, strict=True)):
        y = top + row_height * i + 3
        parts.append(
            f'<rect class="mark" x="{label_width}" y="{y}" width="{x(average) - label_width:.1f}"'
            f' height="{row_height - 6}" fill="{ACCENT}"><title>{_text(row.model)}:'
            f" {average:.3f}</title></rect>"
            f'<text x="{label_width - 8}" y="{y + 10}" text-anchor="end" font-size="12">'
            f"{_label(row.model)}</text>"
            f'<text x="{x(average) + 4:.1f}" y="{y + 10}" font-size="11" fill="{MUTED}">'
            f"{average:.2f}</text>"
        )
    return Chart(_svg(width, height, "Average win rate against all others", parts), data)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    day: int  # days since the Unix epoch, UTC
    rating: float
    low: float
    high: float


def history_chart(model: str, points: Sequence[HistoryPoint]) -> Chart:
    """A model's rating over time: a line through daily ratings over a band of 95% intervals."""
    data = {
        "model": model,
        "points": [
            {"date": _date(p.day), "rating": p.rating, "low": p.low, "high": p.high} for p in points
        ],
    }
    if not points:
        return Chart(_empty("No rating history yet."), data)
    width, height, left, right, top, bottom = 720, 260, 56, 16, 16, 36
    first, last = points[0].day, points[-1].day
    span = max(last - first, 1)
    low, high, ticks = _axis(min(p.low for p in points), max(p.high for p in points))

    def x(day: int) -> float:
        if first == last:
            return left + (width - left - right) / 2
        return left + (day - first) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    parts = []
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"'
            f' stroke="{GRID_LINE}"/><text x="{left - 6}" y="{y(tick) + 4:.1f}"'
            f' text-anchor="end" font-size="11" fill="{MUTED}">{tick:.0f}</text>'
        )
    band = [f"{x(p.day):.1f},{y(p.high):.1f}" for p in points]
    band += [f"{x(p.day):.1f},{y(p.low):.1f}" for p in reversed(points)]
    parts.append(f'<polygon points="{" ".join(band)}" fill="{ACCENT}" fill-opacity="0.15"/>')
    line = " ".join(f"{x(p.day):.1f},{y(p.rating):.1f}" for p in points)
    parts.append(f'<polyline points="{line}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    for p in points:
        parts.append(
            f'<circle class="mark" cx="{x(p.day):.1f}" cy="{y(p.rating):.1f}" r="3"'
            f' fill="{ACCENT}"><title>{_date(p.day)}: {p.rating:.0f}'
            f" ({p.low:.0f} to {p.high:.0f})</title></circle>"
        )
    ends = {first: "start", last: "end"} if first != last else {first: "middle"}
    for day, anchor in ends.items():
        parts.append(
            f'<text x="{x(day):.1f}" y="{height - 12}" text-anchor="{anchor}" font-size="11"'
            f' fill="{MUTED}">{_date(day)}</text>'
        )
    return Chart(_svg(width, height, f"Rating of {model} over time", parts), data)


# -- drawing helpers ---------------------------------------------------------------------------


def _matrix(
    models: Sequence[str],
    values: Any,
    bins: Any,
    palette: Sequence[str],
    value_format: str,
    title: str,
) -> str:
    """A heatmap: one rect per cell with a value (NaN cells are left out), coloured by bin.

    Drawn with whole-pixel coordinates and concatenated strings: 300 models make 90,000 cells.
    """
    n = len(models)
    if not n:
        return _empty("No rated battles yet.")
    cell = max(4, min(28, 720 // n))
    font = max(6, min(12, cell - 2))
    longest = max(min(len(model), LABEL_CHARS) for model in models)
    label = round(12 + font * 0.62 * longest)
    width = height = label + cell * n + 8
    parts = []
    for i, model in enumerate(models):
        centre = label + cell * i + cell / 2 + font / 3
        parts.append(
            f'<text x="{label - 4}" y="{centre:.1f}" text-anchor="end"'
            f' font-size="{font}">{_label(model)}</text>'
            f'<text x="{centre:.1f}" y="{label - 4}" font-size="{font}"'
            f' transform="rotate(-90 {centre:.1f} {label - 4})">{_label(model)}</text>'
        )
    titled, valued = n <= CELL_TITLES_UP_TO, n <= CELL_VALUES_UP_TO
    starts = [f'<rect class="mark" x="{label + cell * j}" y="' for j in range(n)]
    present = ~np.isnan(values)
    for i in range(n):
        y = label + cell * i
        middle = f'{y}" width="{cell}" height="{cell}" fill="'
        columns = np.flatnonzero(present[i]).tolist()
        row_bins = bins[i].tolist()
        if not titled and not valued:
            parts.extend(starts[j] + middle + palette[row_bins[j]] + '"/>' for j in columns)
            continue
        row_values = values[i].tolist()
        for j in columns:
            fill, shown = palette[row_bins[j]], value_format.format(row_values[j])
            title_text = f"{_text(models[i])} v {_text(models[j])}: {shown}"
            parts.append(f'{starts[j]}{middle}{fill}"><title>{title_text}</title></rect>')
            if valued:
                x = label + cell * j
                parts.append(
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 3}" text-anchor="middle"'
                    f' font-size="{max(6, cell // 3)}" fill="{_ink_on(fill)}">{shown}</text>'
                )
    return _svg(width, height, title, parts)


def _axis(low: float, high: float) -> tuple[float, float, list[float]]:
    """A padded range with round ticks."""
    if high - low < 1:
        low, high = low - 50, high + 50
    step = 10 ** math.floor(math.log10((high - low) / 4))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= 6:
            step *= factor
            break
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    count = round((end - start) / step)
    return start, end, [start + k * step for k in range(count + 1)]


def _ticks_x(ticks: Sequence[float], x: Any, top: float, bottom: float, fmt: str = "{:.0f}"):
    parts = []
    for tick in ticks:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" y2="{bottom}"'
            f' stroke="{GRID_LINE}"/><text x="{x(tick):.1f}" y="{top - 10}" text-anchor="middle"'
            f' font-size="11" fill="{MUTED}">{fmt.format(tick)}</text>'
        )
    return parts


def _diverging(value: float) -> str:
    """Red for 0, near white for 0.5, blue for 1."""
    low, middle, high = (0xD7, 0x30, 0x27), (0xF7, 0xF7, 0xF7), (0x45, 0x75, 0xB4)
    if value < 0.5:
        return _mix(low, middle, value * 2)
    return _mix(middle, high, (value - 0.5) * 2)


def _sequential(share: float) -> str:
    """Pale for few battles, deep blue for the most (on a log scale)."""
    return _mix((0xF1, 0xF5, 0xFB), (0x08, 0x30, 0x6B), share)


def _ink_on(fill: str) -> str:
    """Dark text on light cells, white on dark ones."""
    red, green, blue = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return INK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "#ffffff"


def _mix(start: tuple[int, int, int], end: tuple[int, int, int], share: float) -> str:
    share = min(max(share, 0.0), 1.0)
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(start, end, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _svg(width: float, height: float, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" font-family="{FONT}" fill="{INK}">'
        f"<title>{_text(title)}</title>{''.join(parts)}</svg>"
    )


def _empty(message: str) -> str:
    return _svg(
        360, 40, message, [f'<text x="8" y="24" font-size="13" fill="{MUTED}">{message}</text>']
    )


def _label(model: str) -> str:
    clipped = model if len(model) <= LABEL_CHARS else model[: LABEL_CHARS - 1] + "…"
    return _text(clipped)


def _text(value: str) -> str:
    """Text safe in SVG content and attributes; characters XML forbids become U+FFFD."""
    cleaned = "".join(
        char if char in "\t\n\r" or (" " <= char and char not in "\ufffe\uffff") else "\ufffd"
        for char in value
    )
    return escape(cleaned, quote=True)


def _date(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()
