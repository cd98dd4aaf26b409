"""Answering a questionnaire (答卷): which units, drafts, and exactly-once submission.

A respondent rates a few units, not all of them: a rater group's
``units_per_respondent`` (每人评价单位数) picks that many of the units the
group rates, by a seeded hash of the invitation token, so the same link always
shows the same units and different links spread evenly over all of them
(:func:`assigned_units`).  Listed groups (deputies, leaders) leave it empty and
rate every unit.

Submission is exactly-once under concurrency: the case (or the poster's phone
verification) is claimed by one conditional ``UPDATE … WHERE completed_at IS
NULL``; only the request whose update changed a row creates the response, and
unique constraints (``fieldwork_case.response_id``, poster verification key)
are the last line of defence.  Drafts are separate rows and never responses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    Answer,
    Channel,
    Comment,
    Cycle,
    CycleStatus,
    FieldworkCase,
    Item,
    PosterVerification,
    RaterGroup,
    RaterGroupWeight,
    Response,
    ResponseDraft,
    SampleDraw,
    SamplingFrame,
    ScaleLevel,
    Unit,
)
from survey.models.base import utc_now
from survey.services import audit
from survey.services.errors import Problem, ServiceError, ValidationError
from survey.services.redaction import mask_personal_data

#: Longest comment accepted, in characters (after that it is an error, never cut).
COMMENT_MAX_LENGTH = 2000
#: AAPOR final disposition of a completed interview.
DISPOSITION_COMPLETE = "1.1"


class RespondentError(ServiceError):
    """A link or poster that cannot be answered (now); ``reason`` picks the page shown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


UNKNOWN = "unknown"
EXPIRED = "expired"
ALREADY_ANSWERED = "already_answered"
NOT_OPEN = "not_open"


@dataclass(frozen=True)
class Questionnaire:
    """What one respondent answers: the units to rate, the items and the scale."""

    cycle: Cycle
    rater_group: RaterGroup
    units: list[Unit]
    items: list[Item]
    levels: list[ScaleLevel]

    def unit(self, unit_id: int) -> Unit | None:
        return next((unit for unit in self.units if unit.id == unit_id), None)


@dataclass
class UnitAnswers:
    """The answers for one unit: item id → scale level id, and the (redacted) comment."""

    levels: dict[int, int] = field(default_factory=dict)
    comment: str = ""

    def is_complete(self, questionnaire: Questionnaire) -> bool:
        return all(item.id in self.levels for item in questionnaire.items)


Answers = dict[int, UnitAnswers]


def rows_changed(result: sa.Result[Any]) -> int:
    """Rows an ``UPDATE`` changed: the claim that makes submission exactly-once."""
    return int(cast(sa.CursorResult[Any], result).rowcount)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- which units -----------------------------------------------------------------


def rated_units(session: orm.Session, group: RaterGroup) -> list[Unit]:
    """Units a rater group rates: those in categories where the group has a weight > 0."""
    return list(
        session.scalars(
            sa.select(Unit)
            .join(RaterGroupWeight, RaterGroupWeight.category_id == Unit.category_id)
            .where(
                Unit.cycle_id == group.cycle_id,
                RaterGroupWeight.rater_group_id == group.id,
                RaterGroupWeight.weight > 0,
            )
            .order_by(Unit.code)
        )
    )


def assigned_units(group: RaterGroup, units: Sequence[Unit], seed: str) -> list[Unit]:
    """The units one respondent rates, in code order.

    With ``group.units_per_respondent = k`` these are the ``k`` units with the
    smallest ``SHA-256("<seed>:<unit code>")``: a pure function of the seed (the
    invitation token), so a resumed link shows the same units, and since
    tokens are random every unit is equally likely to be chosen.
    """
    wanted = group.units_per_respondent
    if wanted is None or wanted >= len(units):
        return sorted(units, key=lambda unit: unit.code)

    def rank(unit: Unit) -> str:
        return hashlib.sha256(f"{seed}:{unit.code}".encode()).hexdigest()

    return sorted(sorted(units, key=rank)[:wanted], key=lambda unit: unit.code)


def build_questionnaire(
    session: orm.Session, cycle: Cycle, group: RaterGroup, units: list[Unit]
) -> Questionnaire:
    return Questionnaire(
        cycle=cycle,
        rater_group=group,
        units=units,
        items=list(cycle.items),
        levels=sorted(cycle.scale_levels, key=lambda level: level.position),
    )


# --- invitations ------------------------------------------------------------------


