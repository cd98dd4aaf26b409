"""Cycle pages: list, create, edit, overview and status changes."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from survey.admin import bp
from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.admin.forms import CycleForm, NewCycleForm, TransitionForm
from survey.extensions import db
from survey.models import (
    ALLOWED_TRANSITIONS,
    Cycle,
    CycleStatus,
    DontKnowHandling,
    ScalePreset,
)
from survey.models import (
    Response as SurveyResponse,
)
from survey.services import cycles as cycle_service
from survey.services.errors import ServiceError
from survey.services.units import units_by_category


def _settings(form: CycleForm) -> cycle_service.CycleSettings:
    assert form.period_start.data and form.period_end.data and form.year.data
    return cycle_service.CycleSettings(
        name=form.name.data or "",
        year=form.year.data,
        period_start=form.period_start.data,
        period_end=form.period_end.data,
        scale_preset=ScalePreset(form.scale_preset.data),
        dont_know_handling=DontKnowHandling(form.dont_know_handling.data),
        min_valid_responses=form.min_valid_responses.data or 30,
        description=form.description.data or "",
    )


@bp.get("/")
def dashboard() -> str:
    cycles = db.session.scalars(sa.select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc())).all()
    return render_template("admin/dashboard.html", cycles=cycles)


@bp.get("/cycles/new")
def cycle_new() -> str:
    return render_template("admin/cycle_form.html", form=NewCycleForm(), cycle=None)


@bp.post("/cycles/new")
def cycle_create() -> ViewResult:
    form = NewCycleForm()
    if not form.validate_on_submit():
        return render_template("admin/cycle_form.html", form=form, cycle=None), 400
    try:
        cycle = cycle_service.create_cycle(
            db.session, _settings(form), actor=actor(), with_defaults=form.with_defaults.data
        )
    except ServiceError as error:
        report(error)
        return render_template("admin/cycle_form.html", form=form, cycle=None), 400
    db.session.commit()
    flash(_("Cycle created."), "success")
    return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))


@bp.get("/cycles/<int:cycle_id>")
def cycle_detail(cycle_id: int) -> str:
    cycle = get_cycle(cycle_id)
    response_count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SurveyResponse)
        .where(SurveyResponse.cycle_id == cycle.id)
    )
    return render_template(
        "admin/cycle_detail.html",
        cycle=cycle,
        grouped_units=units_by_category(db.session, cycle),
        transitions=sorted(ALLOWED_TRANSITIONS[cycle.status]),
        problems=cycle_service.setup_problems(cycle) if cycle.is_editable else [],
        response_count=response_count,
        transition_form=TransitionForm(),
    )


@bp.get("/cycles/<int:cycle_id>/edit")
def cycle_edit(cycle_id: int) -> str:
    cycle = get_cycle(cycle_id)
    form = CycleForm(obj=cycle)
    form.scale_preset.data = cycle.scale_preset.value
    form.dont_know_handling.data = cycle.dont_know_handling.value
    return render_template("admin/cycle_form.html", form=form, cycle=cycle)


@bp.post("/cycles/<int:cycle_id>/edit")
def cycle_update(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = CycleForm()
    if not form.validate_on_submit():
        return render_template("admin/cycle_form.html", form=form, cycle=cycle), 400
    try:
        cycle_service.update_cycle(db.session, cycle, _settings(form), actor=actor())
    except ServiceError as error:
        report(error)
        return render_template("admin/cycle_form.html", form=form, cycle=cycle), 400
    db.session.commit()
    flash(_("Cycle saved."), "success")
    return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/status")
def cycle_transition(cycle_id: int) -> Response:
    cycle = get_cycle(cycle_id)
    form = TransitionForm()
    target_value = str(form.target.data) if form.validate_on_submit() else ""
    try:
        target = CycleStatus(target_value)
    except ValueError:
        flash(_("Unknown status."), "error")
        return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))
    try:
        cycle_service.transition_cycle(
            db.session,
            cycle,
            target,
            actor=actor(),
            unlink_responses=current_app.config["UNLINK_RESPONSES_ON_CLOSE"],
        )
    except ServiceError as error:
        report(error)
        return redirect(url_for("admin.cycle_detail", cycle_id=cycle_id))
    db.session.commit()
    flash(_("Status changed."), "success")
    return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))
