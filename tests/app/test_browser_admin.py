"""In headless Chromium: an admin signs in, a bad units file is refused with the
row named, then a good file is imported and its units are listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_admin_imports_units_in_the_browser(
    live_demo_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    base = live_demo_server.url
    page.goto(f"{base}/auth/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill("minyi-demo")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/admin/")
    assert "2026年度江州市综合考核" in page.content()

    page.get_by_role("link", name="2026年度江州市综合考核").click()
    assert "市行政审批服务局" in page.content()
    page.get_by_role("link", name="单位和类别").first.click()

    bad = tmp_path / "bad-units.csv"
    bad.write_text(
        "code,name,category\nB01,市大数据局,政务部门\nB02,市档案馆,不存在的类别\n", encoding="utf-8"
    )
    page.set_input_files("input[name=file]", str(bad))
    page.get_by_role("button", name="导入").click()
    problems = page.locator("ul.problems li")
    problems.first.wait_for()
    assert problems.count() == 1
    assert "第 3 行“category”列" in problems.first.inner_text()
    assert "不存在的类别" in problems.first.inner_text()
    assert page.locator("#units").get_by_text("市大数据局").count() == 0
    page.screenshot(path=str(tmp_path / "import-refused.png"), full_page=True)

    good = tmp_path / "good-units.csv"
    good.write_text(
        "code,name,category\nB01,市大数据局,政务部门\nB02,市档案馆,党委部门\n", encoding="utf-8"
    )
    page.get_by_role("link", name="返回，重新上传文件").click()
    page.set_input_files("input[name=file]", str(good))
    page.get_by_role("button", name="导入").click()
    page.get_by_role("button", name="确认导入").click()
    page.locator(".flash.success").wait_for()
    table = page.locator("#units")
    assert table.get_by_text("市大数据局").count() == 1
    assert table.get_by_text("市档案馆").count() == 1
    page.screenshot(path=str(tmp_path / "import-done.png"), full_page=True)
