"""Overall score, ranking within a category and neighbour comparisons.

``total = Σ component score × component weight`` with the weights of the
unit's category (综合得分).  A component that is a failed constraint indicator
(一票否决) scores zero.  Only the survey-based component carries sampling
variance; imported components are taken as exact, so the total's variance is
``Σ w_c² var_c``.  Units are ranked within their category ("分块评、同类比")
with competition ranking (ties share the better rank) and compared with the
previous cycle ("纵比看变化").  Neighbouring units are tested for a difference
with the covariance of their estimates (Lohr 2022 §10.2): the ranking says
where they are statistically indistinguishable.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError
from sampling.estimation.intervals import t_quantile
from sampling.scoring.social import check_weights, interval


@dataclass(frozen=True)
class ComponentScore:
    """One component's score for a unit (平时实绩, 年度实绩, 自身建设, 社会公认度 …)."""

    component: str
    score: float
    variance: float = 0.0
    vetoed: bool = False
    """A failed constraint indicator: the component counts as zero."""


@dataclass(frozen=True)
class ComponentContribution:
    """How a component entered the total."""

    component: str
    weight: float
    score: float
    """Score as counted (0 when vetoed)."""
    contribution: float
    vetoed: bool


@dataclass(frozen=True)
class OverallScore:
    """Total score with its interval and the contribution of every component."""

    estimate: float
    variance: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    contributions: tuple[ComponentContribution, ...]


def overall_score(
    components: Sequence[ComponentScore],
    weights: Mapping[str, float],
    *,
    level: float = 0.95,
) -> OverallScore:
    """Weighted sum of the component scores of one unit.

    Raises
    ------
    InputError
        Bad weights, a component without a weight, a weighted component that is
        missing (all are listed), a duplicate or a non-finite score.
    """
    check_weights(weights, what="component")
    by_component: dict[str, ComponentScore] = {}
    for component in components:
        if component.component not in weights:
            raise InputError(
                N_("component %(component)r has no weight in this category"),
                code="scoring.component_without_weight",
                parameters={"component": component.component},
            )
        if component.component in by_component:
            raise InputError(
                N_("component %(component)r is given twice"),
                code="scoring.component_twice",
                parameters={"component": component.component},
            )
        if not math.isfinite(component.score):
            raise InputError(
                N_("component %(component)r: the score is not finite"),
                code="scoring.component_score_not_finite",
                parameters={"component": component.component},
            )
        if not math.isfinite(component.variance) or component.variance < 0:
            raise InputError(
                N_("component %(component)r: invalid variance"),
                code="scoring.component_variance_invalid",
                parameters={"component": component.component},
            )
        by_component[component.component] = component
    missing = [name for name, weight in weights.items() if weight > 0 and name not in by_component]
    if missing:
        raise InputError(
            N_("missing weighted components: %(components)s"),
            code="scoring.components_missing",
            parameters={"components": ", ".join(missing)},
        )
    parts = []
    variance_terms = []
    for name, weight in weights.items():
        component = by_component.get(name, ComponentScore(name, 0.0))
        counted = 0.0 if component.vetoed else component.score
        parts.append(
            ComponentContribution(name, weight, counted, weight * counted, component.vetoed)
        )
        variance_terms.append(0.0 if component.vetoed else weight**2 * component.variance)
    estimate = math.fsum(part.contribution for part in parts)
    variance = math.fsum(variance_terms)
    se, low, high = interval(estimate, variance, level)
    return OverallScore(estimate, variance, se, low, high, level, tuple(parts))


@dataclass(frozen=True)
class RankedUnit:
    """Place of a unit in its category and the change against the previous cycle."""

    unit: str
    score: float
    rank: int
    """Competition rank (1 = best; equal scores share the better rank)."""
    previous_rank: int | None
    rank_change: int | None
    """Places gained since the previous cycle (positive = moved up)."""
    previous_score: float | None
    score_change: float | None


