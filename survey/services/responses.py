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
import threading
import weakref
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

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


#: A SELECT of units (entities or columns), narrowed by :func:`_rated_units`.
SelectT = TypeVar("SelectT", bound=sa.Select)  # type: ignore[type-arg]
#: Units as ORM rows or as the plain values the respondent pages keep.
U = TypeVar("U", Unit, "QuestionUnit")

UNKNOWN = "unknown"
EXPIRED = "expired"
ALREADY_ANSWERED = "already_answered"
NOT_OPEN = "not_open"


@dataclass(frozen=True)
class CycleRef:
    """What a questionnaire needs of its cycle: plain values, read without the ORM."""

    id: int
    name: str
    status: CycleStatus
    created_at: datetime

    @classmethod
    def of(cls, cycle: Cycle) -> CycleRef:
        return cls(id=cycle.id, name=cycle.name, status=cycle.status, created_at=cycle.created_at)

    @property
    def is_editable(self) -> bool:
        return self.status.is_editable


@dataclass(frozen=True)
class GroupRef:
    """What a questionnaire needs of its rater group (评价主体)."""

    id: int
    units_per_respondent: int | None

    @classmethod
    def of(cls, group: RaterGroup) -> GroupRef:
        return cls(id=group.id, units_per_respondent=group.units_per_respondent)


@dataclass(frozen=True)
class InvitationCase:
    """What answering needs of a sampled contact's case (no phone, no token)."""

    id: int
    stratum: str
    design_weight: float


@dataclass(frozen=True)
class QuestionUnit:
    """A unit as the respondent pages need it: plain values, shareable between requests."""

    id: int
    code: str
    name: str

    @classmethod
    def of(cls, unit: Unit) -> QuestionUnit:
        return cls(id=unit.id, code=unit.code, name=unit.name)


@dataclass(frozen=True)
class QuestionItem:
    id: int
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class QuestionLevel:
    id: int
    code: str
    label: str
    label_en: str
    is_dont_know: bool
    position: int


@dataclass(frozen=True)
class Structure:
    """What a rater group answers in a cycle: the units it rates, the items, the scale."""

    units: tuple[QuestionUnit, ...]
    items: tuple[QuestionItem, ...]
    levels: tuple[QuestionLevel, ...]


@dataclass(frozen=True)
class Questionnaire:
    """What one respondent answers: the units to rate, the items and the scale.

    ``key`` identifies the cycle's questionnaire while it cannot change (from
    fieldwork on), so pages built from it may be reused; ``None`` for a draft.
    """

    cycle: CycleRef
    rater_group: GroupRef
    units: Sequence[QuestionUnit]
    items: Sequence[QuestionItem]
    levels: Sequence[QuestionLevel]
    key: Hashable | None = None

    def unit(self, unit_id: int) -> QuestionUnit | None:
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


# --- which units -----------------------------------------------------------------


def rated_units(session: orm.Session, group: RaterGroup) -> list[Unit]:
    """Units a rater group rates: those in categories where the group has a weight > 0."""
    return list(session.scalars(_rated_units(sa.select(Unit), group.cycle_id, group.id)))


def _rated_units(select: SelectT, cycle_id: int, group_id: int) -> SelectT:
    """``select`` narrowed to the units the group rates (weight > 0), in code order."""
    return (
        select.join(RaterGroupWeight, RaterGroupWeight.category_id == Unit.category_id)
        .where(
            Unit.cycle_id == cycle_id,
            RaterGroupWeight.rater_group_id == group_id,
            RaterGroupWeight.weight > 0,
        )
        .order_by(Unit.code)
    )


def assigned_units(group: RaterGroup | GroupRef, units: Sequence[U], seed: str) -> list[U]:
    """The units one respondent rates, in code order.

    With ``group.units_per_respondent = k`` these are the ``k`` units with the
    smallest ``SHA-256("<seed>:<unit code>")``: a pure function of the seed (the
    invitation token), so a resumed link shows the same units, and since
    tokens are random every unit is equally likely to be chosen.
    """
    wanted = group.units_per_respondent
    if wanted is None or wanted >= len(units):
        return sorted(units, key=lambda unit: unit.code)

    def rank(unit: U) -> str:
        return hashlib.sha256(f"{seed}:{unit.code}".encode()).hexdigest()

    return sorted(sorted(units, key=rank)[:wanted], key=lambda unit: unit.code)


