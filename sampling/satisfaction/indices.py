"""Scales, satisfaction index and rate, and the item-weighted composite."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError
from sampling.estimation import Domains, EstimateTable, ProportionCiMethod, Statistic, SurveyDesign
from sampling.estimation.intervals import proportion_interval

FloatArray = npt.NDArray[np.float64]


class DontKnow(enum.StrEnum):
    """Handling of "don't know" (不了解) answers, a per-cycle setting.

    ``EXCLUDE`` (default): don't-know answers are left out of both the index
    and the satisfaction rate.  ``COUNT_IN_BASE``: they count in the
    denominator of the satisfaction rate (as not satisfied); the index still
    excludes them, because they carry no points.  The don't-know share is
    reported either way.
    """

    EXCLUDE = "exclude"
    COUNT_IN_BASE = "count-in-base"


@dataclass(frozen=True)
class Scale:
    """An answer scale: points per level, ``None`` for don't know.

    Attributes
    ----------
    points
        Ordered mapping from answer label to points (0–100) or ``None``.
    satisfied
        Labels counted as satisfied for the satisfaction rate (满意率).
    """

    points: Mapping[str, float | None]
    satisfied: frozenset[str]

    FIVE_LEVEL: ClassVar[Scale]
    LINEAR: ClassVar[Scale]
    FOUR_LEVEL: ClassVar[Scale]

    def __post_init__(self) -> None:
        unknown = self.satisfied - set(self.points)
        if unknown:
            raise InputError(
                N_("satisfied levels not on the scale: %(levels)s"),
                code="satisfaction.unknown_levels",
                parameters={"levels": ", ".join(sorted(unknown))},
            )
        for label, value in self.points.items():
            if value is not None and not 0.0 <= value <= 100.0:
                raise InputError(
                    N_("points of %(label)r must be within 0–100, got %(value)s"),
                    code="satisfaction.points_out_of_range",
                    parameters={"label": label, "value": value},
                )

    def encode(
        self, answers: npt.ArrayLike
    ) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Points (NaN for don't know or no answer), satisfied flag, don't-know flag.

        Raises
        ------
        InputError
            For an answer that is not a level of the scale (names the row).
        """
        labels = np.asarray(answers, dtype=object)
        points = np.full(labels.shape, np.nan)
        satisfied = np.zeros(labels.shape, dtype=bool)
        dont_know = np.zeros(labels.shape, dtype=bool)
        for row, answer in enumerate(labels.tolist()):
            if answer is None or answer == "":
                continue
            if answer not in self.points:
                raise InputError(
                    N_("answer %(answer)r in row %(row)s is not on the scale (%(levels)s)"),
                    code="satisfaction.answer_off_scale",
                    parameters={
                        "answer": answer,
                        "row": row + 1,
                        "levels": ", ".join(self.points),
                    },
                    column="answer",
                )
            value = self.points[answer]
            if value is None:
                dont_know[row] = True
            else:
                points[row] = value
                satisfied[row] = answer in self.satisfied
        return points, satisfied, dont_know


Scale.FIVE_LEVEL = Scale(
    {
        "很满意": 100.0,
        "满意": 80.0,
        "基本满意": 60.0,
        "不太满意": 30.0,
        "不满意": 0.0,
        "不了解": None,
    },
    frozenset({"很满意", "满意", "基本满意"}),
)
Scale.LINEAR = Scale(
    {
        "很满意": 100.0,
        "满意": 75.0,
        "基本满意": 50.0,
        "不太满意": 25.0,
        "不满意": 0.0,
        "不了解": None,
    },
    frozenset({"很满意", "满意", "基本满意"}),
)
# The 4-option ballot of democratic evaluation (民主测评票).
Scale.FOUR_LEVEL = Scale(
    {"满意": 100.0, "基本满意": 60.0, "不满意": 0.0, "不了解": None},
    frozenset({"满意", "基本满意"}),
)


@dataclass(frozen=True)
class SatisfactionTable:
    """Index, rate and don't-know share per unit × rater group × item.

    Attributes
    ----------
    index
        Satisfaction index (weighted mean of points), with SE, CI, n.
    rate
        Satisfaction rate (share of satisfied answers in the base).
    dont_know_share
        Weighted share of don't-know answers among all answers, per domain
        (same domain order as ``index``).
    """

    index: EstimateTable
    rate: EstimateTable
    dont_know_share: FloatArray


