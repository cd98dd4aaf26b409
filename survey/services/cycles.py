"""Creating cycles, setting them up from presets, and moving them through their statuses."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.ext.compiler import compiles

from survey.models import (
    CallAttempt,
    CaseSchedule,
    Comment,
    ComponentWeight,
    Cycle,
    CycleStatus,
    DontKnowHandling,
    FieldworkCase,
    FollowUp,
    Item,
    IvrStep,
    ListedRater,
    PosterVerification,
    QualityCallback,
    RaterGroup,
    RaterGroupWeight,
    Rectification,
    Response,
    ScaleLevel,
    ScalePreset,
    ScoreComponent,
    Unit,
    UnitCategory,
)
from survey.models.base import utc_now
from survey.models.cycle import new_unit_key
from survey.services import audit, checkpoints, presets
from survey.services.errors import (
    N_,
    NotEditableError,
    Problem,
    TransitionError,
    ValidationError,
    status_term,
)


@dataclass(frozen=True)
class CycleSettings:
    """What an admin enters for a cycle."""

    name: str
    year: int
    period_start: date
    period_end: date
    scale_preset: ScalePreset = ScalePreset.FIVE_LEVEL
    dont_know_handling: DontKnowHandling = DontKnowHandling.EXCLUDE
    min_valid_responses: int = 30
    description: str = ""


def _validate_settings(session: orm.Session, settings: CycleSettings, cycle_id: int | None) -> None:
    problems: list[Problem] = []
    if not settings.name.strip():
        problems.append(Problem(N_("a name is required"), column="name"))
    if settings.period_end < settings.period_start:
        problems.append(Problem(N_("the period ends before it starts"), column="period_end"))
    if settings.min_valid_responses < 1:
        problems.append(
            Problem(N_("at least %(n)d"), column="min_valid_responses", parameters={"n": 1})
        )
    clash = session.scalar(
        sa.select(Cycle.id).where(Cycle.name == settings.name.strip(), Cycle.id != (cycle_id or 0))
    )
    if clash is not None:
        problems.append(Problem(N_("a cycle with this name exists"), column="name"))
    if problems:
        raise ValidationError(N_("The cycle settings were not saved."), problems)


def create_cycle(
    session: orm.Session, settings: CycleSettings, *, actor: str, with_defaults: bool = True
) -> Cycle:
    """Create a draft cycle; ``with_defaults`` sets it up from the DESIGN §4 presets."""
    _validate_settings(session, settings, None)
    cycle = Cycle(
        name=settings.name.strip(),
        year=settings.year,
        period_start=settings.period_start,
        period_end=settings.period_end,
        scale_preset=settings.scale_preset,
        dont_know_handling=settings.dont_know_handling,
        min_valid_responses=settings.min_valid_responses,
        description=settings.description,
        status=CycleStatus.DRAFT,
    )
    session.add(cycle)
    session.flush()
    apply_scale_preset(session, cycle, settings.scale_preset, actor=actor, record_audit=False)
    if with_defaults:
        _apply_default_setup(session, cycle)
    audit.record(
        session,
        actor=actor,
        action="cycle.create",
        object_type="cycle",
        object_id=cycle.id,
        details={"name": cycle.name, "with_defaults": with_defaults},
    )
    return cycle


def _apply_default_setup(session: orm.Session, cycle: Cycle) -> None:
    for position, (code, name, name_en) in enumerate(presets.DEFAULT_ITEMS):
        session.add(
            Item(
                cycle=cycle,
                code=code,
                name=name,
                name_en=name_en,
                weight=1 / len(presets.DEFAULT_ITEMS),
                position=position,
            )
        )
    groups = {
        code: RaterGroup(cycle=cycle, code=code, name=name, sampling_kind=kind, position=position)
        for position, (code, name, kind) in enumerate(presets.DEFAULT_RATER_GROUPS)
    }
    components = {
        code: ScoreComponent(
            cycle=cycle, code=code, name=name, is_social_recognition=is_social, position=position
        )
        for position, (code, name, is_social) in enumerate(presets.DEFAULT_COMPONENTS)
    }
    for position, (code, name, kind) in enumerate(presets.DEFAULT_CATEGORIES):
        category = UnitCategory(cycle=cycle, code=code, name=name, position=position)
        group_weights = (
            presets.RATER_WEIGHTS_COUNTY if kind == "county" else presets.RATER_WEIGHTS_DEPARTMENT
        )
        for group_code, weight in group_weights.items():
            category.rater_group_weights.append(
                RaterGroupWeight(rater_group=groups[group_code], weight=weight)
            )
        for component_code, weight in presets.COMPONENT_PRESETS[kind].items():
            category.component_weights.append(
                ComponentWeight(component=components[component_code], weight=weight)
            )
        session.add(category)
    session.flush()


def update_cycle(
    session: orm.Session, cycle: Cycle, settings: CycleSettings, *, actor: str
) -> Cycle:
    """Change a cycle's settings.  The scale can change only while it is a draft."""
    _validate_settings(session, settings, cycle.id)
    if settings.scale_preset != cycle.scale_preset:
        apply_scale_preset(session, cycle, settings.scale_preset, actor=actor)
    changed = {}
    for field in (
        "name",
        "year",
        "period_start",
        "period_end",
        "dont_know_handling",
        "min_valid_responses",
        "description",
    ):
        new = getattr(settings, field)
        if field == "name":
            new = new.strip()
        if getattr(cycle, field) != new:
            changed[field] = [str(getattr(cycle, field)), str(new)]
            setattr(cycle, field, new)
    if changed and cycle.status not in (CycleStatus.DRAFT, CycleStatus.FIELDING):
        raise NotEditableError(
            N_("The cycle is %(status)s: its settings can no longer change."),
            parameters={"status": status_term(cycle.status)},
        )
    session.flush()
    if changed:
        audit.record(
            session,
            actor=actor,
            action="cycle.update",
            object_type="cycle",
            object_id=cycle.id,
            details=changed,
        )
    return cycle


