"""Calling (电话调查): windows, claims, attempts, outcomes and the phone interview.

Services flush, never commit.  Time comes from :func:`now`, which tests
replace through ``app.config["CLOCK"]`` so calling windows are deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from survey.models import (
    Answer,
    CallAttempt,
    CallMode,
    CaseSchedule,
    Channel,
    Cycle,
    CycleStatus,
    DoNotCallEntry,
    DoNotCallSource,
    FieldworkCase,
    FrameContact,
    Item,
    IvrStep,
    PhoneSettings,
    Response,
    SampleDraw,
    SamplingFrame,
    ScaleLevel,
    ScheduleState,
    Unit,
)
from survey.models.base import as_utc
from survey.privacy import InvalidPhoneNumber, Vault, normalise_phone
from survey.services import audit
from survey.services import dispositions as codes
from survey.services.errors import N_, Problem, ServiceError, ValidationError
from survey.services.responses import submission_entry

CONSENT_STEP = "consent"
#: Keys of the consent menu.
KEY_AGREE, KEY_REFUSE, KEY_INTERVIEWER, KEY_OPT_OUT = "1", "2", "3", "8"
KEY_DONT_KNOW, KEY_REPEAT = "9", "0"
RATING_KEYS = frozenset("12345")
#: Provider call statuses after which no further webhook comes for the call.
TERMINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
#: Cycles whose cases may be called and interviewed: not once fieldwork has closed.
CALLING_STATUSES = (CycleStatus.DRAFT, CycleStatus.FIELDING)
#: How long a claimed case stays with its worker or interviewer.
WORKER_LEASE = timedelta(minutes=10)
INTERVIEWER_LEASE = timedelta(minutes=30)


# --- settings and calling windows -------------------------------------------------


def phone_settings(session: orm.Session, cycle_id: int) -> PhoneSettings:
    """The cycle's phone settings, created with the defaults on first use."""
    settings = session.scalars(
        sa.select(PhoneSettings).where(PhoneSettings.cycle_id == cycle_id)
    ).one_or_none()
    if settings is None:
        settings = PhoneSettings(cycle_id=cycle_id)
        session.add(settings)
        session.flush()
    return settings


def _window(settings: PhoneSettings, local: datetime) -> tuple[datetime, datetime]:
    weekend = local.weekday() >= 5
    start = settings.weekend_start if weekend else settings.weekday_start
    end = settings.weekend_end if weekend else settings.weekday_end
    day = local.date()
    zone = local.tzinfo
    return (
        datetime.combine(day, start, tzinfo=zone),
        datetime.combine(day, end, tzinfo=zone),
    )


def in_calling_window(settings: PhoneSettings, moment: datetime) -> bool:
    """Whether ``moment`` is inside the respondent's local calling window."""
    local = as_utc(moment).astimezone(ZoneInfo(settings.timezone))
    start, end = _window(settings, local)
    return start <= local < end


def next_window_start(settings: PhoneSettings, moment: datetime) -> datetime:
    """``moment`` if inside a window, else the start of the next window (UTC)."""
    local = as_utc(moment).astimezone(ZoneInfo(settings.timezone))
    for day_offset in range(8):
        day = local + timedelta(days=day_offset)
        start, end = _window(settings, day)
        if day_offset == 0 and start <= local < end:
            return as_utc(moment)
        if local < start:
            return start.astimezone(UTC)
    raise ServiceError(N_("The calling windows have no opening in the coming week."))


@dataclass(frozen=True)
class CallingHours:
    """A cycle's calling windows as the interviewers' pages state them."""

    cycle_name: str
    timezone: str
    weekday: str
    weekend: str
    open_now: bool
    #: The next opening (UTC) when closed now.
    opens_at: datetime | None


