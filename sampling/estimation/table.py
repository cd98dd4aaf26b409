"""Result types of design-based estimation (估计结果表)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Statistic(enum.StrEnum):
    """What an :class:`EstimateTable` estimates."""

    MEAN = "mean"
    TOTAL = "total"
    RATIO = "ratio"
    PROPORTION = "proportion"


def factorize(values: npt.ArrayLike) -> tuple[npt.NDArray[Any], IntArray]:
    """Sorted distinct values and the code of every element (like ``np.unique``).

    Small non-negative integer codes (the usual case after CSV dictionary
    encoding) are compacted in linear time instead of sorting.
    """
    array = np.asarray(values)
    if (
        array.dtype.kind in "iu"
        and array.size
        and int(array.min()) >= 0
        and int(array.max()) < 4 * array.size + 1024
    ):
        present = np.bincount(array) > 0
        new_code = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(array.dtype), new_code[array].astype(np.int64)
    levels, codes = np.unique(array, return_inverse=True)
    return levels, codes.astype(np.int64).reshape(-1)


@dataclass(frozen=True)
class Domains:
    """Domains (子总体) defined by one or several ``by`` columns.

    Attributes
    ----------
    names
        Names of the ``by`` columns (empty for the whole population).
    keys
        One array per ``by`` column, each of length ``len(self)``: the level of
        that column in each domain.  Domains are sorted by their keys.
    codes
        Per row, the index of its domain (0 .. ``len(self)``-1).
    """

    names: tuple[str, ...]
    keys: tuple[npt.NDArray[Any], ...]
    codes: IntArray

    def __len__(self) -> int:
        return int(self.keys[0].shape[0]) if self.keys else 1

    @classmethod
    def whole(cls, n_rows: int) -> Domains:
        """The single domain holding every row."""
        return cls(names=(), keys=(), codes=np.zeros(n_rows, dtype=np.int64))

    @classmethod
    def from_columns(
        cls, columns: Sequence[npt.ArrayLike], names: Sequence[str] | None = None
    ) -> Domains:
        """Build domains from the ``by`` columns (any sortable dtype).

        Only combinations present in the data become domains, sorted by the
        first column, then the second, and so on (as R ``svyby`` orders them).
        """
        arrays = [np.asarray(column) for column in columns]
        if names is None:
            names = [f"by{i}" for i in range(len(arrays))]
        if len(names) != len(arrays):
            raise InputError(N_("one name is needed per `by` column"), code="domains.names_length")
        encoded: list[tuple[IntArray, npt.NDArray[Any]]] = []
        for name, array in zip(names, arrays, strict=True):
            if array.ndim != 1:
                raise InputError(
                    N_("a `by` column must be one-dimensional"),
                    code="domains.not_one_dimensional",
                    column=name,
                )
            if array.dtype.kind == "f" and np.isnan(array).any():
                first = int(np.flatnonzero(np.isnan(array))[0])
                raise InputError(
                    N_("missing domain value in row %(row)s"),
                    code="domains.missing_value",
                    parameters={"row": first + 1},
                    column=name,
                )
            levels, codes = factorize(array)
            encoded.append((codes, levels))
        return cls.from_codes(encoded, names)

    @classmethod
    def from_codes(
        cls,
        encoded: Sequence[tuple[IntArray, npt.NDArray[Any]]],
        names: Sequence[str],
    ) -> Domains:
        """Build domains from per-column ``(codes, levels)`` with sorted ``levels``."""
        if not encoded:
            raise InputError(N_("at least one `by` column is needed"), code="domains.none")
        combined = np.zeros(encoded[0][0].shape[0], dtype=np.int64)
        for codes, levels in encoded:
            combined = combined * len(levels) + codes
        present, codes_out = factorize(combined)
        keys: list[npt.NDArray[Any]] = []
        remainder = present
        for codes, levels in reversed(encoded):
            del codes
            keys.append(levels[remainder % len(levels)])
            remainder = remainder // len(levels)
        keys.reverse()
        return cls(names=tuple(names), keys=tuple(keys), codes=codes_out.astype(np.int64))

    def label(self, index: int) -> str:
        """A readable label of domain ``index``, e.g. ``"unit=3, group=citizens"``."""
        if not self.names:
            return "all"
        return ", ".join(
            f"{name}={key[index]}" for name, key in zip(self.names, self.keys, strict=True)
        )


@dataclass(frozen=True)
class EstimateTable:
    """Estimates for every domain, with standard errors and confidence intervals.

    All arrays have one entry per domain, in the order of ``domains.keys``.

    Attributes
    ----------
    statistic
        What was estimated.
    domains
        The domains (``domains.names`` is empty for the whole population).
    estimate, se, ci_low, ci_high
        Point estimate, standard error and confidence interval at ``level``.
    n
        Rows that entered each estimate (non-missing value, in the domain).
    deff
        Design effect against simple random sampling without replacement of
        the same size (Kish 1965), computed as R ``survey`` does with
        ``deff=TRUE``; NaN where the domain's weight sum does not exceed its
        sample size (SRSWOR variance undefined; R reports NA).
    df
        Design degrees of freedom (#PSU - #strata, R ``degf``).
    level
        Confidence level.
    covariance
        Covariance matrix of the estimates, when requested.
    ci_df
        Degrees of freedom behind each interval where they may differ by
        domain (proportions, see
        :class:`~sampling.estimation.intervals.DegreesOfFreedom`); ``None``:
        every interval uses ``df``.
    """

    statistic: Statistic
    domains: Domains
    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    n: IntArray
    deff: FloatArray
    df: float
    level: float
    covariance: FloatArray | None = field(default=None)
    ci_df: FloatArray | None = field(default=None)

    def interval_df(self, index: int) -> float:
        """Degrees of freedom of the interval of domain ``index``."""
        return self.df if self.ci_df is None else float(self.ci_df[index])

    def __len__(self) -> int:
        return int(self.estimate.shape[0])

    def rows(self) -> Iterator[dict[str, Any]]:
        """Yield one plain dict per domain (domain columns first)."""
        for index in range(len(self)):
            row: dict[str, Any] = {
                name: _plain(key[index])
                for name, key in zip(self.domains.names, self.domains.keys, strict=True)
            }
            row.update(
                estimate=float(self.estimate[index]),
                se=float(self.se[index]),
                ci_low=float(self.ci_low[index]),
                ci_high=float(self.ci_high[index]),
                n=int(self.n[index]),
                deff=float(self.deff[index]),
            )
            yield row


def _plain(value: Any) -> Any:
    """Turn numpy scalars into plain Python values for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return value
