"""Post-stratification and raking (事后分层与迭代比例拟合)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, ConvergenceError, DesignError, InputError
from sampling.weighting.adjust import _weights

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PostStratifyResult:
    """Post-stratified weights.

    Attributes
    ----------
    weights
        New weights: within each cell they sum to the population count.
    cells
        Cell labels (sorted) and ``cell_codes`` the cell of every row.
    factors
        Population count / weighted sample count of every cell.
    """

    weights: FloatArray
    cells: npt.NDArray[Any]
    cell_codes: IntArray
    factors: FloatArray


def _encode_against(
    labels: npt.ArrayLike, totals: Mapping[Any, float], variable: str
) -> tuple[IntArray, npt.NDArray[Any], FloatArray]:
    """Codes of the rows against the levels of ``totals``, with checks."""
    row_labels = np.asarray(labels)
    keys = list(totals)
    if not keys:
        raise InputError(
            N_("no population totals given for %(variable)s"),
            code="weighting.no_totals",
            parameters={"variable": variable},
        )
    # Compare as strings so that 1 and "1" (CSV text vs numbers) match.
    key_text = np.array([str(key) for key in keys])
    if len(set(key_text.tolist())) != len(keys):
        raise InputError(
            N_("duplicate levels in the totals of %(variable)s"),
            code="weighting.duplicate_levels",
            parameters={"variable": variable},
        )
    order = np.argsort(key_text)
    sorted_text = key_text[order]
    values = np.array([float(totals[key]) for key in keys])[order]
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        level = sorted_text[int(np.flatnonzero(bad)[0])]
        raise InputError(
            N_("population total of %(variable)s=%(level)s must be a non-negative number"),
            code="weighting.invalid_total",
            parameters={"variable": variable, "level": level},
        )
    unique_rows, inverse = np.unique(row_labels.astype(str), return_inverse=True)
    position = np.searchsorted(sorted_text, unique_rows)
    position = np.minimum(position, len(sorted_text) - 1)
    unknown = sorted_text[position] != unique_rows
    if unknown.any():
        raise InputError(
            N_(
                "%(variable)s=%(level)s occurs in the data but has no population total "
                "(levels with totals: %(levels)s)"
            ),
            code="weighting.level_without_total",
            parameters={
                "variable": variable,
                "level": unique_rows[unknown][0],
                "levels": ", ".join(sorted_text.tolist()),
            },
        )
    codes = position[inverse].astype(np.int64)
    return codes, sorted_text, values


def poststratify(
    weights: npt.ArrayLike,
    cells: npt.ArrayLike,
    population_totals: Mapping[Any, float],
    *,
    variable: str = "cell",
) -> PostStratifyResult:
    """Scale the weights so each post-stratum sums to its population count.

    ``w_i · N_c / Σ_{j∈c} w_j`` (Holt & Smith 1979; Lohr 2022 §4.4; R
    ``postStratify``).

    Raises
    ------
    InputError
        If a cell in the data has no population total.
    DesignError
        If a cell with a positive population count has no sample weight, or a
        sampled cell has a zero population count.
    """
    base = _weights(weights)
    codes, levels, totals = _encode_against(cells, population_totals, variable)
    if codes.shape != base.shape:
        raise InputError(
            N_("`cells` needs one value per row"), code="weighting.cells_length", column=variable
        )
    sample = np.bincount(codes, weights=base, minlength=len(levels))
    missing = (sample <= 0) & (totals > 0)
    if missing.any():
        raise DesignError(
            N_(
                "post-stratum %(variable)s=%(level)s has population count %(total)g but no "
                "sampled weight; collapse cells"
            ),
            code="weighting.empty_post_stratum",
            parameters={
                "variable": variable,
                "level": levels[missing][0],
                "total": totals[missing][0],
            },
        )
    impossible = (sample > 0) & (totals <= 0)
    if impossible.any():
        raise DesignError(
            N_(
                "post-stratum %(variable)s=%(level)s is in the sample but has a zero "
                "population count"
            ),
            code="weighting.post_stratum_without_population",
            parameters={"variable": variable, "level": levels[impossible][0]},
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(sample > 0, totals / sample, 0.0)
    return PostStratifyResult(
        weights=base * factors[codes], cells=levels, cell_codes=codes, factors=factors
    )


@dataclass(frozen=True)
class Margin:
    """One raking margin: the row labels of a variable and its population totals."""

    variable: str
    labels: npt.ArrayLike
    totals: Mapping[Any, float]


@dataclass(frozen=True)
class RakeResult:
    """Raked weights.

    Attributes
    ----------
    weights
        Weights whose sums reproduce every margin.
    iterations
        Full cycles over the margins that were needed.
    max_relative_error
        Largest ``|weighted count - total| / total`` over all margin levels
        at the end.
    margin_codes, margin_levels
        Per margin, the level code of every row and the (sorted) levels.
    """

    weights: FloatArray
    iterations: int
    max_relative_error: float
    margin_codes: tuple[IntArray, ...]
    margin_levels: tuple[npt.NDArray[Any], ...]


def rake(
    weights: npt.ArrayLike,
    margins: Sequence[Margin],
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-10,
) -> RakeResult:
    """Rake weights to several margins by iterative proportional fitting.

    Each cycle post-stratifies to every margin in turn (Deming & Stephan
    1940; Kalton & Flores-Cervantes 2003 §2.4; R ``rake``).  It stops when
    every margin level is within ``tolerance`` (relative) of its total.

    Raises
    ------
    DesignError
        If the margins' grand totals disagree (relative difference above
        1e-6), or a level with a positive total has no sampled weight.
    ConvergenceError
        If the margins are not met within ``max_iterations`` cycles (e.g.
        margins inconsistent with empty cells of the sample's cross table).
    """
    base = _weights(weights)
    if not margins:
        raise InputError(N_("raking needs at least one margin"), code="weighting.no_margin")
    if max_iterations < 1:
        raise InputError(
            N_("max_iterations must be at least 1"), code="weighting.invalid_iterations"
        )
    if not tolerance > 0:
        raise InputError(N_("tolerance must be positive"), code="weighting.invalid_tolerance")
    encoded = []
    for margin in margins:
        codes, levels, totals = _encode_against(margin.labels, margin.totals, margin.variable)
        if codes.shape != base.shape:
            raise InputError(
                N_("margin labels need one value per row"),
                code="weighting.margin_length",
                column=margin.variable,
            )
        sample = np.bincount(codes, weights=base, minlength=len(levels))
        unreachable = (sample <= 0) & (totals > 0)
        if unreachable.any():
            raise DesignError(
                N_("margin %(variable)s=%(level)s has total %(total)g but no sampled weight"),
                code="weighting.unreachable_margin",
                parameters={
                    "variable": margin.variable,
                    "level": levels[unreachable][0],
                    "total": totals[unreachable][0],
                },
            )
        impossible = (sample > 0) & (totals <= 0)
        if impossible.any():
            raise DesignError(
                N_(
                    "margin %(variable)s=%(level)s is in the sample but has a zero population total"
                ),
                code="weighting.margin_without_population",
                parameters={"variable": margin.variable, "level": levels[impossible][0]},
            )
        encoded.append((margin.variable, codes, levels, totals))
    grand = [float(totals.sum()) for _, _, _, totals in encoded]
    if max(grand) - min(grand) > 1e-6 * max(grand):
        listing = ", ".join(
            f"{name}: {total:g}" for (name, _, _, _), total in zip(encoded, grand, strict=True)
        )
        raise DesignError(
            N_("raking margins disagree on the population total (%(totals)s)"),
            code="weighting.margins_disagree",
            parameters={"totals": listing},
        )

    current = base.copy()
    error = np.inf
    for iteration in range(1, max_iterations + 1):
        for _, codes, levels, totals in encoded:
            sums = np.bincount(codes, weights=current, minlength=len(levels))
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(sums > 0, totals / sums, 0.0)
            current = current * factor[codes]
        error = _max_relative_error(current, encoded)
        if error < tolerance:
            return RakeResult(
                weights=current,
                iterations=iteration,
                max_relative_error=error,
                margin_codes=tuple(codes for _, codes, _, _ in encoded),
                margin_levels=tuple(levels for _, _, levels, _ in encoded),
            )
    raise ConvergenceError(
        N_(
            "raking did not converge in %(iterations)s iterations: largest relative margin "
            "error %(error).3g (tolerance %(tolerance)g); the margins may be inconsistent with "
            "empty cells of the sample"
        ),
        code="weighting.raking_diverged",
        parameters={"iterations": max_iterations, "error": error, "tolerance": tolerance},
    )


def _max_relative_error(
    current: FloatArray, encoded: Sequence[tuple[str, IntArray, npt.NDArray[Any], FloatArray]]
) -> float:
    worst = 0.0
    for _, codes, levels, totals in encoded:
        sums = np.bincount(codes, weights=current, minlength=len(levels))
        scale = np.where(totals > 0, totals, 1.0)
        worst = max(worst, float(np.max(np.abs(sums - totals) / scale)))
    return worst
