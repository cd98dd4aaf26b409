"""Random-digit generation (随机数字拨号, RDD) of Chinese mobile numbers.

For frame-less telephone surveys: numbers are generated uniformly at random
within a table of number prefixes (号段) — 3 to 7 leading digits such as
``138`` or ``1380571``, each with a region — so that every possible 11-digit
number of a region's prefixes has the same chance (list-free RDD; Waksberg
1978, Lepkowski 1988).  Regions are strata: each gets the count the
allocation gives it.  Numbers are distinct, and numbers on a do-not-call list
(免打扰名单), held only as keyed hashes, are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from sampling.design.selection import uniform_below
from sampling.errors import N_, DesignError, InputError

__all__ = [
    "MOBILE_NUMBER_LENGTH",
    "DoNotCallList",
    "NumberPrefix",
    "RandomDigitSample",
    "generate_numbers",
    "keyed_number_hash",
    "parse_prefixes",
    "read_prefix_table",
]

MOBILE_NUMBER_LENGTH = 11
_PREFIX_LENGTHS = range(3, 8)


@dataclass(frozen=True, slots=True)
class NumberPrefix:
    """A number prefix (号段) and its region."""

    prefix: str
    region: str

    @property
    def capacity(self) -> int:
        """How many 11-digit numbers start with the prefix."""
        return int(10 ** (MOBILE_NUMBER_LENGTH - len(self.prefix)))


@dataclass(frozen=True)
class RandomDigitSample:
    """Generated numbers, grouped by region in allocation order."""

    numbers: tuple[str, ...]
    regions: tuple[str, ...]


def keyed_number_hash(number: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the 11-digit national number: the do-not-call key."""
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()


class DoNotCallList:
    """Callable exclusion test over keyed hashes of numbers.

    Parameters
    ----------
    key
        The HMAC key the hashes were made with.
    digests
        Hex HMAC-SHA256 digests of the 11-digit numbers (see
        :func:`keyed_number_hash`).
    """

    def __init__(self, key: bytes, digests: Iterable[str]) -> None:
        self._key = key
        self._digests = frozenset(digest.lower() for digest in digests)

    def __call__(self, number: str) -> bool:
        """``True`` when ``number`` is on the list."""
        return keyed_number_hash(number, self._key) in self._digests


def parse_prefixes(
    rows: Iterable[tuple[str, str]], *, source: str | None = None, first_line: int = 2
) -> tuple[NumberPrefix, ...]:
    """Validate ``(prefix, region)`` rows.

    A prefix is 3–7 ASCII digits starting with ``13``–``19``; no prefix may
    repeat or lie inside another (which would double the chance of its
    numbers).  ``first_line`` is the line of the first row, for messages.

    Raises
    ------
    InputError
        Naming the line and the column (``prefix`` or ``region``).
    """
    prefixes: list[NumberPrefix] = []
    lines: dict[str, int] = {}
    for offset, (prefix, region) in enumerate(rows):
        line = first_line + offset
        text = prefix.strip()
        if not (text.isascii() and text.isdigit()):
            raise InputError(
                N_("prefix %(prefix)r must contain digits only"),
                code="prefixes.not_digits",
                parameters={"prefix": prefix},
                file=source,
                line=line,
                column="prefix",
            )
        if len(text) not in _PREFIX_LENGTHS:
            raise InputError(
                N_("prefix %(prefix)r has %(digits)s digits; a prefix has 3 to 7"),
                code="prefixes.length",
                parameters={"prefix": text, "digits": len(text)},
                file=source,
                line=line,
                column="prefix",
            )
        if text[0] != "1" or text[1] not in "3456789":
            raise InputError(
                N_("prefix %(prefix)r is not a mobile prefix (they start with 13–19)"),
                code="prefixes.not_mobile",
                parameters={"prefix": text},
                file=source,
                line=line,
                column="prefix",
            )
        if not region.strip():
            raise InputError(
                N_("the region is empty"),
                code="prefixes.empty_region",
                file=source,
                line=line,
                column="region",
            )
        if text in lines:
            raise InputError(
                N_("prefix %(prefix)r repeats line %(other)s"),
                code="prefixes.repeated",
                parameters={"prefix": text, "other": lines[text]},
                file=source,
                line=line,
                column="prefix",
            )
        for length in range(3, len(text)):
            if text[:length] in lines:
                raise InputError(
                    N_("prefix %(prefix)r lies inside prefix %(outer)r of line %(other)s"),
                    code="prefixes.nested",
                    parameters={
                        "prefix": text,
                        "outer": text[:length],
                        "other": lines[text[:length]],
                    },
                    file=source,
                    line=line,
                    column="prefix",
                )
        longer = [other for other in lines if other.startswith(text)]
        if longer:
            raise InputError(
                N_("prefix %(prefix)r contains prefix %(inner)r of line %(other)s"),
                code="prefixes.nested",
                parameters={"prefix": text, "inner": longer[0], "other": lines[longer[0]]},
                file=source,
                line=line,
                column="prefix",
            )
        lines[text] = line
        prefixes.append(NumberPrefix(text, region.strip()))
    if not prefixes:
        raise InputError(N_("the prefix table is empty"), code="prefixes.empty", file=source)
    return tuple(prefixes)