def transition_cycle(
    session: orm.Session,
    cycle: Cycle,
    target: CycleStatus,
    *,
    actor: str,
    unlink_responses: bool = True,
) -> Cycle:
    """Move a cycle to ``target`` if the transition is allowed (see ``ALLOWED_TRANSITIONS``).

    Closing fieldwork ends every link between a sampled contact (or a verified
    phone) and a response (``unlink_responses``, the anonymity promise shown to
    respondents, :func:`anonymise_closed_cycle`), unless the cycle's
    configuration keeps it.  All of it happens in the caller's transaction, and
    the one audit entry names the cycle and counts, never a case.
    """
    if not cycle.can_transition_to(target):
        raise TransitionError(
            N_("A cycle that is %(status)s cannot change to %(target)s."),
            parameters={"status": status_term(cycle.status), "target": status_term(target)},
        )
    problems = setup_problems(cycle) if target == CycleStatus.FIELDING else []
    if problems:
        raise TransitionError(N_("The cycle is not ready for fieldwork."), problems)
    previous = cycle.status
    cycle.status = target
    details: dict[str, object] = {"from": previous.value, "to": target.value}
    if target == CycleStatus.CLOSED and unlink_responses:
        details.update(anonymise_closed_cycle(session, cycle).as_details())
    else:
        details["responses_unlinked"] = 0
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="cycle.transition",
        object_type="cycle",
        object_id=cycle.id,
        details=details,
    )
    # Each step of a cycle anchors the audit log: deleting what led up to it, or
    # rewriting it, is then detectable (survey.services.checkpoints).
    checkpoints.take(session)
    return cycle


