"""Fay–Herriot area-level model and its EBLUP (小域估计: 区域层次模型).

A rated unit's direct score (its design-based estimate from its own
respondents) is noisy when the unit has few respondents.  The Fay–Herriot
model borrows strength across units:

.. math::

    \\hat\\theta_i = \\theta_i + e_i,\\quad e_i \\sim N(0, \\psi_i)\\ \\text{(known)},
    \\qquad \\theta_i = x_i^\\top \\beta + v_i,\\quad v_i \\sim N(0, \\sigma_v^2)

(Fay & Herriot 1979).  ``ψ_i`` is the direct estimate's sampling variance
(its squared standard error) and ``x_i`` holds an intercept and optional
area-level covariates, such as the unit's score last year.  The empirical
best linear unbiased predictor (EBLUP) shrinks each direct estimate towards
the regression prediction, the more the noisier it is:

.. math::

    \\tilde\\theta_i = \\gamma_i \\hat\\theta_i + (1 - \\gamma_i) x_i^\\top \\hat\\beta,
    \\qquad \\gamma_i = \\hat\\sigma_v^2 / (\\hat\\sigma_v^2 + \\psi_i),

with ``β̂`` the weighted least squares estimate for the estimated ``σ̂²_v``.
``σ²_v`` is estimated by restricted (REML) or full (ML) maximum likelihood
with Fisher scoring, started at the median of ``ψ_i`` and truncated at 0
(Rao & Molina 2015 §6.1), as R ``sae::eblupFH`` does.

The mean squared error of the EBLUP is estimated to second order
(``O(m^{-1})`` bias, ``m`` areas):

* REML: ``g1 + g2 + 2 g3`` (Prasad & Rao 1990; Datta & Lahiri 2000 showed
  that the Prasad–Rao form holds for REML with ``V(σ̂²_v) = 2 / Σ (σ²_v + ψ_j)^{-2}``),
* ML: ``g1 + g2 + 2 g3 − b (1 − γ_i)²`` (Datta & Lahiri 2000): ML's
  ``σ̂²_v`` has an ``O(m^{-1})`` bias ``b``, which the last term corrects,

with ``g1 = γ_i ψ_i``, ``g2 = (1 − γ_i)² x_i^T (X^T V^{-1} X)^{-1} x_i``,
``g3 = (1 − γ_i)² V(σ̂²_v) / (σ²_v + ψ_i)`` and, for ML,
``b = −tr((X^T V^{-1} X)^{-1} X^T V^{-2} X) / Σ (σ²_v + ψ_j)^{-2}`` (the formulas of
R ``sae::mseFH``; Rao & Molina 2015 §6.2.1).

References
----------
Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small places:
an application of James–Stein procedures to census data. *Journal of the
American Statistical Association* 74, 269–277.

Prasad, N. G. N. and Rao, J. N. K. (1990). The estimation of the mean squared
error of small-area estimators. *Journal of the American Statistical
Association* 85, 163–171.

Datta, G. S. and Lahiri, P. (2000). A unified measure of uncertainty of
estimated best linear unbiased predictors in small area estimation problems.
*Statistica Sinica* 10, 613–627.

Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd ed. Wiley.

Molina, I. and Marhuenda, Y. (2015). sae: An R package for small area
estimation. *The R Journal* 7(1), 81–98.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, ConvergenceError, InputError

__all__ = [
    "FayHerriotFit",
    "FayHerriotMethod",
    "MseMethod",
    "fay_herriot",
]

FloatArray = npt.NDArray[np.float64]

INTERCEPT = "(intercept)"
"""Name of the intercept among the coefficients."""


class FayHerriotMethod(enum.StrEnum):
    """How the model variance ``σ²_v`` is estimated."""

    REML = "reml"
    """Restricted (residual) maximum likelihood: unbiased to first order for
    few areas; R ``eblupFH(method = "REML")``, the default there and here."""
    ML = "ml"
    """Full maximum likelihood; R ``eblupFH(method = "ML")``."""


class MseMethod(enum.StrEnum):
    """Which second-order MSE estimator is reported."""

    PRASAD_RAO = "prasad-rao"
    """``g1 + g2 + 2 g3`` (Prasad & Rao 1990), with REML's variance of ``σ̂²_v``
    (Datta & Lahiri 2000); used with :attr:`FayHerriotMethod.REML`."""
    DATTA_LAHIRI = "datta-lahiri"
    """``g1 + g2 + 2 g3 − b (1 − γ)²`` with the bias ``b`` of the ML estimate of
    ``σ²_v`` (Datta & Lahiri 2000); used with :attr:`FayHerriotMethod.ML`."""


@dataclass(frozen=True)
class FayHerriotFit:
    """A fitted Fay–Herriot model and the EBLUP of every area.

    Arrays have one entry per area, in input order.

    Attributes
    ----------
    areas
        Area labels.
    direct, direct_variance
        The inputs ``θ̂_i`` and ``ψ_i``.
    eblup
        ``θ̃_i = γ_i θ̂_i + (1 − γ_i) x_i^T β̂``.
    mse
        Estimated mean squared error of ``θ̃_i`` (see :class:`MseMethod`).
    gamma
        Shrinkage factor ``γ_i = σ̂²_v / (σ̂²_v + ψ_i)``: the weight of the
        direct estimate.
    synthetic
        The regression prediction ``x_i^T β̂``.
    g1, g2, g3
        The components of the MSE (``mse = g1 + g2 + 2 g3`` minus the ML bias
        term).
    sigma2_v
        Estimated model (between-area) variance ``σ̂²_v``, truncated at 0.
    sigma2_v_variance
        Asymptotic variance of ``σ̂²_v``: ``2 / Σ (σ̂²_v + ψ_i)^{-2}``.
    coefficient_names, coefficients, coefficient_se
        ``β̂`` (intercept first) and its standard errors
        ``sqrt(diag((X^T V^{-1} X)^{-1}))``.
    method, mse_method
        How ``σ²_v`` and the MSE were estimated.
    iterations
        Fisher-scoring iterations.
    log_likelihood
        The (full, Gaussian) log-likelihood at the estimates, as R ``sae``
        reports it for both methods.
    """

    areas: tuple[Any, ...]
    direct: FloatArray
    direct_variance: FloatArray
    eblup: FloatArray
    mse: FloatArray
    gamma: FloatArray
    synthetic: FloatArray
    g1: FloatArray
    g2: FloatArray
    g3: FloatArray
    sigma2_v: float
    sigma2_v_variance: float
    coefficient_names: tuple[str, ...]
    coefficients: FloatArray
    coefficient_se: FloatArray
    method: FayHerriotMethod
    mse_method: MseMethod
    iterations: int
    log_likelihood: float

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per area: ``area, direct, direct_variance, eblup, mse, gamma``."""
        return [
            {
                "area": _plain(area),
                "direct": float(self.direct[i]),
                "direct_variance": float(self.direct_variance[i]),
                "eblup": float(self.eblup[i]),
                "mse": float(self.mse[i]),
                "gamma": float(self.gamma[i]),
            }
            for i, area in enumerate(self.areas)
        ]

    def model(self) -> dict[str, Any]:
        """The model's estimates as a JSON-ready dictionary."""
        return {
            "method": self.method.value,
            "mse_method": self.mse_method.value,
            "sigma2_v": self.sigma2_v,
            "sigma2_v_variance": self.sigma2_v_variance,
            "coefficients": {
                name: float(value)
                for name, value in zip(self.coefficient_names, self.coefficients, strict=True)
            },
            "coefficient_se": {
                name: float(value)
                for name, value in zip(self.coefficient_names, self.coefficient_se, strict=True)
            },
            "iterations": self.iterations,
            "log_likelihood": self.log_likelihood,
            "areas": len(self.areas),
        }


