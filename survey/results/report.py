"""The printable 考核结果通报 of a published result, as a PDF with an embedded CJK font.

One document per snapshot: the title and the snapshot's SHA-256, the ranking of
every category with totals, intervals, social recognition, grades and their
reasons and notes, the appeals, and the methods statement.  ReportLab's
``invariant`` mode fixes the creation date and document id, and the font
subset is chosen by the text alone, so a snapshot gives the same bytes every
time (anyone can compare a printed copy's file with a fresh download).

The words come from the page's catalogue (``translate``) with the same
messages as the HTML pages, so the PDF reads in the language of the request.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from survey.services.methods import MethodsStatement
from survey.services.printables import cjk_font

Translate = Callable[[str], str]


@dataclass(frozen=True)
class AppealLine:
    """One appeal as the report lists it (already worded)."""

    unit: str
    filed: str
    status: str
    decision: str


def _styles() -> dict[str, ParagraphStyle]:
    font = cjk_font()
    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=1),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=8, leading=11, alignment=1),
        "heading": ParagraphStyle(
            "heading", parent=base, fontSize=13, leading=20, spaceBefore=8, spaceAfter=4
        ),
        "body": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "note": ParagraphStyle("note", parent=base, fontSize=8, leading=11, textColor="#5b6477"),
    }


def _paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[str]], widths: Sequence[float], style: ParagraphStyle) -> Table:
    cells = [[_paragraph(cell, style) for cell in row] for row in rows]
    table = Table(cells, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c9ced9")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f7")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def report_pdf(
    *,
    cycle_name: str,
    data: Mapping[str, Any],
    version: int,
    sha256: str,
    published_on: str,
    statement: MethodsStatement,
    appeals: Sequence[AppealLine],
    grade_labels: Mapping[str, str],
    reason_labels: Mapping[str, str],
    group_names: Mapping[str, str],
    channel_label: Callable[[str], str],
    translate: Translate,
) -> bytes:
    """The whole 通报 as PDF bytes; the same arguments give the same bytes."""
    _ = translate
    styles = _styles()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=_("%(cycle)s: results report") % {"cycle": cycle_name},
        author=statement.sponsor or "minyi",
        invariant=True,
    )
    level = int(round(float(data["inputs"]["rules"]["level"]) * 100))
    story: list[Any] = [
        _paragraph(_("%(cycle)s: results report") % {"cycle": cycle_name}, styles["title"]),
        _paragraph(
            _("Published result, version %(version)s") % {"version": version}
            + f" · {published_on} · SHA-256 {sha256}",
            styles["subtitle"],
        ),
        Spacer(1, 4 * mm),
        _paragraph(
            _(
                "Scores are estimates from samples; the interval is the %(level)s%% confidence "
                "interval. Units marked ≈ cannot be told apart from the next unit statistically."
            )
            % {"level": level},
            styles["note"],
        ),
    ]
    header = [
        _("Rank"),
        _("Unit"),
        _("Total score"),
        _("Interval"),
        _("Social recognition"),
        _("Grade"),
        _("Reason"),
    ]
    widths = [10 * mm, 42 * mm, 20 * mm, 28 * mm, 22 * mm, 16 * mm, 42 * mm]
    decisions = data["inputs"].get("decisions", {})
    for category in data["outputs"]["categories"]:
        story.append(_paragraph(category["name"], styles["heading"]))
        rows = [header]
        notes: list[str] = []
        for unit in category["units"]:
            total = unit.get("total")
            marker = ""
            if unit.get("next") and not unit["next"]["distinguishable"]:
                marker = " ≈"
            reasons = [
                reason_labels.get(reason["code"], reason["code"])
                for index, reason in enumerate(unit["reasons"])
                if index == 0 or reason["code"] != "quota"
            ]
            rows.append(
                [
                    str(unit["rank"] or "—"),
                    unit["name"],
                    (_number(total["estimate"]) + marker) if total else "—",
                    f"{total['ci_low']:.2f}–{total['ci_high']:.2f}" if total else "",
                    _number(unit["social"]["estimate"]),
                    grade_labels.get(unit["grade"], "—") if unit["grade"] else "—",
                    "；".join(reasons),
                ]
            )
            if unit["social"].get("redistributed"):
                below = "、".join(
                    group_names.get(code, code) for code in unit["social"]["below_minimum"]
                )
                note = (
                    f"{unit['name']}："
                    + _("Below the minimum responses, weight redistributed pro rata:")
                    + f" {below}"
                )
                if decisions.get(unit["unit"]):
                    note += f" {_('Decision:')} {decisions[unit['unit']]}"
                notes.append(note)
        story.append(_table(rows, widths, styles["cell"]))
        story.extend(_paragraph(note, styles["note"]) for note in notes)
    if appeals:
        story.append(_paragraph(_("Appeals"), styles["heading"]))
        rows = [[_("Unit"), _("Filed"), _("Status"), _("Decision:")]]
        rows += [[a.unit, a.filed, a.status, a.decision] for a in appeals]
        story.append(_table(rows, [45 * mm, 25 * mm, 20 * mm, 90 * mm], styles["cell"]))
    story.extend(_methods(statement, styles, channel_label, _))
    document.build(story)
    return buffer.getvalue()


def _methods(
    s: MethodsStatement,
    styles: Mapping[str, ParagraphStyle],
    channel_label: Callable[[str], str],
    _: Translate,
) -> list[Any]:
    """The methods statement in short paragraphs (the page at /results/<cycle>/methods in full)."""
    body = styles["body"]
    parts: list[Any] = [_paragraph(_("Methods statement"), styles["heading"])]
    lines = [
        f"{_('Sponsor')}：{s.sponsor or _('not stated')}；{_('Conducted by')}："
        f"{s.pollster or _('not stated')}。",
        f"{_('Period assessed')}：{s.period[0].isoformat()} – {s.period[1].isoformat()}；"
        f"{_('Field dates')}："
        + (
            f"{s.field_dates[0].isoformat()} – {s.field_dates[1].isoformat()}。"
            if s.field_dates
            else _("no responses")
        ),
    ]
    for group in s.groups:
        modes = "、".join(
            f"{channel_label(channel)} {count}" for channel, count in group.responses_by_channel.items()
        )
        text = f"{group.name}：{modes or '—'}。"
        for draw in group.draws:
            text += _(
                "Frame “%(name)s”: %(population)s contacts in %(strata)s strata; %(size)s drawn "
                "by %(selection)s, %(allocation)s, with %(reserve)s reserve batches."
            ) % {
                "name": draw.frame_name,
                "population": draw.population,
                "strata": draw.strata,
                "size": draw.sample_size,
                "selection": draw.selection,
                "allocation": draw.allocation,
                "reserve": draw.reserve_batches,
            }
            if draw.seed_source:
                text += _("Seed: %(source)s (%(date)s), “%(seed)s”.") % {
                    "source": draw.seed_source,
                    "date": draw.seed_event_date.isoformat() if draw.seed_event_date else "—",
                    "seed": draw.seed,
                }
        if group.margin_median is not None and group.margin_largest is not None:
            text += f"{_('Margin of error')}：" + _(
                "±%(median)s points (median), ±%(largest)s at most"
            ) % {
                "median": f"{group.margin_median:.1f}",
                "largest": f"{group.margin_largest:.1f}",
            }
        lines.append(text)
    if s.disposition_counts:
        rates = " · ".join(
            f"{name} {value * 100:.1f}%" if value is not None else f"{name} —"
            for name, value in s.rates.items()
        )
        lines.append(f"{_('Dispositions and response rates')}：{rates}")
    lines.append(
        f"{_('Questionnaire')}："
        + "、".join(name for name, _weight in s.items)
        + "；"
        + " · ".join(
            _("%(label)s (%(points)s points)") % {"label": label, "points": f"{points:g}"}
            if points is not None
            else label
            for label, points in s.scale
        )
    )
    lines.append(
        _(
            "A rater group with fewer than %(minimum)s valid responses for a unit does not "
            "count for that unit; its weight goes to the other groups pro rata."
        )
        % {"minimum": s.minimum_responses}
    )
    parts.extend(_paragraph(line, body) for line in lines)
    return parts
