"""Interviewer console (CATI): claim, script, dial, answers, disposition, appointment;
the supervisor view; quality call-backs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from survey.admin.common import ViewResult, actor, report
from survey.cati import bp
from survey.cati.forms import ActionForm, CallbackForm, answer_field_name, result_form
from survey.clock import now
from survey.extensions import db
from survey.i18n import callback_status_label, disposition_label
from survey.integrations.telephony import telephony
from survey.models import (
    Answer,
    CallAttempt,
    CallbackStatus,
    CallMode,
    CaseSchedule,
    Channel,
    Cycle,
    Item,
    PhoneSettings,
    QualityCallback,
    ScaleLevel,
    ScheduleState,
    Unit,
)
from survey.privacy import vault
from survey.services import audit, callbacks, calling, dialling, review
from survey.services import dispositions as codes
from survey.services.errors import N_, ServiceError
from survey.telephony import webhook_url


def _my_schedule(case_id: int) -> CaseSchedule:
    """The case, if the signed-in interviewer holds its claim."""
    schedule = db.session.get(CaseSchedule, case_id)
    if schedule is None:
        abort(404)
    claimed_until = schedule.claimed_until
    if (
        schedule.claimed_by != actor()
        or claimed_until is None
        or calling.as_utc(claimed_until) < now()
    ):
        abort(403)
    return schedule


def _levels(cycle_id: int) -> list[ScaleLevel]:
    return list(
        db.session.scalars(
            sa.select(ScaleLevel)
            .where(ScaleLevel.cycle_id == cycle_id)
            .order_by(ScaleLevel.position)
        )
    )


@bp.get("/")
def console() -> str:
    moment = now()
    mine = db.session.scalars(
        sa.select(CaseSchedule).where(
            CaseSchedule.claimed_by == actor(),
            CaseSchedule.claimed_until > moment,
            CaseSchedule.state == ScheduleState.PENDING,
        )
    ).all()
    queue = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CaseSchedule)
        .where(
            CaseSchedule.channel == CallMode.CATI,
            CaseSchedule.state == ScheduleState.PENDING,
            sa.or_(CaseSchedule.next_attempt_at.is_(None), CaseSchedule.next_attempt_at <= moment),
        )
    )
    pending_callbacks = db.session.scalars(
        sa.select(QualityCallback)
        .where(QualityCallback.status == CallbackStatus.PENDING)
        .order_by(QualityCallback.id)
    ).all()
    cycles = db.session.scalars(sa.select(Cycle).order_by(Cycle.year.desc(), Cycle.id)).all()
    return render_template(
        "cati/console.html",
        mine=mine,
        queue=queue,
        pending_callbacks=pending_callbacks,
        cycles=cycles,
        form=ActionForm(),
        calling_hours=calling.calling_hours(db.session, moment),
    )


@bp.post("/claim")
def claim() -> Response:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    calling.ensure_schedules(db.session)
    claimed = calling.claim_due_cases(
        db.session,
        claimant=actor(),
        channel=CallMode.CATI,
        moment=now(),
        limit=1,
        lease=calling.INTERVIEWER_LEASE,
    )
    db.session.commit()
    if not claimed:
        flash(_("No case is due now."), "info")
        return redirect(url_for("cati.console"))
    return redirect(url_for("cati.case", case_id=claimed[0].case_id))


def _case_page(schedule: CaseSchedule, form: object | None = None, status: int = 200) -> ViewResult:
    case = schedule.case
    questions = calling.interview_plan(db.session, case)
    levels = _levels(case.cycle_id)
    attempts = db.session.scalars(
        sa.select(CallAttempt).where(CallAttempt.case_id == case.id).order_by(CallAttempt.id)
    ).all()
    cycle = db.session.get(Cycle, case.cycle_id)
    page = render_template(
        "cati/case.html",
        schedule=schedule,
        case=case,
        cycle=cycle,
        questions=questions,
        attempts=attempts,
        form=form or result_form(questions, levels),
        dial_form=ActionForm(),
        field_name=answer_field_name,
        settings=calling.phone_settings(db.session, case.cycle_id),
    )
    return (page, status) if status != 200 else page


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> ViewResult:
    return _case_page(_my_schedule(case_id))


@bp.post("/cases/<int:case_id>/dial")
def dial(case_id: int) -> Response:
    schedule = _my_schedule(case_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    plan = calling.start_attempt(
        db.session, schedule, mode=CallMode.CATI, placed_by=actor(), moment=now(), vault=vault()
    )
    if plan is None:
        db.session.commit()
        flash(_("This case must not be dialled now (window, attempts or do-not-call)."), "error")
        return redirect(url_for("cati.console"))
    # Keep the claim: the interviewer is on the call.
    schedule.claimed_by = actor()
    schedule.claimed_until = now() + calling.INTERVIEWER_LEASE
    request = dialling.prepare_call(db.session, plan, webhook_url, connect=True)
    # Committed before the provider can call back about the attempt, then what it answered.
    db.session.commit()
    placed = dialling.dial(db.session, telephony(), plan, request, clock=now)
    db.session.commit()
    if placed:
        flash(_("Dialling attempt %(number)d.", number=plan.attempt.number), "success")
    else:
        flash(_("The call could not be placed; the case will be retried."), "error")
    return redirect(url_for("cati.case", case_id=case_id))


@bp.post("/cases/<int:case_id>/result")
def result(case_id: int) -> ViewResult:
    schedule = _my_schedule(case_id)
    case = schedule.case
    questions = calling.interview_plan(db.session, case)
    levels = {level.id: level for level in _levels(case.cycle_id)}
    form = result_form(questions, list(levels.values()))
    if not form.validate_on_submit():
        return _case_page(schedule, form, 400)
    attempt = db.session.scalars(
        sa.select(CallAttempt)
        .where(CallAttempt.case_id == case.id, CallAttempt.mode == CallMode.CATI)
        .order_by(CallAttempt.id.desc())
        .limit(1)
    ).first()
    if attempt is None or attempt.disposition is not None:
        flash(_("Dial the case before setting a result."), "error")
        return _case_page(schedule, form, 400)
    code = str(form.disposition.data)
    moment = now()
    try:
        if code == codes.COMPLETE:
            answers: dict[tuple[int, int], int] = {}
            for question in questions:
                raw = getattr(form, answer_field_name(question.step)).data
                if not raw or int(raw) not in levels:
                    raise ServiceError(
                        N_("A complete interview needs every answer: %(q)s is empty."),
                        parameters={"q": f"{question.unit.name} · {question.item.name}"},
                    )
                answers[(question.unit.id, question.item.id)] = int(raw)
            calling.complete_interview(
                db.session,
                case.id,
                answers,
                channel=Channel.PHONE_CATI,
                moment=moment,
                attempt=attempt,
            )
        elif code == codes.RESPONDENT_UNAVAILABLE:
            if form.appointment_at.data is None:
                raise ServiceError(N_("An appointment needs a date and time."))
            settings = calling.phone_settings(db.session, case.cycle_id)
            local: datetime = form.appointment_at.data.replace(tzinfo=ZoneInfo(settings.timezone))
            calling.book_appointment(db.session, schedule, local, actor=actor())
            attempt.disposition = code
        elif code in codes.FINAL_CODES:
            attempt.disposition = code
            calling.finalise(db.session, schedule, code)
        else:
            attempt.disposition = code
            calling.schedule_retry(db.session, schedule, code, moment)
        attempt.ended_at = attempt.ended_at or moment
        if code != codes.COMPLETE:
            # A complete is recorded by its response's entry alone: one naming the case
            # beside it would link the two for good (the log is append-only).
            audit.record(
                db.session,
                actor=actor(),
                action="phone.cati_result",
                object_type="fieldwork_case",
                object_id=case.id,
                details={"disposition": code, "attempt": attempt.number},
            )
    except ServiceError as error:
        report(error, form)
        return _case_page(_my_schedule(case_id), form, 400)
    calling.release_claim(schedule)
    db.session.commit()
    flash(_("Result %(code)s saved.", code=disposition_label(code)), "success")
    return redirect(url_for("cati.console"))


@bp.get("/supervisor")
def supervisor() -> str:
    moment = now()
    day_start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    productivity = db.session.execute(
        sa.select(
            CallAttempt.placed_by,
            sa.func.count(),
            sa.func.sum(sa.case((CallAttempt.disposition == codes.COMPLETE, 1), else_=0)),
            sa.func.max(CallAttempt.started_at),
        )
        .where(CallAttempt.started_at >= day_start)
        .group_by(CallAttempt.placed_by)
        .order_by(CallAttempt.placed_by)
    ).all()
    open_cases = db.session.scalars(
        sa.select(CaseSchedule)
        .where(
            CaseSchedule.state == ScheduleState.PENDING,
            sa.or_(CaseSchedule.claimed_until > moment, CaseSchedule.appointment_at.is_not(None)),
        )
        .order_by(CaseSchedule.appointment_at, CaseSchedule.case_id)
    ).all()
    flagged = db.session.scalars(
        sa.select(QualityCallback)
        .where(QualityCallback.status == CallbackStatus.MISMATCH)
        .order_by(QualityCallback.id)
    ).all()
    return render_template(
        "cati/supervisor.html",
        productivity=productivity,
        stats=review.interviewer_stats(db.session),
        review_cycles=db.session.scalars(
            sa.select(Cycle)
            .where(Cycle.id.in_(sa.select(PhoneSettings.cycle_id)))
            .order_by(Cycle.id)
        ).all(),
        open_cases=open_cases,
        flagged=flagged,
        moment=moment,
        calling_hours=calling.calling_hours(db.session, moment),
    )


def _callback(callback_id: int) -> QualityCallback:
    callback = db.session.get(QualityCallback, callback_id)
    if callback is None:
        abort(404)
    return callback


def _callback_form(callback: QualityCallback) -> CallbackForm:
    form = CallbackForm()
    choices = [("", "—")] + [
        (str(level.id), f"{level.position} {level.label}")
        for level in _levels(callback.case.cycle_id)
    ]
    form.first_level_id.choices = choices
    form.second_level_id.choices = choices
    return form


def _callback_questions(callback: QualityCallback) -> list[str]:
    labels = []
    for answer_id in (callback.first_answer_id, callback.second_answer_id):
        answer = db.session.get(Answer, answer_id)
        assert answer is not None
        unit = db.session.get(Unit, answer.unit_id)
        item = db.session.get(Item, answer.item_id)
        labels.append(f"{unit.name if unit else ''} · {item.name if item else ''}")
    return labels


def _callback_page(callback: QualityCallback, form: CallbackForm, status: int = 200) -> ViewResult:
    page = render_template(
        "cati/callback.html",
        callback=callback,
        form=form,
        questions=_callback_questions(callback),
    )
    return (page, status) if status != 200 else page


@bp.get("/callbacks/<int:callback_id>")
def callback(callback_id: int) -> ViewResult:
    item = _callback(callback_id)
    return _callback_page(item, _callback_form(item))


@bp.post("/callbacks/<int:callback_id>")
def callback_result(callback_id: int) -> ViewResult:
    item = _callback(callback_id)
    form = _callback_form(item)
    if not form.validate_on_submit():
        return _callback_page(item, form, 400)
    try:
        callbacks.record_result(
            db.session,
            item,
            reached=bool(form.reached.data),
            confirmed=bool(form.confirmed.data),
            first_level_id=int(form.first_level_id.data) if form.first_level_id.data else None,
            second_level_id=int(form.second_level_id.data) if form.second_level_id.data else None,
            actor=actor(),
            moment=now(),
        )
    except ServiceError as error:
        report(error, form)
        return _callback_page(item, form, 400)
    db.session.commit()
    flash(
        _("Call-back result saved: %(status)s.", status=callback_status_label(item.status)),
        "success",
    )
    return redirect(url_for("cati.console"))
