"""XLSX export of a published snapshot, safe to open in a spreadsheet.

Text that a spreadsheet would run as a formula (``=``, ``+``, ``@``, ``-``…)
is written as literal text with a leading apostrophe; openpyxl would
otherwise store a string starting with ``=`` as a formula.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.utils import get_column_letter

from survey.services.errors import N_
from survey.services.tabular import neutralise

#: The grading rules' reason details (fixed English inside published snapshots) and how
#: they read in the catalogue: the snapshot keeps its text, exports translate it.
_REASON_DETAILS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"position (?P<position>\d+) of (?P<count>\d+); quota (?P<quota>\([0-9, ]+\)|\d+); "
            r"tied with (?P<others>\d+) other unit\(s\) across a grade boundary"
        ),
        N_(
            "rank %(position)s of %(count)s; quota %(quota)s; tied with %(others)s other "
            "units across a grade boundary"
        ),
    ),
    (
        re.compile(
            r"position (?P<position>\d+) of (?P<count>\d+); quota (?P<quota>\([0-9, ]+\)|\d+)"
        ),
        N_("rank %(position)s of %(count)s; quota %(quota)s"),
    ),
    (
        re.compile(
            r"bottom (?P<share>[0-9.]+ %) of the category "
            r"\(position (?P<position>\d+) of (?P<count>\d+)\)"
        ),
        N_("in the bottom %(share)s of the category (rank %(position)s of %(count)s)"),
    ),
    (
        re.compile(
            r"bottom (?P<share>[0-9.]+ %) in the democratic evaluation \(score (?P<score>[^)]+)\)"
        ),
        N_("in the bottom %(share)s of the democratic evaluation (score %(score)s)"),
    ),
    (
        re.compile(
            r"a quantitative target completed at (?P<completion>[0-9.e+-]+ %), "
            r"below (?P<threshold>[0-9.e+-]+ %)"
        ),
        N_("a quantitative target completed at %(completion)s, below %(threshold)s"),
    ),
    (
        re.compile(
            r"(?P<unfavourable>\d+) of (?P<votes>\d+) valid votes basically competent or "
            r"incompetent, above (?P<limit>\S+)"
        ),
        N_(
            "%(unfavourable)s of %(votes)s valid votes basically competent or incompetent, "
            "above %(limit)s"
        ),
    ),
    (
        re.compile(
            r"a constraint indicator failed: the indicator scores zero, one grade down and "
            r"never the top grade"
        ),
        N_(
            "a constraint indicator failed: it scores zero, the grade goes one down and "
            "never to the top grade"
        ),
    ),
)


def reason_text(
    reason: Mapping[str, Any],
    translate: Callable[[str], str],
    labels: Mapping[str, str] | None = None,
) -> str:
    """A grade reason for people: its name and its detail in the reader's language.

    A detail the rules did not word (an older or foreign snapshot) is shown as stored.
    """
    detail = str(reason.get("detail", ""))
    for pattern, template in _REASON_DETAILS:
        match = pattern.fullmatch(detail)
        if match is not None:
            values = match.groupdict()
            if "quota" in values:  # the quota counts per grade, best first: 6/32/2
                values["quota"] = "/".join(re.findall(r"[0-9]+", values["quota"]))
            detail = translate(template) % values
            break
    label = (labels or {}).get(str(reason.get("code", "")))
    return (
        translate(N_("%(reason)s: %(detail)s")) % {"reason": label, "detail": detail}
        if label
        else detail
    )


def safe_cell(cell: Cell | MergedCell, value: object) -> None:
    """Write ``value``; text is always a string cell, neutralised if it looks like a formula."""
    safe = neutralise(value)
    cell.value = safe  # type: ignore[assignment]
    if isinstance(safe, str):
        cell.data_type = "s"


def table_workbook(rows: Sequence[Sequence[object]], *, title: str, widths: Sequence[int]) -> bytes:
    """One sheet of ``rows`` (the first is the header, frozen), columns ``widths`` wide."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title[:31]
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            safe_cell(sheet.cell(row=row_number, column=column), value)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


