"""Weighting: raking reproduces margins, trimming, nonresponse, Kish; error cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.errors import ConvergenceError, DesignError, InputError
from sampling.weighting import (
    Margin,
    adjust_for_nonresponse,
    effective_sample_size,
    poststratify,
    rake,
    trim_weights,
    weighting_design_effect,
)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 200))
def test_raking_reproduces_every_margin(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    sex = np.array(["F", "M"])[np.arange(n) % 2]
    age = np.array(["a", "b", "c"])[np.arange(n) % 3]
    rng.shuffle(age)
    weights = rng.uniform(1, 5, n)
    totals_sex = {"F": 520.0, "M": 480.0}
    totals_age = {"a": 300.0, "b": 450.0, "c": 250.0}
    result = rake(weights, [Margin("sex", sex, totals_sex), Margin("age", age, totals_age)])
    for labels, totals in ((sex, totals_sex), (age, totals_age)):
        for level, total in totals.items():
            assert result.weights[labels == level].sum() == pytest.approx(total, rel=1e-9)


def test_inconsistent_margins_and_non_convergence() -> None:
    sex = np.array(["F", "M", "F", "M"])
    age = np.array(["a", "a", "b", "b"])
    with pytest.raises(DesignError, match="disagree"):
        rake(
            np.ones(4), [Margin("sex", sex, {"F": 5, "M": 5}), Margin("age", age, {"a": 1, "b": 1})]
        )
    # F only in a, M only in b: margins F=8,M=2 vs a=2,b=8 cannot both hold.
    with pytest.raises(ConvergenceError, match="did not converge"):
        rake(
            np.ones(4),
            [
                Margin("sex", np.array(["F", "F", "M", "M"]), {"F": 8, "M": 2}),
                Margin("age", np.array(["a", "a", "b", "b"]), {"a": 2, "b": 8}),
            ],
            max_iterations=50,
        )
    with pytest.raises(InputError, match="no population total"):
        poststratify(np.ones(3), np.array(["x", "y", "z"]), {"x": 1, "y": 2})
    with pytest.raises(DesignError, match="no sampled weight"):
        poststratify(np.ones(2), np.array(["x", "y"]), {"x": 1, "y": 2, "z": 3})


def test_trimming_keeps_total_and_bounds() -> None:
    weights = np.array([1.0, 1, 1, 1, 20])
    result = trim_weights(weights, upper=6.0)
    assert result.weights.sum() == pytest.approx(24.0)
    assert result.weights.max() <= 6.0 + 1e-9
    assert result.trimmed.tolist() == [False, False, False, False, True]
    with pytest.raises(DesignError):
        trim_weights(weights, upper=2.0)


def test_nonresponse_and_kish() -> None:
    result = adjust_for_nonresponse([2.0, 2, 4, 4], [True, False, True, True], ["a", "a", "b", "b"])
    assert result.weights.tolist() == [4.0, 0.0, 4.0, 4.0]
    with pytest.raises(DesignError, match="no respondent"):
        adjust_for_nonresponse([1.0, 1], [False, True], ["a", "b"])
    # (1+1+2)^2 / (1+1+4) = 16/6; deff_w = 3*6/16
    assert effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6)
    assert weighting_design_effect([1, 1, 2]) == pytest.approx(18 / 16)
    with pytest.raises(InputError, match="row 2"):
        effective_sample_size([1, -1])
