"""Key-driver analysis (关键驱动因素): which aspect moves overall satisfaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class KeyDrivers:
    """Weighted regression of overall satisfaction on item scores.

    Attributes
    ----------
    items
        Item names, in column order.
    coefficient, se, p_value
        Slope of each item (points of overall per point of the item), its
        cluster-robust (design-based, respondents' PSUs) SE and p-value.
    fix_first
        Per unit: the item with the largest expected gain
        ``coefficient × (100 - unit's mean item score)`` among positive
        drivers — the aspect to improve first (整改优先项).
    """

    items: tuple[str, ...]
    coefficient: FloatArray
    se: FloatArray
    p_value: FloatArray
    fix_first: dict[Any, str]


def key_drivers(
    overall: npt.ArrayLike,
    items: Mapping[str, npt.ArrayLike],
    weights: npt.ArrayLike,
    unit: npt.ArrayLike,
    *,
    cluster: npt.ArrayLike | None = None,
) -> KeyDrivers:
    """Key drivers for one unit category (one row per respondent × unit).

    Weighted least squares (statsmodels ``WLS``) of the overall score on the
    item scores; rows with a missing value are excluded (listwise).  The
    standard errors are cluster-robust with the respondents' PSUs as
    clusters (``cov_type="cluster"``), a design-based sandwich variance
    (Binder 1983; Lumley 2010 §5.2).
    """
    import statsmodels.api as sm

    names: Sequence[str] = list(items)
    y = np.asarray(overall, dtype=np.float64)
    x = np.column_stack([np.asarray(items[name], dtype=np.float64) for name in names])
    w = np.asarray(weights, dtype=np.float64)
    units = np.asarray(unit)
    complete = ~np.isnan(y) & ~np.isnan(x).any(axis=1) & (w > 0)
    if complete.sum() <= len(names) + 1:
        raise InputError(
            N_("too few complete rows for the key-driver regression"),
            code="satisfaction.too_few_rows",
        )
    model = sm.WLS(y[complete], sm.add_constant(x[complete]), weights=w[complete])
    if cluster is None:
        fit = model.fit(cov_type="HC1")
    else:
        groups = np.unique(np.asarray(cluster)[complete], return_inverse=True)[1]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    coefficient = np.asarray(fit.params[1:])
    se = np.asarray(fit.bse[1:])
    p_value = np.asarray(fit.pvalues[1:])
    fix_first: dict[Any, str] = {}
    for level in np.unique(units[complete]).tolist():
        rows = complete & (units == level)
        means = np.average(x[rows], axis=0, weights=w[rows])
        gain = np.where(coefficient > 0, coefficient * (100.0 - means), -np.inf)
        fix_first[level] = names[int(np.argmax(gain))]
    return KeyDrivers(tuple(names), coefficient, se, p_value, fix_first)
