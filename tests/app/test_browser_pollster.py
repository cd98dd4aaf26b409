"""In headless Chromium with CSRF on: a pollster imports a GB18030 frame with
Chinese headers, locks it, previews the allocation, enters a public seed with
its source and date (a date before the lock is refused, in Chinese, losing
nothing), draws, and downloads what an auditor needs to re-run the draw.

Every response a click produces is watched: any 4xx or 5xx fails the journey
(the draw's form once lost its CSRF token after the preview: HTTP 400).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.app.browser import refused, sign_in, watch_errors
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def _frame_file(path: Path) -> Path:
    lines = ["编号,手机号码,区县"]
    for number in range(1, 301):
        district = ("江北区", "江南区", "新城区")[number % 3]
        lines.append(f"P{number:04d},{13900000000 + number * 7919},{district}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return path


def test_pollster_draws_a_sample_in_the_browser(
    live_demo_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    base = live_demo_server.url
    failures: list[str] = []
    watch_errors(page, failures)

    sign_in(page, base, "pollster")
    page.wait_for_url(f"{base}/fieldwork/")
    page.get_by_role("link", name="2026年度江州市综合考核").click()

    page.get_by_label("抽样框名称").fill("群众补充抽样框")
    page.set_input_files("input[name=file]", str(_frame_file(tmp_path / "frame.csv")))
    page.locator("select[name=encoding]").select_option("gb18030")
    page.locator("input[name=id_column]").fill("编号")
    page.locator("input[name=phone_column]").fill("手机号码")
    page.locator("input[name=strata_columns]").fill("区县")
    page.get_by_role("button", name="导入").click()
    assert page.locator("#import-rows").inner_text() == "300"  # the preview, nothing stored
    page.get_by_role("button", name="确认导入").click()
    page.locator(".flash.success").wait_for()
    assert "300" in page.locator("dl.facts").inner_text()

    assert "不可撤销" in page.locator("#lock").inner_text()
    page.locator("#lock").get_by_role("checkbox").check()
    page.get_by_role("button", name="锁定抽样框").click()
    page.locator(".flash.success").wait_for()
    frame_hash = page.locator("#frame-hash").inner_text().strip()
    assert len(frame_hash) == 64

    # Step by step: the hash first, the allocation without a seed, then the seed.
    assert "公布" in page.locator("#seed-procedure").inner_text()
    page.locator("input[name=total]").fill("30")
    page.locator("input[name=reserve_batches]").fill("1")
    page.locator("#design").get_by_role("button").click()
    page.locator("#allocation").wait_for()
    assert page.locator("#allocation tbody tr").count() == 3
    draw_form = page.locator("#draw")
    assert draw_form.locator("input[name=seed]").input_value() == ""  # never pre-filled

    source = "中国福利彩票双色球第2026141期开奖号码"
    seed = "03 11 17 22 28 31 + 09"
    draw_form.locator("input[name=seed_source]").fill(source)
    draw_form.locator("input[name=seed_event_date]").fill("2020-01-02")
    draw_form.locator("input[name=seed]").fill(seed)
    draw_form.get_by_role("checkbox").check()
    refused(page, failures, draw_form.get_by_role("button", name="抽取样本").click)
    assert "不能早于抽样框锁定" in page.locator("#draw").inner_text()
    assert page.locator("#draw input[name=seed]").input_value() == seed  # nothing lost

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    page.locator("#draw input[name=seed_event_date]").fill(today)
    page.locator("#draw").get_by_role("checkbox").check()
    page.locator("#draw").get_by_role("button", name="抽取样本").click()
    page.locator(".flash.success").wait_for()
    assert seed in page.content() and source in page.content()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载抽样记录").click()
    protocol = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert protocol["seed"] == seed
    assert protocol["seed_provenance"]["source"] == source
    assert protocol["seed_provenance"]["event_date"] == today
    assert frame_hash in json.dumps(protocol)
    page.screenshot(path=str(tmp_path / "drawn.png"), full_page=True)
    assert failures == []
