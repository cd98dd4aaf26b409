"""Sample size (样本量) for a proportion or a mean at a target margin of error.

The formulas are Cochran's (1977, §4.4 for proportions, §4.6 for means) with the
finite population correction, multiplied by a design effect (Kish 1965, §8.2)
and divided by the expected response rate (AAPOR 2023) to give the number of
units to issue.  Every intermediate value is kept so that a report can show how
the final ``n`` was reached.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from sampling.errors import N_, InputError

__all__ = [
    "PerUnitRequirement",
    "SampleSizeResult",
    "normal_quantile",
    "per_unit_requirement",
    "required_sample_size",
]

# Products such as 384.00000000000006 must not round up to 385: values within
# this distance of an integer are treated as that integer before ``ceil``.
_ROUNDING_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class SampleSizeResult:
    """Result of :func:`required_sample_size`; every stage of the computation.

    Attributes
    ----------
    n
        Units to issue (draw): ``ceil(completes / response_rate)``, so that the
        expected number of completes, ``n × response_rate``, is at least
        ``completes`` (the whole number of interviews actually needed).
    completes
        Completed interviews needed: ``ceil(n_fpc * design_effect)``.
    n0
        Size for simple random sampling from an infinite population (unrounded).
    n_fpc
        ``n0`` after the finite population correction (unrounded; ``n0`` when no
        population size is given).
    z
        Standard normal quantile for the confidence level.
    margin, confidence, proportion, standard_deviation, population,
    design_effect, response_rate
        The inputs, echoed back.
    """

    n: int
    completes: int
    n0: float
    n_fpc: float
    z: float
    margin: float
    confidence: float
    proportion: float | None
    standard_deviation: float | None
    population: int | None
    design_effect: float
    response_rate: float

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PerUnitRequirement:
    """Completes and issued sample per rated unit (被考核单位) and in all.

    Attributes
    ----------
    per_unit
        :class:`SampleSizeResult` for one unit.
    units
        Number of rated units.
    total_completes, total_issued
        ``units × per_unit.completes`` and ``units × per_unit.n``.
    """

    per_unit: SampleSizeResult
    units: int
    total_completes: int
    total_issued: int

    def to_dict(self) -> dict[str, Any]:
        """Return the requirement as a JSON-ready dictionary."""
        return {
            "per_unit": self.per_unit.to_dict(),
            "units": self.units,
            "total_completes": self.total_completes,
            "total_issued": self.total_issued,
        }


def normal_quantile(confidence: float) -> float:
    """Two-sided standard normal quantile ``z`` for a confidence level.

    Parameters
    ----------
    confidence
        Confidence level in (0, 1), e.g. 0.95 gives 1.959963984540054.
    """
    _check_open_unit(confidence, "confidence")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def required_sample_size(
    margin: float,
    confidence: float = 0.95,
    *,
    proportion: float | None = None,
    standard_deviation: float | None = None,
    population: int | None = None,
    design_effect: float = 1.0,
    response_rate: float = 1.0,
) -> SampleSizeResult:
    """Sample size for a proportion or a mean at margin of error ``margin``.

    For a proportion ``P`` (default 0.5, the conservative choice)
    ``n0 = z² P (1 − P) / e²`` and, with a population of ``N``,
    ``n = n0 / (1 + (n0 − 1) / N)`` (Cochran 1977, eqs. 4.2–4.3: the exact
    solution of ``z² (N − n) / (N − 1) · PQ / n = e²``).  For a mean with
    standard deviation ``S`` ``n0 = (z S / e)²`` and ``n = n0 / (1 + n0 / N)``
    (Cochran 1977, eq. 4.1 and §4.6, from ``V = (1 − n/N) S² / n``).  The result
    is multiplied by the design effect (Kish 1965) and divided by the expected
    response rate, then rounded up: ``completes = ⌈n_fpc · deff⌉`` and the
    units to issue are ``⌈completes / response_rate⌉``, so that the issued
    sample is expected to yield the whole number of completes asked for.

    Known values: ``e = 0.05``, 95 %, ``P = 0.5`` gives 385; with
    ``N = 10 000`` it gives 370.

    Parameters
    ----------
    margin
        Half-width of the confidence interval (absolute; 0.05 = ±5 points of a
        proportion, or in the unit of the mean).
    confidence
        Confidence level in (0, 1).
    proportion
        Anticipated proportion ``P`` in (0, 1); used when
        ``standard_deviation`` is not given (default 0.5).
    standard_deviation
        Anticipated population standard deviation ``S`` of the variable (for a
        mean, e.g. a 0–100 satisfaction index).  Give either this or
        ``proportion``.
    population
        Population size ``N`` for the finite population correction.
    design_effect
        Kish's design effect ``deff`` (≥ 0; 1 for simple random sampling).
    response_rate
        Expected response rate in (0, 1].

    Returns
    -------
    SampleSizeResult

    Raises
    ------
    InputError
        A parameter is out of range (the field is named).
    """
    _check_positive(margin, "margin")
    z = normal_quantile(confidence)
    if standard_deviation is not None and proportion is not None:
        raise InputError(
            N_("give either a proportion or a standard deviation, not both"),
            code="size.proportion_and_deviation",
            column="p",
        )
    if standard_deviation is not None:
        _check_positive(standard_deviation, "sd")
        n0 = (z * standard_deviation / margin) ** 2
    else:
        p = 0.5 if proportion is None else proportion
        _check_open_unit(p, "p")
        if margin >= 1.0:
            raise InputError(
                N_("a proportion's margin must be below 1, got %(value)s"),
                code="size.margin_too_large",
                parameters={"value": margin},
                column="margin",
            )
        n0 = z * z * p * (1.0 - p) / (margin * margin)
    if population is None:
        n_fpc = n0
    else:
        if isinstance(population, bool) or population < 1 or int(population) != population:
            raise InputError(
                N_("must be a positive whole number, got %(value)s"),
                code="size.invalid_population",
                parameters={"value": population},
                column="population",
            )
        correction = (n0 - 1.0) if standard_deviation is None else n0
        n_fpc = n0 / (1.0 + correction / population)
    if not (math.isfinite(design_effect) and design_effect > 0):
        raise InputError(
            N_("must be a positive number, got %(value)s"),
            code="size.invalid_design_effect",
            parameters={"value": design_effect},
            column="deff",
        )
    if not (math.isfinite(response_rate) and 0.0 < response_rate <= 1.0):
        raise InputError(
            N_("must be in (0, 1], got %(value)s"),
            code="size.invalid_response_rate",
            parameters={"value": response_rate},
            column="response-rate",
        )
    completes = _ceil(n_fpc * design_effect)
    if population is not None:
        completes = min(completes, population)
    issued = _ceil(completes / response_rate)
    if population is not None:
        issued = min(issued, population)
    return SampleSizeResult(
        n=issued,
        completes=completes,
        n0=n0,
        n_fpc=n_fpc,
        z=z,
        margin=margin,
        confidence=confidence,
        proportion=None if standard_deviation is not None else (proportion or 0.5),
        standard_deviation=standard_deviation,
        population=population,
        design_effect=design_effect,
        response_rate=response_rate,
    )


def per_unit_requirement(
    units: int,
    margin: float,
    confidence: float = 0.95,
    *,
    proportion: float | None = None,
    standard_deviation: float | None = None,
    population_per_unit: int | None = None,
    design_effect: float = 1.0,
    response_rate: float = 1.0,
) -> PerUnitRequirement:
    """Completes per rated unit so that each unit's score meets ``margin``.

    Each unit's score is estimated from its own respondents, so the sample size
    of :func:`required_sample_size` applies per unit (Lohr 2022, §3.4, sizes
    for domains planned as strata); the totals multiply by the number of units.

    Parameters
    ----------
    units
        Number of rated units (≥ 1).
    population_per_unit
        Service population of one unit (for the finite population correction).
    margin, confidence, proportion, standard_deviation, design_effect, response_rate
        As in :func:`required_sample_size`.
    """
    if isinstance(units, bool) or units < 1 or int(units) != units:
        raise InputError(
            N_("must be a positive whole number, got %(value)s"),
            code="size.invalid_units",
            parameters={"value": units},
            column="units",
        )
    one = required_sample_size(
        margin,
        confidence,
        proportion=proportion,
        standard_deviation=standard_deviation,
        population=population_per_unit,
        design_effect=design_effect,
        response_rate=response_rate,
    )
    return PerUnitRequirement(
        per_unit=one,
        units=units,
        total_completes=units * one.completes,
        total_issued=units * one.n,
    )


def _ceil(value: float) -> int:
    nearest = round(value)
    if abs(value - nearest) <= _ROUNDING_TOLERANCE * max(1.0, abs(value)):
        return int(nearest)
    return math.ceil(value)


def _check_open_unit(value: float, field: str) -> None:
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise InputError(
            N_("must be strictly between 0 and 1, got %(value)s"),
            code="size.not_a_proportion",
            parameters={"value": value},
            column=field,
        )


def _check_positive(value: float, field: str) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise InputError(
            N_("must be a positive number, got %(value)s"),
            code="size.not_positive",
            parameters={"value": value},
            column=field,
        )