def calling_hours(session: orm.Session, moment: datetime) -> list[CallingHours]:
    """The calling windows of every cycle that is calling, read only.

    Interviewers see why a due case cannot be claimed at night: claims are
    refused outside these windows (see :func:`claim_due_cases`).
    """
    rows = session.execute(
        sa.select(Cycle.name, PhoneSettings)
        .join(PhoneSettings, PhoneSettings.cycle_id == Cycle.id)
        .where(Cycle.status.in_(CALLING_STATUSES))
        .order_by(Cycle.year.desc(), Cycle.id)
    ).all()
    hours = []
    for name, settings in rows:
        open_now = in_calling_window(settings, moment)
        hours.append(
            CallingHours(
                cycle_name=name,
                timezone=settings.timezone,
                weekday=f"{settings.weekday_start:%H:%M}–{settings.weekday_end:%H:%M}",
                weekend=f"{settings.weekend_start:%H:%M}–{settings.weekend_end:%H:%M}",
                open_now=open_now,
                opens_at=None if open_now else next_window_start(settings, moment),
            )
        )
    return hours


# --- the calling queue -----------------------------------------------------------


#: Rows per INSERT in :func:`ensure_schedules` (4 parameters a row).
SCHEDULE_INSERT_CHUNK = 2_000


def ensure_schedules(session: orm.Session) -> int:
    """Give every released case a calling schedule (idempotent, race-safe)."""
    missing = (
        sa.select(FieldworkCase.id, FieldworkCase.cycle_id)
        .outerjoin(CaseSchedule, CaseSchedule.case_id == FieldworkCase.id)
        .where(FieldworkCase.released.is_(True), CaseSchedule.case_id.is_(None))
    )
    found = session.execute(missing).all()
    if not found:
        return 0
    case_ids = [case_id for case_id, _cycle_id in found]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One multi-row INSERT per chunk: a statement carries at most 65,535
    # parameters on PostgreSQL (and fewer on SQLite), and a sample can be larger.
    for start in range(0, len(case_ids), SCHEDULE_INSERT_CHUNK):
        rows = [
            {
                "case_id": case_id,
                "state": ScheduleState.PENDING.value,
                "channel": CallMode.IVR.value,
                "attempts": 0,
            }
            for case_id in case_ids[start : start + SCHEDULE_INSERT_CHUNK]
        ]
        # Two workers may add the same rows at once; the primary key settles it.
        session.execute(insert(CaseSchedule).values(rows).on_conflict_do_nothing())
    for cycle_id in {cycle_id for _case_id, cycle_id in found}:
        phone_settings(session, cycle_id)
    session.flush()
    return len(case_ids)


def claim_due_cases(
    session: orm.Session,
    *,
    claimant: str,
    channel: CallMode,
    moment: datetime,
    limit: int,
    lease: timedelta = WORKER_LEASE,
) -> list[CaseSchedule]:
    """Claim up to ``limit`` cases due now and inside their calling window.

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED``, so
    several workers never claim the same case; the claim (``claimed_until``)
    then keeps the case away from others after this transaction commits.
    Cases outside their window are moved to the window's next opening.
    """
    if limit <= 0:
        return []
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: take the database's write lock first, so
        # concurrent claimers run one after the other and see each other's claims.
        session.execute(sa.text("UPDATE case_schedule SET attempts = attempts WHERE case_id = -1"))
    query = (
        sa.select(CaseSchedule)
        .join(FieldworkCase, FieldworkCase.id == CaseSchedule.case_id)
        .join(Cycle, Cycle.id == FieldworkCase.cycle_id)
        .where(
            CaseSchedule.state == ScheduleState.PENDING,
            CaseSchedule.channel == channel,
            Cycle.status.in_(CALLING_STATUSES),
            FieldworkCase.released.is_(True),
            FieldworkCase.contact_id.is_not(None),
            sa.or_(CaseSchedule.next_attempt_at.is_(None), CaseSchedule.next_attempt_at <= moment),
            sa.or_(CaseSchedule.claimed_until.is_(None), CaseSchedule.claimed_until < moment),
        )
        .order_by(
            CaseSchedule.appointment_at.is_(None),
            CaseSchedule.appointment_at,
            CaseSchedule.next_attempt_at.is_not(None),
            CaseSchedule.next_attempt_at,
            CaseSchedule.case_id,
        )
        .limit(limit)
        .with_for_update(skip_locked=True, of=CaseSchedule)
    )
    claimed = []
    for schedule in session.scalars(query):
        settings = phone_settings(session, schedule.case.cycle_id)
        if schedule.attempts >= settings.max_attempts:
            finalise(session, schedule, schedule.case.disposition or codes.NO_ANSWER)
            continue
        if not in_calling_window(settings, moment):
            schedule.next_attempt_at = next_window_start(settings, moment)
            continue
        schedule.claimed_by = claimant
        schedule.claimed_until = moment + lease
        claimed.append(schedule)
    session.flush()
    return claimed


