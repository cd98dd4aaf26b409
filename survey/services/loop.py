"""The closed loop of comments (好差评闭环): clock, fix, follow-up, rating.

Every comment reaches its unit (masked when it was stored) with a clock of
working days (``cycle.loop_working_days``, 7 or 15; Chinese public holidays and
the make-up working days of 调休 from the ``chinese-calendar`` package).  The
unit's liaison records the fix of a comment (a rectification naming it), which
stops the clock.  A citizen who agreed at the end of the survey to be asked
about the comment gets a personal link by SMS once the fix is recorded and
rates the fix 1–5; the ratings and the overdue comments go to the office and
the unit, with monthly lists of the units at the bottom.

What makes the follow-up safe for the anonymity promise (docs/security.md):
the phone number is encrypted in :class:`FollowUpContact`, linked only to its
:class:`FollowUp`, which is linked only to the comment; closing fieldwork
detaches every comment from its response and renumbers the comments
(``cycles.anonymise_closed_cycle``), follow-ups have random ids and only days,
and nothing is audited at consent.  The contact is deleted when the citizen
rates the fix, and in any case at ``purge_on`` (:func:`purge_contacts`).

Services flush and never commit; the time comes in as ``today`` (a China date).
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations.provider import Telephony
from survey.models import Comment, Cycle, FollowUp, FollowUpContact, Rectification, Unit
from survey.models.base import as_utc
from survey.privacy import InvalidPhoneNumber, Vault, normalise_phone
from survey.services import audit
from survey.services.errors import N_, Problem, ValidationError
from survey.services.rectification import MAX_TEXT_LENGTH

CHINA = ZoneInfo("Asia/Shanghai")
#: The working-day limits a cycle may choose (办理时限).
WORKING_DAY_CHOICES = (7, 15)
#: A consented contact is deleted this many days after consent at the latest.
CONTACT_RETENTION_DAYS = 90
SMS_TEMPLATE = (
    "【民意调查】您反映的问题已由{unit}办理，请为整改情况评分（1–5分）：{link} 回复TD退订"
)


# --- the working-day clock ------------------------------------------------------


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day in mainland China.

    Public holidays are off and 调休 weekend days are on (``chinese-calendar``);
    for a year the package does not know yet, Monday to Friday.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted)."""
    if days < 1:
        raise ValueError("at least one working day")
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def china_day(moment: datetime) -> date:
    """The date in China of a stored (UTC) time."""
    return as_utc(moment).astimezone(CHINA).date()


def china_today() -> date:
    from survey.models.base import utc_now

    return china_day(utc_now())


def due_on(comment: Comment, cycle: Cycle) -> date:
    """When the unit must have answered ``comment``."""
    return add_working_days(china_day(comment.created_at), cycle.loop_working_days)


def set_working_days(session: orm.Session, cycle: Cycle, days: int, *, actor: str) -> None:
    """Choose the cycle's time limit (7 or 15 working days)."""
    if days not in WORKING_DAY_CHOICES:
        raise ValidationError(
            N_("The time limit must be 7 or 15 working days."),
            [Problem(N_("7 or 15"), column="working_days")],
        )
    cycle.loop_working_days = days
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="loop.working_days",
        object_type="cycle",
        object_id=cycle.id,
        details={"working_days": days},
    )


# --- consent at the end of the survey ---------------------------------------------


def consent(
    session: orm.Session, vault: Vault, response_id: int, phone: str, *, today: date
) -> int:
    """Store a citizen's agreement to be asked about the comments of a response just
    submitted; the number of follow-ups (one per comment).

    Nothing is audited here: an entry would pair the response with a consent.

    Raises
    ------
    ValidationError
        The phone number is not valid, or the response has no comment.
    """
    try:
        number = normalise_phone(phone)
    except InvalidPhoneNumber:
        raise ValidationError(
            N_("Please enter a valid mobile number."),
            [Problem(N_("not a phone number"), column="phone")],
        ) from None
    comments = session.scalars(
        sa.select(Comment).where(Comment.response_id == response_id).order_by(Comment.id)
    ).all()
    if not comments:
        raise ValidationError(N_("There is no comment to follow up."))
    created = 0
    for comment in comments:
        if session.scalar(sa.select(FollowUp.id).where(FollowUp.comment_id == comment.id)):
            continue
        add_follow_up(session, vault, comment, number.e164, today=today)
        created += 1
    return created


