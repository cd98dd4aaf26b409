"""Grade probabilities and Fay–Herriot smoothing in published results (issue #23).

``minyi-results-v2`` snapshots carry each unit's probability of its grade and,
when the office chose it, smoothed social-recognition scores; both re-compute
identically from the snapshot.  A ``minyi-results-v1`` snapshot, stored before
either existed (``tests/app/data/results-snapshot-v1.json.gz``, the demo's 2025
result as main published it), still re-computes byte for byte.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask

from sampling.grading import round_score
from sampling.smoothing import fay_herriot
from survey.models import Cycle, ResultSnapshot
from survey.services import publication, scoring
from tests.app.helpers import login
from tests.app.test_results_trial import _closed_cycle

V1_FIXTURE = Path(__file__).parent / "data" / "results-snapshot-v1.json.gz"
V1_SHA256 = "601398615d357fcf7d37aa251d8d748ddb9603ae0550e62275d164f7b9ed36d4"


def v1_content() -> str:
    return gzip.decompress(V1_FIXTURE.read_bytes()).decode("utf-8")


def v2_inputs(**rules: Any) -> dict[str, Any]:
    """The fixture's inputs computed under the current format with ``rules``."""
    inputs = copy.deepcopy(json.loads(v1_content())["inputs"])
    inputs["format"] = scoring.RULES_VERSION
    inputs["rules"].update(rules)
    return inputs