def release_claim(schedule: CaseSchedule) -> None:
    schedule.claimed_by = None
    schedule.claimed_until = None


def is_do_not_call(session: orm.Session, contact: FrameContact) -> bool:
    return (
        session.scalar(
            sa.select(DoNotCallEntry.id).where(DoNotCallEntry.phone_hash == contact.phone_hash)
        )
        is not None
    )


@dataclass(frozen=True)
class DialPlan:
    attempt: CallAttempt
    phone: str


def start_attempt(
    session: orm.Session,
    schedule: CaseSchedule,
    *,
    mode: CallMode,
    placed_by: str,
    moment: datetime,
    vault: Vault,
) -> DialPlan | None:
    """Check the rules and record a new attempt; ``None`` when the case must not be dialled.

    ``vault`` decrypts the number to dial.

    The last checks happen here, right before dialling: a number put on the
    do-not-call list after sampling is never dialled, no case gets more
    attempts than allowed, and no call starts outside the calling window.
    """
    case = schedule.case
    settings = phone_settings(session, case.cycle_id)
    contact = session.get(FrameContact, case.contact_id) if case.contact_id else None
    if schedule.state == ScheduleState.FINAL or contact is None:
        release_claim(schedule)
        return None
    if is_do_not_call(session, contact):
        finalise(session, schedule, codes.REFUSAL)
        audit.record(
            session,
            actor=placed_by,
            action="phone.skip_do_not_call",
            object_type="fieldwork_case",
            object_id=case.id,
        )
        return None
    if schedule.attempts >= settings.max_attempts:
        finalise(session, schedule, case.disposition or codes.NO_ANSWER)
        return None
    if not in_calling_window(settings, moment):
        schedule.next_attempt_at = next_window_start(settings, moment)
        release_claim(schedule)
        session.flush()
        return None
    schedule.attempts += 1
    attempt = CallAttempt(
        case_id=case.id,
        number=schedule.attempts,
        mode=mode,
        placed_by=placed_by,
        started_at=moment,
    )
    session.add(attempt)
    session.flush()
    return DialPlan(attempt=attempt, phone=vault.decrypt(contact.phone_encrypted))


def finalise(session: orm.Session, schedule: CaseSchedule, code: str) -> None:
    """Give the case its final disposition: it is never dialled again."""
    schedule.state = ScheduleState.FINAL
    schedule.case.disposition = code
    schedule.next_attempt_at = None
    release_claim(schedule)
    session.flush()


def _retry_delay(settings: PhoneSettings, code: str) -> timedelta:
    minutes = {
        codes.ALWAYS_BUSY: settings.retry_busy_minutes,
        codes.ANSWERING_MACHINE: settings.retry_machine_minutes,
    }.get(code, settings.retry_no_answer_minutes)
    return timedelta(minutes=minutes)


