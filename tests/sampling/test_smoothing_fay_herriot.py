"""Fay–Herriot EBLUP (sampling.smoothing) against samplics and R metafor.

tests/sampling/data/fay_herriot/reference_samplics.py produced
reference_values.json from units.csv (see that script for why samplics and
not R sae): σ²_v, β, EBLUP and the full MSE.  reference_metafor.R (R metafor,
whose rma.uni is the same model) produced metafor_values.csv: σ²_v, β, the
EBLUP and g1 + g2, an independent check of the fit.  The tests need neither.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sampling.cli import main
from sampling.errors import ConvergenceError, InputError
from sampling.smoothing import FayHerriotMethod, MseMethod, fay_herriot

DATA = Path(__file__).parent / "data" / "fay_herriot"
UNITS = DATA / "units.csv"
TOLERANCE = 1e-6


def _units() -> dict[str, Any]:
    with open(UNITS, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, Any] = {
        name: np.array([float(r[name]) for r in rows])
        for name in ("direct", "variance", "last_year", "share_young")
    }
    columns["unit"] = [r["unit"] for r in rows]
    return columns


def _reference() -> dict[str, Any]:
    with open(DATA / "reference_values.json") as handle:
        cases: dict[str, Any] = json.load(handle)["cases"]
    return cases


@pytest.mark.parametrize("case", sorted(_reference()))
def test_matches_reference(case: str) -> None:
    expected = _reference()[case]
    units = _units()
    fit = fay_herriot(
        units["direct"],
        units["variance"],
        {name: units[name] for name in expected["covariates"]},
        areas=units["unit"],
        method=expected["method"],
    )
    assert fit.method is FayHerriotMethod(expected["method"])
    assert fit.mse_method is (
        MseMethod.PRASAD_RAO if expected["method"] == "reml" else MseMethod.DATTA_LAHIRI
    )
    assert fit.sigma2_v == pytest.approx(expected["sigma2_v"], rel=TOLERANCE)
    assert fit.coefficients == pytest.approx(expected["coefficients"], rel=TOLERANCE)
    assert fit.coefficient_se == pytest.approx(expected["coefficient_se"], rel=TOLERANCE)
    eblup = [expected["eblup"][unit] for unit in units["unit"]]
    mse = [expected["mse"][unit] for unit in units["unit"]]
    assert fit.eblup == pytest.approx(eblup, rel=TOLERANCE)
    assert fit.mse == pytest.approx(mse, rel=TOLERANCE)


@pytest.mark.parametrize("case", sorted(_reference()))
def test_matches_r_metafor(case: str) -> None:
    with open(DATA / "metafor_values.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["case"] == case]
    covariates = _reference()[case]["covariates"]
    units = _units()
    fit = fay_herriot(
        units["direct"],
        units["variance"],
        {name: units[name] for name in covariates},
        areas=units["unit"],
        method=case.split("_")[0],
    )
    index = {unit: i for i, unit in enumerate(units["unit"])}
    g1_plus_g2 = fit.g1 + fit.g2
    checked = 0
    for row in rows:
        quantity, expected = row["quantity"], float(row["value"])
        if quantity == "sigma2_v":
            actual = fit.sigma2_v
        elif quantity.startswith("coefficient_"):
            actual = float(fit.coefficients[int(quantity.split("_")[1])])
        elif quantity == "eblup":
            actual = float(fit.eblup[index[row["area"]]])
        else:
            actual = float(g1_plus_g2[index[row["area"]]])
        assert actual == pytest.approx(expected, rel=TOLERANCE), (quantity, row["area"])
        checked += 1
    assert checked == 1 + len(covariates) + 1 + 2 * 30


def test_identities_of_the_eblup() -> None:
    units = _units()
    fit = fay_herriot(units["direct"], units["variance"], {"last_year": units["last_year"]})
    gamma = fit.sigma2_v / (fit.sigma2_v + units["variance"])
    assert fit.gamma == pytest.approx(gamma, rel=1e-12)
    synthetic = fit.coefficients[0] + fit.coefficients[1] * units["last_year"]
    assert fit.synthetic == pytest.approx(synthetic, rel=1e-12)
    assert fit.eblup == pytest.approx(gamma * units["direct"] + (1 - gamma) * synthetic)
    # g1 + g2 + 2 g3 (Prasad–Rao); the EBLUP is more precise than the direct
    # estimate here, most for the noisiest units.
    assert fit.mse == pytest.approx(fit.g1 + fit.g2 + 2 * fit.g3, rel=1e-12)
    assert (fit.mse < units["variance"]).all()
    noisiest = int(np.argmax(units["variance"]))
    assert fit.gamma[noisiest] == fit.gamma.min()
    # ML's MSE adds the Datta–Lahiri bias term, which is positive here (b < 0).
    ml = fay_herriot(
        units["direct"], units["variance"], {"last_year": units["last_year"]}, method="ml"
    )
    assert (ml.mse > ml.g1 + ml.g2 + 2 * ml.g3).all()
    assert ml.sigma2_v < fit.sigma2_v  # ML is biased down by about p σ²/m


def test_variance_truncated_at_zero() -> None:
    # Direct estimates that lie almost on the regression line, with large
    # sampling variances: the between-area variance estimate is 0, every
    # unit is shrunk fully to the regression and g1 = g3 = 0.
    x = np.arange(10.0)
    direct = 50.0 + 2.0 * x + np.array([0.1, -0.1] * 5)
    variance = np.full(10, 25.0)
    for method in FayHerriotMethod:
        fit = fay_herriot(direct, variance, {"x": x}, method=method)
        assert fit.sigma2_v == 0.0
        assert fit.gamma == pytest.approx(np.zeros(10))
        assert fit.eblup == pytest.approx(fit.synthetic)
        assert fit.g1 == pytest.approx(np.zeros(10))


def test_input_errors_name_the_field() -> None:
    direct, variance = [70.0, 72.0, 68.0, 75.0], [4.0, 5.0, 6.0, 7.0]
    with pytest.raises(InputError) as error:
        fay_herriot(direct, [4.0, 0.0, 6.0, 7.0])
    assert error.value.column == "variance"
    with pytest.raises(InputError) as error:
        fay_herriot([70.0, float("nan"), 68.0, 75.0], variance)
    assert error.value.column == "direct"
    with pytest.raises(InputError, match="listed twice"):
        fay_herriot(direct, variance, areas=["a", "b", "a", "c"])
    with pytest.raises(InputError, match="collinear"):
        fay_herriot(direct, variance, {"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8]})
    with pytest.raises(InputError, match="more areas"):
        fay_herriot(direct[:2], variance[:2], {"a": [1.0, 2.0]})
    with pytest.raises(InputError, match="unknown method"):
        fay_herriot(direct, variance, method="moments")
    with pytest.raises(ConvergenceError):
        fay_herriot(direct, variance, max_iterations=1, tolerance=1e-300)


def test_cli_smooth_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _reference()["ml_last_year"]
    code = main(
        [
            "smooth",
            str(UNITS),
            "--area",
            "unit",
            "--estimate",
            "direct",
            "--variance",
            "variance",
            "--covariates",
            "last_year",
            "--method",
            "ml",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["method"] == "ml"
    assert result["model"]["mse_method"] == "datta-lahiri"
    assert result["model"]["sigma2_v"] == pytest.approx(expected["sigma2_v"], rel=TOLERANCE)
    assert list(result["model"]["coefficients"]) == ["(intercept)", "last_year"]
    assert list(result["model"]["coefficients"].values()) == pytest.approx(
        expected["coefficients"], rel=TOLERANCE
    )
    first = result["areas"][0]
    assert list(first) == ["area", "direct", "direct_variance", "eblup", "mse", "gamma"]
    assert first["area"] == "U01"
    assert first["eblup"] == pytest.approx(expected["eblup"]["U01"], rel=TOLERANCE)
    assert first["mse"] == pytest.approx(expected["mse"]["U01"], rel=TOLERANCE)

    out = tmp_path / "smoothed.csv"
    args = ["smooth", str(UNITS), "--area", "unit", "--estimate", "direct"]
    assert main([*args, "--variance", "variance", "--format", "csv", "--out", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    reml = _reference()["reml_intercept"]
    assert len(rows) == 30
    for row in rows:
        assert float(row["eblup"]) == pytest.approx(reml["eblup"][row["area"]], rel=TOLERANCE)
        assert float(row["mse"]) == pytest.approx(reml["mse"][row["area"]], rel=TOLERANCE)


def test_cli_smooth_errors_name_file_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "u.csv"
    data.write_text("unit,y,v,prior\na,70,4,60\nb,72,0,65\nc,68,6,70\nd,75,7,71\n")
    base = ["smooth", str(data), "--area", "unit", "--estimate", "y", "--variance", "v"]
    assert main(base) == 2
    assert f"{data}, line 3, column 'v': sampling variance must be" in capsys.readouterr().err
    data.write_text("unit,y,v,prior\na,70,4,60\nb,72,5,65\na,68,6,70\nd,75,7,71\n")
    assert main(base) == 2
    assert "line 4, column 'unit': area 'a' is listed twice" in capsys.readouterr().err
    data.write_text("unit,y,v,prior\na,70,4,60\nb,x,5,65\nc,68,6,70\nd,75,7,71\n")
    assert main(base) == 2
    assert "line 3, column 'y': not a number: 'x'" in capsys.readouterr().err
    data.write_text("unit,y,v,prior\na,70,4,60\nb,72,5,\nc,68,6,70\nd,75,7,71\n")
    assert main([*base, "--covariates", "prior"]) == 2
    assert "line 3, column 'prior': missing value" in capsys.readouterr().err
    assert main([*base, "--covariates", "nope"]) == 2
    assert "unknown column 'nope'" in capsys.readouterr().err
