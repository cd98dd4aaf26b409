"""Design weights, nonresponse adjustment, trimming and Kish's n_eff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, ConvergenceError, DesignError, InputError

FloatArray = npt.NDArray[np.float64]


def _weights(weights: npt.ArrayLike, *, allow_zero: bool = True) -> FloatArray:
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise InputError(
            N_("weights must be a non-empty one-dimensional array"),
            code="weighting.weights_shape",
            column="weights",
        )
    bad = ~np.isfinite(array) | (array < 0 if allow_zero else array <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            N_("weights must be finite and non-negative, got %(value)s in row %(row)s")
            if allow_zero
            else N_("weights must be finite and positive, got %(value)s in row %(row)s"),
            code="weighting.invalid_weight",
            parameters={"value": array[row], "row": row + 1},
            column="weights",
        )
    return array


def design_weights(inclusion_probability: npt.ArrayLike) -> FloatArray:
    """Design weights 1/π (设计权数) from inclusion probabilities (Horvitz & Thompson 1952).

    Raises
    ------
    InputError
        If a probability is missing or outside (0, 1].
    """
    probability = np.asarray(inclusion_probability, dtype=np.float64)
    bad = ~np.isfinite(probability) | (probability <= 0) | (probability > 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            N_("inclusion probability must be in (0, 1], got %(value)s in row %(row)s"),
            code="weighting.invalid_probability",
            parameters={"value": probability[row], "row": row + 1},
            column="inclusion_probability",
        )
    result: FloatArray = 1.0 / probability
    return result


@dataclass(frozen=True)
class NonresponseResult:
    """Weights after a weighting-class nonresponse adjustment.

    Attributes
    ----------
    weights
        Adjusted weights: respondents carry the weight of their cell's
        nonrespondents; nonrespondents get 0.
    cells
        Cell labels, sorted.
    factors
        Adjustment factor of each cell (inverse weighted response rate).
    """

    weights: FloatArray
    cells: npt.NDArray[Any]
    factors: FloatArray


def adjust_for_nonresponse(
    weights: npt.ArrayLike, responded: npt.ArrayLike, cells: npt.ArrayLike | None = None
) -> NonresponseResult:
    """Weighting-class nonresponse adjustment (无回答调整).

    Within each cell the respondents' weights are multiplied by
    ``sum(weights of all sampled) / sum(weights of respondents)``, the
    inverse of the weighted response rate (Kalton & Flores-Cervantes 2003
    §2; Lohr 2022 §8.5).

    Raises
    ------
    DesignError
        If a cell has no respondent (its weight could not be carried).
    """
    base = _weights(weights)
    answered = np.asarray(responded, dtype=bool)
    if answered.shape != base.shape:
        raise InputError(
            N_("`responded` needs one value per row"),
            code="weighting.responded_length",
            column="responded",
        )
    labels = np.zeros(base.size, dtype=np.int64) if cells is None else np.asarray(cells)
    if labels.shape != base.shape:
        raise InputError(
            N_("`cells` needs one value per row"), code="weighting.cells_length", column="cells"
        )
    levels, codes = np.unique(labels, return_inverse=True)
    total = np.bincount(codes, weights=base, minlength=len(levels))
    responding = np.bincount(codes, weights=base * answered, minlength=len(levels))
    empty = (responding <= 0) & (total > 0)
    if empty.any():
        names = ", ".join(str(level) for level in levels[empty])
        raise DesignError(
            N_("nonresponse cell %(cells)s has no respondent; collapse cells"),
            code="weighting.empty_nonresponse_cell",
            parameters={"cells": names},
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(responding > 0, total / responding, 0.0)
    adjusted = np.where(answered, base * factors[codes], 0.0)
    return NonresponseResult(weights=adjusted, cells=levels, factors=factors)


@dataclass(frozen=True)
class TrimResult:
    """Trimmed weights.

    Attributes
    ----------
    weights
        Weights within the bounds, with the same total as before.
    trimmed
        Rows whose weight was set to a bound.
    iterations
        Trim-and-redistribute rounds used.
    """

    weights: FloatArray
    trimmed: npt.NDArray[np.bool_]
    iterations: int


def trim_weights(
    weights: npt.ArrayLike,
    *,
    upper: float | None = None,
    lower: float | None = None,
    max_iterations: int = 100,
) -> TrimResult:
    """Trim extreme weights and redistribute the excess (权数截尾).

    Weights above ``upper`` (below ``lower``) are set to the bound and the
    difference is spread over the untrimmed weights in proportion to their
    size, which keeps the weight total; this repeats until every weight is
    within bounds (Potter 1990; Valliant, Dever & Kreuter 2018 §14.4).

    Raises
    ------
    DesignError
        If the bounds cannot hold the weight total (``upper · n < total`` or
        ``lower · n > total``).
    ConvergenceError
        If the bounds are not met within ``max_iterations`` rounds.
    """
    base = _weights(weights)
    total = float(base.sum())
    positive = base > 0
    count = int(positive.sum())
    if upper is not None and upper * count < total * (1 - 1e-12):
        raise DesignError(
            N_(
                "upper bound %(upper)g cannot hold the weight total %(total)g over "
                "%(count)s weights"
            ),
            code="weighting.upper_bound_too_low",
            parameters={"upper": upper, "total": total, "count": count},
        )
    if lower is not None and lower * count > total * (1 + 1e-12):
        raise DesignError(
            N_("lower bound %(lower)g exceeds the mean weight %(mean)g; nothing to trim to"),
            code="weighting.lower_bound_too_high",
            parameters={"lower": lower, "mean": total / count},
        )
    if upper is not None and lower is not None and lower > upper:
        raise InputError(
            N_("lower bound %(lower)g is above upper bound %(upper)g"),
            code="weighting.bounds_crossed",
            parameters={"lower": lower, "upper": upper},
        )
    current = base.copy()
    fixed = np.zeros(base.size, dtype=bool)
    high = np.inf if upper is None else upper
    low = -np.inf if lower is None else lower
    tolerance = 1e-12 * max(abs(high) if np.isfinite(high) else 1.0, 1.0)
    for iteration in range(1, max_iterations + 1):
        above = positive & (current > high + tolerance)
        below = positive & (current < low - tolerance)
        if not (above.any() or below.any()):
            return TrimResult(weights=current, trimmed=fixed, iterations=iteration - 1)
        current[above] = high
        current[below] = low
        fixed |= above | below
        free = positive & ~fixed
        free_total = float(current[free].sum())
        if free_total <= 0:
            raise DesignError(
                N_("every weight hit a bound; the bounds are too tight"),
                code="weighting.bounds_too_tight",
            )
        current[free] *= (total - float(current[fixed].sum())) / free_total
    raise ConvergenceError(
        N_("weight trimming did not settle within %(rounds)s rounds"),
        code="weighting.trimming_diverged",
        parameters={"rounds": max_iterations},
    )


def effective_sample_size(weights: npt.ArrayLike) -> float:
    """Kish's effective sample size (有效样本量) ``(Σw)² / Σw²`` (Kish 1965 §11.7)."""
    base = _weights(weights)
    return float(base.sum() ** 2 / np.square(base).sum())


def weighting_design_effect(weights: npt.ArrayLike) -> float:
    """Design effect due to unequal weighting ``n Σw² / (Σw)² = 1 + CV²`` (Kish 1992).

    ``n`` counts the positive weights.
    """
    base = _weights(weights)
    count = int((base > 0).sum())
    return float(count * np.square(base).sum() / base.sum() ** 2)
