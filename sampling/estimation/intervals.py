"""Confidence intervals (置信区间) for design-based estimates.

The Student t quantile is computed here in pure Python (Hill 1970
Cornish–Fisher start, Newton steps on the exact t distribution function via
the incomplete beta continued fraction, Press et al. 2007 §6.4), because
importing :mod:`scipy.special` alone costs 0.2 s of ``python -m sampling``
start-up; :mod:`scipy.special` is imported only for the proportion intervals
that need the inverse incomplete beta function.
"""

from __future__ import annotations

import enum
import math

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError

FloatArray = npt.NDArray[np.float64]


class ProportionCiMethod(enum.StrEnum):
    """Confidence interval methods for a proportion (比例).

    ``LOGIT``: Wald interval on the logit scale (R ``svyciprop(method="logit")``).
    ``WILSON``: Wilson score interval with the effective sample size
    ``p(1-p)/var`` (not in R; Kish 1965 effective n, Wilson 1927).
    ``KORN_GRAUBARD``: Clopper–Pearson with the degrees-of-freedom adjusted
    effective sample size (Korn & Graubard 1998; R ``method="beta"``).
    ``WALD``: estimate ± t·se (R ``method="mean"``).
    """

    LOGIT = "logit"
    WILSON = "wilson"
    KORN_GRAUBARD = "korn-graubard"
    WALD = "wald"


class DegreesOfFreedom(enum.StrEnum):
    """Degrees of freedom of the t quantile in a domain proportion's interval.

    ``DESIGN``: the whole design's ``degf`` (#PSUs − #strata), the same for
    every domain, as R ``svyby(..., svyciprop, df = degf(design))`` or
    ``confint(svyby(...), df = degf(design))``.  It treats the domain as part
    of the full design, like the intervals of means and totals here.
    ``DOMAIN``: each domain's own ``degf``, counting only the PSUs and strata
    that have a row in the domain.  This is R's default for ``svyciprop``
    (its argument ``df = degf(design)`` is evaluated on the subset design that
    ``svyby`` or ``subset()`` passes, and ``degf`` of a subset counts only
    rows with a non-zero weight; Lumley 2010 §2.4 and ``?svyciprop``).  It
    gives wider intervals for domains spread over few PSUs.

    The Korn–Graubard interval always uses the domain's ``degf`` in its
    effective-sample-size adjustment, as R ``method = "beta"`` does.
    """

    DESIGN = "design"
    DOMAIN = "domain"


def check_level(level: float) -> None:
    """Reject a confidence level outside (0, 1)."""
    if not (0.0 < level < 1.0) or math.isnan(level):
        raise InputError(
            N_("confidence level must be strictly between 0 and 1, got %(level)s"),
            code="estimation.invalid_level",
            parameters={"level": level},
        )


def t_quantile(level: float, df: float) -> float:
    """Two-sided Student t quantile ``t_{df, (1+level)/2}`` (normal when df is infinite)."""
    check_level(level)
    return student_t_quantile(0.5 + level / 2.0, df)


