"""The keypad interview (IVR) in TwiML, and the call status / recording / inbound hooks.

Every step is idempotent per (CallSid, step): a retried or replayed delivery
finds the stored keypress and answers with the same next prompt.

A keypress is the hot path (50 calls at once press a key every few seconds):
the attempt, its case, the cycle's name, the phone settings and the call's
stored keys come in one query; the units, items and scale, frozen once
fieldwork starts, are read once per process (:func:`calling.keypad_setup`);
a new key is one ``INSERT … ON CONFLICT DO NOTHING``; then one commit.

The interview plan is fixed per call: the number of units asked about is
taken from the phone settings when the call is answered and then travels in
every URL handed to the provider (``units=``), which the provider signs, so
changing the settings mid-call does not change the questions of that call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response as HttpResponse
from flask import current_app, request

from survey.clock import now
from survey.extensions import db
from survey.models import (
    CallAttempt,
    CallMode,
    Channel,
    Cycle,
    CycleStatus,
    FieldworkCase,
    PhoneSettings,
)
from survey.privacy import vault
from survey.security import MAX_URL_INTEGER
from survey.services import calling
from survey.services import dispositions as codes
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
CLOSED = "本次调查已经结束，感谢您的支持，再见。"
REFUSED = "好的，打扰您了，再见。"
OPTED_OUT = "已将您的号码加入免打扰名单，今后不会再拨打。再见。"
INTERVIEWER = "好的，稍后将由访问员与您联系。再见。"
NO_INPUT = "没有收到您的按键，我们稍后再与您联系。再见。"
NOT_IN_SAMPLE = "您好，您的号码不在本次调查样本中，感谢您的来电，再见。"
INBOUND_MENU = "您好，这里是群众满意度调查。现在接受访问请按1，预约回电时间请按2。"
APPOINTMENT_MENU = "明天上午十点回电请按1，明天晚上七点回电请按2。"
APPOINTMENT_BOOKED = "好的，我们将按您预约的时间回电，再见。"
CONNECTING = "您好，这里是群众满意度调查，访问员马上为您服务，请稍候。"
CONSENT_KEYS = frozenset(
    {calling.KEY_AGREE, calling.KEY_REFUSE, calling.KEY_INTERVIEWER, calling.KEY_OPT_OUT}
)

# --- TwiML -------------------------------------------------------------------------
# Written as strings: the documents are a handful of fixed verbs, and building
# them through the twilio helper's element tree cost more than the rest of a step.

_ATTRIBUTE = {'"': "&quot;"}


def _twiml(*verbs: str) -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"
    return HttpResponse(body, mimetype="text/xml")


def _say(text: str) -> str:
    return f'<Say language="{LANGUAGE}">{escape(text)}</Say>'


def _gather_verb(action: str, text: str) -> str:
    return (
        f'<Gather action="{escape(action, _ATTRIBUTE)}" method="POST" numDigits="1" '
        f'timeout="{GATHER_TIMEOUT_SECONDS}">{_say(text)}</Gather>'
    )


def _redirect_verb(url: str) -> str:
    return f'<Redirect method="POST">{escape(url)}</Redirect>'


HANGUP = "<Hangup />"


def _goodbye(text: str) -> HttpResponse:
    return _twiml(_say(text), HANGUP)


def _hangup() -> HttpResponse:
    return _twiml(HANGUP)


# --- the call a request is about -----------------------------------------------------


@functools.cache
def _call_query() -> sa.Select[
    CallAttempt, FieldworkCase, str, CycleStatus, str | None, int, bool, int, str
]:
    """Built once: constructing the statement costs more than running it."""
    return (
        sa.select(
            CallAttempt,
            FieldworkCase,
            Cycle.name,
            Cycle.status,
            Cycle.unit_key,
            PhoneSettings.units_per_interview,
            PhoneSettings.record_calls,
            PhoneSettings.recording_retention_days,
            calling.packed_steps(sa.bindparam("call_sid")),
        )
        .join(FieldworkCase, FieldworkCase.id == CallAttempt.case_id)
        .join(Cycle, Cycle.id == FieldworkCase.cycle_id)
        .outerjoin(PhoneSettings, PhoneSettings.cycle_id == FieldworkCase.cycle_id)
        .where(CallAttempt.id == sa.bindparam("attempt_id"))
    )


@dataclass
class Call:
    """An attempt with what its webhooks need, read in one query."""

    attempt: CallAttempt
    case: FieldworkCase
    call_sid: str
    cycle_name: str
    cycle_status: CycleStatus
    unit_key: str | None
    #: Units asked about in this call (fixed when the call is answered).
    units_per_interview: int
    record_calls: bool
    retention_days: int
    #: Stored keypresses of the call: step → digits.
    steps: dict[str, str]

    @cached_property
    def setup(self) -> calling.KeypadSetup:
        return calling.keypad_setup(db.session, self.case.cycle_id, self.cycle_status)

    @cached_property
    def plan(self) -> list[calling.KeypadQuestion]:
        return self.setup.plan(
            calling.rotation_seed(self.unit_key, self.case.id), self.units_per_interview
        )

    def question(self, step: str) -> calling.KeypadQuestion | None:
        return next((question for question in self.plan if question.step == step), None)

    @property
    def completed(self) -> bool:
        """The case has its complete response (a partial one may still be completed)."""
        return self.case.response_id is not None and self.case.disposition != codes.PARTIAL

    def url(self, name: str, **params: object) -> str:
        """A webhook URL of this call, carrying its plan."""
        return webhook_url(name, attempt=self.attempt.id, units=self.units_per_interview, **params)


def _call() -> Call | None:
    """The call the request is about; ``None`` for an unknown or mismatched CallSid."""
    call_sid = request.form.get("CallSid", "")
    attempt_id = request.args.get("attempt", type=int)
    if not call_sid or attempt_id is None or not 0 < attempt_id <= MAX_URL_INTEGER:
        return None
    row = db.session.execute(
        _call_query(), {"attempt_id": attempt_id, "call_sid": call_sid}
    ).first()
    if row is None:
        return None
    attempt, case, cycle_name, cycle_status, unit_key, units, record_calls, retention, steps = row
    if attempt.call_sid is None:
        # The provider may call back before its answer to "create call" arrived.
        attempt.call_sid = call_sid
    elif attempt.call_sid != call_sid:
        return None
    if units is None:
        settings = calling.phone_settings(db.session, case.cycle_id)
        units = settings.units_per_interview
        record_calls, retention = settings.record_calls, settings.recording_retention_days
    fixed = request.args.get("units", type=int)
    stored = calling.parse_steps(steps)
    if case.disposition in (codes.PARTIAL, codes.BREAK_OFF):
        # An interrupted interview resumes: the answers of the case's earlier calls count.
        stored = {**calling.case_answers(db.session, case.id), **stored}
    return Call(
        attempt=attempt,
        case=case,
        call_sid=call_sid,
        cycle_name=cycle_name,
        cycle_status=cycle_status,
        unit_key=unit_key,
        units_per_interview=fixed if fixed is not None and fixed > 0 else units,
        record_calls=record_calls,
        retention_days=retention,
        steps=stored,
    )


def _attempt() -> CallAttempt | None:
    call = _call()
    return call.attempt if call is not None else None


# --- the interview -------------------------------------------------------------------


def _gather(call: Call, step: str, text: str, tries: int = 0, prefix: str = "") -> HttpResponse:
    # No key before the timeout: the provider falls through to the redirect.
    return _twiml(
        _gather_verb(call.url("ivr", step=step), prefix + text),
        _redirect_verb(call.url("prompt", step=step, tries=tries + 1)),
    )


def _introduction(call: Call) -> str:
    text = (
        f"您好，这里是{call.cycle_name}群众满意度调查，由第三方调查机构开展。"
        "调查匿名进行，大约需要两分钟。"
    )
    if call.record_calls:
        text += f"本次通话将被录音，仅用于质量核查，{call.retention_days}天后删除。"
    return text + CONSENT_MENU


def _prompt_for(call: Call, step: str, tries: int = 0, prefix: str = "") -> HttpResponse:
    if step == calling.CONSENT_STEP:
        return _gather(call, step, _introduction(call), tries, prefix)
    question = call.question(step)
    if question is not None:
        return _gather(call, step, question.text, tries, prefix)
    return _next(call)


def _next(call: Call) -> HttpResponse:
    """The next unanswered step of the call, or the end of the interview."""
    if call.completed:
        return _goodbye(THANKS)
    if call.cycle_status not in calling.CALLING_STATUSES:
        return _goodbye(CLOSED)
    steps = call.steps
    consent = steps.get(calling.CONSENT_STEP)
    if consent is None:
        return _prompt_for(call, calling.CONSENT_STEP)
    if consent == calling.KEY_REFUSE:
        return _goodbye(REFUSED)
    if consent == calling.KEY_OPT_OUT:
        return _goodbye(OPTED_OUT)
    if consent == calling.KEY_INTERVIEWER:
        return _goodbye(INTERVIEWER)
    for question in call.plan:
        if question.step not in steps:
            return _gather(call, question.step, question.text)
    levels = call.setup.level_ids
    answers = {(q.unit_id, q.item_id): levels[steps[q.step]] for q in call.plan}
    calling.complete_interview(
        db.session,
        call.case.id,
        answers,
        channel=Channel.PHONE_IVR,
        moment=now(),
        attempt=call.attempt,
    )
    return _goodbye(THANKS)


def _record(call: Call, step: str, digits: str) -> str:
    """Store the key once (the call's stored keys were read with the call)."""
    stored = call.steps.get(step)
    if stored is None:
        stored = calling.record_step(db.session, call.attempt, call.call_sid, step, digits)
        call.steps[step] = stored
    return stored


@bp.post("/voice")
def voice() -> HttpResponse:
    """Answer URL of an outbound call: introduction and consent."""
    call = _call()
    if call is None:
        return _hangup()
    attempt = call.attempt
    answered_by = request.form.get("AnsweredBy", "")
    if answered_by:
        attempt.answered_by = answered_by
    if answered_by.startswith("machine") or answered_by == "fax":
        # Leave no message: the number is retried later (AAPOR 3.14 meanwhile).
        result = _hangup()
    else:
        attempt.status = "in-progress"
        result = _next(call)
    db.session.commit()
    return result


@bp.post("/ivr")
def ivr() -> HttpResponse:
    """A keypress for one step (Gather action)."""
    call = _call()
    if call is None:
        return _hangup()
    step = request.args.get("step", "")
    digits = request.form.get("Digits", "")
    if request.form.get("CallStatus", "") in calling.TERMINAL_STATUSES:
        # Digits Twilio submits after the caller hung up: nobody heard a question or
        # confirmed the key, so nothing is stored.
        result = _hangup()
    elif call.completed:
        result = _goodbye(THANKS)
    elif step == calling.CONSENT_STEP:
        if digits not in CONSENT_KEYS:
            result = _prompt_for(call, step, prefix=INVALID_KEY)
        else:
            # A replay finds the key among the call's stored keys: the delivery that
            # stored it acted on it in the same transaction.
            replayed = step in call.steps
            stored = _record(call, step, digits)
            if replayed:
                pass
            elif stored in (calling.KEY_REFUSE, calling.KEY_OPT_OUT):
                calling.refuse(
                    db.session, call.attempt, opt_out=stored == calling.KEY_OPT_OUT, actor="ivr"
                )
            elif stored == calling.KEY_INTERVIEWER:
                calling.route_to_interviewer(db.session, call.attempt, now())
            result = _next(call)
    else:
        question = call.question(step)
        if question is None:
            result = _next(call)
        elif digits == calling.KEY_REPEAT:
            result = _gather(call, step, question.text)
        elif digits not in call.setup.level_ids:
            result = _gather(call, step, question.text, prefix=INVALID_KEY)
        else:
            _record(call, step, digits)
            result = _next(call)
    db.session.commit()
    return result


@bp.post("/prompt")
def prompt() -> HttpResponse:
    """Redirect fallback after a Gather timed out: prompt again, then give up."""
    call = _call()
    if call is None:
        return _hangup()
    tries = request.args.get("tries", default=1, type=int)
    if tries >= MAX_PROMPT_TRIES:
        # The caller was promised a later call: the status callback schedules it.
        _record(call, calling.SILENCE_STEP, str(tries)[:8])
        result = _goodbye(NO_INPUT)
    else:
        result = _prompt_for(call, request.args.get("step", ""), tries)
    db.session.commit()
    return result


@bp.post("/connect")
def connect() -> HttpResponse:
    """Answer URL of an interviewer's call: hold, then bridge to the interviewers' line."""
    attempt = _attempt()
    if attempt is None:
        return _hangup()
    attempt.status = "in-progress"
    verbs = [_say(CONNECTING)]
    agent_number = current_app.config.get("CATI_AGENT_NUMBER")
    if agent_number:
        verbs.append(f"<Dial>{escape(str(agent_number))}</Dial>")
    db.session.commit()
    return _twiml(*verbs)


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
            now(),
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
        case = calling.find_case_by_caller(db.session, vault(), request.form.get("From", ""))
        if case is None:
            return _goodbye(NOT_IN_SAMPLE)
        number = db.session.query(CallAttempt).filter_by(case_id=case.id).count() + 1
        attempt = CallAttempt(
            case_id=case.id,
            number=number,
            mode=CallMode.INBOUND,
            call_sid=call_sid,
            placed_by="inbound",
            started_at=now(),
            status="in-progress",
        )
        db.session.add(attempt)
        db.session.flush()
    menu = webhook_url("inbound_menu", attempt=attempt.id)
    db.session.commit()
    return _twiml(_gather_verb(menu, INBOUND_MENU), _redirect_verb(menu))


def _tomorrow_at(hour: int, zone: str) -> datetime:
    local = now().astimezone(ZoneInfo(zone)) + timedelta(days=1)
    return datetime.combine(local.date(), time(hour, 0), tzinfo=ZoneInfo(zone))


@bp.post("/inbound/menu")
def inbound_menu() -> HttpResponse:
    """Take the interview now (1) or book an appointment (2, then 1 or 2 for the time)."""
    call = _call()
    if call is None:
        return _hangup()
    attempt = call.attempt
    digits = request.form.get("Digits", "")
    stage = request.args.get("stage", "")
    if stage == "appointment" and digits in ("1", "2"):
        stored = _record(call, "appointment", digits)
        settings = calling.phone_settings(db.session, call.case.cycle_id)
        at = _tomorrow_at(10 if stored == "1" else 19, settings.timezone)
        schedule = calling.schedule_of(db.session, attempt.case_id)
        if schedule.appointment_at is None or attempt.disposition is None:
            calling.book_appointment(db.session, schedule, at, actor="inbound")
            attempt.disposition = schedule.case.disposition
        result = _goodbye(APPOINTMENT_BOOKED)
    elif stage != "appointment" and digits == "1":
        result = _next(call)
    elif digits == "2" or stage == "appointment":
        action = webhook_url("inbound_menu", attempt=attempt.id, stage="appointment")
        result = _twiml(_gather_verb(action, APPOINTMENT_MENU), HANGUP)
    else:
        result = _goodbye(NO_INPUT)
    db.session.commit()
    return result
