"""Quota counts and rounding, every expected count worked out by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from sampling.errors import InputError
from sampling.grading import (
    AWARDS_3_5_2,
    OFFICIALS_15_80_4_1,
    TEAMS_15_80_5,
    grade_scheme,
    quota_counts,
    round_half_up,
    round_score,
)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        # 0.15 × 7 = 1.05 → 1; 0.05 × 7 = 0.35 → 0; second grade takes 7 − 1 = 6.
        (7, (1, 6, 0)),
        # 0.15 × 20 = 3; 0.05 × 20 = 1; 20 − 4 = 16.
        (20, (3, 16, 1)),
        # 0.15 × 34 = 5.1 → 5; 0.05 × 34 = 1.7 → 2; 34 − 7 = 27.
        (34, (5, 27, 2)),
        # 0.15 × 10 = 1.5 → 2 and 0.05 × 10 = 0.5 → 1 (half up, not half to even).
        (10, (2, 7, 1)),
        (0, (0, 0, 0)),
        (1, (0, 1, 0)),
    ],
)
def test_team_quota_counts(units: int, expected: tuple[int, ...]) -> None:
    assert quota_counts(TEAMS_15_80_5, units) == expected


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        # 3, 0.04 × 20 = 0.8 → 1, 0.01 × 20 = 0.2 → 0, remainder 16.
        (20, (3, 16, 1, 0)),
        # 5.1 → 5, 1.36 → 1, 0.34 → 0, remainder 28.
        (34, (5, 28, 1, 0)),
        # 7.5 → 8, 2, 0.5 → 1, remainder 39.
        (50, (8, 39, 2, 1)),
    ],
)
def test_official_quota_counts(units: int, expected: tuple[int, ...]) -> None:
    assert quota_counts(OFFICIALS_15_80_4_1, units) == expected


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        # 3:5:2 of 7: 2.1 → 2, 1.4 → 1, the middle grade takes 4.
        (7, (2, 4, 1)),
        # of 34: 10.2 → 10, 6.8 → 7, remainder 17.
        (34, (10, 17, 7)),
        # of 20: 6, 4, remainder 10.
        (20, (6, 10, 4)),
    ],
)
def test_award_quota_counts(units: int, expected: tuple[int, ...]) -> None:
    assert quota_counts(AWARDS_3_5_2, units) == expected


def test_custom_ratio_in_decimals_equals_the_integer_ratio() -> None:
    decimal = grade_scheme("custom", ("a", "b", "c"), (0.15, 0.8, 0.05))
    assert decimal.shares == (Fraction(3, 20), Fraction(4, 5), Fraction(1, 20))
    assert quota_counts(decimal, 10) == (2, 7, 1)
    # 1:2:1 of 6: 1.5 → 2, 1.5 → 2, the middle (largest) grade takes 2.
    even = grade_scheme("even", ("a", "b", "c"), (1, 2, 1))
    assert quota_counts(even, 6) == (2, 2, 2)


def test_restricted_grade_defaults() -> None:
    assert OFFICIALS_15_80_4_1.restricted_grade == "basically_competent"
    assert TEAMS_15_80_5.restricted_grade == "third"


def test_round_half_up_is_not_bankers_rounding() -> None:
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(-5, 2)) == -3
    assert round_half_up(Fraction(7, 20)) == 0
    assert round_score(84.125, 2) == 84.13
    # The double nearest 2.675 is 2.67499…; round() gives 2.67, a person writes 2.68.
    assert round(2.675, 2) == 2.67
    assert round_score(2.675, 2) == 2.68


@pytest.mark.parametrize(
    ("grades", "shares", "message"),
    [
        (("a",), (1,), "at least two grades"),
        (("a", "a"), (1, 1), "duplicate"),
        (("a", "b"), (1,), "1 shares given for 2 grades"),
        (("a", "b"), (1, 0), "grade 'b' must be positive"),
        (("a", "b"), ("x", 1), "not a number"),
    ],
)
def test_bad_schemes_are_rejected(
    grades: tuple[str, ...], shares: tuple[object, ...], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        grade_scheme("bad", grades, shares)  # type: ignore[arg-type]


def test_negative_category_is_rejected() -> None:
    with pytest.raises(InputError, match="-1 units"):
        quota_counts(TEAMS_15_80_5, -1)