def unit_seed(key: str | None, token: str) -> str:
    """The seed of :func:`assigned_units` for an invitation: the token and the cycle's
    ``unit_key``, replaced at closing so the units a response rated stop naming its token
    (a cycle without a key, made before there were keys, falls back to the token)."""
    return f"{key}:{token}" if key else token


def structure_key(cycle: Cycle | CycleRef, group: RaterGroup | GroupRef) -> Hashable | None:
    """The cache key of a group's questionnaire, or ``None`` while it may still change.

    Units, weights, items and the scale are editable only while the cycle is a
    draft (``Cycle.is_editable``, enforced by every service that edits them),
    and a cycle never goes back to draft: from fieldwork on they are fixed.
    The name and creation time guard against a recreated database that reuses ids.
    """
    if cycle.is_editable:
        return None
    return (cycle.id, cycle.name, cycle.created_at, group.id)


#: engine → structure key → structure.  Per engine, so apps (and tests) never share.
_structures: weakref.WeakKeyDictionary[sa.Engine, dict[Hashable, Structure]] = (
    weakref.WeakKeyDictionary()
)
_structures_lock = threading.Lock()
#: Structures kept per engine (cycles × rater groups); more than this starts afresh.
STRUCTURES_KEPT = 256


def _load_structure(session: orm.Session, cycle_id: int, group_id: int) -> Structure:
    units = session.execute(
        _rated_units(sa.select(Unit.id, Unit.code, Unit.name), cycle_id, group_id)
    )
    items = session.execute(
        sa.select(Item.id, Item.code, Item.name, Item.name_en)
        .where(Item.cycle_id == cycle_id)
        .order_by(Item.position, Item.id)
    )
    levels = session.execute(
        sa.select(
            ScaleLevel.id,
            ScaleLevel.code,
            ScaleLevel.label,
            ScaleLevel.label_en,
            ScaleLevel.is_dont_know,
            ScaleLevel.position,
        )
        .where(ScaleLevel.cycle_id == cycle_id)
        .order_by(ScaleLevel.position)
    )
    return Structure(
        units=tuple(QuestionUnit(*row) for row in units),
        items=tuple(QuestionItem(*row) for row in items),
        levels=tuple(QuestionLevel(*row) for row in levels),
    )


def group_structure(
    session: orm.Session, cycle: Cycle | CycleRef, group: RaterGroup | GroupRef
) -> tuple[Structure, Hashable | None]:
    """The group's questionnaire structure, read once per cycle while it cannot change."""
    key = structure_key(cycle, group)
    if key is None:
        return _load_structure(session, cycle.id, group.id), None
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with _structures_lock:
        cached = _structures.setdefault(engine, {})
        structure = cached.get(key)
    if structure is None:
        structure = _load_structure(session, cycle.id, group.id)
        with _structures_lock:
            if len(cached) >= STRUCTURES_KEPT:
                cached.clear()
            cached[key] = structure
    return structure, key


def build_questionnaire(
    session: orm.Session, cycle: Cycle, group: RaterGroup, units: Sequence[Unit | QuestionUnit]
) -> Questionnaire:
    structure, key = group_structure(session, cycle, group)
    return Questionnaire(
        cycle=CycleRef.of(cycle),
        rater_group=GroupRef.of(group),
        units=[unit if isinstance(unit, QuestionUnit) else QuestionUnit.of(unit) for unit in units],
        items=structure.items,
        levels=structure.levels,
        key=key,
    )


# --- invitations ------------------------------------------------------------------


def open_invitation(session: orm.Session, token: str) -> tuple[InvitationCase, Questionnaire]:
    """The case behind ``/s/<token>`` and its questionnaire, or a :class:`RespondentError`."""
    case, questionnaire, _draft = open_invitation_with_draft(session, token)
    return case, questionnaire


# The statements of every submission, built once: building one costs more CPU
# than PostgreSQL needs to run it.  Columns, not entities: ORM objects for the
# case, cycle and group cost a third of the statement's CPU and nobody changes them.
def _table(model: type[Any]) -> sa.Table:
    # Core statements, run on the session's connection: no unit of work, no ORM
    # execution layer (about a tenth of a submission's CPU) and no objects built
    # for rows nobody reads back.
    return cast(sa.Table, model.__table__)