def fay_herriot(
    direct: npt.ArrayLike,
    variance: npt.ArrayLike,
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    *,
    areas: Sequence[Any] | None = None,
    method: FayHerriotMethod | str = FayHerriotMethod.REML,
    max_iterations: int = 500,
    tolerance: float = 1e-12,
) -> FayHerriotFit:
    """Fit the Fay–Herriot model and return the EBLUP and its MSE per area.

    Parameters
    ----------
    direct
        Direct estimates ``θ̂_i`` (e.g. each unit's satisfaction index).
    variance
        Their sampling variances ``ψ_i`` (squared standard errors), > 0,
        treated as known.
    covariates
        Area-level auxiliary variables by name (e.g. last year's score); an
        intercept is always included.  ``None`` or empty: intercept only
        (shrinkage towards a precision-weighted common mean).
    areas
        Area labels (default ``0 .. m-1``); must be distinct.
    method
        REML (default) or ML, see :class:`FayHerriotMethod`.  The MSE is
        Prasad–Rao for REML and Datta–Lahiri for ML (:class:`MseMethod`).
    max_iterations
        Most Fisher-scoring iterations.
    tolerance
        Stop when a step changes ``σ²_v`` by at most ``tolerance × (σ²_v +
        median ψ)``.

    Returns
    -------
    FayHerriotFit

    Raises
    ------
    InputError
        A value is missing, infinite or out of range (a variance ≤ 0), the
        lengths differ, labels repeat, or there are not more areas than
        coefficients, or the covariates are collinear (the field is named).
    ConvergenceError
        Fisher scoring did not converge within ``max_iterations``.

    Notes
    -----
    Fisher scoring for ``A = σ²_v`` with ``V = diag(A + ψ)``,
    ``P = V^{-1} − V^{-1} X (X^T V^{-1} X)^{-1} X^T V^{-1}`` (Rao & Molina 2015
    §6.1.2; R ``sae::eblupFH``):

    * REML: ``A ← A + [y^T P P y − tr P] / tr(P P)``,
    * ML: ``A ← A + [Σ r_i² / (A + ψ_i)² − Σ 1/(A + ψ_i)] / Σ 1/(A + ψ_i)²``
      with ``r = y − X β̂(A)``.

    A step below zero is cut at zero; if the score at zero points down, the
    estimate is zero (all areas shrunk fully to the regression).  Iteration
    continues to ``tolerance`` (R ``sae`` stops at a relative step of 1e-4,
    so its ``σ̂²_v`` may differ from the converged value in the fifth digit).
    """
    fit_method = _parse_method(method)
    y = _vector(direct, "direct")
    m = y.shape[0]
    psi = _vector(variance, "variance", length=m)
    if (psi <= 0).any():
        row = int(np.flatnonzero(psi <= 0)[0])
        raise InputError(
            N_("sampling variance must be positive, got %(value)g for area %(area)s"),
            code="fay_herriot.invalid_variance",
            parameters={"value": psi[row], "area": row + 1},
            column="variance",
        )
    names = [INTERCEPT]
    columns = [np.ones(m)]
    for name, values in (covariates or {}).items():
        if name == INTERCEPT or name in names:
            raise InputError(
                N_("covariate %(name)r is given twice"),
                code="fay_herriot.duplicate_covariate",
                parameters={"name": name},
                column=name,
            )
        names.append(name)
        columns.append(_vector(values, name, length=m))
    x = np.column_stack(columns)
    p = x.shape[1]
    labels = tuple(range(m)) if areas is None else tuple(areas)
    if len(labels) != m:
        raise InputError(
            N_("%(labels)s area labels for %(areas)s areas"),
            code="fay_herriot.labels_length",
            parameters={"labels": len(labels), "areas": m},
            column="area",
        )
    _check_distinct(labels)
    if m <= p:
        raise InputError(
            N_(
                "the model has %(coefficients)s coefficients and needs more areas than that, "
                "got %(areas)s"
            ),
            code="fay_herriot.too_few_areas",
            parameters={"coefficients": p, "areas": m},
            column="area",
        )
    if np.linalg.matrix_rank(x) < p:
        raise InputError(
            N_(
                "the covariates are collinear (with each other or with the intercept): "
                "%(covariates)s"
            ),
            code="fay_herriot.collinear",
            parameters={"covariates": ", ".join(names[1:])},
            column=names[-1],
        )
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise InputError(
            N_("must be a whole number ≥ 1, got %(value)s"),
            code="fay_herriot.invalid_max_iterations",
            parameters={"value": max_iterations},
            column="max-iter",
        )
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise InputError(
            N_("must be a positive number, got %(value)s"),
            code="fay_herriot.invalid_tolerance",
            parameters={"value": tolerance},
            column="tol",
        )

    sigma2, iterations = _fit_variance(y, psi, x, fit_method, max_iterations, tolerance)
    inverse = 1.0 / (sigma2 + psi)
    q = _inverse_information(x, inverse)
    beta = q @ (x.T @ (inverse * y))
    synthetic = x @ beta
    residual = y - synthetic
    gamma = sigma2 * inverse
    eblup = synthetic + gamma * residual
    # MSE (Prasad & Rao 1990; Datta & Lahiri 2000; R sae::mseFH).
    sum_inverse_squared = float(np.sum(inverse**2))
    variance_sigma2 = 2.0 / sum_inverse_squared
    shrink = psi * inverse  # 1 − γ_i, computed without cancellation
    g1 = psi * gamma
    g2 = shrink**2 * np.einsum("ij,jk,ik->i", x, q, x)
    g3 = shrink**2 * variance_sigma2 * inverse
    mse = g1 + g2 + 2.0 * g3
    if fit_method is FayHerriotMethod.ML:
        mse_method = MseMethod.DATTA_LAHIRI
        bias = -float(np.trace(q @ (x.T @ ((inverse**2)[:, None] * x)))) / sum_inverse_squared
        mse = mse - bias * shrink**2
    else:
        mse_method = MseMethod.PRASAD_RAO
    log_likelihood = -0.5 * float(
        np.sum(np.log(2.0 * math.pi * (sigma2 + psi)) + residual**2 * inverse)
    )
    return FayHerriotFit(
        areas=labels,
        direct=y,
        direct_variance=psi,
        eblup=eblup,
        mse=mse,
        gamma=gamma,
        synthetic=synthetic,
        g1=g1,
        g2=g2,
        g3=g3,
        sigma2_v=sigma2,
        sigma2_v_variance=variance_sigma2,
        coefficient_names=tuple(names),
        coefficients=beta,
        coefficient_se=np.sqrt(np.diag(q)),
        method=fit_method,
        mse_method=mse_method,
        iterations=iterations,
        log_likelihood=log_likelihood,
    )


