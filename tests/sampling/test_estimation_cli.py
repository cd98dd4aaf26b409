"""The estimate, rake, poststratify and rates sub-commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sampling.cli import main

HERE = Path(__file__).parent / "r_reference"


def _reference(case: str, quantity: str) -> dict[str, float]:
    with open(HERE / "reference_values.csv", newline="") as handle:
        return {
            r["domain"]: float(r["value"])
            for r in csv.DictReader(handle)
            if r["case"] == case and r["quantity"] == quantity
        }


def test_estimate_matches_r(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "estimate",
            str(HERE / "apistrat.csv"),
            "--value",
            "api00",
            "--by",
            "stype",
            "--strata",
            "stype",
            "--weight",
            "pw",
            "--fpc",
            "fpc",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    se = _reference("apistrat_mean_by_stype", "se")
    assert [r["stype"] for r in rows] == ["E", "H", "M"]
    for row in rows:
        assert row["se"] == pytest.approx(se[row["stype"]], rel=1e-9)
        assert set(row) >= {"estimate", "se", "ci_low", "ci_high", "n", "deff"}


def test_estimate_missing_values_are_a_domain(capsys: pytest.CaptureFixture[str]) -> None:
    main(
        [
            "estimate",
            str(HERE / "satisfaction_respondents.csv"),
            "--value",
            "overall",
            "--strata",
            "stratum",
            "--weight",
            "weight",
            "--fpc",
            "N",
            "--format",
            "csv",
        ]
    )
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert float(rows[0]["se"]) == pytest.approx(
        _reference("sat_mean_overall", "se")["all"], rel=1e-9
    )
    main(
        [
            "estimate",
            str(HERE / "satisfaction_respondents.csv"),
            "--value",
            "satisfied",
            "--proportion",
            "--ci-method",
            "korn-graubard",
            "--strata",
            "stratum",
            "--weight",
            "weight",
        ]
    )
    assert json.loads(capsys.readouterr().out)[0]["ci_low"] > 0


def test_bad_input_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("w,y,g\n1,2,a\n1,x,b\n1,3,a\n")
    assert main(["estimate", str(data), "--value", "y", "--weight", "w"]) == 2
    assert "line 3, column 'y': not a number: 'x'" in capsys.readouterr().err
    assert main(["estimate", str(data), "--value", "nope"]) == 2
    assert "available columns: w, y, g" in capsys.readouterr().err
    data.write_text("w,y\n1,2\n0,3\n")
    assert main(["estimate", str(data), "--value", "y", "--weight", "w"]) == 2
    assert "line 3, column 'w': weights must be positive" in capsys.readouterr().err


def test_rake_and_poststratify_write_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    margins = tmp_path / "m.csv"
    margins.write_text(
        "variable,level,total\nsex,F,6900\nsex,M,6100\nage,18-34,4000\n"
        "age,35-59,6000\nage,60+,3000\n"
    )
    out = tmp_path / "raked.csv"
    code = main(
        [
            "rake",
            str(HERE / "satisfaction_respondents.csv"),
            "--weight",
            "weight",
            "--margins",
            str(margins),
            "--tol",
            "1e-12",
            "--max-iter",
            "500",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    expected = _reference("sat_ipf", "weight")
    for row in rows:
        assert float(row["raked_weight"]) == pytest.approx(expected[row["respondent"]], rel=1e-9)
    cells = tmp_path / "c.csv"
    cells.write_text(
        "variable,level,total\nsex|age,F|18-34,2100\nsex|age,M|18-34,1900\n"
        "sex|age,F|35-59,3100\nsex|age,M|35-59,2900\nsex|age,F|60+,1700\nsex|age,M|60+,1300\n"
    )
    out2 = tmp_path / "ps.csv"
    assert (
        main(
            [
                "poststratify",
                str(HERE / "satisfaction_respondents.csv"),
                "--weight",
                "weight",
                "--cells",
                str(cells),
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    expected = _reference("sat_poststrat_cross", "weight")
    for row in csv.DictReader(out2.open()):
        assert float(row["poststratified_weight"]) == pytest.approx(
            expected[row["respondent"]], rel=1e-12
        )
    margins.write_text(
        "variable,level,total\nsex,F,1\nsex,M,1\nage,18-34,5\nage,35-59,5\nage,60+,5\n"
    )
    bad_out = tmp_path / "bad.csv"
    assert (
        main(
            [
                "rake",
                str(HERE / "satisfaction_respondents.csv"),
                "--weight",
                "weight",
                "--margins",
                str(margins),
                "--out",
                str(bad_out),
            ]
        )
        == 2
    )
    assert "disagree" in capsys.readouterr().err
    assert not bad_out.exists()


def test_rates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "rates",
                "--I",
                "400",
                "--P",
                "50",
                "--R",
                "150",
                "--NC",
                "200",
                "--O",
                "50",
                "--UH",
                "100",
                "--UO",
                "50",
                "--NE",
                "150",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["rates"]["RR3"] == pytest.approx(400 / 977.5)
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "code,count\n1.1,400\n1.2,50\n2.11,150\n2.21,200\n2.31,50\n3.13,100\n3.21,50\n4.2,150\n"
    )
    assert main(["rates", "--counts", str(codes)]) == 0
    assert json.loads(capsys.readouterr().out)["rates"]["RR1"] == pytest.approx(0.4)
    codes.write_text("code,count\n7.1,3\n")
    assert main(["rates", "--counts", str(codes)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_estimate_errors_name_stratum_value_and_fpc_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue #23: the design works on integer stratum codes; errors must name a
    # stratum by its value in the file and the fpc by its column name, with
    # the file and the line.
    data = tmp_path / "d.csv"
    base = ["estimate", str(data), "--value", "y", "--strata", "district", "--fpc", "N_h"]
    data.write_text("district,N_h,y\nnorth,100,1\nnorth,100,2\nsouth,50,3\nsouth,60,4\n")
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"{data}, line 5, column 'N_h': population size 60 differs from 50 on line 4" in err
    assert "in stratum 'south'" in err
    data.write_text("district,N_h,y\nnorth,100,1\nnorth,100,2\nsouth,1,3\nsouth,1,4\n")
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"{data}, line 4, column 'N_h': stratum 'south': population size 1 is smaller" in err
    data.write_text("district,N_h,y\nnorth,100,1\nnorth,100,2\nsouth,-5,3\nsouth,-5,4\n")
    assert main(base) == 2
    assert f"{data}, line 4, column 'N_h': population size must be a positive" in (
        capsys.readouterr().err
    )
    data.write_text("district,N_h,y\nnorth,100,1\nnorth,100,2\nsouth,50,3\n")
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"{data}, line 4, column 'district': stratum 'south' has only one PSU" in err
    data.write_text("district,N_h,y\nnorth,100,1\nnorth,100,0\nsouth,50,1\nsouth,50,0.5\n")
    assert main([*base, "--proportion"]) == 2
    assert f"{data}, line 5, column 'y': a proportion needs 0/1 values, got 0.5" in (
        capsys.readouterr().err
    )


def test_estimate_proportion_degrees_of_freedom_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The logit interval of a domain proportion with the design's degf (the
    # default) or each domain's own degf (R svyciprop's default on a subset),
    # against R: r_reference/domain_df.R wrote domain_df_values.csv.
    data = tmp_path / "apistrat.csv"
    with open(HERE / "apistrat.csv", newline="") as source, open(data, "w") as target:
        reader = csv.DictReader(source)
        writer = csv.writer(target)
        writer.writerow(["stype", "pw", "fpc", "yes"])
        for record in reader:
            yes = 1 if record["sch.wide"] == "Yes" else 0
            writer.writerow([record["stype"], record["pw"], record["fpc"], yes])
    with open(HERE / "domain_df_values.csv", newline="") as handle:
        reference = list(csv.DictReader(handle))

    def expected(df: str, quantity: str) -> dict[str, float]:
        return {
            r["domain"]: float(r["value"])
            for r in reference
            if r["method"] == "logit" and r["df"] == df and r["quantity"] == quantity
        }

    args = [
        "estimate",
        str(data),
        "--value",
        "yes",
        "--by",
        "stype",
        "--strata",
        "stype",
        "--weight",
        "pw",
        "--fpc",
        "fpc",
        "--proportion",
    ]
    for df, option in (("design", []), ("domain", ["--df", "domain"])):
        assert main([*args, *option]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["stype"] for r in rows] == ["E", "H", "M"]
        for quantity in ("estimate", "ci_low", "ci_high", "df"):
            values = expected(df, quantity)
            for row in rows:
                assert row[quantity] == pytest.approx(values[row["stype"]], rel=1e-6)
    # One stratum per domain here: the domain's degf is n_d − 1 (E 100, H 50,
    # M 50 schools) against 197 for the design, so its intervals are wider.
    assert [row["df"] for row in rows] == [99.0, 49.0, 49.0]
