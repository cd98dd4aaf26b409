"""The assessment office sets up a cycle from nothing, in headless Chromium, as
production serves it (Secure session cookie, CSRF on, server-side sessions):

new cycle → a category added by hand → units imported and one added → the new
category's rater-group and component weights → the questionnaire (scale, an
item added, item weights) → the overview says nothing is missing → fieldwork
opens → a pollster (created by the office) prints a poster, and a citizen scans
it and answers the questionnaire as set up, with a comment; the other citizens'
answers are written by the synthetic-responses service (marked so); fieldwork
closes → the components are imported →
试算 with a chosen grade scheme → publish → a liaison (created by the office)
appeals → the office upholds it → the public page shows version 2.

Every page the office reads is checked for English prose, and any 4xx or 5xx a
click produces fails the journey.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.app.browser import DEMO_PASSWORD, english_on, refused, sign_in, watch_errors
from tests.app.test_respondent_browser import PHONE_VIEWPORT, answer_unit_page, decode
from tests.app.test_results_appeals import real_pdf
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

CYCLE = "2027年度临川市综合考核"
UNITS_CSV = "\r\n".join(
    [
        "单位编码,单位名称,类别,上级单位编码",
        "C01,东湖区,县市区,",
        "C02,西城区,县市区,",
        "C03,江南区,县市区,",
        "C04,临川县,县市区,",
        "G01,市发展和改革委员会,政务部门,",
        "G02,市教育局,政务部门,",
        "G03,市卫生健康委员会,政务部门,",
        "G04,市民政局,政务部门,",
    ]
)
#: The new category's weights, as the office types them (each row sums to 1).
RATER_WEIGHTS = {"群众": "0.4", "服务对象": "0.2", "两代表一委员": "0.15", "领导": "0.15"}
RATER_WEIGHTS["下属组织"] = "0.1"
COMPONENT_WEIGHTS = {"平时实绩": "0.2", "年度实绩": "0.45", "自身建设": "0.2", "社会公认度": "0.15"}
ITEM_WEIGHTS = {
    "工作实绩": "0.2",
    "工作作风": "0.15",
    "服务质量": "0.15",
    "社会形象": "0.1",
    "总体满意度": "0.25",
    "办事效率": "0.15",
}


class Office:
    """The office's browser tab: every page it lands on is checked for English."""

    def __init__(self, page: Any, english: list[str]) -> None:
        self.page = page
        self.english = english

    def read(self) -> Any:
        self.page.wait_for_load_state()
        self.english.extend(english_on(self.page))
        return self.page

    def saved(self, message: str) -> None:
        """The page after a save: its green message says ``message``."""
        self.page.locator(".flash.success").wait_for()
        assert message in self.page.locator(".flash.success").inner_text()
        self.read()

    def nav(self, name: str) -> Any:
        self.page.locator("nav.subnav").get_by_role("link", name=name, exact=True).click()
        return self.read()


def _card(page: Any, title: str) -> Any:
    return page.locator("section.card", has_text=title)


def _new_user(page: Any, office: Office, username: str, role: str, unit: str = "") -> None:
    page.get_by_role("link", name="用户", exact=True).click()
    office.read()
    page.get_by_role("link", name="新建用户").click()
    office.read()
    page.get_by_label("用户名").fill(username)
    page.get_by_label("角色").select_option(role)
    if unit:
        page.get_by_label("所属单位（仅联络员）").select_option(label=unit)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="保存").click()
    office.saved("用户已创建")


def _change_status(page: Any, target: str) -> None:
    form = page.locator(f"#to-{target}")
    assert "不可撤销" in form.inner_text()
    form.get_by_role("checkbox").check()
    form.get_by_role("button").click()
    page.locator(".flash.success").wait_for()