def normal_quantile(probability: float) -> float:
    """Standard normal quantile (Acklam's rational start, two Newton steps on erfc)."""
    if not 0.0 < probability < 1.0:
        raise InputError(
            N_("probability must be in (0, 1), got %(probability)s"),
            code="estimation.invalid_probability",
            parameters={"probability": probability},
        )
    if probability < 0.5:
        return -normal_quantile(1.0 - probability)
    # Acklam (2003) rational approximation, relative error 1.15e-9.
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    q = 1.0 - probability
    if q > 0.02425:
        r = q - 0.5
        s = r * r
        x = (
            (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5])
            * r
            / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1.0)
        )
    else:
        r = math.sqrt(-2.0 * math.log(q))
        x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / (
            (((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1.0
        )
    # x is the lower-tail quantile of q; refine it, then reflect.
    for _ in range(2):
        error = 0.5 * math.erfc(-x / math.sqrt(2.0)) - q
        x -= error * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return -x


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    # Modified Lentz evaluation (Press et al. 2007 §6.4).
    tiny = 1e-300
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        term = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + term / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        term = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + term / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            return h
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0."""
    return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def student_t_quantile(probability: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (``qt`` in R).

    Agrees with :func:`scipy.special.stdtrit` to about 1e-12 relative (tested).
    """
    if not 0.0 < probability < 1.0:
        raise InputError(
            N_("probability must be in (0, 1), got %(probability)s"),
            code="estimation.invalid_probability",
            parameters={"probability": probability},
        )
    if math.isnan(df) or df <= 0:
        raise InputError(
            N_("degrees of freedom must be positive, got %(df)s"),
            code="estimation.invalid_df",
            parameters={"df": df},
        )
    if math.isinf(df):
        return normal_quantile(probability)
    if probability < 0.5:
        return -student_t_quantile(1.0 - probability, df)
    if df == 1.0:
        return math.tan(math.pi * (probability - 0.5))
    if df == 2.0:
        return (2.0 * probability - 1.0) / math.sqrt(2.0 * probability * (1.0 - probability))
    z = normal_quantile(probability)
    z2 = z * z
    # Cornish-Fisher expansion (Hill 1970), accurate to O(df^-5).
    t = z + z * (z2 + 1.0) / (4.0 * df)
    t += z * ((5.0 * z2 + 16.0) * z2 + 3.0) / (96.0 * df**2)
    t += z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / (384.0 * df**3)
    t += z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / (92160.0 * df**4)
    if df > 1e5:
        return t
    log_density_constant = (
        math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    )
    target = 1.0 - probability
    # Safeguarded Newton: keep a bracket [low, high] and bisect when a step leaves it.
    low, high = 0.0, max(t, 1.0)
    while _t_upper_tail(high, df) > target:
        low, high = high, 2.0 * high
    t = min(max(t, low), high)
    for _ in range(200):
        tail = _t_upper_tail(t, df)
        if tail > target:
            low = t
        else:
            high = t
        density = math.exp(log_density_constant - (df + 1.0) / 2.0 * math.log1p(t * t / df))
        candidate = t + (tail - target) / density if density > 0 else math.inf
        if not low < candidate < high:
            candidate = 0.5 * (low + high)
        if abs(candidate - t) <= 1e-15 * max(abs(t), 1.0):
            return candidate
        t = candidate
    return t


def wald_interval(
    estimate: FloatArray, se: FloatArray, level: float, df: float
) -> tuple[FloatArray, FloatArray]:
    """``estimate ± t_{df} · se`` (R ``confint(stat, df = degf(design))``)."""
    quantile = t_quantile(level, df)
    return estimate - quantile * se, estimate + quantile * se


def proportion_interval(
    proportion: FloatArray,
    se: FloatArray,
    n: npt.NDArray[np.int64],
    level: float,
    df: float | FloatArray,
    method: ProportionCiMethod,
    *,
    domain_df: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Confidence interval for proportions estimated from a complex sample.

    The logit interval is ``expit(logit(p̂) ± t_{df} · se / (p̂(1 − p̂)))``
    (R ``svyciprop(method = "logit")``, which fits ``svyglm(y ~ 1,
    family = quasibinomial)`` and takes a Wald interval on the link scale);
    the Wald and Wilson intervals use the same ``t_{df}``.

    Parameters
    ----------
    proportion, se
        Design-based estimates and standard errors.
    n
        Number of rows behind each estimate (used by Korn–Graubard's
        degrees-of-freedom adjustment, as R does with ``nrow(design)``).
    level
        Confidence level.
    df
        Degrees of freedom of the t quantile for the logit, Wald and Wilson
        intervals: one number for every estimate (the design's ``degf``) or
        one per estimate (each domain's ``degf``, R's ``svyciprop``
        default); see :class:`DegreesOfFreedom`.  Infinite: normal quantile.
    domain_df
        Degrees of freedom of each domain as its own design, for the
        Korn–Graubard adjustment (R uses ``degf`` of the subset design there);
        ``df`` when not given.
    method
        See :class:`ProportionCiMethod`.

    Notes
    -----
    Where the estimate is 0 or 1 the design variance is 0 and the effective
    sample size undefined; there the effective sample size is taken as ``n``
    and the logit interval (undefined on the boundary) is replaced by the
    Korn–Graubard interval.  References: Korn & Graubard (1998), *Confidence
    intervals for proportions with small expected number of positive counts
    estimated from survey data*, Survey Methodology 24; Lumley (2010) §2.4.
    """
    method = ProportionCiMethod(method)
    p = np.asarray(proportion, dtype=np.float64)
    variance = np.asarray(se, dtype=np.float64) ** 2
    boundary = (p <= 0.0) | (p >= 1.0) | (variance <= 0.0)
    from scipy import special

    with np.errstate(divide="ignore", invalid="ignore"):
        n_effective = np.where(boundary, n.astype(np.float64), p * (1.0 - p) / variance)
    quantile = (
        _quantiles(level, df, p.shape)
        if isinstance(df, np.ndarray)
        else np.full(p.shape, t_quantile(level, float(df)))
    )
    if method is ProportionCiMethod.WALD:
        half = quantile * np.sqrt(variance)
        return p - half, p + half
    if method is ProportionCiMethod.WILSON:
        z2 = quantile * quantile
        denominator = 1.0 + z2 / n_effective
        centre = (p + z2 / (2.0 * n_effective)) / denominator
        half = (quantile / denominator) * np.sqrt(
            p * (1.0 - p) / n_effective + z2 / (4.0 * n_effective**2)
        )
        return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    alpha = 1.0 - level
    kg_df = (
        np.broadcast_to(np.asarray(df, dtype=np.float64), p.shape)
        if domain_df is None
        else np.asarray(domain_df, dtype=np.float64)
    )
    if method is ProportionCiMethod.LOGIT:
        with np.errstate(divide="ignore", invalid="ignore"):
            logit = np.log(p / (1.0 - p))
            se_logit = np.sqrt(variance) / (p * (1.0 - p))
            low = special.expit(logit - quantile * se_logit)
            high = special.expit(logit + quantile * se_logit)
        if not boundary.any():
            return low, high
        kg_low, kg_high = _korn_graubard(p, n_effective, n, alpha, kg_df)
        return np.where(boundary, kg_low, low), np.where(boundary, kg_high, high)
    return _korn_graubard(p, n_effective, n, alpha, kg_df)


def _quantiles(level: float, df: float | FloatArray, shape: tuple[int, ...]) -> FloatArray:
    """``t_{df, (1+level)/2}`` per estimate (computed once per distinct ``df``)."""
    dfs = np.broadcast_to(np.asarray(df, dtype=np.float64), shape)
    result = np.empty(shape, dtype=np.float64)
    for value in np.unique(dfs):
        if value > 0:
            result[dfs == value] = t_quantile(level, float(value))
        else:
            # A domain within a single PSU of each of its strata has no degrees
            # of freedom (R: qt(·, 0) is NaN): no interval.
            check_level(level)
            result[dfs == value] = np.nan
    return result


def _korn_graubard(
    p: FloatArray,
    n_effective: FloatArray,
    n: npt.NDArray[np.int64],
    alpha: float,
    df: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    from scipy import special

    # R svyciprop(method = "beta"): n_eff * (qt(a/2, n - 1) / qt(a/2, df))^2
    n_minus_one = np.maximum(n.astype(np.float64) - 1.0, 1.0)
    t_n = special.stdtrit(n_minus_one, alpha / 2.0)
    t_df = np.where(
        np.isinf(df), special.ndtri(alpha / 2.0), special.stdtrit(np.maximum(df, 1.0), alpha / 2.0)
    )
    adjusted = n_effective * (t_n / t_df) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        low = special.betaincinv(adjusted * p, adjusted * (1.0 - p) + 1.0, alpha / 2.0)
        high = special.betaincinv(adjusted * p + 1.0, adjusted * (1.0 - p), 1.0 - alpha / 2.0)
    low = np.where(p <= 0.0, 0.0, low)
    high = np.where(p >= 1.0, 1.0, high)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
