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
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, DesignError, InputError

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
        raise InputError(
            N_("must be a whole number ≥ 0, got %(value)s"),
            code="allocation.invalid_total",
            parameters={"value": total},
            column="n",
        )
    if isinstance(minimum, bool) or int(minimum) != minimum or minimum < 0:
        raise InputError(
            N_("must be a whole number ≥ 0, got %(value)s"),
            code="allocation.invalid_minimum",
            parameters={"value": minimum},
            column="min",
        )
    total = int(total)
    names = tuple(spec.name for spec in strata)
    _check_names(names)
    population = np.array([_population(spec) for spec in strata], dtype=np.int64)
    weights = _weights(strata, method, population)
    available = int(population.sum())
    if total > available:
        raise DesignError(
            N_("the sample size %(total)s exceeds the population of all strata (%(population)s)"),
            code="allocation.total_exceeds_population",
            parameters={"total": total, "population": available},
        )
    lower = np.minimum(population, minimum)
    if int(lower.sum()) > total:
        running = np.cumsum(lower)
        short = int(np.flatnonzero(running > total)[0])
        raise DesignError(
            N_(
                "the minimum of %(minimum)s per stratum needs %(needed)s units but n = "
                "%(total)s: stratum %(stratum)r (and any after it) cannot get its minimum"
            ),
            code="allocation.minimum_exceeds_total",
            parameters={
                "minimum": minimum,
                "needed": int(lower.sum()),
                "total": total,
                "stratum": names[short],
            },
        )
    numerators, denominator = _constrained_quotas(
        weights, [int(v) for v in lower], [int(v) for v in population], total
    )
    sizes = _round_scaled(numerators, denominator, total, [int(v) for v in population])
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
        raise DesignError(
            N_("%(bounds)s upper bounds for %(quotas)s quotas"),
            code="allocation.bounds_mismatch",
            parameters={"bounds": len(bound), "quotas": len(exact)},
        )
    denominator = math.lcm(*(quota.denominator for quota in exact)) if exact else 1
    numerators = [quota.numerator * (denominator // quota.denominator) for quota in exact]
    return _round_scaled(numerators, denominator, total, bound)


def _round_scaled(
    numerators: Sequence[int], denominator: int, total: int, upper: Sequence[int] | None
) -> npt.NDArray[np.int64]:
    """Largest remainder on quotas ``numerators[h] / denominator`` (integers only).

    With one common denominator the remainders are the integers
    ``numerator mod denominator``: equal remainders compare equal, exactly.
    """
    sizes: list[int] = []
    candidates: list[tuple[int, int]] = []  # (−remainder, index)
    for index, numerator in enumerate(numerators):
        floor, remainder = divmod(numerator, denominator)
        if upper is not None and floor >= upper[index]:
            floor = upper[index]  # at its bound: never gets another unit
        else:
            candidates.append((-remainder, index))
        sizes.append(floor)
    missing = total - sum(sizes)
    if missing < 0 or missing > len(candidates):
        raise DesignError(
            N_("cannot round the quotas to a total of %(total)s"),
            code="allocation.unroundable",
            parameters={"total": total},
        )
    # Largest remainder first; equal remainders by index (the first listed).
    candidates.sort()
    for _, index in candidates[:missing]:
        sizes[index] += 1
    return np.asarray(sizes, dtype=np.int64)


def _exact_quotas(quotas: Sequence[Fraction | int] | npt.ArrayLike) -> list[Fraction]:
    if isinstance(quotas, Sequence) and all(
        isinstance(q, Fraction | int) and not isinstance(q, bool) for q in quotas
    ):
        values = [Fraction(q) for q in quotas]
    else:
        result: list[Fraction] = []
        for value in np.asarray(quotas, dtype=np.float64).ravel().tolist():
            if not math.isfinite(value):
                raise DesignError(
                    N_("a quota must be a finite number, got %(value)s"),
                    code="allocation.quota_not_finite",
                    parameters={"value": value},
                )
            nearest = round(value)
            # Quotas a hair off an integer through floating-point error count as it.
            result.append(Fraction(nearest) if abs(value - nearest) <= 1e-9 else Fraction(value))
        values = result
    if any(value < 0 for value in values):
        raise DesignError(N_("a quota must not be negative"), code="allocation.negative_quota")
    return values


def _constrained_quotas(
    weights: Sequence[int],
    lower: Sequence[int],
    upper: Sequence[int],
    total: int,
) -> tuple[list[int], int]:
    """Exact quotas ``clip(λ w_h, lower_h, upper_h)`` adding up to ``total``.

    Weights are whole numbers (see :func:`_weights`).  Returns the quotas as
    numerators over one common denominator, so that their fractional parts can
    be compared exactly.  ``f(λ) = Σ clip(λ w_h, lo_h, hi_h)`` is continuous,
    piecewise linear and non-decreasing; a bisection in floating point finds
    which strata are at a bound, ``λ`` is then solved exactly (a ratio of
    integers) on that set and the classification checked exactly.  Should the
    floating-point classification be wrong at a breakpoint, the breakpoints
    ``lo_h / w_h`` and ``hi_h / w_h`` are walked in rational arithmetic.
    """
    count = len(weights)
    positive = [weight > 0 for weight in weights]
    if not any(positive):
        if total > sum(lower):
            return _constrained_quotas(list(upper), lower, upper, total)
        return list(lower), 1
    capacity = sum(upper[h] if positive[h] else lower[h] for h in range(count))
    if capacity <= total:
        # Every stratum with a positive weight is taken whole; the rest goes to
        # the zero-weight strata in proportion to their size.
        numerators = [upper[h] if positive[h] else lower[h] for h in range(count)]
        if total == capacity:
            return numerators, 1
        rest = [h for h in range(count) if not positive[h]]
        sub, denominator = _constrained_quotas(
            [upper[h] for h in rest],
            [lower[h] for h in rest],
            [upper[h] for h in rest],
            total - sum(upper[h] for h in range(count) if positive[h]),
        )
        numerators = [value * denominator for value in numerators]
        for h, numerator in zip(rest, sub, strict=True):
            numerators[h] = numerator
        return numerators, denominator
    index = [h for h in range(count) if positive[h]]
    w = [weights[h] for h in index]
    lo = [lower[h] for h in index]
    hi = [upper[h] for h in index]
    target = total - sum(lower[h] for h in range(count) if not positive[h])
    solved = _solve_lambda_float(w, lo, hi, target)
    if solved is None:
        lam = _solve_lambda_exact(w, lo, hi, target)
        solved = (lam.numerator, lam.denominator)
    a, b = solved
    numerators = [value * b for value in lower]
    for h, weight, low, high in zip(index, w, lo, hi, strict=True):
        numerators[h] = min(max(a * weight, low * b), high * b)
    return numerators, b


def _solve_lambda_float(
    w: list[int], lo: list[int], hi: list[int], target: int
) -> tuple[int, int] | None:
    """``λ = a / b`` from a float bisection, or ``None`` if it is not exact."""
    wf = np.asarray([float(v) for v in w])
    lof = np.asarray(lo, dtype=np.float64)
    hif = np.asarray(hi, dtype=np.float64)
    low_lambda, high_lambda = 0.0, float(np.max(hif / wf))
    for _ in range(200):
        middle = 0.5 * (low_lambda + high_lambda)
        if float(np.clip(middle * wf, lof, hif).sum()) < target:
            low_lambda = middle
        else:
            high_lambda = middle
    lam = 0.5 * (low_lambda + high_lambda)
    at_lower = (lam * wf <= lof).tolist()
    at_upper = (lam * wf >= hif).tolist()
    free = [h for h in range(len(w)) if not (at_lower[h] or at_upper[h])]
    if not free:
        return None
    fixed = sum(lo[h] for h in range(len(w)) if at_lower[h]) + sum(
        hi[h] for h in range(len(w)) if at_upper[h] and not at_lower[h]
    )
    a, b = target - fixed, sum(w[h] for h in free)
    # Check the classification exactly: λ w_h within [lo_h, hi_h] for the
    # free strata, beyond the bound for the others.
    for h in range(len(w)):
        value = a * w[h]
        if at_lower[h]:
            ok = value <= lo[h] * b
        elif at_upper[h]:
            ok = value >= hi[h] * b
        else:
            ok = lo[h] * b <= value <= hi[h] * b
        if not ok:
            return None
    return a, b


def _solve_lambda_exact(w: list[int], lo: list[int], hi: list[int], target: int) -> Fraction:
    """The smallest ``λ`` with ``Σ clip(λ w_h, lo_h, hi_h) = target``, exactly."""
    events: list[tuple[Fraction, int]] = []
    for weight, low, high in zip(w, lo, hi, strict=True):
        if high > low:
            events.append((Fraction(low, weight), weight))
            events.append((Fraction(high, weight), -weight))
    # Float first (rounding is monotone), exact only where the floats tie.
    events.sort(key=lambda event: (float(event[0]), event[0]))
    value = Fraction(sum(lo))  # f(0): every stratum at its minimum
    slope = 0
    position = Fraction(0)
    for at, change in events:
        reached = value + slope * (at - position)
        if slope > 0 and reached >= target:
            return position + (target - value) / slope
        value, position = reached, at
        slope += change
    raise DesignError(  # pragma: no cover
        N_("cannot allocate a total of %(total)s"),
        code="allocation.unreachable_total",
        parameters={"total": target},
    )


def _parse_method(method: AllocationMethod | str) -> AllocationMethod:
    try:
        return AllocationMethod(method)
    except ValueError:
        choices = ", ".join(m.value for m in AllocationMethod)
        raise InputError(
            N_("unknown method %(method)r; use one of %(choices)s"),
            code="allocation.unknown_method",
            parameters={"method": method, "choices": choices},
            column="method",
        ) from None


def _check_names(names: tuple[str, ...]) -> None:
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise InputError(
                N_("stratum %(stratum)r is listed twice (entries %(first)s and %(second)s)"),
                code="allocation.duplicate_stratum",
                parameters={"stratum": name, "first": seen[name] + 1, "second": index + 1},
                column="stratum",
            )
        seen[name] = index


def _population(spec: StratumSpec) -> int:
    value = spec.population
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise InputError(
            N_("stratum %(stratum)r: N must be a whole number ≥ 0, got %(value)s"),
            code="allocation.invalid_population",
            parameters={"stratum": spec.name, "value": value},
            column="N",
        )
    return int(value)


def _weights(
    strata: Sequence[StratumSpec],
    method: AllocationMethod,
    population: npt.NDArray[np.int64],
) -> list[int]:
    """Allocation weights as whole numbers with the exact ratios of the method's.

    ``N_h`` (proportional), 1 (equal), ``N_h`` times the binary value of
    ``S_h`` (Neyman) or of the correctly rounded ``S_h / √c_h`` (cost-optimal;
    exact whenever that quotient is a binary fraction, e.g. ``30 / √9 = 10``),
    all multiplied by one power of two.  Integers keep the exact arithmetic of
    the allocation fast for thousands of strata.
    """
    if method is AllocationMethod.PROPORTIONAL:
        return [int(v) for v in population.tolist()]
    if method is AllocationMethod.EQUAL:
        return [1 if v > 0 else 0 for v in population.tolist()]
    ratios: list[tuple[int, int]] = []
    for spec in strata:
        deviation = spec.standard_deviation
        if deviation is None or not math.isfinite(deviation) or deviation < 0:
            raise InputError(
                N_(
                    "stratum %(stratum)r: %(method)s allocation needs a standard deviation "
                    "S ≥ 0, got %(value)s"
                ),
                code="allocation.invalid_deviation",
                parameters={"stratum": spec.name, "method": method.value, "value": deviation},
                column="S",
            )
        per_unit = float(deviation)
        if method is AllocationMethod.OPTIMAL:
            cost = spec.cost
            if cost is None or not math.isfinite(cost) or cost <= 0:
                raise InputError(
                    N_("stratum %(stratum)r: optimal allocation needs a cost > 0, got %(value)s"),
                    code="allocation.invalid_cost",
                    parameters={"stratum": spec.name, "value": cost},
                    column="cost",
                )
            # Correctly rounded: exact whenever S/√c is a binary fraction.
            per_unit = per_unit / math.sqrt(cost)
        ratios.append(per_unit.as_integer_ratio())  # denominator: a power of two
    scale = max((denominator for _, denominator in ratios), default=1)
    return [
        int(spec.population) * numerator * (scale // denominator)
        for spec, (numerator, denominator) in zip(strata, ratios, strict=True)
    ]