def test_office_sets_up_a_cycle_and_runs_it_in_the_browser(
    live_server: LiveServer, chromium: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.models import Comment, Cycle, CycleStatus, ResultSnapshot
    from survey.services import synthetic

    base, app = live_server.url, live_server.app
    # The installer's part: the first office account, made on the command line.
    result = app.test_cli_runner().invoke(
        args=["user", "create", "office", "--role", "admin", "--password", DEMO_PASSWORD]
    )
    assert result.exit_code == 0, result.output

    failures: list[str] = []
    english: list[str] = []
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_errors(page, failures)
    office = Office(page, english)

    sign_in(page, base, "office")
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert cookies["session"]["secure"] and cookies["session"]["httpOnly"]

    # New cycle: the standard rater groups, items, components and categories come with it.
    page.goto(f"{base}/admin/")
    assert "尚无考核周期" in office.read().locator("table.list").inner_text()
    page.get_by_role("link", name="新建考核周期").click()
    office.read()
    page.get_by_label("名称").fill(CYCLE)
    page.get_by_label("年度").fill("2027")
    page.get_by_label("起始日期").fill("2027-01-01")
    page.get_by_label("每个单位每类评价主体的最少有效样本").fill("20")
    assert page.get_by_label("按标准设置类别、评价主体、评价内容和权重").is_checked()
    # The period's end forgotten: refused under its box, in Chinese, nothing typed lost.
    refused(page, failures, page.get_by_role("button", name="保存").click)
    office.read()
    assert "必填" in page.locator(".field.has-error").inner_text()
    assert page.get_by_label("名称").input_value() == CYCLE
    assert page.get_by_label("每个单位每类评价主体的最少有效样本").input_value() == "20"
    page.get_by_label("截止日期").fill("2027-12-31")
    page.get_by_role("button", name="保存").click()
    office.saved("考核周期已创建")
    cycle_url = page.url

    # Categories and units: a category of its own, eight units imported, one by hand.
    office.nav("单位和类别")
    category = _card(page, "添加类别")
    category.get_by_label("编码").fill("dev_zone")
    category.get_by_label("名称").fill("开发区管委会")
    category.get_by_role("button", name="添加").click()
    office.saved("类别已保存")
    units_file = tmp_path / "单位.csv"
    units_file.write_bytes((UNITS_CSV + "\r\n").encode("gb18030"))
    upload = _card(page, "导入单位")
    upload.get_by_label("文件（CSV 或 XLSX）").set_input_files(str(units_file))
    upload.get_by_role("button", name="导入").click()
    office.read()
    page.get_by_role("button", name="确认导入").click()
    office.saved("新增 8 个")
    unit = _card(page, "添加单位")
    unit.get_by_label("编码").fill("D01")
    unit.get_by_label("名称").fill("临川经济技术开发区管委会")
    unit.get_by_label("类别").select_option(label="开发区管委会")
    unit.get_by_role("button", name="添加").click()
    office.saved("单位已保存")
    assert page.locator("#units tbody tr:not(.group)").count() == 9

    # Weights of the new category: rater groups, then score components.
    office.nav("评价主体")
    for group, weight in RATER_WEIGHTS.items():
        page.get_by_label(f"开发区管委会 · {group}").fill(weight)
    page.get_by_role("button", name="保存权重").click()
    office.saved("权重已保存")
    office.nav("考核分项")
    assert "预设：县市区 20/45/20/15 · " in page.locator("p.hint").last.inner_text()
    for component, weight in COMPONENT_WEIGHTS.items():
        page.get_by_label(f"开发区管委会 · {component}").fill(weight)
    # A slip first (0.1 for 0.15): the row is refused, its sum shown, every value kept.
    page.get_by_label("开发区管委会 · 社会公认度").fill("0.1")
    refused(page, failures, page.get_by_role("button", name="保存权重").click)
    office.read()
    row = page.locator("tr", has_text="开发区管委会")
    assert row.locator("td.sum.off").inner_text() == "0.9500"
    assert page.get_by_label("开发区管委会 · 年度实绩").input_value() == "0.45"
    page.get_by_label("开发区管委会 · 社会公认度").fill("0.15")
    page.get_by_role("button", name="保存权重").click()
    office.saved("权重已保存")

    # Questionnaire: the scale, an item of its own, and the item weights.
    office.nav("问卷")
    assert "“不了解”答案：不计入基数" in page.locator("p.hint").last.inner_text()
    page.get_by_label("评价等次").select_option(label="五级线性 100/75/50/25/0")
    page.get_by_role("button", name="应用预设").click()
    office.saved("评价等次已保存")
    assert "75" in page.locator("table.list").first.inner_text()
    page.get_by_label("编码").fill("efficiency")
    page.get_by_label("名称", exact=True).fill("办事效率")
    page.get_by_label("英文名称").fill("Efficiency")
    page.get_by_role("button", name="添加").click()
    office.saved("评价内容已添加")
    page.get_by_role("button", name="保存权重").click()  # as spread, shown with four places
    office.saved("权重已保存")
    for item, weight in ITEM_WEIGHTS.items():
        page.get_by_label(item, exact=True).fill(weight)
    page.get_by_role("button", name="保存权重").click()
    office.saved("权重已保存")

    # The overview: nothing keeps the cycle from fieldwork; open it.
    office.nav("概况")
    assert page.locator(".warning").count() == 0
    facts = page.locator("dl.facts").inner_text()
    assert "办事效率" in facts and "群众" in facts
    assert "答卷" in facts and "整改反馈" not in facts  # survey answers, not rectification replies
    _change_status(page, "fielding")
    office.read()

    cycle_id = int(cycle_url.rstrip("/").rsplit("/", 1)[-1])

    # The office gives a pollster an account; the pollster prints the zone's poster.
    _new_user(page, office, "dz-pollster", "pollster")
    pollster_context = chromium.new_context(locale="zh-CN")
    pollster = pollster_context.new_page()
    pollster.set_default_timeout(20_000)
    watch_errors(pollster, failures)
    sign_in(pollster, base, "dz-pollster")
    pollster.goto(f"{base}/fieldwork/cycles/{cycle_id}/printables")
    english.extend(english_on(pollster))
    pollster.select_option("select[name=unit_id]", label="D01 临川经济技术开发区管委会")
    pollster.fill("input[name=service_point]", "开发区政务服务大厅")
    pollster.get_by_role("button", name="创建海报").click()
    pollster.get_by_text("海报已创建").wait_for()
    png = pollster.locator("tr", has_text="开发区政务服务大厅").get_by_role("link", name="PNG")
    poster_url = decode(pollster.request.get(f"{base}{png.get_attribute('href')}").body())
    pollster_context.close()

    # A person just served at the hall scans it: the questionnaire as set up above.
    phone = chromium.new_context(locale="zh-CN", viewport=PHONE_VIEWPORT, is_mobile=True)
    citizen = phone.new_page()
    citizen.set_default_timeout(20_000)
    watch_errors(citizen, failures)
    citizen.goto(poster_url)
    citizen.get_by_role("radio", name="是").check()
    citizen.fill("input[name=phone]", "13712345678")
    citizen.get_by_role("button", name="获取验证码").click()
    citizen.get_by_label("验证码").wait_for()
    (sms,) = app.extensions["minyi_telephony"].outbox
    citizen.get_by_label("验证码").fill(re.search(r"\d{6}", sms.body).group(0))  # type: ignore[union-attr]
    citizen.get_by_role("button", name="验证").click()
    citizen.get_by_role("heading", name="临川经济技术开发区管委会").wait_for()
    english.extend(english_on(citizen))
    questions = citizen.locator("fieldset.question")
    assert questions.count() == 6 and "办事效率" in questions.last.inner_text()
    assert "不了解" in questions.first.inner_text()
    answer_unit_page(citizen)
    citizen.fill("textarea[name=comment]", "大厅窗口办事效率高")
    citizen.get_by_role("button", name="提交").click()
    citizen.get_by_role("heading", name="谢谢您！").wait_for()
    phone.close()

    with app.app_context():  # the other citizens' part: the rest answer during fieldwork
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None and cycle.status == CycleStatus.FIELDING
        assert db.session.scalars(sa.select(Comment.text)).all() == ["大厅窗口办事效率高"]
        synthetic.generate_responses(db.session, cycle, seed=27)
        db.session.commit()
        files = {
            component.name: synthetic.component_csv(cycle, component.code, seed=27)
            for component in cycle.components
            if not component.is_social_recognition
        }
    page.get_by_role("link", name="考核周期", exact=True).click()
    office.read()
    page.get_by_role("link", name=CYCLE).click()
    office.read()
    _change_status(page, "closed")
    office.read()

    # The results office: import the other components, 试算, publish.
    page.get_by_role("link", name="考核结果管理").click()
    office.read()
    page.get_by_role("link", name=CYCLE).first.click()
    office.read()
    for name, data in files.items():
        component_file = tmp_path / f"{name}.csv"
        component_file.write_bytes(data)
        row = page.locator("tr", has_text=name)
        row.get_by_label("文件（CSV 或 XLSX）").set_input_files(str(component_file))
        row.get_by_role("button", name="导入").click()
        office.read()
        page.get_by_role("button", name="确认导入").click()
        office.saved(name)
    trial = page.locator("#trial")
    trial.get_by_label("等次比例方案").select_option("officials-15-80-4-1")
    trial.get_by_role("button", name="试算").click()
    office.read()
    assert "不会保存" in page.locator("#not-stored").inner_text()
    page.locator("#trial-ready").wait_for()
    assert "称职" in page.locator("table").first.inner_text()  # the scheme chosen: officials
    # Tables for the categories with units only (the standard 党委部门 has none here).
    assert page.locator("section.results h2").all_inner_texts()[:3] == [
        "县市区",
        "政务部门",
        "开发区管委会",
    ]
    publish = page.locator("#publish")
    publish.get_by_role("checkbox").check()
    publish.get_by_role("button", name="公布以上结果").click()
    office.saved("已公示")

    # The office gives the development zone's liaison an account.
    _new_user(page, office, "dz-liaison", "liaison", unit=f"{CYCLE} · D01 临川经济技术开发区管委会")

    liaison_context = chromium.new_context(locale="zh-CN")
    liaison = liaison_context.new_page()
    liaison.set_default_timeout(20_000)
    watch_errors(liaison, failures)
    sign_in(liaison, base, "dz-liaison")
    liaison.goto(f"{base}/liaison/cycles/{cycle_id}")
    english.extend(english_on(liaison))
    liaison.get_by_label("申诉理由").fill("年度实绩录入有误，附证明材料")
    evidence = tmp_path / "证明.pdf"
    evidence.write_bytes(real_pdf())
    liaison.locator("input[name=attachments]").set_input_files(str(evidence))
    liaison.get_by_role("button", name="提交申诉").click()
    liaison.locator(".flash.success").wait_for()
    english.extend(english_on(liaison))
    liaison_context.close()

    page.get_by_role("link", name="考核结果管理").click()
    office.read()
    page.locator("a[href*='/office/appeals/']").first.click()
    office.read()
    page.get_by_label("成立", exact=True).check()
    page.get_by_label("书面理由").fill("年度实绩录入错误，予以更正")
    page.locator("select[name=component]").select_option("annual")
    page.get_by_label("更正后得分").fill("97")
    decide = page.locator("form").filter(has=page.get_by_role("button", name="记录决定"))
    decide.get_by_role("checkbox", name="我已了解此操作不可撤销。").check()
    page.get_by_role("button", name="记录决定").click()
    office.read()
    with app.app_context():
        versions = db.session.scalars(
            sa.select(ResultSnapshot.version).where(ResultSnapshot.cycle_id == cycle_id)
        ).all()
        assert sorted(versions) == [1, 2]

    # The public page, as anyone reads it.
    public_context = chromium.new_context(locale="zh-CN")
    public = public_context.new_page()
    watch_errors(public, failures)
    public.goto(f"{base}/results/")
    public.get_by_role("link", name=CYCLE).click()
    public.wait_for_load_state()
    note = public.locator(".results .note").first.inner_text()
    assert "第2版" in note and "替代第1版" in note
    assert "称职" in public.locator("#results-table").inner_text()
    tabs = public.locator("nav.tabs a").all_inner_texts()
    assert tabs == ["县市区", "政务部门", "开发区管委会"]
    english.extend(english_on(public))
    public_context.close()
    context.close()
    assert failures == []
    assert english == [], "\n".join(english)