#: Column widths of a category sheet (characters; a CJK character counts about 2).
CATEGORY_WIDTHS = (6, 10, 26, 10, 12, 12, 12, 8, 30, 30)


def snapshot_workbook(
    data: Mapping[str, Any],
    *,
    sha256: str,
    labels: Mapping[str, str],
    translate: Callable[[str], str],
    reason_labels: Mapping[str, str] | None = None,
    version: int | None = None,
) -> bytes:
    """An "about" sheet that identifies the snapshot, then one sheet per category.

    Every sheet has a frozen header and set widths; scores are numbers shown
    with the snapshot's decimals; grades and reasons are words in the reader's
    language (``labels`` and ``reason_labels``), never codes.
    """
    reason_labels = reason_labels or {}
    rules = data["inputs"].get("rules", {})
    decimals = int(rules.get("decimals", 2))
    number_format = "0." + "0" * decimals if decimals else "0"
    level = round(float(rules.get("level", 0.95)) * 100)
    workbook = Workbook()
    about = workbook.active
    assert about is not None
    about.title = translate(N_("About this file"))
    cycle = data["inputs"]["cycle"]
    facts: list[tuple[str, object]] = [
        (translate(N_("Cycle")), cycle["name"]),
        (translate(N_("Version")), version if version is not None else ""),
        ("SHA-256", sha256),
        (translate(N_("Rules version")), data["format"]),
        (translate(N_("Confidence level")), f"{level}%"),
        (
            translate(N_("Note")),
            translate(
                N_(
                    "Scores are estimates from samples; the interval is the %(level)s%% "
                    "confidence interval. Units marked ≈ cannot be told apart from the next "
                    "unit statistically."
                )
            )
            % {"level": level},
        ),
    ]
    for row, (label, value) in enumerate(facts, start=1):
        safe_cell(about.cell(row=row, column=1), label)
        safe_cell(about.cell(row=row, column=2), value)
    about.column_dimensions["A"].width = 14
    about.column_dimensions["B"].width = 80
    header = [
        translate(N_("Rank")),
        translate(N_("Unit code")),
        translate(N_("Unit")),
        translate(N_("Total score")),
        translate(N_("%(level)s%% interval low")) % {"level": level},
        translate(N_("%(level)s%% interval high")) % {"level": level},
        translate(N_("Social recognition")),
        translate(N_("Grade")),
        translate(N_("Reasons")),
        translate(N_("Notes")),
    ]
    for category in data["outputs"]["categories"]:
        sheet = workbook.create_sheet(title=category["name"][:31])
        for column, title in enumerate(header, start=1):
            safe_cell(sheet.cell(row=1, column=column), title)
        for row, unit in enumerate(category["units"], start=2):
            total = unit["total"] or {}
            notes = []
            if unit["social"]["redistributed"]:
                notes.append(translate(N_("weight redistributed")))
            if unit.get("next") and not unit["next"]["distinguishable"]:
                notes.append(translate(N_("not distinguishable from the next unit")))
            values = [
                unit["rank"],
                unit["unit"],
                unit["name"],
                None if not total else round(total["estimate"], decimals),
                None if not total else round(total["ci_low"], decimals),
                None if not total else round(total["ci_high"], decimals),
                None
                if unit["social"]["estimate"] is None
                else round(unit["social"]["estimate"], decimals),
                labels.get(unit["grade"] or "", unit["grade"] or ""),
                "\n".join(reason_text(r, translate, reason_labels) for r in unit["reasons"]),
                "\n".join(notes),
            ]
            for column, value in enumerate(values, start=1):
                cell = sheet.cell(row=row, column=column)
                safe_cell(cell, value)
                if 4 <= column <= 7 and isinstance(value, float):
                    cell.number_format = number_format
        for column, width in enumerate(CATEGORY_WIDTHS, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        sheet.freeze_panes = "D2"  # the header and the rank, code and name stay in view
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
