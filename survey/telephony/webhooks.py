"""The keypad interview (IVR) in TwiML, and the call status / recording / inbound hooks.

Every step is idempotent per (CallSid, step): a retried or replayed delivery
finds the stored keypress and answers with the same next prompt.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response as HttpResponse
from flask import current_app, g, request
from sqlalchemy import orm
from twilio.twiml.voice_response import VoiceResponse

from survey.extensions import db
from survey.models import CallAttempt, CallMode, Channel, Cycle, FieldworkCase, ScaleLevel
from survey.services import calling
from survey.telephony import bp, webhook_url

LANGUAGE = "zh-CN"
#: Timeouts before the caller is told nothing was heard and the call ends.
MAX_PROMPT_TRIES = 3
GATHER_TIMEOUT_SECONDS = 8

CONSENT_MENU = (
    "同意参加请按1，不愿参加请按2，希望由访问员与您通话请按3，今后不再接听此类调查电话请按8。"
)
INVALID_KEY = "您的按键无效，请重新选择。"
THANKS = "调查结束，感谢您的支持，再见。"
REFUSED = "好的，打扰您了，再见。"
OPTED_OUT = "已将您的号码加入免打扰名单，今后不会再拨打。再见。"
INTERVIEWER = "好的，稍后将由访问员与您联系。再见。"
NO_INPUT = "没有收到您的按键，我们稍后再与您联系。再见。"
NOT_IN_SAMPLE = "您好，您的号码不在本次调查样本中，感谢您的来电，再见。"
INBOUND_MENU = "您好，这里是群众满意度调查。现在接受访问请按1，预约回电时间请按2。"
APPOINTMENT_MENU = "明天上午十点回电请按1，明天晚上七点回电请按2。"
APPOINTMENT_BOOKED = "好的，我们将按您预约的时间回电，再见。"


def _plan(case: FieldworkCase) -> list[calling.Question]:
    """The case's interview plan, computed once per request (a step needs it up to 3 times)."""
    plans: dict[int, list[calling.Question]] = g.setdefault("minyi_ivr_plans", {})
    if case.id not in plans:
        plans[case.id] = calling.interview_plan(db.session, case)
    return plans[case.id]


def _scale(cycle_id: int) -> dict[str, ScaleLevel]:
    """Keypad digit → scale level, read once per request."""
    scales: dict[int, dict[str, ScaleLevel]] = g.setdefault("minyi_ivr_scales", {})
    if cycle_id not in scales:
        scales[cycle_id] = calling.scale_by_key(db.session, cycle_id)
    return scales[cycle_id]


def _twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), mimetype="text/xml")


def _goodbye(text: str) -> HttpResponse:
    response = VoiceResponse()
    response.say(text, language=LANGUAGE)
    response.hangup()
    return _twiml(response)


def _hangup() -> HttpResponse:
    response = VoiceResponse()
    response.hangup()
    return _twiml(response)


def _attempt() -> CallAttempt | None:
    """The attempt the request is about; ``None`` for an unknown or mismatched CallSid."""
    call_sid = request.form.get("CallSid", "")
    attempt_id = request.args.get("attempt", type=int)
    if not call_sid or attempt_id is None:
        return None
    # With its case: every step reads it, and a join is one round trip less.
    attempt = db.session.get(CallAttempt, attempt_id, options=[orm.joinedload(CallAttempt.case)])
    if attempt is None:
        return None
    if attempt.call_sid is None:
        # The provider may call back before its answer to "create call" arrived.
        attempt.call_sid = call_sid
        db.session.flush()
    elif attempt.call_sid != call_sid:
        return None
    return attempt


def _gather(
    attempt: CallAttempt, step: str, text: str, tries: int = 0, prefix: str = ""
) -> HttpResponse:
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        action=webhook_url("ivr", attempt=attempt.id, step=step),
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
    )
    gather.say(prefix + text, language=LANGUAGE)
    # No key before the timeout: Twilio falls through to the redirect.
    response.redirect(
        webhook_url("prompt", attempt=attempt.id, step=step, tries=tries + 1), method="POST"
    )
    return _twiml(response)


def _introduction(attempt: CallAttempt) -> str:
    case = attempt.case
    cycle = db.session.get(Cycle, case.cycle_id)
    settings = calling.phone_settings(db.session, case.cycle_id)
    text = (
        f"您好，这里是{cycle.name if cycle else ''}群众满意度调查，由第三方调查机构开展。"
        "调查匿名进行，大约需要两分钟。"
    )
    if settings.record_calls:
        text += f"本次通话将被录音，仅用于质量核查，{settings.recording_retention_days}天后删除。"
    return text + CONSENT_MENU


