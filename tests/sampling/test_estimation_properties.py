"""Property tests of the estimators and checks of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling.errors import DesignError, InputError
from sampling.estimation import Domains, SurveyDesign


def _data(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    stratum = np.arange(n) % 3
    return {
        "stratum": stratum,
        "psu": np.arange(n) // 2,
        "weight": rng.uniform(1, 10, n),
        "y": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
        "domain": rng.integers(0, 3, n),
        "fpc": np.array([500.0, 600.0, 700.0])[stratum],
    }


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 10_000), n=st.integers(24, 80))
def test_invariant_to_row_order(seed: int, n: int) -> None:
    d = _data(seed, n)
    d["domain"][:3] = [0, 1, 2]
    d["y"][:3] = 1.0
    first = SurveyDesign(d["weight"], d["stratum"], fpc=d["fpc"]).mean(d["y"], {"g": d["domain"]})
    order = np.random.default_rng(seed + 1).permutation(n)
    s = {k: v[order] for k, v in d.items()}
    second = SurveyDesign(s["weight"], s["stratum"], fpc=s["fpc"]).mean(s["y"], {"g": s["domain"]})
    np.testing.assert_allclose(first.estimate, second.estimate, rtol=1e-12)
    np.testing.assert_allclose(first.se, second.se, rtol=1e-9)


@settings(deadline=None, max_examples=20)
@given(seed=st.integers(0, 10_000), n=st.integers(24, 80))
def test_domain_equals_zero_weight_design(seed: int, n: int) -> None:
    d = _data(seed, n)
    d["domain"][:3] = [0, 1, 2]
    d["y"][:3] = 1.0
    design = SurveyDesign(d["weight"], d["stratum"], psu=d["psu"], fpc=d["fpc"])
    by_domain = design.mean(d["y"], {"g": d["domain"]})
    zero = SurveyDesign(
        np.where(d["domain"] == 1, d["weight"], 0.0), d["stratum"], psu=d["psu"], fpc=d["fpc"]
    )
    alone = zero.mean(d["y"])
    assert by_domain.estimate[1] == pytest.approx(alone.estimate[0], rel=1e-12)
    assert by_domain.se[1] == pytest.approx(alone.se[0], rel=1e-9)


def test_bad_input_is_named() -> None:
    with pytest.raises(InputError, match="row 2"):
        SurveyDesign([1.0, np.nan, 2.0])
    with pytest.raises(InputError, match="row 3"):
        SurveyDesign([1.0, 1.0, -2.0])
    design = SurveyDesign([1.0, 1.0, 1.0, 1.0])
    with pytest.raises(DesignError, match="empty domain: g=b"):
        design.mean([1.0, 2.0, np.nan, np.nan], {"g": np.array(["a", "a", "b", "b"])})
    with pytest.raises(InputError, match="0/1"):
        design.proportion([0.0, 1.0, 2.0, 1.0])
    with pytest.raises(InputError, match="differs"):
        SurveyDesign([1.0, 1.0], strata=[1, 1], fpc=[10, 11])


def test_multi_column_domains_sorted() -> None:
    domains = Domains.from_columns([np.array(["b", "a", "b"]), np.array([2, 1, 1])], ["x", "y"])
    assert [domains.label(i) for i in range(len(domains))] == ["x=a, y=1", "x=b, y=1", "x=b, y=2"]
    assert domains.codes.tolist() == [2, 0, 1]


def test_t_quantile_matches_scipy() -> None:
    from scipy import special

    from sampling.estimation.intervals import student_t_quantile

    for df in [1, 2, 3, 7, 14, 197, 5000, 999_900]:
        for p in [0.6, 0.975, 0.9995]:
            assert student_t_quantile(p, df) == pytest.approx(special.stdtrit(df, p), rel=1e-9)
