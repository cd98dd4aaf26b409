"""What every browser journey does: watch for error statuses and sign in as a person does."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

DEMO_PASSWORD = "minyi-demo"


def watch_errors(page: Any, failures: list[str], allowed: Collection[str] = ()) -> None:
    """Record every 4xx/5xx response a click produces, except for ``allowed`` URLs."""

    def check(response: Any) -> None:
        if response.status >= 400 and response.url not in allowed:
            failures.append(f"{response.status} {response.url}")

    page.on("response", check)


def refused(page: Any, failures: list[str], click: Callable[[], None]) -> None:
    """``click`` sends a form that comes back refused (HTTP 400, with its errors).

    That one 400 is the expected answer: it is taken off ``failures``, and anything
    else recorded meanwhile stays there (an earlier failure is never cleared away).
    """
    before = len(failures)
    with page.expect_response(lambda response: response.status == 400) as refusal:
        click()
    page.wait_for_load_state()
    assert failures[before:] == [f"400 {refusal.value.url}"], failures[before:]
    del failures[before:]


def sign_in(page: Any, base: str, username: str) -> None:
    """Fill the sign-in form with a demo login and wait for the landing page."""
    page.goto(f"{base}/auth/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def english_on(page: Any) -> list[str]:
    """The English prose on the page the browser shows now (see test_chinese_pages)."""
    from tests.app.test_chinese_pages import _Page, english_prose

    parsed = _Page()
    parsed.feed(page.content())
    return [f"{page.url}: {run}" for run in english_prose("\n".join(parsed.text))]
