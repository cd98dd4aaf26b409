"""Design-based estimation by Taylor linearisation (泰勒线性化).

One stage of stratified cluster sampling, with or without replacement of
PSUs: weights, strata, PSUs (clusters) and the stratum population size
(finite population correction).  Multi-stage designs use the ultimate-cluster
approximation (only the first stage enters the variance), as R ``survey``
does for variance estimation when later-stage fpc is absent.

Every estimate is a smooth function of weighted totals; its variance is the
variance of the estimated total of its influence function ("linearised
variable"), computed between PSUs within strata (Wolter 2007 §6; Lohr 2022
§9.1; Lumley 2010 §1.4 and appendix C; Särndal, Swensson & Wretman 1992
§5.5).  All domains are computed in one vectorised pass with
:func:`numpy.bincount` over (domain × stratum) codes.

Domains and missing values follow R ``svyby(..., na.rm = TRUE)``: a row
outside the domain, or whose value is missing, contributes zero to the
domain's linearised variable but stays in the design, so the number of PSUs
per stratum (and thus the finite population correction and the centring) is
that of the whole sample.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, DesignError, InputError, Problem, placed
from sampling.estimation.intervals import (
    DegreesOfFreedom,
    ProportionCiMethod,
    check_level,
    proportion_interval,
    wald_interval,
)
from sampling.estimation.table import Domains, EstimateTable, Statistic, factorize

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
By = Mapping[str, npt.ArrayLike] | Domains | None

# Below this sampling fraction complement a stratum is a census (R: f < 1e-7).
_CERTAINTY_TOLERANCE = 1e-7
# Largest dense (rows × domains) block held at once for calibrated designs.
_DENSE_BLOCK = 20_000_000


class LonelyPsu(enum.StrEnum):
    """What to do with a stratum that has a single PSU (单一初级抽样单元层).

    Mirrors R ``options(survey.lonely.psu = ...)`` (Lumley 2010 §2.2):

    ``FAIL``
        Refuse the design (R ``"fail"``, the default).
    ``CERTAINTY``
        Treat the PSU as sampled with certainty: no variance contribution.
    ``REMOVE``
        Drop the stratum from the variance.  In R ``survey`` 4.x this gives
        the same variance as ``"certainty"``, and so it does here.
    ``ADJUST``
        Centre the lonely PSU at the grand mean (zero for the linearised
        variable of a mean) instead of its stratum mean, which is
        conservative (R ``"adjust"``).
    """

    FAIL = "fail"
    CERTAINTY = "certainty"
    REMOVE = "remove"
    ADJUST = "adjust"


@dataclass(frozen=True)
class RowSource:
    """Where the rows of a design come from, so that errors can point at them.

    A design built from a file (the CLI) passes one, and every error about a
    row then names the file, the line of that row and the column by its name
    in the file, and a stratum by its value; without it, errors name the row
    (1-based) and the argument (``fpc``, ``weights`` …).

    Attributes
    ----------
    file
        The file name, as the user gave it.
    first_line
        The line of the first row (2 for a CSV file with a header line).
    columns
        Column name per role: ``"strata"``, ``"psu"``, ``"fpc"``,
        ``"weights"``, ``"values"``.
    stratum_names
        When ``strata`` are given as integer codes, the value of every code
        (``stratum_names[code]``), used to name a stratum in messages and in
        :attr:`SurveyDesign.stratum_labels`.
    """

    file: str | None = None
    first_line: int = 1
    columns: Mapping[str, str] = field(default_factory=dict)
    stratum_names: npt.ArrayLike | None = None

    def line(self, row: int) -> int:
        """The line of 0-based ``row``."""
        return self.first_line + row

    def column(self, role: str) -> str:
        """The name of the column playing ``role``."""
        return self.columns.get(role, role)

    def place(self, problem: Problem, role: str, row: int | None = None) -> Problem:
        """``problem`` at ``FILE, line L, column 'C'``, as :class:`InputError` shows a place."""
        return placed(
            problem,
            file=self.file,
            line=None if row is None else self.line(row),
            column=self.column(role),
        )


def _where(source: RowSource | None, role: str, row: int) -> tuple[int | None, dict[str, Any]]:
    """The 1-based row for an ``in row`` template and :class:`InputError` keywords
    locating ``row`` of ``role``: the row when there is no source (the message says
    it), ``None`` when the source's file and line say where."""
    if source is None:
        return row + 1, {"column": role}
    return None, {"file": source.file, "line": source.line(row), "column": source.column(role)}