def _fit_variance(
    y: FloatArray,
    psi: FloatArray,
    x: FloatArray,
    method: FayHerriotMethod,
    max_iterations: int,
    tolerance: float,
) -> tuple[float, int]:
    """Fisher scoring for ``σ²_v`` (REML or ML), truncated at zero."""
    scale = float(np.median(psi))
    sigma2 = scale
    for iteration in range(1, max_iterations + 1):
        score, information = _score(y, psi, x, sigma2, method)
        step = score / information
        new = sigma2 + step
        if new <= 0.0:
            if sigma2 == 0.0:
                return 0.0, iteration  # the likelihood decreases from zero on
            new = 0.0
        if abs(new - sigma2) <= tolerance * (new + scale):
            return new, iteration
        sigma2 = new
    raise ConvergenceError(
        N_(
            "Fay–Herriot %(method)s did not converge in %(iterations)s "
            "Fisher-scoring iterations (σ²_v = %(sigma2)g)"
        ),
        code="fay_herriot.not_converged",
        parameters={
            "method": method.value.upper(),
            "iterations": max_iterations,
            "sigma2": sigma2,
        },
    )


def _score(
    y: FloatArray, psi: FloatArray, x: FloatArray, sigma2: float, method: FayHerriotMethod
) -> tuple[float, float]:
    """Score and expected information of the (restricted) log-likelihood in ``σ²_v``."""
    inverse = 1.0 / (sigma2 + psi)
    q = _inverse_information(x, inverse)
    beta = q @ (x.T @ (inverse * y))
    residual = y - x @ beta
    if method is FayHerriotMethod.ML:
        score = 0.5 * float(np.sum(inverse**2 * residual**2) - np.sum(inverse))
        information = 0.5 * float(np.sum(inverse**2))
        return score, information
    # REML without forming the m × m matrix P: P y = V^{-1} r,
    # tr P = Σ v_i − tr(Q X^T V^{-2} X),
    # tr P² = Σ v_i² − 2 tr(Q X^T V^{-3} X) + tr((Q X^T V^{-2} X)²).
    p_y = inverse * residual
    m2 = q @ (x.T @ ((inverse**2)[:, None] * x))
    m3 = q @ (x.T @ ((inverse**3)[:, None] * x))
    trace_p = float(np.sum(inverse) - np.trace(m2))
    trace_pp = float(np.sum(inverse**2) - 2.0 * np.trace(m3) + np.sum(m2 * m2.T))
    score = 0.5 * (float(p_y @ p_y) - trace_p)
    return score, 0.5 * trace_pp


