"""Open QR posters (公开二维码) at service points, and the SMS check that stops stuffing.

A poster is open to anyone who walks by, so two things keep a unit from
flooding its own score: a one-time SMS code proves the respondent holds a
phone number, and the unique key (cycle, unit, keyed phone hash) of
:class:`~survey.models.PosterVerification` lets each number rate the unit once
per cycle.  The number itself is never stored.  Rate limits per IP address and
per poster code sit in front (``survey.respondent``).
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import phonenumbers
import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations.provider import Telephony
from survey.models import (
    Channel,
    Cycle,
    CycleStatus,
    Poster,
    PosterVerification,
    RaterGroup,
    Unit,
)
from survey.models.base import as_utc, utc_now
from survey.privacy import InvalidPhoneNumber, Vault, normalise_phone
from survey.services import audit
from survey.services.errors import N_, Problem, ValidationError
from survey.services.rater_policy import policy_of
from survey.services.responses import (
    ALREADY_ANSWERED,
    EXPIRED,
    NOT_OPEN,
    UNKNOWN,
    Questionnaire,
    RespondentError,
    build_questionnaire,
    rows_changed,
)

CODE_VALID_FOR = timedelta(minutes=10)
#: A new code for the same number only after this long (SMS cost, harassment).
RESEND_AFTER = timedelta(seconds=60)
#: Wrong codes allowed per code; then a new code must be requested.
MAX_ATTEMPTS = 5
#: Problem messages the respondent pages translate (``survey.respondent.views``).
PHONE_INVALID = "enter an 11-digit mobile number"
PHONE_NOT_MAINLAND_MOBILE = "enter a mainland China mobile number"
PHONE_WAIT = "wait a minute before asking for a new code"
SMS_TEMPLATE = "【民意调查】您的验证码是 {code}，10 分钟内有效。如非本人操作，请忽略本短信。"


def create_poster(
    session: orm.Session, cycle: Cycle, unit: Unit, *, service_point: str, actor: str
) -> Poster:
    """A new poster for ``unit``, with an unguessable code from :mod:`secrets`."""
    problems: list[Problem] = []
    if unit.cycle_id != cycle.id:
        problems.append(Problem(N_("the unit is not in this cycle"), column="unit_id"))
    if len(service_point) > 200:
        problems.append(
            Problem(N_("at most %(n)d characters"), column="service_point", parameters={"n": 200})
        )
    if open_rater_group(cycle) is None:
        problems.append(
            Problem(N_("the cycle has no self-selected rater group (服务对象)"), column="unit_id")
        )
    if problems:
        raise ValidationError(N_("The poster was not created."), problems)
    poster = Poster(
        cycle_id=cycle.id,
        unit_id=unit.id,
        code=secrets.token_urlsafe(8),
        service_point=service_point.strip(),
        created_by=actor,
    )
    session.add(poster)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="poster.create",
        object_type="poster",
        object_id=poster.id,
        details={"unit": unit.code, "service_point": poster.service_point},
    )
    return poster


def set_active(session: orm.Session, poster: Poster, active: bool, *, actor: str) -> None:
    poster.active = active
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="poster.activate" if active else "poster.deactivate",
        object_type="poster",
        object_id=poster.id,
    )


def open_rater_group(cycle: Cycle) -> RaterGroup | None:
    """The group poster responses belong to: the cycle's first self-selected one (服务对象)."""
    return next((g for g in cycle.rater_groups if policy_of(g).door == Channel.OPEN_QR), None)


def open_poster(session: orm.Session, code: str) -> tuple[Poster, Questionnaire]:
    """The poster behind ``/q/<code>`` and its one-unit questionnaire."""
    poster = session.scalar(sa.select(Poster).where(Poster.code == code))
    if poster is None or not poster.active:
        raise RespondentError(UNKNOWN, "this poster is not known")
    cycle = poster.cycle
    if cycle.status != CycleStatus.FIELDING:
        reason = NOT_OPEN if cycle.status == CycleStatus.DRAFT else EXPIRED
        raise RespondentError(reason, f"the survey is {cycle.status.value}")
    group = open_rater_group(cycle)
    if group is None:
        raise RespondentError(UNKNOWN, "this poster is not set up")
    return poster, build_questionnaire(session, cycle, group, [poster.unit])


def _code_hash(vault: Vault, phone_hash: str, code: str) -> str:
    return hmac.new(vault.hash_key, f"sms:{phone_hash}:{code}".encode(), "sha256").hexdigest()


@dataclass(frozen=True)
class CodeSent:
    verification: PosterVerification
    #: The code, handed back only so the demo can show its simulated SMS.
    code: str


