"""Allocation (样本分配) of a total sample size over strata (分层).

Methods: proportional, equal, Neyman (optimal for fixed total size, Neyman
1934; Cochran 1977 §5.5, eq. 5.60) and cost-optimal (Cochran 1977 §5.5,
eq. 5.58: ``n_h ∝ N_h S_h / √c_h``).  Box constraints — a minimum per stratum
and the stratum's population as a cap — are met exactly by the "take what the
bound allows and re-allocate the rest" rule, which is the same as
``n_h = clip(λ w_h, min_h, N_h)`` with one ``λ`` chosen so that the sizes add up
(Cochran 1977 §5.9 for the over-allocation case; Lohr 2022 §3.4).  Sizes are
made whole numbers by the largest-remainder method (Hamilton), which keeps the
total exact and never breaks a bound.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import DesignError, InputError

__all__ = [
    "Allocation",
    "AllocationMethod",
    "StratumSpec",
    "allocate",
    "largest_remainder",
]


class AllocationMethod(enum.StrEnum):
    """How the total is shared out over strata."""

    PROPORTIONAL = "proportional"
    """``n_h ∝ N_h`` (比例分配)."""
    EQUAL = "equal"
    """The same ``n_h`` in every stratum (等额分配), e.g. per rated unit."""
    NEYMAN = "neyman"
    """``n_h ∝ N_h S_h`` (Neyman 最优分配); needs ``S_h``."""
    OPTIMAL = "optimal"
    """``n_h ∝ N_h S_h / √c_h`` (费用最优分配); needs ``S_h`` and ``c_h``."""


@dataclass(frozen=True, slots=True)
class StratumSpec:
    """One stratum (层) as the allocation sees it.

    Attributes
    ----------
    name
        The stratum's label.
    population
        Population size ``N_h`` (≥ 0).
    standard_deviation
        Anticipated standard deviation ``S_h`` (Neyman and cost-optimal).
    cost
        Cost of one interview ``c_h`` (> 0; cost-optimal).
    """

    name: str
    population: int
    standard_deviation: float | None = None
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Allocation:
    """Whole-number sample sizes per stratum that add up to ``total``.

    Attributes
    ----------
    strata
        Stratum names, in input order.
    population
        ``N_h`` per stratum.
    sample_size
        ``n_h`` per stratum; ``sum(sample_size) == total``.
    method, total, minimum
        The request, echoed back.
    """

    strata: tuple[str, ...]
    population: tuple[int, ...]
    sample_size: tuple[int, ...]
    method: AllocationMethod
    total: int
    minimum: int

    def as_mapping(self) -> dict[str, int]:
        """Return ``{stratum: n_h}``."""
        return dict(zip(self.strata, self.sample_size, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary (the ``allocate`` command's output)."""
        return {
            "method": self.method.value,
            "total": self.total,
            "minimum": self.minimum,
            "strata": [
                {"stratum": name, "N": population, "n": size}
                for name, population, size in zip(
                    self.strata, self.population, self.sample_size, strict=True
                )
            ],
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def allocate(
    strata: Sequence[StratumSpec],
    total: int,
    method: AllocationMethod | str = AllocationMethod.PROPORTIONAL,
    *,
    minimum: int = 0,
) -> Allocation:
    """Allocate ``total`` units over ``strata``.

    Each stratum gets ``n_h = clip(λ w_h, min(M, N_h), N_h)`` with weights
    ``w_h`` from ``method`` (``N_h``, 1, ``N_h S_h`` or ``N_h S_h / √c_h``) and
    the one ``λ`` for which the sizes add up to ``total``: strata whose share
    exceeds their population are taken whole (census) and strata below the
    minimum get the minimum, and the rest is re-allocated among the others by
    the same rule until nothing changes (Cochran 1977 §5.9).  When every
    stratum with a positive weight is exhausted, the remainder goes to the
    zero-weight strata (e.g. ``S_h = 0``) in proportion to ``N_h``.  Fractions
    are resolved by the largest remainder; ties go to the stratum listed first.

    Parameters
    ----------
    strata
        The strata; names must be distinct.
    total
        Total sample size ``n`` (0 ≤ n ≤ Σ N_h).
    method
        An :class:`AllocationMethod` or its value.
    minimum
        Minimum ``M`` per stratum; a stratum smaller than ``M`` is taken whole.

    Returns
    -------
    Allocation

    Raises
    ------
    DesignError
        ``total`` exceeds the population, or the minimums do not fit in it
        (the first stratum that cannot get its minimum is named).
    InputError
        A stratum lacks ``S_h`` or ``c_h`` the method needs, or a value is out
        of range (the stratum and field are named).
    """
    method = _parse_method(method)
    if isinstance(total, bool) or int(total) != total or total < 0:
        raise InputError(f"must be a whole number ≥ 0, got {total}", column="n")
    if isinstance(minimum, bool) or int(minimum) != minimum or minimum < 0:
        raise InputError(f"must be a whole number ≥ 0, got {minimum}", column="min")
    total = int(total)
    names = tuple(spec.name for spec in strata)
    _check_names(names)
    population = np.array([_population(spec) for spec in strata], dtype=np.int64)
    weights = _weights(strata, method, population)
    available = int(population.sum())
    if total > available:
        raise DesignError(
            f"the sample size {total} exceeds the population of all strata ({available})"
        )
    lower = np.minimum(population, minimum)
    if int(lower.sum()) > total:
        running = np.cumsum(lower)
        short = int(np.flatnonzero(running > total)[0])
        raise DesignError(
            f"the minimum of {minimum} per stratum needs {int(lower.sum())} units but n = "
            f"{total}: stratum {names[short]!r} (and any after it) cannot get its minimum"
        )
    quotas = _constrained_quotas(weights, lower.astype(np.float64), population, total)
    sizes = largest_remainder(quotas, total, upper=population)
    return Allocation(
        strata=names,
        population=tuple(int(v) for v in population),
        sample_size=tuple(int(v) for v in sizes),
        method=method,
        total=total,
        minimum=int(minimum),
    )


def largest_remainder(
    quotas: npt.ArrayLike, total: int, *, upper: npt.ArrayLike | None = None
) -> npt.NDArray[np.int64]:
    """Round non-negative ``quotas`` to whole numbers adding up to ``total``.

    Hamilton's largest-remainder method: every quota is rounded down, then the
    units still missing go one each to the largest fractional parts (ties to
    the lower index).  A quota already at its ``upper`` bound never gets one.

    Parameters
    ----------
    quotas
        Real quotas whose sum is ``total`` (up to floating-point error).
    total
        The whole-number total to reach.
    upper
        Optional upper bounds that the result must respect.

    Returns
    -------
    numpy.ndarray of int64
    """
    values = np.asarray(quotas, dtype=np.float64)
    # Quotas a hair below an integer through floating-point error count as it.
    floors = np.floor(values + 1e-9)
    remainders = values - floors
    sizes = floors.astype(np.int64)
    if upper is not None:
        bound = np.asarray(upper, dtype=np.int64)
        sizes = np.minimum(sizes, bound)
        remainders = np.where(sizes >= bound, -np.inf, remainders)
    missing = total - int(sizes.sum())
    if missing < 0 or missing > int(np.isfinite(remainders).sum()):
        raise DesignError(f"cannot round the quotas to a total of {total}")
    if missing:
        # Stable sort on the negated remainder: ties go to the lower index.
        order = np.argsort(-remainders, kind="stable")[:missing]
        sizes[order] += 1
    return sizes


def _constrained_quotas(
    weights: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.int64],
    total: int,
) -> npt.NDArray[np.float64]:
    upper_float = upper.astype(np.float64)
    positive = weights > 0
    quotas = lower.copy()
    if not positive.any():
        if total > lower.sum():
            return _constrained_quotas(upper_float.copy(), lower, upper, total)
        return quotas
    capacity = float(upper_float[positive].sum() + lower[~positive].sum())
    if capacity <= total:
        # Every stratum with a positive weight is taken whole; the rest goes to
        # the zero-weight strata in proportion to their size.
        quotas[positive] = upper_float[positive]
        rest = ~positive
        if total > capacity:
            sub = _constrained_quotas(
                upper_float[rest], lower[rest], upper[rest], total - int(upper[positive].sum())
            )
            quotas[rest] = sub
        return quotas
    fixed_total = float(lower[~positive].sum())
    target = total - fixed_total
    w = weights[positive]
    lo = lower[positive]
    hi = upper_float[positive]
    # f(λ) = Σ clip(λ w, lo, hi) is continuous and non-decreasing: bisect for
    # the set of strata at their bounds, then solve λ exactly on that set.
    low_lambda, high_lambda = 0.0, float(np.max(hi / w))
    for _ in range(200):
        middle = 0.5 * (low_lambda + high_lambda)
        if float(np.clip(middle * w, lo, hi).sum()) < target:
            low_lambda = middle
        else:
            high_lambda = middle
    lam = 0.5 * (low_lambda + high_lambda)
    at_lower = lam * w <= lo
    at_upper = lam * w >= hi
    free = ~(at_lower | at_upper)
    if free.any():
        lam = (target - lo[at_lower].sum() - hi[at_upper].sum()) / w[free].sum()
    quotas[positive] = np.clip(lam * w, lo, hi)
    return quotas


