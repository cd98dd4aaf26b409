"""Review (复核) of interviewers' completes: a reproducible sample, outcomes, voiding.

The sample is drawn like the sample itself (docs/sampling): from a seed
announced publicly beforehand (a lottery draw: its source and date are
recorded).  Every completed CATI interview not yet reviewed is ranked per
interviewer by ``SHA-256("minyi-review|<seed>|<case id>")``; each interviewer
gives the first ``ceil(rate × completes)`` of their ranking, at least one,
with ``flagged_rate`` for flagged interviewers and ``base_rate`` for the
others.  So every interviewer is covered, and anyone holding the draw's
published record (seed, rates, flagged names, population) recomputes the same
selection with :func:`select`.

A review outcome is confirmed, mismatch or unreachable, with notes; a
reviewer may void the interview, which stores a :class:`~survey.models.VoidedResponse`
(with the reason) that scoring and the live precision leave out.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    CallAttempt,
    CallbackStatus,
    CallMode,
    FieldworkCase,
    InterviewReview,
    QualityCallback,
    ReviewDraw,
    ReviewStatus,
    VoidedResponse,
)
from survey.services import audit
from survey.services import dispositions as codes
from survey.services.errors import N_, Problem, ServiceError, ValidationError

DEFAULT_BASE_RATE = 0.05
DEFAULT_FLAGGED_RATE = 0.30
REFUSAL_CODES = frozenset({codes.REFUSAL, codes.BREAK_OFF})


def rank_key(seed: str, case_id: int) -> str:
    """The public ranking of one interview under ``seed`` (smaller is drawn first)."""
    return hashlib.sha256(f"minyi-review|{seed}|{case_id}".encode()).hexdigest()


def select(
    population: Iterable[tuple[int, str]],
    seed: str,
    base_rate: float,
    flagged_rate: float,
    flagged: Iterable[str],
) -> list[int]:
    """Case ids drawn for review from ``(case id, interviewer)`` pairs (pure, reproducible)."""
    flagged_set = set(flagged)
    by_interviewer: dict[str, list[int]] = {}
    for case_id, interviewer in population:
        by_interviewer.setdefault(interviewer, []).append(case_id)
    chosen: list[int] = []
    for interviewer, cases in sorted(by_interviewer.items()):
        rate = flagged_rate if interviewer in flagged_set else base_rate
        take = max(1, math.ceil(rate * len(cases) - 1e-9))
        ranked = sorted(cases, key=lambda case_id: rank_key(seed, case_id))
        chosen.extend(ranked[:take])
    return sorted(chosen)


def _completing_attempts(cycle_id: int | None) -> sa.Select[int, int | None, str]:
    """(case id, response id, interviewer) of completes keyed in at the CATI console."""
    statement = (
        sa.select(FieldworkCase.id, FieldworkCase.response_id, CallAttempt.placed_by)
        .join(CallAttempt, CallAttempt.case_id == FieldworkCase.id)
        .where(
            CallAttempt.mode == CallMode.CATI,
            CallAttempt.disposition == codes.COMPLETE,
            FieldworkCase.response_id.is_not(None),
        )
        .order_by(FieldworkCase.id)
    )
    if cycle_id is not None:
        statement = statement.where(FieldworkCase.cycle_id == cycle_id)
    return statement


def population(session: orm.Session, cycle_id: int) -> list[tuple[int, int, str]]:
    """CATI completes of the cycle not yet in a review: (case id, response id, interviewer)."""
    reviewed = set(
        session.scalars(
            sa.select(InterviewReview.case_id)
            .join(ReviewDraw, ReviewDraw.id == InterviewReview.draw_id)
            .where(ReviewDraw.cycle_id == cycle_id)
        )
    )
    seen: set[int] = set()
    result: list[tuple[int, int, str]] = []
    for case_id, response_id, interviewer in session.execute(_completing_attempts(cycle_id)):
        if case_id in reviewed or case_id in seen or response_id is None:
            continue
        seen.add(case_id)
        result.append((case_id, response_id, interviewer))
    return result


def flagged_interviewers(session: orm.Session, cycle_id: int) -> list[str]:
    """Interviewers with a mismatch in a review or a quality call-back of their complete."""
    from_reviews = session.scalars(
        sa.select(InterviewReview.interviewer)
        .join(ReviewDraw, ReviewDraw.id == InterviewReview.draw_id)
        .where(ReviewDraw.cycle_id == cycle_id, InterviewReview.status == ReviewStatus.MISMATCH)
    )
    from_callbacks = session.scalars(
        sa.select(CallAttempt.placed_by)
        .join(QualityCallback, QualityCallback.case_id == CallAttempt.case_id)
        .join(FieldworkCase, FieldworkCase.id == CallAttempt.case_id)
        .where(
            FieldworkCase.cycle_id == cycle_id,
            QualityCallback.status == CallbackStatus.MISMATCH,
            CallAttempt.mode == CallMode.CATI,
            CallAttempt.disposition == codes.COMPLETE,
        )
    )
    return sorted(set(from_reviews) | set(from_callbacks))


def draw_review(
    session: orm.Session,
    cycle_id: int,
    *,
    seed: str,
    seed_source: str,
    seed_event_date: date,
    base_rate: float,
    flagged_rate: float,
    flagged: Sequence[str],
    actor: str,
    moment: datetime,
    today: date,
) -> ReviewDraw:
    """Draw a review sample of the cycle's not yet reviewed CATI completes."""
    problems = []
    if not seed.strip():
        problems.append(Problem(N_("required"), column="seed"))
    if not seed_source.strip():
        problems.append(Problem(N_("name the public source of the seed"), column="seed_source"))
    if seed_event_date > today:
        problems.append(
            Problem(N_("the seed's public event cannot be in the future"), column="seed_event_date")
        )
    for column, rate in (("base_rate", base_rate), ("flagged_rate", flagged_rate)):
        if not 0 < rate <= 1:
            problems.append(Problem(N_("a share between 0 and 1"), column=column))
    if problems:
        raise ValidationError(N_("The review sample cannot be drawn."), problems)
    pairs = population(session, cycle_id)
    if not pairs:
        raise ServiceError(N_("No interviewer complete is waiting for review."))
    names = sorted({name.strip() for name in flagged if name.strip()})
    chosen = set(
        select(
            ((case_id, who) for case_id, _, who in pairs),
            seed.strip(),
            base_rate,
            flagged_rate,
            names,
        )
    )
    draw = ReviewDraw(
        cycle_id=cycle_id,
        seed=seed.strip(),
        seed_source=seed_source.strip(),
        seed_event_date=seed_event_date,
        base_rate=base_rate,
        flagged_rate=flagged_rate,
        flagged_interviewers=json.dumps(names, ensure_ascii=False),
        population=json.dumps([[case_id, who] for case_id, _, who in pairs], ensure_ascii=False),
        drawn_by=actor,
        drawn_at=moment,
        selected=len(chosen),
    )
    session.add(draw)
    session.flush()
    for case_id, response_id, who in pairs:
        if case_id in chosen:
            session.add(
                InterviewReview(
                    draw_id=draw.id, case_id=case_id, response_id=response_id, interviewer=who
                )
            )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="review.draw",
        object_type="review_draw",
        object_id=draw.id,
        details={
            "seed": draw.seed,
            "seed_source": draw.seed_source,
            "seed_event_date": seed_event_date.isoformat(),
            "base_rate": base_rate,
            "flagged_rate": flagged_rate,
            "flagged": names,
            "population": len(pairs),
            "selected": len(chosen),
        },
    )
    return draw


