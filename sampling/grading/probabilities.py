"""Grade probabilities (等次概率): how sure is a unit's grade?

A unit's total score is an estimate; so is its place in the category and hence
its grade.  Given the totals' joint sampling distribution, approximated by the
multivariate normal ``N(t̂, Σ)`` with the covariance ``Σ`` of the totals
(units rated by the same respondents are correlated, see
:mod:`sampling.scoring.covariance`), the probability that unit ``i`` holds
grade ``g`` is estimated by Monte Carlo (a parametric bootstrap of the
grading; cf. Goldstein & Spiegelhalter 1996 §3 for the ranks of institutions,
Lohr 2022 §10.2 for the covariance of unit estimates):

.. math::

    \\hat P(G_i = g) = \\frac{1}{B} \\sum_{b=1}^{B}
        1\\{\\mathrm{grade}_i(t^{(b)}) = g\\},
    \\qquad t^{(b)} \\sim N(\\hat t, \\Sigma)\\ \\text{i.i.d.},

where ``grade(·)`` is the category's grading, :func:`grade_category`, applied
to each draw exactly as to the published totals: the quota by position,
competition ties (after the draw is rounded like the published totals) and
the bottom-share rule, which depend on the totals, are re-applied in every
draw; the rules that do not depend on the totals are held fixed at their
published inputs (the democratic-evaluation bottom share, quantitative
targets below the threshold, the one-third rule and the constraint veto —
a vetoed unit still drops one grade from its *drawn* quota grade).

Every estimated probability has a Monte Carlo standard error
``sqrt(p (1 − p) / B) ≤ 0.5 / sqrt(B)``: ±0.005 for the default 10,000
draws.  The draws come from a :class:`numpy.random.Generator` seeded with the
caller's explicit seed, so a result can be reproduced exactly.

The draws are graded by a vectorised equivalent of :func:`grade_category`
(thousands of draws cost milliseconds).  It is checked against
:func:`grade_category` itself on the published totals and on the first
``check_draws`` draws; any disagreement raises, so the probabilities are
always those of the same grading function.

References
----------
Goldstein, H. and Spiegelhalter, D. J. (1996). League tables and their
limitations: statistical issues in comparisons of institutional performance.
*Journal of the Royal Statistical Society A* 159, 385–443.

Lohr, S. L. (2022). *Sampling: Design and Analysis*, 3rd ed. CRC Press.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError
from sampling.grading.quota import GradeScheme, exact_fraction, quota_counts, round_half_up
from sampling.grading.rules import (
    GradingRules,
    ReasonCode,
    UnitStanding,
    grade_category,
)

__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_THRESHOLD",
    "CategoryGradeProbabilities",
    "Robustness",
    "UnitGradeProbabilities",
    "grade_draws",
    "grade_probabilities",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_DRAWS = 10_000
"""Monte Carlo draws: standard error ≤ 0.5 / √10 000 = 0.005 per probability."""

DEFAULT_THRESHOLD = 0.8
"""A grade held with a lower probability is flagged not robust (issue #23)."""

_CHUNK = 2_000
"""Draws graded at a time (bounds the draws × units × units comparison)."""

FIXED_RULES: tuple[ReasonCode, ...] = (
    ReasonCode.DEMOCRATIC_BOTTOM,
    ReasonCode.TARGET_BELOW_THRESHOLD,
    ReasonCode.ONE_THIRD_RULE,
    ReasonCode.CONSTRAINT_VETO,
)
"""Rules whose inputs do not vary with the totals: held at their published inputs."""

REDRAWN_RULES: tuple[ReasonCode, ...] = (
    ReasonCode.QUOTA,
    ReasonCode.TIE_AT_BOUNDARY,
    ReasonCode.BOTTOM_OF_CATEGORY,
)
"""Rules that depend on the totals: re-applied to every draw."""


class Robustness(enum.StrEnum):
    """Whether a grade is held with at least the threshold probability."""

    ROBUST = "robust"
    """``P(published grade) ≥ threshold``."""
    NOT_ROBUST = "not_robust"
    """``P(published grade) < threshold``: another grade is plausible (不稳健)."""


@dataclass(frozen=True)
class UnitGradeProbabilities:
    """One unit's probability of each grade.

    Attributes
    ----------
    unit
        Unit identifier.
    grade
        The grade of the published totals (:func:`grade_category`).
    probabilities
        ``P(grade)`` for every grade of the scheme, best first; they sum to 1.
    grade_probability
        Probability of ``grade``.
    most_likely_grade, max_probability
        The modal grade and its probability (the same as ``grade`` unless the
        published totals sit in an unlikely corner of their distribution).
    robustness
        :attr:`Robustness.ROBUST` when ``grade_probability ≥ threshold``.
    """

    unit: str
    grade: str
    probabilities: tuple[float, ...]
    grade_probability: float
    most_likely_grade: str
    max_probability: float
    robustness: Robustness

    @property
    def robust(self) -> bool:
        """The published grade is held with at least the threshold probability."""
        return self.robustness is Robustness.ROBUST


@dataclass(frozen=True)
class CategoryGradeProbabilities:
    """Grade probabilities of every unit of one category.

    Attributes
    ----------
    scheme
        The grade scheme (grades best first, as in ``probabilities``).
    units
        One entry per unit, in input order.
    draws, seed
        Monte Carlo draws and the seed of the generator: the same inputs,
        draws and seed give the same probabilities.
    threshold
        Robustness threshold.
    monte_carlo_se
        Largest Monte Carlo standard error ``sqrt(p (1 − p) / draws)`` over
        the reported probabilities (at most ``0.5 / sqrt(draws)``).
    redrawn_rules, fixed_rules
        Rules re-applied to every draw and rules held at their published
        inputs.
    """

    scheme: GradeScheme
    units: tuple[UnitGradeProbabilities, ...]
    draws: int
    seed: int
    threshold: float
    monte_carlo_se: float
    redrawn_rules: tuple[ReasonCode, ...] = REDRAWN_RULES
    fixed_rules: tuple[ReasonCode, ...] = FIXED_RULES

    def probability(self, unit: str, grade: str) -> float:
        """``P(unit holds grade)``."""
        for entry in self.units:
            if entry.unit == unit:
                return entry.probabilities[self.scheme.index(grade)]
        raise KeyError(unit)

    def matrix(self) -> FloatArray:
        """Units × grades array of probabilities (input order, best grade first)."""
        return np.array([entry.probabilities for entry in self.units], dtype=np.float64)


def _round_half_up(values: FloatArray, decimals: int) -> FloatArray:
    """Half-up rounding (四舍五入) of floats, vectorised.

    Equal to :func:`sampling.grading.round_score` except for values whose
    binary representation lies exactly on a half, which normal draws hit
    with probability zero.
    """
    scale = 10.0**decimals
    magnitude = np.floor(np.abs(values) * scale + 0.5) / scale
    return np.asarray(np.copysign(magnitude, values), dtype=np.float64)


@dataclass(frozen=True)
class _Plan:
    """Everything of the grading that does not depend on the totals."""

    block_starts: IntArray
    bottom_count: int
    capped: npt.NDArray[np.bool_]
    vetoed: npt.NDArray[np.bool_]
    restricted: int
    worst: int
    tie_break: FloatArray | None


def _plan(standings: Sequence[UnitStanding], scheme: GradeScheme, rules: GradingRules) -> _Plan:
    """The fixed part of :func:`grade_category` for these units (same arithmetic)."""
    count = len(standings)
    quota = quota_counts(scheme, count)
    block_starts = np.array([sum(quota[:index]) for index in range(len(quota))], dtype=np.int64)
    bottom_count = (
        round_half_up(exact_fraction(rules.bottom_share) * count)
        if rules.bottom_share is not None
        else 0
    )
    # Fixed caps: evaluate grade_category's own rules once, on the published inputs,
    # with the totals neutralised (all equal, so no unit is in the bottom by score).
    neutral = grade_category(
        [
            UnitStanding(
                unit=s.unit,
                score=0.0,
                tie_break=s.tie_break,
                democratic_score=s.democratic_score,
                unfavourable_votes=s.unfavourable_votes,
                valid_votes=s.valid_votes,
                lowest_target_completion=s.lowest_target_completion,
                constraint_failed=s.constraint_failed,
            )
            for s in standings
        ],
        scheme,
        GradingRules(
            bottom_share=None,
            democratic_bottom_share=rules.democratic_bottom_share,
            target_threshold=rules.target_threshold,
            unfavourable_vote_limit=rules.unfavourable_vote_limit,
            constraint_veto=rules.constraint_veto,
            use_tie_break=rules.use_tie_break,
        ),
    )
    cap_codes = {
        ReasonCode.DEMOCRATIC_BOTTOM,
        ReasonCode.TARGET_BELOW_THRESHOLD,
        ReasonCode.ONE_THIRD_RULE,
    }
    by_unit = {graded.unit: graded for graded in neutral.units}
    capped = np.array(
        [any(r.code in cap_codes for r in by_unit[s.unit].reasons) for s in standings], dtype=bool
    )
    vetoed = np.array(
        [
            any(r.code is ReasonCode.CONSTRAINT_VETO for r in by_unit[s.unit].reasons)
            for s in standings
        ],
        dtype=bool,
    )
    tie_break = (
        np.array([float(s.tie_break or 0.0) for s in standings], dtype=np.float64)
        if rules.use_tie_break
        else None
    )
    return _Plan(
        block_starts=block_starts,
        bottom_count=bottom_count,
        capped=capped,
        vetoed=vetoed,
        restricted=scheme.index(scheme.restricted_grade),
        worst=len(scheme.grades) - 1,
        tie_break=tie_break,
    )


def _grade_rows(totals: FloatArray, plan: _Plan) -> IntArray:
    """Grade index (0 = best) of every unit in every row of ``totals`` (rows × units)."""
    count = totals.shape[1]
    above = totals[:, None, :] > totals[:, :, None]  # [row, i, j]: j strictly better than i
    if plan.tie_break is not None:
        equal = totals[:, None, :] == totals[:, :, None]
        above |= equal & (plan.tie_break[None, None, :] > plan.tie_break[None, :, None])
    positions = above.sum(axis=2)
    quota_index = np.searchsorted(plan.block_starts, positions, side="right") - 1
    final = quota_index.copy()
    if plan.bottom_count:
        bottom = positions >= count - plan.bottom_count
        final = np.where(bottom, np.maximum(final, plan.restricted), final)
    final = np.where(plan.capped[None, :], np.maximum(final, plan.restricted), final)
    dropped = np.minimum(quota_index + 1, plan.worst)
    final = np.where(plan.vetoed[None, :], np.maximum(final, dropped), final)
    return np.asarray(final, dtype=np.int64)


def grade_draws(
    standings: Sequence[UnitStanding],
    totals: npt.ArrayLike,
    scheme: GradeScheme,
    rules: GradingRules | None = None,
) -> IntArray:
    """Grade many sets of totals at once: ``grade_category`` over rows, vectorised.

    Parameters
    ----------
    standings
        The units with their fixed inputs (votes, targets, veto, tie-break);
        their ``score`` is ignored.
    totals
        Draws × units array of totals (already rounded as published, if so).
    scheme, rules
        As :func:`grade_category`.

    Returns
    -------
    numpy.ndarray
        Draws × units grade indices into ``scheme.grades`` (0 = best).

    Raises
    ------
    InputError
        As :func:`grade_category`, or a totals array of the wrong shape or
        with non-finite values.
    """
    rules = rules or GradingRules()
    values = np.asarray(totals, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(standings):
        raise InputError(
            N_("totals must be a draws × %(units)s array, got shape %(shape)s"),
            code="probabilities.totals_shape",
            parameters={"units": len(standings), "shape": values.shape},
        )
    if not np.isfinite(values).all():
        raise InputError(
            N_("the totals contain a value that is not finite"),
            code="probabilities.totals_not_finite",
        )
    plan = _plan(standings, scheme, rules)
    if values.shape[0] == 0 or not standings:
        return np.zeros(values.shape, dtype=np.int64)
    return np.concatenate(
        [
            _grade_rows(values[start : start + _CHUNK], plan)
            for start in range(0, len(values), _CHUNK)
        ]
    )


def _normal_factor(covariance: FloatArray) -> FloatArray:
    """``L`` with ``L Lᵀ = Σ`` for a positive semi-definite ``Σ`` (eigen-decomposition)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    scale = max(float(np.max(np.abs(eigenvalues), initial=0.0)), 1e-300)
    if float(eigenvalues.min(initial=0.0)) < -1e-8 * scale:
        raise InputError(
            N_("the covariance matrix of the totals is not positive semi-definite"),
            code="probabilities.covariance_not_psd",
        )
    return np.asarray(eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None)), dtype=np.float64)


def grade_probabilities(
    standings: Sequence[UnitStanding],
    covariance: npt.ArrayLike,
    scheme: GradeScheme,
    rules: GradingRules | None = None,
    *,
    seed: int,
    estimates: Sequence[float] | None = None,
    decimals: int | None = None,
    draws: int = DEFAULT_DRAWS,
    threshold: float = DEFAULT_THRESHOLD,
    check_draws: int = 20,
) -> CategoryGradeProbabilities:
    """Probability of each grade for every unit of a category, by Monte Carlo.

    Draws ``t ~ N(t̂, Σ)`` and grades every draw with the category's grading
    (Goldstein & Spiegelhalter 1996; see the module docstring for which rules
    are re-applied and which are held fixed).

    Parameters
    ----------
    standings
        The category's units as graded for publication: ``score`` is the
        published (rounded) total and the other fields are the fixed inputs
        of the override rules.
    covariance
        Covariance matrix of the totals, units in the order of ``standings``:
        ``w_s² · cov(S_i, S_j)`` with the social-recognition weight ``w_s`` and
        the sub-score covariance of
        :func:`sampling.scoring.sub_score_covariance_matrix` built from the
        group variances and same-category covariances (imported components
        are exact).  Must be symmetric positive semi-definite; zero rows are
        units without sampling error.
    scheme, rules
        The grading, as :func:`grade_category` (default rules when omitted).
    seed
        Seed of the :class:`numpy.random.Generator` (explicit: reproducible).
    estimates
        Centre of the distribution, e.g. the unrounded totals; defaults to the
        standings' scores.
    decimals
        Round every draw half-up to this many decimals before grading, as the
        published totals are (then draws can tie); ``None``: no rounding.
    draws
        Monte Carlo draws ``B``; the standard error of a probability is at most
        ``0.5 / sqrt(B)``.
    threshold
        A published grade whose probability is below it is not robust.
    check_draws
        Number of draws also graded by :func:`grade_category` itself and
        compared with the vectorised grading (all of them if ≥ ``draws``).

    Returns
    -------
    CategoryGradeProbabilities

    Raises
    ------
    InputError
        Bad shapes, a covariance that is not symmetric positive semi-definite,
        non-finite values, ``draws < 1``, a threshold outside (0, 1], or the
        inputs :func:`grade_category` refuses.
    RuntimeError
        The vectorised grading disagrees with :func:`grade_category` (the
        grading rules changed without this module).
    """
    rules = rules or GradingRules()
    count = len(standings)
    if not isinstance(draws, int) or draws < 1:
        raise InputError(
            N_("draws must be a whole number ≥ 1, got %(draws)r"),
            code="probabilities.invalid_draws",
            parameters={"draws": draws},
            column="draws",
        )
    if not (math.isfinite(threshold) and 0 < threshold <= 1):
        raise InputError(
            N_("the threshold must lie in (0, 1], got %(threshold)s"),
            code="probabilities.invalid_threshold",
            parameters={"threshold": threshold},
            column="threshold",
        )
    if decimals is not None and (not isinstance(decimals, int) or decimals < 0):
        raise InputError(
            N_("decimals must be a whole number ≥ 0, got %(decimals)r"),
            code="probabilities.invalid_decimals",
            parameters={"decimals": decimals},
        )
    matrix = np.asarray(covariance, dtype=np.float64)
    if matrix.shape != (count, count) or not np.isfinite(matrix).all():
        raise InputError(
            N_("the covariance matrix must be a finite %(count)s×%(count)s matrix"),
            code="probabilities.covariance_shape",
            parameters={"count": count},
        )
    if not np.allclose(matrix, matrix.T, rtol=1e-9, atol=1e-12):
        raise InputError(
            N_("the covariance matrix of the totals is not symmetric"),
            code="probabilities.covariance_not_symmetric",
        )
    centre = np.array(
        [s.score for s in standings] if estimates is None else list(estimates), dtype=np.float64
    )
    if centre.shape != (count,) or not np.isfinite(centre).all():
        raise InputError(
            N_("estimates must be %(count)s finite numbers"),
            code="probabilities.invalid_estimates",
            parameters={"count": count},
        )

    published = grade_category(standings, scheme, rules)
    published_grade = {graded.unit: scheme.index(graded.grade) for graded in published.units}
    point = np.array([[s.score for s in standings]], dtype=np.float64)
    plan = _plan(standings, scheme, rules)
    if count and _grade_rows(point, plan)[0].tolist() != [
        published_grade[s.unit] for s in standings
    ]:
        raise RuntimeError("the vectorised grading disagrees with grade_category")

    generator = np.random.default_rng(seed)
    factor = _normal_factor((matrix + matrix.T) / 2)
    grades_count = len(scheme.grades)
    tallies = np.zeros((count, grades_count), dtype=np.int64)
    checked = 0
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        totals = centre + generator.standard_normal((size, count)) @ factor.T
        if decimals is not None:
            totals = _round_half_up(totals, decimals)
        grades = _grade_rows(totals, plan) if count else np.zeros((size, 0), dtype=np.int64)
        for row in range(min(size, check_draws - checked)):
            _check_draw(standings, totals[row], grades[row], scheme, rules)
        checked = min(check_draws, checked + size)
        tallies += np.bincount(
            (grades + np.arange(count) * grades_count).ravel(), minlength=count * grades_count
        ).reshape(count, grades_count)
    probabilities = tallies / draws
    units = []
    for index, standing in enumerate(standings):
        row = probabilities[index]
        grade = published_grade[standing.unit]
        modal = int(np.argmax(row))
        grade_probability = float(row[grade])
        units.append(
            UnitGradeProbabilities(
                unit=standing.unit,
                grade=scheme.grades[grade],
                probabilities=tuple(float(value) for value in row),
                grade_probability=grade_probability,
                most_likely_grade=scheme.grades[modal],
                max_probability=float(row[modal]),
                robustness=(
                    Robustness.ROBUST if grade_probability >= threshold else Robustness.NOT_ROBUST
                ),
            )
        )
    se = float(np.sqrt(probabilities * (1 - probabilities) / draws).max(initial=0.0))
    return CategoryGradeProbabilities(
        scheme=scheme,
        units=tuple(units),
        draws=draws,
        seed=seed,
        threshold=threshold,
        monte_carlo_se=se,
    )


def _check_draw(
    standings: Sequence[UnitStanding],
    totals: FloatArray,
    grades: IntArray,
    scheme: GradeScheme,
    rules: GradingRules,
) -> None:
    """Grade one draw with :func:`grade_category` and compare with the vectorised grades."""
    drawn = [
        UnitStanding(
            unit=s.unit,
            score=float(total),
            tie_break=s.tie_break,
            democratic_score=s.democratic_score,
            unfavourable_votes=s.unfavourable_votes,
            valid_votes=s.valid_votes,
            lowest_target_completion=s.lowest_target_completion,
            constraint_failed=s.constraint_failed,
        )
        for s, total in zip(standings, totals.tolist(), strict=True)
    ]
    expected = {
        graded.unit: scheme.index(graded.grade)
        for graded in grade_category(drawn, scheme, rules).units
    }
    if [expected[s.unit] for s in standings] != grades.tolist():
        raise RuntimeError("the vectorised grading disagrees with grade_category")
