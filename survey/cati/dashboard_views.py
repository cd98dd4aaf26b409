"""Fieldwork dashboard (调查进度): AAPOR rates per stratum, live precision, pace."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.cati import bp
from survey.cati.forms import PhoneSettingsForm
from survey.clock import now
from survey.extensions import db
from survey.models import Cycle
from survey.services import calling, dispositions, sms_invitations
from survey.services.errors import ServiceError


@bp.get("/cycles/<int:cycle_id>/dashboard")
def dashboard(cycle_id: int) -> str:
    cycle = get_cycle(cycle_id)
    return render_template(
        "cati/dashboard.html",
        cycle=cycle,
        rows=dispositions.rate_table(db.session, cycle.id),
        rate_names=dispositions.RATE_NAMES,
        precision=dispositions.unit_precision(db.session, cycle.id),
        projection=dispositions.projection(db.session, cycle.id, now()),
        sms=sms_invitations.summary(db.session, cycle.id),
    )


def _settings_page(cycle: Cycle, form: PhoneSettingsForm, status: int = 200) -> ViewResult:
    page = render_template("cati/settings.html", cycle=cycle, form=form)
    return (page, status) if status != 200 else page


@bp.get("/cycles/<int:cycle_id>/settings")
def phone_settings(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    settings = calling.phone_settings(db.session, cycle.id)
    db.session.commit()
    return _settings_page(cycle, PhoneSettingsForm(obj=settings))


@bp.post("/cycles/<int:cycle_id>/settings")
def save_phone_settings(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = PhoneSettingsForm()
    if not form.validate_on_submit():
        return _settings_page(cycle, form, 400)
    settings = calling.phone_settings(db.session, cycle.id)
    values = {name: getattr(form, name).data for name in calling.SETTING_FIELDS}
    try:
        calling.update_settings(db.session, settings, values, actor=actor())
    except ServiceError as error:
        report(error, form)
        return _settings_page(cycle, form, 400)
    db.session.commit()
    flash(_("Calling rules saved."), "success")
    return redirect(url_for("cati.dashboard", cycle_id=cycle.id))
