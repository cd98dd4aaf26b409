"""Agreement with R ``survey`` 4.1.1 (values printed by r_reference/reference.R)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sampling.errors import DesignError
from sampling.estimation import (
    EstimateTable,
    LonelyPsu,
    ProportionCiMethod,
    SurveyDesign,
    jackknife,
)

HERE = Path(__file__).parent / "r_reference"
RTOL = 1e-6


def _load_reference() -> dict[tuple[str, str], dict[str, float]]:
    values: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(HERE / "reference_values.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            values[(row["case"], row["quantity"])][row["domain"]] = float(row["value"])
    return values


REFERENCE = _load_reference()


def _table(name: str) -> dict[str, np.ndarray]:
    with open(HERE / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, Any] = {}
    for key in rows[0]:
        raw = [row[key] for row in rows]
        try:
            columns[key] = np.array([float(v) if v not in ("", "NA") else np.nan for v in raw])
        except ValueError:
            columns[key] = np.array(raw)
    return columns


def _domain_labels(table: EstimateTable) -> list[str]:
    if not table.domains.names:
        return ["all"]
    return ["|".join(str(key[i]) for key in table.domains.keys) for i in range(len(table))]


def check(
    table: EstimateTable,
    case: str,
    quantities: tuple[str, ...] = ("estimate", "se", "ci_low", "ci_high"),
) -> None:
    labels = _domain_labels(table)
    for quantity in quantities:
        expected = REFERENCE[(case, quantity)]
        assert set(expected) == set(labels), (case, quantity)
        ours = np.array(getattr(table, quantity))
        theirs = np.array([expected[label] for label in labels])
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, err_msg=f"{case} {quantity}")


@pytest.fixture(scope="module")
def apistrat() -> dict[str, np.ndarray]:
    return _table("apistrat.csv")


@pytest.fixture(scope="module")
def apiclus1() -> dict[str, np.ndarray]:
    return _table("apiclus1.csv")


@pytest.fixture(scope="module")
def strat(apistrat: dict[str, np.ndarray]) -> SurveyDesign:
    return SurveyDesign(apistrat["pw"], strata=apistrat["stype"], fpc=apistrat["fpc"])


@pytest.fixture(scope="module")
def clus(apiclus1: dict[str, np.ndarray]) -> SurveyDesign:
    return SurveyDesign(apiclus1["pw"], psu=apiclus1["dnum"], fpc=apiclus1["fpc"])


ALL = ("estimate", "se", "ci_low", "ci_high", "deff")


def test_degrees_of_freedom(strat: SurveyDesign, clus: SurveyDesign) -> None:
    assert strat.df == REFERENCE[("apistrat", "df")]["all"] == 197
    assert clus.df == REFERENCE[("apiclus1", "df")]["all"] == 14


def test_apistrat_mean_total_ratio(strat: SurveyDesign, apistrat: dict[str, np.ndarray]) -> None:
    check(strat.mean(apistrat["api00"]), "apistrat_mean_api00", ALL)
    check(strat.total(apistrat["enroll"]), "apistrat_total_enroll", ALL)
    check(strat.ratio(apistrat["api00"], apistrat["api99"]), "apistrat_ratio", ("estimate", "se"))


def test_apistrat_domains(strat: SurveyDesign, apistrat: dict[str, np.ndarray]) -> None:
    check(
        strat.mean(apistrat["api00"], {"stype": apistrat["stype"]}), "apistrat_mean_by_stype", ALL
    )
    check(
        strat.mean(apistrat["api00"], {"stype": apistrat["stype"], "awards": apistrat["awards"]}),
        "apistrat_mean_by_stype_awards",
        ALL,
    )
    check(
        strat.total(apistrat["enroll"], {"stype": apistrat["stype"]}),
        "apistrat_total_by_stype",
        ALL,
    )
    check(
        strat.ratio(apistrat["api00"], apistrat["api99"], {"stype": apistrat["stype"]}),
        "apistrat_ratio_by_stype",
        ("estimate", "se"),
    )


@pytest.mark.parametrize(
    ("method", "r_method"),
    [
        (ProportionCiMethod.LOGIT, "logit"),
        (ProportionCiMethod.KORN_GRAUBARD, "beta"),
        (ProportionCiMethod.WALD, "mean"),
    ],
)
def test_apistrat_proportion_intervals(
    strat: SurveyDesign, apistrat: dict[str, np.ndarray], method: ProportionCiMethod, r_method: str
) -> None:
    yes = (apistrat["sch.wide"] == "Yes").astype(float)
    check(strat.proportion(yes, ci_method=method), f"apistrat_prop_{r_method}")
    by_type = strat.proportion(yes, {"stype": apistrat["stype"]}, ci_method=method)
    check(by_type, f"apistrat_prop_{r_method}_by_stype", ("estimate", "ci_low", "ci_high"))


def test_wilson_interval_brackets_and_matches_formula(
    strat: SurveyDesign, apistrat: dict[str, np.ndarray]
) -> None:
    yes = (apistrat["sch.wide"] == "Yes").astype(float)
    table = strat.proportion(yes, ci_method="wilson")
    p, se = table.estimate[0], table.se[0]
    n_eff = p * (1 - p) / se**2
    from scipy import stats

    z = stats.t.ppf(0.975, 197)
    centre = (p + z**2 / (2 * n_eff)) / (1 + z**2 / n_eff)
    half = z / (1 + z**2 / n_eff) * np.sqrt(p * (1 - p) / n_eff + z**2 / (4 * n_eff**2))
    assert table.ci_low[0] == pytest.approx(centre - half, rel=1e-12)
    assert table.ci_high[0] == pytest.approx(centre + half, rel=1e-12)
    assert table.ci_low[0] < p < table.ci_high[0]


def test_apiclus1_cluster_design(clus: SurveyDesign, apiclus1: dict[str, np.ndarray]) -> None:
    check(clus.mean(apiclus1["api00"]), "apiclus1_mean_api00", ALL)
    check(clus.total(apiclus1["enroll"]), "apiclus1_total_enroll", ALL)
    check(clus.mean(apiclus1["api00"], {"stype": apiclus1["stype"]}), "apiclus1_mean_by_stype", ALL)
    check(clus.ratio(apiclus1["api00"], apiclus1["api99"]), "apiclus1_ratio", ("estimate", "se"))
    no_fpc = SurveyDesign(apiclus1["pw"], psu=apiclus1["dnum"])
    check(no_fpc.mean(apiclus1["api00"]), "apiclus1_nofpc_mean_api00", ALL)


def test_jackknife_against_r(
    strat: SurveyDesign,
    clus: SurveyDesign,
    apistrat: dict[str, np.ndarray],
    apiclus1: dict[str, np.ndarray],
) -> None:
    jkn = jackknife(strat, "JKn")
    check(jkn.mean(apistrat["api00"]), "apistrat_jkn_mean_api00", ("estimate", "se"))
    check(jkn.total(apistrat["enroll"]), "apistrat_jkn_total_enroll", ("estimate", "se"))
    check(
        jkn.mean(apistrat["api00"], {"stype": apistrat["stype"]}),
        "apistrat_jkn_mean_by_stype",
        ("estimate", "se"),
    )
    jk1 = jackknife(clus)
    check(jk1.mean(apiclus1["api00"]), "apiclus1_jk1_mean_api00", ("estimate", "se"))
    check(
        jk1.mean(apiclus1["api00"], {"stype": apiclus1["stype"]}),
        "apiclus1_jk1_mean_by_stype",
        ("estimate", "se"),
    )


@pytest.fixture(scope="module")
def respondents() -> dict[str, np.ndarray]:
    return _table("satisfaction_respondents.csv")


@pytest.fixture(scope="module")
def sat(respondents: dict[str, np.ndarray]) -> SurveyDesign:
    return SurveyDesign(respondents["weight"], strata=respondents["stratum"], fpc=respondents["N"])


def test_satisfaction_survey_with_missing_values(
    sat: SurveyDesign, respondents: dict[str, np.ndarray]
) -> None:
    overall = respondents["overall"]
    assert np.isnan(overall).sum() == 12
    check(sat.mean(overall), "sat_mean_overall", ALL)
    check(sat.total(overall), "sat_total_overall", ALL)
    check(
        sat.mean(overall, {"sex": respondents["sex"], "age": respondents["age"]}),
        "sat_mean_by_sex_age",
        ALL,
    )
    check(
        sat.proportion(respondents["satisfied"]),
        "sat_prop_logit",
        ("estimate", "ci_low", "ci_high"),
    )


def _weights_by_respondent(case: str, respondents: dict[str, np.ndarray]) -> np.ndarray:
    expected = REFERENCE[(case, "weight")]
    return np.array([expected[r] for r in respondents["respondent"]])


def test_poststratification(sat: SurveyDesign, respondents: dict[str, np.ndarray]) -> None:
    ps = sat.poststratify(respondents["age"], {"18-34": 4000, "35-59": 6000, "60+": 3000})
    np.testing.assert_allclose(
        ps.weights, _weights_by_respondent("sat_poststrat", respondents), rtol=1e-12
    )
    check(ps.mean(respondents["overall"]), "sat_poststrat_mean_overall")
    check(ps.total(respondents["overall"]), "sat_poststrat_total_overall")
    check(ps.mean(respondents["overall"], {"sex": respondents["sex"]}), "sat_poststrat_mean_by_sex")
    cross = np.char.add(np.char.add(respondents["sex"], "|"), respondents["age"])
    totals = {
        "F|18-34": 2100,
        "M|18-34": 1900,
        "F|35-59": 3100,
        "M|35-59": 2900,
        "F|60+": 1700,
        "M|60+": 1300,
    }
    psx = sat.poststratify(cross, totals)
    np.testing.assert_allclose(
        psx.weights, _weights_by_respondent("sat_poststrat_cross", respondents), rtol=1e-12
    )
    check(psx.mean(respondents["overall"]), "sat_poststrat_cross_mean_overall")


def test_raking(sat: SurveyDesign, respondents: dict[str, np.ndarray]) -> None:
    raked = sat.rake(
        {
            "sex": (respondents["sex"], {"F": 6900, "M": 6100}),
            "age": (respondents["age"], {"18-34": 4000, "35-59": 6000, "60+": 3000}),
        },
        tolerance=1e-13,
        max_iterations=500,
    )
    np.testing.assert_allclose(
        raked.weights, _weights_by_respondent("sat_ipf", respondents), rtol=1e-9
    )
    np.testing.assert_allclose(
        raked.weights, _weights_by_respondent("sat_rake", respondents), rtol=1e-9
    )
    check(raked.mean(respondents["overall"]), "sat_rake_mean_overall")
    check(raked.total(respondents["overall"]), "sat_rake_total_overall")
    check(raked.mean(respondents["overall"], {"sex": respondents["sex"]}), "sat_rake_mean_by_sex")


def test_covariance_of_units_rated_by_the_same_respondents() -> None:
    long = _table("satisfaction_long.csv")
    design = SurveyDesign(
        long["weight"], strata=long["stratum"], psu=long["respondent"], fpc=long["N"]
    )
    assert design.df == REFERENCE[("long", "df")]["all"]
    table = design.mean(long["score"], {"unit": long["unit"]}, covariance=True)
    check(table, "long_mean_by_unit", ALL)
    expected = REFERENCE[("long_mean_by_unit", "vcov")]
    units = [str(u) for u in table.domains.keys[0]]
    theirs = np.array([[expected[f"{a}~{b}"] for b in units] for a in units])
    assert table.covariance is not None
    np.testing.assert_allclose(table.covariance, theirs, rtol=RTOL, atol=1e-12)
    assert np.abs(theirs - np.diag(np.diag(theirs))).max() > 0  # the units do covary


@pytest.mark.parametrize("option", ["certainty", "remove", "adjust"])
@pytest.mark.parametrize("with_fpc", [True, False])
def test_lonely_psu_options(option: str, with_fpc: bool) -> None:
    data = _table("lonely.csv")
    design = SurveyDesign(
        data["w"],
        strata=data["stratum"],
        psu=data["psu"],
        fpc=data["N"] if with_fpc else None,
        lonely_psu=option,
    )
    tag = f"lonely_{option}{'_fpc' if with_fpc else ''}"
    check(design.mean(data["y"]), f"{tag}_mean")
    check(design.total(data["y"]), f"{tag}_total")


def test_lonely_psu_fails_by_default() -> None:
    data = _table("lonely.csv")
    assert REFERENCE[("lonely_fail", "error")]["all"] == 1
    with pytest.raises(DesignError, match="stratum b has only one PSU"):
        SurveyDesign(data["w"], strata=data["stratum"], psu=data["psu"])
    assert LonelyPsu("fail") is LonelyPsu.FAIL


@pytest.mark.parametrize(
    ("method", "r_method"), [(ProportionCiMethod.LOGIT, "logit"), (ProportionCiMethod.WALD, "mean")]
)
@pytest.mark.parametrize("df", ["design", "domain"])
def test_domain_proportion_degrees_of_freedom(
    strat: SurveyDesign,
    apistrat: dict[str, np.ndarray],
    method: ProportionCiMethod,
    r_method: str,
    df: str,
) -> None:
    # r_reference/domain_df.R: svyciprop on each stype subset with
    # df = degf(design) ("design", the default here) and with svyciprop's own
    # default df = degf(subset) ("domain").
    import csv

    with open(HERE / "domain_df_values.csv", newline="") as handle:
        reference = [r for r in csv.DictReader(handle) if r["method"] == r_method and r["df"] == df]
    yes = (apistrat["sch.wide"] == "Yes").astype(float)
    table = strat.proportion(
        yes, {"stype": apistrat["stype"]}, ci_method=method, degrees_of_freedom=df
    )
    assert table.ci_df is not None
    columns = {
        "estimate": table.estimate,
        "ci_low": table.ci_low,
        "ci_high": table.ci_high,
        "df": table.ci_df,
    }
    index = {str(k): i for i, k in enumerate(table.domains.keys[0])}
    assert len(reference) == 12
    for row in reference:
        value = columns[row["quantity"]][index[row["domain"]]]
        assert value == pytest.approx(float(row["value"]), rel=1e-9)


def test_domain_without_degrees_of_freedom_has_no_interval() -> None:
    # Domain "b" is one cluster in each of the two strata (PSUs 2 and 3): its
    # own degf is 2 PSUs − 2 strata = 0, so with df=domain its logit interval
    # is undefined (R: qt(·, 0) is NaN), while the design's degf (5 PSUs − 2
    # strata = 3) still gives one.
    design = SurveyDesign(
        np.ones(10),
        strata=np.array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2]),
        psu=np.array([1, 1, 2, 2, 5, 5, 3, 3, 4, 4]),
    )
    values = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    by = {"d": np.array(["a", "a", "b", "b", "a", "a", "b", "b", "a", "a"])}
    domain = design.proportion(values, by, degrees_of_freedom="domain")
    assert domain.ci_df is not None
    assert domain.ci_df.tolist() == [1.0, 0.0]  # a: PSUs 1, 5, 4 in 2 strata
    assert domain.se[1] > 0
    assert np.isfinite(domain.ci_low[0]) and np.isnan(domain.ci_low[1])
    whole = design.proportion(values, by)
    assert whole.ci_df is not None and whole.ci_df.tolist() == [3.0, 3.0]
    assert np.isfinite(whole.ci_low).all()
