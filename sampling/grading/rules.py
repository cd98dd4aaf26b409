"""Grading a category by quota and by the override rules (评定等次).

The quota gives each unit a grade from its position in the category ranking;
the override rules then cap or lower individual grades (DESIGN §4):

* bottom 5 % of the category by total score → at most the restricted grade
  (基本称职);
* bottom 2 % of the category in the democratic evaluation (民主测评) → at most
  the restricted grade;
* any quantitative target completed below 60 % → at most the restricted grade;
* 基本称职 + 不称职 votes above one third of the valid votes in the democratic
  evaluation → at most the restricted grade (the one-third rule);
* a failed constraint indicator (一票否决, e.g. work safety) → the unit drops
  one grade from its quota grade and can never hold the top grade (the
  indicator itself scores zero; that happens in :mod:`sampling.scoring`).

Overrides never promote anybody else: the quota is a maximum, and a place left
free by a lowered unit stays free.  Every grade carries the reasons that
produced it, the decisive one first.

Ties: units with equal scores get the same grade, the better one (competition
ranking, "1224"), unless a tie-break key is given; then the key orders the
tied units and only units equal on both share a grade.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from sampling.errors import N_, InputError
from sampling.grading.quota import (
    GradeScheme,
    ShareLike,
    exact_fraction,
    quota_counts,
    round_half_up,
)


class ReasonCode(enum.StrEnum):
    """Why a unit holds its grade (等次依据)."""

    QUOTA = "quota"
    """Position in the category ranking under the quota (按比例)."""
    TIE_AT_BOUNDARY = "tie_at_boundary"
    """Tied with a unit inside the better grade's quota: shares the better grade."""
    BOTTOM_OF_CATEGORY = "bottom_of_category"
    """In the bottom share (5 %) of the category by total score (排名末位)."""
    DEMOCRATIC_BOTTOM = "democratic_bottom"
    """In the bottom share (2 %) of the category in the democratic evaluation."""
    TARGET_BELOW_THRESHOLD = "target_below_threshold"
    """A quantitative target completed below the threshold (60 %)."""
    ONE_THIRD_RULE = "one_third_rule"
    """基本称职 + 不称职 votes above one third of the valid votes."""
    CONSTRAINT_VETO = "constraint_veto"
    """A failed constraint indicator (一票否决): one grade down, never the top grade."""


@dataclass(frozen=True)
class GradeReason:
    """One reason with the figures that triggered it (for the published page)."""

    code: ReasonCode
    detail: str


@dataclass(frozen=True)
class UnitStanding:
    """What grading needs to know about one unit of a category.

    Attributes
    ----------
    unit
        Unit identifier.
    score
        Total score (综合得分) as published (already rounded by the caller).
    tie_break
        Secondary key, larger is better; used only when the rules enable it.
    democratic_score
        Democratic-evaluation score (民主测评得分) for the 2 % rule, if any.
    unfavourable_votes, valid_votes
        基本称职 + 不称职 votes and valid votes (不了解 excluded) of the
        democratic evaluation, for the one-third rule.
    lowest_target_completion
        Lowest completion ratio among the unit's quantitative targets (0.55 =
        55 %), if it has any.
    constraint_failed
        A constraint indicator (一票否决) failed.
    """

    unit: str
    score: float
    tie_break: float | None = None
    democratic_score: float | None = None
    unfavourable_votes: int | None = None
    valid_votes: int | None = None
    lowest_target_completion: float | None = None
    constraint_failed: bool = False


@dataclass(frozen=True)
class GradingRules:
    """The override rules of a cycle; ``None`` switches a rule off.

    Shares and thresholds are exact decimals (``"0.05"``), compared without
    binary rounding.
    """

    bottom_share: ShareLike | None = "0.05"
    democratic_bottom_share: ShareLike | None = "0.02"
    target_threshold: ShareLike | None = "0.60"
    unfavourable_vote_limit: ShareLike | None = Fraction(1, 3)
    constraint_veto: bool = True
    use_tie_break: bool = False


@dataclass(frozen=True)
class GradedUnit:
    """The grade of one unit and how it came about."""

    unit: str
    score: float
    rank: int
    """Competition rank in the category (1 = best; tied units share a rank)."""
    quota_grade: str
    grade: str
    reasons: tuple[GradeReason, ...]
    """Decisive reason first, then every other rule that applied."""


