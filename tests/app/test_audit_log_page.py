"""The auditor's audit log: stored verdicts instead of a full verification per view, the
tail check of the entries written since, keyset pages, filters, Chinese action names and
the CSV/XLSX exports that re-verify offline."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from survey import worker
from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import AuditLogEntry, AuditVerification
from survey.services import audit, checkpoints, verification
from tests.app.helpers import login

SURVEY = Path(__file__).resolve().parents[2] / "survey"
PO = SURVEY / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def _codes_written_by_the_app() -> set[str]:
    """Every literal action code in ``survey/``: ``action="x.y"`` and ``"action": "x.y"``."""
    pattern = re.compile(r"""["']?action["']?\s*[=:]\s*["']([a-z_]+\.[a-z_]+)["']""")
    return {
        code
        for path in SURVEY.rglob("*.py")
        for code in pattern.findall(path.read_text(encoding="utf-8"))
    }


def test_every_action_code_the_app_writes_has_a_chinese_name() -> None:
    from survey.auditor.actions import ACTION_NAMES

    codes = _codes_written_by_the_app()
    # The scan finds the codes (a broken pattern must not pass silently).
    assert {"response.submit", "results.publish", "phone.dial", "sample.draw"} <= codes
    assert len(codes) >= 35
    assert not codes - set(ACTION_NAMES), sorted(codes - set(ACTION_NAMES))
    # Each name is translated, not left in English.
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = [
        code
        for code, name in ACTION_NAMES.items()
        if (message := catalog.get(name._args[0])) is None or not message.string
    ]
    assert not untranslated, untranslated


def test_tail_finding_texts_of_the_page_are_those_of_the_service() -> None:
    from survey.auditor import TAIL_FINDING_TEXTS

    assert set(TAIL_FINDING_TEXTS) == set(verification.TAIL_FINDING_TEXTS)
    for kind, text in TAIL_FINDING_TEXTS.items():
        assert text._args[0] == verification.TAIL_FINDING_TEXTS[kind]


def _record(count: int, action: str = "user.update", **extra: Any) -> list[int]:
    ids = []
    for number in range(count):
        entry = audit.record(
            db.session,
            actor=extra.get("actor", "office"),
            action=action,
            object_type=extra.get("object_type", "user"),
            object_id=extra.get("object_id", number),
            details={"n": number},
        )
        ids.append(entry.id)
    db.session.commit()
    return ids


@pytest.fixture
def auditor(demo_app: Flask) -> FlaskClient:
    client = demo_app.test_client()
    login(client, "auditor")
    return client