def read_prefix_table(path: str | os.PathLike[str]) -> tuple[NumberPrefix, ...]:
    """Read a prefix table CSV with columns ``prefix,region``."""
    name = os.fspath(path)
    with open(name, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or "prefix" not in header or "region" not in header:
            raise InputError(
                N_("the header must name columns 'prefix' and 'region'"),
                code="prefixes.header",
                file=name,
                line=1,
            )
        prefix_at, region_at = header.index("prefix"), header.index("region")
        rows = []
        for record in reader:
            if len(record) != len(header):
                raise InputError(
                    N_("expected %(expected)s fields, found %(found)s"),
                    code="csv.field_count",
                    parameters={"expected": len(header), "found": len(record)},
                    file=name,
                    line=reader.line_num,
                )
            rows.append((record[prefix_at], record[region_at]))
    return parse_prefixes(rows, source=name)


def generate_numbers(
    prefixes: Iterable[NumberPrefix],
    allocation: Mapping[str, int],
    generator: np.random.Generator,
    *,
    exclude: Callable[[str], bool] | None = None,
) -> RandomDigitSample:
    """Generate distinct mobile numbers, ``allocation[region]`` per region.

    Within a region every number of its prefixes not excluded is equally likely
    and numbers are drawn without replacement (sequential rejection of repeats
    and excluded numbers is simple random sampling without replacement of the
    allowed numbers).

    Parameters
    ----------
    prefixes
        Validated prefixes (:func:`parse_prefixes`).
    allocation
        Numbers wanted per region.
    generator
        The random stream (only its raw 64-bit output is used).
    exclude
        Returns ``True`` for numbers never to generate, e.g. a
        :class:`DoNotCallList`.

    Raises
    ------
    DesignError
        A region has no prefix, or fewer allowed numbers than requested.
    """
    by_region: dict[str, list[NumberPrefix]] = {}
    for prefix in prefixes:
        by_region.setdefault(prefix.region, []).append(prefix)
    numbers: list[str] = []
    regions: list[str] = []
    for region, wanted in allocation.items():
        if isinstance(wanted, bool) or int(wanted) != wanted or wanted < 0:
            raise InputError(
                N_("region %(region)r: the count must be a whole number ≥ 0"),
                code="random_digits.invalid_count",
                parameters={"region": region},
                column="n",
            )
        if wanted == 0:
            continue
        if region not in by_region:
            raise DesignError(
                N_("region %(region)r has no number prefix"),
                code="random_digits.no_prefix",
                parameters={"region": region},
            )
        region_numbers = _region_numbers(by_region[region], int(wanted), generator, exclude, region)
        numbers.extend(region_numbers)
        regions.extend([region] * len(region_numbers))
    return RandomDigitSample(tuple(numbers), tuple(regions))


def _region_numbers(
    prefixes: list[NumberPrefix],
    wanted: int,
    generator: np.random.Generator,
    exclude: Callable[[str], bool] | None,
    region: str,
) -> list[str]:
    capacities = [prefix.capacity for prefix in prefixes]
    boundaries = np.cumsum(capacities)
    total = int(boundaries[-1])
    if wanted > total:
        raise DesignError(
            N_("region %(region)r: %(wanted)s numbers wanted, its prefixes hold %(total)s"),
            code="random_digits.too_many_wanted",
            parameters={"region": region, "wanted": wanted, "total": total},
        )
    chosen: list[str] = []
    seen: set[int] = set()
    # Rejection stays fast while less than half of the space is used; beyond
    # that the space is walked in one random permutation instead.
    if 2 * wanted <= total:
        attempts = 0
        while len(chosen) < wanted:
            if attempts >= total:
                break
            value = uniform_below(generator, total)
            attempts += 1
            if value in seen:
                continue
            seen.add(value)
            number = _number_at(prefixes, boundaries, value)
            if exclude is not None and exclude(number):
                continue
            chosen.append(number)
        if len(chosen) == wanted:
            return chosen
    else:
        permutation_keys = generator.bit_generator.random_raw(total)
        for value in np.lexsort((np.arange(total), np.asarray(permutation_keys))):
            number = _number_at(prefixes, boundaries, int(value))
            if exclude is not None and exclude(number):
                continue
            chosen.append(number)
            if len(chosen) == wanted:
                return chosen
    raise DesignError(
        N_(
            "region %(region)r: only %(allowed)s numbers are allowed after exclusions, "
            "%(wanted)s wanted"
        ),
        code="random_digits.too_many_excluded",
        parameters={"region": region, "allowed": len(chosen), "wanted": wanted},
    )


def _number_at(prefixes: list[NumberPrefix], boundaries: np.ndarray, value: int) -> str:
    index = int(np.searchsorted(boundaries, value, side="right"))
    start = int(boundaries[index - 1]) if index else 0
    prefix = prefixes[index].prefix
    return prefix + str(value - start).zfill(MOBILE_NUMBER_LENGTH - len(prefix))
