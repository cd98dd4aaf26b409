"""Units and categories: one at a time from a form, or in bulk from CSV/XLSX."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import Cycle, Unit, UnitCategory
from survey.services import audit
from survey.services.errors import N_, NotEditableError, Problem, ValidationError, status_term
from survey.services.tabular import read_table

#: Accepted header spellings for the units file, Chinese first (the first is the
#: template's header and the field's label); English names match too.
UNIT_COLUMNS = {
    "code": ["单位编码", "单位代码", "编码", "代码", "unit_code"],
    "name": ["单位名称", "名称", "单位", "unit_name"],
    "category": ["类别", "分类", "单位类别"],
    "parent": ["上级单位编码", "上级", "上级单位", "parent_code"],
}
UNIT_REQUIRED = ("code", "name", "category")


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int


def _require_editable(cycle: Cycle) -> None:
    if not cycle.is_editable:
        raise NotEditableError(
            N_("Units can no longer change once fieldwork starts (the cycle is %(status)s)."),
            parameters={"status": status_term(cycle.status)},
        )


def _category_lookup(cycle: Cycle) -> dict[str, UnitCategory]:
    lookup: dict[str, UnitCategory] = {}
    for category in cycle.categories:
        lookup[category.code.lower()] = category
        lookup[category.name.lower()] = category
    return lookup


def save_category(
    session: orm.Session,
    cycle: Cycle,
    *,
    code: str,
    name: str,
    actor: str,
    category: UnitCategory | None = None,
) -> UnitCategory:
    """Create a category, or rename ``category``."""
    _require_editable(cycle)
    code, name = code.strip(), name.strip()
    problems = []
    if not code:
        problems.append(Problem(N_("a code is required"), column="code"))
    if not name:
        problems.append(Problem(N_("a name is required"), column="name"))
    for other in cycle.categories:
        if other is category:
            continue
        if other.code == code:
            problems.append(
                Problem(
                    N_("a category with the code “%(code)s” exists"),
                    column="code",
                    parameters={"code": code},
                )
            )
        if other.name == name:
            problems.append(
                Problem(
                    N_("a category named “%(name)s” exists"),
                    column="name",
                    parameters={"name": name},
                )
            )
    if problems:
        raise ValidationError(N_("The category was not saved."), problems)
    created = category is None
    if category is None:
        category = UnitCategory(code=code, name=name, position=len(cycle.categories))
        cycle.categories.append(category)
    else:
        category.code, category.name = code, name
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="category.create" if created else "category.update",
        object_type="unit_category",
        object_id=category.id,
        details={"code": code, "name": name},
    )
    return category


def save_unit(
    session: orm.Session,
    cycle: Cycle,
    *,
    code: str,
    name: str,
    category_id: int,
    parent_id: int | None,
    actor: str,
    unit: Unit | None = None,
) -> Unit:
    """Create a unit, or change ``unit``."""
    _require_editable(cycle)
    code, name = code.strip(), name.strip()
    problems = []
    if not code:
        problems.append(Problem(N_("a code is required"), column="code"))
    if not name:
        problems.append(Problem(N_("a name is required"), column="name"))
    category = next((c for c in cycle.categories if c.id == category_id), None)
    if category is None:
        problems.append(Problem(N_("choose one of the categories"), column="category_id"))
    if any(u.code == code and u is not unit for u in cycle.units):
        problems.append(
            Problem(
                N_("a unit with the code “%(code)s” exists"),
                column="code",
                parameters={"code": code},
            )
        )
    parent = next((u for u in cycle.units if u.id == parent_id), None) if parent_id else None
    if parent_id and (parent is None or parent is unit):
        problems.append(
            Problem(
                N_("the parent unit is not one of this cycle's other units"), column="parent_id"
            )
        )
    if problems:
        raise ValidationError(N_("The unit was not saved."), problems)
    created = unit is None
    if unit is None:
        unit = Unit(code=code, name=name, category=category, parent=parent)
        cycle.units.append(unit)
    else:
        unit.code, unit.name, unit.parent = code, name, parent
        assert category is not None
        unit.category = category
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="unit.create" if created else "unit.update",
        object_type="unit",
        object_id=unit.id,
        details={"code": code, "name": name, "category": category_id},
    )
    return unit


def import_units(
    session: orm.Session,
    cycle: Cycle,
    filename: str,
    data: bytes,
    *,
    actor: str,
    encoding: str = "auto",
    max_rows: int = 100_000,
) -> ImportSummary:
    """Create or update units from a CSV/XLSX file, all or nothing.

    Columns: ``code``, ``name``, ``category`` (code or name of a category of this
    cycle) and optionally ``parent`` (a unit code in the file or the cycle).
    Every problem in the file is reported, with its row and column.
    """
    _require_editable(cycle)
    table = read_table(
        filename,
        data,
        columns=UNIT_COLUMNS,
        required=UNIT_REQUIRED,
        encoding=encoding,
        max_rows=max_rows,
    )
    categories = _category_lookup(cycle)
    existing = {unit.code: unit for unit in cycle.units}
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    column = table.column
    for number, row in table.rows:
        code = row["code"]
        if not code:
            problems.append(Problem(N_("the code is missing"), number, column("code")))
        elif code in seen:
            problems.append(
                Problem(
                    N_("duplicate code %(code)s (also in row %(other)d)"),
                    number,
                    column("code"),
                    {"code": repr(code), "other": seen[code]},
                )
            )
        else:
            seen[code] = number
        if not row["name"]:
            problems.append(Problem(N_("the name is missing"), number, column("name")))
        if not row["category"]:
            problems.append(Problem(N_("the category is missing"), number, column("category")))
        elif row["category"].lower() not in categories:
            problems.append(
                Problem(
                    N_("unknown category %(category)s"),
                    number,
                    column("category"),
                    {"category": repr(row["category"])},
                )
            )
    for number, row in table.rows:
        parent = row.get("parent", "")
        if parent and parent not in seen and parent not in existing:
            problems.append(
                Problem(
                    N_("unknown parent unit code %(code)s"),
                    number,
                    column("parent"),
                    {"code": repr(parent)},
                )
            )
        elif parent and parent == row["code"]:
            problems.append(
                Problem(N_("a unit cannot be its own parent"), number, column("parent"))
            )
    if problems:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    created = updated = 0
    by_code = dict(existing)
    for _number, row in table.rows:
        category = categories[row["category"].lower()]
        unit = by_code.get(row["code"])
        if unit is None:
            unit = Unit(code=row["code"], name=row["name"], category=category)
            cycle.units.append(unit)
            by_code[row["code"]] = unit
            created += 1
        else:
            unit.name, unit.category = row["name"], category
            updated += 1
    session.flush()
    for _number, row in table.rows:
        if row.get("parent"):
            by_code[row["code"]].parent = by_code[row["parent"]]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="unit.import",
        object_type="cycle",
        object_id=cycle.id,
        details={"file": filename, "created": created, "updated": updated},
    )
    return ImportSummary(created=created, updated=updated)


def units_by_category(session: orm.Session, cycle: Cycle) -> list[tuple[UnitCategory, list[Unit]]]:
    """The cycle's categories in order, each with its units (for listings)."""
    units = session.scalars(
        sa.select(Unit).where(Unit.cycle_id == cycle.id).order_by(Unit.code)
    ).all()
    grouped: dict[int, list[Unit]] = {c.id: [] for c in cycle.categories}
    for unit in units:
        grouped.setdefault(unit.category_id, []).append(unit)
    return [(c, grouped[c.id]) for c in cycle.categories]