def units(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {unit["unit"]: unit for category in outputs["categories"] for unit in category["units"]}


def test_v1_snapshot_still_verifies_byte_for_byte() -> None:
    content = v1_content()
    assert publication.sha256_text(content) == V1_SHA256
    verification = publication.verify_content(content, V1_SHA256)
    assert verification.identical and verification.sha256_matches, verification.differences
    data = json.loads(content)
    recomputed = scoring.compute_outputs(data["inputs"])
    # Not merely equal values: the same canonical text, with nothing added.
    assert scoring.canonical_json(recomputed) == scoring.canonical_json(data["outputs"])
    assert "smoothing" not in recomputed and "robust_threshold" not in recomputed
    assert all("probabilities" not in category for category in recomputed["categories"])
    assert all("grade_probability" not in unit for unit in units(recomputed).values())


def test_v1_inputs_ignore_the_new_rules() -> None:
    """An old snapshot's inputs never smooth or simulate, whatever the defaults say."""
    data = json.loads(v1_content())
    inputs = copy.deepcopy(data["inputs"])
    inputs["rules"]["smoothing"] = "fay-herriot"
    inputs["rules"]["robust_threshold"] = "0.99"
    assert scoring.canonical_json(scoring.compute_outputs(inputs)) == scoring.canonical_json(
        data["outputs"]
    )


def test_v2_adds_grade_probabilities_and_changes_nothing_else() -> None:
    old = json.loads(v1_content())["outputs"]
    inputs = v2_inputs()
    outputs = scoring.compute_outputs(inputs)
    assert outputs["format"] == scoring.RULES_VERSION
    assert outputs["smoothing"] is None and outputs["robust_threshold"] == "0.80"
    for category in outputs["categories"]:
        record = category["probabilities"]
        assert record["draws"] == 10_000 and record["threshold"] == "0.80"
        assert record["seed"] == scoring.probability_seed(
            inputs["answers_sha256"], category["code"]
        )
        assert 0 <= record["monte_carlo_se"] <= 0.005
    graded = 0
    for code, unit in units(outputs).items():
        before = units(old)[code]
        probability = unit.pop("grade_probability")
        assert unit == before  # scores, ranks, grades, intervals as in v1
        if unit["grade"] is None:
            assert probability is None
            continue
        graded += 1
        assert probability["grade"] == unit["grade"]
        assert sum(probability["grades"].values()) == pytest.approx(1.0, abs=1e-12)
        assert probability["probability"] == probability["grades"][unit["grade"]]
        assert probability["robust"] == (probability["probability"] >= 0.8)
    assert graded == 44
    # The same inputs give the same draws: identical outputs.
    again = scoring.compute_outputs(json.loads(scoring.canonical_json(inputs)))
    assert scoring.canonical_json(again) == scoring.canonical_json(scoring.compute_outputs(inputs))


def test_threshold_flags_grades_below_it() -> None:
    outputs = scoring.compute_outputs(v2_inputs(robust_threshold="0.99"))
    flags = [
        (unit["grade_probability"]["probability"], unit["grade_probability"]["robust"])
        for unit in units(outputs).values()
        if unit["grade_probability"]
    ]
    assert all(robust == (probability >= 0.99) for probability, robust in flags)
    assert any(robust for _, robust in flags)
    assert outputs["categories"][0]["probabilities"]["threshold"] == "0.99"


def test_smoothing_is_the_fay_herriot_eblup_of_the_social_scores() -> None:
    inputs = v2_inputs(smoothing="fay-herriot")
    outputs = scoring.compute_outputs(inputs)
    smoothing = outputs["smoothing"]
    assert smoothing["applied"] and smoothing["covariates"] == []
    assert smoothing["estimation"] == "reml" and smoothing["model"]["method"] == "reml"
    direct = units(scoring.compute_outputs(v2_inputs()))
    codes = sorted(direct)
    fit = fay_herriot(
        [direct[code]["social"]["estimate"] for code in codes],
        [direct[code]["social"]["se"] ** 2 for code in codes],
        areas=codes,
    )
    assert smoothing["model"]["sigma2_v"] == pytest.approx(fit.sigma2_v, rel=1e-9)
    smoothed_units = units(outputs)
    for index, code in enumerate(codes):
        unit = smoothed_units[code]
        smoothed = unit["social"]["smoothed"]
        assert smoothed["estimate"] == pytest.approx(fit.eblup[index], rel=1e-9)
        assert smoothed["se"] == pytest.approx(np.sqrt(fit.mse[index]), rel=1e-9)
        # The direct estimate is still shown; the total uses the smoothed one.
        assert unit["social"]["estimate"] == direct[code]["social"]["estimate"]
        social = next(
            part
            for part in unit["total"]["contributions"]
            if part["component"] == inputs["social_component"]
        )
        assert social["score"] == round_score(smoothed["estimate"], 2)
    # Shrinkage towards a common mean: the smoothed scores spread less.
    spread = np.std([smoothed_units[code]["social"]["smoothed"]["estimate"] for code in codes])
    assert spread < np.std([direct[code]["social"]["estimate"] for code in codes])
    again = scoring.compute_outputs(json.loads(scoring.canonical_json(inputs)))
    assert scoring.canonical_json(again) == scoring.canonical_json(outputs)


def test_smoothing_uses_last_years_score_when_every_unit_has_one() -> None:
    inputs = v2_inputs(smoothing="fay-herriot")
    outputs = scoring.compute_outputs(v2_inputs())
    inputs["previous"] = {
        "snapshot_sha256": "0" * 64,
        "units": {
            code: {"rank": unit["rank"], "score": unit["total"]["estimate"] - 3 + len(code) % 2}
            for code, unit in units(outputs).items()
        },
    }
    smoothing = scoring.compute_outputs(inputs)["smoothing"]
    assert smoothing["applied"] and smoothing["covariates"] == ["previous_score"]
    assert set(smoothing["model"]["coefficients"]) == {"(intercept)", "previous_score"}
    # One unit without a score last year: intercept only.
    del inputs["previous"]["units"]["C01"]
    assert scoring.compute_outputs(inputs)["smoothing"]["covariates"] == []


def test_a_model_that_cannot_be_fitted_keeps_the_results_from_publication() -> None:
    inputs = v2_inputs(smoothing="fay-herriot")
    # One unit with a social score: the model needs more areas than coefficients.
    inputs["group_scores"] = [row for row in inputs["group_scores"] if row["unit"] == "C01"]
    outputs = scoring.compute_outputs(inputs, with_probabilities=False)
    assert outputs["smoothing"]["applied"] is False and outputs["smoothing"]["error"]
    problems = scoring.scoring_problems(inputs, outputs)
    assert [problem.kind for problem in problems][:1] == ["smoothing_failed"]
    assert "Fay–Herriot" in str(problems[0])


@dataclass(frozen=True)
class Published:
    id: int
    content: str
    sha256: str
    rules_version: str


def _publish(app: Flask, **choices: str) -> Published:
    from survey.extensions import db

    cycle_id = _closed_cycle(app, with_components=True)
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        rules = scoring.rules_for(cycle, **choices)
        run = scoring.trial(db.session, cycle, rules, accept_redistribution="同意按比例分配权重")
        snapshot = publication.publish(
            db.session, cycle, actor="admin", rules=rules, decisions=run.inputs["decisions"]
        )
        db.session.commit()
        return Published(snapshot.id, snapshot.content, snapshot.sha256, snapshot.rules_version)


@pytest.mark.parametrize("smoothing", ["none", "fay-herriot"])
def test_published_snapshot_verifies_with_smoothing_on_and_off(
    results_app: Flask, smoothing: str
) -> None:
    snapshot = _publish(results_app, smoothing=smoothing, robust_threshold="0.90")
    data = json.loads(snapshot.content)
    assert data["format"] == snapshot.rules_version == scoring.RULES_VERSION
    assert data["inputs"]["rules"]["smoothing"] == smoothing
    assert data["inputs"]["rules"]["robust_threshold"] == "0.90"
    outputs = data["outputs"]
    if smoothing == "none":
        assert outputs["smoothing"] is None
    else:
        # The 2026 cycle follows a published 2025: last year's score is the covariate.
        assert outputs["smoothing"]["applied"]
        assert outputs["smoothing"]["covariates"] == ["previous_score"]
    for category in outputs["categories"]:
        assert category["probabilities"]["seed"] == scoring.probability_seed(
            data["inputs"]["answers_sha256"], category["code"]
        )
    assert all(
        unit["grade_probability"] is not None for unit in units(outputs).values() if unit["grade"]
    )
    verification = publication.verify_content(snapshot.content, snapshot.sha256)
    assert verification.identical and verification.sha256_matches, verification.differences
    # A probability altered in a copy is found.
    code, unit = next((code, unit) for code, unit in units(outputs).items() if unit["grade"])
    unit["grade_probability"]["probability"] = 0.5
    altered = publication.verify_content(scoring.canonical_json(data))
    assert any(f"[{code}].grade_probability.probability" in text for text in altered.differences)


def test_publish_and_verify_commands_with_smoothing(results_app: Flask) -> None:
    from survey.extensions import db

    cycle_id = _closed_cycle(results_app, with_components=True)
    runner = results_app.test_cli_runner()
    result = runner.invoke(
        args=[
            "results",
            "publish",
            str(cycle_id),
            "--accept-redistribution",
            "同意按比例分配权重",
            "--smoothing",
            "fay-herriot",
            "--robust-threshold",
            "0.9",
        ]
    )
    assert result.exit_code == 0, result.output
    with results_app.app_context():
        snapshot = db.session.scalars(
            sa.select(ResultSnapshot).where(ResultSnapshot.cycle_id == cycle_id)
        ).one()
        rules = publication.snapshot_data(snapshot)["inputs"]["rules"]
        snapshot_id = snapshot.id
    assert rules["smoothing"] == "fay-herriot" and rules["robust_threshold"] == "0.90"
    result = runner.invoke(args=["results", "verify", str(snapshot_id)])
    assert result.exit_code == 0 and "identical" in result.output, result.output


def test_trial_and_public_pages_show_probabilities_and_smoothing_in_chinese(
    results_app: Flask,
) -> None:
    from survey.extensions import db

    cycle_id = _closed_cycle(results_app, with_components=True)
    client = results_app.test_client()
    login(client, "admin")
    choices = {
        "grade_scheme": "teams-15-80-5",
        "robust_threshold": "0.99",
        "smoothing": "fay-herriot",
        "decision": "同意按比例分配权重",
    }
    page = client.get(
        f"/office/cycles/{cycle_id}/trial",
        query_string=choices,
        headers={"Accept-Language": "zh"},
    ).get_data(as_text=True)
    assert 'id="trial-ready"' in page
    assert "稳健性阈值" in page and "Fay–Herriot 平滑" in page
    assert "等次概率" in page and "模拟 10,000 次抽样" in page and "低于 99% 的标为“不稳健”" in page
    assert "经 Fay–Herriot 小域估计模型平滑（REML；协变量：上年综合得分）" in page
    assert "已平滑；直接估计" in page
    # The publish form carries the same choices.
    assert '<input type="hidden" name="robust_threshold" value="0.99">' in page
    assert '<input type="hidden" name="smoothing" value="fay-herriot">' in page
    refused = client.get(
        f"/office/cycles/{cycle_id}/trial", query_string={**choices, "robust_threshold": "1.5"}
    )
    assert refused.status_code == 400
    published = client.post(
        f"/office/cycles/{cycle_id}/publish", data={**choices, "confirmed": "y"}
    )
    assert published.status_code == 302, published.get_data(as_text=True)
    with results_app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        snapshot = publication.latest_snapshot(db.session, cycle)
        assert snapshot is not None
        data = publication.snapshot_data(snapshot)
        categories = data["outputs"]["categories"]
    assert data["inputs"]["rules"]["robust_threshold"] == "0.99"
    assert data["inputs"]["rules"]["smoothing"] == "fay-herriot"
    flagged = 0
    for category in categories:
        public = client.get(
            f"/results/{cycle_id}/{category['code']}", headers={"Accept-Language": "zh"}
        ).get_data(as_text=True)
        assert "等次概率" in public and "经 Fay–Herriot 小域估计模型平滑" in public
        for unit in category["units"]:
            row = public.split(f'<tr data-unit="{unit["unit"]}">')[1].split("</tr>")[0]
            probability = unit["grade_probability"]
            if probability is None:
                continue
            assert f"{probability['probability'] * 100:.1f}%" in row
            assert ("不稳健" in row) == (probability["probability"] < 0.99)
            flagged += "不稳健" in row
    assert flagged  # the demo has close calls at this threshold
    methods = client.get(
        f"/results/{cycle_id}/methods", headers={"Accept-Language": "zh"}
    ).get_data(as_text=True)
    assert "经 Fay–Herriot 小域估计模型平滑" in methods and "等次概率" in methods
    api = client.get(f"/api/results/{cycle_id}").get_json()
    assert api["format"] == scoring.RULES_VERSION and api["smoothing"]["applied"]
    assert api["categories"] == categories


def test_public_page_of_an_old_snapshot_has_no_probabilities(results_app: Flask) -> None:
    """A v1 snapshot in force (inserted as the 2025 cycle's next version) still shows."""
    from survey.extensions import db

    content = v1_content()
    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        current = publication.latest_snapshot(db.session, cycle)
        assert current is not None
        db.session.add(
            ResultSnapshot(
                cycle_id=cycle.id,
                version=current.version + 1,
                supersedes_id=current.id,
                rules_version=scoring.RULES_VERSION_1,
                content=content,
                sha256=publication.sha256_text(content),
                reason="v1",
                published_by="admin",
            )
        )
        db.session.commit()
        cycle_id = cycle.id
    page = results_app.test_client().get(
        f"/results/{cycle_id}/county", headers={"Accept-Language": "zh"}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-unit="C01"' in text
    assert "等次概率" not in text and "不稳健" not in text and "平滑" not in text
    methods = results_app.test_client().get(
        f"/results/{cycle_id}/methods", headers={"Accept-Language": "zh"}
    )
    assert methods.status_code == 200 and "等次概率" not in methods.get_data(as_text=True)