def _parse_method(method: AllocationMethod | str) -> AllocationMethod:
    try:
        return AllocationMethod(method)
    except ValueError:
        choices = ", ".join(m.value for m in AllocationMethod)
        raise InputError(
            f"unknown method {method!r}; use one of {choices}", column="method"
        ) from None


def _check_names(names: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise InputError(
                f"stratum {name!r} is listed twice (entries {seen[name] + 1} and {index + 1})",
                column="stratum",
            )
        seen[name] = index


def _population(spec: StratumSpec) -> int:
    value = spec.population
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise InputError(
            f"stratum {spec.name!r}: N must be a whole number ≥ 0, got {value}", column="N"
        )
    return int(value)


def _weights(
    strata: Sequence[StratumSpec],
    method: AllocationMethod,
    population: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    if method is AllocationMethod.PROPORTIONAL:
        return population.astype(np.float64)
    if method is AllocationMethod.EQUAL:
        return np.where(population > 0, 1.0, 0.0)
    weights = np.empty(len(strata), dtype=np.float64)
    for index, spec in enumerate(strata):
        deviation = spec.standard_deviation
        if deviation is None or not math.isfinite(deviation) or deviation < 0:
            raise InputError(
                f"stratum {spec.name!r}: {method.value} allocation needs a standard deviation "
                f"S ≥ 0, got {deviation}",
                column="S",
            )
        weight = spec.population * deviation
        if method is AllocationMethod.OPTIMAL:
            cost = spec.cost
            if cost is None or not math.isfinite(cost) or cost <= 0:
                raise InputError(
                    f"stratum {spec.name!r}: optimal allocation needs a cost > 0, got {cost}",
                    column="cost",
                )
            weight /= math.sqrt(cost)
        weights[index] = weight
    return weights


def allocation_from_mapping(sizes: Mapping[str, int]) -> dict[str, int]:
    """Validate an explicit ``{stratum: n_h}`` allocation and return a copy."""
    result: dict[str, int] = {}
    for name, size in sizes.items():
        if isinstance(size, bool) or int(size) != size or size < 0:
            raise InputError(
                f"stratum {name!r}: n must be a whole number ≥ 0, got {size}", column="n"
            )
        result[str(name)] = int(size)
    return result
