"""One comment round the closed loop (好差评闭环) in headless Chromium, production settings:
a citizen comments by an invitation link and agrees to a follow-up → the unit's liaison
sees the comment masked with its due date (working days) and records the fix → the
citizen rates the fix through the personal link sent by SMS → the office sees the rating
and the unit in the month's list.  Any 4xx or 5xx a click produces fails it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.app.browser import sign_in, watch_errors
from tests.conftest import LiveServer, _test_config

pytestmark = pytest.mark.browser

PHONE = "13912345678"
WRITTEN = "窗口的王建国态度差，排队一个小时，我的电话13812345678。"
FIX = "已约谈窗口负责人，增设两个综合窗口，排队时间缩短到15分钟以内。"


@pytest.fixture
def production_server(demo_database_url: str) -> Iterator[LiveServer]:
    """The demo served as production builds it (``ENV_NAME=production``), CSRF on."""
    from survey import create_app
    from survey.extensions import db

    app: Flask = create_app(
        _test_config(demo_database_url, ENV_NAME="production", TESTING=False, WTF_CSRF_ENABLED=True)
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    server = LiveServer(app)
    yield server
    server.stop()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def _answer(page: Any) -> None:
    for fieldset in page.locator("fieldset.question").all():
        fieldset.locator("label.level").first.click()


def test_one_comment_goes_round_the_loop(production_server: LiveServer, chromium: Any) -> None:
    from survey.extensions import db
    from survey.integrations.telephony import telephony
    from survey.models import Comment, FollowUp, FollowUpContact, User
    from survey.services import loop
    from tests.app.respondent_helpers import prepare_fieldwork

    app = production_server.app
    base = production_server.url
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    failures: list[str] = []

    # The citizen answers by the invitation link, comments on the first unit, agrees.
    phone = chromium.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    citizen = phone.new_page()
    citizen.set_default_timeout(20_000)
    watch_errors(citizen, failures)
    citizen.goto(f"{base}/s/{fieldwork.tokens[0]}")
    citizen.get_by_role("link", name="开始").click()
    _answer(citizen)
    citizen.fill("textarea[name=comment]", WRITTEN)
    citizen.get_by_role("button", name="下一个").click()
    _answer(citizen)
    citizen.get_by_role("button", name="提交").click()
    assert citizen.get_by_role("heading", name="谢谢您！").is_visible()
    consent = citizen.locator("section.follow-up-consent")
    assert "90天" in consent.inner_text() and "单位看不到" in consent.inner_text()
    citizen.get_by_label("手机号码").fill(PHONE)
    citizen.get_by_label("我同意").check()
    citizen.get_by_role("button", name="同意回访").click()
    assert "短信" in citizen.locator("p.lead").inner_text()

    with app.app_context():
        comment = db.session.scalars(sa.select(Comment)).one()
        assert "13812345678" not in comment.text
        # The comment's unit gets the demo liaison (whose unit the sitting did not choose).
        liaison = db.session.scalars(sa.select(User).where(User.username == "liaison")).one()
        liaison.unit_id = comment.unit_id
        due = loop.due_on(comment, comment.unit.cycle).isoformat()
        unit_name, cycle_id = comment.unit.name, comment.unit.cycle_id
        db.session.commit()

    # The liaison sees it masked with its due date, never the number, and records the fix.
    staff = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = staff.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures)
    sign_in(page, base, "liaison")
    assert page.url == f"{base}/liaison/cycles/{cycle_id}"
    item = page.locator("ul.comments li", has_text="排队一个小时")
    assert "[电话]" in item.inner_text()
    assert f"应办结 {due}" in item.inner_text()
    assert PHONE not in page.content() and "13812345678" not in page.content()
    item.get_by_label("办理结果").fill(FIX)
    item.get_by_role("button", name="记录办理结果").click()
    page.locator(".flash.success").wait_for()
    assert FIX in page.locator("ul.comments").inner_text()

    # The SMS carries the personal link; the citizen rates the fix 4 of 5.
    with app.app_context():
        (message,) = telephony().messages_to("+86" + PHONE)  # type: ignore[attr-defined]
    link = re.search(r"https?://\S+/f/\S+", message.body)
    assert link is not None and unit_name in message.body
    citizen.goto(base + "/f/" + link.group(0).rsplit("/f/", 1)[1])
    assert FIX in citizen.locator("blockquote.fix").inner_text()
    citizen.get_by_label("4 – 满意").check()
    citizen.get_by_role("button", name="提交评价").click()
    assert "已删除" in citizen.locator("p.lead").inner_text()
    phone.close()

    # The liaison sees the rating; the office sees it and the month's list.
    page.goto(f"{base}/liaison/cycles/{cycle_id}")
    assert "4.0 / 5" in page.locator("ul.comments").inner_text()
    staff.close()
    office_context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    office = office_context.new_page()
    office.set_default_timeout(20_000)
    watch_errors(office, failures)
    sign_in(office, base, "admin")
    office.goto(f"{base}/office/cycles/{cycle_id}")
    office.get_by_role("link", name="意见办理闭环").click()
    row = office.locator("table.loop-units tr", has_text=unit_name)
    assert row.locator("td.rating").inner_text() == "4.0"
    month = office.locator(".month").first
    assert unit_name in month.locator("ol.lowest-rated").inner_text()
    assert PHONE not in office.content()
    office_context.close()
    assert failures == []

    with app.app_context():
        follow_up = db.session.scalars(sa.select(FollowUp)).one()
        assert follow_up.rating == 4
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 0
