"""Democratic-evaluation tallies and how they feed officials' grades; worked by hand."""

from __future__ import annotations

import pytest

from sampling.errors import InputError
from sampling.grading import (
    OFFICIALS_15_80_4_1,
    ReasonCode,
    UnitStanding,
    Vote,
    grade_category,
    tally,
)


def test_tally_excludes_dont_know_from_the_valid_votes() -> None:
    result = tally(
        {
            "excellent": 10,
            "competent": 14,
            "basically_competent": 4,
            "incompetent": 2,
            "dont_know": 5,
        }
    )
    assert (result.ballots, result.valid_votes, result.unfavourable_votes) == (35, 30, 6)
    assert result.shares[Vote.EXCELLENT] == pytest.approx(10 / 30)
    # (10·100 + 14·80 + 4·60 + 2·0) / 30 = 2360 / 30.
    assert result.score == pytest.approx(2360 / 30)
    assert not result.above_one_third  # 6/30 = 0.2


def test_one_third_is_exact() -> None:
    assert not tally({"competent": 20, "basically_competent": 10}).above_one_third  # 10/30
    assert tally({"competent": 19, "incompetent": 10}).above_one_third  # 10/29
    empty = tally({"dont_know": 3})
    assert empty.score is None and not empty.above_one_third and empty.valid_votes == 0


def test_bad_tallies() -> None:
    with pytest.raises(InputError, match="unknown ballot option 'abstain'"):
        tally({"abstain": 1})
    with pytest.raises(InputError, match="negative"):
        tally({"competent": -1})


def test_ballots_feed_the_officials_grades() -> None:
    # Twenty officials ranked by democratic score 100, 99, …; quota (3, 16, 1, 0).
    # o02 has 11 unfavourable of 30 valid votes (> 1/3): at most basically competent.
    standings = []
    for index in range(20):
        votes = {"competent": 30} if index != 1 else {"competent": 19, "basically_competent": 11}
        result = tally(votes)
        standings.append(
            UnitStanding(
                f"o{index + 1:02d}",
                100.0 - index,
                democratic_score=100.0 - index,
                unfavourable_votes=result.unfavourable_votes,
                valid_votes=result.valid_votes,
            )
        )
    graded = {unit.unit: unit for unit in grade_category(standings, OFFICIALS_15_80_4_1).units}
    assert graded["o02"].grade == "basically_competent"
    assert graded["o02"].reasons[0].code is ReasonCode.ONE_THIRD_RULE
    assert graded["o01"].grade == "excellent"
    # Bottom 2 % of 20 = 0.4 → 0 officials; bottom 5 % = 1 → o20, already basically competent.
    assert graded["o20"].grade == "basically_competent"
    assert [reason.code for reason in graded["o20"].reasons] == [
        ReasonCode.QUOTA,
        ReasonCode.BOTTOM_OF_CATEGORY,
    ]
