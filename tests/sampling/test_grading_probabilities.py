"""Grade probabilities by Monte Carlo; every expected value worked out by hand.

Monte Carlo standard error with 10,000 draws is at most 0.005; the checks
allow four of them (0.02) where the exact value is not 0 or 1.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sampling.errors import InputError
from sampling.grading import (
    OFFICIALS_15_80_4_1,
    TEAMS_15_80_5,
    GradingRules,
    Robustness,
    UnitStanding,
    grade_category,
    grade_draws,
    grade_probabilities,
    grade_scheme,
)

#: Two grades, half each: of two units one is "top", one "rest".
HALVES = grade_scheme("halves", ("top", "rest"), (1, 1))
TOLERANCE = 4 * 0.005


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def pair(first: float, second: float) -> list[UnitStanding]:
    return [UnitStanding("A", first), UnitStanding("B", second)]


def test_units_far_apart_hold_their_grades_with_certainty() -> None:
    # 90 vs 70 with variance 1 each: P(B above A) = Φ(−20/√2) ≈ 1e-45.
    result = grade_probabilities(pair(90, 70), np.eye(2), HALVES, seed=1)
    assert result.probability("A", "top") == 1.0
    assert result.probability("B", "rest") == 1.0
    assert [unit.robustness for unit in result.units] == [Robustness.ROBUST] * 2
    assert all(unit.robust for unit in result.units)
    assert result.monte_carlo_se == 0.0
    assert result.matrix().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_equal_units_with_symmetric_variance_are_a_coin_toss() -> None:
    result = grade_probabilities(pair(80, 80), 4 * np.eye(2), HALVES, seed=2)
    # Published: tied, both share the better grade; in the draws each is on top half the time.
    assert [unit.grade for unit in result.units] == ["top", "top"]
    for unit in result.units:
        assert unit.grade_probability == pytest.approx(0.5, abs=TOLERANCE)
        assert sum(unit.probabilities) == pytest.approx(1.0)
        assert unit.robustness is Robustness.NOT_ROBUST
    # The two events are complementary in every draw.
    assert result.probability("A", "top") + result.probability("B", "top") == pytest.approx(1.0)
    assert result.monte_carlo_se == pytest.approx(0.005, abs=1e-4)


def test_positive_covariance_sharpens_the_ordering() -> None:
    # A − B ~ N(1, v_A + v_B − 2c): independent (c = 0) Φ(1/√2) = 0.760;
    # correlated (c = 0.5) Φ(1/1) = 0.841. Same margins, different verdict at 0.8.
    independent = grade_probabilities(pair(81, 80), np.eye(2), HALVES, seed=3)
    correlated = grade_probabilities(pair(81, 80), [[1, 0.5], [0.5, 1]], HALVES, seed=3)
    assert independent.probability("A", "top") == pytest.approx(
        phi(1 / math.sqrt(2)), abs=TOLERANCE
    )
    assert correlated.probability("A", "top") == pytest.approx(phi(1.0), abs=TOLERANCE)
    assert independent.units[0].robustness is Robustness.NOT_ROBUST
    assert correlated.units[0].robustness is Robustness.ROBUST
    # A negative covariance blurs it: var(A − B) = 3, Φ(1/√3) = 0.718.
    negative = grade_probabilities(pair(81, 80), [[1, -0.5], [-0.5, 1]], HALVES, seed=3)
    assert negative.probability("A", "top") == pytest.approx(phi(1 / math.sqrt(3)), abs=TOLERANCE)


def test_threshold_is_configurable() -> None:
    result = grade_probabilities(pair(81, 80), np.eye(2), HALVES, seed=3, threshold=0.7)
    assert result.units[0].robustness is Robustness.ROBUST  # 0.760 ≥ 0.7
    assert result.threshold == 0.7


def test_same_seed_same_probabilities_other_seed_other_draws() -> None:
    covariance = [[2.0, 0.3], [0.3, 1.0]]
    first = grade_probabilities(pair(81, 80), covariance, HALVES, seed=11, draws=3_000)
    again = grade_probabilities(pair(81, 80), covariance, HALVES, seed=11, draws=3_000)
    other = grade_probabilities(pair(81, 80), covariance, HALVES, seed=12, draws=3_000)
    assert first == again
    assert first.matrix().tolist() != other.matrix().tolist()
    assert first.draws == 3_000 and first.seed == 11


def test_unrounded_centre_and_rounded_draws_reapply_the_tie_rule() -> None:
    # Published 80 and 80 (tied, both top); the draws stay within ±0.5 of 80
    # (sd 0.1), round to 80 and tie again: both top in every draw.
    standings = pair(80, 80)
    covariance = 0.01 * np.eye(2)
    rounded = grade_probabilities(
        standings, covariance, HALVES, seed=5, estimates=[80.04, 79.97], decimals=0
    )
    assert [unit.grade_probability for unit in rounded.units] == [1.0, 1.0]
    # Unrounded draws never tie: A (centre 80.04) is on top with P = Φ(0.07/(0.1·√2)) = 0.691.
    unrounded = grade_probabilities(standings, covariance, HALVES, seed=5, estimates=[80.04, 79.97])
    assert unrounded.probability("A", "top") == pytest.approx(
        phi(0.07 / (0.1 * math.sqrt(2))), abs=TOLERANCE
    )
    assert unrounded.probability("B", "top") == pytest.approx(1 - unrounded.probability("A", "top"))


def test_bottom_share_is_reapplied_to_every_draw() -> None:
    # 20 teams, quota 3 / 16 / 1; bottom 10 % (2 teams) capped at "third".
    # Scores 200, 195, … ; u18 and u19 tie at 112.5 with sd 0.5, every other
    # team is exact and at least 5 sd away: each of the two is at position 18
    # (bottom → third) or 17 (second) half the time; u20 always last, third.
    scores = [200.0 - 5 * index for index in range(20)]
    scores[17] = scores[18] = 112.5
    standings = [UnitStanding(f"u{index + 1:02d}", score) for index, score in enumerate(scores)]
    covariance = np.zeros((20, 20))
    covariance[17, 17] = covariance[18, 18] = 0.25
    rules = GradingRules(bottom_share="0.10")
    result = grade_probabilities(standings, covariance, TEAMS_15_80_5, rules, seed=6)
    for unit in ("u18", "u19"):
        assert result.probability(unit, "third") == pytest.approx(0.5, abs=TOLERANCE)
        assert result.probability(unit, "second") == pytest.approx(0.5, abs=TOLERANCE)
    assert result.probability("u18", "third") + result.probability("u19", "third") == 1.0
    assert result.probability("u20", "third") == 1.0
    assert result.probability("u17", "second") == 1.0
    assert result.probability("u01", "first") == 1.0
    # Without the rule, position 18 is still "second" by quota.
    plain = grade_probabilities(
        standings, covariance, TEAMS_15_80_5, GradingRules(bottom_share=None), seed=6
    )
    assert plain.probability("u18", "second") == 1.0


def test_vetoed_unit_drops_one_grade_from_its_drawn_quota_grade() -> None:
    # A is far ahead but failed a constraint: quota "top", then one down → "rest",
    # in every draw; B takes no advantage (the quota is a maximum).
    standings = [UnitStanding("A", 90, constraint_failed=True), UnitStanding("B", 70)]
    result = grade_probabilities(standings, np.eye(2), HALVES, seed=7)
    assert result.probability("A", "rest") == 1.0
    assert result.probability("B", "rest") == 1.0
    # Held fixed, not re-drawn: the veto is part of the inputs.
    assert "constraint_veto" in {rule.value for rule in result.fixed_rules}


def test_target_below_threshold_is_held_fixed() -> None:
    # Officials, 4 units: quota 1 excellent, 3 competent; a target at 55 % caps
    # D at basically competent whatever its total.
    standings = [
        UnitStanding("A", 90),
        UnitStanding("B", 85),
        UnitStanding("C", 84),
        UnitStanding("D", 95, lowest_target_completion=0.55),
    ]
    result = grade_probabilities(standings, 4 * np.eye(4), OFFICIALS_15_80_4_1, seed=8)
    assert result.probability("D", "basically_competent") == 1.0
    # Nobody is promoted into D's place: A is excellent only when above D.
    # A − D ~ N(−5, 8): P = Φ(−5/√8) = 0.0385 (A also needs to beat B and C, which it
    # nearly always does when it beats D).
    assert result.probability("A", "excellent") == pytest.approx(
        phi(-5 / math.sqrt(8)), abs=TOLERANCE
    )


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_grading_equals_grade_category(seed: int) -> None:
    """Random categories with ties, tie-breaks and every rule: row by row identical."""
    generator = np.random.default_rng(seed)
    count = int(generator.integers(1, 25))
    scheme = (TEAMS_15_80_5, OFFICIALS_15_80_4_1, HALVES)[seed % 3]
    rules = GradingRules(
        bottom_share=("0.05", "0.10", None)[seed % 3],
        use_tie_break=seed % 2 == 0,
        democratic_bottom_share="0.10",
    )
    standings = []
    for index in range(count):
        valid = int(generator.integers(10, 40))
        standings.append(
            UnitStanding(
                unit=f"u{index}",
                score=0.0,
                tie_break=float(generator.integers(0, 3)),
                democratic_score=float(generator.integers(60, 100)),
                unfavourable_votes=int(generator.integers(0, valid // 2)),
                valid_votes=valid,
                lowest_target_completion=float(generator.choice([0.5, 0.7, 1.0])),
                constraint_failed=bool(generator.random() < 0.15),
            )
        )
    totals = generator.integers(80, 86, size=(200, count)).astype(float)  # many ties
    vectorised = grade_draws(standings, totals, scheme, rules)
    for row in range(totals.shape[0]):
        graded = grade_category(
            [
                replace(standing, score=float(total))
                for standing, total in zip(standings, totals[row], strict=True)
            ],
            scheme,
            rules,
        )
        expected = {unit.unit: scheme.index(unit.grade) for unit in graded.units}
        assert vectorised[row].tolist() == [expected[s.unit] for s in standings]


def test_every_draw_checked_against_grade_category() -> None:
    standings = [UnitStanding(f"u{index}", 80.0 + index % 3) for index in range(12)]
    covariance = np.full((12, 12), 0.3) + 0.7 * np.eye(12)
    result = grade_probabilities(
        standings,
        covariance,
        TEAMS_15_80_5,
        seed=9,
        decimals=0,
        draws=300,
        check_draws=300,
    )
    assert all(sum(unit.probabilities) == pytest.approx(1.0) for unit in result.units)


def test_unit_without_sampling_error_and_a_singular_covariance() -> None:
    # A fixed at 80, B and C perfectly correlated around 81 and 79.
    standings = [UnitStanding("A", 80), UnitStanding("B", 81), UnitStanding("C", 79)]
    covariance = [[0, 0, 0], [0, 1, 1], [0, 1, 1]]
    scheme = grade_scheme("one-in-three", ("top", "rest"), (1, 2))
    result = grade_probabilities(standings, covariance, scheme, seed=10)
    # B tops when B > 80 (C = B − 2 is never above A when B is not): Φ(1) = 0.841.
    assert result.probability("B", "top") == pytest.approx(phi(1.0), abs=TOLERANCE)
    assert result.probability("C", "top") == 0.0


@pytest.mark.parametrize(
    ("covariance", "message"),
    [
        ([[1, 0], [0, 1], [0, 0]], "2×2"),
        ([[1, 0.5], [0, 1]], "symmetric"),
        ([[1, 2], [2, 1]], "positive semi-definite"),
        ([[1, math.nan], [math.nan, 1]], "finite"),
    ],
)
def test_bad_covariance(covariance: list[list[float]], message: str) -> None:
    with pytest.raises(InputError, match=message):
        grade_probabilities(pair(81, 80), covariance, HALVES, seed=1)


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="draws"):
        grade_probabilities(pair(81, 80), np.eye(2), HALVES, seed=1, draws=0)
    with pytest.raises(InputError, match="threshold"):
        grade_probabilities(pair(81, 80), np.eye(2), HALVES, seed=1, threshold=0)
    with pytest.raises(InputError, match="estimates"):
        grade_probabilities(pair(81, 80), np.eye(2), HALVES, seed=1, estimates=[1.0])
    with pytest.raises(InputError, match="appears twice"):
        grade_probabilities([UnitStanding("A", 1), UnitStanding("A", 2)], np.eye(2), HALVES, seed=1)


def test_empty_category() -> None:
    result = grade_probabilities([], np.zeros((0, 0)), TEAMS_15_80_5, seed=1)
    assert result.units == () and result.monte_carlo_se == 0.0


def test_grade_draws_checks_its_array() -> None:
    with pytest.raises(InputError, match="draws × 2"):
        grade_draws(pair(0, 0), np.zeros((3, 3)), HALVES)
    with pytest.raises(InputError, match="not finite"):
        grade_draws(pair(0, 0), [[1.0, math.inf]], HALVES)


def test_a_grading_that_drifts_from_grade_category_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard: if the vectorised grading ever disagrees, nothing is returned."""
    from sampling.grading import probabilities

    def everybody_top(totals: np.ndarray, plan: object) -> np.ndarray:
        return np.zeros(totals.shape, dtype=np.int64)

    monkeypatch.setattr(probabilities, "_grade_rows", everybody_top)
    with pytest.raises(RuntimeError, match="disagrees with grade_category"):
        grade_probabilities(pair(90, 70), np.eye(2), HALVES, seed=1)
