"""Sample size and allocation against textbook values."""

from __future__ import annotations

from fractions import Fraction

import pytest

from sampling.design import AllocationMethod, StratumSpec, allocate, largest_remainder
from sampling.design.size import per_unit_requirement, required_sample_size
from sampling.errors import DesignError, InputError


def test_known_sample_sizes_385_and_370() -> None:
    # Cochran (1977) §4.4: n0 = z²PQ/d² = 1.96²·0.25/0.05² = 384.15 → 385;
    # with N = 10 000, n = n0 / (1 + (n0 − 1)/N) = 369.97 → 370.
    assert required_sample_size(0.05, 0.95).n == 385
    result = required_sample_size(0.05, 0.95, population=10_000)
    assert result.n == 370
    assert result.n0 == pytest.approx(384.14588, rel=1e-6)
    assert result.n_fpc == pytest.approx(369.9706, rel=1e-6)


def test_design_effect_and_response_rate_round_up() -> None:
    result = required_sample_size(0.05, 0.95, design_effect=1.5, response_rate=0.4)
    assert result.completes == 577  # ceil(384.146 × 1.5)
    # Issued = ceil(completes / response rate) = ceil(577 / 0.4) = ceil(1442.5):
    # 1441 (from the unrounded 576.2 / 0.4 = 1440.5) would be expected to
    # yield only 576.4 completes, fewer than the 577 asked for.
    assert result.n == 1443
    assert result.n * 0.4 >= result.completes
    # An exact quotient is not rounded up: 385 / 0.5 = 770.
    assert required_sample_size(0.05, 0.95, response_rate=0.5).n == 770


def test_mean_cochran_form() -> None:
    # n0 = (z S / e)²: S = 20 points, e = 2 points, 95 % → 384.15 → 385; with
    # N = 1000, n = n0 / (1 + n0/N) = 277.6 → 278 (Cochran 1977 eq. 4.1).
    assert required_sample_size(2.0, 0.95, standard_deviation=20.0).n == 385
    assert required_sample_size(2.0, 0.95, standard_deviation=20.0, population=1000).n == 278


def test_per_unit_requirement() -> None:
    requirement = per_unit_requirement(40, 0.1, 0.95, response_rate=0.5)
    assert requirement.per_unit.completes == 97  # 1.96²/4/0.01 = 96.04
    assert requirement.per_unit.n == 194  # ceil(97 / 0.5), not ceil(96.04 / 0.5)
    assert requirement.total_completes == 40 * 97
    assert requirement.total_issued == 40 * 194


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"margin": 0.0}, "margin"),
        ({"margin": 0.05, "confidence": 1.0}, "confidence"),
        ({"margin": 0.05, "proportion": 1.5}, "p"),
        ({"margin": 0.05, "response_rate": 0.0}, "response-rate"),
        ({"margin": 0.05, "population": 0}, "population"),
    ],
)
def test_size_bad_parameters_name_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as error:
        required_sample_size(**kwargs)  # type: ignore[arg-type]
    assert error.value.column == field


def test_neyman_allocation_textbook() -> None:
    # Cochran (1977) §5.5, eq. 5.60: n_h = n N_h S_h / Σ N_h S_h.  Three strata
    # with N = (1000, 2000, 3000), S = (10, 5, 2): N_h S_h = (10 000, 10 000,
    # 6 000), Σ = 26 000; n = 260 gives exactly (100, 100, 60).
    strata = [StratumSpec("a", 1000, 10), StratumSpec("b", 2000, 5), StratumSpec("c", 3000, 2)]
    assert allocate(strata, 260, "neyman").sample_size == (100, 100, 60)
    # Cost-optimal (eq. 5.58): weights N_h S_h / √c_h with c = (4, 1, 1) give
    # (5000, 10 000, 6000), Σ = 21 000; n = 210 → (50, 100, 60).
    costed = [
        StratumSpec(s.name, s.population, s.standard_deviation, c)
        for s, c in zip(strata, (4.0, 1.0, 1.0), strict=True)
    ]
    assert allocate(costed, 210, AllocationMethod.OPTIMAL).sample_size == (50, 100, 60)


def test_neyman_over_allocation_takes_census_and_reallocates() -> None:
    # Cochran (1977) §5.9: a stratum whose Neyman share exceeds N_h is taken
    # whole and the rest re-allocated: a's share 400·(50·100)/(50·100+1000·1)
    # = 333 > 50, so a = 50 and b gets the other 350.
    strata = [StratumSpec("a", 50, 100.0), StratumSpec("b", 1000, 1.0)]
    assert allocate(strata, 400, "neyman").sample_size == (50, 350)