def schedule_retry(
    session: orm.Session, schedule: CaseSchedule, code: str, moment: datetime
) -> None:
    """Record a non-final outcome; the case ends with it after the last allowed attempt."""
    settings = phone_settings(session, schedule.case.cycle_id)
    schedule.case.disposition = code
    schedule.last_outcome = code
    if schedule.attempts >= settings.max_attempts:
        finalise(session, schedule, code)
        return
    schedule.next_attempt_at = next_window_start(settings, moment + _retry_delay(settings, code))
    release_claim(schedule)
    session.flush()


def book_appointment(
    session: orm.Session, schedule: CaseSchedule, at: datetime, *, actor: str
) -> None:
    """Call back at the time the respondent asked for (moved into the calling window)."""
    settings = phone_settings(session, schedule.case.cycle_id)
    when = next_window_start(settings, at)
    schedule.appointment_at = when
    schedule.next_attempt_at = when
    schedule.case.disposition = codes.RESPONDENT_UNAVAILABLE
    release_claim(schedule)
    session.flush()
    # Not the time booked: the completing call comes then, and its response's entry
    # would be found next to it.
    audit.record(
        session,
        actor=actor,
        action="phone.appointment",
        object_type="fieldwork_case",
        object_id=schedule.case_id,
    )


# --- call outcomes (status callbacks) -------------------------------------------


def schedule_of(session: orm.Session, case_id: int) -> CaseSchedule:
    """The case's schedule, locked (``FOR UPDATE``) and as the locked row says.

    ``populate_existing``: a schedule already in the session (read earlier in the
    transaction, before the lock) is refreshed from the row the lock returns;
    otherwise the ORM keeps its old values and a later flush would overwrite what
    another worker committed meanwhile.  Pending changes are flushed first.
    """
    schedule = session.get(CaseSchedule, case_id, with_for_update=True, populate_existing=True)
    if schedule is None:
        raise ServiceError(
            N_("Case %(case)s has no calling schedule."), parameters={"case": case_id}
        )
    return schedule


def apply_call_status(
    session: orm.Session,
    attempt: CallAttempt,
    status: str,
    answered_by: str | None,
    moment: datetime,
) -> None:
    """Record the end of a call once; replays and out-of-order callbacks change nothing."""
    if attempt.ended_at is not None or status not in TERMINAL_STATUSES:
        if status not in TERMINAL_STATUSES and attempt.ended_at is None:
            attempt.status = status
            session.flush()
        return
    attempt.status = status
    attempt.answered_by = answered_by or attempt.answered_by
    attempt.ended_at = moment
    schedule = schedule_of(session, attempt.case_id)
    if attempt.mode in (CallMode.INBOUND, CallMode.QUALITY):
        session.flush()
        return
    if schedule.state == ScheduleState.FINAL:
        attempt.disposition = attempt.disposition or schedule.case.disposition
        session.flush()
        return
    if status == "completed":
        answered = attempt.answered_by or ""
        if answered.startswith("machine") or answered == "fax":
            code = codes.ANSWERING_MACHINE
        else:
            code = _interview_outcome(session, attempt)
    else:
        code = {
            "busy": codes.ALWAYS_BUSY,
            "no-answer": codes.NO_ANSWER,
        }.get(status, codes.CALL_FAILED)
    attempt.disposition = code
    if code in codes.FINAL_CODES:
        finalise(session, schedule, code)
    elif schedule.channel == CallMode.CATI and attempt.mode == CallMode.CATI:
        # The interviewer sets the outcome at the console.
        session.flush()
    else:
        schedule_retry(session, schedule, code, moment)


def _interview_outcome(session: orm.Session, attempt: CallAttempt) -> str:
    """A human answered and the call ended before completion: what was reached."""
    if attempt.call_sid is None:
        return codes.NO_ANSWER
    steps = stored_steps(session, attempt.call_sid)
    consent = steps.pop(CONSENT_STEP, None)
    if consent is None:
        return codes.BREAK_OFF
    if consent != KEY_AGREE:
        return attempt.disposition or codes.REFUSAL
    questions = len(interview_plan(session, attempt.case))
    # AAPOR: a partial interview answered at least half of the questions.
    return codes.PARTIAL if questions and len(steps) * 2 >= questions else codes.BREAK_OFF


