"""Democratic evaluation (民主测评) ballots: vote shares, score, one-third rule.

Internal raters vote 优秀 / 称职 / 基本称职 / 不称职 / 不了解 for each official.
"Don't know" (不了解) votes are not valid votes: shares and the score are over
the valid votes.  The democratic score is the mean of the points of the valid
votes (优秀 100, 称职 80, 基本称职 60, 不称职 0 by default), used to rank
officials for the bottom-2 % rule; the unfavourable votes (基本称职 +
不称职) feed the one-third rule of :func:`sampling.grading.grade_category`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from sampling.errors import N_, InputError


class Vote(enum.StrEnum):
    """A ballot option."""

    EXCELLENT = "excellent"
    COMPETENT = "competent"
    BASICALLY_COMPETENT = "basically_competent"
    INCOMPETENT = "incompetent"
    DONT_KNOW = "dont_know"


DEFAULT_POINTS: dict[Vote, float] = {
    Vote.EXCELLENT: 100.0,
    Vote.COMPETENT: 80.0,
    Vote.BASICALLY_COMPETENT: 60.0,
    Vote.INCOMPETENT: 0.0,
}
UNFAVOURABLE = frozenset({Vote.BASICALLY_COMPETENT, Vote.INCOMPETENT})


@dataclass(frozen=True)
class BallotTally:
    """The votes for one official and what they amount to."""

    counts: dict[Vote, int]
    ballots: int
    """All ballots that named the official, don't-know included."""
    valid_votes: int
    unfavourable_votes: int
    shares: dict[Vote, float]
    """Share of each valid option among the valid votes (0 when there are none)."""
    score: float | None
    """Mean points of the valid votes; None without valid votes."""
    above_one_third: bool
    """基本称职 + 不称职 exceed one third of the valid votes (exact comparison)."""


def tally(
    counts: Mapping[Vote | str, int], *, points: Mapping[Vote, float] | None = None
) -> BallotTally:
    """Tally one official's votes.

    Raises
    ------
    InputError
        An unknown option or a negative count.
    """
    points = dict(points or DEFAULT_POINTS)
    clean: dict[Vote, int] = dict.fromkeys(Vote, 0)
    for option, count in counts.items():
        try:
            vote = Vote(option)
        except ValueError as error:
            raise InputError(
                N_("unknown ballot option %(option)r"),
                code="democratic.unknown_option",
                parameters={"option": option},
            ) from error
        if count < 0:
            raise InputError(
                N_("negative count for %(option)s"),
                code="democratic.negative_count",
                parameters={"option": vote.value},
            )
        clean[vote] += count
    valid = sum(count for vote, count in clean.items() if vote is not Vote.DONT_KNOW)
    unfavourable = sum(clean[vote] for vote in UNFAVOURABLE)
    shares: dict[Vote, float] = {
        vote: (clean[vote] / valid if valid else 0.0) for vote in Vote if vote is not Vote.DONT_KNOW
    }
    score = sum(points[vote] * clean[vote] for vote in points) / valid if valid else None
    return BallotTally(
        counts=clean,
        ballots=sum(clean.values()),
        valid_votes=valid,
        unfavourable_votes=unfavourable,
        shares=shares,
        score=score,
        above_one_third=valid > 0 and Fraction(unfavourable, valid) > Fraction(1, 3),
    )