def _question_text(attempt: CallAttempt, question: calling.Question) -> str:
    levels = _scale(attempt.case.cycle_id)
    keys = "，".join(f"{level.label}请按{key}" for key, level in sorted(levels.items()))
    return f"请评价{question.unit.name}的{question.item.name}：{keys}，重听请按0。"


def _prompt_for(attempt: CallAttempt, step: str, tries: int = 0, prefix: str = "") -> HttpResponse:
    if step == calling.CONSENT_STEP:
        return _gather(attempt, step, _introduction(attempt), tries, prefix)
    for question in _plan(attempt.case):
        if question.step == step:
            return _gather(attempt, step, _question_text(attempt, question), tries, prefix)
    return _next(attempt)


def _next(attempt: CallAttempt) -> HttpResponse:
    """The next unanswered step of the call, or the end of the interview."""
    case: FieldworkCase = attempt.case
    if case.response_id is not None:
        return _goodbye(THANKS)
    assert attempt.call_sid is not None
    steps = calling.stored_steps(db.session, attempt.call_sid)
    consent = steps.get(calling.CONSENT_STEP)
    if consent is None:
        return _prompt_for(attempt, calling.CONSENT_STEP)
    if consent == calling.KEY_REFUSE:
        return _goodbye(REFUSED)
    if consent == calling.KEY_OPT_OUT:
        return _goodbye(OPTED_OUT)
    if consent == calling.KEY_INTERVIEWER:
        return _goodbye(INTERVIEWER)
    plan = _plan(case)
    for question in plan:
        if question.step not in steps:
            return _prompt_for(attempt, question.step)
    levels = _scale(case.cycle_id)
    answers = {(q.unit.id, q.item.id): levels[steps[q.step]].id for q in plan}
    calling.complete_interview(
        db.session,
        case.id,
        answers,
        channel=Channel.PHONE_IVR,
        actor="ivr",
        moment=calling.now(),
        attempt=attempt,
    )
    return _goodbye(THANKS)


@bp.post("/voice")
def voice() -> HttpResponse:
    """Answer URL of an outbound call: introduction and consent."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    answered_by = request.form.get("AnsweredBy", "")
    if answered_by:
        attempt.answered_by = answered_by
    if answered_by.startswith("machine") or answered_by == "fax":
        # Leave no message: the number is retried later (AAPOR 3.14 meanwhile).
        result = _hangup()
    else:
        attempt.status = "in-progress"
        result = _next(attempt)
    db.session.commit()
    return result


@bp.post("/ivr")
def ivr() -> HttpResponse:
    """A keypress for one step (Gather action)."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    step = request.args.get("step", "")
    digits = request.form.get("Digits", "")
    case = attempt.case
    assert attempt.call_sid is not None
    if case.response_id is not None:
        result = _goodbye(THANKS)
    elif step == calling.CONSENT_STEP:
        allowed = {
            calling.KEY_AGREE,
            calling.KEY_REFUSE,
            calling.KEY_INTERVIEWER,
            calling.KEY_OPT_OUT,
        }
        if digits not in allowed:
            result = _prompt_for(attempt, step, prefix=INVALID_KEY)
        else:
            stored = calling.record_step(db.session, attempt, attempt.call_sid, step, digits)
            if stored in (calling.KEY_REFUSE, calling.KEY_OPT_OUT):
                calling.refuse(
                    db.session, attempt, opt_out=stored == calling.KEY_OPT_OUT, actor="ivr"
                )
            elif stored == calling.KEY_INTERVIEWER:
                calling.route_to_interviewer(db.session, attempt, calling.now())
            result = _next(attempt)
    else:
        steps = {q.step for q in _plan(case)}
        keys = set(_scale(case.cycle_id))
        if step not in steps:
            result = _next(attempt)
        elif digits == calling.KEY_REPEAT:
            result = _prompt_for(attempt, step)
        elif digits not in keys:
            result = _prompt_for(attempt, step, prefix=INVALID_KEY)
        else:
            calling.record_step(db.session, attempt, attempt.call_sid, step, digits)
            result = _next(attempt)
    db.session.commit()
    return result