def _inverse_information(x: FloatArray, inverse: FloatArray) -> FloatArray:
    """``(X^T V^{-1} X)^{-1}``."""
    matrix = x.T @ (inverse[:, None] * x)
    result: FloatArray = np.asarray(np.linalg.inv(matrix), dtype=np.float64)
    return result


def _parse_method(method: FayHerriotMethod | str) -> FayHerriotMethod:
    try:
        return FayHerriotMethod(str(method).lower())
    except ValueError:
        choices = ", ".join(m.value for m in FayHerriotMethod)
        raise InputError(
            N_("unknown method %(method)r; use one of %(choices)s"),
            code="fay_herriot.unknown_method",
            parameters={"method": method, "choices": choices},
            column="method",
        ) from None


def _vector(values: npt.ArrayLike, name: str, *, length: int | None = None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise InputError(
            N_("%(name)s must be one-dimensional"),
            code="fay_herriot.not_one_dimensional",
            parameters={"name": name},
            column=name,
        )
    if length is not None and array.shape[0] != length:
        raise InputError(
            N_("%(name)s has %(values)s values for %(areas)s areas"),
            code="fay_herriot.wrong_length",
            parameters={"name": name, "values": array.shape[0], "areas": length},
            column=name,
        )
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            N_("missing or infinite value for area %(area)s"),
            code="fay_herriot.invalid_value",
            parameters={"area": row + 1},
            column=name,
        )
    return array


def _check_distinct(labels: tuple[Any, ...]) -> None:
    seen: dict[Any, int] = {}
    for index, label in enumerate(labels):
        if label in seen:
            raise InputError(
                N_("area %(area)r is listed twice (areas %(first)s and %(second)s)"),
                code="fay_herriot.duplicate_area",
                parameters={"area": label, "first": seen[label] + 1, "second": index + 1},
                column="area",
            )
        seen[label] = index


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
