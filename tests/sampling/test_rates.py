"""AAPOR rates against worked examples computed by hand."""

from __future__ import annotations

import pytest

from sampling.errors import InputError
from sampling.rates import (
    DispositionCounts,
    category_of_code,
    counts_from_codes,
    default_eligibility,
    response_rates,
)

# I=400 P=50 R=150 NC=200 O=50 UH=100 UO=50 NE=150
COUNTS = DispositionCounts(I=400, P=50, R=150, NC=200, O=50, UH=100, UO=50, NE=150)


def test_default_e_by_hand() -> None:
    # eligible known = 400+50+150+200+50 = 850; known = 850 + 150 = 1000
    assert default_eligibility(COUNTS) == pytest.approx(0.85)


def test_rates_by_hand() -> None:
    r = response_rates(COUNTS).as_dict()
    # base_all = 450 + 400 + 150 = 1000; base_e = 850 + 0.85*150 = 977.5; known = 850
    assert r["RR1"] == pytest.approx(400 / 1000)
    assert r["RR2"] == pytest.approx(450 / 1000)
    assert r["RR3"] == pytest.approx(400 / 977.5)
    assert r["RR4"] == pytest.approx(450 / 977.5)
    assert r["RR5"] == pytest.approx(400 / 850)
    assert r["RR6"] == pytest.approx(450 / 850)
    # contacted = 450 + 150 + 50 = 650
    assert r["COOP1"] == pytest.approx(400 / 650)
    assert r["COOP2"] == pytest.approx(450 / 650)
    assert r["COOP3"] == pytest.approx(400 / 600)
    assert r["COOP4"] == pytest.approx(450 / 600)
    assert r["REF1"] == pytest.approx(150 / 1000)
    assert r["REF2"] == pytest.approx(150 / 977.5)
    assert r["REF3"] == pytest.approx(150 / 850)
    assert r["CON1"] == pytest.approx(650 / 1000)
    assert r["CON2"] == pytest.approx(650 / 977.5)
    assert r["CON3"] == pytest.approx(650 / 850)


def test_explicit_e() -> None:
    r = response_rates(COUNTS, e=0.5).as_dict()
    assert r["RR3"] == pytest.approx(400 / 925)
    with pytest.raises(InputError, match="between 0 and 1"):
        response_rates(COUNTS, e=1.5)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("1.1", "I"),
        ("1.2", "P"),
        ("2.11", "R"),
        ("2.111", "R"),
        ("2.12", "R"),
        ("2.20", "NC"),
        ("2.21", "NC"),
        ("2.31", "O"),
        ("2.33", "O"),
        ("3.11", "UH"),
        ("3.13", "UH"),
        ("3.21", "UO"),
        ("3.90", "UO"),
        ("4.1", "NE"),
        ("4.31", "NE"),
        ("4.70", "NE"),
    ],
)
def test_code_mapping(code: str, category: str) -> None:
    assert category_of_code(code) == category


@pytest.mark.parametrize("code", ["5.1", "x", "1.3", "2.4", "1"])
def test_bad_codes(code: str) -> None:
    with pytest.raises(InputError):
        category_of_code(code)


def test_counts_from_codes_aggregates() -> None:
    counts = counts_from_codes(
        {
            "1.1": 400,
            "1.2": 50,
            "2.11": 100,
            "2.12": 50,
            "2.21": 200,
            "2.31": 50,
            "3.13": 100,
            "3.21": 50,
            "4.2": 100,
            "4.31": 50,
        }
    )
    assert counts == COUNTS


def test_negative_count_rejected() -> None:
    with pytest.raises(InputError):
        DispositionCounts(I=-1)
    with pytest.raises(InputError, match="undefined"):
        response_rates(DispositionCounts(NE=5))