def record_review(
    session: orm.Session,
    review: InterviewReview,
    *,
    status: ReviewStatus,
    notes: str,
    void: bool,
    actor: str,
    moment: datetime,
) -> None:
    """Store a review's outcome; ``void`` excludes the interview's response from scoring."""
    if review.status != ReviewStatus.PENDING:
        raise ServiceError(N_("This review already has an outcome."))
    if status == ReviewStatus.PENDING:
        raise ValidationError(
            N_("Choose the review's outcome."), [Problem(N_("required"), column="status")]
        )
    if void and not notes.strip():
        raise ValidationError(
            N_("Say why the interview is voided."), [Problem(N_("required"), column="notes")]
        )
    review.status = status
    review.notes = notes.strip()
    review.checked_by = actor
    review.checked_at = moment
    audit.record(
        session,
        actor=actor,
        action="review.result",
        object_type="fieldwork_case",
        object_id=review.case_id,
        details={"status": status.value, "void": void},
    )
    if void and session.get(VoidedResponse, review.response_id) is None:
        session.add(
            VoidedResponse(
                response_id=review.response_id,
                cycle_id=review.case.cycle_id,
                review_id=review.id,
                reason=review.notes,
                voided_by=actor,
                voided_at=moment,
            )
        )
        audit.record(
            session,
            actor=actor,
            action="response.void",
            object_type="response",
            object_id=review.response_id,
            details={"reason": review.notes, "review": review.id},
        )
    session.flush()


