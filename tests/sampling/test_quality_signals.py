"""Channel gap, straight-lining and interviewer variance on hand-checkable data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sampling.errors import InputError
from sampling.quality import channel_gap, interviewer_variance, straight_liners, straight_lining

NAN = math.nan


def test_channel_gap_is_welchs_test() -> None:
    prob = [60.0, 80.0, 80.0, 100.0, 60.0]
    qr = [100.0, 100.0, 80.0, 100.0]
    units = ["a"] * 9 + ["b"] * 3
    channels = ["probability"] * 5 + ["open"] * 4 + ["probability", "open", "open"]
    scores = prob + qr + [80.0, NAN, 90.0]
    result = channel_gap(units, channels, scores)
    a, b = result.units
    reference = stats.ttest_ind(qr, prob, equal_var=False)
    assert a.t == pytest.approx(reference.statistic)
    assert a.p_value == pytest.approx(reference.pvalue)
    assert a.gap == pytest.approx(95.0 - 76.0)
    assert (a.probability_n, a.open_n) == (5, 4)
    # b has one answer per channel once the missing score is left out: no test.
    assert (b.probability_n, b.open_n) == (1, 1) and not b.tested and not b.flagged
    # Holm over the one test made: unadjusted.
    assert a.adjusted_p_value == pytest.approx(a.p_value)
    assert a.flagged is (a.p_value <= 0.05)


def test_channel_gap_rejects_an_unknown_channel() -> None:
    with pytest.raises(InputError) as raised:
        channel_gap(["a", "a"], ["probability", "wechat"], [1.0, 2.0])
    assert raised.value.code == "quality.unknown_channel"


def test_straight_liner_count() -> None:
    answers: list[list[float]] = [
        [100, 100, 100, 100, 100],  # straight
        [100, 100, NAN, 100, 100],  # straight on the 4 answered
        [100, 100, NAN, NAN, 100],  # only 3 answered: not eligible
        [80, 100, 100, 100, 100],  # not straight
        [60, 60, 60, 60, 60],  # straight (not top box, still one answer)
    ]
    eligible, straight = straight_liners(answers, min_items=4)
    assert eligible.tolist() == [True, True, False, True, True]
    assert straight.tolist() == [True, True, False, False, True]


def test_straight_lining_binomial_against_the_other_groups() -> None:
    rng = np.random.default_rng(7)
    honest = rng.choice([60.0, 80.0, 100.0], size=(60, 5))
    honest[:6] = 100.0  # 6 honest straight-liners among 60 (by construction)
    coached = np.full((10, 5), 100.0)
    coached[:2, 0] = 80.0  # 8 straight-liners among 10
    groups = ["u1"] * 30 + ["u2"] * 30 + ["u3"] * 10
    answers = np.vstack([honest, coached])
    # Count the straight-liners in the honest random part independently of the library.
    honest_straight = [int((row == row[0]).all()) for row in honest]
    u1 = sum(honest_straight[:30])
    u2 = sum(honest_straight[30:])
    result = straight_lining(groups, answers, min_items=5)
    g1, g2, g3 = result.groups
    assert (g1.straight, g2.straight, g3.straight) == (u1, u2, 8)
    assert g3.reference_straight == u1 + u2 and g3.reference_eligible == 60
    expected = stats.binomtest(8, 10, (u1 + u2) / 60, alternative="greater").pvalue
    assert g3.p_value == pytest.approx(expected)
    assert g3.flagged and not g1.flagged and not g2.flagged
    assert result.overall_share == pytest.approx((u1 + u2 + 8) / 70)


def test_straight_lining_rejects_too_few_items() -> None:
    with pytest.raises(InputError) as raised:
        straight_lining(["a"], [[1.0, 1.0]], min_items=3)
    assert raised.value.code == "quality.invalid_min_items"


def test_rho_of_a_balanced_design_by_hand() -> None:
    # Interviewers A, B, C with answers (1, 3), (4, 6), (7, 9): means 2, 5, 8,
    # grand mean 5. MSB = 2 (9 + 0 + 9) / 2 = 18; MSW = (1 + 1) * 3 / 3 = 2;
    # m0 = 2; rho = (18 - 2) / (18 + 1 * 2) = 0.8; deff = 1 + 0.8 (2 - 1) = 1.8.
    result = interviewer_variance(["A", "A", "B", "B", "C", "C"], [1, 3, 4, 6, 7, 9])
    assert result.between_mean_square == pytest.approx(18.0)
    assert result.within_mean_square == pytest.approx(2.0)
    assert result.rho == pytest.approx(0.8)
    assert result.design_effect == pytest.approx(1.8)
    assert result.mean_workload == 2.0
    assert result.f_statistic == pytest.approx(9.0)
    assert result.f_p_value == pytest.approx(stats.f.sf(9.0, 2, 3))
    # Anomaly of A: mean 2 vs others (4+6+7+9)/4 = 6.5, se = sqrt(2 (1/2 + 1/4)).
    a = result.anomalies[0]
    assert a.others_mean == pytest.approx(6.5)
    assert a.z == pytest.approx((2 - 6.5) / math.sqrt(1.5))


def test_rho_unbalanced_matches_anova_and_missing_scores_are_left_out() -> None:
    labels = ["A"] * 3 + ["B"] * 2 + ["C"] * 4 + ["D"]
    scores = [80.0, 100.0, 90.0, 60.0, 70.0, 100.0, 100.0, 80.0, 100.0, NAN]
    result = interviewer_variance(labels, scores)
    groups = [[80, 100, 90], [60, 70], [100, 100, 80, 100]]
    f, p = stats.f_oneway(*groups)
    assert result.f_statistic == pytest.approx(f)
    assert result.f_p_value == pytest.approx(p)
    n, a = 9, 3
    m0 = (n - (9 + 4 + 16) / n) / (a - 1)
    msb, msw = result.between_mean_square, result.within_mean_square
    assert result.rho == pytest.approx((msb - msw) / (msb + (m0 - 1) * msw))
    assert result.design_effect == pytest.approx(1 + result.rho * (3 - 1))
    assert result.interviewers == 3 and len(result.anomalies) == 3


def test_no_interviewer_effect_gives_rho_near_zero_and_no_flags() -> None:
    rng = np.random.default_rng(11)
    labels = np.repeat(np.arange(20), 25).tolist()
    scores = rng.normal(75, 15, size=500)
    result = interviewer_variance(labels, scores)
    assert abs(result.rho) < 0.05
    assert result.flagged() == ()


def test_interviewer_variance_needs_two_interviewers() -> None:
    with pytest.raises(InputError) as raised:
        interviewer_variance(["A", "A", "A"], [1.0, 2.0, 3.0])
    assert raised.value.code == "quality.too_few_interviewers"