def add_follow_up(
    session: orm.Session, vault: Vault, comment: Comment, e164: str, *, today: date
) -> FollowUp:
    """A follow-up on ``comment`` with its encrypted contact (flushes)."""
    follow_up = FollowUp(comment_id=comment.id, consented_on=today, sent_by="")
    follow_up.contact = FollowUpContact(
        phone_encrypted=vault.encrypt(e164),
        purge_on=today + timedelta(days=CONTACT_RETENTION_DAYS),
    )
    session.add(follow_up)
    session.flush()
    return follow_up


# --- the unit's side: items, fixes ----------------------------------------------


@dataclass(frozen=True)
class LoopItem:
    """One comment as its unit and the office see it (never a contact)."""

    comment: Comment
    received_on: date
    due_on: date
    fix: Rectification | None
    fixed_on: date | None
    overdue: bool
    #: Working days past the due date (0 if on time or not yet due).
    days_over: int
    follow_ups: int
    ratings: tuple[int, ...]
    #: The months (YYYY-MM) in which the ratings were given, one per rating.
    rating_months: tuple[str, ...]

    @property
    def rating(self) -> float | None:
        return sum(self.ratings) / len(self.ratings) if self.ratings else None


def _working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def _items(
    session: orm.Session, cycle: Cycle, comments: list[Comment], today: date
) -> list[LoopItem]:
    ids = [comment.id for comment in comments]
    fixes: dict[int, Rectification] = {}
    follow_ups: dict[int, list[FollowUp]] = defaultdict(list)
    if ids:
        for fix in session.scalars(
            sa.select(Rectification)
            .where(Rectification.comment_id.in_(ids))
            .order_by(Rectification.recorded_at, Rectification.id)
        ):
            assert fix.comment_id is not None
            fixes.setdefault(fix.comment_id, fix)
        for follow_up in session.scalars(sa.select(FollowUp).where(FollowUp.comment_id.in_(ids))):
            follow_ups[follow_up.comment_id].append(follow_up)
    items = []
    for comment in comments:
        received = china_day(comment.created_at)
        due = add_working_days(received, cycle.loop_working_days)
        found = fixes.get(comment.id)
        fixed_on = china_day(found.recorded_at) if found is not None else None
        end = fixed_on if fixed_on is not None else today
        over = _working_days_between(due, end) if end > due else 0
        rated = [f for f in follow_ups[comment.id] if f.rating is not None and f.rated_on]
        ratings = tuple(f.rating for f in rated if f.rating is not None)
        months = tuple(f.rated_on.strftime("%Y-%m") for f in rated if f.rated_on is not None)
        items.append(
            LoopItem(
                comment=comment,
                received_on=received,
                due_on=due,
                fix=found,
                fixed_on=fixed_on,
                overdue=found is None and today > due,
                days_over=over,
                follow_ups=len(follow_ups[comment.id]),
                ratings=ratings,
                rating_months=months,
            )
        )
    return items


def unit_items(session: orm.Session, unit: Unit, *, today: date) -> list[LoopItem]:
    """The comments on ``unit`` with their clocks, fixes and ratings, newest first."""
    comments = list(
        session.scalars(
            sa.select(Comment)
            .where(Comment.unit_id == unit.id)
            .order_by(Comment.created_at.desc(), Comment.id.desc())
        )
    )
    return _items(session, unit.cycle, comments, today)


def cycle_items(session: orm.Session, cycle: Cycle, *, today: date) -> list[LoopItem]:
    comments = list(
        session.scalars(
            sa.select(Comment)
            .join(Unit, Comment.unit_id == Unit.id)
            .where(Unit.cycle_id == cycle.id)
            .order_by(Comment.created_at, Comment.id)
        )
    )
    return _items(session, cycle, comments, today)


