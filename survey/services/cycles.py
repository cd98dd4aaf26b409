"""Creating cycles, setting them up from presets, and moving them through their statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    ComponentWeight,
    Cycle,
    CycleStatus,
    DontKnowHandling,
    Item,
    RaterGroup,
    RaterGroupWeight,
    ScaleLevel,
    ScalePreset,
    ScoreComponent,
    UnitCategory,
)
from survey.services import audit, checkpoints, presets
from survey.services.errors import NotEditableError, Problem, TransitionError, ValidationError


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
        problems.append(Problem("name is required", column="name"))
    if settings.period_end < settings.period_start:
        problems.append(Problem("period end is before period start", column="period_end"))
    if settings.min_valid_responses < 1:
        problems.append(Problem("must be at least 1", column="min_valid_responses"))
    clash = session.scalar(
        sa.select(Cycle.id).where(Cycle.name == settings.name.strip(), Cycle.id != (cycle_id or 0))
    )
    if clash is not None:
        problems.append(Problem("a cycle with this name exists", column="name"))
    if problems:
        raise ValidationError("the cycle settings are not valid", problems)


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
        raise NotEditableError(f"cycle is {cycle.status.value}; its settings are frozen")
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

    Closing fieldwork deletes every link between a sampled contact and a
    response (``unlink_responses``, the anonymity promise shown to respondents),
    unless the cycle's configuration keeps it.
    """
    if not cycle.can_transition_to(target):
        raise TransitionError(f"cannot change a {cycle.status.value} cycle to {target.value}")
    problems = setup_problems(cycle) if target == CycleStatus.FIELDING else []
    if problems:
        raise TransitionError("the cycle is not ready for fieldwork", problems)
    previous = cycle.status
    cycle.status = target
    unlinked = 0
    if target == CycleStatus.CLOSED and unlink_responses:
        unlinked = unlink_responses_from_contacts(session, cycle)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="cycle.transition",
        object_type="cycle",
        object_id=cycle.id,
        details={"from": previous.value, "to": target.value, "responses_unlinked": unlinked},
    )
    # Each step of a cycle anchors the audit log: deleting what led up to it, or
    # rewriting it, is then detectable (survey.services.checkpoints).
    checkpoints.take(session)
    return cycle


def unlink_responses_from_contacts(session: orm.Session, cycle: Cycle) -> int:
    """Forget which sampled contact gave which response; returns how many links went.

    Unsubmitted drafts go too: they are tied to a case or a verified phone.
    """
    from survey.models import FieldworkCase
    from survey.services.responses import purge_drafts

    purge_drafts(session, cycle.id)
    result = session.execute(
        sa.update(FieldworkCase)
        .where(FieldworkCase.cycle_id == cycle.id, FieldworkCase.response_id.is_not(None))
        .values(response_id=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def setup_problems(cycle: Cycle) -> list[Problem]:
    """What still keeps a cycle from fieldwork: no units, weights not summing to 1 …"""
    from survey.services.weights import weight_problems

    problems: list[Problem] = []
    if not cycle.units:
        problems.append(Problem("the cycle has no units"))
    if not cycle.items:
        problems.append(Problem("the questionnaire has no items"))
    if not cycle.rater_groups:
        problems.append(Problem("the cycle has no rater groups"))
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
        raise NotEditableError("the scale can only change while the cycle is a draft")
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
            raise NotEditableError("answers already use this scale")
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
