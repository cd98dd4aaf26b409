"""Interviewer variance: intra-interviewer correlation, its design effect, anomalies.

Answers collected by one interviewer resemble each other more than answers of
a simple random sample would (wording, tone, or an interviewer suggesting the
answer).  :func:`interviewer_variance` estimates the intra-interviewer
correlation ``ρ_int`` by the one-way analysis-of-variance estimator (Kish
1962), the interviewer design effect ``deff_int = 1 + ρ_int (m̄ − 1)`` to be
published with the estimates, and a z-score of each interviewer's mean
against the other interviewers' answers.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from sampling.errors import N_, InputError
from sampling.quality._common import (
    Correction,
    adjust_p_values,
    check_alpha,
    float_vector,
    groups_of,
    labels_of,
    parse_enum,
    plain,
)

__all__ = ["InterviewerAnomaly", "InterviewerVariance", "interviewer_variance"]


@dataclass(frozen=True)
class InterviewerAnomaly:
    """One interviewer's mean score against the other interviewers'.

    Attributes
    ----------
    interviewer
        The interviewer's label.
    n
        Scored answers the interviewer collected.
    mean, others_mean
        Mean score of the interviewer and of all other interviewers' answers.
    z, p_value
        ``(mean − others_mean) / sqrt(MSW (1/n + 1/n_others))`` and its two-sided
        normal p-value.
    adjusted_p_value, flagged
        Adjusted across the interviewers, and ``adjusted_p_value <= alpha``.
    """

    interviewer: Hashable
    n: int
    mean: float
    others_mean: float
    z: float
    p_value: float
    adjusted_p_value: float
    flagged: bool


@dataclass(frozen=True)
class InterviewerVariance:
    """Result of :func:`interviewer_variance`.

    Attributes
    ----------
    rho
        ANOVA estimate of the intra-interviewer correlation ``ρ_int``; may be
        negative by sampling error (kept, not truncated, so that averages
        over studies stay unbiased; :attr:`design_effect` uses it as is).
    design_effect
        ``deff_int = 1 + ρ_int (m̄ − 1)``: the factor by which interviewer
        clustering inflates the variance of a mean.
    mean_workload
        ``m̄ = n / a``: answers per interviewer.
    between_mean_square, within_mean_square
        ``MSB`` and ``MSW`` of the one-way ANOVA.
    f_statistic, f_p_value
        ``MSB / MSW`` and its p-value on ``(a − 1, n − a)`` degrees of
        freedom: the test of ``ρ_int = 0``.
    n, interviewers
        Scored answers and interviewers.
    anomalies
        One :class:`InterviewerAnomaly` per interviewer, in order of first
        appearance.
    alpha, correction
        The settings of the flags.
    """

    rho: float
    design_effect: float
    mean_workload: float
    between_mean_square: float
    within_mean_square: float
    f_statistic: float
    f_p_value: float
    n: int
    interviewers: int
    anomalies: tuple[InterviewerAnomaly, ...]
    alpha: float
    correction: Correction

    def flagged(self) -> tuple[InterviewerAnomaly, ...]:
        """The flagged interviewers."""
        return tuple(anomaly for anomaly in self.anomalies if anomaly.flagged)

    def summary(self) -> dict[str, Any]:
        """The variance components as a JSON-ready dictionary."""
        return {
            "rho": self.rho,
            "design_effect": self.design_effect,
            "mean_workload": self.mean_workload,
            "between_mean_square": self.between_mean_square,
            "within_mean_square": self.within_mean_square,
            "f_statistic": self.f_statistic,
            "f_p_value": self.f_p_value,
            "n": self.n,
            "interviewers": self.interviewers,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per interviewer."""
        return [
            {
                "interviewer": plain(item.interviewer),
                "n": item.n,
                "mean": item.mean,
                "others_mean": item.others_mean,
                "z": item.z,
                "p_value": item.p_value,
                "adjusted_p_value": item.adjusted_p_value,
                "flagged": item.flagged,
            }
            for item in self.anomalies
        ]