def record_fix(
    session: orm.Session,
    unit: Unit,
    comment_id: int,
    *,
    text: str,
    actor: str,
    today: date,
    vault: Vault,
    sender: Telephony,
    link: Callable[[str], str],
) -> Rectification:
    """Record the fix of one comment on ``unit`` and send its follow-ups' links.

    ``link`` turns a personal token into the absolute URL of the rating page.  A
    link that cannot be sent now stays unsent; :func:`send_pending` retries it.

    Raises
    ------
    ValidationError
        The comment is not the unit's, is already answered, or the text is empty or long.
    """
    comment = session.get(Comment, comment_id)
    if comment is None or comment.unit_id != unit.id:
        raise ValidationError(N_("This comment is not your unit's."))
    if session.scalar(sa.select(Rectification.id).where(Rectification.comment_id == comment.id)):
        raise ValidationError(N_("The fix of this comment is already recorded."))
    text = text.strip()
    if not text:
        raise ValidationError(
            N_("The rectification response is empty."), [Problem(N_("required"), column="text")]
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(
            N_("The response is longer than %(n)d characters."),
            [
                Problem(
                    N_("at most %(n)d characters"), column="text", parameters={"n": MAX_TEXT_LENGTH}
                )
            ],
            parameters={"n": MAX_TEXT_LENGTH},
        )
    fix = Rectification(
        cycle_id=unit.cycle_id,
        unit_id=unit.id,
        comment_id=comment.id,
        text=text,
        recorded_by=actor,
        follow_up_requested_at=None,
    )
    session.add(fix)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="rectification.record",
        object_type="rectification",
        object_id=fix.id,
        details={"unit": unit.code, "cycle": unit.cycle_id, "comment": comment.id},
    )
    _send(session, vault, sender, link, unit, _waiting(session, comment.id), today)
    return fix


def _waiting(session: orm.Session, comment_id: int | None = None) -> list[FollowUp]:
    """Follow-ups with a contact whose link has not been sent, of fixed comments."""
    statement = (
        sa.select(FollowUp)
        .join(FollowUpContact, FollowUpContact.follow_up_id == FollowUp.id)
        .where(FollowUp.sent_on.is_(None), FollowUp.ended_on.is_(None))
        .where(
            FollowUp.comment_id.in_(
                sa.select(Rectification.comment_id).where(Rectification.comment_id.is_not(None))
            )
        )
    )
    if comment_id is not None:
        statement = statement.where(FollowUp.comment_id == comment_id)
    return list(session.scalars(statement))


def _send(
    session: orm.Session,
    vault: Vault,
    sender: Telephony,
    link: Callable[[str], str],
    unit: Unit | None,
    follow_ups: list[FollowUp],
    today: date,
) -> int:
    sent = 0
    for follow_up in follow_ups:
        contact = follow_up.contact
        assert contact is not None
        token = secrets.token_urlsafe(24)
        comment = session.get(Comment, follow_up.comment_id)
        assert comment is not None
        own_unit = unit or comment.unit
        body = SMS_TEMPLATE.format(unit=own_unit.name, link=link(token))
        try:
            sender.send_sms(vault.decrypt(contact.phone_encrypted), body)
        except Exception:  # any provider failure: left for send_pending
            continue
        contact.token_hash = token_hash(token)
        follow_up.sent_on = today
        follow_up.sent_by = "sms"
        sent += 1
    session.flush()
    return sent


def send_pending(
    session: orm.Session,
    vault: Vault,
    sender: Telephony,
    link: Callable[[str], str],
    *,
    today: date,
) -> int:
    """Send the links that could not be sent when their fix was recorded."""
    return _send(session, vault, sender, link, None, _waiting(session), today)


# --- the citizen's rating --------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FollowUpView:
    """What the follow-up page shows: the unit, the (masked) comment and the fix."""

    follow_up: FollowUp
    unit: Unit
    comment: Comment
    fix: Rectification


def open_follow_up(session: orm.Session, token: str) -> FollowUpView | None:
    """The follow-up of a personal link, if it is still open."""
    if not token or len(token) > 100:
        return None
    contact = session.scalar(
        sa.select(FollowUpContact).where(FollowUpContact.token_hash == token_hash(token))
    )
    if contact is None:
        return None
    follow_up = contact.follow_up
    comment = session.get(Comment, follow_up.comment_id)
    assert comment is not None
    fix = session.scalar(
        sa.select(Rectification)
        .where(Rectification.comment_id == comment.id)
        .order_by(Rectification.id)
        .limit(1)
    )
    assert fix is not None
    return FollowUpView(follow_up, comment.unit, comment, fix)


