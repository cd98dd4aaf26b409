"""Rater-group, component and item weights: each set must sum to 1 (DESIGN §4)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import orm

from survey.models import (
    ComponentWeight,
    Cycle,
    Item,
    RaterGroupWeight,
)
from survey.services import audit
from survey.services.errors import NotEditableError, Problem, ValidationError

#: Weights are typed as decimals with up to four places; allow for float rounding only.
SUM_TOLERANCE = 1e-6


def _check_row(label: str, weights: Mapping[str, float]) -> list[Problem]:
    problems = [
        Problem(f"{label}: weight of {name} must be between 0 and 1, got {value:g}", column=name)
        for name, value in weights.items()
        if not (math.isfinite(value) and 0 <= value <= 1)
    ]
    total = sum(weights.values())
    if not problems and abs(total - 1) > SUM_TOLERANCE:
        problems.append(Problem(f"{label}: weights sum to {total:.4f}, not 1"))
    return problems


def weight_problems(cycle: Cycle) -> list[Problem]:
    """Every category whose rater-group or component weights do not sum to 1, and the items."""
    problems: list[Problem] = []
    for category in cycle.categories:
        if cycle.rater_groups:
            problems += _check_row(
                f"rater-group weights of {category.name}",
                {w.rater_group.name: w.weight for w in category.rater_group_weights},
            )
        if cycle.components:
            problems += _check_row(
                f"component weights of {category.name}",
                {w.component.name: w.weight for w in category.component_weights},
            )
    if cycle.items:
        problems += _check_row("item weights", {item.name: item.weight for item in cycle.items})
    return problems


def _require_editable(cycle: Cycle) -> None:
    if not cycle.is_editable:
        raise NotEditableError(
            f"weights are frozen once fieldwork starts (cycle is {cycle.status.value})"
        )


def set_rater_group_weights(
    session: orm.Session,
    cycle: Cycle,
    matrix: Mapping[tuple[int, int], float],
    *,
    actor: str,
) -> None:
    """Replace the rater-group weights: ``matrix[(category_id, rater_group_id)] = weight``.

    Every category row must sum to 1; otherwise nothing changes.
    """
    _require_editable(cycle)
    problems: list[Problem] = []
    for category in cycle.categories:
        row = {group.name: matrix.get((category.id, group.id), 0.0) for group in cycle.rater_groups}
        problems += _check_row(f"rater-group weights of {category.name}", row)
    if problems:
        raise ValidationError("the rater-group weights are not valid", problems)
    for category in cycle.categories:
        existing = {w.rater_group_id: w for w in category.rater_group_weights}
        for group in cycle.rater_groups:
            value = matrix.get((category.id, group.id), 0.0)
            if group.id in existing:
                existing[group.id].weight = value
            else:
                category.rater_group_weights.append(
                    RaterGroupWeight(rater_group=group, weight=value)
                )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="weights.rater_groups",
        object_type="cycle",
        object_id=cycle.id,
        details={f"{c}:{g}": w for (c, g), w in sorted(matrix.items())},
    )


def set_component_weights(
    session: orm.Session,
    cycle: Cycle,
    matrix: Mapping[tuple[int, int], float],
    *,
    actor: str,
) -> None:
    """Replace the component weights: ``matrix[(category_id, component_id)] = weight``."""
    _require_editable(cycle)
    problems: list[Problem] = []
    for category in cycle.categories:
        row = {c.name: matrix.get((category.id, c.id), 0.0) for c in cycle.components}
        problems += _check_row(f"component weights of {category.name}", row)
    if problems:
        raise ValidationError("the component weights are not valid", problems)
    for category in cycle.categories:
        existing = {w.component_id: w for w in category.component_weights}
        for component in cycle.components:
            value = matrix.get((category.id, component.id), 0.0)
            if component.id in existing:
                existing[component.id].weight = value
            else:
                category.component_weights.append(
                    ComponentWeight(component=component, weight=value)
                )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="weights.components",
        object_type="cycle",
        object_id=cycle.id,
        details={f"{c}:{k}": w for (c, k), w in sorted(matrix.items())},
    )


def set_item_weights(
    session: orm.Session, cycle: Cycle, weights: Mapping[int, float], *, actor: str
) -> None:
    """Replace item weights (``weights[item_id]``); they must sum to 1."""
    _require_editable(cycle)
    problems = _check_row(
        "item weights", {item.name: weights.get(item.id, 0.0) for item in cycle.items}
    )
    if problems:
        raise ValidationError("the item weights are not valid", problems)
    for item in cycle.items:
        item.weight = weights.get(item.id, 0.0)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="weights.items",
        object_type="cycle",
        object_id=cycle.id,
        details={str(k): v for k, v in sorted(weights.items())},
    )


def add_item(
    session: orm.Session, cycle: Cycle, *, code: str, name: str, name_en: str, actor: str
) -> Item:
    """Add an item; weights are then re-spread equally (the admin may adjust them)."""
    _require_editable(cycle)
    code = code.strip()
    problems = []
    if not code:
        problems.append(Problem("code is required", column="code"))
    if not name.strip():
        problems.append(Problem("name is required", column="name"))
    if any(item.code == code for item in cycle.items):
        problems.append(Problem(f"an item with code {code!r} exists", column="code"))
    if problems:
        raise ValidationError("the item is not valid", problems)
    item = Item(
        code=code, name=name.strip(), name_en=name_en.strip(), weight=0.0, position=len(cycle.items)
    )
    cycle.items.append(item)
    for each in cycle.items:
        each.weight = 1 / len(cycle.items)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="item.create",
        object_type="item",
        object_id=item.id,
        details={"code": code, "name": item.name},
    )
    return item
