"""Selection of units within one stratum (层内抽选).

Three methods, each returning 0-based positions within the stratum (in the
stratum's frame order) and each unit's inclusion probability π (入样概率):

* simple random sampling without replacement (简单随机不放回抽样, SRSWOR) by
  random sort keys: every unit gets an independent uniform 64-bit key and the
  ``n`` smallest keys are taken, which gives every ``n``-subset the same
  probability (Sunter 1977; Tillé 2006, §4.4); ``π = n / N``;
* systematic sampling (系统抽样) with the fractional interval ``N / n`` and a
  random start (Madow & Madow 1944; Cochran 1977, ch. 8), computed in integer
  arithmetic as ``⌊(r + j N) / n⌋`` for ``r`` uniform on ``0..N−1``, so
  ``π = n / N`` exactly;
* systematic probability-proportional-to-size sampling (PPS 系统抽样; Madow
  1949; Cochran 1977, §9A.4; Lohr 2022, §6.2) on the cumulated inclusion
  probabilities ``π_i = n x_i / Σx`` in frame order; units with
  ``n x_i / Σx ≥ 1`` are certainty selections and the probabilities of the rest
  are recomputed until none reaches 1 (Särndal, Swensson & Wretman 1992, §3.6).

Reserve batches (备用样本) are drawn after the main sample from the units it
did not take, in a uniformly random order, ``n`` at a time.

Every random number comes from ``generator.bit_generator.random_raw``, the raw
64-bit PCG64 stream, whose values numpy guarantees across versions — unlike
the ``Generator`` methods' algorithms — so a draw can be re-run years later.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, DesignError

__all__ = [
    "SelectionMethod",
    "StratumSelection",
    "pps_inclusion_probabilities",
    "random_order",
    "select_stratum",
    "uniform_below",
    "uniform_unit",
]

_TWO_TO_64 = 1 << 64


class SelectionMethod(enum.StrEnum):
    """How units are selected within a stratum."""

    SRSWOR = "srswor"
    """Simple random sampling without replacement (简单随机不放回)."""
    SYSTEMATIC = "systematic"
    """Systematic sampling with a random start (系统抽样)."""
    PPS = "pps"
    """Systematic PPS on a size measure (按规模成比例的系统抽样)."""


@dataclass(frozen=True)
class StratumSelection:
    """Units selected in one stratum.

    Attributes
    ----------
    positions
        0-based positions within the stratum (its rows in frame order).
    replicate
        0 for the main sample, ``1..K`` for reserve batches.
    inclusion_probability
        Each selected unit's main-design inclusion probability π.
    """

    positions: npt.NDArray[np.int64]
    replicate: npt.NDArray[np.int16]
    inclusion_probability: npt.NDArray[np.float64]


def uniform_below(generator: np.random.Generator, bound: int) -> int:
    """Uniform integer on ``0..bound−1`` from the raw stream (exact, by rejection)."""
    if bound < 1:
        raise ValueError("bound must be ≥ 1")
    limit = _TWO_TO_64 - (_TWO_TO_64 % bound)
    while True:
        value = int(generator.bit_generator.random_raw())
        if value < limit:
            return value % bound


def uniform_unit(generator: np.random.Generator) -> float:
    """Uniform double on [0, 1) from the top 53 bits of one raw value."""
    return float(int(generator.bit_generator.random_raw()) >> 11) * 2.0**-53


def random_order(
    population_size: int,
    count: int,
    generator: np.random.Generator,
    *,
    eligible: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.int64]:
    """First ``count`` positions of a uniformly random ordering of the units.

    Every unit draws one uniform 64-bit key (in position order) and units are
    ordered by key, ties — probability about ``N² / 2⁶⁵`` — by position, so the
    result does not depend on the sorting algorithm.  Only ``eligible`` units
    (all when ``None``) take part, but every unit consumes its key so the
    stream does not depend on the mask.
    """
    keys = np.asarray(generator.bit_generator.random_raw(population_size), dtype=np.uint64)
    candidates: npt.NDArray[np.int64] | None = None
    if eligible is not None:
        candidates = np.flatnonzero(eligible).astype(np.int64)
        keys = keys[candidates]
    wanted = min(count, keys.size)
    if wanted <= 0:
        return np.zeros(0, dtype=np.int64)
    if wanted < keys.size:
        threshold = np.partition(keys, wanted - 1)[wanted - 1]
        keep = np.flatnonzero(keys <= threshold)
        if keep.size > wanted:  # ties at the threshold: the first ones by position
            below = keys[keep] < threshold
            keep = keep[below | (np.cumsum(~below) <= wanted - int(below.sum()))]
        keys = keys[keep]
    else:
        keep = np.arange(keys.size, dtype=np.int64)
    positions = keep if candidates is None else candidates[keep]
    return positions[np.lexsort((positions, keys))]


def pps_inclusion_probabilities(
    sizes: npt.NDArray[np.float64], sample_size: int
) -> npt.NDArray[np.float64]:
    """Inclusion probabilities ``π_i = n x_i / Σx`` with certainty units at 1.

    Units whose share reaches 1 are taken with certainty and removed, and the
    remaining ``n`` is shared out again, until no share reaches 1 (Särndal,
    Swensson & Wretman 1992, §3.6.2).

    Raises
    ------
    DesignError
        Fewer units with a positive size than ``sample_size``.
    """
    positive = sizes > 0
    if sample_size > int(positive.sum()):
        raise DesignError(
            N_("n = %(n)s but only %(positive)s units have a positive size"),
            code="selection.too_few_positive_sizes",
            parameters={"n": sample_size, "positive": int(positive.sum())},
        )
    probabilities = np.zeros(sizes.size, dtype=np.float64)
    if sample_size == 0:
        return probabilities
    certain = np.zeros(sizes.size, dtype=bool)
    while True:
        remaining = sample_size - int(certain.sum())
        open_units = positive & ~certain
        if remaining == 0:
            break
        share = remaining * sizes / float(sizes[open_units].sum())
        # A share within rounding of 1 is a certainty unit too.
        newly = open_units & (share >= 1.0 - 1e-12)
        if not newly.any():
            probabilities[open_units] = share[open_units]
            break
        certain |= newly
    probabilities[certain] = 1.0
    return probabilities


def select_stratum(
    method: SelectionMethod,
    population_size: int,
    sample_size: int,
    generator: np.random.Generator,
    *,
    reserve_batches: int = 0,
    sizes: npt.NDArray[np.float64] | None = None,
) -> StratumSelection:
    """Select the main sample and ``reserve_batches`` reserve batches.

    Each reserve batch has ``sample_size`` units taken in random order from
    the units not yet selected (for PPS: with a positive size); when they run
    out, the last batch is short and later batches are empty.  Reserve units
    carry their main-design π, so a substitute inherits the weight of the
    unit it replaces.

    Parameters
    ----------
    method
        The selection method.
    population_size
        ``N_h``.
    sample_size
        ``n_h`` (≤ ``N_h``; for PPS ≤ the units with a positive size).
    generator
        The stratum's own random stream.
    reserve_batches
        ``K`` ≥ 0.
    sizes
        Size measure per unit (PPS only).
    """
    if not 0 <= sample_size <= population_size:
        raise DesignError(
            N_("n = %(n)s is outside 0..N = %(population)s"),
            code="selection.n_out_of_range",
            parameters={"n": sample_size, "population": population_size},
        )
    probability: npt.NDArray[np.float64]
    if method is SelectionMethod.SRSWOR:
        total = sample_size * (1 + reserve_batches)
        ordered = random_order(population_size, total, generator)
        return _batches(
            ordered, sample_size, np.full(ordered.size, _ratio(sample_size, population_size))
        )
    if method is SelectionMethod.SYSTEMATIC:
        probability = np.full(population_size, _ratio(sample_size, population_size))
        if sample_size:
            start = uniform_below(generator, population_size)
            steps = np.arange(sample_size, dtype=np.int64)
            main = (start + steps * population_size) // sample_size
        else:
            main = np.zeros(0, dtype=np.int64)
    elif method is SelectionMethod.PPS:
        if sizes is None or sizes.size != population_size:
            raise DesignError(
                N_("PPS selection needs a size for every unit"), code="selection.missing_sizes"
            )
        probability = pps_inclusion_probabilities(sizes, sample_size)
        main = _pps_systematic(probability, generator)
    else:  # pragma: no cover - exhaustive over the enum
        raise DesignError(
            N_("unknown selection method %(method)r"),
            code="selection.unknown_method",
            parameters={"method": method},
        )
    if reserve_batches:
        eligible = np.ones(population_size, dtype=bool)
        eligible[main] = False
        if method is SelectionMethod.PPS:
            eligible &= probability > 0
        reserve = random_order(
            population_size, sample_size * reserve_batches, generator, eligible=eligible
        )
        main = np.concatenate([main, reserve])
    return _batches(main, sample_size, probability[main])


def _pps_systematic(
    probability: npt.NDArray[np.float64], generator: np.random.Generator
) -> npt.NDArray[np.int64]:
    certain = np.flatnonzero(probability >= 1.0)
    open_units = np.flatnonzero(probability < 1.0)
    remaining = round(float(probability[open_units].sum()))
    if remaining == 0:
        return certain
    cumulative = np.cumsum(probability[open_units])
    # Rescale away rounding so the last boundary is exactly the integer size.
    cumulative *= remaining / cumulative[-1]
    start = uniform_unit(generator)
    points = start + np.arange(remaining, dtype=np.float64)
    chosen = open_units[np.searchsorted(cumulative, points, side="right")]
    return np.sort(np.concatenate([certain, chosen]))


def _batches(
    ordered: npt.NDArray[np.int64], sample_size: int, probability: npt.NDArray[np.float64]
) -> StratumSelection:
    """Number the batches; ``probability`` is that of each unit of ``ordered``."""
    if sample_size:
        replicate = (np.arange(ordered.size) // sample_size).astype(np.int16)
    else:
        replicate = np.zeros(0, dtype=np.int16)
    return StratumSelection(
        positions=ordered.astype(np.int64, copy=False),
        replicate=replicate,
        inclusion_probability=probability,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0
