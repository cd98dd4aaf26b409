"""Reference values for sampling.smoothing from samplics 0.6.1 (EblupAreaModel).

R's ``sae`` package (eblupFH, mseFH) is the usual reference, but it is not
packaged for Debian and CRAN cannot be reached from the build machines, so the
reference is samplics, whose Fay–Herriot code follows the same formulas
(Rao & Molina 2015 §6.1–6.2): Fisher scoring for REML / ML, MSE
g1 + g2 + 2 g3 (Prasad–Rao / Datta–Lahiri REML) and, for ML, the
Datta–Lahiri bias term.  Fisher scoring is run to a relative step of 1e-15
(samplics' default 1e-4 stops early).

Run (outside the project's virtual environment, samplics is no dependency):

    python -m venv /tmp/peers && /tmp/peers/bin/pip install samplics==0.6.1
    /tmp/peers/bin/python reference_samplics.py   # writes reference_values.json
"""

from __future__ import annotations

import csv
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from samplics.sae import EblupAreaModel
from samplics.utils.types import FitMethod

HERE = Path(__file__).parent
with open(HERE / "units.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
area = np.array([r["unit"] for r in rows])
direct = np.array([float(r["direct"]) for r in rows])
variance = np.array([float(r["variance"]) for r in rows])
columns = {name: np.array([float(r[name]) for r in rows]) for name in ("last_year", "share_young")}


class Model(EblupAreaModel):  # type: ignore[misc]
    """samplics' model with its Fisher-scoring loop fixed for ML.

    In samplics 0.6.1 the ML score is a one-element array, so after the first
    step ``sigma2_v += ...`` updates in place the very array that
    ``sigma2_v_previous`` refers to: the relative change reads 0 and ML stops
    after two iterations, unconverged.  This loop is samplics' own with the
    update made out of place; the score and information are samplics'.
    """

    def _iterative_fisher_scoring(
        self, area, yhat, X, sigma2_e, b_const, sigma2_v_start, tol, maxiter
    ):
        iterations = 0
        tolerance = tol + 1.0
        sigma2_v = float(sigma2_v_start)
        info_sigma = 0.0
        while iterations < maxiter and tolerance > tol:
            previous = sigma2_v
            deriv_sigma, info_sigma = self._partial_derivatives(
                area=area, yhat=yhat, X=X, sigma2_e=sigma2_e, sigma2_v=sigma2_v, b_const=b_const
            )
            sigma2_v = previous + float(np.ravel(deriv_sigma)[0]) / float(info_sigma)
            tolerance = abs((sigma2_v - previous) / previous)
            iterations += 1
        return max(sigma2_v, 0), 1 / info_sigma, iterations, tolerance, tolerance <= tol


cases = {}
for method in ("reml", "ml"):
    for covariates in ((), ("last_year",), ("last_year", "share_young")):
        x = (
            np.column_stack([columns[c] for c in covariates])
            if covariates
            else np.zeros((len(rows), 0))
        )
        model = Model(method=FitMethod.reml if method == "reml" else FitMethod.ml)
        model.fit(
            yhat=direct,
            X=x,
            area=area,
            error_std=np.sqrt(variance),
            re_std_start=float(np.sqrt(np.median(variance))),
            intercept=True,
            tol=1e-15,
            maxiter=1000,
        )
        model.predict(X=x, area=area, intercept=True)
        name = f"{method}_{'_'.join(covariates) or 'intercept'}"
        cases[name] = {
            "method": method,
            "covariates": list(covariates),
            "sigma2_v": float(np.ravel(model.re_std)[0] ** 2),
            "coefficients": [float(b) for b in model.fixed_effects],
            "coefficient_se": [float(s) for s in model.fe_std],
            "iterations": int(model.convergence["iterations"]),
            "eblup": {a: float(np.ravel(model.area_est[a])[0]) for a in area},
            "mse": {a: float(np.ravel(model.area_mse[a])[0]) for a in area},
        }

with open(HERE / "reference_values.json", "w") as handle:
    json.dump(
        {"generator": f"samplics {version('samplics')}", "data": "units.csv", "cases": cases},
        handle,
        indent=1,
    )
    handle.write("\n")
