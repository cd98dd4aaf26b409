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
from scipy import sparse

from sampling.errors import N_, DesignError, InputError
from sampling.estimation import Domains, EstimateTable, SurveyDesign
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


def design_composites(
    design: SurveyDesign,
    points: npt.ArrayLike,
    domains: Domains,
    item_weights: Mapping[Any, float],
) -> CompositeCovariance:
    """:func:`composite_covariance` straight from the answers, for many of them.

    ``domains`` are the ``(unit, item)`` domains of the rows.  Same estimates
    as ``composite_covariance(design.mean(points, domains, covariance=True),
    item_weights)`` without the rows × (unit × item) matrix that needs: the
    composite's linearised variable ``Σ_k a_k z_k`` is summed per PSU and unit
    (PSUs × units), and its covariance between PSUs within strata is
    ``A V Aᵀ`` by linearity.  A calibrated design takes the general route.

    Raises
    ------
    InputError
        As :func:`composite_covariance`.
    DesignError
        A domain without a non-missing value with a positive weight.
    """
    y = np.asarray(points, dtype=np.float64)
    if design.calibration is not None:
        return composite_covariance(design.mean(y, domains, covariance=True), item_weights)
    if len(domains.keys) != 2 or domains.codes.shape != y.shape:
        raise InputError(
            N_("composites need (unit, item) domains with one code per row"),
            code="scoring.composite_domains",
        )
    unit_keys, item_keys = domains.keys
    coefficient = np.array([item_weights.get(k, np.nan) for k in item_keys.tolist()])
    weights_total = float(sum(item_weights.values()))
    if abs(weights_total - 1.0) > 1e-9:
        raise InputError(
            N_("item weights must sum to 1, got %(total)g"),
            code="scoring.item_weights_sum",
            parameters={"total": weights_total},
        )
    if np.isnan(coefficient).any():
        missing = item_keys[np.isnan(coefficient)][0]
        raise InputError(
            N_("no item weight for item %(item)r"),
            code="scoring.item_weight_missing",
            parameters={"item": missing},
        )
    units, unit_of_domain = np.unique(unit_keys, return_inverse=True)
    covered = np.bincount(unit_of_domain, weights=coefficient, minlength=len(units))
    if (np.abs(covered - 1.0) > 1e-9).any():
        bad = units[np.abs(covered - 1.0) > 1e-9][0]
        raise InputError(
            N_("unit %(unit)r has no answers for some weighted items"),
            code="scoring.items_unanswered",
            parameters={"unit": bad},
        )
    n_domains = len(unit_keys)
    valid = ~np.isnan(y)
    codes = domains.codes[valid]
    weights = design.weights[valid]
    values = y[valid]
    weight_sum = np.bincount(codes, weights=weights, minlength=n_domains)
    empty = (np.bincount(codes, minlength=n_domains) == 0) | (weight_sum <= 0)
    if empty.any():
        labels = "; ".join(domains.label(int(d)) for d in np.flatnonzero(empty)[:5])
        raise DesignError(
            N_("empty domain: %(domains)s has no non-missing value with a positive weight"),
            code="scoring.empty_domain",
            parameters={"domains": labels},
        )
    means = np.bincount(codes, weights=weights * values, minlength=n_domains) / weight_sum
    estimate = np.bincount(unit_of_domain, weights=coefficient * means, minlength=len(units))
    scores = weights * (values - means[codes]) / weight_sum[codes] * coefficient[codes]
    n_units = len(units)
    if design.psu_codes is None:
        psu = np.flatnonzero(valid)
        n_psu_total = design.n_rows
    else:
        psu = design.psu_codes[valid]
        n_psu_total = len(design.psu_stratum)
    # PSU × unit totals are sparse (a respondent rates a few units), so the
    # between-PSU covariance is Σ_h s_h (Σ_i t_i t_iᵀ − c_h n_h m_h m_hᵀ)
    # with sparse products instead of a dense PSUs × units matrix.
    stratum_of_psu = design.psu_stratum
    n_strata = len(design.n_psu)
    totals = sparse.csr_matrix((scores, (psu, unit_of_domain[codes])), shape=(n_psu_total, n_units))
    scale = design.stratum_scale[stratum_of_psu]
    squares = np.asarray((totals.T @ sparse.diags(scale) @ totals).toarray(), dtype=np.float64)
    membership = sparse.csr_matrix(
        (np.ones(n_psu_total), (stratum_of_psu, np.arange(n_psu_total))),
        shape=(n_strata, n_psu_total),
    )
    stratum_sums = np.asarray((membership @ totals).toarray(), dtype=np.float64)
    n_psu = np.maximum(design.n_psu, 1).astype(np.float64)
    factor = np.where(design.centre, design.stratum_scale / n_psu, 0.0)
    covariance = squares - (stratum_sums * factor[:, None]).T @ stratum_sums
    return CompositeCovariance(
        units, estimate.astype(np.float64), ((covariance + covariance.T) / 2).astype(np.float64)
    )


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
            raise InputError(
                N_("covariance of group %(group)r must be %(count)s×%(count)s"),
                code="scoring.covariance_shape",
                parameters={"group": group, "count": count},
            )
    result = np.zeros((count, count))
    for row in range(count):
        for column in range(count):
            result[row, column] = sub_score_covariance(
                scores[row],
                scores[column],
                {group: float(matrix[row, column]) for group, matrix in group_covariance.items()},
            )
    return result
