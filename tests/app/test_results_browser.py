"""In headless Chromium: open the public results, switch category, download the XLSX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_public_results_in_the_browser(
    live_results_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    base = live_results_server.url
    page.goto(f"{base}/")
    page.get_by_role("link", name="考核结果").click()
    page.get_by_role("link", name="2025年度江州市综合考核").click()
    page.wait_for_url("**/county")
    table = page.locator("#results-table")
    assert "江州市东湖区" in table.inner_text()
    assert "市应急管理局" not in table.inner_text()

    page.get_by_role("link", name="执法监督部门").click()
    page.wait_for_url("**/law_enforcement")
    row = page.locator("tr[data-unit=L05]")
    assert "三等" in row.inner_text() and "一票否决" in row.inner_text()
    assert "江州市东湖区" not in page.locator("#results-table").inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载XLSX").click()
    target = tmp_path / "results.xlsx"
    download_info.value.save_as(target)
    workbook = load_workbook(target)
    sheet = workbook["执法监督部门"]
    rows = {sheet.cell(row=r, column=2).value: r for r in range(2, sheet.max_row + 1)}
    assert sheet.cell(row=rows["L05"], column=8).value == "三等"