def _connection(session: orm.Session) -> sa.Connection:
    """The session's connection for Core statements, after the autoflush that
    ``session.execute`` would have done (objects changed earlier are seen)."""
    if session.autoflush:
        session.flush()
    return session.connection()


_CASES = _table(FieldworkCase)
_DRAFTS = _table(ResponseDraft)
_CYCLES = _table(Cycle)
_GROUPS = _table(RaterGroup)
_DRAWS = _table(SampleDraw)
_FRAMES = _table(SamplingFrame)
_OPEN_INVITATION = (
    sa.select(
        _CASES.c.id.label("case_id"),
        _CASES.c.stratum,
        _CASES.c.design_weight,
        _CASES.c.released,
        _CASES.c.completed_at,
        _CASES.c.response_id,
        _CYCLES.c.id.label("cycle_id"),
        _CYCLES.c.name.label("cycle_name"),
        _CYCLES.c.status.label("cycle_status"),
        _CYCLES.c.created_at.label("cycle_created_at"),
        _CYCLES.c.unit_key,
        _GROUPS.c.id.label("group_id"),
        _GROUPS.c.units_per_respondent,
        _DRAFTS.c.answers_json,
    )
    .join(_CYCLES, _CYCLES.c.id == _CASES.c.cycle_id)
    .join(_DRAWS, _DRAWS.c.id == _CASES.c.draw_id)
    .join(_FRAMES, _FRAMES.c.id == _DRAWS.c.frame_id)
    .join(_GROUPS, _GROUPS.c.id == _FRAMES.c.rater_group_id)
    .outerjoin(_DRAFTS, _DRAFTS.c.case_id == _CASES.c.id)
    .where(_CASES.c.token == sa.bindparam("token"))
)


_CLAIM_CASE = (
    sa.update(_CASES)
    .where(
        _CASES.c.id == sa.bindparam("case_id"),
        _CASES.c.completed_at.is_(None),
        _CASES.c.response_id.is_(None),
    )
    .values(
        completed_at=sa.bindparam("now"),
        disposition=DISPOSITION_COMPLETE,
        response_id=sa.bindparam("response_id"),
    )
)
_DELETE_CASE_DRAFT = sa.delete(_DRAFTS).where(_DRAFTS.c.case_id == sa.bindparam("case_id"))


def open_invitation_with_draft(
    session: orm.Session, token: str
) -> tuple[InvitationCase, Questionnaire, Answers]:
    """:func:`open_invitation` and the saved draft, read with one statement.

    The case, its cycle, its rater group and its draft come in one query; the
    questionnaire's units, items and scale come from :func:`group_structure`.
    """
    row = _connection(session).execute(_OPEN_INVITATION, {"token": token}).first()
    if row is None or not row.released:
        raise RespondentError(UNKNOWN, "this link is not known")
    cycle = CycleRef(
        id=row.cycle_id,
        name=row.cycle_name,
        status=row.cycle_status,
        created_at=row.cycle_created_at,
    )
    group = GroupRef(id=row.group_id, units_per_respondent=row.units_per_respondent)
    if row.completed_at is not None or row.response_id is not None:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    if cycle.status != CycleStatus.FIELDING:
        reason = NOT_OPEN if cycle.status == CycleStatus.DRAFT else EXPIRED
        raise RespondentError(reason, f"the survey is {cycle.status.value}")
    structure, key = group_structure(session, cycle, group)
    questionnaire = Questionnaire(
        cycle=cycle,
        rater_group=group,
        units=assigned_units(group, structure.units, unit_seed(row.unit_key, token)),
        items=structure.items,
        levels=structure.levels,
        key=key,
    )
    case = InvitationCase(id=row.case_id, stratum=row.stratum, design_weight=row.design_weight)
    return case, questionnaire, _parse_draft(row.answers_json)


