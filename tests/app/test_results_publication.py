"""Publishing results: snapshot contents, immutability, refusals, verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from sampling.grading import round_score
from survey.models import Cycle, CycleStatus, ResultSnapshot
from survey.services import components, cycles, publication, scoring, synthetic
from survey.services.errors import ServiceError, ValidationError
from tests.app.helpers import zh_catalogue


def published_cycle(session: Any) -> Cycle:
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
    assert isinstance(cycle, Cycle)
    return cycle


def unit_output(data: dict[str, Any], code: str) -> dict[str, Any]:
    for category in data["outputs"]["categories"]:
        for unit in category["units"]:
            if unit["unit"] == code:
                assert isinstance(unit, dict)
                return unit
    raise AssertionError(code)


def test_demo_snapshot_contents(results_session: Any) -> None:
    cycle = published_cycle(results_session)
    snapshot = publication.latest_snapshot(results_session, cycle)
    assert snapshot is not None and cycle.status == CycleStatus.PUBLISHED
    assert snapshot.sha256 == publication.sha256_text(snapshot.content)
    data = json.loads(snapshot.content)
    assert data["inputs"]["rules"]["minimum_responses"] == 30
    assert set(data["inputs"]["components"]) == {"annual", "routine", "self_building"}
    # L05 failed the work-safety constraint indicator: annual counts zero, one grade down.
    l05 = unit_output(data, "L05")
    annual = next(part for part in l05["total"]["contributions"] if part["component"] == "annual")
    assert annual["vetoed"] and annual["contribution"] == 0
    assert l05["grade"] == "third" and l05["reasons"][0]["code"] == "constraint_veto"
    # C06 completed a quantitative target at 55 %: capped at the restricted grade.
    c06 = unit_output(data, "C06")
    assert c06["grade"] == "third" and c06["reasons"][0]["code"] == "target_below_threshold"
    # Every total is the rounded weighted sum of its contributions.
    for category in data["outputs"]["categories"]:
        for unit in category["units"]:
            total = sum(part["contribution"] for part in unit["total"]["contributions"])
            assert unit["total"]["unrounded"] == pytest.approx(total, abs=1e-9)
            assert unit["total"]["estimate"] == round_score(unit["total"]["unrounded"], 2)
            assert unit["total"]["ci_low"] < unit["total"]["unrounded"] < unit["total"]["ci_high"]
    # Neighbour tests use the covariance of units rated by the same respondents:
    # cov(T_i, T_j) = w_s² Σ_g w'_ig w'_jg cov_g(i, j), worked out here from the inputs.
    inputs = data["inputs"]
    category = next(c for c in data["outputs"]["categories"] if c["code"] == "economic")
    weight = inputs["categories"][4]["component_weights"]["social_recognition"]
    assert inputs["categories"][4]["code"] == "economic"
    first, second = category["units"][0], category["units"][1]
    variance = {(row["unit"], row["group"]): row["variance"] for row in inputs["group_scores"]}
    covariance = {
        (row["first"], row["second"], row["group"]): row["covariance"]
        for row in inputs["group_covariances"]
    }

    def effective(unit: dict[str, Any]) -> dict[str, float]:
        return {part["group"]: part["effective_weight"] for part in unit["social"]["groups"]}

    one, two = effective(first), effective(second)
    pair = tuple(sorted([first["unit"], second["unit"]]))
    shared = sum(
        one[group] * two[group] * covariance.get((pair[0], pair[1], group), 0.0) for group in one
    )
    own = [
        sum(weights[g] ** 2 * variance.get((unit["unit"], g), 0.0) for g in weights)
        for unit, weights in ((first, one), (second, two))
    ]
    se = weight * (own[0] + own[1] - 2 * shared) ** 0.5
    assert shared > 0  # the same citizens and listed raters rated both units
    assert first["next"]["unit"] == second["unit"]
    assert first["next"]["se"] == pytest.approx(se, rel=1e-9)
    low = first["total"]["unrounded"] - second["total"]["unrounded"] - 1.959963984540054 * se
    assert first["next"]["distinguishable"] == (low > 0)
    # Redistributed units carry the office's decision.
    redistributed = [
        unit["unit"]
        for category in data["outputs"]["categories"]
        for unit in category["units"]
        if unit["social"]["redistributed"]
    ]
    assert redistributed and set(redistributed) <= set(data["inputs"]["decisions"])


def test_snapshot_cannot_be_changed_in_the_database(results_app: Flask) -> None:
    from survey.extensions import db

    with results_app.app_context():
        snapshot_id = db.session.scalar(sa.select(ResultSnapshot.id))
        for statement in (
            "UPDATE result_snapshot SET reason = 'edited' WHERE id = :id",
            "UPDATE result_snapshot SET content = '{}' WHERE id = :id",
            "DELETE FROM result_snapshot WHERE id = :id",
        ):
            with (
                pytest.raises(sa.exc.DatabaseError, match="immutable"),
                db.engine.begin() as connection,
            ):
                connection.execute(sa.text(statement), {"id": snapshot_id})
        snapshot = db.session.get(ResultSnapshot, snapshot_id)
        assert snapshot is not None
        snapshot.reason = "edited through the ORM"
        with pytest.raises(sa.exc.DatabaseError, match="immutable"):
            db.session.commit()
        db.session.rollback()
        stored = db.session.get(ResultSnapshot, snapshot_id)
        assert stored is not None and stored.reason == ""
        assert publication.verify_snapshot(stored).identical


def test_no_route_can_change_a_snapshot(results_app: Flask) -> None:
    for rule in results_app.url_map.iter_rules():
        if "result" in rule.rule or "snapshot" in rule.rule:
            assert not (rule.methods or set()) & {"PUT", "PATCH", "DELETE"}, rule.rule


def test_publish_refuses_missing_components_and_undecided_units(results_session: Any) -> None:
    cycle = results_session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    with pytest.raises(ServiceError, match="Only a closed cycle"):
        publication.publish(results_session, cycle, actor="admin")
    cycles.transition_cycle(results_session, cycle, CycleStatus.FIELDING, actor="admin")
    synthetic.generate_responses(results_session, cycle, seed=7)
    cycles.transition_cycle(results_session, cycle, CycleStatus.CLOSED, actor="admin")
    with pytest.raises(ValidationError) as caught:
        publication.publish(results_session, cycle, actor="admin")
    problems = [str(problem) for problem in caught.value.problems]
    assert any("“年度实绩” (annual) has not been imported" in problem for problem in problems)
    assert any("“平时实绩” (routine) has not been imported" in problem for problem in problems)
    assert any("too few valid responses" in problem for problem in problems)
    # Everything in the refusal is in the catalogue: the view shows it in Chinese.
    chinese = [problem.text(zh_catalogue().gettext) for problem in caught.value.problems]
    assert any("“年度实绩”（annual）尚未导入" in problem for problem in chinese)
    assert any("的有效回答太少" in problem for problem in chinese)
    assert caught.value.text(zh_catalogue().gettext) == (
        f"结果不能公示：有 {len(problems)} 个问题。"
    )
    assert cycle.status == CycleStatus.CLOSED
    count = results_session.scalar(
        sa.select(sa.func.count()).where(ResultSnapshot.cycle_id == cycle.id)
    )
    assert count == 0
    # With the components imported and a decision on every flagged unit it publishes,
    # and the ranking shows the change against last year's published result.
    for component in cycle.components:
        if not component.is_social_recognition:
            components.import_component(
                results_session,
                cycle,
                component,
                filename=f"{component.code}.csv",
                data=synthetic.component_csv(cycle, component.code, seed=11),
                actor="admin",
            )
    undecided = [
        str(problem.parameters["code"])
        for problem in caught.value.problems
        if "too few valid responses" in problem.message
    ]
    assert undecided
    snapshot = publication.publish(
        results_session, cycle, actor="admin", decisions=dict.fromkeys(undecided, "同意")
    )
    data = json.loads(snapshot.content)
    last_year = data["inputs"]["previous"]["units"]
    for category in data["outputs"]["categories"]:
        for unit in category["units"]:
            before = last_year[unit["unit"]]
            assert unit["rank_change"] == before["rank"] - unit["rank"]
            expected = round_score(unit["total"]["estimate"] - before["score"], 2)
            assert unit["score_change"] == expected
    assert cycle.status == CycleStatus.PUBLISHED


def test_correction_is_a_new_snapshot_referencing_the_old(results_session: Any) -> None:
    cycle = published_cycle(results_session)
    first = publication.latest_snapshot(results_session, cycle)
    assert first is not None
    inputs = json.loads(first.content)["inputs"]
    inputs["components"]["annual"]["values"]["L05"]["vetoed"] = False
    with pytest.raises(ValidationError, match="written reason"):
        publication.supersede(results_session, first, inputs, actor="admin", reason=" ")
    second = publication.supersede(
        results_session, first, inputs, actor="admin", reason="appeal 1 upheld"
    )
    assert (second.version, second.supersedes_id) == (2, first.id)
    assert unit_output(json.loads(second.content), "L05")["grade"] != "third"
    assert publication.latest_snapshot(results_session, cycle) is second
    with pytest.raises(ServiceError, match="in force"):
        publication.supersede(results_session, first, inputs, actor="admin", reason="again")


def test_verify_command_identical_then_different(results_app: Flask, tmp_path: Path) -> None:
    from survey.extensions import db

    runner = results_app.test_cli_runner()
    with results_app.app_context():
        snapshot_id = db.session.scalar(sa.select(ResultSnapshot.id))
    result = runner.invoke(args=["results", "verify", str(snapshot_id)])
    assert result.exit_code == 0, result.output
    assert "identical" in result.output
    copy = tmp_path / "snapshot.json"
    result = runner.invoke(args=["results", "export", str(snapshot_id), "--out", str(copy)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["results", "verify", "--file", str(copy)])
    assert result.exit_code == 0 and "identical" in result.output, result.output
    # Alter one input in the copy: C01's routine score.
    data = json.loads(copy.read_text(encoding="utf-8"))
    data["inputs"]["components"]["routine"]["values"]["C01"]["score"] -= 10
    copy.write_text(scoring.canonical_json(data), encoding="utf-8")
    result = runner.invoke(args=["results", "verify", "--file", str(copy)])
    assert result.exit_code == 1, result.output
    assert "DIFFERENT" in result.output
    assert "units[C01].total.estimate" in result.output
    result = runner.invoke(args=["results", "verify", "999999"])
    assert result.exit_code != 0 and "no result snapshot" in result.output


def test_publish_command_refuses_with_the_reason(results_app: Flask) -> None:
    from survey.extensions import db

    with results_app.app_context():
        draft_id = db.session.scalar(sa.select(Cycle.id).where(Cycle.year == 2026))
    runner = results_app.test_cli_runner()
    result = runner.invoke(args=["results", "publish", str(draft_id)])
    assert result.exit_code == 1
    assert "Only a closed cycle can be published (this one is Draft)." in result.output
    result = runner.invoke(args=["results", "publish", "999999"])
    assert result.exit_code != 0 and "no cycle with id 999999" in result.output
    with results_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResultSnapshot)) == 1
