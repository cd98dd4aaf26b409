"""The office's view of the closed loop (好差评闭环): overdue comments by unit, fix ratings,
monthly lists of the units at the bottom, and the cycle's time limit."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.extensions import db
from survey.models import Cycle
from survey.office import bp
from survey.office.forms import WorkingDaysForm
from survey.services import loop
from survey.services.errors import ServiceError


def _loop_page(cycle: Cycle, form: WorkingDaysForm | None = None) -> str:
    today = loop.china_today()
    items = loop.cycle_items(db.session, cycle, today=today)
    overdue = [item for item in items if item.overdue]
    overdue.sort(key=lambda item: (item.comment.unit.code, item.due_on))
    if form is None:
        form = WorkingDaysForm(working_days=str(cycle.loop_working_days))
    return render_template(
        "office/loop.html",
        cycle=cycle,
        today=today,
        units=loop.by_unit(items),
        overdue=overdue,
        months=loop.monthly_lists(items),
        form=form,
    )


@bp.get("/cycles/<int:cycle_id>/loop")
def loop_page(cycle_id: int) -> str:
    return _loop_page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/loop/working-days")
def loop_working_days(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = WorkingDaysForm()
    if not form.validate_on_submit():
        return _loop_page(cycle, form), 400
    try:
        loop.set_working_days(db.session, cycle, int(form.working_days.data or 0), actor=actor())
    except ServiceError as error:
        report(error, form)
        return _loop_page(cycle, form), 400
    db.session.commit()
    flash(_("Time limit saved."), "success")
    return redirect(url_for("office.loop_page", cycle_id=cycle.id))
