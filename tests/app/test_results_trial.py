"""试算: the office sees every unit's result before publishing, and nothing is stored.

The trial page computes what publishing would store, names what keeps the
results from publication (missing components, units with too few responses,
a rater group that cannot be scored) in Chinese, and publishes from the same
choices.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask

from survey.models import (
    Answer,
    AuditLogEntry,
    Comment,
    Cycle,
    CycleStatus,
    RaterGroup,
    Response,
    ResultSnapshot,
)
from tests.app.helpers import login


def _closed_cycle(app: Flask, *, with_components: bool, keep_citizens: int | None = None) -> int:
    from survey.extensions import db
    from survey.services import components, cycles, synthetic

    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="admin")
        synthetic.generate_responses(db.session, cycle, seed=7)
        if keep_citizens is not None:
            citizens = db.session.scalars(
                sa.select(RaterGroup).where(
                    RaterGroup.cycle_id == cycle.id, RaterGroup.code == "citizens"
                )
            ).one()
            ids = db.session.scalars(
                sa.select(Response.id)
                .where(Response.rater_group_id == citizens.id)
                .order_by(Response.id)
                .offset(keep_citizens)
            ).all()
            for table in (Answer, Comment):
                db.session.execute(sa.delete(table).where(table.response_id.in_(ids)))
            db.session.execute(sa.delete(Response).where(Response.id.in_(ids)))
        cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="admin")
        if with_components:
            for component in cycle.components:
                if not component.is_social_recognition:
                    components.import_component(
                        db.session,
                        cycle,
                        component,
                        filename=f"{component.code}.csv",
                        data=synthetic.component_csv(cycle, component.code, seed=11),
                        actor="admin",
                    )
        db.session.commit()
        return cycle.id


def _counts(app: Flask) -> tuple[int, int]:
    from survey.extensions import db

    with app.app_context():
        snapshots = db.session.scalar(sa.select(sa.func.count()).select_from(ResultSnapshot))
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLogEntry))
        return int(snapshots or 0), int(entries or 0)


def test_trial_names_what_is_missing_and_stores_nothing(results_app: Flask) -> None:
    cycle_id = _closed_cycle(results_app, with_components=False)
    client = results_app.test_client()
    login(client, "admin")
    assert "试算" in client.get(f"/office/cycles/{cycle_id}").get_data(as_text=True)
    before = _counts(results_app)
    page = client.get(f"/office/cycles/{cycle_id}/trial").get_data(as_text=True)
    assert "不会保存" in page
    problems = re.findall(r"<li>(.*?)</li>", page.split('id="trial-problems"')[1].split("</ul>")[0])
    assert any("尚未导入" in text and "（annual）" in text for text in problems), problems
    assert any("有效回答太少" in text for text in problems), problems
    assert 'id="publish"' not in page  # nothing to publish while problems remain
    # Every unit of every category is on the page with a grade or a dash.
    assert page.count('data-unit="') >= 44
    assert _counts(results_app) == before


def test_trial_then_publish_the_same_results(results_app: Flask) -> None:
    from survey.extensions import db
    from survey.services import publication

    cycle_id = _closed_cycle(results_app, with_components=True)
    client = results_app.test_client()
    login(client, "admin")
    before = _counts(results_app)
    page = client.get(
        f"/office/cycles/{cycle_id}/trial", query_string={"decision": "同意按比例分配权重"}
    ).get_data(as_text=True)
    assert 'id="trial-ready"' in page and 'id="publish"' in page
    assert _counts(results_app) == before
    shown = dict(re.findall(r'<tr data-unit="(\w+)">\s*<td class="rank"[^>]*>(\d+|—)</td>', page))
    unconfirmed = client.post(
        f"/office/cycles/{cycle_id}/publish",
        data={"grade_scheme": "teams-15-80-5", "decision": "同意按比例分配权重"},
    )
    assert unconfirmed.status_code == 400 and "请勾选确认" in unconfirmed.get_data(as_text=True)
    assert _counts(results_app) == before
    published = client.post(
        f"/office/cycles/{cycle_id}/publish",
        data={
            "grade_scheme": "teams-15-80-5",
            "decision": "同意按比例分配权重",
            "confirmed": "y",
        },
    )
    assert published.status_code == 302
    with results_app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None and cycle.status == CycleStatus.PUBLISHED
        snapshot = publication.latest_snapshot(db.session, cycle)
        assert snapshot is not None
        outputs = publication.snapshot_data(snapshot)["outputs"]
        ranks = {
            unit["unit"]: str(unit["rank"] or "—")
            for category in outputs["categories"]
            for unit in category["units"]
        }
    assert shown and ranks == shown  # what the trial showed is what was published


def test_a_rater_group_too_small_to_score_is_named_with_what_to_do(results_app: Flask) -> None:
    cycle_id = _closed_cycle(results_app, with_components=True, keep_citizens=1)
    client = results_app.test_client()
    login(client, "admin")
    response = client.get(f"/office/cycles/{cycle_id}/trial")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "degrees of freedom must be positive" not in page
    assert "群众" in page and "1 份回答" in page and "自由度" in page, page