@pytest.fixture
def full_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the full verifications (each reads the whole log)."""
    runs: list[int] = []
    real = checkpoints.verify_log

    def counted(*args: Any, **kwargs: Any) -> checkpoints.LogVerification:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoints, "verify_log", counted)
    yield runs


def _page(client: FlaskClient, url: str = "/auditor/") -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_the_overview_shows_the_stored_verdict_and_checks_only_the_tail(
    demo_app: Flask, auditor: FlaskClient, full_runs: list[int]
) -> None:
    page = _page(auditor)  # never verified: the first view runs and stores one
    assert len(full_runs) == 1
    assert "完整核验：审计日志链完整" in page and "北京时间" in page
    for _ in range(3):
        page = _page(auditor)
    assert len(full_runs) == 1, "a view verified the whole log again"
    assert "此后没有新增条目" in page
    with demo_app.app_context():
        new = _record(2)
    page = _page(auditor)
    assert len(full_runs) == 1
    assert f"此后新增的 2 条（条目 {new[0]} 至 {new[1]}）续接完整" in page
    # The button verifies everything now (POST); the next view shows its time.
    response = auditor.post("/auditor/verify-log")
    assert response.status_code == 302
    assert len(full_runs) == 2
    with demo_app.app_context():
        stored = verification.latest(db.session)
        assert stored is not None and stored.head_id == new[1] and stored.intact
        assert stored.run_by == "auditor"
    assert "此后没有新增条目" in _page(auditor)


def test_the_tail_check_and_the_button_find_what_changed_after_the_verdict(
    demo_app: Flask, auditor: FlaskClient
) -> None:
    _page(auditor)
    with demo_app.app_context():
        stored = verification.latest(db.session)
        assert stored is not None and stored.head_id is not None
        head = stored.head_id
        first = db.session.scalar(sa.select(sa.func.min(AuditLogEntry.id)))
        new = _record(3)
        # An entry written after the verdict, edited: the tail check reads it.
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == new[1]).values(actor="intruder")
        )
        db.session.commit()
    page = _page(auditor)
    assert "审计日志链完整" not in page.split('id="chain-status"')[1].split("</div>")[0]
    assert f"日志链在以下条目处断裂：{new[1]}" in page
    assert 'class="flash error"' in page
    with demo_app.app_context():
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == new[1]).values(actor="office")
        )
        # The verified head and everything after it deleted.
        db.session.execute(sa.delete(AuditLogEntry).where(AuditLogEntry.id >= head))
        db.session.commit()
    page = _page(auditor)
    assert f"完整核验读到的最后一条条目 {head} 已不存在" in page
    with demo_app.app_context():
        db.session.execute(sa.delete(AuditVerification))
        db.session.commit()
        _record(1)
        verification.run_full(db.session, run_by="test")
        db.session.commit()
        # The documented trade-off: an older entry edited in place after the verdict is
        # not read by the tail check; the next full verification names it.
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == first).values(actor="intruder")
        )
        db.session.commit()
    assert 'class="flash error"' not in _page(auditor)
    auditor.post("/auditor/verify-log")
    page = _page(auditor)
    assert 'class="flash error"' in page and f"日志链在以下条目处断裂：{first}" in page


def test_the_worker_and_the_cli_store_full_verdicts(
    demo_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with demo_app.app_context():
        assert verification.latest(db.session) is None
        report = worker.run_once(db.session, telephony(), "worker-1")
        assert report.audit_verification is not None
        # Within the interval: none.
        assert worker.run_once(db.session, telephony(), "worker-1").audit_verification is None
        demo_app.config["AUDIT_VERIFY_MINUTES"] = 0
        assert worker.run_once(db.session, telephony(), "worker-1").audit_verification is not None
        stored = verification.latest(db.session)
        assert stored is not None and stored.full and stored.intact
        assert stored.run_by == "worker-1" and stored.entries > 0
    result = demo_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    with demo_app.app_context():
        stored = verification.latest(db.session)
        assert stored is not None and stored.run_by == "cli"
        db.session.execute(
            sa.update(AuditLogEntry)
            .where(AuditLogEntry.id == stored.head_id)
            .values(details='{"edited": true}')
        )
        db.session.commit()
    result = demo_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    with demo_app.app_context():
        stored = verification.latest(db.session)
        assert stored is not None and not stored.intact
        assert verification.findings_of(stored)[0].kind == "entries_broken"


def _ids(page: str) -> list[int]:
    body = page.split('id="log-entries"')[1].split("</table>")[0]
    return [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", body)]


def _link(page: str, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">[^<]*{label}', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_keyset_pages_cover_every_entry_once(
    demo_app: Flask, auditor: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with demo_app.app_context():
        _record(130, action="unit.create", object_type="unit")
        everything = list(
            db.session.scalars(sa.select(AuditLogEntry.id).order_by(AuditLogEntry.id.desc()))
        )
        wanted = list(
            db.session.scalars(
                sa.select(AuditLogEntry.id)
                .where(AuditLogEntry.action == "unit.create")
                .order_by(AuditLogEntry.id.desc())
            )
        )
    offsets: list[str] = []

    def note_offset(*args: Any) -> None:
        compiled = args[4].compiled
        if compiled is not None and getattr(compiled.statement, "_offset_clause", None) is not None:
            offsets.append(str(args[2]))

    with demo_app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", note_offset)
    seen: list[int] = []
    url: str | None = "/auditor/audit-log"
    pages = []
    while url:
        page = _page(auditor, url)
        pages.append(page)
        seen += _ids(page)
        url = _link(page, "较早")
    assert seen == everything
    # Back from the last page by the newer links.
    back: list[int] = []
    page = pages[-1]
    back += _ids(page)
    while (url := _link(page, "较新")) is not None:
        page = _page(auditor, url)
        back = _ids(page) + back
    assert back == everything
    assert not offsets, f"a page used OFFSET: {offsets[:1]}"
    # Filtered by action, with the name in Chinese and the code beside it.
    url = "/auditor/audit-log?action=unit.create"
    seen = []
    while url:
        page = _page(auditor, url)
        assert "新建单位 <code>unit.create</code>" in page
        seen += _ids(page)
        url = _link(page, "较早")
    assert seen == wanted


def test_filters_by_actor_object_and_beijing_dates(
    demo_app: Flask, auditor: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 17:30 UTC on 1 March is 01:30 on 2 March in Beijing.
    monkeypatch.setattr(audit, "utc_now", lambda: datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
    with demo_app.app_context():
        late = _record(1, actor="zhang", object_type="cycle", object_id="7")[0]
    monkeypatch.setattr(audit, "utc_now", lambda: datetime(2026, 3, 1, 15, 30, tzinfo=UTC))
    with demo_app.app_context():
        early = _record(1, actor="li", object_type="cycle", object_id="8")[0]
    on = "/auditor/audit-log?date_from=2026-03-02&date_to=2026-03-02"
    assert _ids(_page(auditor, on)) == [late]
    assert _ids(_page(auditor, on.replace("03-02", "03-01"))) == [early]
    assert _ids(_page(auditor, "/auditor/audit-log?actor=zhang")) == [late]
    assert _ids(_page(auditor, "/auditor/audit-log?object_type=cycle&object_id=8")) == [early]
    page = _page(auditor, "/auditor/audit-log?actor=zhang")
    assert "2026-03-02 01:30:00（北京时间）" in page
    # Bad input: a clear error naming the field, nothing listed.
    response = auditor.get("/auditor/audit-log?date_from=2026-13-01")
    assert response.status_code == 400 and "起始日期" in response.get_data(as_text=True)
    response = auditor.get("/auditor/audit-log?date_from=2026-03-02&date_to=2026-03-01")
    assert response.status_code == 400 and "截止日期早于起始日期" in response.get_data(as_text=True)
    response = auditor.get("/auditor/audit-log.csv?date_from=x")
    assert response.status_code == 400 and "起始日期" in response.get_data(as_text=True)


def _reverify(rows: list[list[str]]) -> None:
    """Re-verify exported entries offline by the documented format-2 formula."""
    previous = None
    for row in rows:
        (_id, _local, hashed, actor, _name, code, kind, object_id, details, prev, own, fmt) = row
        assert fmt == "2"
        moment = datetime.fromisoformat(hashed)
        digest = audit.content_digest(moment, actor, code, kind, details)
        assert audit.chain_hash(prev, object_id, digest) == own
        if previous is not None:
            assert prev == previous
        previous = own


def test_exports_carry_what_re_verifies_offline(demo_app: Flask, auditor: FlaskClient) -> None:
    with demo_app.app_context():
        ids = _record(5, action="user.create", actor="office")
    response = auditor.get("/auditor/audit-log.csv?action=user.create&actor=office")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows[0][:6] == [
        "条目编号",
        "时间",
        "入链时间（UTC，计算哈希所用）",
        "操作人",
        "操作",
        "操作代码",
    ]
    assert [int(r[0]) for r in rows[1:]] == ids
    assert rows[1][4] == "新建用户" and rows[1][5] == "user.create"
    assert "北京时间" in rows[1][1]
    with demo_app.app_context():
        all_rows = list(
            csv.reader(
                io.StringIO(
                    auditor.get("/auditor/audit-log.csv").data.decode("utf-8-sig"), newline=""
                )
            )
        )[1:]
    _reverify(all_rows)
    assert len(all_rows) > len(ids)
    response = auditor.get("/auditor/audit-log.xlsx?action=user.create&actor=office")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet is not None
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].value == "条目编号" and sheet["K1"].value == "本条哈希"
    assert (sheet.column_dimensions["K"].width or 0) >= 60
    assert [sheet.cell(row=r, column=1).value for r in range(2, 7)] == ids


def test_the_overview_survives_a_stale_verdict(demo_app: Flask, auditor: FlaskClient) -> None:
    _page(auditor)
    with demo_app.app_context():
        db.session.execute(
            sa.update(AuditVerification).values(verified_at=datetime.now(UTC) - timedelta(hours=2))
        )
        db.session.commit()
    assert 'id="stale-verdict"' in _page(auditor)


def test_a_long_tail_is_checked_up_to_the_limit_and_says_so(
    demo_app: Flask, auditor: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _page(auditor)
    with demo_app.app_context():
        new = _record(5)
    monkeypatch.setattr(verification, "TAIL_LIMIT", 3)
    page = _page(auditor)
    assert 'id="tail-unchecked"' in page and f"条目 {new[2]} 之后的尚未核验" in page
    monkeypatch.setattr(verification, "TAIL_LIMIT", 5)
    assert 'id="tail-unchecked"' not in _page(auditor)


def test_a_verdict_written_or_changed_in_the_database_shows_loudly(
    demo_app: Flask, auditor: FlaskClient
) -> None:
    """Verdicts are signed with the checkpoints' key: whoever can write the database
    cannot store an "intact" verdict that hides an edit made before it."""
    _page(auditor)
    with demo_app.app_context():
        first = db.session.scalar(sa.select(sa.func.min(AuditLogEntry.id)))
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == first).values(actor="intruder")
        )
        verification.run_full(db.session, run_by="worker-1")
        db.session.commit()
        stored = verification.latest(db.session)
        assert stored is not None and not stored.intact
        copy = {
            name: getattr(stored, name)
            for name in ("id", "entries", "head_id", "head_hash", "public_key")
        }
        # The intruder turns the verdict into "intact, no findings".
        db.session.execute(
            sa.update(AuditVerification)
            .where(AuditVerification.id == copy["id"])
            .values(intact=True, findings="[]")
        )
        db.session.commit()
    page = _page(auditor)
    assert 'class="flash error"' in page
    assert f"所存第 {copy['id']} 号核验结论没有受信任密钥的有效签名" in page
    with demo_app.app_context():
        # A verdict inserted without the key.
        db.session.add(
            AuditVerification(
                verified_at=datetime.now(UTC),
                full=True,
                entries=copy["entries"],
                head_id=copy["head_id"],
                head_hash=copy["head_hash"],
                intact=True,
                findings="[]",
                run_by="worker-1",
                duration_ms=1,
                public_key=copy["public_key"],
                signature="00" * 64,
            )
        )
        db.session.commit()
    page = _page(auditor)
    assert 'class="flash error"' in page and "没有受信任密钥的有效签名" in page
