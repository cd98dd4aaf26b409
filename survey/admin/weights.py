"""Rater groups, components and their weight matrices per unit category."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
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


def _rater_page(cycle: Cycle, form: FlaskForm | None = None) -> str:
    current = {
        (w.category_id, w.rater_group_id): w.weight
        for c in cycle.categories
        for w in c.rater_group_weights
    }
    form = form or weight_matrix_form(cycle, cycle.rater_groups, current)
    return render_template(
        "admin/weights.html",
        cycle=cycle,
        columns=cycle.rater_groups,
        form=form,
        row_sums=row_sums(form, cycle, cycle.rater_groups),
        field_name=field_name,
        title=_("Rater groups and weights"),
        action=url_for("admin.rater_weights_save", cycle_id=cycle.id),
        presets=None,
    )


@bp.get("/cycles/<int:cycle_id>/rater-groups")
def rater_weights(cycle_id: int) -> str:
    return _rater_page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/rater-groups")
def rater_weights_save(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = weight_matrix_form(cycle, cycle.rater_groups, {})
    if not form.validate_on_submit():
        flash(_("Every weight must be a number between 0 and 1."), "error")
        return _rater_page(cycle, form), 400
    try:
        weight_service.set_rater_group_weights(
            db.session, cycle, _matrix(form, cycle, cycle.rater_groups), actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _rater_page(cycle, form), 400
    db.session.commit()
    flash(_("Weights saved."), "success")
    return redirect(url_for("admin.rater_weights", cycle_id=cycle.id))


def _component_page(cycle: Cycle, form: FlaskForm | None = None) -> str:
    current = {
        (w.category_id, w.component_id): w.weight
        for c in cycle.categories
        for w in c.component_weights
    }
    form = form or weight_matrix_form(cycle, cycle.components, current)
    return render_template(
        "admin/weights.html",
        cycle=cycle,
        columns=cycle.components,
        form=form,
        row_sums=row_sums(form, cycle, cycle.components),
        field_name=field_name,
        title=_("Score components and weights"),
        action=url_for("admin.component_weights_save", cycle_id=cycle.id),
        presets=presets.COMPONENT_PRESETS,
        preset_labels=presets.COMPONENT_PRESET_LABELS,
    )


@bp.get("/cycles/<int:cycle_id>/components")
def component_weights(cycle_id: int) -> str:
    return _component_page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/components")
def component_weights_save(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = weight_matrix_form(cycle, cycle.components, {})
    if not form.validate_on_submit():
        flash(_("Every weight must be a number between 0 and 1."), "error")
        return _component_page(cycle, form), 400
    try:
        weight_service.set_component_weights(
            db.session, cycle, _matrix(form, cycle, cycle.components), actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _component_page(cycle, form), 400
    db.session.commit()
    flash(_("Weights saved."), "success")
    return redirect(url_for("admin.component_weights", cycle_id=cycle.id))