def test_proportional_largest_remainder_and_minimum() -> None:
    strata = [StratumSpec("a", 100), StratumSpec("b", 50), StratumSpec("c", 5)]
    assert allocate(strata, 31, "proportional").sample_size == (20, 10, 1)
    # minimum 10: c is capped at its 5 units, a and b share 55 in ratio 2:1.
    assert allocate(strata, 60, "proportional", minimum=10).sample_size == (37, 18, 5)
    assert allocate(strata, 30, "equal").sample_size == (13, 12, 5)
    assert sum(allocate(strata, 155, "equal").sample_size) == 155


def test_neyman_ties_are_decided_in_exact_arithmetic() -> None:
    # Issue #23: N = (400, 300, 200, 100), S = (10, 20, 30, 5), c = (1, 4, 9, 1),
    # n = 120, Neyman: N_h S_h = (4000, 6000, 6000, 500), Σ = 16 500, quotas
    # 120·N_h S_h/Σ = (29 1/11, 43 7/11, 43 7/11, 3 7/11).  Floors add up to 118;
    # B, C and D tie exactly at 7/11, so the two missing units go to the first
    # two listed: (29, 44, 44, 3).  In floating point 3.6363… has a larger
    # fractional part than 43.6363…, which gave D a unit that was C's.
    strata = [
        StratumSpec("A", 400, 10.0, 1.0),
        StratumSpec("B", 300, 20.0, 4.0),
        StratumSpec("C", 200, 30.0, 9.0),
        StratumSpec("D", 100, 5.0, 1.0),
    ]
    assert allocate(strata, 120, AllocationMethod.NEYMAN).sample_size == (29, 44, 44, 3)
    # The same through float quotas shows why exactness matters.
    quotas = [120 * w / 16_500 for w in (4000, 6000, 6000, 500)]
    assert quotas[3] - 3 > quotas[2] - 43
    # Cost-optimal on the same strata (c = 1, 4, 9, 1 have exact square roots):
    # weights (4000, 3000, 2000, 500), Σ = 9500, n = 95 → (40, 30, 20, 5) exactly.
    assert allocate(strata, 95, AllocationMethod.OPTIMAL).sample_size == (40, 30, 20, 5)
    # With a minimum of 10, D (3.64 < 10) is held at 10 and the other 110 units
    # go to A–C in ratio 4:6:6 = (27.5, 41.25, 41.25): floors add up to 119 and
    # the last unit goes to A's remainder 1/2.
    assert allocate(strata, 120, "neyman", minimum=10).sample_size == (28, 41, 41, 10)


def test_largest_remainder_hamilton() -> None:
    # Hamilton's method: floors (2, 3, 4) add up to 9; the one missing seat
    # goes to the largest remainder, 0.4.
    assert largest_remainder([2.4, 3.3, 4.3], 10).tolist() == [3, 3, 4]
    # Exact quotas: equal remainders tie exactly and go to the first listed.
    assert largest_remainder(
        [Fraction(1, 3), Fraction(100, 3), Fraction(1, 3) + 66], 100
    ).tolist() == [1, 33, 66]


def test_allocation_errors_name_the_problem() -> None:
    strata = [StratumSpec("a", 10), StratumSpec("b", 20)]
    with pytest.raises(DesignError, match="exceeds the population"):
        allocate(strata, 31, "proportional")
    with pytest.raises(DesignError, match="stratum 'b'"):
        allocate(strata, 15, "proportional", minimum=10)
    with pytest.raises(InputError, match="standard deviation"):
        allocate(strata, 5, "neyman")


def test_exact_breakpoint_walk_agrees_with_the_fast_path() -> None:
    # allocate() solves λ from a float bisection and checks it exactly; the
    # rational walk over the breakpoints is its fallback.  Both must give the
    # same λ wherever the fast path answers.
    import numpy as np

    from sampling.design.allocation import _solve_lambda_exact, _solve_lambda_float

    rng = np.random.default_rng(7)
    for _ in range(200):
        k = int(rng.integers(2, 30))
        w = [int(v) for v in rng.integers(1, 1000, k)]
        hi = [int(v) for v in rng.integers(1, 200, k)]
        lo = [min(int(v), h) for v, h in zip(rng.integers(0, 20, k), hi, strict=True)]
        target = int(rng.integers(sum(lo), sum(hi)))
        exact = _solve_lambda_exact(w, lo, hi, target)
        fast = _solve_lambda_float(w, lo, hi, target)
        quotas = [min(max(exact * v, a), b) for v, a, b in zip(w, lo, hi, strict=True)]
        assert sum(quotas) == target
        if fast is not None:
            lam = Fraction(*fast)
            assert [min(max(lam * v, a), b) for v, a, b in zip(w, lo, hi, strict=True)] == quotas