def not_voided(response_id: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """A WHERE clause leaving out voided responses (scoring, live precision)."""
    return ~sa.exists().where(VoidedResponse.response_id == response_id)


@dataclass
class InterviewerStats:
    """One interviewer's productivity and review results (per cycle or overall)."""

    interviewer: str
    calls: int = 0
    contacts: int = 0
    completes: int = 0
    refusals: int = 0
    mean_minutes: float | None = None
    reviews: dict[str, int] = field(default_factory=dict)
    voided: int = 0

    @property
    def contact_rate(self) -> float | None:
        return self.contacts / self.calls if self.calls else None


def interviewer_stats(session: orm.Session, cycle_id: int | None = None) -> list[InterviewerStats]:
    """Completes, contact rate (calls reaching a person), mean length, refusals, reviews."""
    statement = sa.select(
        CallAttempt.placed_by, CallAttempt.disposition, CallAttempt.started_at, CallAttempt.ended_at
    ).where(CallAttempt.mode == CallMode.CATI)
    if cycle_id is not None:
        statement = statement.join(FieldworkCase, FieldworkCase.id == CallAttempt.case_id).where(
            FieldworkCase.cycle_id == cycle_id
        )
    stats: dict[str, InterviewerStats] = {}
    lengths: dict[str, list[float]] = {}
    for who, code, started, ended in session.execute(statement):
        row = stats.setdefault(who, InterviewerStats(who))
        row.calls += 1
        if code and code[0] in "12":
            row.contacts += 1
        if code == codes.COMPLETE:
            row.completes += 1
            if ended is not None and started is not None:
                lengths.setdefault(who, []).append((ended - started).total_seconds() / 60)
        if code in REFUSAL_CODES:
            row.refusals += 1
    for who, values in lengths.items():
        stats[who].mean_minutes = sum(values) / len(values)
    reviews = sa.select(
        InterviewReview.interviewer, InterviewReview.status, sa.func.count()
    ).group_by(InterviewReview.interviewer, InterviewReview.status)
    voids = (
        sa.select(InterviewReview.interviewer, sa.func.count())
        .join(VoidedResponse, VoidedResponse.review_id == InterviewReview.id)
        .group_by(InterviewReview.interviewer)
    )
    if cycle_id is not None:
        reviews = reviews.join(ReviewDraw, ReviewDraw.id == InterviewReview.draw_id).where(
            ReviewDraw.cycle_id == cycle_id
        )
        voids = voids.where(VoidedResponse.cycle_id == cycle_id)
    for who, status, count in session.execute(reviews):
        stats.setdefault(who, InterviewerStats(who)).reviews[status.value] = count
    for who, count in session.execute(voids):
        stats.setdefault(who, InterviewerStats(who)).voided = count
    return [stats[name] for name in sorted(stats)]