def rate(session: orm.Session, token: str, rating: int, *, today: date) -> FollowUp:
    """Store the citizen's rating of the fix and end the follow-up: its contact is deleted.

    Raises
    ------
    ValidationError
        The link is unknown or used, or the rating is not 1–5.
    """
    if rating not in (1, 2, 3, 4, 5):
        raise ValidationError(
            N_("Please choose a rating from 1 to 5."), [Problem(N_("1 to 5"), column="rating")]
        )
    opened = open_follow_up(session, token)
    if opened is None:
        raise ValidationError(N_("This follow-up link is not valid or has been used."))
    follow_up = opened.follow_up
    follow_up.rating = rating
    follow_up.rated_on = today
    follow_up.ended_on = today
    follow_up.contact = None  # delete-orphan: the phone number is gone
    session.flush()
    audit.record(
        session,
        actor="respondent",
        action="loop.rate",
        object_type="follow_up",
        object_id=follow_up.id,
        details={"unit": opened.unit.code, "rating": rating},
    )
    return follow_up


# --- retention -------------------------------------------------------------------


def purge_contacts(session: orm.Session, *, today: date) -> int:
    """Delete every contact at its retention limit; the follow-ups end. The number deleted."""
    expired = sa.select(FollowUpContact.follow_up_id).where(FollowUpContact.purge_on <= today)
    ids = list(session.scalars(expired))
    if not ids:
        return 0
    session.execute(
        sa.update(FollowUp)
        .where(FollowUp.id.in_(ids), FollowUp.ended_on.is_(None))
        .values(ended_on=today),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        sa.delete(FollowUpContact).where(FollowUpContact.follow_up_id.in_(ids)),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()
    audit.record(
        session,
        actor="system",
        action="loop.purge_contacts",
        object_type="follow_up_contact",
        object_id="",
        details={"deleted": len(ids)},
    )
    return len(ids)


# --- the office's view: overdue by unit, monthly bottom lists ----------------------


@dataclass(frozen=True)
class UnitLoop:
    """One unit's loop figures (office page and monthly lists)."""

    unit: Unit
    comments: int
    fixed: int
    overdue: int
    ratings: int
    rating: float | None


def by_unit(items: list[LoopItem]) -> list[UnitLoop]:
    grouped: dict[int, list[LoopItem]] = defaultdict(list)
    units: dict[int, Unit] = {}
    for item in items:
        grouped[item.comment.unit_id].append(item)
        units[item.comment.unit_id] = item.comment.unit
    result = []
    for unit_id, own in grouped.items():
        ratings = [r for item in own for r in item.ratings]
        result.append(
            UnitLoop(
                unit=units[unit_id],
                comments=len(own),
                fixed=sum(1 for item in own if item.fix is not None),
                overdue=sum(1 for item in own if item.overdue or item.days_over > 0),
                ratings=len(ratings),
                rating=sum(ratings) / len(ratings) if ratings else None,
            )
        )
    return sorted(result, key=lambda row: row.unit.code)


@dataclass(frozen=True)
class MonthLists:
    """A month's bottom lists: lowest fix ratings, most overdue."""

    month: str  # YYYY-MM
    lowest_rated: list[UnitLoop]
    most_overdue: list[UnitLoop]


def monthly_lists(items: list[LoopItem], *, size: int = 5) -> list[MonthLists]:
    """Per month (newest first): units by lowest mean rating of the fixes rated that month,
    and by most comments falling due that month that were overdue (not fixed by the due date)."""
    rated: dict[str, list[LoopItem]] = defaultdict(list)
    due: dict[str, list[LoopItem]] = defaultdict(list)
    for item in items:
        due[item.due_on.strftime("%Y-%m")].append(item)
        for month in set(item.rating_months):
            rated[month].append(item)
    months = sorted(set(rated) | set(due), reverse=True)
    lists = []
    for month in months:
        lowest = [row for row in by_unit(rated.get(month, [])) if row.rating is not None]
        lowest.sort(key=lambda row: (row.rating, row.unit.code))
        overdue = [row for row in by_unit(due.get(month, [])) if row.overdue > 0]
        overdue.sort(key=lambda row: (-row.overdue, row.unit.code))
        lists.append(MonthLists(month, lowest[:size], overdue[:size]))
    return lists
