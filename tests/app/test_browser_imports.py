"""Imports in headless Chromium with CSRF on, as Chinese offices make their files.

The pollster uploads a frame Excel saved as GB18030, with Chinese headers and one
row with a cell too many: the refusal names the row in Chinese and nothing is
stored; the corrected file shows a preview (encoding detected, columns mapped
from the headers, first rows, row count) and is stored only on confirmation.
The office downloads the units template and imports it unchanged the same way.
Any 4xx or 5xx other than the one expected refusal fails the journey.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.app.browser import refused, sign_in, watch_errors
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

CYCLE = "2026年度江州市综合考核"


def _frame(path: Path, *, ragged: bool) -> Path:
    lines = ["编号,手机号码,区县"]
    for number in range(1, 121):
        district = ("江北区", "江南区", "新城区")[number % 3]
        lines.append(f"Q{number:04d},{13700000000 + number * 7919},{district}")
    if ragged:
        lines[8] += ",多出的一格"  # row 9 as the spreadsheet numbers it
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return path


def test_frame_and_units_imports_in_the_browser(
    live_demo_server: LiveServer, chromium: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.models import SamplingFrame, Unit

    base, app = live_demo_server.url, live_demo_server.app
    failures: list[str] = []
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures)

    # The pollster: encoding "自动识别" and blank column fields are the defaults.
    sign_in(page, base, "pollster")
    page.get_by_role("link", name=CYCLE).click()
    assert page.locator("select[name=encoding]").input_value() == "auto"
    assert page.locator("input[name=id_column]").input_value() == ""
    page.get_by_label("抽样框名称").fill("街道补充抽样框")
    page.set_input_files("input[name=file]", str(_frame(tmp_path / "抽样框.csv", ragged=True)))
    refused(page, failures, page.get_by_role("button", name="导入").click)
    problems = page.locator("ul.problems li")
    assert problems.count() == 1
    assert problems.first.inner_text() == (
        "第 9 行：该行有 4 个单元格，表头却有 3 列；请检查是否多了或少了逗号"
    )
    assert "未导入任何内容" in page.content()
    assert page.locator("#confirm-import").count() == 0
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(SamplingFrame)
                .where(SamplingFrame.name == "街道补充抽样框")
            )
            == 0
        )

    page.get_by_role("link", name="返回，重新上传文件").click()
    page.get_by_label("抽样框名称").fill("街道补充抽样框")
    page.set_input_files("input[name=file]", str(_frame(tmp_path / "抽样框.csv", ragged=False)))
    page.get_by_role("button", name="导入").click()
    assert page.locator("#import-encoding").inner_text() == "GB18030"
    assert page.locator("#import-rows").inner_text() == "120"
    mapping = [
        [cell.strip() for cell in row.split("\t")]
        for row in page.locator("#import-mapping tbody tr").all_inner_texts()
    ]
    assert mapping == [["编号", "→ 编号列"], ["手机号码", "→ 电话列"], ["区县", "→ 分层列"]], (
        mapping
    )
    assert page.locator("#import-rows-table tbody tr").count() == 10
    assert "Q0001" in page.locator("#import-rows-table").inner_text()
    with app.app_context():  # nothing before the confirmation
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(SamplingFrame)
                .where(SamplingFrame.name == "街道补充抽样框")
            )
            == 0
        )
    page.get_by_role("button", name="确认导入").click()
    page.locator(".flash.success").wait_for()
    assert "120" in page.locator("dl.facts").inner_text()
    with app.app_context():
        frame = db.session.scalars(
            sa.select(SamplingFrame).where(SamplingFrame.name == "街道补充抽样框")
        ).one()
        assert frame.row_count == 120 and frame.strata_columns == "区县"
    page.screenshot(path=str(tmp_path / "frame-imported.png"), full_page=True)
    context.close()

    # The office: the units template, downloaded and imported unchanged.
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures)
    sign_in(page, base, "admin")
    page.get_by_role("link", name=CYCLE).click()
    page.get_by_role("link", name="单位和类别").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载模板").click()
    assert download.value.suggested_filename == "units-template.csv"
    template = tmp_path / download.value.suggested_filename
    download.value.save_as(template)
    assert (
        template.read_bytes().decode("utf-8-sig").startswith("单位编码,单位名称,类别,上级单位编码")
    )
    page.set_input_files("input[name=file]", str(template))
    page.get_by_role("button", name="导入").click()
    assert page.locator("#import-encoding").inner_text() == "UTF-8"
    assert page.locator("#import-rows").inner_text() == "1"
    assert "→ 单位编码" in page.locator("#import-mapping").inner_text()
    page.get_by_role("button", name="确认导入").click()
    page.locator(".flash.success").wait_for()
    assert page.locator("#units").get_by_text("U001", exact=True).count() == 1
    with app.app_context():
        assert db.session.scalars(sa.select(Unit).where(Unit.code == "U001")).one()
    context.close()
    assert failures == []
