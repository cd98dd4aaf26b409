"""Shifts of a unit's top-box and don't-know shares (signs of coaching).

Coaching (officials telling residents to answer 满意, "satisfied") shows
as a unit whose share of top-box answers jumps and whose share of "don't
know" falls, against its own last cycle and against the sister units of its
category in this cycle.  :func:`top_box_shift` tests both comparisons for
both shares with a two-proportion z test and flags the units whose adjusted
p-value is at most ``alpha``.  A flag is a reason to look (call-backs, the
interviewers' records), never a correction of the score: nothing here
changes an estimate.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from sampling.errors import N_, InputError
from sampling.quality._common import (
    Correction,
    FloatArray,
    adjust_p_values,
    check_alpha,
    check_design_effect,
    count_vector,
    groups_of,
    labels_of,
    parse_enum,
    plain,
)

__all__ = ["ShareTest", "TopBoxShift", "UnitShift", "top_box_shift", "two_proportion_z"]


def two_proportion_z(
    successes: npt.ArrayLike,
    trials: npt.ArrayLike,
    reference_successes: npt.ArrayLike,
    reference_trials: npt.ArrayLike,
    design_effect: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Two-proportion z test with a pooled variance inflated by a design effect.

    Parameters
    ----------
    successes, trials
        Counts of the first sample (arrays of equal shape, or scalars).
    reference_successes, reference_trials
        Counts of the reference sample.
    design_effect
        Variance inflation of both shares relative to simple random sampling
        (Kish 1965, §8.2); 1 for simple random sampling.  With interviewer
        clustering use ``1 + ρ_int (m̄ − 1)`` from
        :func:`sampling.quality.interviewer_variance`.

    Returns
    -------
    z, p_value : numpy.ndarray
        ``z = (p₁ − p₂) / sqrt(deff · p̄ (1 − p̄) (1/n₁ + 1/n₂))`` with the pooled
        share ``p̄ = (x₁ + x₂) / (n₁ + n₂)``, and its two-sided normal p-value.
        NaN where a sample is empty or the pooled share is 0 or 1 (no test).

    Notes
    -----
    With ``design_effect = 1``, ``z²`` is Pearson's chi-square statistic of the
    2×2 table without continuity correction (Agresti 2013, §3.1), so the
    p-value equals ``scipy.stats.chi2_contingency(table, correction=False)``'s.
    """
    deff = check_design_effect(design_effect)
    x1 = np.asarray(successes, dtype=np.float64)
    n1 = np.asarray(trials, dtype=np.float64)
    x2 = np.asarray(reference_successes, dtype=np.float64)
    n2 = np.asarray(reference_trials, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        variance = deff * pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
        z = (x1 / n1 - x2 / n2) / np.sqrt(variance)
    z = np.where((n1 > 0) & (n2 > 0) & (variance > 0), z, np.nan)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return np.asarray(z, dtype=np.float64), np.asarray(p, dtype=np.float64)


@dataclass(frozen=True)
class ShareTest:
    """One share of one unit compared with a reference share.

    Attributes
    ----------
    share, reference
        The unit's share and the reference share (NaN when there is no data).
    n, reference_n
        The denominators of the two shares.
    z, p_value
        The two-proportion z statistic and its two-sided p-value (NaN: no test).
    adjusted_p_value
        ``p_value`` adjusted over the family (all units, this comparison).
    flagged
        ``adjusted_p_value <= alpha``.
    """

    share: float
    reference: float
    n: float
    reference_n: float
    z: float
    p_value: float
    adjusted_p_value: float
    flagged: bool

    @property
    def difference(self) -> float:
        """``share − reference``: positive when the unit's share is higher."""
        return self.share - self.reference

    @property
    def tested(self) -> bool:
        """Whether a test was made (both samples non-empty, pooled share inside (0, 1))."""
        return not math.isnan(self.p_value)


@dataclass(frozen=True)
class UnitShift:
    """The four comparisons of one unit.

    Attributes
    ----------
    unit, category
        The unit's label and its category (the sister units share it).
    top_box_vs_previous, top_box_vs_sisters
        Top-box share among substantive answers (don't-know left out), against
        the unit's last cycle and against the pooled other units of its
        category this cycle.
    dont_know_vs_previous, dont_know_vs_sisters
        Don't-know share among all answers, likewise.
    """

    unit: Hashable
    category: Hashable
    top_box_vs_previous: ShareTest
    top_box_vs_sisters: ShareTest
    dont_know_vs_previous: ShareTest
    dont_know_vs_sisters: ShareTest

    @property
    def flagged(self) -> bool:
        """Whether any of the four comparisons is flagged."""
        return any(test.flagged for _, test in self.tests())

    def tests(self) -> tuple[tuple[str, ShareTest], ...]:
        """The comparisons by name (``top_box_vs_previous`` …)."""
        return (
            ("top_box_vs_previous", self.top_box_vs_previous),
            ("top_box_vs_sisters", self.top_box_vs_sisters),
            ("dont_know_vs_previous", self.dont_know_vs_previous),
            ("dont_know_vs_sisters", self.dont_know_vs_sisters),
        )


@dataclass(frozen=True)
class TopBoxShift:
    """Result of :func:`top_box_shift`: one :class:`UnitShift` per unit, in input order.

    Attributes
    ----------
    units
        The per-unit comparisons.
    alpha, correction, design_effect
        The settings the flags were computed with.
    """

    units: tuple[UnitShift, ...]
    alpha: float
    correction: Correction
    design_effect: float

    def flagged(self) -> tuple[UnitShift, ...]:
        """The units with at least one flagged comparison."""
        return tuple(unit for unit in self.units if unit.flagged)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per unit and comparison (for a table or JSON)."""
        return [
            {
                "unit": plain(unit.unit),
                "category": plain(unit.category),
                "comparison": name,
                "share": test.share,
                "reference": test.reference,
                "difference": test.difference,
                "n": test.n,
                "reference_n": test.reference_n,
                "z": test.z,
                "p_value": test.p_value,
                "adjusted_p_value": test.adjusted_p_value,
                "flagged": test.flagged,
            }
            for unit in self.units
            for name, test in unit.tests()
        ]


def top_box_shift(
    units: Sequence[Hashable],
    categories: Sequence[Hashable],
    answers: npt.ArrayLike,
    top_box: npt.ArrayLike,
    dont_know: npt.ArrayLike,
    previous_answers: npt.ArrayLike | None = None,
    previous_top_box: npt.ArrayLike | None = None,
    previous_dont_know: npt.ArrayLike | None = None,
    *,
    design_effect: float = 1.0,
    alpha: float = 0.05,
    correction: Correction | str = Correction.HOLM,
) -> TopBoxShift:
    """Test each unit's top-box and don't-know shares against last cycle and its sisters.

    Parameters
    ----------
    units, categories
        One label per unit, and the category of each unit (the units of a
        category are each other's sisters).
    answers, top_box, dont_know
        Per unit this cycle: the number of answers (don't-know included), of
        top-box answers (e.g. 满意 / 100) and of don't-know answers.
    previous_answers, previous_top_box, previous_dont_know
        The same counts for the last cycle; NaN for a unit not surveyed then.
        Omit all three when there is no last cycle (those tests are not made).
    design_effect
        Variance inflation of the shares (see :func:`two_proportion_z`).
    alpha
        Level of the flags, after ``correction``.
    correction
        Multiple-testing correction applied within each of the four
        comparisons across the units (:attr:`Correction.HOLM` by default:
        family-wise error rate; :attr:`Correction.BENJAMINI_HOCHBERG`: false
        discovery rate).

    Returns
    -------
    TopBoxShift
        The comparisons and flags of every unit.

    Raises
    ------
    sampling.errors.InputError
        Lengths differ, a count is negative or not whole, ``top_box +
        dont_know`` exceeds ``answers``, or a setting is out of range.

    Notes
    -----
    The top-box share is ``top_box / (answers − dont_know)`` (the share of
    the answers that enter the score); the don't-know share is
    ``dont_know / answers``.  The sister reference pools the counts of the
    other units of the category (leave-one-out, so a coached unit does not
    raise its own reference); a unit alone in its category has no sister
    test.  Each test is the pooled two-proportion z test of
    :func:`two_proportion_z`, two-sided: the sign of ``difference`` tells a
    rise from a fall.  The comparisons treat the two samples as independent
    and the units' true shares as equal under the null; true differences
    between sister units (a unit really better served) also raise the
    sister flags, which is why a flag asks for a look and is not a verdict.

    References
    ----------
    Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., §3.1.
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scand. J. Statist.* 6, 65–70.
    Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery
    rate. *JRSS B* 57, 289–300.
    Kish, L. (1965). *Survey Sampling*. Wiley.
    """
    method = parse_enum(Correction, correction, "correction")
    level = check_alpha(alpha)
    deff = check_design_effect(design_effect)
    labels = labels_of(units, "units")
    size = len(labels)
    cats = labels_of(categories, "categories", size)
    n = count_vector(answers, "answers", size)
    top = count_vector(top_box, "top_box", size)
    dk = count_vector(dont_know, "dont_know", size)
    _check_counts(n, top, dk, "answers")
    given = [
        value is not None for value in (previous_answers, previous_top_box, previous_dont_know)
    ]
    if any(given) and not all(given):
        raise InputError(
            N_("give all three counts of the last cycle or none"),
            code="quality.previous_incomplete",
        )
    if previous_answers is None or previous_top_box is None or previous_dont_know is None:
        n0 = top0 = dk0 = np.full(size, np.nan)
    else:
        n0 = count_vector(previous_answers, "previous_answers", size)
        top0 = count_vector(previous_top_box, "previous_top_box", size)
        dk0 = count_vector(previous_dont_know, "previous_dont_know", size)
        _check_counts(n0, top0, dk0, "previous_answers")

    _, category_codes = groups_of(cats)

    # Leave-one-out sums over the category: the category's total minus the unit.
    def sisters(values: FloatArray) -> FloatArray:
        totals = np.bincount(category_codes, weights=np.nan_to_num(values))
        return np.asarray(totals[category_codes] - values, dtype=np.float64)

    substantive = n - dk
    substantive0 = n0 - dk0
    comparisons: dict[str, tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = {
        "top_box_vs_previous": (top, substantive, top0, substantive0),
        "top_box_vs_sisters": (top, substantive, sisters(top), sisters(substantive)),
        "dont_know_vs_previous": (dk, n, dk0, n0),
        "dont_know_vs_sisters": (dk, n, sisters(dk), sisters(n)),
    }
    results: dict[str, list[ShareTest]] = {}
    for name, (x1, n1, x2, n2) in comparisons.items():
        z, p = two_proportion_z(x1, n1, x2, n2, deff)
        adjusted = adjust_p_values(p, method)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = x1 / n1
            reference = x2 / n2
        results[name] = [
            ShareTest(
                share=float(share[i]),
                reference=float(reference[i]),
                n=float(n1[i]),
                reference_n=float(n2[i]),
                z=float(z[i]),
                p_value=float(p[i]),
                adjusted_p_value=float(adjusted[i]),
                flagged=bool(adjusted[i] <= level),
            )
            for i in range(size)
        ]
    shifts = tuple(
        UnitShift(
            unit=labels[i],
            category=cats[i],
            top_box_vs_previous=results["top_box_vs_previous"][i],
            top_box_vs_sisters=results["top_box_vs_sisters"][i],
            dont_know_vs_previous=results["dont_know_vs_previous"][i],
            dont_know_vs_sisters=results["dont_know_vs_sisters"][i],
        )
        for i in range(size)
    )
    return TopBoxShift(units=shifts, alpha=level, correction=method, design_effect=deff)


def _check_counts(n: FloatArray, top: FloatArray, dk: FloatArray, name: str) -> None:
    with np.errstate(invalid="ignore"):
        wrong = np.flatnonzero(top + dk > n)
    if wrong.size:
        row = int(wrong[0])
        raise InputError(
            N_(
                "unit %(row)s: %(top)g top-box and %(dont_know)g don't-know answers"
                " exceed %(answers)g answers"
            ),
            code="quality.counts_exceed_answers",
            parameters={"row": row + 1, "top": top[row], "dont_know": dk[row], "answers": n[row]},
            column=name,
        )
