"""A unit's liaison (联络员) in headless Chromium, CSRF on: signs in and lands on the own
unit, reads its comments with personal data masked, records a rectification (整改)
asking for a follow-up call-back, files an appeal with a PDF and sees it pending,
and cannot open another unit's page.  Any other 4xx or 5xx a click produces fails it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.app.browser import watch_errors
from tests.app.test_results_appeals import real_pdf
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

#: What a citizen wrote; the comment is stored masked, as the answer path stores it.
WRITTEN = "窗口的王建国态度差，我的电话13812345678，请回电。"


def test_liaison_journey_in_the_browser(
    live_results_server: LiveServer, chromium: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.models import Appeal, Comment, Cycle, Rectification, Response, Unit, User
    from survey.services.redaction import mask_personal_data

    base = live_results_server.url
    app = live_results_server.app
    with app.app_context():
        liaison = db.session.scalars(sa.select(User).where(User.username == "liaison")).one()
        own_code = db.session.get(Unit, liaison.unit_id).code  # type: ignore[union-attr]
        published = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        units = {u.code: u for u in published.units}
        own, other = units[own_code], next(u for c, u in units.items() if c != own_code)
        response_id = db.session.scalars(
            sa.select(Response.id).where(Response.cycle_id == published.id).limit(1)
        ).one()
        db.session.add(
            Comment(response_id=response_id, unit_id=own.id, text=mask_personal_data(WRITTEN))
        )
        db.session.commit()
        cycle_id, own_id, own_name, other_id = published.id, own.id, own.name, other.id
    other_page = f"{base}/admin/cycles/{cycle_id}/units/{other_id}"
    failures: list[str] = []
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures, allowed={other_page})

    page.goto(f"{base}/auth/login")
    page.get_by_label("用户名").fill("liaison")
    page.get_by_label("密码").fill("minyi-demo")
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    # Lands on the own unit in the published cycle, not on the public start page.
    assert page.url == f"{base}/liaison/cycles/{cycle_id}"
    assert page.locator("h1").inner_text() == own_name
    # The result reads in Chinese: no grading-engine English such as "position 1 of 5".
    result = page.locator("table.list").first.inner_text()
    assert "等次" in result and "按比例确定" in result
    assert re.findall(r"[A-Za-z]{3,}", result) == []

    comments = page.locator("ul.comments").inner_text()
    assert "我的电话[电话]" in comments
    assert "13812345678" not in page.content()

    page.get_by_label("整改措施").fill("增设两个综合窗口，午间不停办，排队时间已缩短。")
    page.get_by_label("申请对同意回访的受访者进行回访").check()
    page.get_by_role("button", name="提交整改情况").click()
    page.locator(".flash.success").wait_for()
    assert "整改情况已记录。" in page.locator(".flash.success").inner_text()
    assert "已申请回访" in page.content()

    page.get_by_label("申诉理由").fill("样本中本单位服务对象占比偏低，附排队记录。")
    evidence = tmp_path / "排队记录.pdf"
    evidence.write_bytes(real_pdf())
    page.locator("input[name=attachments]").set_input_files(str(evidence))
    page.get_by_role("button", name="提交申诉").click()
    page.locator(".flash.success").wait_for()
    pending = page.locator(".appeal[data-status=pending]")
    assert pending.count() == 1
    assert "待处理" in pending.inner_text()
    assert "样本中本单位服务对象占比偏低" in pending.inner_text()

    # Another unit's page is closed to a liaison (the only 4xx this journey allows).
    refused = page.goto(other_page)
    assert refused is not None and refused.status in (403, 404)

    text = page.locator("body").inner_text()
    assert not re.search(r"\b(Forbidden|Not Found|Internal Server Error)\b", text), text
    context.close()
    assert failures == []

    with app.app_context():
        rectification = db.session.scalars(
            sa.select(Rectification).where(Rectification.unit_id == own_id)
        ).one()
        assert rectification.follow_up_requested_at is not None
        appeal = db.session.scalars(sa.select(Appeal).where(Appeal.unit_id == own_id)).one()
        assert appeal.status.value == "pending"
        assert len(appeal.attachments) == 1
