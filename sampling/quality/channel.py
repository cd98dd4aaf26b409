"""Gap between the probability channels and the open QR code, per unit.

Answers from the probability channels (a drawn sample reached by phone or
visit) estimate the unit's score; answers through the open QR code come from
whoever chooses to answer, which a unit can steer (a poster at the service
hall, staff asking visitors to scan).  A large gap between the two means of a
unit is a signal to look at; :func:`channel_gap` tests it with Welch's t test.
"""

from __future__ import annotations

import enum
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
    adjust_p_values,
    check_alpha,
    float_vector,
    groups_of,
    labels_of,
    parse_enum,
    plain,
)

__all__ = ["Channel", "ChannelGap", "UnitChannelGap", "channel_gap"]


class Channel(enum.StrEnum):
    """Kind of channel an answer came through."""

    PROBABILITY = "probability"
    """A drawn sample (phone, visit, SMS to a drawn number): design-based."""
    OPEN = "open"
    """The open QR code: self-selected, not a probability sample."""


@dataclass(frozen=True)
class UnitChannelGap:
    """The two channel means of one unit and Welch's test of their difference.

    Attributes
    ----------
    unit
        The unit's label.
    probability_n, open_n
        Answers in each channel (missing scores left out).
    probability_mean, open_mean
        Mean score in each channel (NaN without answers).
    t, df, p_value
        Welch's t statistic of ``open − probability``, its Welch–Satterthwaite
        degrees of freedom and two-sided p-value (NaN: fewer than two answers
        in a channel, or no variance in either).
    adjusted_p_value, flagged
        ``p_value`` adjusted across the units and ``adjusted_p_value <= alpha``.
    """

    unit: Hashable
    probability_n: int
    open_n: int
    probability_mean: float
    open_mean: float
    t: float
    df: float
    p_value: float
    adjusted_p_value: float
    flagged: bool

    @property
    def gap(self) -> float:
        """``open_mean − probability_mean``: positive when the QR answers are kinder."""
        return self.open_mean - self.probability_mean

    @property
    def tested(self) -> bool:
        """Whether the test could be made."""
        return not math.isnan(self.p_value)


@dataclass(frozen=True)
class ChannelGap:
    """Result of :func:`channel_gap`: a :class:`UnitChannelGap` per unit, in order of appearance.

    Attributes
    ----------
    units
        The per-unit gaps.
    alpha, correction
        The settings of the flags.
    """

    units: tuple[UnitChannelGap, ...]
    alpha: float
    correction: Correction

    def flagged(self) -> tuple[UnitChannelGap, ...]:
        """The flagged units."""
        return tuple(unit for unit in self.units if unit.flagged)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per unit."""
        return [
            {
                "unit": plain(unit.unit),
                "probability_n": unit.probability_n,
                "open_n": unit.open_n,
                "probability_mean": unit.probability_mean,
                "open_mean": unit.open_mean,
                "gap": unit.gap,
                "t": unit.t,
                "df": unit.df,
                "p_value": unit.p_value,
                "adjusted_p_value": unit.adjusted_p_value,
                "flagged": unit.flagged,
            }
            for unit in self.units
        ]


def channel_gap(
    units: Sequence[Hashable],
    channels: Sequence[Channel | str],
    scores: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    correction: Correction | str = Correction.HOLM,
) -> ChannelGap:
    """Test, per unit, the probability-channel mean against the open-QR mean (Welch).

    Parameters
    ----------
    units, channels, scores
        One entry per answer: the unit rated, the :class:`Channel` (or its
        value) and the score (NaN: don't know / missing, left out).
    alpha
        Level of the flags after ``correction``.
    correction
        Multiple-testing correction across the units (Holm by default).

    Returns
    -------
    ChannelGap
        The means, tests and flags per unit.

    Raises
    ------
    sampling.errors.InputError
        Lengths differ, an unknown channel, or a setting out of range.

    Notes
    -----
    Welch's (1947) unequal-variance t test,
    ``t = (ȳ_open − ȳ_prob) / sqrt(s²_open/n_open + s²_prob/n_prob)`` with
    Welch–Satterthwaite degrees of freedom; identical to
    ``scipy.stats.ttest_ind(open, probability, equal_var=False)``.  Answers
    are treated as independent; interviewer clustering in the probability
    channel (see :func:`sampling.quality.interviewer_variance`) makes the
    test somewhat liberal.  A gap also arises without any steering when the
    QR code reaches different people (service users rather than residents),
    so the flag asks for a look and changes no estimate.

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several
    different population variances are involved. *Biometrika* 34, 28–35.
    """
    method = parse_enum(Correction, correction, "correction")
    level = check_alpha(alpha)
    labels = labels_of(units, "units")
    size = len(labels)
    kinds = labels_of(channels, "channels", size)
    y = float_vector(scores, "scores", size)
    try:
        is_open = np.array([Channel(str(kind)) is Channel.OPEN for kind in kinds], dtype=np.bool_)
    except ValueError:
        bad = next(kind for kind in kinds if str(kind) not in {c.value for c in Channel})
        raise InputError(
            N_("unknown channel %(value)r (known: %(choices)s)"),
            code="quality.unknown_channel",
            parameters={"value": bad, "choices": ", ".join(member.value for member in Channel)},
            column="channels",
        ) from None
    names, codes = groups_of(labels)
    known = ~np.isnan(y)
    rows: list[tuple[int, int, float, float, float, float, float]] = []
    for group in range(len(names)):
        mine = (codes == group) & known
        prob = y[mine & ~is_open]
        qr = y[mine & is_open]
        prob_mean = float(prob.mean()) if prob.size else math.nan
        open_mean = float(qr.mean()) if qr.size else math.nan
        t = df = p = math.nan
        if prob.size >= 2 and qr.size >= 2:
            var_p = float(prob.var(ddof=1)) / prob.size
            var_q = float(qr.var(ddof=1)) / qr.size
            if var_p + var_q > 0:
                t = (open_mean - prob_mean) / math.sqrt(var_p + var_q)
                df = (var_p + var_q) ** 2 / (var_p**2 / (prob.size - 1) + var_q**2 / (qr.size - 1))
                p = float(2.0 * stats.t.sf(abs(t), df))
        rows.append((int(prob.size), int(qr.size), prob_mean, open_mean, t, df, p))
    adjusted = adjust_p_values([row[6] for row in rows], method)
    gaps = tuple(
        UnitChannelGap(
            unit=names[i],
            probability_n=row[0],
            open_n=row[1],
            probability_mean=row[2],
            open_mean=row[3],
            t=row[4],
            df=row[5],
            p_value=row[6],
            adjusted_p_value=float(adjusted[i]),
            flagged=bool(adjusted[i] <= level),
        )
        for i, row in enumerate(rows)
    )
    return ChannelGap(units=gaps, alpha=level, correction=method)
