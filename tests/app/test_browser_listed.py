"""A listed group in headless Chromium, CSRF on (issue 22): the pollster imports a
roster, prints the letters, a deputy answers by the personal link, a paper sheet is
entered twice with one difference that a supervisor settles, and the 试算 page shows
the deputies' scores and lists the one response left out, with its reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.app.browser import DEMO_PASSWORD, sign_in, watch_errors
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

ROSTER = (
    "姓名,工作单位,手机号,评价主体\n"
    "王人大,市人大常委会,13800138001,两代表一委员\n"
    "李政协,市政协,13800138002,两代表一委员\n"
)


def _answer_every_item(page: Any) -> None:
    names = page.eval_on_selector_all(
        "input[type=radio][name^=item_]", "inputs => [...new Set(inputs.map(i => i.name))]"
    )
    assert names, page.url
    for position, name in enumerate(names):
        # Not all the same answer: the second choice for every other item.
        page.locator(f"input[type=radio][name={name}]").nth(position % 2).check()


def _enter_sheet(page: Any, sheet: str, *, differ: bool = False) -> None:
    page.get_by_label("测评票编号").fill(sheet)
    selects = page.locator("#paper-entry select")
    for index in range(selects.count()):
        options = selects.nth(index).locator("option")
        # The first real option; the first select differs in the second entry.
        selects.nth(index).select_option(index=2 if differ and index == 0 else 1)
        assert options.count() > 2
    page.get_by_role("button", name="保存录入").click()
    page.locator(".flash.success").wait_for()


def test_listed_group_from_roster_to_trial(
    live_results_server: LiveServer, chromium: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.models import Channel, Cycle, CycleStatus, RaterGroup, Response, Role
    from survey.services import cycles, synthetic, users

    base = live_results_server.url
    app = live_results_server.app
    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="test")
        synthetic.generate_responses(db.session, cycle, seed=7)
        deputies = db.session.scalars(
            sa.select(RaterGroup).where(
                RaterGroup.cycle_id == cycle.id, RaterGroup.code == "deputies"
            )
        ).one()
        # Only what this test collects counts for the deputies …
        db.session.execute(sa.delete(Response).where(Response.rater_group_id == deputies.id))
        # … and one invitation answer that reached them is left out, with its reason.
        db.session.add(
            Response(
                cycle_id=cycle.id,
                channel=Channel.INVITATION,
                rater_group_id=deputies.id,
                stratum="",
            )
        )
        users.create_user(
            db.session,
            username="supervisor",
            password=DEMO_PASSWORD,
            role=Role.POLLSTER,
            actor="test",
        )
        db.session.commit()
        cycle_id, deputies_id = cycle.id, deputies.id
    failures: list[str] = []

    def person(username: str) -> tuple[Any, Any]:
        context = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        watch_errors(page, failures)
        sign_in(page, base, username)
        return context, page

    pollster_context, pollster = person("pollster")
    pollster.goto(f"{base}/fieldwork/cycles/{cycle_id}/printables")
    pollster.locator("#listed-raters-link").click()
    roster = tmp_path / "名单.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    pollster.locator("#roster-import input[type=file]").set_input_files(str(roster))
    pollster.get_by_role("button", name="检查文件").click()
    pollster.get_by_role("button", name="确认导入").click()
    pollster.locator(".flash.success").wait_for()
    assert "新增 2 人" in pollster.locator(".flash.success").inner_text()
    with pollster.expect_download() as download:
        pollster.locator("#listed-letters").click()
    letters = tmp_path / "letters.pdf"
    download.value.save_as(letters)
    assert letters.read_bytes().startswith(b"%PDF")
    row = pollster.locator("#listed-roster tr", has_text="王人大")
    link = row.locator("code.listed-link").inner_text()
    assert re.fullmatch(rf"{re.escape(base)}/r/[A-Za-z0-9_-]+", link)

    # The deputy opens the link from the letter, in a browser of their own.
    deputy_context = chromium.new_context(locale="zh-CN")
    deputy = deputy_context.new_page()
    deputy.set_default_timeout(20_000)
    watch_errors(deputy, failures)
    deputy.goto(link)
    # Each click waits for the next page: answering a page still loading would send it empty.
    with deputy.expect_navigation():
        deputy.get_by_role("link", name="开始").click()
    while True:
        _answer_every_item(deputy)
        submit = deputy.get_by_role("button", name="提交")
        if submit.count():
            with deputy.expect_navigation():
                submit.click()
            break
        with deputy.expect_navigation():
            deputy.get_by_role("button", name="下一个").click()
    deputy.wait_for_url(re.compile(r".*/thanks$"))
    deputy_context.close()

    pollster.reload()
    completion = pollster.locator("#listed-completion").inner_text()
    assert re.search(r"市人大常委会\s+1\s+1", completion), completion
    assert re.search(r"市政协\s+1\s+0", completion), completion
    assert pollster.locator("#listed-roster code.listed-link").count() == 1

    # Paper: the pollster enters sheet 001, the admin enters it again with one difference.
    pollster.get_by_role("link", name="录入两代表一委员的测评票").click()
    _enter_sheet(pollster, "001")
    admin_context, admin = person("admin")
    admin.goto(f"{base}/fieldwork/cycles/{cycle_id}/listed/paper/{deputies_id}")
    _enter_sheet(admin, "001", differ=True)
    assert "不一致" in admin.locator(".flash.success").inner_text()
    supervisor_context, supervisor = person("supervisor")
    supervisor.goto(f"{base}/fieldwork/cycles/{cycle_id}/listed")
    supervisor.get_by_role("link", name="录入不一致：去处理").click()
    rows = supervisor.locator("#paper-resolve tbody tr")
    assert rows.count() == 1
    rows.first.locator("select").select_option(index=2)
    supervisor.get_by_role("button", name="处理差异并计入").click()
    supervisor.locator(".flash.success").wait_for()
    assert "已计入" in supervisor.locator("#paper-ballots").inner_text()
    supervisor_context.close()
    pollster_context.close()

    with app.app_context():
        channels = db.session.scalars(
            sa.select(Response.channel).where(Response.rater_group_id == deputies_id)
        ).all()
        assert sorted(channels) == sorted([Channel.INVITATION, Channel.LISTED, Channel.LISTED])

    admin.goto(f"{base}/office/cycles/{cycle_id}")
    admin.locator("#trial").get_by_role("button", name="试算").click()
    excluded = admin.locator("#trial-excluded").inner_text()
    assert "两代表一委员" in excluded and "来自该评价主体不使用的渠道" in excluded
    assert "邀请" in excluded
    # The rater groups' table of the first category, opened as a reader opens it.
    admin.locator("details summary", has_text="评价主体").first.click()
    groups = admin.locator("table.groups").first
    header = [text.strip() for text in groups.locator("thead th").all_inner_texts()]
    column = header.index("两代表一委员")
    first_row = groups.locator("tbody tr").first.locator("td").nth(column).inner_text()
    assert "n=2" in first_row and re.search(r"\d+\.\d", first_row), first_row
    admin.screenshot(path=str(tmp_path / "trial.png"), full_page=True)
    admin_context.close()
    assert failures == []
