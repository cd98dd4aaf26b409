"""Questionnaire: the scale preset, the items and their weights."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import DecimalField
from wtforms.validators import InputRequired, NumberRange

from survey.admin import bp
from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.admin.forms import ItemForm, ScaleForm
from survey.extensions import db
from survey.models import Cycle, ScalePreset
from survey.services import cycles as cycle_service
from survey.services import weights as weight_service
from survey.services.errors import ServiceError


def item_weights_form(cycle: Cycle) -> FlaskForm:
    class ItemWeightsForm(FlaskForm):
        pass

    for item in cycle.items:
        setattr(
            ItemWeightsForm,
            f"item_{item.id}",
            DecimalField(
                item.name,
                places=4,
                default=item.weight,
                validators=[InputRequired(), NumberRange(0, 1)],
            ),
        )
    return ItemWeightsForm()


def _page(cycle: Cycle, **forms: object) -> str:
    scale_form = ScaleForm()
    scale_form.scale_preset.data = cycle.scale_preset.value
    context: dict[str, object] = {
        "cycle": cycle,
        "scale_form": scale_form,
        "item_form": ItemForm(),
        "weights_form": item_weights_form(cycle),
    }
    context.update(forms)
    return render_template("admin/questionnaire.html", **context)


@bp.get("/cycles/<int:cycle_id>/questionnaire")
def questionnaire(cycle_id: int) -> str:
    return _page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/questionnaire/scale")
def questionnaire_scale(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = ScaleForm()
    if form.validate_on_submit():
        try:
            cycle_service.apply_scale_preset(
                db.session, cycle, ScalePreset(form.scale_preset.data), actor=actor()
            )
        except ServiceError as error:
            report(error)
            return _page(cycle), 400
        db.session.commit()
        flash(_("Scale saved."), "success")
    return redirect(url_for("admin.questionnaire", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/questionnaire/items")
def questionnaire_item_add(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = ItemForm()
    if not form.validate_on_submit():
        return _page(cycle, item_form=form), 400
    try:
        weight_service.add_item(
            db.session,
            cycle,
            code=form.code.data or "",
            name=form.name.data or "",
            name_en=form.name_en.data or "",
            actor=actor(),
        )
    except ServiceError as error:
        report(error, form)
        return _page(cycle, item_form=form), 400
    db.session.commit()
    flash(_("Item added; item weights were spread equally."), "success")
    return redirect(url_for("admin.questionnaire", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/questionnaire/weights")
def questionnaire_weights(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = item_weights_form(cycle)
    if not form.validate_on_submit():
        flash(_("Every weight must be a number between 0 and 1."), "error")
        return _page(cycle, weights_form=form), 400
    weights = {item.id: float(form[f"item_{item.id}"].data) for item in cycle.items}
    try:
        weight_service.set_item_weights(db.session, cycle, weights, actor=actor())
    except ServiceError as error:
        report(error)
        return _page(cycle, weights_form=form), 400
    db.session.commit()
    flash(_("Weights saved."), "success")
    return redirect(url_for("admin.questionnaire", cycle_id=cycle.id))