def submit_invitation(
    session: orm.Session,
    case: InvitationCase,
    questionnaire: Questionnaire,
    answers: Answers,
    *,
    had_draft: bool = True,
) -> int:
    """Store the response of a sampled contact, once, whatever arrives at the same time.

    The response is written and the case claimed by a conditional ``UPDATE`` that
    also links it (:func:`_store_response`): a request that loses the race (0 rows)
    raises and its caller rolls the response back.  On PostgreSQL all of that is one
    statement, which also writes the audit entry.  ``had_draft=False`` (the caller read
    no draft) skips deleting it.  Returns the new response's id.
    """
    check_complete(questionnaire, answers)
    response_id = _store_response(
        session,
        questionnaire,
        answers,
        channel=Channel.INVITATION,
        stratum=case.stratum,
        design_weight=case.design_weight,
        claim_case_id=case.id,
    )
    if had_draft:
        _connection(session).execute(_DELETE_CASE_DRAFT, {"case_id": case.id})
    # The UPDATE bypassed the ORM: a copy of the case loaded elsewhere in this session
    # would keep its old values.
    loaded = session.identity_map.get(orm.util.identity_key(FieldworkCase, case.id))
    if loaded is not None:
        session.expire(loaded)
    return response_id


# --- poster verifications ---------------------------------------------------------


def submit_open(
    session: orm.Session,
    verification: PosterVerification,
    questionnaire: Questionnaire,
    answers: Answers,
) -> int:
    """Store a poster response: one per verified phone number, unit and cycle; its id."""
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
    response_id = _store_response(
        session, questionnaire, answers, channel=Channel.OPEN_QR, stratum="", design_weight=1.0
    )
    session.execute(
        sa.delete(ResponseDraft).where(ResponseDraft.verification_id == verification.id)
    )
    session.expire(verification)
    return response_id


_INSERT_RESPONSE = sa.insert(_table(Response)).returning(_table(Response).c.id)
# RETURNING makes SQLAlchemy send the batch as one multi-row INSERT ("insertmanyvalues")
# rather than a driver-level executemany: one statement for all the answers.
_INSERT_ANSWERS = sa.insert(_table(Answer)).returning(_table(Answer).c.id)
_INSERT_COMMENTS = sa.insert(_table(Comment))


# PostgreSQL: the response, its answers and its comments, and for an invitation the
# claim of its case, in one statement (four round trips become one).  Data-modifying
# CTEs share one snapshot; foreign keys are checked at the end of the statement, when
# the response row exists.  Rows keep the order they were given in (WITH ORDINALITY).
_STORE_CTES = """
WITH new_response AS (
    INSERT INTO response (cycle_id, channel, rater_group_id, stratum, design_weight,
                          submitted_at)
    VALUES (:cycle_id, :channel, :rater_group_id, :stratum, :design_weight, :submitted_at)
    RETURNING id
), new_answers AS (
    INSERT INTO answer (response_id, unit_id, item_id, scale_level_id)
    SELECT new_response.id, given.unit_id, given.item_id, given.scale_level_id
    FROM new_response,
         unnest(CAST(:unit_ids AS integer[]), CAST(:item_ids AS integer[]),
                CAST(:scale_level_ids AS integer[]))
             WITH ORDINALITY AS given (unit_id, item_id, scale_level_id, position)
    ORDER BY given.position
), new_comments AS (
    INSERT INTO comment (response_id, unit_id, text, created_at)
    SELECT new_response.id, given.unit_id, given.text, :submitted_at
    FROM new_response,
         unnest(CAST(:comment_unit_ids AS integer[]), CAST(:comment_texts AS text[]))
             WITH ORDINALITY AS given (unit_id, text, position)
    ORDER BY given.position
)"""
_STORE_RESPONSE_POSTGRESQL = sa.text(_STORE_CTES + "\nSELECT id, 0 AS claimed FROM new_response")
# The claim is _CLAIM_CASE's.  Its RETURNING takes the audit chain's lock and reads the
# chain's head (audit.CHAIN_HEAD_LOCKED), only when the case is claimed, and the entry
# for the response is written from it: a claimed case gets its entry in the same
# statement, a lost race gets none (and the caller rolls back).
_STORE_RESPONSE_AND_CLAIM_POSTGRESQL = sa.text(
    _STORE_CTES
    + f"""
, claimed AS (
    UPDATE fieldwork_case
    SET completed_at = :submitted_at, disposition = :disposition,
        response_id = (SELECT id FROM new_response)
    WHERE id = :case_id AND completed_at IS NULL AND response_id IS NULL
    RETURNING {audit.CHAIN_HEAD_LOCKED} AS chain_head
), new_entry AS (
    {
        audit.insert_entry_sql(
            object_id="CAST(new_response.id AS text)",
            previous_hash="claimed.chain_head",
            source="new_response, claimed",
        )
    }
    RETURNING id
)
SELECT (SELECT id FROM new_response), (SELECT count(*) FROM claimed) AS claimed
"""
)


