"""Rater groups, components and their weight matrices per unit category."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField
from wtforms.validators import InputRequired, NumberRange

from survey.admin import bp
from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.extensions import db
from survey.models import Cycle
from survey.services import presets
from survey.services import weights as weight_service
from survey.services.errors import ServiceError


def field_name(category_id: int, column_id: int) -> str:
    return f"w_{category_id}_{column_id}"


def weight_matrix_form(
    cycle: Cycle, columns: Sequence[Any], current: dict[tuple[int, int], float]
) -> FlaskForm:
    """A form with one decimal field per (category, column) cell."""

    class WeightMatrixForm(FlaskForm):
        pass

    for category in cycle.categories:
        for column in columns:
            setattr(
                WeightMatrixForm,
                field_name(category.id, column.id),
                DecimalField(
                    f"{category.name} · {column.name}",
                    places=4,
                    default=current.get((category.id, column.id), 0.0),
                    validators=[InputRequired(), NumberRange(0, 1)],
                ),
            )
    return WeightMatrixForm()


def _matrix(form: FlaskForm, cycle: Cycle, columns: Sequence[Any]) -> dict[tuple[int, int], float]:
    return {
        (category.id, column.id): float(form[field_name(category.id, column.id)].data)
        for category in cycle.categories
        for column in columns
    }


def row_sums(form: FlaskForm, cycle: Cycle, columns: Sequence[Any]) -> dict[int, float]:
    """Sum of each category row as entered (shown beside the row; must be 1)."""
    sums: dict[int, float] = {}
    for category in cycle.categories:
        values = [form[field_name(category.id, column.id)].data for column in columns]
        sums[category.id] = sum(float(v) for v in values if v is not None)
    return sums


@dataclass(frozen=True)
class WeightPage:
    """One weight-matrix page: which matrix, its title, its endpoints and presets."""

    kind: weight_service.WeightMatrix
    title: Any
    endpoint: str
    presets: dict[str, dict[str, float]] | None = None
    preset_labels: dict[str, str] | None = None


RATER_PAGE = WeightPage(
    weight_service.RATER_GROUP_WEIGHTS, _l("Rater groups and weights"), "admin.rater_weights"
)
COMPONENT_PAGE = WeightPage(
    weight_service.COMPONENT_WEIGHTS,
    _l("Score components and weights"),
    "admin.component_weights",
    presets.COMPONENT_PRESETS,
    presets.COMPONENT_PRESET_LABELS,
)


def _page(cycle: Cycle, page: WeightPage, form: FlaskForm | None = None) -> str:
    columns = page.kind.columns(cycle)
    form = form or weight_matrix_form(cycle, columns, page.kind.current(cycle))
    return render_template(
        "admin/weights.html",
        cycle=cycle,
        columns=columns,
        form=form,
        row_sums=row_sums(form, cycle, columns),
        field_name=field_name,
        title=str(page.title),
        action=url_for(page.endpoint + "_save", cycle_id=cycle.id),
        presets=page.presets,
        preset_labels=page.preset_labels,
    )


def _save(cycle_id: int, page: WeightPage) -> ViewResult:
    cycle = get_cycle(cycle_id)
    columns = page.kind.columns(cycle)
    form = weight_matrix_form(cycle, columns, {})
    if not form.validate_on_submit():
        flash(_("Every weight must be a number between 0 and 1."), "error")
        return _page(cycle, page, form), 400
    try:
        weight_service.set_weights(
            db.session, cycle, page.kind, _matrix(form, cycle, columns), actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _page(cycle, page, form), 400
    db.session.commit()
    flash(_("Weights saved."), "success")
    return redirect(url_for(page.endpoint, cycle_id=cycle.id))


@bp.get("/cycles/<int:cycle_id>/rater-groups")
def rater_weights(cycle_id: int) -> str:
    return _page(get_cycle(cycle_id), RATER_PAGE)


@bp.post("/cycles/<int:cycle_id>/rater-groups")
def rater_weights_save(cycle_id: int) -> ViewResult:
    return _save(cycle_id, RATER_PAGE)


@bp.get("/cycles/<int:cycle_id>/components")
def component_weights(cycle_id: int) -> str:
    return _page(get_cycle(cycle_id), COMPONENT_PAGE)


@bp.post("/cycles/<int:cycle_id>/components")
def component_weights_save(cycle_id: int) -> ViewResult:
    return _save(cycle_id, COMPONENT_PAGE)
