"""Shared parts of the quality signals: multiple-testing corrections and checks."""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError

FloatArray = npt.NDArray[np.float64]
E = TypeVar("E", bound=enum.StrEnum)


class Correction(enum.StrEnum):
    """How the p-values of one family of tests (one per unit or interviewer) are adjusted."""

    HOLM = "holm"
    """Holm's (1979) step-down method: controls the family-wise error rate
    (the chance of flagging any unit that is in fact in order) at ``alpha``.
    The default: a flag is an accusation, so false alarms are kept rare."""
    BENJAMINI_HOCHBERG = "bh"
    """Benjamini & Hochberg's (1995) step-up method: controls the false
    discovery rate (the expected share of flags that are false) at ``alpha``;
    finds more, at the price of more false alarms among many units."""
    NONE = "none"
    """No adjustment: every test at level ``alpha`` on its own."""


def adjust_p_values(p_values: npt.ArrayLike, correction: Correction | str) -> FloatArray:
    """Adjusted p-values of one family of tests (NaN entries are not tests).

    Parameters
    ----------
    p_values
        Raw p-values; NaN marks a test that could not be made, which is left
        out of the family and stays NaN.
    correction
        :class:`Correction` (or its value).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1, in the input order.  A test is
        rejected at level ``alpha`` when its adjusted p-value is ``<= alpha``.

    Notes
    -----
    Holm (1979): with the ``m`` p-values sorted, ``p̃_(i) = max_{j≤i} min(1,
    (m − j + 1) p_(j))``.  Benjamini & Hochberg (1995): ``p̃_(i) =
    min_{j≥i} min(1, m p_(j) / j)``.  Both agree with R ``p.adjust``
    (methods ``"holm"`` and ``"BH"``).
    """
    method = parse_enum(Correction, correction, "correction")
    p = np.asarray(p_values, dtype=np.float64).copy()
    tested = ~np.isnan(p)
    values = p[tested]
    m = values.shape[0]
    if m == 0 or method is Correction.NONE:
        return p
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ranks = np.arange(1, m + 1, dtype=np.float64)
    if method is Correction.HOLM:
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - ranks + 1.0) * ordered))
    else:
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ordered / ranks)[::-1])[::-1]
    result = np.empty(m)
    result[order] = adjusted
    p[tested] = result
    return p


def parse_enum(kind: type[E], value: E | str, name: str) -> E:
    """``value`` as a member of ``kind``, or an :class:`InputError` naming the choices."""
    try:
        return kind(value)
    except ValueError:
        raise InputError(
            N_("%(name)s must be one of %(choices)s, got %(value)r"),
            code="quality.invalid_choice",
            parameters={
                "name": name,
                "choices": ", ".join(member.value for member in kind),
                "value": value,
            },
        ) from None


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in (0, 1), or an :class:`InputError`."""
    value = float(alpha)
    if not 0.0 < value < 1.0:
        raise InputError(
            N_("the significance level must be between 0 and 1, got %(value)g"),
            code="quality.invalid_alpha",
            parameters={"value": value},
        )
    return value


def check_design_effect(design_effect: float) -> float:
    """``design_effect`` as a positive float, or an :class:`InputError`."""
    value = float(design_effect)
    if not value > 0.0 or not np.isfinite(value):
        raise InputError(
            N_("the design effect must be positive, got %(value)g"),
            code="quality.invalid_design_effect",
            parameters={"value": value},
        )
    return value


def check_length(
    values: Sequence[object] | npt.NDArray[np.generic], name: str, length: int
) -> None:
    """An :class:`InputError` unless ``values`` has ``length`` entries."""
    if len(values) != length:
        raise InputError(
            N_("%(name)s has %(found)s entries, %(expected)s expected"),
            code="quality.length_mismatch",
            parameters={"name": name, "found": len(values), "expected": length},
            column=name,
        )


def float_vector(values: npt.ArrayLike, name: str, length: int | None = None) -> FloatArray:
    """``values`` as a one-dimensional float array (NaN allowed), checked."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            N_("%(name)s must be numbers"), code="quality.not_numeric", parameters={"name": name}
        ) from None
    if array.ndim != 1:
        raise InputError(
            N_("%(name)s must be a list of numbers"),
            code="quality.not_a_vector",
            parameters={"name": name},
            column=name,
        )
    if length is not None:
        check_length(array, name, length)
    return array


def count_vector(values: npt.ArrayLike, name: str, length: int) -> FloatArray:
    """Non-negative whole counts as a float array (NaN: not known), checked."""
    array = float_vector(values, name, length)
    known = array[~np.isnan(array)]
    if (known < 0).any() or (known != np.round(known)).any():
        raise InputError(
            N_("%(name)s must be whole numbers of at least 0"),
            code="quality.invalid_count",
            parameters={"name": name},
            column=name,
        )
    return array


def labels_of(
    values: Sequence[Hashable], name: str, length: int | None = None
) -> tuple[Hashable, ...]:
    """``values`` as a tuple of labels, checked for length."""
    labels = tuple(values)
    if length is not None:
        check_length(labels, name, length)
    return labels


def groups_of(labels: Sequence[Hashable]) -> tuple[tuple[Hashable, ...], npt.NDArray[np.intp]]:
    """The distinct labels in order of first appearance and each entry's group index."""
    index: dict[Hashable, int] = {}
    codes = np.empty(len(labels), dtype=np.intp)
    for row, label in enumerate(labels):
        codes[row] = index.setdefault(label, len(index))
    return tuple(index), codes


def plain(value: object) -> object:
    """A numpy scalar as the Python value (for JSON rows)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
