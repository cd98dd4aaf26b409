"""Covariances between units' scores (单位间协方差), for neighbour comparisons.

Units rated by the same respondents are positively correlated, so the
difference between two units is more precise than their separate intervals
suggest (Lohr 2022 §10.2).  Two steps:

* :func:`composite_covariance`: the item-weighted composite of every unit
  (``Σ_k a_k · mean_k``, as :func:`sampling.satisfaction.composite_index`)
  with the full unit × unit covariance ``A V Aᵀ`` from the covariance ``V``
  of the unit × item means (Särndal et al. 1992 §5.5);
* :func:`sub_score_covariance`: rater groups are independent samples, so
  ``cov(S_i, S_j) = Σ_g w'_ig · w'_jg · cov_g(i, j)`` with each unit's
  effective (redistributed) group weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import InputError
from sampling.estimation import EstimateTable
from sampling.satisfaction.indices import composite_of_means
from sampling.scoring.social import SubScore

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CompositeCovariance:
    """Composite per unit with the covariance matrix between units."""

    units: npt.NDArray[Any]
    estimate: FloatArray
    covariance: FloatArray


def composite_covariance(
    table: EstimateTable, item_weights: Mapping[Any, float]
) -> CompositeCovariance:
    """Composites and their covariance from a unit × item table of means.

    Parameters
    ----------
    table
        Means by domains ``(unit, item)`` estimated with ``covariance=True``.
    item_weights
        Weight per item; they sum to 1.

    Raises
    ------
    InputError
        No covariance in the table, a missing item weight, or a unit without
        answers for some weighted item.
    """
    units, estimate, covariance = composite_of_means(table, item_weights)
    return CompositeCovariance(units, estimate, covariance)


def sub_score_covariance(
    first: SubScore, second: SubScore, group_covariance: Mapping[str, float]
) -> float:
    """Covariance of two units' sub-scores from the per-group covariances.

    ``group_covariance`` maps each rater group to ``cov_g(first, second)``
    (0 or absent when no respondent rated both units).
    """
    weights = {part.group: part.effective_weight for part in second.contributions}
    return float(
        sum(
            part.effective_weight
            * weights.get(part.group, 0.0)
            * group_covariance.get(part.group, 0.0)
            for part in first.contributions
        )
    )


def sub_score_covariance_matrix(
    scores: Sequence[SubScore], group_covariance: Mapping[str, FloatArray]
) -> FloatArray:
    """Covariance matrix of several units' sub-scores (same order as ``scores``).

    ``group_covariance[g]`` is the units' covariance matrix within group ``g``
    in the same order; its diagonal must equal the variances in ``scores``.
    """
    count = len(scores)
    for group, matrix in group_covariance.items():
        if np.shape(matrix) != (count, count):
            raise InputError(f"covariance of group {group!r} must be {count}×{count}")
    result = np.zeros((count, count))
    for row in range(count):
        for column in range(count):
            result[row, column] = sub_score_covariance(
                scores[row],
                scores[column],
                {group: float(matrix[row, column]) for group, matrix in group_covariance.items()},
            )
    return result