def request_code(
    session: orm.Session,
    vault: Vault,
    sender: Telephony,
    poster: Poster,
    phone: str,
    *,
    before_sending: Callable[[str], None],
) -> CodeSent:
    """Send a one-time code to ``phone`` for this poster's unit; store only hashes.

    ``before_sending`` gets the keyed phone hash once the number may have a code, just
    before anything is stored or sent, and raises to refuse: the per-number rate limit
    across units, posters and addresses (``survey.respondent.views``).
    """
    try:
        number = normalise_phone(phone)
    except InvalidPhoneNumber:
        raise ValidationError(
            "the phone number is not valid",
            [Problem(PHONE_INVALID, column="phone")],
        ) from None
    kind = phonenumbers.number_type(phonenumbers.parse(number.e164))
    if number.region != "CN" or kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError(
            "the phone number is not valid",
            [Problem(PHONE_NOT_MAINLAND_MOBILE, column="phone")],
        )
    phone_hash = vault.phone_hash(number)
    verification = session.scalar(
        sa.select(PosterVerification).where(
            PosterVerification.cycle_id == poster.cycle_id,
            PosterVerification.unit_id == poster.unit_id,
            PosterVerification.phone_hash == phone_hash,
        )
    )
    now = utc_now()
    if verification is not None and verification.completed_at is not None:
        raise RespondentError(
            ALREADY_ANSWERED, "this phone number has already rated this unit in this cycle"
        )
    if verification is not None and now - as_utc(verification.code_sent_at) < RESEND_AFTER:
        raise ValidationError(
            "a code was sent to this number a moment ago",
            [Problem(PHONE_WAIT, column="phone")],
        )
    before_sending(phone_hash)
    code = f"{secrets.randbelow(1_000_000):06d}"
    if verification is None:
        verification = PosterVerification(
            cycle_id=poster.cycle_id, unit_id=poster.unit_id, phone_hash=phone_hash
        )
        session.add(verification)
    verification.poster_id = poster.id
    verification.code_hash = _code_hash(vault, phone_hash, code)
    verification.code_sent_at = now
    verification.code_expires_at = now + CODE_VALID_FOR
    verification.attempts = 0
    verification.verified_at = None
    session.flush()
    sender.send_sms(number.e164, SMS_TEMPLATE.format(code=code))
    return CodeSent(verification=verification, code=code)


class CodeCheck(enum.StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"


def check_code(
    session: orm.Session, vault: Vault, verification: PosterVerification, code: str
) -> CodeCheck:
    """Compare ``code`` with the one sent.  The attempt counts even when wrong, so the
    caller commits whatever the outcome."""
    if verification.completed_at is not None:
        raise RespondentError(
            ALREADY_ANSWERED, "this phone number has already rated this unit in this cycle"
        )
    if utc_now() > as_utc(verification.code_expires_at):
        return CodeCheck.EXPIRED
    # One conditional update per try, so parallel guesses cannot exceed the limit.
    counted = session.execute(
        sa.update(PosterVerification)
        .where(
            PosterVerification.id == verification.id,
            PosterVerification.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=PosterVerification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(counted) != 1:
        return CodeCheck.TOO_MANY_ATTEMPTS
    expected = verification.code_hash
    if not hmac.compare_digest(expected, _code_hash(vault, verification.phone_hash, code.strip())):
        session.expire(verification)
        return CodeCheck.WRONG
    verification.verified_at = utc_now()
    session.flush()
    return CodeCheck.VERIFIED


#: Demo posters: (unit code, service point).
DEMO_POSTERS: tuple[tuple[str, str], ...] = (
    ("G04", "市政务服务中心一楼综合窗口"),
    ("S03", "市社保服务大厅"),
    ("L01", "市公安局出入境接待大厅"),
    ("S05", "市医保服务中心"),
)


def load_collection_demo(session: orm.Session, cycle: Cycle) -> None:
    """Demo posters, and citizens rating four units each (flushes only)."""
    for group in cycle.rater_groups:
        if group.code == "citizens" and group.units_per_respondent is None:
            group.units_per_respondent = 4
    units = {unit.code: unit for unit in cycle.units}
    for unit_code, service_point in DEMO_POSTERS:
        if unit_code in units:
            create_poster(
                session, cycle, units[unit_code], service_point=service_point, actor="demo"
            )
    session.flush()


def demo_links(session: orm.Session, base_url: str, invitations: int = 3) -> list[str]:
    """Lines for the console: poster links and a few open invitation links to try on a phone."""
    from survey.models import FieldworkCase

    lines: list[str] = []
    posters = session.scalars(
        sa.select(Poster).where(Poster.active.is_(True)).order_by(Poster.id).limit(4)
    ).all()
    if posters:
        lines.append("Open QR posters (公开二维码, SMS code shown on screen in the demo):")
        lines.extend(f"  {base_url}/q/{p.code}   {p.unit.name} {p.service_point}" for p in posters)
    tokens = session.scalars(
        sa.select(FieldworkCase.token)
        .where(FieldworkCase.released.is_(True), FieldworkCase.completed_at.is_(None))
        .order_by(FieldworkCase.id)
        .limit(invitations)
    ).all()
    if tokens:
        lines.append("Invitation links for sampled citizens (邀请链接, single use):")
        lines.extend(f"  {base_url}/s/{token}" for token in tokens)
    return lines
