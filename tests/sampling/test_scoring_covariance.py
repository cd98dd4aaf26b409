"""Unit covariances: composites agree with composite_index; sub-score covariance by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.errors import InputError
from sampling.estimation import SurveyDesign
from sampling.satisfaction import composite_index
from sampling.scoring import (
    GroupScore,
    composite_covariance,
    social_recognition_score,
    sub_score_covariance,
    sub_score_covariance_matrix,
)


def long_answers(seed: int) -> tuple[SurveyDesign, np.ndarray, np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    respondents, units, items = 80, ["A", "B", "C"], ["i1", "i2"]
    rows = [(r, u, i) for r in range(respondents) for u in units for i in items]
    respondent = np.array([row[0] for row in rows])
    unit = np.array([row[1] for row in rows], dtype=object)
    item = np.array([row[2] for row in rows], dtype=object)
    # A respondent's mood moves all their answers: positive covariance between units.
    mood = generator.normal(0, 15, respondents)[respondent]
    points = np.clip(70 + mood + generator.normal(0, 10, len(rows)), 0, 100)
    strata = np.where(respondent < 40, "north", "south")
    weights = np.where(respondent < 40, 50.0, 120.0)
    design = SurveyDesign(weights, strata=strata, psu=respondent)
    return design, points, unit, item


def test_composite_covariance_matches_composite_index() -> None:
    design, points, unit, item = long_answers(3)
    weights = {"i1": 0.4, "i2": 0.6}
    reference = composite_index(design, points, unit, item, weights)
    table = design.mean(points, {"unit": unit, "item": item}, covariance=True)
    result = composite_covariance(table, weights)
    assert result.units.tolist() == reference.units.tolist()
    np.testing.assert_allclose(result.estimate, reference.estimate, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(result.covariance)), reference.se, rtol=1e-12)
    np.testing.assert_allclose(result.covariance, result.covariance.T)
    # The shared respondent mood makes every pair positively correlated.
    assert (result.covariance[np.triu_indices(3, 1)] > 0).all()


def test_composite_covariance_needs_the_covariance() -> None:
    design, points, unit, item = long_answers(4)
    table = design.mean(points, {"unit": unit, "item": item})
    with pytest.raises(InputError, match="covariance=True"):
        composite_covariance(table, {"i1": 0.5, "i2": 0.5})


def test_sub_score_covariance_by_hand() -> None:
    weights = {"citizens": 0.6, "deputies": 0.4}
    first = social_recognition_score(
        [GroupScore("citizens", 80, 4.0, 50), GroupScore("deputies", 70, 9.0, 40)], weights
    )
    # The second unit's deputies fall below 30: its citizens weight becomes 1.
    second = social_recognition_score(
        [GroupScore("citizens", 75, 5.0, 50), GroupScore("deputies", 60, 9.0, 20)], weights
    )
    # cov = 0.6·1·1.5 + 0.4·0·2.0 = 0.9.
    assert sub_score_covariance(first, second, {"citizens": 1.5, "deputies": 2.0}) == (
        pytest.approx(0.9)
    )
    matrix = sub_score_covariance_matrix(
        [first, second],
        {
            "citizens": np.array([[4.0, 1.5], [1.5, 5.0]]),
            "deputies": np.array([[9.0, 2.0], [2.0, 9.0]]),
        },
    )
    assert matrix[0, 0] == pytest.approx(first.variance)
    assert matrix[1, 1] == pytest.approx(second.variance)
    assert matrix[0, 1] == pytest.approx(0.9) and matrix[1, 0] == pytest.approx(0.9)
    with pytest.raises(InputError, match="must be 2×2"):
        sub_score_covariance_matrix([first, second], {"citizens": np.eye(3)})