def _store_response(
    session: orm.Session,
    questionnaire: Questionnaire,
    answers: Answers,
    *,
    channel: Channel,
    stratum: str,
    design_weight: float,
    claim_case_id: int | None = None,
) -> int:
    """Insert the response, its answers (one batch) and comments, and its audit entry;
    return the response id.

    With ``claim_case_id``, also claim that invitation case for the response; a case
    already claimed raises :class:`RespondentError` and the caller must roll back.  On
    PostgreSQL all of that is one statement (the entry hashed by the database,
    :func:`audit.insert_entry_sql`).
    """
    connection = _connection(session)
    submitted_at = utc_now()
    given = [
        (unit.id, item.id, answers[unit.id].levels[item.id])
        for unit in questionnaire.units
        for item in questionnaire.items
    ]
    comments = [
        (unit.id, answers[unit.id].comment.strip())
        for unit in questionnaire.units
        if answers[unit.id].comment.strip()
    ]
    response = {
        "cycle_id": questionnaire.cycle.id,
        "channel": channel.value,
        "rater_group_id": questionnaire.rater_group.id,
        "stratum": stratum,
        "design_weight": design_weight,
        "submitted_at": submitted_at,
    }
    entry, details = submission_entry(channel, len(questionnaire.units))
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        parameters = {
            **response,
            "unit_ids": [unit_id for unit_id, _item, _level in given],
            "item_ids": [item_id for _unit, item_id, _level in given],
            "scale_level_ids": [level for _unit, _item, level in given],
            "comment_unit_ids": [unit_id for unit_id, _text in comments],
            "comment_texts": [text for _unit, text in comments],
        }
        if claim_case_id is None:
            statement = _STORE_RESPONSE_POSTGRESQL
        else:
            statement = _STORE_RESPONSE_AND_CLAIM_POSTGRESQL
            parameters.update(
                audit.EntryContent.of(**entry, details=details).parameters(),
                case_id=claim_case_id,
                disposition=DISPOSITION_COMPLETE,
            )
        response_id, claimed = connection.execute(statement, parameters).one()
    else:
        response_id = connection.execute(_INSERT_RESPONSE, response).scalar_one()
        connection.execute(
            _INSERT_ANSWERS,
            [
                {
                    "response_id": response_id,
                    "unit_id": unit_id,
                    "item_id": item_id,
                    "scale_level_id": level,
                }
                for unit_id, item_id, level in given
            ],
        )
        if comments:
            connection.execute(
                _INSERT_COMMENTS,
                [
                    {
                        "response_id": response_id,
                        "unit_id": unit_id,
                        "text": text,
                        "created_at": submitted_at,
                    }
                    for unit_id, text in comments
                ],
            )
        claimed = 0
        if claim_case_id is not None:
            claim = {"case_id": claim_case_id, "now": submitted_at, "response_id": response_id}
            claimed = rows_changed(connection.execute(_CLAIM_CASE, claim))
    if claim_case_id is not None and claimed != 1:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    # On PostgreSQL a claiming store statement wrote the entry itself.
    if not (postgresql and claim_case_id is not None):
        audit.record(session, **entry, object_id=response_id, details=details)
    return int(response_id)


def submission_entry(
    channel: Channel, units: int, actor: str = "respondent"
) -> tuple[dict[str, str], dict[str, Any]]:
    """The audit entry of a new response, the same for every channel: (fields, details).

    It names the response and never a case, token, phone or person (not even the
    interviewer: ``actor`` is a role), since the log is append-only and outlives the
    anonymity promise; nothing written in the same transaction names a case either
    (docs/security.md, "Anonymity after fieldwork").
    """
    entry = {"actor": actor, "action": "response.submit", "object_type": "response"}
    return entry, {"channel": channel.value, "units": units}


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
    return _parse_draft(draft.answers_json if draft is not None else None)


def _parse_draft(answers_json: str | None) -> Answers:
    if answers_json is None:
        return {}
    stored = json.loads(answers_json)
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