def interviewer_variance(
    interviewers: Sequence[Hashable],
    scores: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    correction: Correction | str = Correction.HOLM,
) -> InterviewerVariance:
    """Intra-interviewer correlation (ANOVA, Kish 1962), its design effect and anomalies.

    Parameters
    ----------
    interviewers, scores
        One entry per answer: who collected it and its score (NaN: don't
        know / missing, left out).
    alpha
        Level of the anomaly flags after ``correction``.
    correction
        Multiple-testing correction across the interviewers (Holm by default).

    Returns
    -------
    InterviewerVariance
        ``ρ_int``, ``deff_int``, the ANOVA table's parts and per-interviewer
        z-scores.

    Raises
    ------
    sampling.errors.InputError
        Lengths differ, fewer than two interviewers, or no more answers than
        interviewers.

    Notes
    -----
    With ``a`` interviewers, ``m_i`` answers of interviewer ``i``, ``n = Σ
    m_i``, ``MSB = Σ m_i (ȳ_i − ȳ)² / (a − 1)`` and ``MSW = Σ Σ (y_ij −
    ȳ_i)² / (n − a)``, the estimator is ``ρ̂ = (MSB − MSW) / (MSB + (m₀ − 1)
    MSW)`` with ``m₀ = (n − Σ m_i² / n) / (a − 1)`` (``m₀ = m`` in a balanced
    design; Kish 1962; Searle, Casella & McCulloch 1992, §3.6).  The design
    effect of a mean is ``1 + ρ̂ (m̄ − 1)`` with ``m̄ = n / a`` (Kish 1962).

    ``ρ_int`` is identified only when interviewers' assignments are
    comparable (interpenetrated, Mahalanobis 1946): an interviewer working a
    single unit carries that unit's true level, so the estimate then also
    contains the between-unit variance.  Compute it within units, or across
    interviewers sharing units, when assignments are not interpenetrated.

    The anomaly z-score compares an interviewer's mean with all other
    answers using the pooled within-interviewer variance ``MSW``; with
    ``ρ_int > 0`` the other interviewers' mean varies more than that, so
    the z-scores are liberal then, and a flag asks for a look (call-backs),
    never for answers to be dropped.

    References
    ----------
    Kish, L. (1962). Studies of interviewer variance for attitudinal variables.
    *JASA* 57, 92–115.
    Mahalanobis, P. C. (1946). Recent experiments in statistical sampling in
    the Indian Statistical Institute. *JRSS* 109, 325–378.
    Searle, S. R., Casella, G. and McCulloch, C. E. (1992). *Variance
    Components*. Wiley.
    """
    method = parse_enum(Correction, correction, "correction")
    level = check_alpha(alpha)
    labels = labels_of(interviewers, "interviewers")
    y_all = float_vector(scores, "scores", len(labels))
    known = ~np.isnan(y_all)
    names_all, codes_all = groups_of(labels)
    codes = codes_all[known]
    y = y_all[known]
    present = np.unique(codes)
    a = int(present.size)
    n = int(y.size)
    if a < 2 or n <= a:
        raise InputError(
            N_(
                "interviewer variance needs at least two interviewers and more answers than"
                " interviewers, got %(interviewers)s interviewers and %(answers)s answers"
            ),
            code="quality.too_few_interviewers",
            parameters={"interviewers": a, "answers": n},
        )
    m = np.bincount(codes, minlength=len(names_all)).astype(np.float64)[present]
    sums = np.bincount(codes, weights=y, minlength=len(names_all))[present]
    means = sums / m
    grand = float(y.mean())
    ssb = float((m * (means - grand) ** 2).sum())
    group_mean_of = np.zeros(len(names_all))
    group_mean_of[present] = means
    ssw = float(((y - group_mean_of[codes]) ** 2).sum())
    msb = ssb / (a - 1)
    msw = ssw / (n - a)
    m0 = (n - float((m**2).sum()) / n) / (a - 1)
    denominator = msb + (m0 - 1.0) * msw
    rho = (msb - msw) / denominator if denominator > 0 else math.nan
    workload = n / a
    deff = 1.0 + rho * (workload - 1.0)
    if msw > 0:
        f = msb / msw
        f_p = float(stats.f.sf(f, a - 1, n - a))
    else:
        f = math.inf if msb > 0 else math.nan
        f_p = 0.0 if msb > 0 else math.nan

    others_n = n - m
    others_mean = (float(y.sum()) - sums) / others_n
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (means - others_mean) / np.sqrt(msw * (1.0 / m + 1.0 / others_n))
    z = np.where(np.isfinite(z), z, np.nan)
    p = 2.0 * stats.norm.sf(np.abs(z))
    adjusted = adjust_p_values(p, method)
    anomalies = tuple(
        InterviewerAnomaly(
            interviewer=names_all[int(code)],
            n=int(m[i]),
            mean=float(means[i]),
            others_mean=float(others_mean[i]),
            z=float(z[i]),
            p_value=float(p[i]),
            adjusted_p_value=float(adjusted[i]),
            flagged=bool(adjusted[i] <= level),
        )
        for i, code in enumerate(present)
    )
    return InterviewerVariance(
        rho=float(rho),
        design_effect=float(deff),
        mean_workload=workload,
        between_mean_square=msb,
        within_mean_square=msw,
        f_statistic=float(f),
        f_p_value=f_p,
        n=n,
        interviewers=a,
        anomalies=anomalies,
        alpha=level,
        correction=method,
    )