# --- the phone interview -----------------------------------------------------------


T = TypeVar("T")


@dataclass(frozen=True)
class Question:
    step: str
    unit: Unit
    item: Item


def question_step(unit_id: int, item_id: int) -> str:
    return f"q-{unit_id}-{item_id}"


def rotation_seed(key: str | None, case_id: int) -> int:
    """The seed of :func:`rotated` for a case: its id keyed by the cycle's ``unit_key``.

    Unkeyed, the units of a phone response would name its case id (the rotation
    is public); the key is replaced when fieldwork closes (a cycle without a key,
    made before there were keys, falls back to the case id).
    """
    if not key:
        return case_id
    return int(hashlib.sha256(f"{key}:{case_id}".encode()).hexdigest()[:12], 16)


def rotated(units: Sequence[T], seed: int, units_per_interview: int) -> list[T]:
    """The units a case is asked about: a rotating subset, the same for IVR and CATI.

    Rotation by a seed spread evenly over the cases (:func:`rotation_seed`) covers
    every unit about equally and gives every case the same number of questions.
    """
    if not units:
        return []
    count = min(units_per_interview, len(units))
    start = (seed * count) % len(units)
    return [units[(start + offset) % len(units)] for offset in range(count)]


def interview_plan(session: orm.Session, case: FieldworkCase) -> list[Question]:
    """The questions of a case: a rotating subset of units, every item."""
    settings = phone_settings(session, case.cycle_id)
    units = list(
        session.scalars(sa.select(Unit).where(Unit.cycle_id == case.cycle_id).order_by(Unit.code))
    )
    items = list(
        session.scalars(
            sa.select(Item).where(Item.cycle_id == case.cycle_id).order_by(Item.position, Item.id)
        )
    )
    key = session.scalar(sa.select(Cycle.unit_key).where(Cycle.id == case.cycle_id))
    chosen = rotated(units, rotation_seed(key, case.id), settings.units_per_interview)
    return [
        Question(question_step(unit.id, item.id), unit, item) for unit in chosen for item in items
    ]


@dataclass(frozen=True)
class KeypadQuestion:
    step: str
    unit_id: int
    item_id: int
    #: What the caller hears, keypad menu included.
    text: str


@dataclass(frozen=True)
class KeypadSetup:
    """What the keypad interview of a cycle asks: its units, items and scale."""

    #: (id, name), in the order of :func:`interview_plan`.
    units: tuple[tuple[int, str], ...]
    items: tuple[tuple[int, str], ...]
    #: Keypad digit → scale level id.
    level_ids: dict[str, int]
    #: The scale read out after each question ("很满意请按1，…，重听请按0。").
    keys_text: str

    def plan(self, seed: int, units_per_interview: int) -> list[KeypadQuestion]:
        """The questions of a case (``seed`` from :func:`rotation_seed`), as
        :func:`interview_plan` chooses them."""
        return [
            KeypadQuestion(
                question_step(unit_id, item_id),
                unit_id,
                item_id,
                f"请评价{unit_name}的{item_name}：{self.keys_text}",
            )
            for unit_id, unit_name in rotated(self.units, seed, units_per_interview)
            for item_id, item_name in self.items
        ]


