"""Straight-lining: respondents who give the same answer to every item.

A respondent told what to answer (or an interviewer filling forms in) tends to
give one answer throughout, typically the top box.  :func:`straight_lining`
counts, per group (unit or interviewer), the respondents who answered at
least ``min_items`` items all alike, and tests the group's share against the
share among all other groups with an exact binomial test.
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
    groups_of,
    labels_of,
    parse_enum,
    plain,
)

__all__ = ["GroupStraightLining", "StraightLining", "straight_liners", "straight_lining"]


def straight_liners(answers: npt.ArrayLike, min_items: int = 4) -> tuple[FloatArray, FloatArray]:
    """Which respondents are eligible and which of them straight-line.

    Parameters
    ----------
    answers
        Respondents × items; NaN for an item not answered (or don't know).
    min_items
        Least number of answered items for a respondent to count.

    Returns
    -------
    eligible, straight : numpy.ndarray of bool
        Per respondent: answered at least ``min_items`` items; and, of those,
        gave the same answer to every answered item.
    """
    matrix = _matrix(answers)
    items = _check_min_items(min_items, matrix.shape[1])
    answered = ~np.isnan(matrix)
    eligible = answered.sum(axis=1) >= items
    with np.errstate(invalid="ignore"):
        high = np.nanmax(np.where(answered, matrix, -np.inf), axis=1)
        low = np.nanmin(np.where(answered, matrix, np.inf), axis=1)
    straight = eligible & (high == low)
    return eligible, straight


@dataclass(frozen=True)
class GroupStraightLining:
    """Straight-lining in one group (unit or interviewer).

    Attributes
    ----------
    group
        The group's label.
    eligible, straight
        Respondents with at least ``min_items`` answers, and those of them
        giving one answer to every item.
    reference_eligible, reference_straight
        The same counts in all other groups together (the reference share).
    p_value
        One-sided exact binomial p-value of ``straight`` or more out of
        ``eligible`` at the reference share (NaN: no eligible respondent, or
        a reference share of 0 or 1 / without respondents).
    adjusted_p_value, flagged
        Adjusted across the groups, and ``adjusted_p_value <= alpha``.
    """

    group: Hashable
    eligible: int
    straight: int
    reference_eligible: int
    reference_straight: int
    p_value: float
    adjusted_p_value: float
    flagged: bool

    @property
    def share(self) -> float:
        """``straight / eligible`` (NaN without eligible respondents)."""
        return self.straight / self.eligible if self.eligible else math.nan

    @property
    def reference_share(self) -> float:
        """The share of straight-liners among all other groups' eligible respondents."""
        if not self.reference_eligible:
            return math.nan
        return self.reference_straight / self.reference_eligible


@dataclass(frozen=True)
class StraightLining:
    """Result of :func:`straight_lining`, one entry per group in order of first appearance.

    Attributes
    ----------
    groups
        Per-group counts and tests.
    overall_share
        Share of straight-liners among all eligible respondents.
    min_items, alpha, correction
        The settings.
    """

    groups: tuple[GroupStraightLining, ...]
    overall_share: float
    min_items: int
    alpha: float
    correction: Correction

    def flagged(self) -> tuple[GroupStraightLining, ...]:
        """The flagged groups."""
        return tuple(group for group in self.groups if group.flagged)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per group."""
        return [
            {
                "group": plain(group.group),
                "eligible": group.eligible,
                "straight": group.straight,
                "share": group.share,
                "reference_share": group.reference_share,
                "p_value": group.p_value,
                "adjusted_p_value": group.adjusted_p_value,
                "flagged": group.flagged,
            }
            for group in self.groups
        ]


def straight_lining(
    groups: Sequence[Hashable],
    answers: npt.ArrayLike,
    *,
    min_items: int = 4,
    alpha: float = 0.05,
    correction: Correction | str = Correction.HOLM,
) -> StraightLining:
    """Share of straight-liners per group against the other groups (binomial test).

    Parameters
    ----------
    groups
        Per respondent, the group to report on: the unit rated or the
        interviewer.
    answers
        Respondents × items, the item scores (NaN: not answered / don't know).
    min_items
        A respondent counts only with at least this many answered items (a
        respondent answering two items alike says little).
    alpha
        Level of the flags after ``correction``.
    correction
        Multiple-testing correction across the groups (Holm by default).

    Returns
    -------
    StraightLining
        Counts, shares and flags per group.

    Raises
    ------
    sampling.errors.InputError
        ``answers`` is not a matrix with one row per respondent, or a
        setting is out of range.

    Notes
    -----
    For group ``g`` with ``n_g`` eligible respondents of whom ``x_g``
    straight-line, the reference share ``p₀`` is that of all other groups
    (leave-one-out, so a group cannot hide in a share it dominates) and the
    p-value is ``P(X ≥ x_g)`` for ``X ~ Binomial(n_g, p₀)`` (exact;
    ``scipy.stats.binomtest(x_g, n_g, p₀, alternative="greater")``).  Only
    an excess is flagged.  Honest respondents do straight-line when every
    item is "satisfied" to them (Krosnick 1991 on satisficing), so it is the
    excess over the other groups that is a signal.

    References
    ----------
    Krosnick, J. A. (1991). Response strategies for coping with the cognitive
    demands of attitude measures in surveys. *Appl. Cogn. Psychol.* 5, 213–236.
    """
    method = parse_enum(Correction, correction, "correction")
    level = check_alpha(alpha)
    matrix = _matrix(answers)
    labels = labels_of(groups, "groups", matrix.shape[0])
    eligible, straight = straight_liners(matrix, min_items)
    names, codes = groups_of(labels)
    count = len(names)
    n = np.bincount(codes, weights=eligible, minlength=count).astype(np.int64)
    x = np.bincount(codes, weights=straight, minlength=count).astype(np.int64)
    total_n, total_x = int(n.sum()), int(x.sum())
    p_values = np.full(count, np.nan)
    for g in range(count):
        ref_n, ref_x = total_n - int(n[g]), total_x - int(x[g])
        if n[g] > 0 and ref_n > 0 and 0 < ref_x < ref_n:
            test = stats.binomtest(int(x[g]), int(n[g]), ref_x / ref_n, alternative="greater")
            p_values[g] = float(test.pvalue)
    adjusted = adjust_p_values(p_values, method)
    result = tuple(
        GroupStraightLining(
            group=names[g],
            eligible=int(n[g]),
            straight=int(x[g]),
            reference_eligible=total_n - int(n[g]),
            reference_straight=total_x - int(x[g]),
            p_value=float(p_values[g]),
            adjusted_p_value=float(adjusted[g]),
            flagged=bool(adjusted[g] <= level),
        )
        for g in range(count)
    )
    overall = total_x / total_n if total_n else math.nan
    return StraightLining(
        groups=result,
        overall_share=overall,
        min_items=int(min_items),
        alpha=level,
        correction=method,
    )


def _matrix(answers: npt.ArrayLike) -> FloatArray:
    try:
        matrix = np.asarray(answers, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            N_("%(name)s must be numbers"),
            code="quality.not_numeric",
            parameters={"name": "answers"},
        ) from None
    if matrix.ndim != 2:
        raise InputError(
            N_("the answers must be a table of respondents by items"),
            code="quality.answers_not_matrix",
            column="answers",
        )
    return matrix


def _check_min_items(min_items: int, items: int) -> int:
    value = int(min_items)
    if not 2 <= value <= items:
        raise InputError(
            N_("the least number of items must be between 2 and %(items)s, got %(value)s"),
            code="quality.invalid_min_items",
            parameters={"items": items, "value": value},
        )
    return value
