"""Random-digit generation of Chinese mobile numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import phonenumbers
import pytest

from sampling.design import (
    DoNotCallList,
    generate_numbers,
    keyed_number_hash,
    parse_prefixes,
    read_prefix_table,
)
from sampling.errors import DesignError, InputError

DATA = Path(__file__).parent / "data_design"
KEY = b"test-key"


def test_generated_numbers_are_valid_distinct_and_allocated() -> None:
    prefixes = read_prefix_table(DATA / "prefixes.csv")
    generator = np.random.Generator(np.random.PCG64(11))
    first = generate_numbers(prefixes, {"杭州": 200, "宁波": 300}, generator)
    excluded = set(first.numbers[:50])
    do_not_call = DoNotCallList(KEY, {keyed_number_hash(n, KEY) for n in excluded})
    generator = np.random.Generator(np.random.PCG64(11))
    result = generate_numbers(prefixes, {"杭州": 200, "宁波": 300}, generator, exclude=do_not_call)
    assert len(set(result.numbers)) == len(result.numbers) == 500
    assert not excluded & set(result.numbers)
    assert result.regions.count("杭州") == 200 and result.regions.count("宁波") == 300
    for number, region in zip(result.numbers, result.regions, strict=True):
        parsed = phonenumbers.parse(number, "CN")
        assert phonenumbers.is_valid_number(parsed), number
        assert len(number) == 11
        if region == "杭州":
            assert number.startswith("138")
        else:
            assert number.startswith(("1390571", "1500571"))
    ningbo = [n for n, r in zip(result.numbers, result.regions, strict=True) if r == "宁波"]
    share = sum(n.startswith("139") for n in ningbo) / len(ningbo)
    assert 0.4 < share < 0.6  # two prefixes of equal capacity


def test_small_space_is_exhausted_exactly() -> None:
    prefixes = parse_prefixes([("1390571", "宁波")])
    generator = np.random.Generator(np.random.PCG64(3))
    result = generate_numbers(prefixes, {"宁波": 10_000}, generator)
    assert len(set(result.numbers)) == 10_000
    with pytest.raises(DesignError, match="10001 numbers wanted"):
        generate_numbers(prefixes, {"宁波": 10_001}, generator)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("138", "a"), ("13a", "b")], "line 3, column 'prefix': prefix '13a' must contain digits"),
        ([("13800001", "a")], "line 2, column 'prefix': prefix '13800001' has 8 digits"),
        ([("238", "a")], "not a mobile prefix"),
        (
            [("138", "a"), ("139", "b"), ("138", "c")],
            "line 4, column 'prefix': prefix '138' repeats line 2",
        ),
        ([("138", "a"), ("1380571", "b")], "lies inside prefix '138' of line 2"),
        ([("138", "")], "line 2, column 'region': the region is empty"),
    ],
)
def test_malformed_prefixes(rows: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InputError) as error:
        parse_prefixes(rows, source="prefixes.csv")
    assert message in str(error.value)
    assert str(error.value).startswith("prefixes.csv, line")
