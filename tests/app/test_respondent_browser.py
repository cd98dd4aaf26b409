"""The citizen channel end to end in headless Chromium: print, scan (decode), answer.

Set ``MINYI_SCREENSHOT_DIR`` to also save the 360×740 respondent screenshot used
in ``docs/respondent.md``.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from survey.extensions import db
from survey.models import Comment, Poster, Response
from tests.app.respondent_helpers import prepare_fieldwork
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE_VIEWPORT = {"width": 360, "height": 740}
#: Upper bound for one unit page with its CSS and JS, in bytes transferred.
PAGE_WEIGHT_LIMIT = 30_000


def decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return str(results[0].text)


def answer_unit_page(page: Any) -> None:
    for fieldset in page.locator("fieldset.question").all():
        fieldset.locator("label.level").first.click()


def test_print_scan_answer_and_see_the_masked_comment(
    live_demo_server: LiveServer, chromium: Any, page: Any
) -> None:
    app = live_demo_server.server.app
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    base = live_demo_server.url

    # The pollster prints a poster and an invitation card.
    page.goto(f"{base}/auth/login")
    page.fill("input[name=username]", "pollster")
    page.fill("input[name=password]", "minyi-demo")
    page.click("button[type=submit]")
    page.goto(f"{base}/fieldwork/cycles/{fieldwork.cycle_id}/printables")
    page.select_option("select[name=unit_id]", label="S01 市教育局")
    page.fill("input[name=service_point]", "教育服务窗口")
    page.get_by_role("button", name="创建海报").click()
    assert page.get_by_text("海报已创建").is_visible()
    row = page.locator("tr", has_text="教育服务窗口")
    png_url = row.get_by_role("link", name="PNG").get_attribute("href")
    poster_png = page.request.get(f"{base}{png_url}").body()
    poster_url = decode(poster_png)
    with app.app_context():
        code = db.session.scalars(
            sa.select(Poster.code).where(Poster.service_point == "教育服务窗口")
        ).one()
    assert poster_url == f"{base}/q/{code}"
    pdf_url = row.get_by_role("link", name="PDF").get_attribute("href")
    assert page.request.get(f"{base}{pdf_url}").body().startswith(b"%PDF")

    page.get_by_role("link", name="邀请卡（网页打印）").click()
    card = page.locator("article.invitation-card").first
    code_image = card.locator("img")
    code_image.wait_for()
    # Visible is not loaded: on a busy machine the screenshot could catch a blank image.
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=code_image.element_handle()
    )
    invitation_url = decode(code_image.screenshot())
    assert invitation_url == f"{base}/s/{fieldwork.tokens[0]}"

    # A citizen scans the card with a phone.
    phone = chromium.new_context(locale="zh-CN", viewport=PHONE_VIEWPORT, is_mobile=True)
    citizen = phone.new_page()
    citizen.set_default_timeout(15_000)
    citizen.goto(invitation_url)
    assert citizen.get_by_role("heading", name="您的回答是匿名的").is_visible()
    citizen.get_by_role("link", name="开始").click()

    # Bytes on the wire (headers and bodies) for one unit page with its CSS and
    # JS, loaded with an empty cache as a first-time visitor would.
    transferred: list[int] = []

    def count(request: Any) -> None:
        sizes = request.sizes()
        transferred.append(sizes["responseHeadersSize"] + sizes["responseBodySize"])

    probe_context = chromium.new_context(locale="zh-CN", viewport=PHONE_VIEWPORT)
    probe = probe_context.new_page()
    probe.on("requestfinished", count)
    probe.goto(citizen.url, wait_until="networkidle")
    probe_context.close()
    unit_page_bytes = sum(transferred)
    assert len(transferred) == 3, transferred  # the page, respondent.css, respondent.js
    assert unit_page_bytes < PAGE_WEIGHT_LIMIT, unit_page_bytes
    assert citizen.get_by_text("第 1 个单位，共 2 个").is_visible()
    screenshot_dir = os.environ.get("MINYI_SCREENSHOT_DIR")
    if screenshot_dir:
        citizen.screenshot(path=str(Path(screenshot_dir) / "respondent-360x740.png"))
        (Path(screenshot_dir) / "respondent-page-weight.txt").write_text(f"{unit_page_bytes}\n")

    answer_unit_page(citizen)
    citizen.fill("textarea[name=comment]", "办事顺利，有问题请打我电话 139 8765 4321")
    citizen.get_by_role("button", name="下一个").click()
    assert citizen.get_by_text("第 2 个单位，共 2 个").is_visible()
    answer_unit_page(citizen)
    citizen.get_by_role("button", name="提交").click()
    assert citizen.get_by_role("heading", name="谢谢您！").is_visible()

    with app.app_context():
        (stored,) = db.session.scalars(sa.select(Comment.text)).all()
        assert stored == "办事顺利，有问题请打我电话 [电话]"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1

    citizen.goto(invitation_url)
    assert citizen.get_by_role("heading", name="已经作答").is_visible()

    # Someone just served at the education window scans the poster.
    citizen.goto(poster_url)
    citizen.get_by_role("radio", name="是").check()
    citizen.fill("input[name=phone]", "13712345678")
    citizen.get_by_role("button", name="获取验证码").click()
    # Production shows no demo hint: the code arrives on the phone (the simulator's outbox).
    citizen.get_by_label("验证码").wait_for()
    assert citizen.locator("#simulated-code").count() == 0
    (sms,) = app.extensions["minyi_telephony"].outbox
    sms_code = re.search(r"\d{6}", sms.body).group(0)  # type: ignore[union-attr]
    citizen.fill("input[name=code]", sms_code)
    citizen.get_by_role("button", name="验证").click()
    assert citizen.get_by_role("heading", name="市教育局").is_visible()
    answer_unit_page(citizen)
    citizen.get_by_role("button", name="提交").click()
    assert citizen.get_by_role("heading", name="谢谢您！").is_visible()
    phone.close()

    with app.app_context():
        channels = db.session.scalars(sa.select(Response.channel).order_by(Response.id)).all()
        assert [c.value for c in channels] == ["invitation", "open_qr"]
