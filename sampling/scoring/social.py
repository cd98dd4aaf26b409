"""Social-recognition sub-score (社会公认度得分) of one unit.

The sub-score is the weighted sum of the rater groups' scores with the
category's group weights; the groups are independent samples, so its variance
is ``Σ w_g² var_g`` (Kish 1965 §2.8; Lohr 2022 §3.2 for sums of independent
stratum estimates).  A group with fewer valid responses than the cycle's
minimum (default 30) is flagged and its weight redistributed pro rata over the
groups that met the minimum: ``w'_g = w_g / Σ_{eligible} w``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sampling.errors import N_, InputError
from sampling.estimation.intervals import t_quantile

WEIGHT_TOLERANCE = 1e-9
"""How far weights may sum from 1 (they are stored as decimals)."""


@dataclass(frozen=True)
class GroupScore:
    """One rater group's (评价主体) score for one unit.

    Attributes
    ----------
    group
        Rater-group code.
    estimate
        Score 0–100, or ``None`` when the group has no valid response.
    variance
        Design-based variance of ``estimate`` (0 when ``estimate`` is None).
    valid_responses
        Respondents with a valid (not don't-know) answer.
    """

    group: str
    estimate: float | None
    variance: float
    valid_responses: int


@dataclass(frozen=True)
class GroupContribution:
    """How a group entered the sub-score."""

    group: str
    nominal_weight: float
    """Weight from the category's scheme."""
    effective_weight: float
    """Weight after redistribution (0 for a flagged group)."""
    estimate: float | None
    variance: float
    valid_responses: int
    below_minimum: bool
    """Fewer valid responses than the minimum: flagged, weight redistributed."""


@dataclass(frozen=True)
class SubScore:
    """Social-recognition sub-score with its interval and how it was built.

    ``estimate`` and the interval are ``None`` only when no group met the
    minimum; ``available`` says so and ``redistributed`` says the published
    page must mention a redistribution.
    """

    estimate: float | None
    variance: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    minimum_responses: int
    contributions: tuple[GroupContribution, ...]

    @property
    def available(self) -> bool:
        """At least one group met the minimum."""
        return self.estimate is not None

    @property
    def redistributed(self) -> bool:
        """A weighted group fell below the minimum and its weight moved."""
        return any(part.below_minimum and part.nominal_weight > 0 for part in self.contributions)


#: (a weight below 0, a sum other than 1) messages, by what is weighted.
_WEIGHT_MESSAGES = {
    "rater-group": (
        N_("rater-group weight of %(name)r is %(weight)s: must be 0 or more"),
        N_("rater-group weights sum to %(total).6g, not 1"),
    ),
    "component": (
        N_("component weight of %(name)r is %(weight)s: must be 0 or more"),
        N_("component weights sum to %(total).6g, not 1"),
    ),
}


def check_weights(
    weights: Mapping[str, float], *, what: Literal["rater-group", "component"]
) -> None:
    """Weights are finite, non-negative and sum to 1.

    Raises
    ------
    InputError
        Naming the offending weight or the sum.
    """
    negative, wrong_sum = _WEIGHT_MESSAGES[what]
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise InputError(
                negative,
                code="scoring.negative_weight",
                parameters={"name": name, "weight": weight},
                column=name,
            )
    total = math.fsum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise InputError(wrong_sum, code="scoring.weights_sum", parameters={"total": total})


def interval(estimate: float, variance: float, level: float) -> tuple[float, float, float]:
    """Standard error and normal (Wald) interval of an estimate."""
    se = math.sqrt(variance)
    half_width = t_quantile(level, math.inf) * se
    return se, estimate - half_width, estimate + half_width


def social_recognition_score(
    group_scores: Sequence[GroupScore],
    weights: Mapping[str, float],
    *,
    minimum_responses: int = 30,
    level: float = 0.95,
) -> SubScore:
    """Combine rater-group scores into the social-recognition sub-score.

    Parameters
    ----------
    group_scores
        The unit's score per rater group (groups without any response may be
        left out: they count as zero responses).
    weights
        Group weights of the unit's category; they sum to 1.
    minimum_responses
        Minimum valid responses for a group to count (DESIGN §4, default 30).
    level
        Confidence level of the interval.

    Returns
    -------
    SubScore
        ``Σ w'_g · score_g`` with variance ``Σ w'_g² · var_g``.

    Raises
    ------
    InputError
        Bad weights, a score for a group without a weight, a duplicate group,
        a non-finite or negative figure.
    """
    check_weights(weights, what="rater-group")
    if minimum_responses < 0:
        raise InputError(
            N_("minimum responses must be 0 or more, not %(minimum)s"),
            code="scoring.negative_minimum",
            parameters={"minimum": minimum_responses},
        )
    by_group: dict[str, GroupScore] = {}
    for score in group_scores:
        if score.group not in weights:
            raise InputError(
                N_("rater group %(group)r has no weight in this category"),
                code="scoring.group_without_weight",
                parameters={"group": score.group},
            )
        if score.group in by_group:
            raise InputError(
                N_("rater group %(group)r is given twice"),
                code="scoring.group_twice",
                parameters={"group": score.group},
            )
        if score.estimate is not None and not math.isfinite(score.estimate):
            raise InputError(
                N_("rater group %(group)r: the score is not a finite number"),
                code="scoring.group_score_not_finite",
                parameters={"group": score.group},
            )
        if not math.isfinite(score.variance) or score.variance < 0:
            raise InputError(
                N_("rater group %(group)r: variance %(variance)s is invalid"),
                code="scoring.group_variance_invalid",
                parameters={"group": score.group, "variance": score.variance},
            )
        if score.valid_responses < 0:
            raise InputError(
                N_("rater group %(group)r: negative number of responses"),
                code="scoring.group_negative_responses",
                parameters={"group": score.group},
            )
        by_group[score.group] = score

    def eligible(group: str) -> bool:
        score = by_group.get(group)
        return (
            weights[group] > 0
            and score is not None
            and score.estimate is not None
            and score.valid_responses >= minimum_responses
        )

    eligible_weight = math.fsum(weights[group] for group in weights if eligible(group))
    contributions = []
    for group, weight in weights.items():
        score = by_group.get(group, GroupScore(group, None, 0.0, 0))
        contributions.append(
            GroupContribution(
                group=group,
                nominal_weight=weight,
                effective_weight=weight / eligible_weight if eligible(group) else 0.0,
                estimate=score.estimate,
                variance=score.variance,
                valid_responses=score.valid_responses,
                below_minimum=not eligible(group) and weight > 0,
            )
        )
    parts = tuple(contributions)
    if eligible_weight == 0:
        return SubScore(None, None, None, None, None, level, minimum_responses, parts)
    estimate = math.fsum(
        part.effective_weight * (part.estimate or 0.0) for part in parts if part.effective_weight
    )
    variance = math.fsum(part.effective_weight**2 * part.variance for part in parts)
    se, low, high = interval(estimate, variance, level)
    return SubScore(estimate, variance, se, low, high, level, minimum_responses, parts)
