"""Anonymised microdata of a closed cycle for analysts (微观数据): SPSS, Stata and CSV.

One row per respondent × rated unit, one column per questionnaire item, with
variable labels (the item's name) and value labels (the scale's labels with
their points) so that the file opens ready to tabulate in SPSS, Stata or R
(``haven``).  Only what the analysis needs travels: the rater group, channel,
stratum and design weight, the day of the response, the unit and the
answers.  Comments, contacts, case ids and times of day never do.

Respondents are numbered 1…n in the order of a keyed hash of their stored id
(``key`` is the app's secret): the numbering is stable from one download to the
next but cannot be mapped back to stored ids or to the order responses came in
without the key.  Responses voided after a review (复核作废) are left out, as
in scoring.  Only closed cycles export: closing cuts the links to cases and
the times to the day (survey.services.cycles.anonymise_closed_cycle).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import Answer, Cycle, CycleStatus, Response
from survey.models.base import as_utc
from survey.services.errors import N_, NotEditableError, status_term
from survey.services.scoring import not_voided
from survey.services.tabular import csv_text

#: Cycles whose answers no longer link to contacts (closing anonymises them).
EXPORTABLE = frozenset({CycleStatus.CLOSED, CycleStatus.PUBLISHED, CycleStatus.FINAL})

FORMATS = ("sav", "dta", "csv")


@dataclass(frozen=True)
class Variable:
    """One column: its name in the file, its label, and its value labels (codes → words)."""

    name: str
    label: str
    value_labels: dict[int, str]


@dataclass(frozen=True)
class Microdata:
    """The rows and their variables, ready to write in any format."""

    variables: list[Variable]
    rows: list[list[Any]]
    #: Value of each item column that means "don't know" (SPSS: user-missing).
    dont_know_code: int | None


def microdata(
    session: orm.Session,
    cycle: Cycle,
    *,
    key: bytes,
    translate: Callable[[str], str] = str,
    channel_names: Mapping[str, str] | None = None,
    time_zone: str = "Asia/Shanghai",
) -> Microdata:
    """Gather the anonymised rows of ``cycle`` (closed, published or final).

    ``translate`` words the labels (the view's ``gettext``); ``channel_names``
    names the channels by their codes (survey.i18n's names, in the reader's
    language).
    """
    channel_names = channel_names or {}
    from zoneinfo import ZoneInfo

    if cycle.status not in EXPORTABLE:
        raise NotEditableError(
            N_("Microdata can be exported once fieldwork is closed (the cycle is %(status)s)."),
            parameters={"status": status_term(cycle.status)},
        )
    groups = sorted(cycle.rater_groups, key=lambda group: (group.position, group.code))
    group_number = {group.id: index for index, group in enumerate(groups, start=1)}
    units = sorted(cycle.units, key=lambda unit: unit.code)
    unit_number = {unit.id: index for index, unit in enumerate(units, start=1)}
    items = sorted(cycle.items, key=lambda item: (item.position, item.code))
    item_column = {item.id: index for index, item in enumerate(items)}
    levels = sorted(cycle.scale_levels, key=lambda level: level.position)
    level_code = {level.id: level.position for level in levels}
    dont_know = next((level.position for level in levels if level.is_dont_know), None)
    channels = sorted(
        {
            str(value)
            for value in session.scalars(
                sa.select(Response.channel)
                .where(Response.cycle_id == cycle.id, not_voided())
                .distinct()
            )
        }
    )
    channel_number = {channel: index for index, channel in enumerate(channels, start=1)}

    responses = session.execute(
        sa.select(
            Response.id,
            Response.rater_group_id,
            Response.channel,
            Response.stratum,
            Response.design_weight,
            Response.submitted_at,
        ).where(Response.cycle_id == cycle.id, not_voided())
    ).all()

    def keyed(identifier: int) -> bytes:
        return hmac.new(key, f"{cycle.id}:{identifier}".encode(), hashlib.sha256).digest()

    number = {
        row[0]: index
        for index, row in enumerate(sorted(responses, key=lambda row: keyed(row[0])), start=1)
    }
    zone = ZoneInfo(time_zone)
    base = {
        row[0]: [
            number[row[0]],
            group_number[row[1]],
            channel_number[str(getattr(row[2], "value", row[2]))],
            row[3] or "",
            float(row[4]),
            as_utc(row[5]).astimezone(zone).date().isoformat(),
        ]
        for row in responses
    }
    cells: dict[tuple[int, int], list[int | None]] = {}
    for response_id, unit_id, item_id, level_id in session.execute(
        sa.select(Answer.response_id, Answer.unit_id, Answer.item_id, Answer.scale_level_id)
        .join(Response, Answer.response_id == Response.id)
        .where(Response.cycle_id == cycle.id, not_voided())
    ):
        row = cells.setdefault((response_id, unit_id), [None] * len(items))
        row[item_column[item_id]] = level_code[level_id]
    rows = [
        [*base[response_id], unit_number[unit_id], *answers]
        for (response_id, unit_id), answers in cells.items()
    ]
    rows.sort(key=lambda row: (row[0], row[6]))

    def level_text(level: Any) -> str:
        if level.points is None:
            return str(level.label)
        return translate(N_("%(label)s (%(points)s points)")) % {
            "label": level.label,
            "points": f"{level.points:g}",
        }

    scale_labels = {level.position: level_text(level) for level in levels}
    variables = [
        Variable("respondent", translate(N_("Respondent (renumbered)")), {}),
        Variable(
            "rater_group",
            translate(N_("Rater group")),
            {group_number[group.id]: group.name for group in groups},
        ),
        Variable(
            "channel",
            translate(N_("Channel")),
            {
                number: channel_names.get(channel, channel)
                for channel, number in channel_number.items()
            },
        ),
        Variable("stratum", translate(N_("Stratum")), {}),
        Variable("design_weight", translate(N_("Design weight")), {}),
        Variable("response_date", translate(N_("Day of the response")), {}),
        Variable(
            "unit", translate(N_("Unit")), {unit_number[unit.id]: unit.name for unit in units}
        ),
        *(
            Variable(f"item_{index}", item.name, dict(scale_labels))
            for index, item in enumerate(items, start=1)
        ),
    ]
    return Microdata(variables=variables, rows=rows, dont_know_code=dont_know)


def _frame(data: Microdata) -> Any:
    import pandas as pd

    frame = pd.DataFrame(data.rows, columns=[variable.name for variable in data.variables])
    # Unanswered items are missing (NaN), answered ones whole numbers.
    return frame


def write(data: Microdata, file_format: str) -> bytes:
    """The file's bytes in ``file_format`` (``sav``, ``dta`` or ``csv``)."""
    if file_format == "csv":
        # Every cell through csv_text: a stratum or label that starts like a formula
        # must stay text in a spreadsheet.
        rows: list[list[object]] = [
            [variable.name for variable in data.variables],
            [variable.label for variable in data.variables],
            *([("" if value is None else value) for value in row] for row in data.rows),
        ]
        return ("\ufeff" + csv_text(rows, lineterminator="\r\n")).encode("utf-8")
    import pyreadstat

    frame = _frame(data)
    labels: dict[str, str | None] = {variable.name: variable.label for variable in data.variables}
    value_labels = {
        variable.name: {float(code): text for code, text in variable.value_labels.items()}
        for variable in data.variables
        if variable.value_labels
    }
    with tempfile.TemporaryDirectory(prefix="minyi-microdata-") as folder:
        path = os.path.join(folder, f"microdata.{file_format}")
        if file_format == "sav":
            missing: dict[str, list[Any]] | None = (
                {
                    variable.name: [float(data.dont_know_code)]
                    for variable in data.variables
                    if variable.name.startswith("item_")
                }
                if data.dont_know_code is not None
                else None
            )
            pyreadstat.write_sav(
                frame,
                path,
                column_labels=labels,
                variable_value_labels=value_labels,
                missing_ranges=missing,
            )
        elif file_format == "dta":
            pyreadstat.write_dta(
                frame,
                path,
                column_labels=labels,
                variable_value_labels=value_labels,
                version=15,
            )
        else:
            raise ValueError(f"unknown format {file_format!r}")
        return Path(path).read_bytes()


def codebook(data: Microdata) -> bytes:
    """The CSV's variable and value labels: variable, label, value, value label."""
    rows: list[list[object]] = [["variable", "label", "value", "value_label"]]
    for variable in data.variables:
        rows.append([variable.name, variable.label, "", ""])
        rows.extend(
            [variable.name, "", code, text] for code, text in sorted(variable.value_labels.items())
        )
    return ("\ufeff" + csv_text(rows, lineterminator="\r\n")).encode("utf-8")
