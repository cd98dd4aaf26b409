"""Jackknife replicate-weight variance (刀切法), a second variance method.

Delete-one-PSU jackknife: JK1 for unstratified designs, JKn (delete one
PSU within a stratum, reweight the rest of that stratum by n_h/(n_h-1)) for
stratified designs (Wolter 2007 ch. 4; Rust & Rao 1996; R
``as.svrepdesign(type = "JK1" / "JKn")``).  Replicates are evaluated from
(domain × PSU) totals, so no replicate weight matrix is materialised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, DesignError
from sampling.estimation.design import By, LonelyPsu, SurveyDesign
from sampling.estimation.intervals import wald_interval
from sampling.estimation.table import EstimateTable, Statistic

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class JackknifeKind(enum.StrEnum):
    """Delete-one jackknife flavour: ``JK1`` (unstratified) or ``JKn`` (stratified)."""

    JK1 = "JK1"
    JKN = "JKn"


@dataclass(frozen=True)
class ReplicateDesign:
    """A design whose variances come from jackknife replicates.

    Attributes
    ----------
    design
        The underlying (uncalibrated) design.
    kind
        JK1 or JKn.
    mse
        Centre the replicates at the full-sample estimate (``True``) or at
        their mean (``False``, R's default ``survey.replicates.mse``).
    """

    design: SurveyDesign
    kind: JackknifeKind
    mse: bool = False

    def mean(self, values: npt.ArrayLike, by: By = None, *, level: float = 0.95) -> EstimateTable:
        """Weighted domain means with jackknife standard errors."""
        return self._estimate(Statistic.MEAN, values, by, level)

    def total(self, values: npt.ArrayLike, by: By = None, *, level: float = 0.95) -> EstimateTable:
        """Domain totals with jackknife standard errors."""
        return self._estimate(Statistic.TOTAL, values, by, level)

    def _estimate(
        self, statistic: Statistic, values: npt.ArrayLike, by: By, level: float
    ) -> EstimateTable:
        design = self.design
        y, domains, codes = design._prepare(values, by)
        n_domains = len(domains)
        n, weight_sum, weighted_sum = design._domain_sums(codes, n_domains, y, domains)
        n_psu_total = len(design.psu_stratum)
        psu = design.psu_codes if design.psu_codes is not None else np.arange(design.n_rows)
        inside = codes >= 0
        keys = codes[inside] * n_psu_total + psu[inside]
        size = n_domains * n_psu_total
        weights = design.weights[inside]
        psu_y = np.bincount(keys, weights=weights * y[inside], minlength=size)
        psu_w = np.bincount(keys, weights=weights, minlength=size)
        psu_y = psu_y.reshape(n_domains, n_psu_total)
        psu_w = psu_w.reshape(n_domains, n_psu_total)

        stratum = design.psu_stratum
        n_strata = len(design.n_psu)
        stratum_y = np.zeros((n_domains, n_strata))
        stratum_w = np.zeros((n_domains, n_strata))
        for target, source in ((stratum_y, psu_y), (stratum_w, psu_w)):
            target[:] = np.bincount(
                (np.arange(n_domains)[:, None] * n_strata + stratum[None, :]).ravel(),
                weights=source.ravel(),
                minlength=n_domains * n_strata,
            ).reshape(n_domains, n_strata)
        n_h = design.n_psu[stratum].astype(np.float64)
        usable = n_h > 1
        factor = np.where(usable, n_h / np.maximum(n_h - 1.0, 1.0), 0.0)
        replicate_y = (
            weighted_sum[:, None]
            - stratum_y[:, stratum]
            + factor[None, :] * (stratum_y[:, stratum] - psu_y)
        )
        replicate_w = (
            weight_sum[:, None]
            - stratum_w[:, stratum]
            + factor[None, :] * (stratum_w[:, stratum] - psu_w)
        )
        if statistic is Statistic.MEAN:
            if (replicate_w[:, usable] <= 0).any():
                d = int(np.flatnonzero((replicate_w[:, usable] <= 0).any(axis=1))[0])
                raise DesignError(
                    N_(
                        "domain %(domain)s lies within a single PSU; "
                        "its jackknife replicates are undefined"
                    ),
                    code="jackknife.domain_in_one_psu",
                    parameters={"domain": domains.label(d)},
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                replicates = replicate_y / replicate_w
            estimate = weighted_sum / weight_sum
        else:
            replicates = replicate_y
            estimate = weighted_sum

        complement = self._sampling_complement()[stratum]
        if self.kind is JackknifeKind.JK1:
            rscale = np.ones(n_psu_total)
            scale = float(complement[0]) * (n_psu_total - 1) / n_psu_total
        else:
            rscale = complement * (n_h - 1.0) / np.maximum(n_h, 1.0)
            scale = 1.0
        # Replicates of lonely or census strata carry no information (R drops them).
        kept = usable & (rscale > 0)
        replicates = replicates[:, kept]
        rscale = rscale[kept]
        centre = estimate if self.mse else replicates.mean(axis=1)
        variance = scale * ((replicates - centre[:, None]) ** 2 * rscale[None, :]).sum(axis=1)
        se = np.sqrt(variance)
        low, high = wald_interval(estimate, se, level, design.df)
        if statistic is Statistic.MEAN:
            safe = np.maximum(codes, 0)
            residual = np.where(codes >= 0, (y - estimate[safe]) / weight_sum[safe], 0.0)
        else:
            residual = np.where(codes >= 0, y, 0.0)
        deff = design._design_effect(codes, n_domains, residual, n, weight_sum, variance)
        return EstimateTable(
            statistic=statistic,
            domains=domains,
            estimate=estimate,
            se=se,
            ci_low=low,
            ci_high=high,
            n=n,
            deff=deff,
            df=design.df,
            level=level,
        )

    def _sampling_complement(self) -> FloatArray:
        design = self.design
        if design.population_size is None:
            return np.ones(len(design.n_psu))
        result: FloatArray = (design.population_size - design.n_psu) / design.population_size
        return result


def jackknife(
    design: SurveyDesign, kind: JackknifeKind | str | None = None, *, mse: bool = False
) -> ReplicateDesign:
    """Jackknife replicate design from a linearisation design.

    Parameters
    ----------
    design
        An uncalibrated design (recalibrating every replicate is not done).
    kind
        ``JK1`` or ``JKn``; default JK1 without strata, JKn with strata.
    mse
        See :class:`ReplicateDesign`.

    Raises
    ------
    DesignError
        For JK1 on a stratified design, JKn without strata, a calibrated
        design, or lonely PSUs handled by ``adjust``.
    """
    stratified = len(design.n_psu) > 1
    chosen = (
        JackknifeKind(kind)
        if kind is not None
        else (JackknifeKind.JKN if stratified else JackknifeKind.JK1)
    )
    if chosen is JackknifeKind.JK1 and stratified:
        raise DesignError(
            N_("JK1 is for unstratified designs; use JKn"), code="jackknife.jk1_stratified"
        )
    if chosen is JackknifeKind.JKN and not stratified:
        raise DesignError(
            N_("JKn needs a stratified design; use JK1"), code="jackknife.jkn_unstratified"
        )
    if design.calibration is not None:
        raise DesignError(
            N_("jackknife of a calibrated design is not supported; use linearisation"),
            code="jackknife.calibrated",
        )
    if design.lonely_psu is LonelyPsu.ADJUST and (design.n_psu == 1).any():
        raise DesignError(
            N_("the jackknife supports lonely PSUs only as certainty or remove"),
            code="jackknife.lonely_psu_adjust",
        )
    return ReplicateDesign(design=design, kind=chosen, mse=mse)
