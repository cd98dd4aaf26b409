"""Irreversible actions ask first, also in a browser with JavaScript switched off:
the page says what cannot be undone, the box is required by HTML itself, and the
server refuses a post without it (nothing changes)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from survey.models import AuditLogEntry, Cycle, CycleStatus
from tests.app.browser import sign_in
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_starting_fieldwork_asks_for_confirmation_without_javascript(
    live_demo_server: LiveServer, chromium: Any
) -> None:
    from survey.extensions import db

    context = chromium.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = live_demo_server.url
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    sign_in(page, base, "admin")
    page.goto(f"{base}/admin/cycles/1")
    form = page.locator("#to-fielding")
    assert "不可撤销" in form.inner_text() and "问卷和权重不能再修改" in form.inner_text()

    posts.clear()
    form.get_by_role("button").click()
    page.wait_for_timeout(500)
    assert posts == []  # the browser itself held the form back: the box is required
    with live_demo_server.app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.DRAFT  # type: ignore[union-attr]

    form.get_by_role("checkbox").check()
    form.get_by_role("button").click()
    page.locator(".flash.success").wait_for()
    with live_demo_server.app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.FIELDING  # type: ignore[union-attr]
        assert db.session.scalar(
            sa.select(sa.func.count()).where(AuditLogEntry.action == "cycle.transition")
        )
    context.close()
