"""The draw's fast paths give exactly what the plain definitions give.

The 10M-row benchmark needs dictionary-encoded strata read in many chunks,
a packed-key grouping sort, integer uniqueness checks, a background digest
and per-chunk takes; each is checked here against the straightforward form.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from sampling.design import DrawDesign, draw, draw_stratified, frame_from_rows
from sampling.design.draw import group_rows, index_strata, sample_table
from sampling.design.frame import read_frame_csv, take_rows
from sampling.design.selection import random_order
from sampling.errors import InputError

from .test_design_draw import reference_frame_sha256


def golden_frame() -> tuple[list[str], list[str], list[str], dict[str, int]]:
    ids = [f"{(i * 7919) % 100003:07d}" for i in range(2000)]
    strata = [f"区{(i * i) % 7}" for i in range(2000)]
    sizes = [str((i * 31) % 50) for i in range(2000)]
    allocation = {"区0": 4, "区1": 6, "区2": 8, "区4": 12}
    return ids, strata, sizes, allocation


# Digests of the minyi-draw-1 draws of golden_frame(), recorded with the
# implementation before the performance work (commit 2c19a0e): a faster
# implementation must give the same samples.
GOLDEN = {
    "srswor": (
        "488494597569675e7e31ac8605b52e38b6e21105d5999538b0c66df6b8c63654",
        "b0f8c90443c727421468d2dca4d43b79af7810ee2dfcdd3f5ed0e9549b828833",
    ),
    "systematic": (
        "488494597569675e7e31ac8605b52e38b6e21105d5999538b0c66df6b8c63654",
        "81c6669a9ca811d55db17fd10522d4796c45b4dbe6d0086240184e53e9201a9d",
    ),
    "pps": (
        "b6421087d0fd7a84d43cfba23e1752bdd48b18c7fca2b6ab4b4b68d96bb21ae9",
        "b082b62566c82ec3cac1f34fbdc00a10df70d884fad8cef86a16c5d39431badc",
    ),
}


@pytest.mark.parametrize("method", sorted(GOLDEN))
def test_draws_match_the_recorded_digests(method: str) -> None:
    ids, strata, sizes, allocation = golden_frame()
    result = draw_stratified(
        ids,
        strata,
        allocation,
        "golden",
        reserve_batches=2,
        selection=method,
        sizes=sizes if method == "pps" else None,
    )
    assert (result.frame_sha256, result.sample_sha256) == GOLDEN[method]


def test_csv_frame_in_many_chunks_equals_the_memory_frame(tmp_path: Path) -> None:
    ids, strata, sizes, allocation = golden_frame()
    path = tmp_path / "frame.csv"
    lines = ["id,stratum,size,phone"]
    lines += [
        f"{i},{s},{x},0{13800000000 + n}"
        for n, (i, s, x) in enumerate(zip(ids, strata, sizes, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = read_frame_csv(path, id_column="id", stratum_column="stratum", block_size=2048)
    column = from_file.table.column("stratum")
    assert column.num_chunks > 10 and pa.types.is_dictionary(column.type)
    # Chunks start with different strata, so their dictionaries differ.
    assert len({tuple(chunk.dictionary.to_pylist()) for chunk in column.chunks}) > 1
    from_rows = frame_from_rows(ids, strata)
    expected = reference_frame_sha256([("id", ids), ("stratum", strata)])
    assert from_file.sha256() == from_rows.sha256() == expected == GOLDEN["srswor"][0]
    design = DrawDesign.build(allocation, "srswor", 2)
    file_result = draw(from_file, design, "golden")
    assert file_result.sample_sha256 == GOLDEN["srswor"][1]
    assert file_result.strata.type == pa.string()
    table = sample_table(from_file, file_result)
    assert table.column("stratum").type == pa.string()
    expected_rows = file_result.rows.tolist()
    assert table.column("id").to_pylist() == [ids[row] for row in expected_rows]
    assert table.column("stratum").to_pylist() == [strata[row] for row in expected_rows]
    index = index_strata(from_file)
    for number, name in enumerate(index.names):
        assert index.rows_of(number).tolist() == [r for r, s in enumerate(strata) if s == name]


def test_take_rows_keeps_the_order_asked_for() -> None:
    table = pa.table(
        {
            "a": pa.chunked_array([["0", "1", "2"], ["3"], [], ["4", "5"]]),
            "b": pa.chunked_array(
                [
                    pa.array(["x", "y", "x"]).dictionary_encode(),
                    pa.array(["z", "x", "y"]).dictionary_encode(),
                ]
            ),
        }
    )
    rows = np.array([5, 0, 3, 1], dtype=np.int64)
    taken = take_rows(table, rows)
    assert taken.column("a").to_pylist() == ["5", "0", "3", "1"]
    assert taken.column("b").to_pylist() == ["y", "x", "z", "y"]
    assert taken.column("b").type == pa.string()
    assert take_rows(table, np.zeros(0, dtype=np.int64)).num_rows == 0
    with pytest.raises(IndexError):
        take_rows(table, np.array([6]))


@pytest.mark.parametrize(
    ("rows", "groups"),
    [
        (1000, 3),  # one block of 32-bit keys
        (5000, 1),
        (2_500_000, 4096),  # three blocks of 2^20 rows, joined
        (600_000, 20_000),  # too many pieces to join: 64-bit keys
        (70_000, 70_000),  # 17 code bits: 64-bit keys
    ],
)
def test_group_rows_is_a_stable_grouping(rows: int, groups: int) -> None:
    codes = np.random.default_rng(3).integers(0, groups, rows).astype(np.int32)
    np.testing.assert_array_equal(group_rows(codes, groups), np.argsort(codes, kind="stable"))


class ScriptedStream:
    """A stand-in generator whose raw stream is a fixed list (to force ties)."""

    def __init__(self, values: list[int]) -> None:
        self.bit_generator = SimpleNamespace(
            random_raw=lambda size: np.array(values[:size], dtype=np.uint64)
        )


def test_random_order_breaks_key_ties_by_position() -> None:
    keys = [9, 5, 7, 5, 5, 1, 5]
    order = random_order(7, 3, ScriptedStream(keys))  # type: ignore[arg-type]
    # Keys 1, then the 5s by position: units 5, 1, 3.
    assert order.tolist() == [5, 1, 3]
    eligible = np.array([True, False, True, True, True, True, True])
    order = random_order(7, 4, ScriptedStream(keys), eligible=eligible)  # type: ignore[arg-type]
    assert order.tolist() == [5, 3, 4, 6]
    assert random_order(7, 10, ScriptedStream(keys)).tolist() == [5, 1, 3, 4, 6, 2, 0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["7", "07", "8"], None),  # equal as integers, different as text
        (["30", "20", "10"], None),  # decreasing integers
        (["a", "b", "c"], None),
        (["3", "1", "2", "1"], "id '1' is not unique: rows 2 and 4"),
        (["7", "07", "7"], "id '7' is not unique: rows 1 and 3"),
        (["b", "a", "b"], "id 'b' is not unique: rows 1 and 3"),
        (["99999999999999999999", "1", "99999999999999999999"], "rows 1 and 3"),
    ],
)
def test_id_uniqueness(ids: list[str], message: str | None) -> None:
    strata = ["s"] * len(ids)
    if message is None:
        frame_from_rows(ids, strata)
    else:
        with pytest.raises(InputError, match=message):
            frame_from_rows(ids, strata)


def test_large_frame_digest_in_the_background_and_its_errors() -> None:
    rows = 120_000
    ids = [str(100_000_000 - 3 * i) for i in range(rows)]
    strata = [f"s{i % 13}" for i in range(rows)]
    frame = frame_from_rows(ids, strata)
    assert frame.sha256() == reference_frame_sha256([("id", ids), ("stratum", strata)])
    ids[70_000] = ids[5]
    with pytest.raises(InputError, match="rows 6 and 70001"):
        frame_from_rows(ids, strata)


def test_empty_stratum_in_a_later_chunk_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "frame.csv"
    lines = ["id,stratum"] + [f"{i},{'ab'[i % 2]}" for i in range(3000)]
    lines[2501] = "2500,"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="the stratum is empty") as error:
        read_frame_csv(path, id_column="id", stratum_column="stratum", block_size=1024)
    assert error.value.line == 2502


def test_draw_command_does_not_import_pandas(tmp_path: Path) -> None:
    # pyarrow imports pandas (≈0.3 s) for to_numpy() and pa.array(); the
    # draw avoids both, and this keeps it that way.
    frame = tmp_path / "frame.csv"
    frame.write_text("id,stratum\n" + "".join(f"{i},{i % 3}\n" for i in range(200)))
    code = (
        "import sys; from sampling.cli import main; "
        f"code = main(['draw', {str(frame)!r}, '--id', 'id', '--strata', 'stratum', "
        f"'--n', '20', '--seed', 's', '--out', {str(tmp_path / 's.csv')!r}]); "
        "print(code, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-2:] == ["0", "False"]


def test_quoted_line_breaks_are_read_exactly_in_any_chunk(tmp_path: Path) -> None:
    path = tmp_path / "frame.csv"
    lines = ["id,stratum,note"]
    for i in range(400):
        note = f'"line {i}\nsecond, ""quoted"""' if i % 7 == 0 else f"plain {i}"
        lines.append(f"{i},{'xy'[i % 2]},{note}")
    path.write_text("\n".join(lines) + "\n")
    frame = read_frame_csv(path, id_column="id", stratum_column="stratum", block_size=512)
    assert frame.row_count == 400
    notes = frame.table.column("note").to_pylist()
    assert notes[0] == 'line 0\nsecond, "quoted"' and notes[1] == "plain 1"
    assert notes[398] == "plain 398" and notes[399] == 'line 399\nsecond, "quoted"'
