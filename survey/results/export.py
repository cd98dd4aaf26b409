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


def snapshot_workbook(
    data: Mapping[str, Any],
    *,
    sha256: str,
    labels: Mapping[str, str],
    translate: Callable[[str], str],
    reason_labels: Mapping[str, str] | None = None,
) -> bytes:
    """One sheet per category plus a sheet that identifies the snapshot."""
    workbook = Workbook()
    about = workbook.active
    assert about is not None
    about.title = translate("Snapshot")
    cycle = data["inputs"]["cycle"]
    for row, (label, value) in enumerate(
        [
            (translate("Cycle"), cycle["name"]),
            (translate("Rules version"), data["format"]),
            ("SHA-256", sha256),
        ],
        start=1,
    ):
        safe_cell(about.cell(row=row, column=1), label)
        safe_cell(about.cell(row=row, column=2), value)
    header = [
        translate("Rank"),
        translate("Unit code"),
        translate("Unit"),
        translate("Total score"),
        translate("95% interval low"),
        translate("95% interval high"),
        translate("Social recognition"),
        translate("Grade"),
        translate("Reasons"),
        translate("Notes"),
    ]
    for category in data["outputs"]["categories"]:
        sheet = workbook.create_sheet(title=category["name"][:31])
        for column, title in enumerate(header, start=1):
            safe_cell(sheet.cell(row=1, column=column), title)
        for row, unit in enumerate(category["units"], start=2):
            total = unit["total"] or {}
            notes = []
            if unit["social"]["redistributed"]:
                notes.append(translate("weight redistributed"))
            if unit.get("next") and not unit["next"]["distinguishable"]:
                notes.append(translate("not distinguishable from the next unit"))
            values = [
                unit["rank"],
                unit["unit"],
                unit["name"],
                total.get("estimate"),
                None if not total else round(total["ci_low"], 2),
                None if not total else round(total["ci_high"], 2),
                None
                if unit["social"]["estimate"] is None
                else round(unit["social"]["estimate"], 2),
                labels.get(unit["grade"] or "", unit["grade"] or ""),
                "\n".join(reason_text(r, translate, reason_labels) for r in unit["reasons"]),
                "\n".join(notes),
            ]
            for column, value in enumerate(values, start=1):
                safe_cell(sheet.cell(row=row, column=column), value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
