"""Top-box and don't-know shifts, the z test and the multiple-testing corrections."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sampling.errors import InputError
from sampling.quality import Correction, adjust_p_values, top_box_shift, two_proportion_z


def test_z_matches_chi_square_of_the_two_by_two_table() -> None:
    z, p = two_proportion_z(30, 50, 20, 60)
    chi2, p_chi2, _, _ = stats.chi2_contingency([[30, 20], [20, 40]], correction=False)
    assert float(z) ** 2 == pytest.approx(chi2, rel=1e-12)
    assert float(p) == pytest.approx(p_chi2, rel=1e-12)
    # By hand: pooled 50/110, se = sqrt(5/11 * 6/11 * (1/50 + 1/60)).
    se = math.sqrt(5 / 11 * 6 / 11 * (1 / 50 + 1 / 60))
    assert float(z) == pytest.approx((0.6 - 1 / 3) / se, rel=1e-12)


def test_design_effect_divides_z_by_its_root() -> None:
    z1, _ = two_proportion_z(30, 50, 20, 60)
    z2, p2 = two_proportion_z(30, 50, 20, 60, design_effect=2.0)
    assert float(z2) == pytest.approx(float(z1) / math.sqrt(2.0))
    assert float(p2) == pytest.approx(2 * stats.norm.sf(float(z1) / math.sqrt(2.0)))


def test_no_test_when_a_sample_is_empty_or_the_share_degenerate() -> None:
    z, p = two_proportion_z([0, 5, 0], [0, 5, 5], [3, 5, 0], [10, 5, 5])
    assert np.isnan(z).all() and np.isnan(p).all()


def test_holm_and_bh_match_r_p_adjust() -> None:
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") -> 0.03 0.06 0.06 0.02
    holm = adjust_p_values(p, Correction.HOLM)
    assert holm[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm[4])
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") -> 0.02 0.04 0.04 0.02
    assert adjust_p_values(p, "bh")[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(p, "none")[:4] == pytest.approx(p[:4])


def test_coached_unit_is_flagged_against_last_cycle_and_sisters() -> None:
    result = top_box_shift(
        ["a", "b", "c", "d"],
        ["x", "x", "x", "y"],
        answers=[50, 50, 50, 50],
        top_box=[40, 20, 22, 21],
        dont_know=[2, 5, 5, 5],
        previous_answers=[50, 50, 50, math.nan],
        previous_top_box=[20, 21, 22, math.nan],
        previous_dont_know=[5, 5, 5, math.nan],
    )
    a, _, c, d = result.units
    assert a.top_box_vs_previous.share == pytest.approx(40 / 48)
    assert a.top_box_vs_previous.reference == pytest.approx(20 / 45)
    # Sisters of a: b and c pooled, leave-one-out.
    assert a.top_box_vs_sisters.reference == pytest.approx(42 / 90)
    assert a.top_box_vs_sisters.reference_n == 90
    assert a.dont_know_vs_sisters.reference == pytest.approx(10 / 100)
    z, p = two_proportion_z(40, 48, 20, 45)
    assert a.top_box_vs_previous.z == pytest.approx(float(z))
    # Holm over the three units tested: smallest p times 3.
    assert a.top_box_vs_previous.adjusted_p_value == pytest.approx(3 * float(p))
    assert a.top_box_vs_previous.flagged and a.top_box_vs_sisters.flagged and a.flagged
    assert a.top_box_vs_previous.difference > 0
    assert not c.top_box_vs_previous.flagged
    # d is alone in its category and was not surveyed last cycle: no tests, no flags.
    assert not any(test.tested for _, test in d.tests()) and not d.flagged
    assert a in result.flagged() and d not in result.flagged()
    assert len(result.rows()) == 16
    assert result.correction is Correction.HOLM


def test_without_last_cycle_only_sister_tests_are_made() -> None:
    result = top_box_shift(["a", "b"], ["x", "x"], [40, 40], [30, 10], [0, 0])
    assert not result.units[0].top_box_vs_previous.tested
    assert result.units[0].top_box_vs_sisters.tested


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"top_box": [60, 1]}, "quality.counts_exceed_answers"),
        ({"top_box": [-1, 1]}, "quality.invalid_count"),
        ({"top_box": [1.5, 1]}, "quality.invalid_count"),
        ({"categories": ["x"]}, "quality.length_mismatch"),
        ({"previous_answers": [1, 1]}, "quality.previous_incomplete"),
        ({"alpha": 1.5}, "quality.invalid_alpha"),
        ({"design_effect": 0.0}, "quality.invalid_design_effect"),
        ({"correction": "bonferroni"}, "quality.invalid_choice"),
    ],
)
def test_bad_input_raises_with_a_code(kwargs: dict[str, object], code: str) -> None:
    arguments: dict[str, object] = {
        "units": ["a", "b"],
        "categories": ["x", "x"],
        "answers": [50, 50],
        "top_box": [10, 10],
        "dont_know": [1, 1],
    }
    arguments.update(kwargs)
    with pytest.raises(InputError) as raised:
        top_box_shift(**arguments)  # type: ignore[arg-type]
    assert raised.value.code == code
