"""SMS invitations (短信邀请), recordings (录音) and reviews (复核) of interviewers' work."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.cati import bp
from survey.cati.qc_forms import ReviewDrawForm, ReviewResultForm, SmsBatchForm
from survey.clock import now
from survey.extensions import db
from survey.fieldwork.printables_views import _public_url
from survey.integrations.telephony import telephony
from survey.models import (
    CallAttempt,
    Cycle,
    FieldworkCase,
    InterviewReview,
    ReviewDraw,
    ReviewStatus,
    SampleDraw,
    SamplingFrame,
    VoidedResponse,
)
from survey.privacy import vault
from survey.services import calling, review, sms_invitations
from survey.services.errors import ServiceError


def _draws(cycle: Cycle) -> list[SampleDraw]:
    return list(
        db.session.scalars(
            sa.select(SampleDraw)
            .join(SamplingFrame, SamplingFrame.id == SampleDraw.frame_id)
            .where(SamplingFrame.cycle_id == cycle.id)
            .order_by(SampleDraw.id)
        )
    )


def _sms_form(cycle: Cycle, draws: list[SampleDraw]) -> SmsBatchForm:
    form = SmsBatchForm()
    form.draw_id.choices = [
        SelectChoice(  # type: ignore[arg-type]
            draw.id, _("Draw %(id)d of frame “%(frame)s”", id=draw.id, frame=draw.frame.name)
        )
        for draw in draws
    ]
    return form


def _sms_page(cycle: Cycle, form: SmsBatchForm | None = None, status: int = 200) -> ViewResult:
    draws = _draws(cycle)
    form = form or _sms_form(cycle, draws)
    settings = calling.phone_settings(db.session, cycle.id)
    moment = now()
    page = render_template(
        "cati/sms.html",
        cycle=cycle,
        form=form,
        previews=[(draw, sms_invitations.preview(db.session, draw)) for draw in draws],
        summary=sms_invitations.summary(db.session, cycle.id),
        in_window=calling.in_calling_window(settings, moment),
        next_window=calling.next_window_start(settings, moment),
        template=sms_invitations.SMS_TEMPLATE,
    )
    return (page, status) if status != 200 else page


@bp.get("/cycles/<int:cycle_id>/sms")
def sms(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    page = _sms_page(cycle)
    db.session.commit()  # phone settings are created with their defaults on first use
    return page


@bp.post("/cycles/<int:cycle_id>/sms")
def send_sms_batch(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = _sms_form(cycle, _draws(cycle))
    if not form.validate_on_submit():
        return _sms_page(cycle, form, 400)
    draw = db.session.get(SampleDraw, form.draw_id.data)
    if draw is None:
        abort(404)
    moment = now()
    try:
        batch = sms_invitations.prepare_batch(db.session, cycle, draw, actor=actor(), moment=moment)
    except ServiceError as error:
        report(error, form)
        return _sms_page(cycle, form, 400)
    # Committed before the provider is called: a status callback finds its message;
    # and no transaction is open during the network calls (dialling's pattern).
    db.session.commit()
    messages = sms_invitations.outgoing(
        db.session,
        vault(),
        current_app.config,
        batch.messages,
        link=lambda token: _public_url("respondent.invitation", token=token),
    )
    db.session.commit()
    results = sms_invitations.hand_over(telephony(), messages)
    accepted, failed = sms_invitations.record_handover(db.session, results, moment)
    db.session.commit()
    flash(
        _(
            "%(accepted)d SMS invitations sent, %(failed)d failed; skipped: %(dnc)d on the"
            " do-not-call list, %(invited)d already invited, %(answered)d already answered.",
            accepted=accepted,
            failed=failed,
            dnc=batch.skipped_do_not_call,
            invited=batch.skipped_invited,
            answered=batch.skipped_answered,
        ),
        "success" if not failed else "warning",
    )
    return redirect(url_for("cati.sms", cycle_id=cycle.id))


@bp.get("/recordings")
def recordings() -> str:
    """Kept call recordings (the retention purge clears deleted ones), newest first."""
    attempts = db.session.scalars(
        sa.select(CallAttempt)
        .where(CallAttempt.recording_url.is_not(None), CallAttempt.recording_deleted_at.is_(None))
        .order_by(CallAttempt.started_at.desc(), CallAttempt.id.desc())
        .limit(500)
    ).all()
    deleted = db.session.scalar(
        sa.select(sa.func.count()).where(CallAttempt.recording_deleted_at.is_not(None))
    )
    return render_template("cati/recordings.html", attempts=attempts, deleted=deleted or 0)


def _draw_form(cycle: Cycle) -> ReviewDrawForm:
    form = ReviewDrawForm()
    if not form.is_submitted():
        form.flagged.data = "\n".join(review.flagged_interviewers(db.session, cycle.id))
    return form


def _reviews_page(cycle: Cycle, form: ReviewDrawForm, status: int = 200) -> ViewResult:
    draws = db.session.scalars(
        sa.select(ReviewDraw).where(ReviewDraw.cycle_id == cycle.id).order_by(ReviewDraw.id)
    ).all()
    reviews = db.session.scalars(
        sa.select(InterviewReview)
        .join(ReviewDraw, ReviewDraw.id == InterviewReview.draw_id)
        .where(ReviewDraw.cycle_id == cycle.id)
        .order_by(InterviewReview.id)
    ).all()
    voided = db.session.scalars(
        sa.select(VoidedResponse)
        .where(VoidedResponse.cycle_id == cycle.id)
        .order_by(VoidedResponse.voided_at)
    ).all()
    page = render_template(
        "cati/reviews.html",
        cycle=cycle,
        form=form,
        draws=draws,
        flagged_of={draw.id: json.loads(draw.flagged_interviewers) for draw in draws},
        reviews=reviews,
        voided=voided,
        stats=review.interviewer_stats(db.session, cycle.id),
        waiting=len(review.population(db.session, cycle.id)),
    )
    return (page, status) if status != 200 else page


@bp.get("/cycles/<int:cycle_id>/reviews")
def reviews(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    return _reviews_page(cycle, _draw_form(cycle))


@bp.post("/cycles/<int:cycle_id>/reviews")
def draw_reviews(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = _draw_form(cycle)
    if not form.validate_on_submit():
        return _reviews_page(cycle, form, 400)
    settings = calling.phone_settings(db.session, cycle.id)
    moment = now()
    try:
        draw = review.draw_review(
            db.session,
            cycle.id,
            seed=form.seed.data or "",
            seed_source=form.seed_source.data or "",
            seed_event_date=form.seed_event_date.data,
            base_rate=float(form.base_rate.data),
            flagged_rate=float(form.flagged_rate.data),
            flagged=(form.flagged.data or "").splitlines(),
            actor=actor(),
            moment=moment,
            today=calling.as_utc(moment).astimezone(ZoneInfo(settings.timezone)).date(),
        )
    except ServiceError as error:
        report(error, form)
        return _reviews_page(cycle, form, 400)
    db.session.commit()
    flash(_("Review sample drawn: %(count)d interviews.", count=draw.selected), "success")
    return redirect(url_for("cati.reviews", cycle_id=cycle.id))


def _review(review_id: int) -> InterviewReview:
    item = db.session.get(InterviewReview, review_id)
    if item is None:
        abort(404)
    return item


def _review_page(item: InterviewReview, form: ReviewResultForm, status: int = 200) -> ViewResult:
    attempts = db.session.scalars(
        sa.select(CallAttempt).where(CallAttempt.case_id == item.case_id).order_by(CallAttempt.id)
    ).all()
    page = render_template(
        "cati/review.html",
        item=item,
        form=form,
        attempts=attempts,
        voided=db.session.get(VoidedResponse, item.response_id),
    )
    return (page, status) if status != 200 else page


@bp.get("/reviews/<int:review_id>")
def review_case(review_id: int) -> ViewResult:
    item = _review(review_id)
    return _review_page(item, ReviewResultForm())


@bp.post("/reviews/<int:review_id>")
def review_result(review_id: int) -> ViewResult:
    item = _review(review_id)
    form = ReviewResultForm()
    if not form.validate_on_submit():
        return _review_page(item, form, 400)
    try:
        review.record_review(
            db.session,
            item,
            status=ReviewStatus(form.status.data),
            notes=form.notes.data or "",
            void=bool(form.void.data),
            actor=actor(),
            moment=now(),
        )
    except ServiceError as error:
        report(error, form)
        return _review_page(item, form, 400)
    db.session.commit()
    case = db.session.get(FieldworkCase, item.case_id)
    assert case is not None
    flash(_("Review outcome saved."), "success")
    return redirect(url_for("cati.reviews", cycle_id=case.cycle_id))
