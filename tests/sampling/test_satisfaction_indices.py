"""Satisfaction indices, composite, differences, rank intervals, key drivers."""

from __future__ import annotations

import numpy as np
import pytest

from sampling.errors import InputError
from sampling.estimation import SurveyDesign
from sampling.satisfaction import (
    DontKnow,
    Scale,
    composite_index,
    key_drivers,
    pairwise_differences,
    rank_intervals,
    satisfaction_indices,
    unit_difference,
)


def test_index_rate_and_dont_know_by_hand() -> None:
    answers = np.array(["很满意", "满意", "不满意", "不了解", "基本满意", "不太满意"])
    unit = np.array(["A", "A", "A", "A", "B", "B"])
    design = SurveyDesign(np.ones(6))
    table = satisfaction_indices(design, answers, {"unit": unit})
    # A: points 100, 80, 0 -> 60; rate 2/3 (don't know excluded); dk share 1/4
    assert table.index.estimate.tolist() == pytest.approx([60.0, 45.0])
    assert table.rate.estimate.tolist() == pytest.approx([2 / 3, 0.5])
    assert table.dont_know_share.tolist() == pytest.approx([0.25, 0.0])
    counted = satisfaction_indices(
        design, answers, {"unit": unit}, dont_know=DontKnow.COUNT_IN_BASE
    )
    assert counted.rate.estimate.tolist() == pytest.approx([0.5, 0.5])
    assert counted.index.estimate.tolist() == pytest.approx([60.0, 45.0])
    with pytest.raises(InputError, match="row 1"):
        satisfaction_indices(design, np.array(["好"] * 6), {"unit": unit})
    assert Scale.LINEAR.points["满意"] == 75.0
    assert Scale.FOUR_LEVEL.satisfied == frozenset({"满意", "基本满意"})


@pytest.fixture
def long_format() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    respondents = 300
    respondent = np.repeat(np.arange(respondents), 3)
    unit = np.tile(np.array(["A", "B", "C"]), respondents)
    mood = np.repeat(rng.normal(0, 15, respondents), 3)  # shared respondent effect
    score = np.clip(
        60 + mood + np.tile([10.0, 0.0, -5.0], respondents) + rng.normal(0, 10, 900), 0, 100
    )
    return {"respondent": respondent, "unit": unit, "score": score, "weight": np.ones(900)}


def test_difference_uses_covariance(long_format: dict[str, np.ndarray]) -> None:
    d = long_format
    design = SurveyDesign(d["weight"], psu=d["respondent"])
    table = design.mean(d["score"], {"unit": d["unit"]}, covariance=True)
    assert table.covariance is not None
    diff = unit_difference(table, 0, 1)
    naive = np.sqrt(table.se[0] ** 2 + table.se[1] ** 2)
    assert diff.se < naive  # positive covariance from shared respondents
    paired = d["score"][d["unit"] == "A"] - d["score"][d["unit"] == "B"]
    # Paired-difference SE (with replacement, n/(n-1) scaling) is what linearisation gives.
    assert diff.se == pytest.approx(paired.std(ddof=1) / np.sqrt(len(paired)), rel=1e-9)
    result = pairwise_differences(table, method="holm")
    assert len(result.differences) == 3 and result.reject.all()
    ranks = rank_intervals(table, generator=np.random.default_rng(1), draws=2000)
    assert ranks.rank.tolist() == [1, 2, 3]
    assert (ranks.low <= ranks.rank).all() and (ranks.rank <= ranks.high).all()
    bonferroni = rank_intervals(table, method="bonferroni")
    assert bonferroni.low.tolist() == [1, 2, 3] and bonferroni.high.tolist() == [1, 2, 3]
    with pytest.raises(InputError, match="Generator"):
        rank_intervals(table)


def test_composite_matches_linear_combination(long_format: dict[str, np.ndarray]) -> None:
    d = long_format
    item = np.where(np.arange(900) % 2 == 0, "style", "service")
    design = SurveyDesign(d["weight"], psu=d["respondent"])
    comp = composite_index(design, d["score"], d["unit"], item, {"style": 0.4, "service": 0.6})
    table = design.mean(d["score"], {"unit": d["unit"], "item": item}, covariance=True)
    means = dict(
        zip(
            zip(*[k.tolist() for k in table.domains.keys], strict=True), table.estimate, strict=True
        )
    )
    assert comp.estimate[0] == pytest.approx(
        0.4 * means[("A", "style")] + 0.6 * means[("A", "service")]
    )
    with pytest.raises(InputError, match="sum to 1"):
        composite_index(design, d["score"], d["unit"], item, {"style": 0.5, "service": 0.6})


def test_key_drivers_find_the_strong_item() -> None:
    rng = np.random.default_rng(3)
    n = 400
    style = rng.uniform(20, 100, n)
    service = rng.uniform(60, 100, n)
    overall = 0.7 * style + 0.1 * service + rng.normal(0, 3, n)
    units = np.array(["U1", "U2"])[np.arange(n) % 2]
    result = key_drivers(
        overall, {"style": style, "service": service}, np.ones(n), units, cluster=np.arange(n)
    )
    assert result.coefficient[0] == pytest.approx(0.7, abs=0.05)
    assert result.fix_first == {"U1": "style", "U2": "style"}
