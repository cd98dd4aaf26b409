"""Cycle pages: list, create, edit, overview and status changes."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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

# What each status change does for good, shown beside its confirmation box.
TRANSITION_CONSEQUENCES = {
    CycleStatus.FIELDING: _l(
        "citizens can answer from now on; the units, questionnaire and weights can no longer be "
        "changed."
    ),
    CycleStatus.CLOSED: _l(
        "answering stops, and every link between a sampled person and their answers is deleted "
        "for good (the anonymity promised to respondents)."
    ),
    CycleStatus.PUBLISHED: _l("the results are published; any later change is a new version."),
    CycleStatus.FINAL: _l("the results become final: no appeal or new version after this."),
}


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
        report(error, form)
        return render_template("admin/cycle_form.html", form=form, cycle=None), 400
    db.session.commit()
    flash(_("Cycle created."), "success")
    return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))


@bp.get("/cycles/<int:cycle_id>")
def cycle_detail(cycle_id: int) -> str:
    return _cycle_page(get_cycle(cycle_id))


def _cycle_page(cycle: Cycle, refused: TransitionForm | None = None) -> str:
    """The cycle's page; ``refused`` is a status change sent back with its errors."""
    response_count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SurveyResponse)
        .where(SurveyResponse.cycle_id == cycle.id)
    )
    return render_template(
        "admin/cycle_detail.html",
        cycle=cycle,
        grouped_units=units_by_category(db.session, cycle),
        problems=cycle_service.setup_problems(cycle) if cycle.is_editable else [],
        response_count=response_count,
        transition_forms={
            target: refused
            if refused is not None and refused.target.data == target.value
            else TransitionForm(target=target.value)
            for target in ALLOWED_TRANSITIONS[cycle.status]
        },
        transition_consequences=TRANSITION_CONSEQUENCES,
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
        report(error, form)
        return render_template("admin/cycle_form.html", form=form, cycle=cycle), 400
    db.session.commit()
    flash(_("Cycle saved."), "success")
    return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/status")
def cycle_transition(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = TransitionForm()
    try:
        target = CycleStatus(str(form.target.data or ""))
    except ValueError:
        flash(_("Unknown status."), "error")
        return redirect(url_for("admin.cycle_detail", cycle_id=cycle.id))
    if not form.validate_on_submit():
        return _cycle_page(cycle, refused=form), 400
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