def rank_units(
    scores: Mapping[str, float],
    *,
    previous_ranks: Mapping[str, int] | None = None,
    previous_scores: Mapping[str, float] | None = None,
) -> tuple[RankedUnit, ...]:
    """Rank the units of one category, best first, with year-on-year change.

    Ties keep the input order among themselves.

    Raises
    ------
    InputError
        A non-finite score.
    """
    for unit, score in scores.items():
        if not math.isfinite(score):
            raise InputError(
                N_("unit %(unit)r: the score is not finite"),
                code="scoring.unit_score_not_finite",
                parameters={"unit": unit},
            )
    previous_ranks = previous_ranks or {}
    previous_scores = previous_scores or {}
    ranked = []
    for unit, score in scores.items():
        rank = 1 + sum(1 for other in scores.values() if other > score)
        before = previous_ranks.get(unit)
        before_score = previous_scores.get(unit)
        ranked.append(
            RankedUnit(
                unit=unit,
                score=score,
                rank=rank,
                previous_rank=before,
                rank_change=None if before is None else before - rank,
                previous_score=before_score,
                score_change=None if before_score is None else score - before_score,
            )
        )
    order = {unit: index for index, unit in enumerate(scores)}
    return tuple(sorted(ranked, key=lambda entry: (entry.rank, order[entry.unit])))


@dataclass(frozen=True)
class NeighbourComparison:
    """Test of the difference between two units next to each other in the ranking."""

    higher: str
    lower: str
    difference: float
    se: float
    ci_low: float
    ci_high: float
    distinguishable: bool
    """The interval of the difference excludes zero."""
    at_grade_boundary: bool
    """The two units hold different grades."""


def neighbour_comparisons(
    units: Sequence[str],
    estimates: Sequence[float],
    covariance: npt.ArrayLike,
    *,
    grades: Sequence[str] | None = None,
    level: float = 0.95,
) -> tuple[NeighbourComparison, ...]:
    """Compare each unit with the next one down the ranking.

    ``se = sqrt(v_i + v_j − 2 c_ij)``: units rated by the same respondents
    are positively correlated, which makes the difference more precise than
    independent intervals suggest (Lohr 2022 §10.2).

    Parameters
    ----------
    units, estimates
        Units and their scores (any order: they are sorted best first).
    covariance
        Covariance matrix of the estimates in the same order as ``units``.
    grades
        Grade of each unit, to mark comparisons across a grade boundary.
    level
        Confidence level of the difference intervals.

    Raises
    ------
    InputError
        Lengths that do not match or a covariance matrix of the wrong shape.
    """
    matrix = np.asarray(covariance, dtype=np.float64)
    count = len(units)
    if len(estimates) != count or (grades is not None and len(grades) != count):
        raise InputError(
            N_("units, estimates and grades must have the same length"),
            code="scoring.lengths_differ",
        )
    if matrix.shape != (count, count) or not np.all(np.isfinite(matrix)):
        raise InputError(
            N_("the covariance matrix must be a finite %(count)s×%(count)s matrix"),
            code="scoring.covariance_shape",
            parameters={"count": count},
        )
    quantile = t_quantile(level, math.inf)
    order = sorted(range(count), key=lambda index: (-estimates[index], index))
    comparisons = []
    for first, second in itertools.pairwise(order):
        difference = float(estimates[first] - estimates[second])
        variance = matrix[first, first] + matrix[second, second] - 2 * matrix[first, second]
        se = math.sqrt(max(float(variance), 0.0))
        low, high = difference - quantile * se, difference + quantile * se
        comparisons.append(
            NeighbourComparison(
                higher=units[first],
                lower=units[second],
                difference=difference,
                se=se,
                ci_low=low,
                ci_high=high,
                distinguishable=low > 0,
                at_grade_boundary=grades is not None and grades[first] != grades[second],
            )
        )
    return tuple(comparisons)
