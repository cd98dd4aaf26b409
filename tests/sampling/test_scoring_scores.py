"""Social-recognition sub-score, overall score, ranking and neighbours; worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sampling.errors import InputError
from sampling.scoring import (
    ComponentScore,
    GroupScore,
    neighbour_comparisons,
    overall_score,
    rank_units,
    social_recognition_score,
)

Z95 = 1.959963984540054
WEIGHTS = {"citizens": 0.5, "recipients": 0.2, "deputies": 0.2, "leaders": 0.1}


def groups(leaders_responses: int) -> list[GroupScore]:
    return [
        GroupScore("citizens", 80.0, 4.0, 100),
        GroupScore("recipients", 70.0, 9.0, 40),
        GroupScore("deputies", 90.0, 1.0, 35),
        GroupScore("leaders", 60.0, 16.0, leaders_responses),
    ]


def test_sub_score_without_redistribution() -> None:
    score = social_recognition_score(groups(30), WEIGHTS)
    # 0.5·80 + 0.2·70 + 0.2·90 + 0.1·60 = 78; variance .25·4 + .04·9 + .04·1 + .01·16 = 1.56.
    assert score.estimate == pytest.approx(78.0, abs=1e-12)
    assert score.variance == pytest.approx(1.56, abs=1e-12)
    assert score.ci_low == pytest.approx(78.0 - Z95 * math.sqrt(1.56), abs=1e-9)
    assert not score.redistributed


def test_group_below_minimum_is_flagged_and_its_weight_redistributed() -> None:
    score = social_recognition_score(groups(29), WEIGHTS)
    # Leaders (29 < 30) drop out; the others get 0.5/0.9, 0.2/0.9, 0.2/0.9:
    # (40 + 14 + 18) / 0.9 = 80; variance (25·4 + 4·9 + 4·1) / 81 = 140/81.
    assert score.estimate == pytest.approx(80.0, abs=1e-12)
    assert score.variance == pytest.approx(140 / 81, abs=1e-12)
    assert score.se == pytest.approx(math.sqrt(140 / 81), abs=1e-12)
    assert score.redistributed
    parts = {part.group: part for part in score.contributions}
    assert parts["leaders"].below_minimum and parts["leaders"].effective_weight == 0
    assert parts["citizens"].effective_weight == pytest.approx(5 / 9, abs=1e-15)


def test_missing_group_counts_as_no_responses() -> None:
    score = social_recognition_score(groups(30)[:3], WEIGHTS)
    assert score.estimate == pytest.approx(80.0, abs=1e-12)
    assert [part.group for part in score.contributions if part.below_minimum] == ["leaders"]


def test_no_group_meets_the_minimum() -> None:
    score = social_recognition_score(groups(30), WEIGHTS, minimum_responses=500)
    assert not score.available
    assert score.estimate is None and score.ci_low is None
    assert all(part.below_minimum for part in score.contributions)


@pytest.mark.parametrize(
    ("scores", "weights", "message"),
    [
        (groups(30), {**WEIGHTS, "leaders": 0.0}, "weights sum to 0.9"),
        (groups(30), {**WEIGHTS, "leaders": -0.1, "citizens": 0.7}, "must be 0 or more"),
        ([*groups(30), GroupScore("others", 50.0, 1.0, 50)], WEIGHTS, "'others' has no weight"),
        ([*groups(30), GroupScore("leaders", 50.0, 1.0, 50)], WEIGHTS, "given twice"),
        ([GroupScore("citizens", 50.0, -1.0, 50)], WEIGHTS, "variance -1.0 is invalid"),
        ([GroupScore("citizens", math.nan, 1.0, 50)], WEIGHTS, "not a finite number"),
    ],
)
def test_bad_sub_score_input(
    scores: list[GroupScore], weights: dict[str, float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        social_recognition_score(scores, weights)


COMPONENT_WEIGHTS = {"routine": 0.2, "annual": 0.45, "building": 0.2, "social": 0.15}


def components(*, vetoed: bool = False) -> list[ComponentScore]:
    return [
        ComponentScore("routine", 90.0),
        ComponentScore("annual", 80.0, vetoed=vetoed),
        ComponentScore("building", 85.0),
        ComponentScore("social", 78.0, variance=1.56),
    ]


def test_overall_score_county_scheme() -> None:
    total = overall_score(components(), COMPONENT_WEIGHTS)
    # 18 + 36 + 17 + 11.7 = 82.7; variance 0.15² · 1.56 = 0.0351.
    assert total.estimate == pytest.approx(82.7, abs=1e-12)
    assert total.variance == pytest.approx(0.0351, abs=1e-15)
    assert total.ci_high == pytest.approx(82.7 + Z95 * math.sqrt(0.0351), abs=1e-9)


def test_vetoed_component_scores_zero() -> None:
    total = overall_score(components(vetoed=True), COMPONENT_WEIGHTS)
    assert total.estimate == pytest.approx(46.7, abs=1e-12)
    annual = next(part for part in total.contributions if part.component == "annual")
    assert annual.vetoed and annual.score == 0.0 and annual.contribution == 0.0


def test_missing_components_are_all_listed() -> None:
    with pytest.raises(InputError, match="missing weighted components: routine, building"):
        overall_score(components()[1:2] + components()[3:], COMPONENT_WEIGHTS)


def test_rank_with_ties_and_change() -> None:
    ranked = rank_units(
        {"a": 90.0, "b": 85.0, "c": 85.0, "d": 70.0},
        previous_ranks={"a": 2, "b": 1, "d": 3},
        previous_scores={"a": 88.5},
    )
    assert [(unit.unit, unit.rank, unit.rank_change) for unit in ranked] == [
        ("a", 1, 1),
        ("b", 2, -1),
        ("c", 2, None),
        ("d", 4, -1),
    ]
    assert ranked[0].score_change == pytest.approx(1.5)


def test_neighbours_use_the_covariance() -> None:
    units = ["A", "B", "C"]
    estimates = [80.0, 78.5, 70.0]
    correlated = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 1.0]])
    first, second = neighbour_comparisons(
        units, estimates, correlated, grades=["first", "second", "second"]
    )
    # A − B = 1.5, se √(1 + 1 − 1.6) = √0.4: 1.5 − 1.96·0.632 = 0.26 > 0.
    assert first.se == pytest.approx(math.sqrt(0.4), abs=1e-12)
    assert first.distinguishable and first.at_grade_boundary
    # B − C = 8.5, se √2: distinguishable, same grade.
    assert second.distinguishable and not second.at_grade_boundary
    # Independent estimates: se √2, 1.5 − 1.96·1.414 < 0: indistinguishable.
    independent, _ = neighbour_comparisons(units, estimates, np.eye(3))
    assert not independent.distinguishable
    assert (independent.higher, independent.lower) == ("A", "B")


def test_neighbours_reject_a_wrong_covariance_shape() -> None:
    with pytest.raises(InputError, match="finite 2×2 matrix"):
        neighbour_comparisons(["A", "B"], [1.0, 2.0], np.eye(3))