def satisfaction_indices(
    design: SurveyDesign,
    answers: npt.ArrayLike,
    by: Mapping[str, npt.ArrayLike],
    *,
    scale: Scale = Scale.FIVE_LEVEL,
    dont_know: DontKnow | str = DontKnow.EXCLUDE,
    level: float = 0.95,
) -> SatisfactionTable:
    """Satisfaction index and rate per domain (e.g. unit × rater group × item).

    ``design`` has one row per answer (long format); its PSU should be the
    respondent (or a coarser cluster), so that answers of one respondent
    are correlated in the variance (Lumley 2010 §2.2).

    The index is a Hájek mean of points, the rate a mean of a 0/1 variable
    (Lohr 2022 §4.3); both are linearised over all domains in one pass.
    """
    points, satisfied, dk = scale.encode(answers)
    domains = Domains.from_columns([np.asarray(v) for v in by.values()], list(by))
    return satisfaction_table(
        design, points, satisfied, dk, domains, dont_know=dont_know, level=level
    )


def satisfaction_table(
    design: SurveyDesign,
    points: npt.ArrayLike,
    satisfied: npt.ArrayLike,
    dont_know_flags: npt.ArrayLike,
    domains: Domains,
    *,
    dont_know: DontKnow | str = DontKnow.EXCLUDE,
    level: float = 0.95,
) -> SatisfactionTable:
    """:func:`satisfaction_indices` from answers already encoded by :meth:`Scale.encode`.

    For callers that hold the answers as level codes and encode them with a
    lookup table (millions of answers): ``points`` (NaN for don't know or no
    answer), ``satisfied`` and ``dont_know_flags`` per row.  The rate is the
    mean of the 0/1 satisfied variable with the logit interval of
    :meth:`SurveyDesign.proportion`.
    """
    handling = DontKnow(dont_know)
    points = np.asarray(points, dtype=np.float64)
    satisfied = np.asarray(satisfied, dtype=bool)
    dk = np.asarray(dont_know_flags, dtype=bool)
    index = design.mean(points, domains, level=level)
    answered = ~np.isnan(points) | dk
    rate_values = np.where(answered, satisfied.astype(np.float64), np.nan)
    if handling is DontKnow.EXCLUDE:
        rate_values = np.where(dk, np.nan, rate_values)
    rate = _rate(design, rate_values, domains, level)
    return SatisfactionTable(
        index=index, rate=rate, dont_know_share=_share(design, answered, dk, domains)
    )


def _share(
    design: SurveyDesign,
    answered: npt.NDArray[np.bool_],
    dk: npt.NDArray[np.bool_],
    domains: Domains,
) -> FloatArray:
    """Weighted don't-know share per domain: the estimate of ``design.mean`` only.

    Only the share is reported, so its standard error is not computed.
    """
    values = np.where(answered, dk.astype(np.float64), np.nan)
    codes = domains.codes[answered]
    weights = design.weights[answered]
    n_domains = len(domains)
    weight_sum = np.bincount(codes, weights=weights, minlength=n_domains).astype(np.float64)
    present = np.bincount(codes, minlength=n_domains)
    if ((present == 0) | (weight_sum <= 0)).any():
        # design.mean names the empty domain in its error.
        return design.mean(values, domains).estimate
    weighted = np.bincount(codes, weights=weights * values[answered], minlength=n_domains)
    return np.asarray(weighted.astype(np.float64) / weight_sum, dtype=np.float64)


