"""The ``size``, ``allocate``, ``draw`` and ``verify`` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sampling.cli import main

DATA = Path(__file__).parent / "data_design"


def write_frame(path: Path, rows: int = 300) -> Path:
    lines = ["id,stratum,phone"]
    for i in range(rows):
        lines.append(f"{i:06d},{'AB'[i % 2]}{i % 3},0{13800000000 + i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_size_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["size", "--margin", "0.05", "--confidence", "0.95", "--population", "10000"], capsys
    )
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 370 and result["n0"] == pytest.approx(384.1459, rel=1e-5)


def test_allocate_command(capsys: pytest.CaptureFixture[str]) -> None:
    strata = str(DATA / "strata.csv")
    code, out, _ = run(["allocate", "--strata", strata, "--n", "260", "--method", "neyman"], capsys)
    assert code == 0
    sizes = {row["stratum"]: row["n"] for row in json.loads(out)["strata"]}
    assert sizes == {"东区": 100, "西区": 100, "南区": 60}
    code, _, err = run(
        ["allocate", "--strata", strata, "--n", "100", "--method", "equal", "--min", "40"], capsys
    )
    assert code == 2 and "'南区'" in err


def test_draw_verify_round_trip_and_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = write_frame(tmp_path / "frame.csv")
    sample, protocol = tmp_path / "sample.csv", tmp_path / "p.json"
    argv = ["draw", str(frame), "--id", "id", "--strata", "stratum", "--n", "60"]
    argv += ["--seed", "03 17 22 29", "--reserve", "2", "--out", str(sample)]
    code, _, err = run([*argv, "--protocol", str(protocol)], capsys)
    assert code == 0, err
    text = sample.read_text(encoding="utf-8").splitlines()
    assert text[0] == "id,stratum,phone,inclusion_probability,design_weight,replicate"
    assert len(text) == 1 + 60 * 3
    assert text[1].startswith("0") and ",013800" in text[1]  # leading zeros kept
    recorded = json.loads(protocol.read_text(encoding="utf-8"))
    assert recorded["seed"] == "03 17 22 29" and recorded["design"]["reserve_batches"] == 2

    code, out, _ = run(["verify", str(protocol), str(frame), str(sample)], capsys)
    assert (code, out.strip()) == (0, "verified")

    # One sampled row swapped for a row that was not drawn.
    drawn = {line.split(",")[0] for line in text[1:]}
    outsider = next(
        line for line in frame.read_text().splitlines()[1:] if line.split(",")[0] not in drawn
    )
    swapped = text.copy()
    swapped[5] = outsider + ",0.2,5.0,0"
    bad_sample = tmp_path / "swapped.csv"
    bad_sample.write_text("\n".join(swapped) + "\n", encoding="utf-8")
    code, _, err = run(["verify", str(protocol), str(frame), str(bad_sample)], capsys)
    assert code == 3
    assert f"line 6: id '{outsider.split(',')[0]}' is not in the draw" in err
    assert f"id '{text[5].split(',')[0]}'" in err and "missing" in err

    # One frame row changed.
    lines = frame.read_text().splitlines()
    lines[10] = (
        lines[10].replace("A", "B", 1) if "A" in lines[10] else lines[10].replace("B", "A", 1)
    )
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join(lines) + "\n")
    code, _, err = run(["verify", str(protocol), str(changed), str(sample)], capsys)
    assert code == 3 and "frame hash mismatch" in err

    # Same inputs, same file bytes.
    again = tmp_path / "again.csv"
    argv[-1] = str(again)
    assert run(argv, capsys)[0] == 0
    assert again.read_bytes() == sample.read_bytes()


def test_draw_from_allocation_file_and_pps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = tmp_path / "frame.csv"
    frame.write_text(
        "point,district,volume\n" + "".join(f"p{i},{'xy'[i % 2]},{1 + i * i}\n" for i in range(40))
    )
    allocation = tmp_path / "alloc.csv"
    allocation.write_text("stratum,n\nx,5\ny,4\n")
    sample, protocol = tmp_path / "s.csv", tmp_path / "p.json"
    code, _, err = run(
        [
            "draw",
            str(frame),
            "--id",
            "point",
            "--strata",
            "district",
            "--allocation",
            str(allocation),
            "--selection",
            "pps",
            "--size",
            "volume",
            "--seed",
            "s",
            "--out",
            str(sample),
            "--protocol",
            str(protocol),
        ],
        capsys,
    )
    assert code == 0, err
    assert len(sample.read_text().splitlines()) == 1 + 9
    assert run(["verify", str(protocol), str(frame), str(sample)], capsys)[0] == 0


@pytest.mark.parametrize(
    ("frame_text", "extra", "message"),
    [
        ("id,stratum\n1,a\n,a\n", [], "line 3, column 'id': the id is empty"),
        (
            "id,stratum\n1,a\n2,a\n1,b\n",
            [],
            "line 4, column 'id': id '1' is not unique: lines 2 and 4",
        ),
        ("id,stratum\n1,a\n2,\n", [], "line 3, column 'stratum': the stratum is empty"),
        ("id,stratum\n1,a\n2,a\n", ["--n", "3"], "exceeds the population"),
        ("id,stratum\n1,a\n2,b\n3,b\n", ["--n", "2", "--min", "2"], "stratum 'b'"),
        ("id,stratum\n1,a\n2,a,x\n", [], "line 3: expected 2 fields, found 3"),
        ("id,region\n1,a\n", [], "line 1, column 'stratum': no stratum column"),
    ],
)
def test_draw_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    frame_text: str,
    extra: list[str],
    message: str,
) -> None:
    frame = tmp_path / "frame.csv"
    frame.write_text(frame_text)
    out = tmp_path / "sample.csv"
    argv = [
        "draw",
        str(frame),
        "--id",
        "id",
        "--strata",
        "stratum",
        "--seed",
        "s",
        "--out",
        str(out),
    ]
    code, _, err = run([*argv, *(extra or ["--n", "1"])], capsys)
    assert code == 2
    assert message in err
    if "line" in message:
        assert f"error: {frame}, line" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_allocation_file_naming_an_empty_stratum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = write_frame(tmp_path / "frame.csv", 30)
    allocation = tmp_path / "alloc.csv"
    allocation.write_text("stratum,n\nA0,1\nB1,1\nA2,1\nB0,1\nA1,1\nB2,1\nC9,2\n")
    out = tmp_path / "s.csv"
    code, _, err = run(
        [
            "draw",
            str(frame),
            "--id",
            "id",
            "--strata",
            "stratum",
            "--allocation",
            str(allocation),
            "--seed",
            "s",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 2 and "'C9'" in err and "no rows" in err and not out.exists()


def test_verify_through_a_subprocess(tmp_path: Path) -> None:
    frame = write_frame(tmp_path / "frame.csv", 100)
    sample, protocol = tmp_path / "s.csv", tmp_path / "p.json"
    common = [sys.executable, "-m", "sampling"]
    drawn = subprocess.run(
        [
            *common,
            "draw",
            str(frame),
            "--id",
            "id",
            "--strata",
            "stratum",
            "--n",
            "20",
            "--seed",
            "x",
            "--out",
            str(sample),
            "--protocol",
            str(protocol),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert drawn.returncode == 0, drawn.stderr
    verified = subprocess.run(
        [*common, "verify", str(protocol), str(frame), str(sample)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (verified.returncode, verified.stdout.strip()) == (0, "verified")
    protocol.write_text(protocol.read_text().replace('"seed": "x"', '"seed": "y"'))
    rejected = subprocess.run(
        [*common, "verify", str(protocol), str(frame), str(sample)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rejected.returncode == 3 and "error:" in rejected.stderr


def test_digits_command_allocation_exclusions_and_reproducibility(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sampling.design import keyed_number_hash

    prefixes = str(DATA / "prefixes.csv")  # 138 杭州; 1390571, 1500571 宁波
    allocation = tmp_path / "alloc.csv"
    allocation.write_text("region,n\n杭州,30\n宁波,20\n", encoding="utf-8")
    first = tmp_path / "first.csv"
    argv = ["digits", "--prefixes", prefixes, "--allocation", str(allocation), "--seed", "7"]
    code, out, err = run([*argv, "--out", str(first)], capsys)
    assert code == 0, err
    assert json.loads(out)["regions"] == {"杭州": 30, "宁波": 20}
    lines = first.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "number,region" and len(lines) == 51
    rows = [line.split(",") for line in lines[1:]]
    numbers = [number for number, _ in rows]
    assert len(set(numbers)) == 50 and all(len(n) == 11 and n.isdigit() for n in numbers)
    for number, region in rows:
        expected = ("138",) if region == "杭州" else ("1390571", "1500571")
        assert number.startswith(expected), (number, region)
    # The same seed gives the same numbers; listed numbers are skipped.
    again = tmp_path / "again.csv"
    assert run([*argv, "--out", str(again)], capsys)[0] == 0
    assert again.read_bytes() == first.read_bytes()
    listed = numbers[:10]
    hashes = tmp_path / "dnc.txt"
    hashes.write_text(
        "# do-not-call\n" + "\n".join(keyed_number_hash(n, b"k3y") for n in listed) + "\n"
    )
    monkeypatch.setenv("MINYI_TEST_DNC_KEY", "k3y")
    excluded = tmp_path / "excluded.csv"
    code, out, err = run(
        [
            *argv,
            "--exclude-hashes",
            str(hashes),
            "--hash-key-env",
            "MINYI_TEST_DNC_KEY",
            "--out",
            str(excluded),
        ],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["do_not_call_hashes"] == 10
    kept = [line.split(",")[0] for line in excluded.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(kept) == 50 and not set(listed) & set(kept)


def test_digits_proportional_to_prefix_capacity_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefixes = tmp_path / "prefixes.csv"
    # 1380 holds 10^7 numbers, 13900 and 13901 hold 10^6 each: 10 : 1 : 1 of 120.
    prefixes.write_text("prefix,region\n1380,a\n13900,b\n13901,b\n", encoding="utf-8")
    out = tmp_path / "numbers.csv"
    base = ["digits", "--prefixes", str(prefixes), "--seed", "s", "--out", str(out)]
    code, printed, err = run([*base, "--n", "120"], capsys)
    assert code == 0, err
    assert json.loads(printed)["regions"] == {"a": 100, "b": 20}
    code, _, err = run(base, capsys)
    assert code == 2 and "--n" in err
    hashes = tmp_path / "dnc.txt"
    hashes.write_text("zz\n")
    code, _, err = run([*base, "--n", "5", "--exclude-hashes", str(hashes)], capsys)
    assert code == 2 and f"{hashes}, line 1" in err and "hex SHA-256" in err
    hashes.write_text("0" * 64 + "\n")
    monkeypatch.delenv("MINYI_TEST_UNSET", raising=False)
    code, _, err = run(
        [*base, "--n", "5", "--exclude-hashes", str(hashes), "--hash-key-env", "MINYI_TEST_UNSET"],
        capsys,
    )
    assert code == 2 and "MINYI_TEST_UNSET is not set" in err
    allocation = tmp_path / "alloc.csv"
    allocation.write_text("region,n\na,1\nzz,1\n", encoding="utf-8")
    code, _, err = run([*base, "--allocation", str(allocation)], capsys)
    assert code == 2 and "'zz'" in err


def test_seed_provenance_is_recorded_but_never_enters_the_draw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = write_frame(tmp_path / "frame.csv")
    sample, protocol = tmp_path / "sample.csv", tmp_path / "p.json"
    argv = ["draw", str(frame), "--id", "id", "--strata", "stratum", "--n", "30"]
    argv += ["--seed", "03 17 22 29", "--out", str(sample), "--protocol", str(protocol)]
    assert run(argv, capsys)[0] == 0
    recorded = json.loads(protocol.read_text(encoding="utf-8"))
    assert "seed_provenance" not in recorded  # only where a source was recorded

    recorded["seed_provenance"] = {"source": "双色球第2026141期", "event_date": "2026-12-06"}
    protocol.write_text(json.dumps(recorded, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(["verify", str(protocol), str(frame), str(sample)], capsys)
    assert (code, out.strip()) == (0, "verified")

    recorded["seed_provenance"] = ["双色球"]
    protocol.write_text(json.dumps(recorded, ensure_ascii=False), encoding="utf-8")
    code, _, err = run(["verify", str(protocol), str(frame), str(sample)], capsys)
    assert code != 0 and "seed_provenance" in err
