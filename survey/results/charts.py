"""Charts of published results as inline SVG, drawn on the server (结果图表).

Inline SVG prints with the page, needs no script and no network, and scales
to a phone.  Every chart carries its text alternative (``<title>`` and
``<desc>`` referenced by ``aria-labelledby``) that says in words what the
chart shows, figure by figure, so a screen reader or a text-only copy loses
nothing.  The functions take the snapshot's own data (the dicts of
``outputs.categories``) and the labels already translated; they never read
the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

#: One colour per grade, best first (quota schemes have three grades, the
#: democratic scheme four); grades beyond the list repeat the last colour.
GRADE_COLOURS = ("#1e6b3a", "#1a4fa3", "#8a5a00", "#b3261e")
BAND_TINTS = ("#eaf4ed", "#e8eef9", "#fbf1df", "#fbe4e2")
#: Line colours of the year-on-year chart (colour-blind safe, from Okabe & Ito).
SERIES_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")

WIDTH = 420
FONT = 'font-family="Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif"'


def _number(value: float) -> str:
    return f"{value:.2f}"


def _svg(chart_id: str, height: float, title: str, description: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="12">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _scale(
    low: float, high: float, left: float, right: float
) -> tuple[Callable[[float], float], list[float]]:
    """A linear x scale over [low, high] widened to round ticks (every 1, 2, 5 or 10 points)."""
    span = max(high - low, 1.0)
    step = next(s for s in (1.0, 2.0, 5.0, 10.0, 20.0) if span / s <= 6)
    start = math.floor(low / step) * step
    end = math.ceil(high / step) * step
    if end == start:
        end = start + step

    def x(value: float) -> float:
        return left + (value - start) / (end - start) * (right - left)

    ticks = [start + index * step for index in range(round((end - start) / step) + 1)]
    return x, ticks


def _grade_index(order: Sequence[str], grade: str | None) -> int:
    return order.index(grade) if grade in order else len(order)


def score_chart(
    category: Mapping[str, Any],
    *,
    grade_labels: Mapping[str, str],
    grade_order: Sequence[str],
    level: float,
    texts: Mapping[str, str],
) -> Markup | None:
    """Each unit's total score with its confidence interval, on bands of its grade.

    Units are in rank order; the background band behind each run of units of
    one grade is tinted and labelled with the grade, so where the grade
    boundaries fall relative to the intervals is visible at a glance.
    ``texts`` holds the translated ``title``, ``description`` (with
    ``%(category)s`` and ``%(level)s``) and ``unit_item`` (``%(name)s``,
    ``%(score)s``, ``%(low)s``, ``%(high)s``, ``%(grade)s``) strings.
    """
    units = [unit for unit in category["units"] if unit.get("total")]
    if not units:
        return None
    row, top, label_width = 22.0, 8.0, 128.0
    left, right = label_width + 40, WIDTH - 12
    x, ticks = _scale(
        min(unit["total"]["ci_low"] for unit in units),
        max(unit["total"]["ci_high"] for unit in units),
        left,
        right,
    )
    height = top + row * len(units) + 28
    body: list[str] = []
    # Grade bands: one rectangle per run of units sharing a grade.
    start = 0
    for index in range(1, len(units) + 1):
        if index == len(units) or units[index]["grade"] != units[start]["grade"]:
            grade = units[start]["grade"]
            shade = BAND_TINTS[min(_grade_index(grade_order, grade), len(BAND_TINTS) - 1)]
            y0 = top + start * row
            body.append(
                f'<rect x="0" y="{y0:.1f}" width="{WIDTH}" height="{(index - start) * row:.1f}" '
                f'fill="{shade}"/>'
                f'<text x="{label_width + 4:.1f}" y="{y0 + 14:.1f}" fill="#5b6477" font-size="10">'
                f"{escape(grade_labels.get(grade, '—') if grade else '—')}</text>"
            )
            start = index
    for tick in ticks:
        body.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" '
            f'y2="{top + row * len(units):.1f}" '
            f'stroke="#c9ced9" stroke-width="0.5"/>'
            f'<text x="{x(tick):.1f}" y="{top + row * len(units) + 14:.1f}" text-anchor="middle" '
            f'fill="#5b6477" font-size="10">{tick:g}</text>'
        )
    items = []
    for index, unit in enumerate(units):
        total = unit["total"]
        y = top + index * row + row / 2
        colour = GRADE_COLOURS[
            min(_grade_index(grade_order, unit["grade"]), len(GRADE_COLOURS) - 1)
        ]
        name = str(unit["name"])
        shown = name if len(name) <= 9 else name[:8] + "…"
        label = f"{unit['rank'] or '—'} {shown}"
        body.append(
            f'<text x="2" y="{y + 4:.1f}">{escape(label)}</text>'
            f'<line x1="{x(total["ci_low"]):.1f}" x2="{x(total["ci_high"]):.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{colour}" stroke-width="2"/>'
            f'<circle cx="{x(total["estimate"]):.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
        )
        grade = grade_labels.get(unit["grade"], "—") if unit["grade"] else "—"
        items.append(
            texts["unit_item"]
            % {
                "name": name,
                "score": _number(total["estimate"]),
                "low": _number(total["ci_low"]),
                "high": _number(total["ci_high"]),
                "grade": grade,
            }
        )
    level_text = f"{level * 100:g}"
    description = (
        texts["description"] % {"category": category["name"], "level": level_text}
        + texts["separator"].join(items)
        + texts["end"]
    )
    title = texts["title"] % {"category": category["name"], "level": level_text}
    return _svg(f"scores-{category['code']}", height, title, description, body)


def grade_distribution_chart(
    categories: Sequence[Mapping[str, Any]],
    *,
    grade_labels: Mapping[str, str],
    grade_order: Sequence[str],
    texts: Mapping[str, str],
) -> Markup | None:
    """How many units of each category received each grade: one stacked bar per category."""
    rows = [category for category in categories if category["units"]]
    if not rows:
        return None
    row, top, label_width = 22.0, 28.0, 110.0
    left, right = label_width, WIDTH - 8
    widest = max(len(category["units"]) for category in rows)
    height = top + row * len(rows) + 8
    present = [
        grade for grade in grade_order if any(u["grade"] == grade for c in rows for u in c["units"])
    ]
    body: list[str] = []
    # Legend: the grades in order, with their colours.
    legend_x = 2.0
    for grade in present:
        colour = GRADE_COLOURS[min(_grade_index(grade_order, grade), len(GRADE_COLOURS) - 1)]
        label = str(grade_labels.get(grade, grade))
        body.append(
            f'<rect x="{legend_x:.1f}" y="6" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14:.1f}" y="15" font-size="11">{escape(label)}</text>'
        )
        legend_x += 22 + 12 * len(label)
    items = []
    for index, category in enumerate(rows):
        y = top + index * row
        counts = {
            grade: sum(1 for u in category["units"] if u["grade"] == grade) for grade in present
        }
        body.append(f'<text x="2" y="{y + 15:.1f}">{escape(str(category["name"]))}</text>')
        position = left
        for grade in present:
            if not counts[grade]:
                continue
            width = counts[grade] / widest * (right - left)
            colour = GRADE_COLOURS[min(_grade_index(grade_order, grade), len(GRADE_COLOURS) - 1)]
            body.append(
                f'<rect x="{position:.1f}" y="{y + 3:.1f}" width="{width:.1f}" '
                f'height="{row - 6:.1f}" fill="{colour}"/>'
            )
            if width >= 14:
                body.append(
                    f'<text x="{position + width / 2:.1f}" y="{y + 15:.1f}" text-anchor="middle" '
                    f'fill="#fff" font-size="11">{counts[grade]}</text>'
                )
            position += width
        parts = texts["separator_inner"].join(
            texts["count_item"] % {"grade": grade_labels.get(grade, grade), "count": counts[grade]}
            for grade in present
            if counts[grade]
        )
        items.append(texts["category_item"] % {"category": category["name"], "counts": parts})
    description = texts["description"] + texts["separator"].join(items) + texts["end"]
    return _svg("grade-distribution", height, texts["title"], description, body)


def history_chart(
    category: Mapping[str, Any],
    history: Mapping[int, Mapping[str, float]],
    *,
    texts: Mapping[str, str],
) -> Markup | None:
    """Total scores of the category's units over the published years (同比), one line a unit.

    ``history`` maps each year with a published result to the unit codes'
    totals; units absent in a year leave a gap.  ``None`` when fewer than two
    years are known (there is nothing to compare).
    """
    years = sorted(history)
    if len(years) < 2:
        return None
    units = [unit for unit in category["units"] if any(unit["unit"] in history[y] for y in years)]
    if not units:
        return None
    values = [history[y][u["unit"]] for y in years for u in units if u["unit"] in history[y]]
    top, bottom, left, right = 10.0, 24.0, 36.0, WIDTH - 128.0
    height = 220.0
    plot_bottom = height - bottom
    low, high = min(values), max(values)
    span = max(high - low, 1.0)
    step = next(s for s in (1.0, 2.0, 5.0, 10.0, 20.0) if span / s <= 5)
    start, end = math.floor(low / step) * step, math.ceil(high / step) * step
    end = end if end > start else start + step

    def y_of(value: float) -> float:
        return plot_bottom - (value - start) / (end - start) * (plot_bottom - top)

    def x_of(year: int) -> float:
        return left + years.index(year) / (len(years) - 1) * (right - left)

    body: list[str] = []
    tick = start
    while tick <= end + 1e-9:
        body.append(
            f'<line x1="{left}" x2="{right}" y1="{y_of(tick):.1f}" y2="{y_of(tick):.1f}" '
            f'stroke="#c9ced9" stroke-width="0.5"/>'
            f'<text x="{left - 4}" y="{y_of(tick) + 3:.1f}" text-anchor="end" fill="#5b6477" '
            f'font-size="10">{tick:g}</text>'
        )
        tick += step
    for year in years:
        body.append(
            f'<text x="{x_of(year):.1f}" y="{height - 6:.1f}" text-anchor="middle" fill="#5b6477" '
            f'font-size="10">{year}</text>'
        )
    items = []
    label_slots: list[float] = []
    for index, unit in enumerate(units):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        points = [
            (year, history[year][unit["unit"]]) for year in years if unit["unit"] in history[year]
        ]
        path = " ".join(f"{x_of(year):.1f},{y_of(value):.1f}" for year, value in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        body.extend(
            f'<circle cx="{x_of(year):.1f}" cy="{y_of(value):.1f}" r="2.5" fill="{colour}"/>'
            for year, value in points
        )
        # The name at the line's end, nudged so that labels do not overlap.
        label_y = y_of(points[-1][1]) + 4
        while any(abs(label_y - taken) < 12 for taken in label_slots):
            label_y += 12
        label_slots.append(label_y)
        name = str(unit["name"])
        shown = name if len(name) <= 9 else name[:8] + "…"
        body.append(
            f'<text x="{x_of(points[-1][0]) + 6:.1f}" y="{label_y:.1f}" fill="{colour}" '
            f'font-size="10">{escape(shown)}</text>'
        )
        series = texts["separator_inner"].join(
            texts["year_item"] % {"year": year, "score": _number(value)} for year, value in points
        )
        items.append(texts["unit_item"] % {"name": name, "series": series})
    title = texts["title"] % {"category": category["name"]}
    description = (
        texts["description"] % {"category": category["name"]}
        + texts["separator"].join(items)
        + texts["end"]
    )
    return _svg(f"history-{category['code']}", height, title, description, body)
