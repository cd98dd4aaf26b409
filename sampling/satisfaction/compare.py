"""Differences between units, multiple comparisons and rank intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError
from sampling.estimation import EstimateTable
from sampling.estimation.intervals import t_quantile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _covariance(table: EstimateTable) -> FloatArray:
    if table.covariance is None:
        raise InputError(
            N_("the estimates need a covariance matrix: estimate with covariance=True"),
            code="satisfaction.no_covariance",
        )
    return table.covariance


@dataclass(frozen=True)
class Difference:
    """Difference between two domain estimates with its test."""

    first: int
    second: int
    difference: float
    se: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float


def _t_p_value(t: FloatArray, df: float) -> FloatArray:
    from scipy import special

    if np.isinf(df):
        return np.asarray(2.0 * special.ndtr(-np.abs(t)), dtype=np.float64)
    return np.asarray(2.0 * special.stdtr(df, -np.abs(t)), dtype=np.float64)


def unit_difference(table: EstimateTable, first: int, second: int) -> Difference:
    """Test the difference between domains ``first`` and ``second``.

    ``se = sqrt(v11 + v22 - 2 v12)`` with the covariance from shared
    respondents; t test with the design degrees of freedom (Lohr 2022 §10.2).
    """
    cov = _covariance(table)
    diff = float(table.estimate[first] - table.estimate[second])
    se = float(np.sqrt(max(cov[first, first] + cov[second, second] - 2 * cov[first, second], 0.0)))
    t = diff / se if se > 0 else np.inf * np.sign(diff)
    p = float(_t_p_value(np.array([t]), table.df)[0])
    q = t_quantile(table.level, table.df)
    return Difference(first, second, diff, se, float(t), p, diff - q * se, diff + q * se)


@dataclass(frozen=True)
class PairwiseResult:
    """All pairwise differences with adjusted p-values."""

    differences: tuple[Difference, ...]
    adjusted_p_values: FloatArray
    reject: npt.NDArray[np.bool_]
    method: str


def pairwise_differences(
    table: EstimateTable, *, method: str = "holm", alpha: float = 0.05
) -> PairwiseResult:
    """Every pair of domains tested, p-values adjusted for multiplicity.

    Uses :func:`statsmodels.stats.multitest.multipletests` (``holm``,
    ``bonferroni``, ``fdr_bh``, …; Holm 1979, Benjamini & Hochberg 1995).
    """
    from statsmodels.stats.multitest import multipletests

    count = len(table)
    pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
    differences = tuple(unit_difference(table, i, j) for i, j in pairs)
    if not differences:
        return PairwiseResult((), np.empty(0), np.empty(0, dtype=bool), method)
    reject, adjusted, _, _ = multipletests(
        [d.p_value for d in differences], alpha=alpha, method=method
    )
    return PairwiseResult(differences, np.asarray(adjusted), np.asarray(reject), method)


@dataclass(frozen=True)
class RankIntervals:
    """Rank (1 = highest estimate) and a rank interval per domain."""

    rank: IntArray
    low: IntArray
    high: IntArray
    method: str


def rank_intervals(
    table: EstimateTable,
    *,
    generator: np.random.Generator | None = None,
    draws: int = 10_000,
    level: float = 0.95,
    method: str = "simulation",
) -> RankIntervals:
    """Intervals for the ranks of the domains (名次区间).

    ``method="simulation"``: draw the estimates from their multivariate
    normal (with the covariance between units) and take the marginal
    ``(1-level)/2`` quantiles of each unit's rank; needs an explicit
    ``generator``.  ``method="bonferroni"``: unit i's rank lies in
    ``[1 + #units significantly above i, K - #units significantly below i]``
    with Bonferroni-adjusted pairwise tests, which gives joint coverage of
    at least ``level`` (Klein, Wright & Wieczorek 2020, *A joint confidence
    region for an overall ranking of populations*, JRSS C 69).
    """
    cov = _covariance(table)
    count = len(table)
    rank = (count - np.argsort(np.argsort(table.estimate, kind="stable"), kind="stable")).astype(
        np.int64
    )
    if method == "simulation":
        if generator is None:
            raise InputError(
                N_("rank simulation needs an explicit numpy.random.Generator"),
                code="satisfaction.no_generator",
            )
        sample = generator.multivariate_normal(table.estimate, cov, size=draws, method="eigh")
        ranks = count - np.argsort(np.argsort(sample, axis=1), axis=1)
        alpha = (1.0 - level) / 2.0
        low = np.quantile(ranks, alpha, axis=0, method="inverted_cdf").astype(np.int64)
        high = np.quantile(ranks, 1.0 - alpha, axis=0, method="inverted_cdf").astype(np.int64)
        return RankIntervals(rank, low, high, method)
    if method == "bonferroni":
        pairs = count * (count - 1) / 2
        q = t_quantile(1.0 - (1.0 - level) / max(pairs, 1.0), table.df)
        variance = np.diag(cov)
        se = np.sqrt(np.maximum(variance[:, None] + variance[None, :] - 2 * cov, 0.0))
        diff = table.estimate[:, None] - table.estimate[None, :]
        above = (diff < -q * se) & (se > 0) | ((se == 0) & (diff < 0))
        below = (diff > q * se) & (se > 0) | ((se == 0) & (diff > 0))
        low = 1 + above.sum(axis=1)
        high = count - below.sum(axis=1)
        return RankIntervals(rank, low.astype(np.int64), high.astype(np.int64), method)
    raise InputError(
        N_("unknown rank interval method %(method)r (simulation, bonferroni)"),
        code="satisfaction.unknown_rank_method",
        parameters={"method": method},
    )
