"""Importing the other score components (其他考核分项: 平时实绩, 年度实绩, 自身建设 …).

The office uploads one CSV/XLSX per component with one row per unit.  The file
is checked whole and every problem is listed (unknown units, units missing
from the file, duplicate rows, scores that are not numbers or out of range,
bad flags); a file with any problem imports nothing.  Every accepted upload is
a new version; the latest version is the one results are computed from, and
the older ones stay for the audit trail.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    ComponentImport,
    ComponentValue,
    Cycle,
    CycleStatus,
    ScoreComponent,
)
from survey.services import audit
from survey.services.errors import N_, NotEditableError, Problem, ValidationError, status_term
from survey.services.tabular import read_table

#: Accepted header spellings, Chinese first (the first is the template's header and
#: the field's label); English names match too.
COMPONENT_COLUMNS = {
    "unit": ["单位编码", "单位代码", "编码", "代码", "unit_code"],
    "score": ["得分", "分数", "分值", "score"],
    "veto": ["一票否决", "否决", "vetoed"],
    "target_completion": [
        "量化指标最低完成率",
        "量化指标完成率",
        "最低完成率",
        "lowest_target_completion",
    ],
}
COMPONENT_REQUIRED = ("unit", "score")

SCORE_MINIMUM, SCORE_MAXIMUM = 0.0, 100.0

_TRUE = {"1", "yes", "y", "true", "是", "否决"}
_FALSE = {"", "0", "no", "n", "false", "否"}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _completion(text: str) -> float | None:
    """A completion ratio: ``0.55`` or ``55%``."""
    if text.endswith(("%", "％")):
        value = _number(text[:-1].strip())
        return None if value is None else value / 100
    return _number(text)


def import_component(
    session: orm.Session,
    cycle: Cycle,
    component: ScoreComponent,
    *,
    filename: str,
    data: bytes,
    actor: str,
    encoding: str = "auto",
) -> ComponentImport:
    """Import a new version of ``component``'s scores for every unit of ``cycle``.

    Raises
    ------
    NotEditableError
        The cycle is already published, or the component is the survey-based
        social-recognition component (computed, never imported).
    ValidationError
        Anything wrong in the file; every problem is listed and nothing is stored.
    """
    if component.cycle_id != cycle.id:
        raise ValidationError(
            N_("The component “%(code)s” does not belong to this cycle."),
            parameters={"code": component.code},
        )
    if component.is_social_recognition:
        raise NotEditableError(
            N_("“%(name)s” is computed from the surveys and cannot be imported."),
            parameters={"name": component.name},
        )
    if cycle.status in {CycleStatus.PUBLISHED, CycleStatus.FINAL}:
        raise NotEditableError(
            N_(
                "The results of this cycle are published (%(status)s): components can no "
                "longer be imported."
            ),
            parameters={"status": status_term(cycle.status)},
        )
    table = read_table(
        filename, data, columns=COMPONENT_COLUMNS, required=COMPONENT_REQUIRED, encoding=encoding
    )
    column = table.column
    units = {unit.code.lower(): unit for unit in cycle.units}
    problems: list[Problem] = []
    first_row: dict[int, int] = {}
    values: list[ComponentValue] = []
    for row, cells in table.rows:
        code = cells.get("unit", "")
        unit = units.get(code.lower())
        if unit is None:
            problems.append(
                Problem(N_("unknown unit %(code)s"), row, column("unit"), {"code": repr(code)})
            )
        elif unit.id in first_row:
            problems.append(
                Problem(
                    N_("unit %(code)s appears again (first on row %(other)d)"),
                    row,
                    column("unit"),
                    {"code": unit.code, "other": first_row[unit.id]},
                )
            )
        else:
            first_row[unit.id] = row
        score = _number(cells.get("score", ""))
        if score is None:
            problems.append(
                Problem(
                    N_("%(value)s is not a number"),
                    row,
                    column("score"),
                    {"value": repr(cells.get("score", ""))},
                )
            )
        elif not SCORE_MINIMUM <= score <= SCORE_MAXIMUM:
            problems.append(
                Problem(
                    N_("%(value)s is outside %(low)s–%(high)s"),
                    row,
                    column("score"),
                    {
                        "value": f"{score:g}",
                        "low": f"{SCORE_MINIMUM:g}",
                        "high": f"{SCORE_MAXIMUM:g}",
                    },
                )
            )
        veto_text = cells.get("veto", "").strip().lower()
        if veto_text not in _TRUE | _FALSE:
            problems.append(
                Problem(
                    N_("%(value)s is not yes/no (是/否)"),
                    row,
                    column("veto"),
                    {"value": repr(veto_text)},
                )
            )
        completion_text = cells.get("target_completion", "").strip()
        completion = _completion(completion_text) if completion_text else None
        if completion_text and (completion is None or completion < 0):
            problems.append(
                Problem(
                    N_("%(value)s is not a completion ratio (0.55 or 55%%)"),
                    row,
                    column("target_completion"),
                    {"value": repr(completion_text)},
                )
            )
        if unit is not None and score is not None:
            values.append(
                ComponentValue(
                    unit_id=unit.id,
                    score=score,
                    vetoed=veto_text in _TRUE,
                    lowest_target_completion=completion,
                )
            )
    for unit in cycle.units:
        if unit.id not in first_row:
            problems.append(
                Problem(
                    N_("unit %(code)s (%(name)s) is missing from the file"),
                    parameters={"code": unit.code, "name": unit.name},
                )
            )
    if problems:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    previous = session.scalar(
        sa.select(sa.func.max(ComponentImport.version)).where(
            ComponentImport.component_id == component.id
        )
    )
    version = ComponentImport(
        component_id=component.id,
        version=(previous or 0) + 1,
        filename=filename,
        file_sha256=hashlib.sha256(data).hexdigest(),
        imported_by=actor,
        values=values,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="component.import",
        object_type="component_import",
        object_id=version.id,
        details={
            "cycle": cycle.id,
            "component": component.code,
            "version": version.version,
            "units": len(values),
            "file_sha256": version.file_sha256,
        },
    )
    return version


def current_imports(session: orm.Session, cycle: Cycle) -> dict[str, ComponentImport]:
    """The version in force of every imported component, by component code."""
    latest: dict[str, ComponentImport] = {}
    for component in cycle.components:
        if component.is_social_recognition:
            continue
        found = session.scalar(
            sa.select(ComponentImport)
            .where(ComponentImport.component_id == component.id)
            .order_by(ComponentImport.version.desc())
            .limit(1)
        )
        if found is not None:
            latest[component.code] = found
    return latest


def current_values(
    session: orm.Session, cycle: Cycle
) -> Mapping[str, Mapping[int, ComponentValue]]:
    """Component code → unit id → value, from the versions in force."""
    return {
        code: {value.unit_id: value for value in version.values}
        for code, version in current_imports(session, cycle).items()
    }