def _rate(
    design: SurveyDesign, values: FloatArray, domains: Domains, level: float
) -> EstimateTable:
    """The proportion of :meth:`SurveyDesign.proportion` (logit interval), for 0/1 values.

    The domain degrees of freedom are counted from sorted distinct pairs:
    ``np.unique`` without ``return_index`` takes seconds on millions of keys.
    """
    table = design.mean(values, domains, level=level)
    inside = ~np.isnan(values)
    codes = domains.codes[inside]
    n_domains = len(domains)
    psu = design.psu_codes if design.psu_codes is not None else np.arange(design.n_rows)
    n_psu_total = len(design.psu_stratum)
    n_strata = len(design.n_psu)
    psu_pairs = _distinct(codes * n_psu_total + psu[inside])
    stratum_pairs = _distinct(codes * n_strata + design.stratum_codes[inside])
    domain_df = (
        np.bincount(psu_pairs // n_psu_total, minlength=n_domains)
        - np.bincount(stratum_pairs // n_strata, minlength=n_domains)
    ).astype(np.float64)
    low, high = proportion_interval(
        table.estimate,
        table.se,
        table.n,
        level,
        design.df,
        ProportionCiMethod.LOGIT,
        domain_df=domain_df,
    )
    return replace(table, statistic=Statistic.PROPORTION, ci_low=low, ci_high=high)


def _distinct(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    ordered = np.sort(keys)
    if ordered.size == 0:
        return ordered
    first = np.empty(ordered.shape, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return ordered[first]


@dataclass(frozen=True)
class Composite:
    """Item-weighted composite per unit: estimate and linearised SE."""

    units: npt.NDArray[Any]
    estimate: FloatArray
    se: FloatArray


def composite_index(
    design: SurveyDesign,
    points: npt.ArrayLike,
    unit: npt.ArrayLike,
    item: npt.ArrayLike,
    item_weights: Mapping[Any, float],
) -> Composite:
    """Composite = Σ_k a_k · (mean points of item k), per unit.

    A linear combination of the item means (not a per-respondent composite),
    so a respondent who skipped an item or answered "don't know" still
    counts in the other items — the design-consistent choice when item
    non-response differs between items.  Its variance ``aᵀ V a`` uses the
    covariance V of the item means, estimated from the same respondents
    (Särndal et al. 1992 §5.5).  ``item_weights`` must sum to 1.
    """
    table = design.mean(points, {"unit": unit, "item": item}, covariance=True)
    units, estimate, covariance = composite_of_means(table, item_weights)
    return Composite(
        units=units, estimate=estimate, se=np.sqrt(np.maximum(np.diag(covariance), 0.0))
    )


def composite_of_means(
    table: EstimateTable, item_weights: Mapping[Any, float]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Units, composites ``Σ_k a_k · mean_k`` and their covariance ``A V Aᵀ``.

    ``table`` holds the means by domains ``(unit, item)`` estimated with
    ``covariance=True``; the covariance between units comes from respondents
    who rated several of them (Särndal et al. 1992 §5.5).
    """
    if table.covariance is None or len(table.domains.keys) != 2:
        raise InputError(
            N_("estimate the unit × item means with covariance=True"),
            code="satisfaction.no_covariance",
        )
    weights_total = float(sum(item_weights.values()))
    if abs(weights_total - 1.0) > 1e-9:
        raise InputError(
            N_("item weights must sum to 1, got %(total)g"),
            code="scoring.item_weights_sum",
            parameters={"total": weights_total},
        )
    unit_keys, item_keys = table.domains.keys
    coefficient = np.array([item_weights.get(k, np.nan) for k in item_keys.tolist()])
    if np.isnan(coefficient).any():
        missing = item_keys[np.isnan(coefficient)][0]
        raise InputError(
            N_("no item weight for item %(item)r"),
            code="scoring.item_weight_missing",
            parameters={"item": missing},
        )
    units = np.unique(unit_keys)
    matrix = np.zeros((len(units), len(unit_keys)))
    matrix[np.searchsorted(units, unit_keys), np.arange(len(unit_keys))] = coefficient
    covered = matrix.sum(axis=1)
    if (np.abs(covered - 1.0) > 1e-9).any():
        bad = units[np.abs(covered - 1.0) > 1e-9][0]
        raise InputError(
            N_("unit %(unit)r has no answers for some weighted items"),
            code="scoring.items_unanswered",
            parameters={"unit": bad},
        )
    covariance = matrix @ table.covariance @ matrix.T
    # Symmetrise: the product is symmetric up to rounding only.
    return units, matrix @ table.estimate, (covariance + covariance.T) / 2