@dataclass(frozen=True)
class CategoryGrading:
    """Grades of one category."""

    scheme: GradeScheme
    quota: tuple[int, ...]
    """Quota count per grade (best first), before ties and overrides."""
    units: tuple[GradedUnit, ...] = field(default_factory=tuple)
    """In ranking order (best first; ties in input order)."""

    def grade_counts(self) -> dict[str, int]:
        """Number of units that ended up in each grade."""
        counts = dict.fromkeys(self.scheme.grades, 0)
        for unit in self.units:
            counts[unit.grade] += 1
        return counts


def _check(standing: UnitStanding, rules: GradingRules) -> None:
    values: list[tuple[str, float | None]] = [
        ("score", standing.score),
        ("democratic_score", standing.democratic_score),
        ("lowest_target_completion", standing.lowest_target_completion),
    ]
    if rules.use_tie_break:
        values.append(("tie_break", standing.tie_break))
    for name, value in values:
        if value is not None and not math.isfinite(value):
            raise InputError(
                N_("unit %(unit)r: %(name)s is not a finite number"),
                code="grading.not_finite",
                parameters={"unit": standing.unit, "name": name},
                column=name,
            )
    if rules.use_tie_break and standing.tie_break is None:
        raise InputError(
            N_("unit %(unit)r: the rules use a tie-break key but it is missing"),
            code="grading.tie_break_missing",
            parameters={"unit": standing.unit},
            column="tie_break",
        )
    if (standing.unfavourable_votes is None) != (standing.valid_votes is None):
        raise InputError(
            N_("unit %(unit)r: give both unfavourable and valid votes, or neither"),
            code="grading.votes_incomplete",
            parameters={"unit": standing.unit},
            column="valid_votes",
        )
    votes, valid = standing.unfavourable_votes, standing.valid_votes
    if votes is not None and valid is not None and not 0 <= votes <= valid:
        raise InputError(
            N_(
                "unit %(unit)r: %(votes)s unfavourable votes out of %(valid)s valid votes "
                "is impossible"
            ),
            code="grading.votes_impossible",
            parameters={"unit": standing.unit, "votes": votes, "valid": valid},
            column="unfavourable_votes",
        )


def _best_positions(keys: Sequence[tuple[float, ...]]) -> list[int]:
    """0-based competition position: how many units are strictly better."""
    return [sum(1 for other in keys if other > key) for key in keys]


def _bottom_members(keys: Sequence[tuple[float, ...]], share: Fraction) -> set[int]:
    """Indices in the bottom ``share`` of the category (count rounded half up).

    A tie group straddling the boundary stays out (ties take the better side).
    """
    count = round_half_up(share * len(keys))
    positions = _best_positions(keys)
    return {index for index, position in enumerate(positions) if position >= len(keys) - count}


def _percent(value: Fraction) -> str:
    return f"{float(value * 100):g} %"