def _read_keypad_setup(session: orm.Session, cycle_id: int) -> KeypadSetup:
    units = session.execute(
        sa.select(Unit.id, Unit.name).where(Unit.cycle_id == cycle_id).order_by(Unit.code)
    ).all()
    items = session.execute(
        sa.select(Item.id, Item.name)
        .where(Item.cycle_id == cycle_id)
        .order_by(Item.position, Item.id)
    ).all()
    levels = {
        str(position): (level_id, label)
        for level_id, position, label in session.execute(
            sa.select(ScaleLevel.id, ScaleLevel.position, ScaleLevel.label).where(
                ScaleLevel.cycle_id == cycle_id
            )
        )
        if 0 < position <= 9
    }
    keys = "，".join(f"{label}请按{key}" for key, (_id, label) in sorted(levels.items()))
    return KeypadSetup(
        units=tuple((unit_id, name) for unit_id, name in units),
        items=tuple((item_id, name) for item_id, name in items),
        level_ids={key: level_id for key, (level_id, _label) in levels.items()},
        keys_text=f"{keys}，重听请按0。",
    )


#: engine → cycle id → keypad setup (see :func:`keypad_setup`).
_keypad_setups: weakref.WeakKeyDictionary[sa.Engine, dict[int, KeypadSetup]] = (
    weakref.WeakKeyDictionary()
)
_keypad_setups_lock = threading.Lock()


def keypad_setup(session: orm.Session, cycle_id: int, status: CycleStatus) -> KeypadSetup:
    """The cycle's keypad setup, read once per process after the cycle left draft.

    Units, items and scale are frozen once fieldwork starts (``Cycle.is_editable``)
    and a cycle never returns to draft, so the copy can never go stale; a draft
    cycle is read afresh every time.  Kept per database engine: tests run many
    databases in one process.
    """
    if status == CycleStatus.DRAFT:
        return _read_keypad_setup(session, cycle_id)
    bind = session.get_bind()
    engine = bind if isinstance(bind, sa.Engine) else bind.engine
    with _keypad_setups_lock:
        cache = _keypad_setups.setdefault(engine, {})
    setup = cache.get(cycle_id)
    if setup is None:
        setup = cache[cycle_id] = _read_keypad_setup(session, cycle_id)
    return setup


