"""Cycles: defaults, status transitions, weights."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import AuditLogEntry, Cycle, CycleStatus, RaterGroupWeight
from survey.services import cycles
from survey.services.errors import TransitionError, ValidationError
from survey.services.weights import weight_problems
from tests.app.helpers import login

SETTINGS = cycles.CycleSettings(
    name="2027年度", year=2027, period_start=date(2027, 1, 1), period_end=date(2027, 12, 31)
)


def test_new_cycle_with_defaults_is_consistent(session: sa.orm.Session) -> None:
    cycle = cycles.create_cycle(session, SETTINGS, actor="t")
    session.commit()
    assert [c.name for c in cycle.categories][:2] == ["县市区", "党委部门"]
    assert len(cycle.categories) == 8
    assert [g.code for g in cycle.rater_groups] == [
        "citizens",
        "service_recipients",
        "deputies",
        "leaders",
        "subordinates",
    ]
    assert [(lvl.label, lvl.points) for lvl in cycle.scale_levels] == [
        ("很满意", 100),
        ("满意", 80),
        ("基本满意", 60),
        ("不太满意", 30),
        ("不满意", 0),
        ("不了解", None),
    ]
    assert weight_problems(cycle) == []
    county = cycle.categories[0]
    assert {w.component.code: w.weight for w in county.component_weights} == {
        "routine": 0.20,
        "annual": 0.45,
        "self_building": 0.20,
        "social_recognition": 0.15,
    }
    department = cycle.categories[1]
    assert {w.component.code: w.weight for w in department.component_weights} == {
        "routine": 0.15,
        "annual": 0.50,
        "self_building": 0.15,
        "social_recognition": 0.20,
    }


def test_cycle_names_are_unique(session: sa.orm.Session) -> None:
    cycles.create_cycle(session, SETTINGS, actor="t")
    with pytest.raises(ValidationError) as caught:
        cycles.create_cycle(session, SETTINGS, actor="t")
    assert caught.value.problems[0].column == "name"


def test_period_must_be_ordered(session: sa.orm.Session) -> None:
    bad = cycles.CycleSettings(
        name="x", year=2027, period_start=date(2027, 12, 1), period_end=date(2027, 1, 1)
    )
    with pytest.raises(ValidationError, match="The cycle settings were not saved"):
        cycles.create_cycle(session, bad, actor="t")


def test_transitions_follow_the_life_cycle(demo_session: sa.orm.Session) -> None:
    cycle = demo_session.get(Cycle, 1)
    assert cycle is not None
    with pytest.raises(TransitionError):
        cycles.transition_cycle(demo_session, cycle, CycleStatus.PUBLISHED, actor="t")
    for target in (
        CycleStatus.FIELDING,
        CycleStatus.CLOSED,
        CycleStatus.PUBLISHED,
        CycleStatus.FINAL,
    ):
        cycles.transition_cycle(demo_session, cycle, target, actor="t")
    for target in CycleStatus:
        with pytest.raises(TransitionError):
            cycles.transition_cycle(demo_session, cycle, target, actor="t")


def test_empty_cycle_cannot_start_fieldwork(session: sa.orm.Session) -> None:
    cycle = cycles.create_cycle(session, SETTINGS, actor="t")
    with pytest.raises(TransitionError) as caught:
        cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="t")
    assert "no units" in str(caught.value.problems[0])


def test_illegal_transition_over_http_changes_nothing(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "admin")
    response = demo_client.post(
        "/admin/cycles/1/status",
        data={"target": "published", "confirmed": "y"},
        follow_redirects=True,
    )
    assert "状态为“草稿”的考核周期不能变更为“已公示”。" in response.get_data(as_text=True)
    with demo_app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.DRAFT  # type: ignore[union-attr]
        actions = db.session.scalars(sa.select(AuditLogEntry.action)).all()
        assert "cycle.transition" not in actions


def test_legal_transition_over_http(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    unconfirmed = demo_client.post("/admin/cycles/1/status", data={"target": "fielding"})
    assert unconfirmed.status_code == 400 and "请勾选确认" in unconfirmed.get_data(as_text=True)
    with demo_app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.DRAFT  # type: ignore[union-attr]
    demo_client.post("/admin/cycles/1/status", data={"target": "fielding", "confirmed": "y"})
    with demo_app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.FIELDING  # type: ignore[union-attr]
    # Setup is frozen once fieldwork has started.
    response = demo_client.post(
        "/admin/cycles/1/units", data={"code": "Z9", "name": "新单位", "category_id": 1}
    )
    assert response.status_code == 400


def _weights_form(app: Flask, override: dict[str, str]) -> dict[str, str]:
    with app.app_context():
        rows = db.session.scalars(sa.select(RaterGroupWeight)).all()
        data = {f"w_{w.category_id}_{w.rater_group_id}": str(w.weight) for w in rows}
    data.update(override)
    return data


def test_rater_weights_not_summing_to_one_are_refused(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "admin")
    before = _weights_form(demo_app, {})
    bad = _weights_form(demo_app, {"w_1_1": "0.9"})
    response = demo_client.post("/admin/cycles/1/rater-groups", data=bad)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "“县市区”的评价主体权重：权重之和为 1.4000，不等于 1" in text
    assert _weights_form(demo_app, {}) == before


def test_rater_weights_that_sum_to_one_are_saved(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    good = _weights_form(demo_app, {"w_1_1": "0.4", "w_1_2": "0.2"})
    response = demo_client.post("/admin/cycles/1/rater-groups", data=good)
    assert response.status_code == 302
    assert _weights_form(demo_app, {})["w_1_1"] == "0.4"


def test_component_weights_are_validated(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    page = demo_client.get("/admin/cycles/1/components").get_data(as_text=True)
    assert "0.4500" in page  # the county preset 45% for 年度实绩
    response = demo_client.post("/admin/cycles/1/components", data={"w_1_1": "0.5"})
    assert response.status_code == 400


def test_item_weights_must_sum_to_one(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    response = demo_client.post(
        "/admin/cycles/1/questionnaire/weights", data={f"item_{i}": "0.3" for i in range(1, 6)}
    )
    assert response.status_code == 400
    assert "评价内容权重：权重之和为 1.5000，不等于 1" in response.get_data(as_text=True)
    response = demo_client.post(
        "/admin/cycles/1/questionnaire/weights",
        data={
            "item_1": "0.4",
            "item_2": "0.15",
            "item_3": "0.15",
            "item_4": "0.15",
            "item_5": "0.15",
        },
    )
    assert response.status_code == 302


def test_admin_creates_a_cycle_through_the_form(app: Flask, client: FlaskClient) -> None:
    from survey.models import Role
    from survey.services.users import create_user

    with app.app_context():
        create_user(db.session, username="boss", password="password1", role=Role.ADMIN, actor="t")
        db.session.commit()
    login(client, "boss", "password1")
    response = client.post(
        "/admin/cycles/new",
        data={
            "name": "2027年度考核",
            "year": "2027",
            "period_start": "2027-01-01",
            "period_end": "2027-12-31",
            "scale_preset": "linear",
            "dont_know_handling": "count_in_base",
            "min_valid_responses": "25",
            "with_defaults": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle)).one()
        assert cycle.scale_preset.value == "linear"
        assert [lvl.points for lvl in cycle.scale_levels][:5] == [100, 75, 50, 25, 0]
        assert cycle.min_valid_responses == 25
        assert len(cycle.rater_groups) == 5


def test_every_label_of_the_setup_pages_names_one_control(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    """The units page holds three forms: their 编码 and 名称 boxes once shared the ids
    "code" and "name", so the category form's labels named the unit form's boxes."""
    import re

    with demo_app.app_context():
        cycle_id = db.session.scalars(sa.select(Cycle.id).where(Cycle.year == 2026)).one()
    login(demo_client, "admin")
    for path in (
        "/admin/cycles/new",
        f"/admin/cycles/{cycle_id}/units",
        f"/admin/cycles/{cycle_id}/questionnaire",
        f"/admin/cycles/{cycle_id}/rater-groups",
        f"/office/cycles/{cycle_id}",
        "/admin/users/new",
    ):
        text = demo_client.get(path).get_data(as_text=True)
        ids = re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', text)
        for target in re.findall(r'<label[^>]*\bfor="([^"]+)"', text):
            assert ids.count(target) == 1, (path, target)


def test_item_weights_as_the_page_shows_them_can_be_saved(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    """A sixth item spread the weights as 1/6 each; the page shows four places, so
    saving the page unchanged sent 6 × 0.1667 = 1.0002 and was refused."""
    import re

    login(demo_client, "admin")
    added = demo_client.post(
        "/admin/cycles/1/questionnaire/items", data={"code": "efficiency", "name": "办事效率"}
    )
    assert added.status_code == 302
    page = demo_client.get("/admin/cycles/1/questionnaire").get_data(as_text=True)
    shown = dict(re.findall(r'name="(item_\d+)"[^>]*value="([^"]*)"', page))
    assert len(shown) == 6
    assert abs(sum(float(value) for value in shown.values()) - 1) < 1e-9
    saved = demo_client.post("/admin/cycles/1/questionnaire/weights", data=shown)
    assert saved.status_code == 302
    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None and not weight_problems(cycle)
        weights = sorted(item.weight for item in cycle.items)
        assert weights[-1] - weights[0] <= 0.0005  # still spread (nearly) equally