@dataclass(frozen=True)
class Calibration:
    """A calibration step (post-stratification or raking) for the variance.

    The linearised variable of a calibrated estimator is the residual of the
    weighted regression of the linearised variable on the calibration
    variables, weighted by the weights *before* calibration (Deville &
    Särndal 1992; Lumley 2010 §7.2; R ``svyrecvar`` with ``postStrata``).

    Attributes
    ----------
    margins
        Per calibration variable, the level code of every row.
    level_counts
        Number of levels of each calibration variable.
    initial_weights
        The weights before calibration.
    """

    margins: tuple[IntArray, ...]
    level_counts: tuple[int, ...]
    initial_weights: FloatArray


class SurveyDesign:
    """A stratified (cluster) sample design with weights and fpc (抽样设计).

    Parameters
    ----------
    weights
        Sampling weights (inverse inclusion probabilities, possibly adjusted).
        Finite and non-negative; zeros are allowed (a zero-weight row is in the
        design but in no estimate — the identity behind domain estimation).
    strata
        Stratum of every row (any sortable labels); ``None``: one stratum.
    psu
        Primary sampling unit (cluster) of every row; ``None``: every row is
        its own PSU.  PSU labels are nested within strata.
    fpc
        Population size of the stratum (number of PSUs in the population
        stratum, N_h) for every row, constant within a stratum; ``None``:
        sampling with replacement (no finite population correction).
    lonely_psu
        Handling of strata with a single PSU, see :class:`LonelyPsu`.
    source
        Where the rows come from (file, lines, column names, stratum values),
        for error messages; see :class:`RowSource`.
    calibration
        Set by :meth:`poststratify` and :meth:`rake`; not for direct use.

    Notes
    -----
    Variance of an estimated total of the linearised variable z (Cochran 1977
    §5A; Lumley 2010 appendix C):

    .. math:: v = \\sum_h (1 - n_h/N_h) \\frac{n_h}{n_h - 1}
              \\sum_i (z_{hi} - \\bar z_h)^2

    with :math:`z_{hi}` the weighted PSU totals of z.
    """

    def __init__(
        self,
        weights: npt.ArrayLike,
        strata: npt.ArrayLike | None = None,
        psu: npt.ArrayLike | None = None,
        fpc: npt.ArrayLike | None = None,
        lonely_psu: LonelyPsu | str = LonelyPsu.FAIL,
        *,
        source: RowSource | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.lonely_psu = LonelyPsu(lonely_psu)
        self.source = source
        self.weights = _check_weights(weights, source)
        n_rows = self.weights.shape[0]
        self.calibration = calibration

        if strata is None:
            self.stratum_labels: npt.NDArray[Any] = np.array(["all"])
            self.stratum_codes: IntArray = np.zeros(n_rows, dtype=np.int64)
        else:
            strata_array = _column(strata, n_rows, "strata")
            self.stratum_labels, self.stratum_codes = factorize(strata_array)
            if source is not None and source.stratum_names is not None:
                self.stratum_labels = np.asarray(source.stratum_names)[self.stratum_labels]
        n_strata = len(self.stratum_labels)

        if psu is None:
            self.psu_codes: IntArray | None = None
            self.psu_stratum: IntArray = self.stratum_codes
        else:
            psu_array = _column(psu, n_rows, "psu")
            _, psu_inverse = factorize(psu_array)
            n_labels = int(psu_inverse.max()) + 1 if n_rows else 1
            combined = self.stratum_codes * n_labels + psu_inverse
            unique_combined, psu_codes = factorize(combined)
            self.psu_codes = psu_codes
            self.psu_stratum = (unique_combined // n_labels).astype(np.int64)
        self.n_psu: IntArray = np.bincount(self.psu_stratum, minlength=n_strata).astype(np.int64)

        if fpc is None:
            self.population_size: FloatArray | None = None
            sampling_complement = np.ones(n_strata)
        else:
            self.population_size = self._stratum_population(fpc, n_rows)
            sampling_complement = (self.population_size - self.n_psu) / self.population_size

        lonely = self.n_psu == 1
        scale = np.where(
            lonely,
            sampling_complement,
            sampling_complement * self.n_psu / np.maximum(self.n_psu - 1, 1),
        )
        self.centre: npt.NDArray[np.bool_] = np.ones(n_strata, dtype=bool)
        census = sampling_complement < _CERTAINTY_TOLERANCE
        lonely_random = lonely & ~census
        if lonely_random.any():
            if self.lonely_psu is LonelyPsu.FAIL:
                labels = self.stratum_labels[lonely_random]
                names = ", ".join(str(s) if source is None else repr(str(s)) for s in labels)
                problem = Problem(
                    "estimation.lonely_psu",
                    N_(
                        "stratum %(strata)s has only one PSU, so its variance cannot be "
                        "estimated; choose a lonely-PSU option (certainty, remove, adjust) or "
                        "collapse strata"
                    ),
                    {"strata": names},
                )
                if source is not None:
                    h = int(np.flatnonzero(lonely_random)[0])
                    problem = source.place(problem, "strata", self._first_row(h))
                raise DesignError(
                    problem.template, code=problem.code, parameters=problem.parameters
                )
            if self.lonely_psu is LonelyPsu.ADJUST:
                self.centre[lonely_random] = False
            else:
                scale[lonely_random] = 0.0
        scale[census] = 0.0
        self.stratum_scale: FloatArray = scale.astype(np.float64)
        self.df = float(len(self.psu_stratum) - n_strata)

    # ------------------------------------------------------------------ set-up
    def _first_row(self, stratum: int) -> int:
        return int(np.flatnonzero(self.stratum_codes == stratum)[0])

    def _stratum_name(self, stratum: int) -> str:
        label = self.stratum_labels[stratum]
        return repr(str(label)) if self.source is not None else str(label)

    def _stratum_population(self, fpc: npt.ArrayLike, n_rows: int) -> FloatArray:
        values = np.asarray(fpc, dtype=np.float64)
        source = self.source
        if values.shape != (n_rows,):
            raise InputError(
                N_("fpc has %(values)s values for %(rows)s rows"),
                code="estimation.fpc_length",
                parameters={"values": values.size, "rows": n_rows},
                column="fpc",
            )
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            number, where = _where(source, "fpc", row)
            raise InputError(
                N_("population size must be a positive number, got %(value)s")
                if number is None
                else N_("population size must be a positive number, got %(value)s in row %(row)s"),
                code="estimation.invalid_fpc",
                parameters={"value": values[row], "row": number},
                **where,
            )
        n_strata = len(self.stratum_labels)
        first = np.full(n_strata, -1, dtype=np.int64)
        first[self.stratum_codes[::-1]] = np.arange(n_rows - 1, -1, -1)
        per_stratum = values[first]
        differs = values != per_stratum[self.stratum_codes]
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            h = int(self.stratum_codes[row])
            number, where = _where(source, "fpc", row)
            raise InputError(
                N_(
                    "population size %(value)g in row %(row)s differs from %(other)g elsewhere "
                    "in stratum %(stratum)s; fpc must be constant within a stratum"
                )
                if source is None
                else N_(
                    "population size %(value)g differs from %(other)g on line %(other_line)s "
                    "in stratum %(stratum)s; fpc must be constant within a stratum"
                ),
                code="estimation.fpc_varies",
                parameters={
                    "value": values[row],
                    "row": number,
                    "other": per_stratum[h],
                    "other_line": None if source is None else source.line(int(first[h])),
                    "stratum": self._stratum_name(h),
                },
                **where,
            )
        too_small = per_stratum < self.n_psu
        if too_small.any():
            h = int(np.flatnonzero(too_small)[0])
            problem = Problem(
                "estimation.fpc_below_psus",
                N_(
                    "stratum %(stratum)s: population size %(population)g is smaller than the "
                    "%(psus)s sampled PSUs"
                ),
                {
                    "stratum": self._stratum_name(h),
                    "population": per_stratum[h],
                    "psus": self.n_psu[h],
                },
            )
            if source is None:
                raise DesignError(
                    problem.template, code=problem.code, parameters=problem.parameters
                )
            _, where = _where(source, "fpc", int(first[h]))
            raise InputError(
                problem.template, code=problem.code, parameters=problem.parameters, **where
            )
        return per_stratum

    @property
    def n_rows(self) -> int:
        """Number of rows (respondents or answers) in the design."""
        return int(self.weights.shape[0])

    def with_weights(self, weights: npt.ArrayLike, calibration: Calibration | None) -> SurveyDesign:
        """The same design with new weights (e.g. after calibration)."""
        new = object.__new__(SurveyDesign)
        new.__dict__.update(self.__dict__)
        new.weights = _check_weights(weights, self.source)
        if new.weights.shape != self.weights.shape:
            raise InputError(
                N_("new weights must have one value per row"), code="estimation.weights_length"
            )
        new.calibration = calibration
        return new

    # ------------------------------------------------------------- calibration
    def poststratify(
        self, cells: npt.ArrayLike, population_totals: Mapping[Any, float]
    ) -> SurveyDesign:
        """Post-stratify the weights to known cell counts (事后分层).

        Parameters
        ----------
        cells
            Post-stratum label of every row (use a combined label for a cross).
        population_totals
            Population count of every cell.

        Returns
        -------
        SurveyDesign
            A design with post-stratified weights whose variance accounts for
            the post-stratification (R ``postStratify``; Lohr 2022 §4.4).
        """
        from sampling.weighting import poststratify

        if self.calibration is not None:
            raise DesignError(
                N_("the design is already calibrated; calibrate once, in one step"),
                code="estimation.calibrated_twice",
            )
        result = poststratify(self.weights, cells, population_totals)
        calibration = Calibration(
            margins=(result.cell_codes,),
            level_counts=(len(result.cells),),
            initial_weights=self.weights,
        )
        return self.with_weights(result.weights, calibration)

    def rake(
        self,
        margins: Mapping[str, tuple[npt.ArrayLike, Mapping[Any, float]]],
        *,
        max_iterations: int = 100,
        tolerance: float = 1e-10,
    ) -> SurveyDesign:
        """Rake the weights to known margins (迭代比例拟合) and keep the design.

        Parameters
        ----------
        margins
            ``{variable: (row labels, {level: population total})}``.
        max_iterations, tolerance
            See :func:`sampling.weighting.rake`.

        Returns
        -------
        SurveyDesign
            A design with raked weights; variances use the residuals of the
            regression on all margin indicators (R ``calibrate(...,
            calfun = "raking")``; Deville, Särndal & Sautory 1993).
        """
        from sampling.weighting import Margin, rake

        if self.calibration is not None:
            raise DesignError(
                N_("the design is already calibrated; calibrate once, in one step"),
                code="estimation.calibrated_twice",
            )
        result = rake(
            self.weights,
            [Margin(name, labels, totals) for name, (labels, totals) in margins.items()],
            max_iterations=max_iterations,
            tolerance=tolerance,
        )
        calibration = Calibration(
            margins=result.margin_codes,
            level_counts=tuple(len(levels) for levels in result.margin_levels),
            initial_weights=self.weights,
        )
        return self.with_weights(result.weights, calibration)

    # -------------------------------------------------------------- estimators
    def mean(
        self,
        values: npt.ArrayLike,
        by: By = None,
        *,
        level: float = 0.95,
        covariance: bool = False,
    ) -> EstimateTable:
        """Weighted mean (Hájek estimator) per domain (均值).

        Parameters
        ----------
        values
            Analysis variable; NaN marks a missing value (excluded from the
            estimate, kept in the design).
        by
            Domains: ``{column name: labels}`` (one or several columns) or a
            :class:`Domains`; ``None`` for the whole sample.
        level
            Confidence level of the t interval with ``df`` degrees of freedom.
        covariance
            Also return the covariance matrix between the domain means (the
            domains may share PSUs, e.g. units rated by the same respondents).

        Returns
        -------
        EstimateTable

        Notes
        -----
        Linearised variable :math:`z_i = w_i (y_i - \\bar y_d) / \\hat N_d` for
        rows of domain d (Lumley 2010 §2.3; R ``svymean``/``svyby``).
        """
        y, domains, codes = self._prepare(values, by)
        n, weight_sum, weighted_sum = self._domain_sums(codes, len(domains), y, domains)
        estimate = weighted_sum / weight_sum
        safe_codes = np.maximum(codes, 0)
        residual = np.where(codes >= 0, (y - estimate[safe_codes]) / weight_sum[safe_codes], 0.0)
        return self._finish(
            Statistic.MEAN, domains, codes, estimate, residual, n, weight_sum, level, covariance
        )

    def total(
        self,
        values: npt.ArrayLike,
        by: By = None,
        *,
        level: float = 0.95,
        covariance: bool = False,
    ) -> EstimateTable:
        """Horvitz–Thompson total per domain (总量); see :meth:`mean` for arguments.

        Linearised variable :math:`z_i = w_i y_i` (Horvitz & Thompson 1952;
        R ``svytotal``).
        """
        y, domains, codes = self._prepare(values, by)
        n, weight_sum, weighted_sum = self._domain_sums(codes, len(domains), y, domains)
        residual = np.where(codes >= 0, y, 0.0)
        return self._finish(
            Statistic.TOTAL,
            domains,
            codes,
            weighted_sum,
            residual,
            n,
            weight_sum,
            level,
            covariance,
        )

    def ratio(
        self,
        numerator: npt.ArrayLike,
        denominator: npt.ArrayLike,
        by: By = None,
        *,
        level: float = 0.95,
        covariance: bool = False,
    ) -> EstimateTable:
        """Ratio of two totals per domain (比率估计), R ``svyratio``.

        Rows where either variable is missing are excluded (and kept in the
        design).  Linearised variable :math:`z_i = w_i (y_i - \\hat R x_i) /
        \\hat X` (Cochran 1977 §6.3; Lohr 2022 §4.1).
        """
        x = _values(denominator, self.n_rows, "denominator", self.source)
        y_in = _values(numerator, self.n_rows, "numerator", self.source)
        y_in = np.where(np.isnan(x), np.nan, y_in)
        y, domains, codes = self._prepare(y_in, by)
        x = np.where(codes >= 0, x, 0.0)
        n, weight_sum, weighted_sum = self._domain_sums(codes, len(domains), y, domains)
        denominator_total = np.bincount(
            codes[codes >= 0], weights=(self.weights * x)[codes >= 0], minlength=len(domains)
        )
        if (denominator_total == 0).any():
            d = int(np.flatnonzero(denominator_total == 0)[0])
            raise DesignError(
                N_("domain %(domain)s: the denominator total is zero"),
                code="estimation.zero_denominator",
                parameters={"domain": domains.label(d)},
            )
        estimate = weighted_sum / denominator_total
        safe_codes = np.maximum(codes, 0)
        residual = np.where(
            codes >= 0,
            (y - estimate[safe_codes] * x) / denominator_total[safe_codes],
            0.0,
        )
        return self._finish(
            Statistic.RATIO, domains, codes, estimate, residual, n, weight_sum, level, covariance
        )

    def proportion(
        self,
        values: npt.ArrayLike,
        by: By = None,
        *,
        level: float = 0.95,
        ci_method: ProportionCiMethod | str = ProportionCiMethod.LOGIT,
        degrees_of_freedom: DegreesOfFreedom | str = DegreesOfFreedom.DESIGN,
    ) -> EstimateTable:
        """Proportion of ones in a 0/1 variable per domain (比例), R ``svyciprop``.

        The estimate and standard error are those of :meth:`mean`; the
        interval follows ``ci_method`` (see :class:`ProportionCiMethod`).

        Parameters
        ----------
        values
            0/1 values; NaN is missing (excluded, kept in the design).
        by
            Domains.
        level
            Confidence level.
        ci_method
            Interval method.
        degrees_of_freedom
            The t quantile's degrees of freedom for the logit, Wald and Wilson
            intervals.  ``DESIGN`` (default): the whole design's ``degf`` for
            every domain, as ``svyciprop(..., df = degf(design))``; ``DOMAIN``:
            each domain's own ``degf`` (PSUs minus strata with a row in the
            domain), R's default for ``svyciprop`` on a subset or within
            ``svyby``.  Without domains both are the design's ``degf``.  The
            degrees of freedom used are in :attr:`EstimateTable.ci_df`.  See
            :class:`DegreesOfFreedom`.
        """
        y = _values(values, self.n_rows, "values", self.source)
        observed = ~np.isnan(y)
        not_binary = observed & (y != 0.0) & (y != 1.0)
        if not_binary.any():
            row = int(np.flatnonzero(not_binary)[0])
            number, where = _where(self.source, "values", row)
            raise InputError(
                N_("a proportion needs 0/1 values, got %(value)g")
                if number is None
                else N_("a proportion needs 0/1 values, got %(value)g in row %(row)s"),
                code="estimation.not_binary",
                parameters={"value": y[row], "row": number},
                **where,
            )
        table = self.mean(y, by, level=level)
        method = ProportionCiMethod(ci_method)
        df_kind = DegreesOfFreedom(degrees_of_freedom)
        _, _, codes = self._prepare(y, table.domains)
        domain_df = self.domain_degrees_of_freedom(codes, len(table))
        ci_df = domain_df if df_kind is DegreesOfFreedom.DOMAIN else np.full(len(table), self.df)
        # The design's df as a number: a design without degrees of freedom is
        # an error, as for means; a domain without any gives no interval (NaN).
        interval_df = domain_df if df_kind is DegreesOfFreedom.DOMAIN else self.df
        low, high = proportion_interval(
            table.estimate, table.se, table.n, level, interval_df, method, domain_df=domain_df
        )
        return EstimateTable(
            statistic=Statistic.PROPORTION,
            domains=table.domains,
            estimate=table.estimate,
            se=table.se,
            ci_low=low,
            ci_high=high,
            n=table.n,
            deff=table.deff,
            df=table.df,
            level=level,
            ci_df=ci_df,
        )

    # ------------------------------------------------------------- internals
    def _prepare(self, values: npt.ArrayLike, by: By) -> tuple[FloatArray, Domains, IntArray]:
        y = _values(values, self.n_rows, "values", self.source)
        domains = self._domains(by)
        codes = np.where(np.isnan(y), -1, domains.codes)
        return np.where(np.isnan(y), 0.0, y), domains, codes

    def _domains(self, by: By) -> Domains:
        if by is None:
            return Domains.whole(self.n_rows)
        if isinstance(by, Domains):
            if by.codes.shape != (self.n_rows,):
                raise InputError(
                    N_("domains must have one code per row"), code="estimation.domains_length"
                )
            return by
        names = list(by)
        columns = [_column(by[name], self.n_rows, name) for name in names]
        return Domains.from_columns(columns, names)

    def _domain_sums(
        self, codes: IntArray, n_domains: int, y: FloatArray, domains: Domains
    ) -> tuple[IntArray, FloatArray, FloatArray]:
        inside = codes >= 0
        inside_codes = codes[inside]
        weights = self.weights[inside]
        n = np.bincount(inside_codes, minlength=n_domains).astype(np.int64)
        weight_sum = np.bincount(inside_codes, weights=weights, minlength=n_domains).astype(
            np.float64
        )
        weighted_sum = np.bincount(
            inside_codes, weights=weights * y[inside], minlength=n_domains
        ).astype(np.float64)
        empty = (n == 0) | (weight_sum <= 0)
        if empty.any():
            labels = "; ".join(domains.label(int(d)) for d in np.flatnonzero(empty)[:5])
            raise DesignError(
                N_("empty domain: %(domains)s has no non-missing value with a positive weight"),
                code="estimation.empty_domain",
                parameters={"domains": labels},
            )
        return n, weight_sum, weighted_sum

    def _finish(
        self,
        statistic: Statistic,
        domains: Domains,
        codes: IntArray,
        estimate: FloatArray,
        residual: FloatArray,
        n: IntArray,
        weight_sum: FloatArray,
        level: float,
        covariance: bool,
    ) -> EstimateTable:
        check_level(level)
        n_domains = len(domains)
        scores = self.weights * residual
        if covariance:
            matrix = self.linearised_covariance(codes, n_domains, scores)
            variance = np.diag(matrix).copy()
        else:
            matrix = None
            variance = self.linearised_variance(codes, n_domains, scores)
        se = np.sqrt(np.maximum(variance, 0.0))
        low, high = wald_interval(estimate, se, level, self.df)
        deff = self._design_effect(codes, n_domains, residual, n, weight_sum, variance)
        return EstimateTable(
            statistic=statistic,
            domains=domains,
            estimate=estimate,
            se=se,
            ci_low=low,
            ci_high=high,
            n=n,
            deff=deff,
            df=self.df,
            level=level,
            covariance=matrix,
        )

    def _design_effect(
        self,
        codes: IntArray,
        n_domains: int,
        residual: FloatArray,
        n: IntArray,
        weight_sum: FloatArray,
        variance: FloatArray,
    ) -> FloatArray:
        # R: deff = v / (svyvar(u) * W^2 * (W - n) / (W n)), the SRSWOR
        # variance of a sample of the same size from a population of size W.
        inside = codes >= 0
        inside_codes = codes[inside]
        weights = self.weights[inside]
        u = residual[inside]
        mean_u = np.bincount(inside_codes, weights=weights * u, minlength=n_domains) / weight_sum
        spread = np.bincount(
            inside_codes,
            weights=weights * (u - mean_u[inside_codes]) ** 2,
            minlength=n_domains,
        )
        count = n.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            element_variance = spread / weight_sum * count / (count - 1.0)
            srs_variance = element_variance * weight_sum * (weight_sum - count) / count
            deff = np.where(
                (weight_sum > count) & (srs_variance > 0), variance / srs_variance, np.nan
            )
        return deff.astype(np.float64)

    def domain_degrees_of_freedom(self, codes: IntArray, n_domains: int) -> FloatArray:
        """Degrees of freedom of each domain taken as its own design.

        #PSUs with a row in the domain minus #strata with a row in the domain
        (R ``degf`` of ``subset(design, ...)``); used by the Korn–Graubard
        interval, as in R ``svyciprop(method = "beta")``.
        """
        inside = codes >= 0
        n_strata = len(self.n_psu)
        psu = self.psu_codes if self.psu_codes is not None else np.arange(self.n_rows)
        n_psu_total = len(self.psu_stratum)
        psu_pairs = np.unique(codes[inside] * n_psu_total + psu[inside])
        stratum_pairs = np.unique(codes[inside] * n_strata + self.stratum_codes[inside])
        psu_count = np.bincount(psu_pairs // n_psu_total, minlength=n_domains)
        stratum_count = np.bincount(stratum_pairs // n_strata, minlength=n_domains)
        result: FloatArray = (psu_count - stratum_count).astype(np.float64)
        return result

    # ------------------------------------------------------ variance engines
    def linearised_variance(
        self, codes: IntArray, n_domains: int, scores: FloatArray
    ) -> FloatArray:
        """Variance of the estimated domain totals of a linearised variable.

        Parameters
        ----------
        codes
            Domain of every row (-1: in no domain).
        n_domains
            Number of domains.
        scores
            Weighted linearised variable :math:`w_i z_i` of every row (for
            the domain given by ``codes``).
        """
        if self.calibration is not None:
            variance = np.empty(n_domains)
            for start, stop in _blocks(n_domains, self.n_rows):
                block = self._dense_scores(codes, start, stop, scores)
                variance[start:stop] = np.diag(self._dense_covariance(block))
            return variance
        return self._sparse_variance(codes, n_domains, scores)

    def linearised_covariance(
        self, codes: IntArray, n_domains: int, scores: FloatArray
    ) -> FloatArray:
        """Covariance matrix of the estimated domain totals (see :meth:`linearised_variance`)."""
        return self._dense_covariance(self._dense_scores(codes, 0, n_domains, scores))

    def _dense_scores(
        self, codes: IntArray, start: int, stop: int, scores: FloatArray
    ) -> FloatArray:
        matrix = np.zeros((self.n_rows, stop - start))
        rows = np.flatnonzero((codes >= start) & (codes < stop))
        matrix[rows, codes[rows] - start] = scores[rows]
        if self.calibration is not None:
            matrix = self._calibration_residuals(matrix, self.calibration)
        return matrix

    def _calibration_residuals(self, matrix: FloatArray, calibration: Calibration) -> FloatArray:
        weights = self.weights
        positive = weights > 0
        u = np.zeros_like(matrix)
        u[positive] = matrix[positive] / weights[positive, None]
        initial = calibration.initial_weights
        if len(calibration.margins) == 1:
            cells = calibration.margins[0]
            n_cells = calibration.level_counts[0]
            cell_weight = np.bincount(cells, weights=initial, minlength=n_cells)
            fitted = _group_sum(cells, n_cells, u * initial[:, None])
            with np.errstate(invalid="ignore", divide="ignore"):
                fitted = np.where(cell_weight[:, None] > 0, fitted / cell_weight[:, None], 0.0)
            residual = u - fitted[cells]
        else:
            columns = []
            for margin, count in zip(calibration.margins, calibration.level_counts, strict=True):
                indicator = np.zeros((self.n_rows, count))
                indicator[np.arange(self.n_rows), margin] = 1.0
                columns.append(indicator)
            design_matrix = np.hstack(columns)
            root = np.sqrt(initial)[:, None]
            coefficients, *_ = np.linalg.lstsq(design_matrix * root, u * root, rcond=None)
            residual = u - design_matrix @ coefficients
        return residual * weights[:, None]

    def _psu_totals(self, matrix: FloatArray) -> FloatArray:
        if self.psu_codes is None:
            return matrix
        return _group_sum(self.psu_codes, len(self.psu_stratum), matrix)

    def _dense_covariance(self, matrix: FloatArray) -> FloatArray:
        totals = self._psu_totals(matrix)
        stratum_sums = _group_sum(self.psu_stratum, len(self.n_psu), totals)
        means = stratum_sums / np.maximum(self.n_psu, 1)[:, None]
        centred = totals - np.where(self.centre[:, None], means, 0.0)[self.psu_stratum]
        scaled = centred * self.stratum_scale[self.psu_stratum][:, None]
        result: FloatArray = scaled.T @ centred
        return result

    def _sparse_variance(self, codes: IntArray, n_domains: int, scores: FloatArray) -> FloatArray:
        n_strata = len(self.n_psu)
        inside = codes >= 0
        if self.psu_codes is None:
            totals = scores[inside]
            keys = codes[inside] * n_strata + self.stratum_codes[inside]
        else:
            n_psu_total = len(self.psu_stratum)
            pair = codes[inside] * n_psu_total + self.psu_codes[inside]
            pairs, inverse = np.unique(pair, return_inverse=True)
            totals = np.bincount(inverse, weights=scores[inside]).astype(np.float64)
            keys = (pairs // n_psu_total) * n_strata + self.psu_stratum[pairs % n_psu_total]
        size = n_domains * n_strata
        sums = np.bincount(keys, weights=totals, minlength=size)
        present = np.bincount(keys, minlength=size)
        n_psu = np.tile(self.n_psu.astype(np.float64), n_domains)
        centre = np.tile(self.centre, n_domains)
        means = np.where(centre, sums / np.maximum(n_psu, 1.0), 0.0)
        # Two passes (deviations from the mean) rather than sum of squares
        # minus squared sum: no cancellation for large totals.  PSUs of the
        # stratum outside the domain have total 0 and deviation -mean.
        deviations = np.bincount(keys, weights=(totals - means[keys]) ** 2, minlength=size)
        squares = deviations + (n_psu - present) * means**2
        result: FloatArray = (
            squares.reshape(n_domains, n_strata) * self.stratum_scale[None, :]
        ).sum(axis=1)
        return result


def _check_weights(weights: npt.ArrayLike, source: RowSource | None = None) -> FloatArray:
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 1:
        raise InputError(
            N_("weights must be one-dimensional"),
            code="estimation.weights_not_one_dimensional",
            column="weights",
        )
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        number, where = _where(source, "weights", row)
        raise InputError(
            N_("weights must be finite and non-negative, got %(value)s")
            if number is None
            else N_("weights must be finite and non-negative, got %(value)s in row %(row)s"),
            code="estimation.invalid_weight",
            parameters={"value": array[row], "row": number},
            **where,
        )
    if array.size and not (array > 0).any():
        raise InputError(
            N_("all weights are zero"), code="estimation.zero_weights", column="weights"
        )
    return array


def _values(
    values: npt.ArrayLike, n_rows: int, name: str, source: RowSource | None = None
) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n_rows,):
        raise InputError(
            N_("%(name)s has shape %(shape)s, expected (%(rows)s,)"),
            code="estimation.wrong_shape",
            parameters={"name": name, "shape": array.shape, "rows": n_rows},
            column=name,
        )
    infinite = np.isinf(array)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        number, where = _where(source, name, row)
        raise InputError(
            N_("infinite value") if number is None else N_("infinite value in row %(row)s"),
            code="estimation.infinite_value",
            parameters={} if number is None else {"row": number},
            **where,
        )
    return array


def _column(values: npt.ArrayLike, n_rows: int, name: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.shape != (n_rows,):
        raise InputError(
            N_("%(name)s has shape %(shape)s, expected (%(rows)s,)"),
            code="estimation.wrong_shape",
            parameters={"name": name, "shape": array.shape, "rows": n_rows},
            column=name,
        )
    if array.dtype.kind == "f" and np.isnan(array).any():
        row = int(np.flatnonzero(np.isnan(array))[0])
        raise InputError(
            N_("missing value in row %(row)s"),
            code="estimation.missing_value",
            parameters={"row": row + 1},
            column=name,
        )
    if array.dtype.kind == "O":
        missing = np.array([item is None for item in array.tolist()])
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise InputError(
                N_("missing value in row %(row)s"),
                code="estimation.missing_value",
                parameters={"row": row + 1},
                column=name,
            )
    return array


def _group_sum(codes: IntArray, n_groups: int, matrix: FloatArray) -> FloatArray:
    """Sum the rows of ``matrix`` by group code (vectorised, sort-based)."""
    result = np.zeros((n_groups, matrix.shape[1]))
    if codes.size == 0:
        return result
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    present, starts = np.unique(sorted_codes, return_index=True)
    result[present] = np.add.reduceat(matrix[order], starts, axis=0)
    return result


def _blocks(n_domains: int, n_rows: int) -> list[tuple[int, int]]:
    width = max(1, _DENSE_BLOCK // max(n_rows, 1))
    return [(start, min(start + width, n_domains)) for start in range(0, n_domains, width)]
