"""Draws: properties, inclusion frequencies, the frame digest."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sampling.design import (
    DrawDesign,
    SelectionMethod,
    digest_columns,
    draw,
    draw_stratified,
    frame_from_rows,
    pps_inclusion_probabilities,
    select_stratum,
)
from sampling.design.frame import read_frame_csv
from sampling.errors import DesignError, InputError


def reference_frame_sha256(columns: list[tuple[str, list[str]]]) -> str:
    """The documented minyi-frame-v1 digest, written out independently."""
    outer = hashlib.sha256(b"minyi-frame-v1\n")
    for role, values in columns:
        encoded = [value.encode("utf-8") for value in values]
        data = hashlib.sha256(b"".join(encoded)).hexdigest()
        lengths = hashlib.sha256(
            b"".join(len(v).to_bytes(8, "little") for v in encoded)
        ).hexdigest()
        outer.update(f"{role}:{len(values)}:{data}:{lengths}\n".encode())
    return outer.hexdigest()


@st.composite
def frames(draw_: st.DrawFn) -> tuple[list[str], list[str], dict[str, int]]:
    sizes = draw_(st.lists(st.integers(1, 30), min_size=1, max_size=5))
    strata = [f"s{h}" for h, size in enumerate(sizes) for _ in range(size)]
    order = draw_(st.permutations(range(len(strata))))
    strata = [strata[i] for i in order]
    ids = [f"{i:05d}" for i in range(len(strata))]
    allocation = {f"s{h}": draw_(st.integers(0, size)) for h, size in enumerate(sizes)}
    return ids, strata, allocation


@settings(max_examples=40, deadline=None)
@given(frames(), st.integers(0, 3), st.sampled_from(list(SelectionMethod)))
def test_draw_properties(
    frame: tuple[list[str], list[str], dict[str, int]], reserve: int, method: SelectionMethod
) -> None:
    ids, strata, allocation = frame
    sizes = (
        [str(1 + (i * 7) % 5) for i in range(len(ids))] if method is SelectionMethod.PPS else None
    )
    result = draw_stratified(
        ids, strata, allocation, "seed-1", reserve_batches=reserve, selection=method, sizes=sizes
    )
    chosen = result.ids.to_pylist()
    assert len(chosen) == len(set(chosen))  # no duplicates, batches disjoint
    main = result.replicate == 0
    counts: dict[str, int] = {}
    for stratum in np.asarray(result.strata.to_pylist(), dtype=object)[main]:
        counts[stratum] = counts.get(stratum, 0) + 1
    assert {k: v for k, v in allocation.items() if v} == counts
    population = {s: strata.count(s) for s in allocation}
    for replicate in range(1, reserve + 1):
        in_batch = result.replicate == replicate
        batch_strata = np.asarray(result.strata.to_pylist(), dtype=object)[in_batch]
        for stratum, size in allocation.items():
            used_before = size * replicate
            expected = max(0, min(size, population[stratum] - used_before))
            if method is not SelectionMethod.SRSWOR:
                continue  # PPS/systematic reserves exclude zero-size units too
            assert int((batch_strata == stratum).sum()) == expected
    again = draw_stratified(
        ids, strata, allocation, "seed-1", reserve_batches=reserve, selection=method, sizes=sizes
    )
    assert again.ids.equals(result.ids) and again.sample_sha256 == result.sample_sha256
    np.testing.assert_array_equal(again.replicate, result.replicate)


def test_different_seed_gives_a_different_sample() -> None:
    ids = [str(i) for i in range(1000)]
    strata = ["a" if i % 2 else "b" for i in range(1000)]
    first = draw_stratified(ids, strata, {"a": 50, "b": 50}, "2024-07-01 lottery 03 17 22")
    second = draw_stratified(ids, strata, {"a": 50, "b": 50}, "2024-07-01 lottery 03 17 23")
    assert set(first.ids.to_pylist()) != set(second.ids.to_pylist())


def test_stratum_sample_depends_only_on_its_own_rows() -> None:
    # Streams are keyed by stratum name, so adding strata elsewhere changes the
    # frame digest (hence the draw key) but reordering processing does not.
    ids = [str(i) for i in range(200)]
    strata = ["b" if i < 100 else "a" for i in range(200)]
    result = draw_stratified(ids, strata, {"a": 10, "b": 10}, "x")
    assert result.inclusion_probability == pytest.approx(0.1)
    assert result.design_weight == pytest.approx(10.0)


def chi_square_pvalue(frequency: np.ndarray, expected_probability: np.ndarray, draws: int) -> float:
    """Pearson goodness of fit of selection counts over the uncertain units.

    Treating the ``n`` selections of a draw as multinomial over units
    overstates their variance for a fixed-size design (selections without
    replacement are negatively correlated), so the test is conservative.
    """
    uncertain = expected_probability < 1
    observed = frequency[uncertain]
    expected = expected_probability[uncertain] * draws
    expected *= observed.sum() / expected.sum()
    return float(stats.chisquare(observed, expected).pvalue)


@pytest.mark.parametrize(
    "method", [SelectionMethod.SRSWOR, SelectionMethod.SYSTEMATIC, SelectionMethod.PPS]
)
def test_inclusion_frequencies_match_probabilities(method: SelectionMethod) -> None:
    generator = np.random.Generator(np.random.PCG64(20240701))
    population, sample_size, draws = 12, 4, 20_000
    sizes = np.array([1, 2, 3, 4, 5, 6, 30, 8, 9, 1, 2, 3], dtype=np.float64)
    frequency = np.zeros(population)
    for _ in range(draws):
        selection = select_stratum(method, population, sample_size, generator, sizes=sizes)
        assert selection.positions.size == sample_size
        frequency[selection.positions] += 1
    if method is SelectionMethod.PPS:
        probability = pps_inclusion_probabilities(sizes, sample_size)
        assert probability[6] == 1.0  # 4·30/74 ≥ 1: a certainty unit
        assert probability.sum() == pytest.approx(sample_size)
    else:
        probability = np.full(population, sample_size / population)
    assert np.all(frequency[probability == 1] == draws)
    # Each unit's count is Binomial(draws, π): all within 5 standard errors,
    # and jointly a chi-square test does not reject at 0.1 %.
    spread = np.sqrt(draws * probability * (1 - probability))
    assert np.all(np.abs(frequency - draws * probability) <= 5 * spread + 1e-9)
    assert chi_square_pvalue(frequency, probability, draws) > 0.001


def test_srswor_all_subsets_equally_likely() -> None:
    generator = np.random.Generator(np.random.PCG64(7))
    counts: dict[tuple[int, ...], int] = {}
    draws = 20_000
    for _ in range(draws):
        selection = select_stratum(SelectionMethod.SRSWOR, 5, 2, generator)
        key = tuple(sorted(selection.positions.tolist()))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 10
    observed = np.array(list(counts.values()))
    assert stats.chisquare(observed).pvalue > 0.001


def test_file_and_memory_frames_have_the_same_digest(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "frame.csv"  # type: ignore[operator]
    path.write_bytes(
        "\ufeffphone,区,id,note\r\n"
        '013800000001,西湖,0001,"a, b"\r\n'
        '013800000002,上城,0002,"say ""hi"""\r\n'
        "013800000003,西湖,0010,\r\n".encode()
    )
    from_file = read_frame_csv(path, id_column="id", stratum_column="区")
    from_rows = frame_from_rows(["0001", "0002", "0010"], ["西湖", "上城", "西湖"])
    expected = reference_frame_sha256(
        [("id", ["0001", "0002", "0010"]), ("stratum", ["西湖", "上城", "西湖"])]
    )
    assert from_file.sha256() == from_rows.sha256() == expected
    assert digest_columns([]) == hashlib.sha256(b"minyi-frame-v1\n").hexdigest()
    design = DrawDesign.build({"西湖": 1, "上城": 1})
    assert draw(from_file, design, "s").sample_sha256 == draw(from_rows, design, "s").sample_sha256


def test_frame_errors() -> None:
    with pytest.raises(InputError, match="id '7' is not unique: rows 1 and 3"):
        frame_from_rows(["7", "8", "7"], ["a", "a", "a"])
    with pytest.raises(InputError, match="row 2: the stratum is empty"):
        frame_from_rows(["1", "2"], ["a", ""])
    with pytest.raises(DesignError, match="stratum 'a': n = 3 exceeds its population N = 2"):
        draw_stratified(["1", "2"], ["a", "a"], {"a": 3}, "s")
    with pytest.raises(DesignError, match="stratum 'z' of the allocation has no rows"):
        draw_stratified(["1", "2"], ["a", "a"], {"a": 1, "z": 1}, "s")
    with pytest.raises(DesignError, match="stratum 'a' of the frame"):
        draw_stratified(["1", "2"], ["a", "a"], {}, "s")