@dataclass(frozen=True)
class Anonymised:
    """What closing a cycle removed or coarsened (counts only: they go into the audit log)."""

    responses_unlinked: int
    drafts_deleted: int
    ivr_steps_deleted: int
    call_attempts_deleted: int
    quality_callbacks_deleted: int
    schedules_cleared: int
    poster_verifications_kept: int
    poster_verifications_deleted: int
    responses_coarsened: int
    comments_detached: int
    #: Listed raters who had answered: their instant became the day of closing.
    listed_raters_coarsened: int = 0

    def as_details(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class _DayOf(sa.sql.expression.FunctionElement[datetime]):
    """The UTC midnight of a stored time, computed by the database (SQL per dialect)."""

    inherit_cache = True
    type = sa.DateTime(timezone=True)


@compiles(_DayOf, "postgresql")
def _day_postgresql(element: _DayOf, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    inner = compiler.process(column, **kw)
    return f"(date_trunc('day', {inner} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"


@compiles(_DayOf, "sqlite")
def _day_sqlite(element: _DayOf, compiler: Any, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text in UTC.
    (column,) = element.clauses
    return f"(date({compiler.process(column, **kw)}) || ' 00:00:00.000000')"


def _changed(session: orm.Session, statement: sa.Executable) -> int:
    """Run a bulk ``UPDATE``/``DELETE`` and return its row count; the caller expires the
    session afterwards, so the ORM need not match the rows to loaded objects."""
    from survey.services.responses import rows_changed

    return rows_changed(
        session.execute(statement, execution_options={"synchronize_session": False})
    )


def anonymise_closed_cycle(session: orm.Session, cycle: Cycle) -> Anonymised:
    """Forget which sampled contact or verified phone gave which response (flushes only).

    Run in the transaction that closes the cycle, so a failure leaves everything
    as it was.  An attacker with a copy of the database and the logs afterwards
    must find no path from a response to a contact, phone or phone hash:

    * the case keeps its contact (the sample stays verifiable) and its
      disposition (AAPOR rates), but loses its response and the instant it
      was completed: ``completed_at`` becomes the day of closing for every
      completed case (still "answered", so a reopened cycle cannot be answered
      twice, but equal for all);
    * keypresses (they are the answers), every call attempt of an answered case
      (times, call ids; a recorded one stays until the retention purge deletes
      its recording), quality call-backs (they point at answers) and unsubmitted
      drafts are deleted; calling-schedule times of answered cases are cleared;
    * poster verifications that led to a response keep only what stops a phone
      from rating the unit twice (cycle, unit, phone hash), re-inserted in the
      order of their hashes with the day of closing as their times, so neither their ids nor their
      times follow the order of the responses; unanswered ones are deleted;
    * responses (and their comments) keep the day they were submitted, not the
      instant;
    * comments are detached from their responses and renumbered in random order
      (a comment may have a consented follow-up whose contact is a phone number;
      its fix and follow-ups are re-pointed, so the closed loop goes on);
    * listed raters (名单评价) keep whether they answered, not when: ``answered_at``
      and ``reminded_at`` become the day of closing, unsubmitted drafts go;
    * the cycle's ``unit_key`` is replaced, so the units a response rated no
      longer follow from its invitation token or case id.

    What the audit log says about responses and cases is built not to link them
    in the first place (docs/security.md, "Anonymity after fieldwork").
    """
    from survey.services.responses import purge_drafts

    drafts = purge_drafts(session, cycle.id)
    cases = sa.select(FieldworkCase.id).where(FieldworkCase.cycle_id == cycle.id)
    answered = cases.where(
        sa.or_(FieldworkCase.response_id.is_not(None), FieldworkCase.completed_at.is_not(None))
    )
    attempts = sa.select(CallAttempt.id).where(CallAttempt.case_id.in_(cases))
    steps = _changed(session, sa.delete(IvrStep).where(IvrStep.attempt_id.in_(attempts)))
    callbacks = _changed(
        session, sa.delete(QualityCallback).where(QualityCallback.case_id.in_(cases))
    )
    call_attempts = _changed(
        session,
        sa.delete(CallAttempt).where(
            CallAttempt.case_id.in_(answered),
            sa.or_(
                CallAttempt.recording_sid.is_(None), CallAttempt.recording_deleted_at.is_not(None)
            ),
        ),
    )
    schedules = _changed(
        session,
        sa.update(CaseSchedule)
        .where(CaseSchedule.case_id.in_(answered))
        .values(next_attempt_at=None, appointment_at=None, claimed_by=None, claimed_until=None),
    )
    closed_on = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    _changed(
        session,
        sa.update(FieldworkCase)
        .where(FieldworkCase.cycle_id == cycle.id, FieldworkCase.completed_at.is_not(None))
        .values(completed_at=closed_on),
    )
    unlinked = _changed(
        session,
        sa.update(FieldworkCase)
        .where(FieldworkCase.cycle_id == cycle.id, FieldworkCase.response_id.is_not(None))
        .values(response_id=None),
    )
    kept, deleted = _rekey_poster_verifications(session, cycle.id, closed_on)
    listed = _changed(
        session,
        sa.update(ListedRater)
        .where(ListedRater.cycle_id == cycle.id, ListedRater.answered_at.is_not(None))
        .values(answered_at=closed_on),
    )
    _changed(
        session,
        sa.update(ListedRater)
        .where(ListedRater.cycle_id == cycle.id)
        .values(
            draft_json=None,
            reminded_at=sa.case((ListedRater.reminded_at.is_not(None), closed_on), else_=None),
        ),
    )
    coarsened = _changed(
        session,
        sa.update(Response)
        .where(Response.cycle_id == cycle.id)
        .values(submitted_at=_DayOf(Response.submitted_at)),
    )
    _changed(
        session,
        sa.update(Comment)
        .where(Comment.response_id.in_(sa.select(Response.id).where(Response.cycle_id == cycle.id)))
        .values(created_at=_DayOf(Comment.created_at)),
    )
    comments_detached = _detach_comments(session, cycle.id)
    _changed(session, sa.update(Cycle).where(Cycle.id == cycle.id).values(unit_key=new_unit_key()))
    session.expire_all()
    return Anonymised(
        responses_unlinked=unlinked,
        drafts_deleted=drafts,
        ivr_steps_deleted=steps,
        call_attempts_deleted=call_attempts,
        quality_callbacks_deleted=callbacks,
        schedules_cleared=schedules,
        poster_verifications_kept=kept,
        poster_verifications_deleted=deleted,
        responses_coarsened=coarsened,
        comments_detached=comments_detached,
        listed_raters_coarsened=listed,
    )


def _detach_comments(session: orm.Session, cycle_id: int) -> int:
    """Detach the cycle's comments from their responses and renumber them at random.

    A comment may have a consented follow-up whose contact is a phone number
    (``survey.services.loop``), so after closing no comment may lead to a response:
    the link is cleared, and new ids in random order replace ids that followed the
    order of the responses (fixes and follow-ups are re-pointed).  The number of
    comments."""
    comment = cast(sa.Table, Comment.__table__)
    rows = session.execute(
        sa.select(comment.c.id, comment.c.unit_id, comment.c.text, comment.c.created_at).where(
            comment.c.unit_id.in_(sa.select(Unit.id).where(Unit.cycle_id == cycle_id))
        )
    ).all()
    if not rows:
        return 0
    shuffled = list(rows)
    secrets.SystemRandom().shuffle(shuffled)
    new_ids = session.scalars(
        sa.insert(comment).returning(comment.c.id, sort_by_parameter_order=True),
        [
            {
                "response_id": None,
                "unit_id": row.unit_id,
                "text": row.text,
                "created_at": row.created_at,
            }
            for row in shuffled
        ],
    ).all()
    renumbered = {row.id: new_id for row, new_id in zip(shuffled, new_ids, strict=True)}
    for table in (cast(sa.Table, FollowUp.__table__), cast(sa.Table, Rectification.__table__)):
        referenced = session.scalars(
            sa.select(table.c.comment_id).where(table.c.comment_id.in_(list(renumbered))).distinct()
        ).all()
        if referenced:
            session.execute(
                table.update()
                .where(table.c.comment_id == sa.bindparam("old_id"))
                .values(comment_id=sa.bindparam("new_id")),
                [{"old_id": old, "new_id": renumbered[old]} for old in referenced],
            )
    session.execute(sa.delete(comment).where(comment.c.id.in_(list(renumbered))))
    return len(rows)


def _rekey_poster_verifications(
    session: orm.Session, cycle_id: int, closed_on: datetime
) -> tuple[int, int]:
    """Keep (cycle, unit, phone hash) of the answered verifications, in random order and
    with no time but the day of closing; delete the rest.  Returns (kept, deleted)."""
    answered = [
        {
            "cycle_id": cycle_id,
            "unit_id": unit_id,
            "poster_id": poster_id,
            "phone_hash": phone_hash,
            "code_hash": "",
            "code_sent_at": closed_on,
            "code_expires_at": closed_on,
            "attempts": 0,
            "verified_at": closed_on,
            "completed_at": closed_on,
        }
        for unit_id, poster_id, phone_hash in session.execute(
            sa.select(
                PosterVerification.unit_id,
                PosterVerification.poster_id,
                PosterVerification.phone_hash,
            ).where(
                PosterVerification.cycle_id == cycle_id,
                PosterVerification.completed_at.is_not(None),
            )
        )
    ]
    removed = _changed(
        session, sa.delete(PosterVerification).where(PosterVerification.cycle_id == cycle_id)
    )
    # New ids in the order of the (keyed) phone hashes, which says nothing the hashes
    # do not: the old ids followed the order of the code requests, and so nearly that
    # of the responses.
    answered.sort(key=lambda row: str(row["phone_hash"]))
    if answered:
        session.execute(sa.insert(PosterVerification), answered)
    return len(answered), removed - len(answered)


def setup_problems(cycle: Cycle) -> list[Problem]:
    """What still keeps a cycle from fieldwork: no units, weights not summing to 1 …"""
    from survey.services.weights import weight_problems

    problems: list[Problem] = []
    if not cycle.units:
        problems.append(Problem(N_("the cycle has no units")))
    if not cycle.items:
        problems.append(Problem(N_("the questionnaire has no items")))
    if not cycle.rater_groups:
        problems.append(Problem(N_("the cycle has no rater groups")))
    problems.extend(weight_problems(cycle))
    return problems


def apply_scale_preset(
    session: orm.Session,
    cycle: Cycle,
    preset: ScalePreset,
    *,
    actor: str,
    record_audit: bool = True,
) -> None:
    """Replace the cycle's scale levels by a preset's (only while a draft)."""
    if not cycle.is_editable:
        raise NotEditableError(N_("The scale can only change while the cycle is a draft."))
    if cycle.id is not None and session.scalar(
        sa.select(sa.func.count()).select_from(ScaleLevel).where(ScaleLevel.cycle_id == cycle.id)
    ):
        from survey.models import Answer

        used = session.scalar(
            sa.select(sa.func.count())
            .select_from(Answer)
            .join(ScaleLevel, Answer.scale_level_id == ScaleLevel.id)
            .where(ScaleLevel.cycle_id == cycle.id)
        )
        if used:
            raise NotEditableError(N_("Answers already use this scale."))
    cycle.scale_levels.clear()
    session.flush()
    for position, level in enumerate(presets.SCALE_PRESETS[preset], start=1):
        cycle.scale_levels.append(
            ScaleLevel(
                code=level.code,
                label=level.label,
                label_en=level.label_en,
                points=level.points,
                counts_as_satisfied=level.counts_as_satisfied,
                is_dont_know=level.is_dont_know,
                # The don't-know level sits on key 9 on the phone; keep it last here too.
                position=9 if level.is_dont_know else position,
            )
        )
    cycle.scale_preset = preset
    session.flush()
    if record_audit:
        audit.record(
            session,
            actor=actor,
            action="cycle.scale",
            object_type="cycle",
            object_id=cycle.id,
            details={"preset": preset.value},
        )
