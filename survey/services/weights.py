"""Rater-group, component and item weights: each set must sum to 1 (DESIGN §4)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import orm

from survey.models import (
    ComponentWeight,
    Cycle,
    Item,
    RaterGroupWeight,
    UnitCategory,
)
from survey.services import audit
from survey.services.errors import N_, NotEditableError, Problem, Term, ValidationError, status_term

#: Weights are typed as decimals with up to four places; allow for float rounding only.
SUM_TOLERANCE = 1e-6
#: The questionnaire's item weights (one row, no category).
ITEM_WEIGHTS = Term(N_("item weights"))


def _check_row(label: Term, category: str | None, weights: Mapping[str, float]) -> list[Problem]:
    """Each weight in [0, 1] and the row summing to 1; ``category`` names the row if any."""
    where = {"weights": label, "category": category}
    problems = [
        Problem(
            N_(
                "%(weights)s of “%(category)s”: the weight of “%(name)s” must be between 0 and 1, "
                "not %(value)s"
            )
            if category is not None
            else N_("%(weights)s: the weight of “%(name)s” must be between 0 and 1, not %(value)s"),
            column=name,
            parameters={**where, "name": name, "value": f"{value:g}"},
        )
        for name, value in weights.items()
        if not (math.isfinite(value) and 0 <= value <= 1)
    ]
    total = sum(weights.values())
    if not problems and abs(total - 1) > SUM_TOLERANCE:
        problems.append(
            Problem(
                N_("%(weights)s of “%(category)s”: the weights sum to %(total)s, not 1")
                if category is not None
                else N_("%(weights)s: the weights sum to %(total)s, not 1"),
                parameters={**where, "total": f"{total:.4f}"},
            )
        )
    return problems


@dataclass(frozen=True)
class WeightMatrix:
    """A per-category weight set: which columns it has and where its weights live."""

    label: Term
    action: str
    columns: Callable[[Cycle], Sequence[Any]]
    weights: Callable[[UnitCategory], list[Any]]
    column_of: Callable[[Any], Any]
    make: Callable[[Any, float], Any]

    def current(self, cycle: Cycle) -> dict[tuple[int, int], float]:
        """``{(category_id, column_id): weight}`` as stored."""
        return {
            (category.id, self.column_of(w).id): w.weight
            for category in cycle.categories
            for w in self.weights(category)
        }


RATER_GROUP_WEIGHTS = WeightMatrix(
    label=Term(N_("rater-group weights")),
    action="weights.rater_groups",
    columns=lambda cycle: cycle.rater_groups,
    weights=lambda category: category.rater_group_weights,
    column_of=lambda weight: weight.rater_group,
    make=lambda group, value: RaterGroupWeight(rater_group=group, weight=value),
)
COMPONENT_WEIGHTS = WeightMatrix(
    label=Term(N_("component weights")),
    action="weights.components",
    columns=lambda cycle: cycle.components,
    weights=lambda category: category.component_weights,
    column_of=lambda weight: weight.component,
    make=lambda component, value: ComponentWeight(component=component, weight=value),
)


def weight_problems(cycle: Cycle) -> list[Problem]:
    """Every category whose rater-group or component weights do not sum to 1, and the items."""
    problems: list[Problem] = []
    for category in cycle.categories:
        for kind in (RATER_GROUP_WEIGHTS, COMPONENT_WEIGHTS):
            if kind.columns(cycle):
                problems += _check_row(
                    kind.label,
                    category.name,
                    {kind.column_of(w).name: w.weight for w in kind.weights(category)},
                )
    if cycle.items:
        problems += _check_row(ITEM_WEIGHTS, None, {item.name: item.weight for item in cycle.items})
    return problems


def _require_editable(cycle: Cycle) -> None:
    if not cycle.is_editable:
        raise NotEditableError(
            N_("Weights can no longer change once fieldwork starts (the cycle is %(status)s)."),
            parameters={"status": status_term(cycle.status)},
        )


def set_weights(
    session: orm.Session,
    cycle: Cycle,
    kind: WeightMatrix,
    matrix: Mapping[tuple[int, int], float],
    *,
    actor: str,
) -> None:
    """Replace a weight matrix: ``matrix[(category_id, column_id)] = weight``.

    Every category row must sum to 1; otherwise nothing changes.
    """
    _require_editable(cycle)
    columns = kind.columns(cycle)
    problems: list[Problem] = []
    for category in cycle.categories:
        row = {column.name: matrix.get((category.id, column.id), 0.0) for column in columns}
        problems += _check_row(kind.label, category.name, row)
    if problems:
        raise ValidationError(N_("The weights were not saved."), problems)
    for category in cycle.categories:
        existing = {kind.column_of(w).id: w for w in kind.weights(category)}
        for column in columns:
            value = matrix.get((category.id, column.id), 0.0)
            if column.id in existing:
                existing[column.id].weight = value
            else:
                kind.weights(category).append(kind.make(column, value))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=kind.action,
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
        ITEM_WEIGHTS, None, {item.name: weights.get(item.id, 0.0) for item in cycle.items}
    )
    if problems:
        raise ValidationError(N_("The weights were not saved."), problems)
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


def spread_equally(count: int) -> list[float]:
    """``count`` weights as equal as four decimal places allow, summing to exactly 1.

    The pages show and take weights with four places: 1/6 would be shown as 0.1667,
    and the page saved as shown (6 × 0.1667 = 1.0002) refused.  Here six items get
    0.1667 four times and 0.1666 twice.
    """
    base, extra = divmod(10_000, count)
    return [(base + (1 if index < extra else 0)) / 10_000 for index in range(count)]


def add_item(
    session: orm.Session, cycle: Cycle, *, code: str, name: str, name_en: str, actor: str
) -> Item:
    """Add an item; weights are then re-spread equally (the admin may adjust them)."""
    _require_editable(cycle)
    code = code.strip()
    problems = []
    if not code:
        problems.append(Problem(N_("a code is required"), column="code"))
    if not name.strip():
        problems.append(Problem(N_("a name is required"), column="name"))
    if any(item.code == code for item in cycle.items):
        problems.append(
            Problem(
                N_("an item with the code “%(code)s” exists"),
                column="code",
                parameters={"code": code},
            )
        )
    if problems:
        raise ValidationError(N_("The item was not saved."), problems)
    item = Item(
        code=code, name=name.strip(), name_en=name_en.strip(), weight=0.0, position=len(cycle.items)
    )
    cycle.items.append(item)
    for each, weight in zip(cycle.items, spread_equally(len(cycle.items)), strict=True):
        each.weight = weight
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