def grade_category(
    standings: Sequence[UnitStanding],
    scheme: GradeScheme,
    rules: GradingRules | None = None,
) -> CategoryGrading:
    """Grade the units of one category by quota, ties and override rules.

    Parameters
    ----------
    standings
        One entry per unit of the category.
    scheme
        Grade scheme with quota shares (e.g. ``TEAMS_15_80_5``).
    rules
        Override rules; the defaults of DESIGN §4 when omitted.

    Returns
    -------
    CategoryGrading
        The quota counts and, per unit in ranking order, rank, quota grade,
        final grade and reasons.

    Raises
    ------
    InputError
        Duplicate units, non-finite scores, impossible vote counts or a
        missing tie-break key when the rules use one.
    """
    rules = rules or GradingRules()
    seen: set[str] = set()
    for standing in standings:
        if standing.unit in seen:
            raise InputError(
                N_("unit %(unit)r appears twice"),
                code="grading.unit_twice",
                parameters={"unit": standing.unit},
                column="unit",
            )
        seen.add(standing.unit)
        _check(standing, rules)

    quota = quota_counts(scheme, len(standings))
    # First position (0-based) of each grade's block in the ranking.
    block_starts = [sum(quota[:index]) for index in range(len(quota))]

    def grade_at(position: int) -> int:
        return max(index for index, start in enumerate(block_starts) if start <= position)

    keys: list[tuple[float, ...]] = [
        (s.score, s.tie_break if s.tie_break is not None else 0.0)
        if rules.use_tie_break
        else (s.score,)
        for s in standings
    ]
    positions = _best_positions(keys)
    order = sorted(range(len(standings)), key=lambda index: (positions[index], index))

    bottom = (
        _bottom_members(keys, exact_fraction(rules.bottom_share))
        if rules.bottom_share is not None
        else set()
    )
    democratic_indices = [i for i, s in enumerate(standings) if s.democratic_score is not None]
    democratic_bottom: set[int] = set()
    if rules.democratic_bottom_share is not None and democratic_indices:
        members = _bottom_members(
            [(float(standings[i].democratic_score or 0.0),) for i in democratic_indices],
            exact_fraction(rules.democratic_bottom_share),
        )
        democratic_bottom = {democratic_indices[member] for member in members}
    threshold = (
        exact_fraction(rules.target_threshold) if rules.target_threshold is not None else None
    )
    vote_limit = (
        exact_fraction(rules.unfavourable_vote_limit)
        if rules.unfavourable_vote_limit is not None
        else None
    )
    restricted = scheme.index(scheme.restricted_grade)
    worst = len(scheme.grades) - 1

    graded: list[GradedUnit] = []
    for index in order:
        standing = standings[index]
        position = positions[index]
        quota_index = grade_at(position)
        # Where the unit would sit without sharing its tie group's best place.
        tied_others = sum(1 for other in keys if other == keys[index]) - 1
        lowest_position = position + tied_others
        reasons: list[tuple[int, GradeReason]] = []
        quota_detail = f"position {position + 1} of {len(standings)}; quota {quota}"
        if tied_others and grade_at(lowest_position) != quota_index:
            quota_reason = GradeReason(
                ReasonCode.TIE_AT_BOUNDARY,
                f"{quota_detail}; tied with {tied_others} other unit(s) across a grade boundary",
            )
        else:
            quota_reason = GradeReason(ReasonCode.QUOTA, quota_detail)
        final = quota_index
        caps: list[GradeReason] = []
        if index in bottom:
            caps.append(
                GradeReason(
                    ReasonCode.BOTTOM_OF_CATEGORY,
                    f"bottom {_percent(exact_fraction(rules.bottom_share or 0))} of the "
                    f"category (position {positions[index] + 1} of {len(standings)})",
                )
            )
        if index in democratic_bottom:
            caps.append(
                GradeReason(
                    ReasonCode.DEMOCRATIC_BOTTOM,
                    f"bottom {_percent(exact_fraction(rules.democratic_bottom_share or 0))} "
                    f"in the democratic evaluation (score {standing.democratic_score:g})",
                )
            )
        if (
            threshold is not None
            and standing.lowest_target_completion is not None
            and exact_fraction(standing.lowest_target_completion) < threshold
        ):
            caps.append(
                GradeReason(
                    ReasonCode.TARGET_BELOW_THRESHOLD,
                    f"a quantitative target completed at "
                    f"{_percent(exact_fraction(standing.lowest_target_completion))}, "
                    f"below {_percent(threshold)}",
                )
            )
        if (
            vote_limit is not None
            and standing.valid_votes
            and standing.unfavourable_votes is not None
            and Fraction(standing.unfavourable_votes, standing.valid_votes) > vote_limit
        ):
            caps.append(
                GradeReason(
                    ReasonCode.ONE_THIRD_RULE,
                    f"{standing.unfavourable_votes} of {standing.valid_votes} valid votes "
                    f"basically competent or incompetent, above {vote_limit}",
                )
            )
        for cap in caps:
            reasons.append((max(quota_index, restricted), cap))
        if rules.constraint_veto and standing.constraint_failed:
            reasons.append(
                (
                    min(quota_index + 1, worst),
                    GradeReason(
                        ReasonCode.CONSTRAINT_VETO,
                        "a constraint indicator failed: the indicator scores zero, one grade "
                        "down and never the top grade",
                    ),
                )
            )
        for candidate, _ in reasons:
            final = max(final, candidate)
        # Decisive reason first: the first rule that yields the final grade, or the quota.
        ordered = [reason for candidate, reason in reasons if candidate == final]
        ordered += [reason for candidate, reason in reasons if candidate != final]
        if final == quota_index:
            ordered = [quota_reason, *[reason for _, reason in reasons]]
        else:
            ordered.append(quota_reason)
        graded.append(
            GradedUnit(
                unit=standing.unit,
                score=standing.score,
                rank=positions[index] + 1,
                quota_grade=scheme.grades[quota_index],
                grade=scheme.grades[final],
                reasons=tuple(ordered),
            )
        )
    return CategoryGrading(scheme=scheme, quota=quota, units=tuple(graded))
