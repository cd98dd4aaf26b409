"""Allocation (样本分配) of a total sample size over strata (分层).

Methods: proportional, equal, Neyman (optimal for fixed total size, Neyman
1934; Cochran 1977 §5.5, eq. 5.60) and cost-optimal (Cochran 1977 §5.5,
eq. 5.58: ``n_h ∝ N_h S_h / √c_h``).  Box constraints — a minimum per stratum
and the stratum's population as a cap — are met exactly by the "take what the
bound allows and re-allocate the rest" rule, which is the same as
``n_h = clip(λ w_h, min_h, N_h)`` with one ``λ`` chosen so that the sizes add up
(Cochran 1977 §5.9 for the over-allocation case; Lohr 2022 §3.4).  Sizes are
made whole numbers by the largest-remainder method (Hamilton), which keeps the
total exact and never breaks a bound.  Quotas and remainders are computed in
exact rational arithmetic (:class:`fractions.Fraction`), so strata whose
remainders are equal tie exactly and the tie goes to the stratum listed first,
whatever the magnitudes of the quotas.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
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
    quotas = _constrained_quotas(
        weights, [int(v) for v in lower], [int(v) for v in population], total
    )
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
    quotas: Sequence[Fraction | int] | npt.ArrayLike,
    total: int,
    *,
    upper: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int64]:
    """Round non-negative ``quotas`` to whole numbers adding up to ``total``.

    Hamilton's largest-remainder method: every quota is rounded down, then the
    units still missing go one each to the largest fractional parts (ties to
    the lower index).  A quota already at its ``upper`` bound never gets one.

    Quotas given as :class:`fractions.Fraction` (or ``int``) are rounded in
    exact arithmetic, so remainders that are mathematically equal tie exactly
    and the tie goes to the stratum listed first (floating-point quotas such
    as 43.636… and 3.636… would differ in their last bits and could give the
    unit to either).  :func:`allocate` always passes exact quotas.  Floating
    point quotas are accepted for convenience; they are rounded through their
    exact binary value after snapping values within 1e-9 of an integer to it.

    Parameters
    ----------
    quotas
        Quotas whose sum is ``total`` (exactly for fractions, up to
        floating-point error for floats).
    total
        The whole-number total to reach.
    upper
        Optional upper bounds that the result must respect.

    Returns
    -------
    numpy.ndarray of int64

    Raises
    ------
    DesignError
        The quotas cannot be rounded to ``total`` within the bounds.
    """
    exact = _exact_quotas(quotas)
    bound = None if upper is None else [int(v) for v in np.asarray(upper, dtype=np.int64).tolist()]
    if bound is not None and len(bound) != len(exact):
        raise DesignError(f"{len(bound)} upper bounds for {len(exact)} quotas")
    sizes: list[int] = []
    remainders: list[Fraction | None] = []
    for index, quota in enumerate(exact):
        floor = math.floor(quota)
        remainder: Fraction | None = quota - floor
        if bound is not None and floor >= bound[index]:
            floor = bound[index]
            remainder = None  # at its bound: never gets another unit
        sizes.append(floor)
        remainders.append(remainder)
    missing = total - sum(sizes)
    candidates = [index for index, remainder in enumerate(remainders) if remainder is not None]
    if missing < 0 or missing > len(candidates):
        raise DesignError(f"cannot round the quotas to a total of {total}")
    # Largest remainder first; equal remainders (compared exactly) by index.
    candidates.sort(key=lambda index: (-_remainder(remainders[index]), index))
    for index in candidates[:missing]:
        sizes[index] += 1
    return np.asarray(sizes, dtype=np.int64)


def _remainder(value: Fraction | None) -> Fraction:
    return Fraction(-1) if value is None else value


def _exact_quotas(quotas: Sequence[Fraction | int] | npt.ArrayLike) -> list[Fraction]:
    if isinstance(quotas, Sequence) and all(
        isinstance(q, Fraction | int) and not isinstance(q, bool) for q in quotas
    ):
        values = [Fraction(q) for q in quotas]
    else:
        result: list[Fraction] = []
        for value in np.asarray(quotas, dtype=np.float64).ravel().tolist():
            if not math.isfinite(value):
                raise DesignError(f"a quota must be a finite number, got {value}")
            nearest = round(value)
            # Quotas a hair off an integer through floating-point error count as it.
            result.append(Fraction(nearest) if abs(value - nearest) <= 1e-9 else Fraction(value))
        values = result
    if any(value < 0 for value in values):
        raise DesignError("a quota must not be negative")
    return values


def _constrained_quotas(
    weights: Sequence[Fraction],
    lower: Sequence[int],
    upper: Sequence[int],
    total: int,
) -> list[Fraction]:
    """Exact quotas ``clip(λ w_h, lower_h, upper_h)`` adding up to ``total``.

    ``f(λ) = Σ clip(λ w_h, lo_h, hi_h)`` is continuous, piecewise linear and
    non-decreasing, with breakpoints at ``lo_h / w_h`` (a stratum leaves its
    minimum) and ``hi_h / w_h`` (it reaches its population).  Walking the
    breakpoints in order with rational arithmetic finds the segment holding
    ``total`` and the exact ``λ`` on it, so equal quotas come out exactly equal.
    """
    positive = [weight > 0 for weight in weights]
    quotas = [Fraction(value) for value in lower]
    if not any(positive):
        if total > sum(lower):
            return _constrained_quotas([Fraction(v) for v in upper], lower, upper, total)
        return quotas
    capacity = sum(upper[h] if positive[h] else lower[h] for h in range(len(weights)))
    if capacity <= total:
        # Every stratum with a positive weight is taken whole; the rest goes to
        # the zero-weight strata in proportion to their size.
        rest = [h for h in range(len(weights)) if not positive[h]]
        for h in range(len(weights)):
            if positive[h]:
                quotas[h] = Fraction(upper[h])
        if total > capacity:
            sub = _constrained_quotas(
                [Fraction(upper[h]) for h in rest],
                [lower[h] for h in rest],
                [upper[h] for h in rest],
                total - sum(upper[h] for h in range(len(weights)) if positive[h]),
            )
            for h, quota in zip(rest, sub, strict=True):
                quotas[h] = quota
        return quotas
    # Events: (λ, change of slope).  A stratum with lo == hi never moves.
    events: list[tuple[Fraction, Fraction]] = []
    for h, weight in enumerate(weights):
        if positive[h] and upper[h] > lower[h]:
            events.append((lower[h] / weight, weight))
            events.append((upper[h] / weight, -weight))
    events.sort(key=lambda event: event[0])
    value = Fraction(sum(lower))  # f(0): every stratum at its minimum
    slope = Fraction(0)
    position = Fraction(0)
    lam = Fraction(0)
    for at, change in events:
        reached = value + slope * (at - position)
        if slope > 0 and reached >= total:
            lam = position + (total - value) / slope
            break
        value, position = reached, at
        slope += change
    else:  # pragma: no cover - capacity > total guarantees a segment
        raise DesignError(f"cannot allocate a total of {total}")
    for h, weight in enumerate(weights):
        if positive[h]:
            quotas[h] = min(max(lam * weight, Fraction(lower[h])), Fraction(upper[h]))
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
) -> list[Fraction]:
    """Allocation weights as exact rationals.

    ``N_h`` and the binary value of ``S_h`` are exact; ``1/√c_h`` is taken
    through the correctly rounded square root, which is exact for costs that
    are perfect squares (1, 4, 9, …) and for costs in a ratio of 4ᵏ.
    """
    if method is AllocationMethod.PROPORTIONAL:
        return [Fraction(int(v)) for v in population.tolist()]
    if method is AllocationMethod.EQUAL:
        return [Fraction(1 if v > 0 else 0) for v in population.tolist()]
    weights: list[Fraction] = []
    for spec in strata:
        deviation = spec.standard_deviation
        if deviation is None or not math.isfinite(deviation) or deviation < 0:
            raise InputError(
                f"stratum {spec.name!r}: {method.value} allocation needs a standard deviation "
                f"S ≥ 0, got {deviation}",
                column="S",
            )
        weight = int(spec.population) * Fraction(deviation)
        if method is AllocationMethod.OPTIMAL:
            cost = spec.cost
            if cost is None or not math.isfinite(cost) or cost <= 0:
                raise InputError(
                    f"stratum {spec.name!r}: optimal allocation needs a cost > 0, got {cost}",
                    column="cost",
                )
            weight /= Fraction(math.sqrt(cost))
        weights.append(weight)
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
