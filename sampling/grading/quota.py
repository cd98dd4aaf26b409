"""Grade schemes and quota counts (等次比例与名额).

A grade scheme lists the grades best first with their quota shares, e.g. the
team scheme 15:80:5 (一等/二等/三等).  The number of units per grade in a
category is ``round-half-up(share × units)`` for every grade except the one
with the largest share, which takes the remainder, so the counts always add
up to the category size.  All arithmetic is exact (``fractions.Fraction``):
a binary floating-point product such as ``0.15 × 10`` must never decide
whether a grade gets one more unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sampling.errors import N_, InputError

ShareLike = int | str | Fraction | Decimal


def exact_fraction(value: ShareLike | float) -> Fraction:
    """The exact rational value of ``value`` as written (``0.15`` is 15/100).

    Floats go through their shortest ``repr`` so that ``0.15`` means fifteen
    hundredths and not the nearest binary double.
    """
    if isinstance(value, bool):
        raise InputError(
            N_("not a number: %(value)r"), code="grading.not_a_number", parameters={"value": value}
        )
    if isinstance(value, float):
        return Fraction(repr(value))
    try:
        return Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError) as error:
        raise InputError(
            N_("not a number: %(value)r"), code="grading.not_a_number", parameters={"value": value}
        ) from error


def round_half_up(value: Fraction | int) -> int:
    """Round to the nearest integer, halves away from zero (四舍五入).

    Python's :func:`round` rounds halves to even (``round(2.5) == 2``), which is
    not the administrative rule.
    """
    fraction = Fraction(value)
    magnitude = (abs(fraction) + Fraction(1, 2)).__floor__()
    return magnitude if fraction >= 0 else -magnitude


def round_score(value: float, decimals: int) -> float:
    """Round a published score half-up to ``decimals`` places (四舍五入).

    The decimal rendering of the float (its shortest ``repr``) is rounded, so
    ``84.125`` becomes ``84.13`` at two places, as a person would do it.
    """
    quantum = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class GradeScheme:
    """Grades best first, their quota shares, and the restricted grade.

    Attributes
    ----------
    name
        Preset name, e.g. ``"teams-15-80-5"``.
    grades
        Grade codes best first (English codes; the app shows the Chinese label).
    shares
        Quota parts in the same order; any positive ratio (15:80:5 or
        0.15/0.80/0.05).  Normalised by their sum.
    restricted_grade
        The grade the override rules cap a unit at ("at most 基本称职");
        defaults to the second-worst grade of a four-grade scheme and the worst
        grade otherwise.
    """

    name: str
    grades: tuple[str, ...]
    shares: tuple[Fraction, ...]
    restricted_grade: str

    def index(self, grade: str) -> int:
        """Position of ``grade`` in the scheme (0 = best)."""
        return self.grades.index(grade)


def grade_scheme(
    name: str,
    grades: Sequence[str],
    shares: Sequence[ShareLike | float],
    *,
    restricted_grade: str | None = None,
) -> GradeScheme:
    """Build and validate a grade scheme (custom ratio or preset).

    Raises
    ------
    InputError
        Fewer than two grades, a share count that does not match the grades,
        a share that is not positive, duplicate grade codes or a restricted
        grade that is not in the scheme.
    """
    grade_codes = tuple(grades)
    if len(grade_codes) < 2:
        raise InputError(
            N_("a grade scheme needs at least two grades"),
            code="grading.too_few_grades",
            column="grades",
        )
    if len(set(grade_codes)) != len(grade_codes):
        raise InputError(
            N_("duplicate grade codes in %(grades)s"),
            code="grading.duplicate_grades",
            parameters={"grades": grade_codes},
            column="grades",
        )
    if len(shares) != len(grade_codes):
        raise InputError(
            N_("%(shares)s shares given for %(grades)s grades"),
            code="grading.share_count",
            parameters={"shares": len(shares), "grades": len(grade_codes)},
            column="shares",
        )
    parts = tuple(exact_fraction(share) for share in shares)
    for grade, part in zip(grade_codes, parts, strict=True):
        if part <= 0:
            raise InputError(
                N_("the share of grade %(grade)r must be positive"),
                code="grading.share_not_positive",
                parameters={"grade": grade},
                column="shares",
            )
    total = sum(parts, Fraction(0))
    normalised = tuple(part / total for part in parts)
    if restricted_grade is None:
        restricted_grade = grade_codes[-2] if len(grade_codes) >= 4 else grade_codes[-1]
    if restricted_grade not in grade_codes:
        raise InputError(
            N_("restricted grade %(grade)r is not one of %(grades)s"),
            code="grading.unknown_restricted_grade",
            parameters={"grade": restricted_grade, "grades": grade_codes},
            column="restricted_grade",
        )
    return GradeScheme(name, grade_codes, normalised, restricted_grade)


TEAMS_15_80_5 = grade_scheme("teams-15-80-5", ("first", "second", "third"), (15, 80, 5))
"""Leadership teams (领导班子): 一等 15 %, 二等 80 %, 三等 5 %."""

OFFICIALS_15_80_4_1 = grade_scheme(
    "officials-15-80-4-1",
    ("excellent", "competent", "basically_competent", "incompetent"),
    (15, 80, 4, 1),
)
"""Officials (领导干部): 优秀 15 %, 称职 80 %, 基本称职 4 %, 不称职 1 %."""

AWARDS_3_5_2 = grade_scheme("awards-3-5-2", ("first", "second", "third"), (3, 5, 2))
"""Awards (奖励等次): 3:5:2."""

PRESETS: dict[str, GradeScheme] = {
    scheme.name: scheme for scheme in (TEAMS_15_80_5, OFFICIALS_15_80_4_1, AWARDS_3_5_2)
}


def quota_counts(scheme: GradeScheme, units: int) -> tuple[int, ...]:
    """Number of units per grade for a category of ``units`` units.

    ``round-half-up(share × units)`` for every grade but the one with the
    largest share (the first such grade if several tie), which takes the
    remainder.

    Examples
    --------
    >>> quota_counts(TEAMS_15_80_5, 34)  # 5.1 → 5, 1.7 → 2, remainder 27
    (5, 27, 2)

    Raises
    ------
    InputError
        A negative category size, or shares so even that the rounded smaller
        grades exceed the category (then the remainder would be negative).
    """
    if units < 0:
        raise InputError(
            N_("a category cannot have %(units)s units"),
            code="grading.unit_count",
            parameters={"units": units},
        )
    largest = max(range(len(scheme.shares)), key=lambda index: (scheme.shares[index], -index))
    counts = [
        0 if index == largest else round_half_up(share * units)
        for index, share in enumerate(scheme.shares)
    ]
    remainder = units - sum(counts)
    if remainder < 0:
        raise InputError(
            N_(
                "scheme %(scheme)r cannot be applied to %(units)s units: the rounded quotas "
                "of the smaller grades (%(quotas)s) exceed the category"
            ),
            code="grading.quotas_exceed_category",
            parameters={"scheme": scheme.name, "units": units, "quotas": sum(counts)},
        )
    counts[largest] = remainder
    return tuple(counts)
