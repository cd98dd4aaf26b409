"""Every page a person reads in the zh locale is Chinese.

For each role the test signs in, follows every same-site link from the role's
home page (GET only, downloads skipped), and then submits every form it found
empty, so the pages that refused submissions produce are read too.  It fails
on English prose: three or more English words in a row of which one is an
English function word ("the cycle has no units", "Change status to").  Codes,
hashes, file names and commands (``<code>``), and the language switch, are not
prose.
"""

from __future__ import annotations

import io
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import login
from tests.app.test_phone_dashboard import SETTINGS

FUNCTION_WORDS = frozenset(
    " ".join(
        [
            "the a an is are was were be been not no of to in on at by for with from and or but",
            "this that these those it its has have had can cannot must may will would should",
            "your you we our there here than then as if when which who what only all any each",
            "per into out up",
        ]
    ).split()
)
SKIPPED_SUFFIXES = (".csv", ".xlsx", ".pdf", ".json", ".png", ".svg", ".yaml", ".sav", ".dta")
SKIPPED_PREFIXES = ("/lang/", "/auth/logout", "/static/", "/api/")
WORD_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*){2,}")


class _Page(HTMLParser):
    """Visible text outside <code>, <script>, <style>, plus links and forms."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        #: Per form: its fields that a person fills in (name → input type).
        self.fields: list[dict[str, str]] = []
        self._hidden_depth = 0
        self._form: tuple[str, str, dict[str, str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("code", "script", "style", "pre", "kbd", "samp"):
            self._hidden_depth += 1
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag == "form":
            self._form = (attributes.get("method", "get").lower(), attributes.get("action", ""), {})
            self.forms.append(self._form)
            self.fields.append({})
        if tag == "input" and self._form is not None and attributes.get("type") == "hidden":
            self._form[2][attributes.get("name", "")] = attributes.get("value", "")
        elif tag in ("input", "textarea", "select") and self._form is not None:
            kind = attributes.get("type", "text") if tag == "input" else tag
            if attributes.get("name") and kind not in ("submit", "button", "checkbox", "radio"):
                self.fields[-1][attributes["name"]] = kind
                self._select = attributes["name"] if tag == "select" else None
        elif tag == "option" and self._form is not None and self._select:
            # A select gets its first choice: the other fields carry the nonsense.
            self.fields[-1][self._select] = "option:" + attributes.get("value", "")
            self._select = None
        for name in ("title", "placeholder", "aria-label", "alt"):
            if attributes.get(name):
                self.text.append(attributes[name])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "script", "style", "pre", "kbd", "samp"):
            self._hidden_depth = max(0, self._hidden_depth - 1)
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.text.append(data)


def english_prose(text: str) -> list[str]:
    found = []
    for match in WORD_RUN.finditer(text):
        words = re.split(r"[ \t]+", match.group(0).lower())
        if any(word in FUNCTION_WORDS for word in words):
            found.append(match.group(0))
    return found


def _local(base: str, href: str) -> str | None:
    url = urlsplit(urljoin(base, href))
    if url.netloc not in ("", "localhost") or not url.path.startswith("/"):
        return None
    if url.path.endswith(SKIPPED_SUFFIXES) or url.path.startswith(SKIPPED_PREFIXES):
        return None
    return url.path + (f"?{url.query}" if url.query else "")


def _nonsense(fields: dict[str, str]) -> dict[str, object]:
    """What a hurried person might type: words where numbers go, a file that is no table."""
    data: dict[str, object] = {}
    for name, kind in fields.items():
        if kind == "file":
            data[name] = (io.BytesIO(b"a,b\n1,2,3\n=cmd\n"), "bad.csv")
        elif kind in ("number", "date"):
            data[name] = "abc"
        elif kind.startswith("option:"):
            data[name] = kind.removeprefix("option:")
        else:
            data[name] = "-1"
    return data


def crawl(
    client: FlaskClient, start: str, pages: list[int], limit: int = 400
) -> dict[str, list[str]]:
    """English prose per page, following links, then posting every form found empty."""
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    forms: dict[tuple[str, str], dict[str, str]] = {}
    queue = deque([start])

    def read(where: str, body: str) -> _Page:
        page = _Page()
        page.feed(body)
        prose = english_prose("\n".join(page.text))
        if prose:
            problems[where] = prose
        return page

    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code >= 500:
            problems[path] = [f"HTTP {response.status_code}"]
        if 300 <= response.status_code < 400:
            target = _local(path, response.headers.get("Location", ""))
            if target is not None:
                queue.append(target)
            continue
        if not response.content_type.startswith("text/html"):
            continue
        page = read(f"GET {path}", response.get_data(as_text=True))
        for href in page.links:
            target = _local(path, href)
            if target is not None and target not in seen:
                queue.append(target)
        for (method, action, _hidden), fields in zip(page.forms, page.fields, strict=True):
            target = _local(path, action or path)
            if method == "post" and target is not None:
                forms.setdefault((target, path), fields)
    pages[0] = len(seen)
    for (action, origin), fields in sorted(forms.items()):
        for label, data in (("empty", {}), ("nonsense", _nonsense(fields))):
            response = client.post(
                action, data=data, content_type="multipart/form-data", follow_redirects=True
            )
            if response.status_code >= 500:
                problems[f"POST {action}"] = [f"HTTP {response.status_code}"]
            if response.content_type.startswith("text/html"):
                read(f"POST {action} ({label}, form on {origin})", response.get_data(as_text=True))
    return problems


def test_the_detector_finds_english_prose_and_spares_codes() -> None:
    assert english_prose("周期 the cycle has no units 请检查") == ["the cycle has no units"]
    assert english_prose("变更状态为 Change status to 已关闭") == ["Change status to"]
    assert english_prose("SHA-256 · CSV · XLSX · unit_code · teams-15-80-5 · English") == []
    assert english_prose("python -m sampling verify") == []


ROLES = [
    (None, "/"),
    ("admin", "/admin/"),
    ("pollster", "/fieldwork/"),
    ("liaison", "/"),
    ("auditor", "/auditor/"),
]


@pytest.mark.parametrize(("role", "home"), ROLES, ids=[role or "anonymous" for role, _ in ROLES])
def test_every_page_a_role_reaches_is_chinese(
    results_app: Flask, role: str | None, home: str
) -> None:
    from survey.extensions import db
    from survey.models import Cycle, CycleStatus
    from survey.services import cycles, synthetic
    from tests.app.respondent_helpers import prepare_fieldwork

    with results_app.app_context():
        prepare_fieldwork(db.session)
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        if cycle.status == CycleStatus.FIELDING:
            synthetic.generate_responses(db.session, cycle, seed=3)
            cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="test")
        db.session.commit()
    client = results_app.test_client()
    if role is not None:
        login(client, role)
    pages = [0]
    problems = crawl(client, home, pages)
    assert pages[0] >= (3 if role is None else 8), f"only {pages[0]} pages reached"
    report = "\n".join(f"{where}: {'; '.join(found[:5])}" for where, found in problems.items())
    assert not problems, f"English on {len(problems)} pages:\n{report}"


def refused(client: FlaskClient, path: str, data: dict[str, str], expected: str) -> str:
    """Post bad input to a form; the refusal is shown, in Chinese, naming what was wrong."""
    response = client.post(path, data=data, follow_redirects=True)
    assert response.status_code < 500, f"POST {path}: HTTP {response.status_code}"
    page = _Page()
    page.feed(response.get_data(as_text=True))
    text = "\n".join(page.text)
    assert expected in text, f"POST {path}: “{expected}” is not on the page:\n{text[:3000]}"
    assert english_prose(text) == [], f"POST {path}: English {english_prose(text)}"
    return text


def test_refusals_of_weight_cycle_unit_calling_and_cati_forms_are_chinese(demo_app: Flask) -> None:
    """Input that passes the form but breaks a service rule: the service's reason, in Chinese."""
    from datetime import date

    from survey.extensions import db
    from survey.models import CallMode, ComponentWeight, RaterGroupWeight
    from survey.services import calling, cycles
    from tests.app.phone_setup import WEDNESDAY_10AM, Clock, sample_cases, schedule

    demo_app.config["CLOCK"] = Clock(WEDNESDAY_10AM)
    with demo_app.app_context():
        for case in sample_cases({"东湖区": ["13800138101"]}):
            calling.ensure_schedules(db.session)
            schedule(case.case_id).channel = CallMode.CATI
        period = {"period_start": date(2030, 1, 1), "period_end": date(2030, 12, 31)}
        empty = cycles.create_cycle(
            db.session,
            cycles.CycleSettings(name="空白周期", year=2030, **period),
            actor="test",
            with_defaults=False,
        )
        weights = {
            f"w_{w.category_id}_{w.rater_group_id}": str(w.weight)
            for w in db.session.scalars(sa.select(RaterGroupWeight))
        }
        component_weights = {
            f"w_{w.category_id}_{w.component_id}": str(w.weight)
            for w in db.session.scalars(sa.select(ComponentWeight))
        }
        db.session.commit()
        empty_id = empty.id
    admin = demo_app.test_client()
    login(admin, "admin")
    cycle_form = {
        "name": "2026年度",
        "year": "2026",
        "period_start": "2026-12-01",
        "period_end": "2026-01-01",
        "scale_preset": "five_level",
        "dont_know_handling": "exclude",
        "min_valid_responses": "30",
    }
    for path, data, expected in [
        ("/admin/cycles/1/rater-groups", {**weights, "w_1_1": "0.9"}, "评价主体权重：权重之和为"),
        (
            "/admin/cycles/1/components",
            {**component_weights, "w_1_1": "0.9"},
            "分项权重：权重之和为",
        ),
        (
            "/admin/cycles/1/questionnaire/weights",
            {f"item_{i}": "0.3" for i in range(1, 6)},
            "评价内容权重：权重之和为 1.5000，不等于 1",
        ),
        ("/admin/cycles/1/status", {"target": "published", "confirmed": "y"}, "不能变更为“已公示”"),
        (
            f"/admin/cycles/{empty_id}/status",
            {"target": "fielding", "confirmed": "y"},
            "还没有单位",
        ),
        ("/admin/cycles/1/edit", cycle_form, "截止日期早于起始日期"),
        ("/admin/cycles/1/units", {"code": "G04", "name": "重复", "category_id": "1"}, "已有编码"),
        ("/admin/cycles/1/questionnaire/items", {"code": "overall", "name": "重复"}, "已有编码"),
    ]:
        refused(admin, path, data, expected)
    pollster = demo_app.test_client()
    login(pollster, "pollster")
    values = {**SETTINGS, "timezone": "Mars/Olympus", "weekday_end": "07:00", "max_attempts": "0"}
    text = refused(pollster, "/cati/cycles/1/settings", values, "拨打规则未修改")
    assert "“Mars/Olympus”不是有效的时区" in text and "结束时间须晚于开始时间" in text
    claimed = pollster.post("/cati/claim")
    assert claimed.status_code == 302
    case_url = claimed.headers["Location"]
    assert pollster.post(f"{case_url}/dial").status_code == 302
    refused(pollster, f"{case_url}/result", {"disposition": "1.1"}, "完成访问需要回答全部问题")
    refused(pollster, f"{case_url}/result", {"disposition": "2.21"}, "预约")
    page = pollster.get(case_url).get_data(as_text=True)
    assert "2.21 受访者不便（预约回电）" in page and "1.1 完成访问" in page


def test_refusal_to_publish_is_chinese(results_app: Flask) -> None:
    """Publishing a closed cycle without its components names each problem in Chinese."""
    from survey.extensions import db
    from survey.models import Cycle, CycleStatus
    from survey.services import cycles, synthetic

    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="test")
        synthetic.generate_responses(db.session, cycle, seed=3)
        cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="test")
        db.session.commit()
        cycle_id = cycle.id
    client = results_app.test_client()
    login(client, "admin")
    data = {"grade_scheme": "teams-15-80-5", "confirmed": "y"}
    text = refused(client, f"/office/cycles/{cycle_id}/publish", data, "结果不能公示：有")
    assert "尚未导入" in text and "有效回答太少" in text