def open_invitation(session: orm.Session, token: str) -> tuple[FieldworkCase, Questionnaire]:
    """The case behind ``/s/<token>`` and its questionnaire, or a :class:`RespondentError`."""
    case = session.scalar(sa.select(FieldworkCase).where(FieldworkCase.token == token))
    if case is None or not case.released:
        raise RespondentError(UNKNOWN, "this link is not known")
    if case.completed_at is not None or case.response_id is not None:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    cycle = session.get(Cycle, case.cycle_id)
    assert cycle is not None
    if cycle.status != CycleStatus.FIELDING:
        reason = NOT_OPEN if cycle.status == CycleStatus.DRAFT else EXPIRED
        raise RespondentError(reason, f"the survey is {cycle.status.value}")
    frame = session.scalar(
        sa.select(SamplingFrame)
        .join(SampleDraw, SampleDraw.frame_id == SamplingFrame.id)
        .where(SampleDraw.id == case.draw_id)
    )
    assert frame is not None
    group = frame.rater_group
    units = assigned_units(group, rated_units(session, group), token)
    return case, build_questionnaire(session, cycle, group, units)


def submit_invitation(
    session: orm.Session, case: FieldworkCase, questionnaire: Questionnaire, answers: Answers
) -> Response:
    """Store the response of a sampled contact, once, whatever arrives at the same time."""
    check_complete(questionnaire, answers)
    now = utc_now()
    claimed = session.execute(
        sa.update(FieldworkCase)
        .where(
            FieldworkCase.id == case.id,
            FieldworkCase.completed_at.is_(None),
            FieldworkCase.response_id.is_(None),
        )
        .values(completed_at=now, disposition=DISPOSITION_COMPLETE)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(claimed) != 1:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    response = _store_response(
        session,
        questionnaire,
        answers,
        channel=Channel.INVITATION,
        stratum=case.stratum,
        design_weight=case.design_weight,
    )
    session.execute(
        sa.update(FieldworkCase)
        .where(FieldworkCase.id == case.id)
        .values(response_id=response.id)
        .execution_options(synchronize_session=False)
    )
    session.execute(sa.delete(ResponseDraft).where(ResponseDraft.case_id == case.id))
    session.expire(case)
    return response


# --- poster verifications ---------------------------------------------------------


def submit_open(
    session: orm.Session,
    verification: PosterVerification,
    questionnaire: Questionnaire,
    answers: Answers,
) -> Response:
    """Store a poster response: one per verified phone number, unit and cycle."""
    check_complete(questionnaire, answers)
    claimed = session.execute(
        sa.update(PosterVerification)
        .where(
            PosterVerification.id == verification.id,
            PosterVerification.verified_at.is_not(None),
            PosterVerification.completed_at.is_(None),
        )
        .values(completed_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if rows_changed(claimed) != 1:
        raise RespondentError(
            ALREADY_ANSWERED, "this phone number has already rated this unit in this cycle"
        )
    response = _store_response(
        session, questionnaire, answers, channel=Channel.OPEN_QR, stratum="", design_weight=1.0
    )
    session.execute(
        sa.delete(ResponseDraft).where(ResponseDraft.verification_id == verification.id)
    )
    session.expire(verification)
    return response


def _store_response(
    session: orm.Session,
    questionnaire: Questionnaire,
    answers: Answers,
    *,
    channel: Channel,
    stratum: str,
    design_weight: float,
) -> Response:
    response = Response(
        cycle_id=questionnaire.cycle.id,
        channel=channel,
        rater_group_id=questionnaire.rater_group.id,
        stratum=stratum,
        design_weight=design_weight,
    )
    for unit in questionnaire.units:
        unit_answers = answers[unit.id]
        for item in questionnaire.items:
            response.answers.append(
                Answer(
                    unit_id=unit.id, item_id=item.id, scale_level_id=unit_answers.levels[item.id]
                )
            )
        if unit_answers.comment.strip():
            response.comments.append(Comment(unit_id=unit.id, text=unit_answers.comment.strip()))
    session.add(response)
    session.flush()
    # No case, token or phone in the audit log: it is append-only and would
    # outlive the anonymity promise.
    audit.record(
        session,
        actor="respondent",
        action="response.submit",
        object_type="response",
        object_id=response.id,
        details={"channel": channel.value, "units": len(questionnaire.units)},
    )
    return response


def purge_drafts(session: orm.Session, cycle_id: int) -> int:
    """Delete every unsubmitted draft of a cycle; call it when fieldwork closes.

    Drafts are keyed by case or by phone verification, so keeping them would
    keep a link between a person and answers after the anonymity promise ends.
    """
    case_ids = sa.select(FieldworkCase.id).where(FieldworkCase.cycle_id == cycle_id)
    verification_ids = sa.select(PosterVerification.id).where(
        PosterVerification.cycle_id == cycle_id
    )
    result = session.execute(
        sa.delete(ResponseDraft)
        .where(
            sa.or_(
                ResponseDraft.case_id.in_(case_ids),
                ResponseDraft.verification_id.in_(verification_ids),
            )
        )
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)


def case_answered(session: orm.Session, case_id: int) -> bool:
    """Fresh from the database (not the session's copy): has the case been answered?"""
    completed = session.execute(
        sa.select(FieldworkCase.completed_at).where(FieldworkCase.id == case_id)
    ).scalar_one_or_none()
    return completed is not None


def verification_answered(session: orm.Session, verification_id: int) -> bool:
    completed = session.execute(
        sa.select(PosterVerification.completed_at).where(PosterVerification.id == verification_id)
    ).scalar_one_or_none()
    return completed is not None


# --- answers and drafts ------------------------------------------------------------


def parse_unit_answers(
    questionnaire: Questionnaire,
    unit_id: int,
    levels: Mapping[int, object],
    comment: str,
    *,
    require_all: bool,
) -> UnitAnswers:
    """Check one unit's answers against the questionnaire; the comment comes back redacted.

    Every problem names the field (``item_<id>`` or ``comment``).  With
    ``require_all`` every item must be answered.
    """
    problems: list[Problem] = []
    unit = questionnaire.unit(unit_id)
    if unit is None:
        raise ValidationError(
            "this unit is not part of your questionnaire", [Problem("unknown unit", column="unit")]
        )
    item_ids = {item.id for item in questionnaire.items}
    level_ids = {level.id for level in questionnaire.levels}
    result = UnitAnswers()
    for item_id, level in levels.items():
        if item_id not in item_ids:
            problems.append(Problem("unknown item", column=f"item_{item_id}"))
        elif level not in level_ids:
            problems.append(Problem("not a level of this scale", column=f"item_{item_id}"))
        else:
            result.levels[item_id] = int(level)  # type: ignore[call-overload]
    if require_all:
        for item in questionnaire.items:
            if item.id not in result.levels and item.id not in levels:
                problems.append(Problem("not answered", column=f"item_{item.id}"))
    if len(comment) > COMMENT_MAX_LENGTH:
        problems.append(
            Problem(
                f"at most {COMMENT_MAX_LENGTH} characters (this one has {len(comment)})",
                column="comment",
            )
        )
    if problems:
        raise ValidationError("the answers for this unit are not valid", problems)
    result.comment = mask_personal_data(comment.strip())
    return result


def check_complete(questionnaire: Questionnaire, answers: Answers) -> None:
    missing = [
        Problem("not all items answered", column=f"unit {unit.code}")
        for unit in questionnaire.units
        if unit.id not in answers or not answers[unit.id].is_complete(questionnaire)
    ]
    if missing:
        raise ValidationError("some units are not fully answered yet", missing)


def _draft(
    session: orm.Session, *, case_id: int | None, verification_id: int | None
) -> ResponseDraft | None:
    if case_id is not None:
        return session.scalar(sa.select(ResponseDraft).where(ResponseDraft.case_id == case_id))
    return session.scalar(
        sa.select(ResponseDraft).where(ResponseDraft.verification_id == verification_id)
    )


def load_draft(
    session: orm.Session, *, case_id: int | None = None, verification_id: int | None = None
) -> Answers:
    draft = _draft(session, case_id=case_id, verification_id=verification_id)
    if draft is None:
        return {}
    stored = json.loads(draft.answers_json)
    return {
        int(unit_id): UnitAnswers(
            levels={int(item): int(level) for item, level in entry["items"].items()},
            comment=str(entry.get("comment", "")),
        )
        for unit_id, entry in stored.items()
    }


def save_draft(
    session: orm.Session,
    unit_id: int,
    unit_answers: UnitAnswers,
    *,
    case_id: int | None = None,
    verification_id: int | None = None,
) -> Answers:
    """Merge one unit's answers into the draft (暂存) and return the whole draft."""
    answers = load_draft(session, case_id=case_id, verification_id=verification_id)
    answers[unit_id] = unit_answers
    payload = json.dumps(
        {
            str(unit): {
                "items": {str(item): level for item, level in entry.levels.items()},
                "comment": entry.comment,
            }
            for unit, entry in answers.items()
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    draft = _draft(session, case_id=case_id, verification_id=verification_id)
    if draft is None:
        draft = ResponseDraft(case_id=case_id, verification_id=verification_id)
        session.add(draft)
    draft.answers_json = payload
    draft.updated_at = utc_now()
    session.flush()
    return answers