@functools.cache
def _step_insert(dialect: str) -> sa.Insert:
    """Built once per dialect: constructing the statement costs more than running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(IvrStep)
        .values(
            attempt_id=sa.bindparam("attempt_id"),
            call_sid=sa.bindparam("call_sid"),
            step=sa.bindparam("step"),
            digits=sa.bindparam("digits"),
        )
        .on_conflict_do_nothing(index_elements=["call_sid", "step"])
        .returning(IvrStep.digits)
    )


def record_step(
    session: orm.Session, attempt: CallAttempt, call_sid: str, step: str, digits: str
) -> str:
    """Store the keypress of a step once; return the stored digits (the first delivery wins).

    One statement: the unique (call_sid, step) settles concurrent deliveries.  On
    PostgreSQL the second insert waits for the first's commit and then does nothing;
    the stored value is then read (READ COMMITTED sees it).
    """
    stored = session.scalar(
        _step_insert(session.get_bind().dialect.name),
        {"attempt_id": attempt.id, "call_sid": call_sid, "step": step, "digits": digits},
    )
    if stored is None:
        # A concurrent delivery of the same step stored it first.
        stored = session.scalar(
            sa.select(IvrStep.digits).where(IvrStep.call_sid == call_sid, IvrStep.step == step)
        )
    return stored or digits


def parse_steps(packed: str | None) -> dict[str, str]:
    """Steps packed by :func:`packed_steps` (``step=digits,…``) as a dict."""
    if not packed:
        return {}
    return dict(pair.split("=", 1) for pair in packed.split(","))


def packed_steps(call_sid: Any) -> sa.ScalarSelect[str]:
    """The stored steps of a call as one ``step=digits,…`` string (a scalar subquery).

    Step names and digits never hold ``,`` or ``=`` (see :func:`question_step`).
    """
    return (
        sa.select(sa.func.aggregate_strings(IvrStep.step + "=" + IvrStep.digits, ","))
        .where(IvrStep.call_sid == call_sid)
        .scalar_subquery()
    )


def stored_steps(session: orm.Session, call_sid: str) -> dict[str, str]:
    rows = session.execute(
        sa.select(IvrStep.step, IvrStep.digits).where(IvrStep.call_sid == call_sid)
    ).all()
    return {step: digits for step, digits in rows}


def rater_group_id_of(session: orm.Session, case: FieldworkCase) -> int:
    group_id = session.scalar(
        sa.select(SamplingFrame.rater_group_id)
        .join(SampleDraw, SampleDraw.frame_id == SamplingFrame.id)
        .where(SampleDraw.id == case.draw_id)
    )
    if group_id is None:
        raise ServiceError(N_("Case %(case)s has no sampling frame."), parameters={"case": case.id})
    return int(group_id)


def complete_interview(
    session: orm.Session,
    case_id: int,
    answers: dict[tuple[int, int], int],
    *,
    channel: Channel,
    moment: datetime,
    attempt: CallAttempt | None = None,
) -> Response:
    """Store the response of a completed interview (disposition 1.1), exactly once.

    ``answers`` maps (unit id, item id) to a scale level id.  The case is
    claimed by a conditional ``UPDATE`` so two deliveries of the last keypress
    cannot both create one: on PostgreSQL the second waits for the first's
    commit and then matches no row; SQLite takes its write lock there.  (A
    ``SELECT … FOR UPDATE`` alone is not enough: the case is usually in the
    session already, and the ORM would keep its stale ``response_id``.)  Only
    until fieldwork closes: after that a late keypress must not link a case to a
    response again.
    """
    if not session.scalar(
        sa.select(Cycle.id)
        .join(FieldworkCase, FieldworkCase.cycle_id == Cycle.id)
        .where(FieldworkCase.id == case_id, Cycle.status.in_(CALLING_STATUSES))
    ):
        raise ServiceError(N_("The survey is closed."))
    session.execute(
        sa.update(FieldworkCase)
        .where(FieldworkCase.id == case_id, FieldworkCase.response_id.is_(None))
        .values(completed_at=moment)
        .execution_options(synchronize_session=False)
    )
    case = session.get(FieldworkCase, case_id, populate_existing=True)
    if case is None:
        raise ServiceError(N_("Case %(case)s does not exist."), parameters={"case": case_id})
    if case.response_id is not None:
        existing = session.get(Response, case.response_id)
        assert existing is not None
        return existing
    response = Response(
        cycle_id=case.cycle_id,
        channel=channel,
        rater_group_id=rater_group_id_of(session, case),
        stratum=case.stratum[:100],
        design_weight=case.design_weight,
        submitted_at=moment,
    )
    for (unit_id, item_id), level_id in sorted(answers.items()):
        response.answers.append(Answer(unit_id=unit_id, item_id=item_id, scale_level_id=level_id))
    session.add(response)
    session.flush()
    case.response_id = response.id
    case.completed_at = moment
    schedule = schedule_of(session, case.id)
    finalise(session, schedule, codes.COMPLETE)
    if attempt is not None:
        attempt.disposition = codes.COMPLETE
    session.flush()
    # The entry every channel writes, naming the response only: an entry naming the
    # case here would sit next to the response in the log, and the log outlives
    # the link that closing fieldwork deletes.
    entry, details = submission_entry(
        channel,
        len({unit_id for unit_id, _item_id in answers}),
        actor="respondent" if channel == Channel.PHONE_IVR else "interviewer",
    )
    audit.record(session, **entry, object_id=response.id, details=details)
    return response


def refuse(session: orm.Session, attempt: CallAttempt, *, opt_out: bool, actor: str) -> None:
    """The respondent declined (and, with the opt-out key, asked never to be called)."""
    schedule = schedule_of(session, attempt.case_id)
    attempt.disposition = codes.REFUSAL
    if schedule.state != ScheduleState.FINAL:
        finalise(session, schedule, codes.REFUSAL)
    if opt_out:
        contact = (
            session.get(FrameContact, schedule.case.contact_id)
            if schedule.case.contact_id
            else None
        )
        if contact is not None and not is_do_not_call(session, contact):
            session.add(
                DoNotCallEntry(
                    phone_hash=contact.phone_hash, source=DoNotCallSource.OPT_OUT, added_by=actor
                )
            )
            session.flush()
            audit.record(
                session,
                actor=actor,
                action="do_not_call.add",
                object_type="do_not_call",
                details={"added": 1, "source": DoNotCallSource.OPT_OUT.value},
            )
    session.flush()


def route_to_interviewer(session: orm.Session, attempt: CallAttempt, moment: datetime) -> None:
    """The respondent asked for a person: the case moves to the CATI queue."""
    schedule = schedule_of(session, attempt.case_id)
    if schedule.state == ScheduleState.FINAL:
        return
    schedule.channel = CallMode.CATI
    schedule.next_attempt_at = moment
    release_claim(schedule)
    session.flush()


def find_case_by_caller(session: orm.Session, vault: Vault, caller: str) -> FieldworkCase | None:
    """The open case whose number hashes like the caller ID (inbound calls)."""
    try:
        digest = vault.phone_hash(normalise_phone(caller))
    except InvalidPhoneNumber:
        return None
    return session.scalars(
        sa.select(FieldworkCase)
        .join(FrameContact, FrameContact.id == FieldworkCase.contact_id)
        .join(CaseSchedule, CaseSchedule.case_id == FieldworkCase.id)
        .where(
            FrameContact.phone_hash == digest,
            FieldworkCase.released.is_(True),
            CaseSchedule.state == ScheduleState.PENDING,
        )
        .order_by(FieldworkCase.id.desc())
        .limit(1)
    ).one_or_none()


SETTING_FIELDS = (
    "timezone",
    "weekday_start",
    "weekday_end",
    "weekend_start",
    "weekend_end",
    "max_attempts",
    "retry_busy_minutes",
    "retry_no_answer_minutes",
    "retry_machine_minutes",
    "calls_per_minute",
    "max_concurrent_calls",
    "units_per_interview",
    "record_calls",
    "recording_retention_days",
    "quality_callback_share",
)


def update_settings(
    session: orm.Session, settings: PhoneSettings, values: dict[str, object], *, actor: str
) -> None:
    """Change a cycle's calling rules; every broken rule is reported and nothing changes."""
    problems = []
    zone = str(values.get("timezone", settings.timezone))
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        problems.append(
            Problem(
                N_("“%(zone)s” is not a known time zone (e.g. Asia/Shanghai)"),
                column="timezone",
                parameters={"zone": zone},
            )
        )
    for start, end in (("weekday_start", "weekday_end"), ("weekend_start", "weekend_end")):
        if values[start] >= values[end]:  # type: ignore[operator]
            problems.append(Problem(N_("the window must end after it starts"), column=end))
    for name, low in (
        ("max_attempts", 1),
        ("retry_busy_minutes", 0),
        ("retry_no_answer_minutes", 0),
        ("retry_machine_minutes", 0),
        ("calls_per_minute", 1),
        ("max_concurrent_calls", 1),
        ("units_per_interview", 1),
        ("recording_retention_days", 1),
    ):
        if int(values[name]) < low:  # type: ignore[call-overload]
            problems.append(Problem(N_("at least %(n)d"), column=name, parameters={"n": low}))
    share = float(values["quality_callback_share"])  # type: ignore[arg-type]
    if not 0.0 <= share <= 1.0:
        problems.append(Problem(N_("between 0 and 1"), column="quality_callback_share"))
    if problems:
        raise ValidationError(N_("The calling rules were not changed."), problems)
    changed = {}
    for name in SETTING_FIELDS:
        if getattr(settings, name) != values[name]:
            changed[name] = str(values[name])
            setattr(settings, name, values[name])
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="phone.settings",
        object_type="cycle",
        object_id=settings.cycle_id,
        details=changed,
    )
