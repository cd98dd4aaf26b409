"""Democratic evaluation (民主测评) of officials as a ballot survey.

The office lists the officials of each unit and issues single-use tokens to
the unit's internal raters; a rater opens the ballot with the token and
votes 优秀 / 称职 / 基本称职 / 不称职 / 不了解 for every official of the unit.
The token is redeemed atomically (a token counts once, also under concurrent
submissions) and the ballot is stored without a link to it.  The tallies, the
one-third rule and the officials' grades come from :mod:`sampling.grading`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import orm

from sampling.grading import (
    PRESETS,
    BallotTally,
    CategoryGrading,
    GradedUnit,
    UnitStanding,
    Vote,
    grade_category,
    round_score,
    tally,
)
from survey.models import Ballot, BallotToken, BallotVote, Cycle, Official, Unit
from survey.models.base import utc_now
from survey.services import audit
from survey.services.errors import N_, Problem, ServiceError, ValidationError

MAX_TOKENS_PER_REQUEST = 500


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_official(
    session: orm.Session, unit: Unit, *, name: str, title: str, actor: str
) -> Official:
    """Add an official of ``unit`` to the cycle's ballot."""
    name, title = name.strip(), title.strip()
    if not name:
        raise ValidationError(
            N_("The official's name is required."), [Problem(N_("required"), column="name")]
        )
    exists = session.scalar(
        sa.select(Official.id).where(Official.unit_id == unit.id, Official.name == name)
    )
    if exists is not None:
        raise ValidationError(
            N_("%(name)s is already listed for %(unit)s."),
            parameters={"name": name, "unit": unit.name},
        )
    official = Official(cycle_id=unit.cycle_id, unit_id=unit.id, name=name, title=title)
    session.add(official)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="official.add",
        object_type="official",
        object_id=official.id,
        details={"unit": unit.code, "name": name, "title": title},
    )
    return official


def unit_officials(session: orm.Session, unit_id: int) -> list[Official]:
    return list(
        session.scalars(
            sa.select(Official).where(Official.unit_id == unit_id).order_by(Official.id)
        )
    )


def issue_tokens(session: orm.Session, unit: Unit, *, count: int, actor: str) -> list[str]:
    """Issue ``count`` single-use tokens for ``unit``'s raters (returned once, stored hashed)."""
    if not 1 <= count <= MAX_TOKENS_PER_REQUEST:
        raise ValidationError(
            N_("Issue between 1 and %(n)d ballot links at a time."),
            [
                Problem(
                    N_("between 1 and %(n)d"),
                    column="count",
                    parameters={"n": MAX_TOKENS_PER_REQUEST},
                )
            ],
            parameters={"n": MAX_TOKENS_PER_REQUEST},
        )
    if not unit_officials(session, unit.id):
        raise ValidationError(
            N_("%(unit)s has no officials to evaluate yet."), parameters={"unit": unit.name}
        )
    tokens = [secrets.token_urlsafe(24) for _ in range(count)]
    session.add_all(
        BallotToken(
            cycle_id=unit.cycle_id, unit_id=unit.id, token_sha256=_hash(token), issued_by=actor
        )
        for token in tokens
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="ballot.tokens",
        object_type="unit",
        object_id=unit.id,
        details={"count": count},
    )
    return tokens


def open_ballot(session: orm.Session, token: str) -> tuple[BallotToken, list[Official]]:
    """The token's unit officials, if the token is valid and unused.

    Raises
    ------
    ServiceError
        Unknown or already used token.
    """
    row = session.scalar(sa.select(BallotToken).where(BallotToken.token_sha256 == _hash(token)))
    if row is None:
        raise ServiceError(N_("This ballot link is not valid."))
    if row.used_at is not None:
        raise ServiceError(N_("This ballot has already been submitted."))
    return row, unit_officials(session, row.unit_id)


def submit_ballot(session: orm.Session, token: str, votes: Mapping[int, str]) -> Ballot:
    """Record one ballot: every official of the unit needs a vote; the token counts once.

    Raises
    ------
    ServiceError
        Unknown or already used token (also when a concurrent submission won).
    ValidationError
        A missing or unknown vote; every problem is listed.
    """
    row, officials = open_ballot(session, token)
    problems = []
    for official in officials:
        choice = votes.get(official.id)
        if choice is None:
            problems.append(
                Problem(
                    N_("no vote for %(name)s"),
                    column=f"official-{official.id}",
                    parameters={"name": official.name},
                )
            )
        elif choice not in {vote.value for vote in Vote}:
            problems.append(
                Problem(
                    N_("“%(choice)s” is not a ballot option"),
                    column=f"official-{official.id}",
                    parameters={"choice": choice},
                )
            )
    extra = set(votes) - {official.id for official in officials}
    if extra:
        problems.append(Problem(N_("votes for officials not on this ballot")))
    if problems:
        raise ValidationError(N_("The ballot is incomplete."), problems)
    # Redeem with a conditional update: of two concurrent submissions only one
    # changes the row, the other sees rowcount 0 and is refused.
    redeemed = session.execute(
        sa.update(BallotToken)
        .where(BallotToken.id == row.id, BallotToken.used_at.is_(None))
        .values(used_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if redeemed.rowcount != 1:  # type: ignore[attr-defined]
        raise ServiceError(N_("This ballot has already been submitted."))
    ballot = Ballot(
        cycle_id=row.cycle_id,
        unit_id=row.unit_id,
        votes=[
            BallotVote(official_id=official.id, choice=votes[official.id]) for official in officials
        ],
    )
    session.add(ballot)
    session.flush()
    return ballot


@dataclass(frozen=True)
class OfficialResult:
    """An official's tally and grade."""

    official: Official
    tally: BallotTally
    graded: GradedUnit | None


def results(
    session: orm.Session, cycle: Cycle, *, scheme: str = "officials-15-80-4-1"
) -> tuple[list[OfficialResult], CategoryGrading | None]:
    """Tallies of every official of ``cycle`` and their grades by the officials' quota.

    Officials are graded together by democratic score with the one-third and
    bottom-2 % rules; officials without a valid vote get no grade.
    """
    officials = list(
        session.scalars(
            sa.select(Official).where(Official.cycle_id == cycle.id).order_by(Official.id)
        )
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for official_id, choice, number in session.execute(
        sa.select(BallotVote.official_id, BallotVote.choice, sa.func.count())
        .join(Official, BallotVote.official_id == Official.id)
        .where(Official.cycle_id == cycle.id)
        .group_by(BallotVote.official_id, BallotVote.choice)
    ):
        counts[official_id][choice] = number
    tallies = {official.id: tally(counts[official.id]) for official in officials}
    standings = [
        UnitStanding(
            unit=str(official.id),
            score=round_score(tallies[official.id].score or 0.0, 2),
            democratic_score=tallies[official.id].score,
            unfavourable_votes=tallies[official.id].unfavourable_votes,
            valid_votes=tallies[official.id].valid_votes,
        )
        for official in officials
        if tallies[official.id].score is not None
    ]
    grading = grade_category(standings, PRESETS[scheme]) if standings else None
    graded = {unit.unit: unit for unit in grading.units} if grading else {}
    return (
        [
            OfficialResult(official, tallies[official.id], graded.get(str(official.id)))
            for official in officials
        ],
        grading,
    )