@bp.post("/prompt")
def prompt() -> HttpResponse:
    """Redirect fallback after a Gather timed out: prompt again, then give up."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    tries = request.args.get("tries", default=1, type=int)
    if tries >= MAX_PROMPT_TRIES:
        result = _goodbye(NO_INPUT)
    else:
        result = _prompt_for(attempt, request.args.get("step", ""), tries)
    db.session.commit()
    return result


@bp.post("/connect")
def connect() -> HttpResponse:
    """Answer URL of an interviewer's call: hold, then bridge to the interviewers' line."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    attempt.status = "in-progress"
    response = VoiceResponse()
    response.say("您好，这里是群众满意度调查，访问员马上为您服务，请稍候。", language=LANGUAGE)
    agent_number = current_app.config.get("CATI_AGENT_NUMBER")
    if agent_number:
        response.dial(str(agent_number))
    db.session.commit()
    return _twiml(response)


@bp.post("/status")
def status() -> tuple[str, int]:
    """Status callback: the call ended (completed, busy, no-answer, failed, canceled)."""
    attempt = _attempt()
    if attempt is not None:
        calling.apply_call_status(
            db.session,
            attempt,
            request.form.get("CallStatus", ""),
            request.form.get("AnsweredBy") or None,
            calling.now(),
        )
        db.session.commit()
    return "", 204


@bp.post("/recording")
def recording() -> tuple[str, int]:
    """Recording status callback: keep the recording's id for the retention purge."""
    attempt = _attempt()
    if attempt is not None and request.form.get("RecordingSid"):
        attempt.recording_sid = request.form["RecordingSid"]
        attempt.recording_url = request.form.get("RecordingUrl", "")[:500]
        db.session.commit()
    return "", 204


@bp.post("/inbound")
def inbound() -> HttpResponse:
    """A respondent calls the survey number back: matched by the keyed hash of the caller ID."""
    call_sid = request.form.get("CallSid", "")
    if not call_sid:
        return _hangup()
    attempt = db.session.query(CallAttempt).filter_by(call_sid=call_sid).one_or_none()
    if attempt is None:
        case = calling.find_case_by_caller(db.session, request.form.get("From", ""))
        if case is None:
            return _goodbye(NOT_IN_SAMPLE)
        number = db.session.query(CallAttempt).filter_by(case_id=case.id).count() + 1
        attempt = CallAttempt(
            case_id=case.id,
            number=number,
            mode=CallMode.INBOUND,
            call_sid=call_sid,
            placed_by="inbound",
            started_at=calling.now(),
            status="in-progress",
        )
        db.session.add(attempt)
        db.session.flush()
    response = VoiceResponse()
    gather = response.gather(
        num_digits=1,
        action=webhook_url("inbound_menu", attempt=attempt.id),
        method="POST",
        timeout=GATHER_TIMEOUT_SECONDS,
    )
    gather.say(INBOUND_MENU, language=LANGUAGE)
    response.redirect(webhook_url("inbound_menu", attempt=attempt.id), method="POST")
    db.session.commit()
    return _twiml(response)


def _tomorrow_at(hour: int, zone: str) -> datetime:
    local = calling.now().astimezone(ZoneInfo(zone)) + timedelta(days=1)
    return datetime.combine(local.date(), time(hour, 0), tzinfo=ZoneInfo(zone))


@bp.post("/inbound/menu")
def inbound_menu() -> HttpResponse:
    """Take the interview now (1) or book an appointment (2, then 1 or 2 for the time)."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    digits = request.form.get("Digits", "")
    stage = request.args.get("stage", "")
    assert attempt.call_sid is not None
    if stage == "appointment" and digits in ("1", "2"):
        stored = calling.record_step(db.session, attempt, attempt.call_sid, "appointment", digits)
        settings = calling.phone_settings(db.session, attempt.case.cycle_id)
        at = _tomorrow_at(10 if stored == "1" else 19, settings.timezone)
        schedule = calling.schedule_of(db.session, attempt.case_id)
        if schedule.appointment_at is None or attempt.disposition is None:
            calling.book_appointment(db.session, schedule, at, actor="inbound")
            attempt.disposition = schedule.case.disposition
        result = _goodbye(APPOINTMENT_BOOKED)
    elif stage != "appointment" and digits == "1":
        result = _next(attempt)
    elif digits == "2" or stage == "appointment":
        response = VoiceResponse()
        gather = response.gather(
            num_digits=1,
            action=webhook_url("inbound_menu", attempt=attempt.id, stage="appointment"),
            method="POST",
            timeout=GATHER_TIMEOUT_SECONDS,
        )
        gather.say(APPOINTMENT_MENU, language=LANGUAGE)
        response.hangup()
        result = _twiml(response)
    else:
        result = _goodbye(NO_INPUT)
    db.session.commit()
    return result
