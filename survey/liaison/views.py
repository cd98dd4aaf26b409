"""The liaison's own unit: result, comments, rectification, appeals."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from survey.admin.common import ViewResult, actor, report
from survey.auth.access import current_user
from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.liaison import bp
from survey.liaison.forms import AppealForm, FixForm, RectificationForm
from survey.models import Appeal, Cycle, CycleStatus, Unit
from survey.models.base import utc_now
from survey.privacy import vault
from survey.results.views import APPEAL_LABELS, GRADE_LABELS, REASON_LABELS
from survey.services import appeals, loop, publication, rectification
from survey.services.errors import ServiceError


def _own_unit(cycle: Cycle) -> Unit:
    user = current_user()
    assert user is not None
    unit = rectification.liaison_unit(db.session, user, cycle)
    if unit is None:
        abort(404)
    return unit


def _cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def _entries() -> list[tuple[Cycle, Unit]]:
    """The cycles assessing the liaison's unit, newest first, with the unit in each."""
    user = current_user()
    assert user is not None
    entries = []
    for cycle in db.session.scalars(sa.select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc())):
        unit = rectification.liaison_unit(db.session, user, cycle)
        if unit is not None:
            entries.append((cycle, unit))
    return entries


@bp.get("/")
def index() -> str:
    return render_template("liaison/index.html", entries=_entries())


@bp.get("/home")
def home() -> ViewResult:
    """Where a liaison lands on signing in: the own unit in the newest cycle with results
    (comments, rectification, appeals), else in the newest cycle assessing it."""
    entries = _entries()
    if not entries:
        return redirect(url_for("liaison.index"))
    published = [
        cycle
        for cycle, _unit in entries
        if publication.latest_snapshot(db.session, cycle) is not None
    ]
    cycle = published[0] if published else entries[0][0]
    return redirect(url_for("liaison.unit_page", cycle_id=cycle.id))


def _page(cycle: Cycle, unit: Unit, **forms: Any) -> str:
    snapshot = publication.latest_snapshot(db.session, cycle)
    result = None
    appeal_open = False
    if snapshot is not None:
        data = json.loads(snapshot.content)
        for category in data["outputs"]["categories"]:
            for entry in category["units"]:
                if entry["unit"] == unit.code:
                    result = {"category": category, "unit": entry}
        appeal_open = cycle.status == CycleStatus.PUBLISHED and utc_now() < appeals.publicity_ends(
            snapshot.published_at
        )
    own_appeals = db.session.scalars(
        sa.select(Appeal).where(Appeal.unit_id == unit.id).order_by(Appeal.filed_at.desc())
    ).all()
    return render_template(
        "liaison/unit.html",
        cycle=cycle,
        unit=unit,
        snapshot=snapshot,
        result=result,
        grade_labels=GRADE_LABELS,
        reason_labels=REASON_LABELS,
        appeal_labels=APPEAL_LABELS,
        comments=rectification.unit_comments(db.session, unit),
        loop_items=loop.unit_items(db.session, unit, today=loop.china_today()),
        fix_form=forms.get("fix_form") or FixForm(),
        fix_comment_id=forms.get("fix_comment_id"),
        rectifications=rectification.unit_rectifications(db.session, unit),
        appeals=own_appeals,
        appeal_open=appeal_open,
        rectification_form=forms.get("rectification_form") or RectificationForm(),
        appeal_form=forms.get("appeal_form") or AppealForm(),
    )


@bp.get("/cycles/<int:cycle_id>")
def unit_page(cycle_id: int) -> str:
    cycle = _cycle(cycle_id)
    return _page(cycle, _own_unit(cycle))


@bp.post("/cycles/<int:cycle_id>/rectifications")
def rectification_create(cycle_id: int) -> ViewResult:
    cycle = _cycle(cycle_id)
    unit = _own_unit(cycle)
    form = RectificationForm()
    if not form.validate_on_submit():
        return _page(cycle, unit, rectification_form=form), 400
    try:
        rectification.record_rectification(
            db.session,
            unit,
            text=form.text.data or "",
            request_follow_up=bool(form.request_follow_up.data),
            actor=actor(),
        )
    except ServiceError as error:
        report(error)
        return _page(cycle, unit, rectification_form=form), 400
    db.session.commit()
    flash(_("Rectification recorded."), "success")
    return redirect(url_for("liaison.unit_page", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/comments/<int:comment_id>/fix")
def fix_create(cycle_id: int, comment_id: int) -> ViewResult:
    """Record the fix of one comment (closed loop): stops its clock, sends its follow-ups."""
    cycle = _cycle(cycle_id)
    unit = _own_unit(cycle)
    form = FixForm()
    if not form.validate_on_submit():
        return _page(cycle, unit, fix_form=form, fix_comment_id=comment_id), 400
    try:
        loop.record_fix(
            db.session,
            unit,
            comment_id,
            text=form.text.data or "",
            actor=actor(),
            today=loop.china_today(),
            vault=vault(),
            sender=telephony(),
            link=lambda token: url_for("respondent.follow_up", token=token, _external=True),
        )
    except ServiceError as error:
        report(error, form)
        return _page(cycle, unit, fix_form=form, fix_comment_id=comment_id), 400
    db.session.commit()
    flash(
        _("Fix recorded; citizens who asked for a follow-up are sent a link to rate it."), "success"
    )
    return redirect(url_for("liaison.unit_page", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/appeals")
def appeal_create(cycle_id: int) -> ViewResult:
    cycle = _cycle(cycle_id)
    unit = _own_unit(cycle)
    form = AppealForm()
    if not form.validate_on_submit():
        return _page(cycle, unit, appeal_form=form), 400
    snapshot = publication.latest_snapshot(db.session, cycle)
    if snapshot is None:
        abort(404)
    uploads = [
        appeals.Upload(storage.filename or "attachment", storage.read())
        for storage in (form.attachments.data or [])
        if storage and storage.filename
    ]
    try:
        appeals.file_appeal(
            db.session,
            snapshot,
            unit,
            reason=form.reason.data or "",
            attachments=uploads,
            actor=actor(),
        )
    except ServiceError as error:
        report(error, form)
        return _page(cycle, unit, appeal_form=form), 400
    db.session.commit()
    flash(_("Appeal filed; the office decides within 7 days."), "success")
    return redirect(url_for("liaison.unit_page", cycle_id=cycle.id))
