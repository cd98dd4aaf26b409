"""Liaison and office pages: own unit only, rectification, appeals through the web."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Flask

from survey.models import (
    Appeal,
    AppealStatus,
    Comment,
    Cycle,
    Rectification,
    Response,
    ResultSnapshot,
    Unit,
)
from tests.app.helpers import login


def cycle_2025(app: Flask) -> tuple[int, dict[str, int]]:
    from survey.extensions import db

    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        return cycle.id, {unit.code: unit.id for unit in cycle.units}


def add_comment(app: Flask, unit_id: int, text: str) -> None:
    from survey.extensions import db

    with app.app_context():
        response_id = db.session.scalar(sa.select(Response.id).limit(1))
        db.session.add(Comment(response_id=response_id, unit_id=unit_id, text=text))
        db.session.commit()


def test_liaison_sees_own_unit_only_and_records_rectification(results_app: Flask) -> None:
    cycle_id, units = cycle_2025(results_app)
    add_comment(results_app, units["G04"], "审批窗口周末应开放 OWN-UNIT-COMMENT")
    add_comment(results_app, units["G03"], "财政信息公开不够 OTHER-UNIT-COMMENT")
    client = results_app.test_client()
    login(client, "liaison")
    assert client.get("/office/").status_code == 403
    page = client.get(f"/liaison/cycles/{cycle_id}", headers={"Accept-Language": "zh"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "市行政审批服务局" in text
    assert "OWN-UNIT-COMMENT" in text and "OTHER-UNIT-COMMENT" not in text
    refused = client.post(f"/liaison/cycles/{cycle_id}/rectifications", data={"text": "  "})
    assert refused.status_code == 400
    saved = client.post(
        f"/liaison/cycles/{cycle_id}/rectifications",
        data={"text": "已增设周末窗口", "request_follow_up": "y"},
    )
    assert saved.status_code == 302
    from survey.extensions import db

    with results_app.app_context():
        entry = db.session.scalars(sa.select(Rectification)).one()
        assert entry.unit_id == units["G04"] and entry.follow_up_requested_at is not None
    admin = results_app.test_client()
    login(admin, "admin")
    overview = admin.get(f"/office/cycles/{cycle_id}").get_data(as_text=True)
    row = overview[overview.index('data-unit="G04"') :].split("</tr>")[0]
    assert "<td>1</td>" in row  # one response recorded


def test_appeal_filed_and_upheld_through_the_web(results_app: Flask) -> None:
    cycle_id, units = cycle_2025(results_app)
    liaison = results_app.test_client()
    login(liaison, "liaison")
    bad = liaison.post(
        f"/liaison/cycles/{cycle_id}/appeals",
        data={"reason": "得分计算有误", "attachments": [(io.BytesIO(b"MZ"), "tool.exe")]},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "tool.exe" in bad.get_data(as_text=True)
    filed = liaison.post(
        f"/liaison/cycles/{cycle_id}/appeals",
        data={"reason": "得分计算有误", "attachments": [(io.BytesIO(b"%PDF-1.4"), "证明.pdf")]},
        content_type="multipart/form-data",
    )
    assert filed.status_code == 302
    from survey.extensions import db

    with results_app.app_context():
        appeal = db.session.scalars(sa.select(Appeal)).one()
        appeal_id, attachment_id = appeal.id, appeal.attachments[0].id
        assert appeal.unit_id == units["G04"]
    admin = results_app.test_client()
    login(admin, "admin")
    assert liaison.get(f"/office/appeals/{appeal_id}").status_code == 403
    download = admin.get(f"/office/appeals/{appeal_id}/attachments/{attachment_id}")
    assert download.data == b"%PDF-1.4"
    missing_reason = admin.post(f"/office/appeals/{appeal_id}", data={"outcome": "upheld"})
    assert missing_reason.status_code == 400
    decided = admin.post(
        f"/office/appeals/{appeal_id}",
        data={
            "outcome": "upheld",
            "confirmed": "y",
            "reason": "平时实绩录入错误，予以更正",
            "component": "routine",
            "score": "99",
        },
    )
    assert decided.status_code == 302
    with results_app.app_context():
        appeal = db.session.get(Appeal, appeal_id)
        assert appeal is not None and appeal.status == AppealStatus.UPHELD
        versions = db.session.scalars(sa.select(ResultSnapshot.version)).all()
        assert sorted(versions) == [1, 2]
    public = admin.get(
        f"/results/{cycle_id}/government", headers={"Accept-Language": "zh"}
    ).get_data(as_text=True)
    assert "第2版" in public and "平时实绩录入错误" in public


def test_office_component_import_lists_problems(results_app: Flask) -> None:
    from survey.extensions import db

    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycle_id = cycle.id
        component_id = next(c.id for c in cycle.components if c.code == "routine")
        unit_count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Unit).where(Unit.cycle_id == cycle_id)
        )
    admin = results_app.test_client()
    login(admin, "admin")
    response = admin.post(
        f"/office/cycles/{cycle_id}/components/{component_id}",
        data={"file": (io.BytesIO(b"unit_code,score\nC01,101\nZZ9,50\n"), "r.csv")},
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "第 3 行“unit_code”列：未知单位 &#39;ZZ9&#39;" in text
    assert "第 2 行“score”列：101 超出 0–100 的范围" in text
    assert text.count("文件中缺少单位") == unit_count - 1


def test_office_component_upload_without_a_file_says_so_on_its_row(results_app: Flask) -> None:
    """The import forms share one form class: the refusal shows under the row posted,
    once, and each row's file box has a label of its own (it had none)."""
    from survey.extensions import db

    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycle_id = cycle.id
        component_id = next(c.id for c in cycle.components if c.code == "annual")
    admin = results_app.test_client()
    login(admin, "admin")
    response = admin.post(
        f"/office/cycles/{cycle_id}/components/{component_id}",
        data={"encoding": "auto"},
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    row = text[text.index("<td>年度实绩</td>") : text.index("<td>自身建设</td>")]
    assert row.count('class="error"') == 1 and "必填" in row
    assert text.count('class="error"') == 1
    assert 'aria-label="文件（CSV 或 XLSX） · 年度实绩"' in text
    assert 'aria-label="CSV 编码 · 平时实绩"' in text
