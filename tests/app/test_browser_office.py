"""The assessment office's year in headless Chromium, CSRF on: start fieldwork,
close it, import the other score components, 试算, publish from the trial,
a liaison files an appeal with a PDF, the office upholds it, and a second
version of the results appears.  Any 4xx or 5xx a click produces fails it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.app.browser import sign_in, watch_errors
from tests.app.test_results_appeals import real_pdf
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def _change_status(page: Any, target: str) -> None:
    form = page.locator(f"#to-{target}")
    assert "不可撤销" in form.inner_text()
    form.get_by_role("checkbox").check()
    form.get_by_role("button").click()
    page.locator(".flash.success").wait_for()


def test_office_runs_the_year_in_the_browser(
    live_results_server: LiveServer, chromium: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.models import Cycle, CycleStatus, ResultSnapshot
    from survey.services import synthetic

    base = live_results_server.url
    app = live_results_server.app
    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycle_id, cycle_name = cycle.id, cycle.name
    failures: list[str] = []
    office = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    page = office.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures)

    sign_in(page, base, "admin")
    page.get_by_role("link", name=cycle_name).first.click()
    _change_status(page, "fielding")
    with app.app_context():  # citizens answer
        synthetic.generate_responses(db.session, db.session.get(Cycle, cycle_id), seed=7)
        db.session.commit()
    page.reload()
    _change_status(page, "closed")

    page.goto(f"{base}/office/cycles/{cycle_id}")
    with app.app_context():
        current = db.session.get(Cycle, cycle_id)
        assert current is not None
        files = {
            component.name: synthetic.component_csv(current, component.code, seed=11)
            for component in current.components
            if not component.is_social_recognition
        }
    for name, data in files.items():
        upload = tmp_path / f"{name}.csv"
        upload.write_bytes(data)
        row = page.locator("tr", has_text=name)
        row.locator("input[type=file]").set_input_files(str(upload))
        row.get_by_role("button", name="导入").click()
        page.get_by_role("button", name="确认导入").click()
        page.locator(".flash.success").wait_for()

    page.locator("#trial").get_by_role("button", name="试算").click()
    assert "不会保存" in page.locator("#not-stored").inner_text()
    assert page.locator("#trial-problems li").count() > 0  # units below the minimum
    page.locator("#trial-choices input[name=decision]").fill("同意按比例分配权重")
    page.get_by_role("button", name="重新试算").click()
    page.locator("#trial-ready").wait_for()
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(ResultSnapshot.cycle_id == cycle_id))
            == 0
        )
    publish = page.locator("#publish")
    publish.get_by_role("checkbox").check()
    publish.get_by_role("button", name="公布以上结果").click()
    page.locator(".flash.success").wait_for()
    page.screenshot(path=str(tmp_path / "published.png"), full_page=True)

    liaison_context = chromium.new_context(locale="zh-CN")
    liaison = liaison_context.new_page()
    liaison.set_default_timeout(20_000)
    watch_errors(liaison, failures)
    sign_in(liaison, base, "liaison")
    liaison.goto(f"{base}/liaison/cycles/{cycle_id}")
    liaison.get_by_label("申诉理由").fill("平时实绩录入有误，附证明材料")
    evidence = tmp_path / "证明.pdf"
    evidence.write_bytes(real_pdf())
    liaison.locator("input[name=attachments]").set_input_files(str(evidence))
    liaison.get_by_role("button", name="提交申诉").click()
    liaison.locator(".flash.success").wait_for()
    liaison_context.close()

    page.goto(f"{base}/office/")
    page.locator("a[href*='/office/appeals/']").first.click()
    page.get_by_label("成立", exact=True).check()
    page.get_by_label("书面理由").fill("平时实绩录入错误，予以更正")
    page.locator("select[name=component]").select_option("routine")
    page.get_by_label("更正后得分").fill("99")
    page.locator("form").filter(has=page.get_by_role("button", name="记录决定")).get_by_role(
        "checkbox", name="我已了解此操作不可撤销。"
    ).check()
    page.get_by_role("button", name="记录决定").click()
    page.wait_for_load_state()
    with app.app_context():
        versions = db.session.scalars(
            sa.select(ResultSnapshot.version).where(ResultSnapshot.cycle_id == cycle_id)
        ).all()
        assert sorted(versions) == [1, 2]
        assert db.session.get(Cycle, cycle_id).status == CycleStatus.PUBLISHED  # type: ignore[union-attr]
    page.goto(f"{base}/office/cycles/{cycle_id}")
    assert "第2版" in page.locator("body").inner_text()
    office.close()
    assert failures == []
