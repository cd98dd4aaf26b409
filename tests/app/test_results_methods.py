"""The methods statement (方法说明) of a published result, built from the data (issue #24)."""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

import sqlalchemy as sa
from scipy.stats import norm

from survey.models import Cycle, RaterGroup, ResultSnapshot
from survey.services import methods


def published(session: Any) -> tuple[Cycle, ResultSnapshot]:
    snapshot = session.scalars(sa.select(ResultSnapshot)).one()
    return session.get(Cycle, snapshot.cycle_id), snapshot


def test_statement_figures_come_from_the_snapshot_and_fieldwork(results_session: Any) -> None:
    cycle, snapshot = published(results_session)
    statement = methods.methods_statement(
        results_session, cycle, snapshot, sponsor="江州市委考核办", pollster="民调中心"
    )
    data = json.loads(snapshot.content)
    assert (statement.snapshot_version, statement.snapshot_sha256) == (1, snapshot.sha256)
    assert statement.units == 44 and statement.categories == 8
    groups = {group.code: group for group in statement.groups}
    assert set(groups) == {group.code for group in cycle.rater_groups}
    # Margins: z × the standard error of each unit's group score, recomputed here.
    z = norm.ppf(0.975)
    citizens = [e for e in data["inputs"]["group_scores"] if e["group"] == "citizens"]
    margins = sorted(z * math.sqrt(e["variance"]) for e in citizens if e["estimate"] is not None)
    assert groups["citizens"].margin_median == statistics.median(margins)
    assert groups["citizens"].margin_largest == margins[-1]
    valid = sorted(e["valid_responses"] for e in citizens)
    assert groups["citizens"].valid_per_unit == (valid[0], statistics.median(valid), valid[-1])
    # Units whose group fell below the minimum, as the published result says.
    below = sum(
        "service_recipients" in unit["social"]["below_minimum"]
        for category in data["outputs"]["categories"]
        for unit in category["units"]
    )
    assert groups["service_recipients"].units_below_minimum == below
    # Responses by mode add up to the stored responses of the group.
    stored = results_session.execute(
        sa.text("SELECT count(*) FROM response WHERE cycle_id = :c AND rater_group_id = :g"),
        {"c": cycle.id, "g": next(g.id for g in cycle.rater_groups if g.code == "citizens")},
    ).scalar_one()
    assert sum(groups["citizens"].responses_by_channel.values()) == stored
    assert statement.items and all(weight > 0 for _name, weight in statement.items)
    assert statement.scale[-1][1] is None  # don't know: no points


def test_draws_name_frame_size_and_public_seed(results_session: Any) -> None:
    """The fielding cycle's citizen draw, as the statement of its result will list it."""
    from survey.privacy import vault
    from survey.services.demo_fieldwork import load_fieldwork_demo

    current = results_session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    load_fieldwork_demo(results_session, vault(), current)  # what `minyi demo` adds
    citizens = results_session.scalars(
        sa.select(RaterGroup).where(
            RaterGroup.cycle_id == current.id, RaterGroup.code == "citizens"
        )
    ).one()
    [draw] = methods._draws(results_session, current, citizens.id)
    assert draw.population == 30000 and draw.strata == 8 and draw.sample_size == 2400
    assert (draw.selection, draw.allocation) == ("srswor", "proportional")
    assert draw.seed_source and "双色球" in draw.seed_source and draw.seed_event_date is not None
    assert len(draw.sample_sha256) == 64


def test_methods_page_in_chinese(results_app: Any) -> None:
    results_app.config.update(SPONSOR="江州市委考核办", POLLSTER="")
    with results_app.app_context():
        from survey.extensions import db

        cycle, _snapshot = published(db.session)
    client = results_app.test_client()
    category = client.get(f"/results/{cycle.id}/", follow_redirects=True).get_data(as_text=True)
    assert f'href="/results/{cycle.id}/methods">方法说明</a>' in category
    page = client.get(f"/results/{cycle.id}/methods")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in (
        "方法说明",
        "委托方</dt><dd>江州市委考核办",
        "实施机构</dt><dd>未填写",
        "随机抽样",
        "名单全覆盖",
        "误差范围",
        "±",
        "（100分）",
        "等次方案：领导班子",
    ):
        assert text in html, text
    assert client.get("/results/999/methods").status_code == 404
