"""Grading by quota, ties and override rules; each expected grade worked out by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from sampling.errors import InputError
from sampling.grading import (
    OFFICIALS_15_80_4_1,
    TEAMS_15_80_5,
    CategoryGrading,
    GradingRules,
    ReasonCode,
    UnitStanding,
    grade_category,
)


def standings(scores: list[float]) -> list[UnitStanding]:
    return [UnitStanding(f"u{index + 1:02d}", score) for index, score in enumerate(scores)]


def distinct(units: int) -> list[float]:
    """Scores 100, 99, … so that unit uNN sits at position NN."""
    return [100.0 - index for index in range(units)]


def grades(result: CategoryGrading) -> dict[str, str]:
    return {unit.unit: unit.grade for unit in result.units}


def by_unit(result: CategoryGrading, unit: str) -> tuple[str, list[ReasonCode]]:
    graded = next(entry for entry in result.units if entry.unit == unit)
    return graded.grade, [reason.code for reason in graded.reasons]


def test_twenty_teams_by_quota() -> None:
    result = grade_category(standings(distinct(20)), TEAMS_15_80_5)
    assert result.quota == (3, 16, 1)
    expected = {f"u{n:02d}": "first" for n in (1, 2, 3)}
    expected |= {f"u{n:02d}": "second" for n in range(4, 20)}
    expected["u20"] = "third"
    assert grades(result) == expected
    # u20 is also the bottom 5 % (round(1.0) = 1 unit); for teams that cap is the third grade.
    assert by_unit(result, "u20") == ("third", [ReasonCode.QUOTA, ReasonCode.BOTTOM_OF_CATEGORY])
    assert [unit.rank for unit in result.units] == list(range(1, 21))


def test_seven_teams_round_away_the_third_grade() -> None:
    # Quota (1, 6, 0); bottom 5 % of 7 = 0.35 → 0 units, so nobody is capped.
    result = grade_category(standings(distinct(7)), TEAMS_15_80_5)
    assert result.grade_counts() == {"first": 1, "second": 6, "third": 0}
    assert all(
        [reason.code for reason in unit.reasons] == [ReasonCode.QUOTA] for unit in result.units
    )


def test_tie_at_the_top_boundary_shares_the_better_grade() -> None:
    scores = distinct(20)
    scores[3] = scores[2]  # u03 and u04 both 98: positions 3 and 4 straddle the quota of 3
    result = grade_category(standings(scores), TEAMS_15_80_5)
    assert by_unit(result, "u03") == ("first", [ReasonCode.TIE_AT_BOUNDARY])
    assert by_unit(result, "u04") == ("first", [ReasonCode.TIE_AT_BOUNDARY])
    assert by_unit(result, "u05") == ("second", [ReasonCode.QUOTA])
    assert result.grade_counts() == {"first": 4, "second": 15, "third": 1}
    assert [unit.rank for unit in result.units][:5] == [1, 2, 3, 3, 5]


def test_tie_at_the_bottom_boundary_shares_the_better_grade() -> None:
    scores = distinct(20)
    scores[19] = scores[18]  # u19 and u20 tied for the single third-grade place
    result = grade_category(standings(scores), TEAMS_15_80_5)
    assert by_unit(result, "u19") == ("second", [ReasonCode.TIE_AT_BOUNDARY])
    assert by_unit(result, "u20") == ("second", [ReasonCode.TIE_AT_BOUNDARY])
    # Neither is in the bottom 5 %: the tie group straddles that boundary as well.
    assert result.grade_counts() == {"first": 3, "second": 17, "third": 0}


def test_tie_inside_a_grade_is_only_a_shared_rank() -> None:
    scores = distinct(20)
    scores[10] = scores[9]
    result = grade_category(standings(scores), TEAMS_15_80_5)
    assert by_unit(result, "u10") == ("second", [ReasonCode.QUOTA])
    assert by_unit(result, "u11") == ("second", [ReasonCode.QUOTA])
    assert result.grade_counts() == {"first": 3, "second": 16, "third": 1}


def test_tie_break_key_separates_tied_units() -> None:
    scores = distinct(20)
    scores[3] = scores[2]
    # Later units have the larger key: u04 beats u03.
    units = [replace(unit, tie_break=float(index)) for index, unit in enumerate(standings(scores))]
    result = grade_category(units, TEAMS_15_80_5, GradingRules(use_tie_break=True))
    assert by_unit(result, "u04") == ("first", [ReasonCode.QUOTA])
    assert by_unit(result, "u03") == ("second", [ReasonCode.QUOTA])
    assert [unit.unit for unit in result.units][:4] == ["u01", "u02", "u04", "u03"]
    assert result.grade_counts() == {"first": 3, "second": 16, "third": 1}


def test_thirty_four_officials_bottom_five_percent() -> None:
    # Quota (5, 28, 1, 0); bottom 5 % of 34 = 1.7 → 2 units: u33 and u34.
    result = grade_category(standings(distinct(34)), OFFICIALS_15_80_4_1)
    assert result.quota == (5, 28, 1, 0)
    assert by_unit(result, "u32") == ("competent", [ReasonCode.QUOTA])
    assert by_unit(result, "u33") == (
        "basically_competent",
        [ReasonCode.BOTTOM_OF_CATEGORY, ReasonCode.QUOTA],
    )
    assert by_unit(result, "u34") == (
        "basically_competent",
        [ReasonCode.QUOTA, ReasonCode.BOTTOM_OF_CATEGORY],
    )
    assert result.grade_counts() == {
        "excellent": 5,
        "competent": 27,
        "basically_competent": 2,
        "incompetent": 0,
    }


def test_democratic_bottom_two_percent_caps_a_high_total() -> None:
    # 34 officials: 2 % of 34 = 0.68 → 1 unit, the lowest democratic score (u01).
    units = [
        replace(standing, democratic_score=90.0 - (0 if index else 50))
        for index, standing in enumerate(standings(distinct(34)))
    ]
    result = grade_category(units, OFFICIALS_15_80_4_1)
    assert by_unit(result, "u01") == (
        "basically_competent",
        [ReasonCode.DEMOCRATIC_BOTTOM, ReasonCode.QUOTA],
    )
    # Nobody is promoted into the place u01 left: four excellent.
    assert result.grade_counts()["excellent"] == 4
    assert by_unit(result, "u06") == ("competent", [ReasonCode.QUOTA])


def test_quantitative_target_below_sixty_percent() -> None:
    units = standings(distinct(20))
    units[0] = replace(units[0], lowest_target_completion=0.59)
    units[1] = replace(units[1], lowest_target_completion=0.60)  # exactly 60 %: not below
    result = grade_category(units, OFFICIALS_15_80_4_1)
    assert by_unit(result, "u01") == (
        "basically_competent",
        [ReasonCode.TARGET_BELOW_THRESHOLD, ReasonCode.QUOTA],
    )
    assert by_unit(result, "u02") == ("excellent", [ReasonCode.QUOTA])


def test_one_third_rule_is_strictly_above_a_third() -> None:
    units = standings(distinct(20))
    units[0] = replace(units[0], unfavourable_votes=10, valid_votes=30)  # exactly 1/3
    units[1] = replace(units[1], unfavourable_votes=12, valid_votes=34)  # 0.353 > 1/3
    units[5] = replace(units[5], unfavourable_votes=0, valid_votes=0)  # no valid votes
    result = grade_category(units, OFFICIALS_15_80_4_1)
    assert by_unit(result, "u01") == ("excellent", [ReasonCode.QUOTA])
    assert by_unit(result, "u02") == (
        "basically_competent",
        [ReasonCode.ONE_THIRD_RULE, ReasonCode.QUOTA],
    )
    assert by_unit(result, "u06") == ("competent", [ReasonCode.QUOTA])


def test_constraint_veto_drops_one_grade_and_bars_the_top() -> None:
    units = standings(distinct(20))
    for index in (0, 9, 19):  # u01 first, u10 second, u20 third by quota
        units[index] = replace(units[index], constraint_failed=True)
    result = grade_category(units, TEAMS_15_80_5)
    assert by_unit(result, "u01") == ("second", [ReasonCode.CONSTRAINT_VETO, ReasonCode.QUOTA])
    assert by_unit(result, "u10") == ("third", [ReasonCode.CONSTRAINT_VETO, ReasonCode.QUOTA])
    # Already in the lowest grade: it stays there, the veto is still recorded.
    assert by_unit(result, "u20") == (
        "third",
        [ReasonCode.QUOTA, ReasonCode.BOTTOM_OF_CATEGORY, ReasonCode.CONSTRAINT_VETO],
    )
    assert by_unit(result, "u04") == ("second", [ReasonCode.QUOTA])
    assert result.grade_counts() == {"first": 2, "second": 16, "third": 2}


def test_veto_and_one_third_rule_together() -> None:
    units = standings(distinct(20))
    units[4] = replace(
        units[4], constraint_failed=True, unfavourable_votes=20, valid_votes=40
    )  # competent by quota → one down = basically competent; the cap agrees
    result = grade_category(units, OFFICIALS_15_80_4_1)
    assert by_unit(result, "u05") == (
        "basically_competent",
        [ReasonCode.ONE_THIRD_RULE, ReasonCode.CONSTRAINT_VETO, ReasonCode.QUOTA],
    )


def test_rules_can_be_switched_off() -> None:
    units = standings(distinct(34))
    units[0] = replace(units[0], constraint_failed=True, lowest_target_completion=0.1)
    rules = GradingRules(bottom_share=None, target_threshold=None, constraint_veto=False)
    result = grade_category(units, OFFICIALS_15_80_4_1, rules)
    assert by_unit(result, "u01") == ("excellent", [ReasonCode.QUOTA])
    assert by_unit(result, "u33") == ("competent", [ReasonCode.QUOTA])


@pytest.mark.parametrize(
    ("change", "rules", "message"),
    [
        ({"unit": "u01"}, GradingRules(), "'u01' appears twice"),
        ({"score": math.nan}, GradingRules(), "score is not a finite number"),
        ({"unfavourable_votes": 5, "valid_votes": 4}, GradingRules(), "impossible"),
        ({"unfavourable_votes": 5}, GradingRules(), "both unfavourable and valid"),
        ({}, GradingRules(use_tie_break=True), "tie-break key but it is missing"),
    ],
)
def test_bad_standings_are_rejected(
    change: dict[str, object], rules: GradingRules, message: str
) -> None:
    units = standings(distinct(5))
    units[1] = replace(units[1], **change)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        grade_category(units, TEAMS_15_80_5, rules)
