"""Appeals: filing in the publicity period, decisions, corrected snapshots."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask, current_app

from survey.models import (
    Appeal,
    AppealAttachment,
    AppealStatus,
    Cycle,
    CycleStatus,
    ResultSnapshot,
    Unit,
)
from survey.services import appeals, publication
from survey.services.errors import ServiceError, ValidationError
from tests.app.helpers import login
from tests.figures import record_figures


def setup(session: Any) -> tuple[Cycle, ResultSnapshot, Unit]:
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
    snapshot = publication.latest_snapshot(session, cycle)
    assert snapshot is not None
    unit = next(unit for unit in cycle.units if unit.code == "L05")
    return cycle, snapshot, unit


def grade_of(snapshot: ResultSnapshot, code: str) -> str:
    for category in json.loads(snapshot.content)["outputs"]["categories"]:
        for unit in category["units"]:
            if unit["unit"] == code:
                return str(unit["grade"])
    raise AssertionError(code)


def test_publicity_period_counts_working_days() -> None:
    # Published on Friday 2025-11-21: Mon 24 … Fri 28 are the five working days.
    friday = datetime(2025, 11, 21, 9, 30, tzinfo=UTC)
    assert appeals.publicity_ends(friday) == datetime(2025, 11, 29, tzinfo=UTC)
    # Published on a Wednesday: Thu, Fri, Mon, Tue, Wed.
    wednesday = datetime(2025, 11, 19, 9, 30, tzinfo=UTC)
    assert appeals.publicity_ends(wednesday) == datetime(2025, 11, 27, tzinfo=UTC)


def test_file_and_reject(results_session: Any) -> None:
    _cycle, snapshot, unit = setup(results_session)
    appeal = appeals.file_appeal(
        results_session,
        snapshot,
        unit,
        reason="安全生产事故认定有误",
        attachments=[appeals.Upload("认定书.pdf", b"%PDF-1.4 demo")],
        actor="liaison",
    )
    assert appeal.status == AppealStatus.PENDING
    assert appeal.attachments[0].size == 13 and len(appeal.attachments[0].sha256) == 64
    assert appeals.decision_due(appeal) > appeal.filed_at.replace(tzinfo=UTC)
    with pytest.raises(ValidationError) as caught:
        appeals.file_appeal(
            results_session,
            snapshot,
            unit,
            reason=" ",
            attachments=[appeals.Upload("run.exe", b"MZ")],
            actor="liaison",
        )
    problems = [str(problem) for problem in caught.value.problems]
    assert any("written reason is required" in problem for problem in problems)
    assert any("“run.exe”: only" in problem for problem in problems)
    assert any(f"appeal {appeal.id} of this unit is still pending" in p for p in problems)
    with pytest.raises(ValidationError, match="written reason"):
        appeals.decide_appeal(results_session, appeal, upheld=False, reason="", actor="admin")
    appeals.decide_appeal(
        results_session, appeal, upheld=False, reason="事故认定书合法有效", actor="admin"
    )
    assert appeal.status == AppealStatus.REJECTED and appeal.resulting_snapshot_id is None
    with pytest.raises(ServiceError, match="already decided"):
        appeals.decide_appeal(results_session, appeal, upheld=True, reason="x", actor="admin")


def test_upheld_appeal_publishes_a_corrected_snapshot(results_session: Any) -> None:
    cycle, snapshot, unit = setup(results_session)
    assert grade_of(snapshot, "L05") == "third"
    appeal = appeals.file_appeal(
        results_session, snapshot, unit, reason="事故不属于本单位责任", actor="liaison"
    )
    with pytest.raises(ValidationError) as caught:
        appeals.decide_appeal(
            results_session,
            appeal,
            upheld=True,
            reason="复核属实",
            actor="admin",
            corrections=[
                appeals.Correction("annual", "L05", 120.0),
                appeals.Correction("nonexistent", "L05", 80.0),
            ],
        )
    assert len(caught.value.problems) == 2
    assert publication.latest_snapshot(results_session, cycle) is snapshot
    appeals.decide_appeal(
        results_session,
        appeal,
        upheld=True,
        reason="复核属实，撤销一票否决",
        actor="admin",
        corrections=[appeals.Correction("annual", "L05", 88.0)],
    )
    replacement = publication.latest_snapshot(results_session, cycle)
    assert replacement is not None and replacement.id == appeal.resulting_snapshot_id
    assert replacement.supersedes_id == snapshot.id and replacement.version == 2
    assert grade_of(replacement, "L05") != "third"
    assert publication.verify_snapshot(replacement).identical
    assert json.loads(replacement.content)["inputs"]["appeals"][0]["appeal"] == appeal.id
    # The old snapshot is untouched and still verifies.
    assert grade_of(snapshot, "L05") == "third"
    assert publication.verify_snapshot(snapshot).identical
    # The stored reason is fixed English (the API shows it as stored); pages read it in Chinese.
    stored = f"appeal {appeal.id} (L05) upheld: 复核属实，撤销一票否决"
    assert replacement.reason == stored
    results_session.commit()
    client = current_app.test_client()
    assert client.get(f"/api/results/{cycle.id}").get_json()["snapshot"]["reason"] == stored
    page = client.get(f"/results/{cycle.id}/{unit.category.code}").get_data(as_text=True)
    assert f"第 {appeal.id} 号申诉（L05）成立：复核属实，撤销一票否决" in page
    assert "upheld" not in page


def test_deadlines(results_session: Any) -> None:
    cycle, snapshot, unit = setup(results_session)
    late = snapshot.published_at.replace(tzinfo=UTC) + timedelta(days=10)
    with pytest.raises(ServiceError, match="publicity period is over") as late_appeal:
        appeals.file_appeal(
            results_session, snapshot, unit, reason="晚了", actor="liaison", now=late
        )
    assert "the publicity period ended on" in str(late_appeal.value.problems[0])
    appeal = appeals.file_appeal(results_session, snapshot, unit, reason="申诉", actor="liaison")
    with pytest.raises(ServiceError, match="not over yet"):
        appeals.finalize(results_session, cycle, actor="admin")
    with pytest.raises(ServiceError, match="still pending"):
        appeals.finalize(results_session, cycle, actor="admin", now=late)
    assert appeals.is_overdue(appeal, late)
    appeals.decide_appeal(results_session, appeal, upheld=False, reason="不成立", actor="admin")
    appeals.finalize(results_session, cycle, actor="admin", now=late)
    assert cycle.status == CycleStatus.FINAL
    with pytest.raises(ServiceError, match="appeals are closed"):
        appeals.file_appeal(results_session, snapshot, unit, reason="再次", actor="liaison")


# --- attachments: type by content, served as a download (issue 20) --------------------


def real_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "appeal evidence")
    page.save()
    return out.getvalue()


def real_image(kind: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def real_docx() -> bytes:
    """The smallest package Word opens: content types, the relation and the document."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    word = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicatio'
            'n/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Content'
            f'Type="application/xml"/><Override PartName="/word/document.xml" ContentType="{main}'
            '"/></Types>',
        )
        package.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxml'
            'formats.org/package/2006/relationships"><Relationship Id="rId1" Type='
            f'"{office}/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        package.writestr(
            "word/document.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{word}"><w:body><w:p>'
            "<w:r><w:t>申诉材料</w:t></w:r></w:p></w:body></w:document>",
        )
    return out.getvalue()


def real_xlsx() -> bytes:
    from openpyxl import Workbook

    out = io.BytesIO()
    book = Workbook()
    book.active["A1"] = "得分"  # type: ignore[index]
    book.save(out)
    return out.getvalue()


def test_attachment_type_is_read_from_the_content() -> None:
    assert appeals.detect_type(real_pdf()) == appeals.PDF
    assert appeals.detect_type(real_image("PNG")) == appeals.PNG
    assert appeals.detect_type(real_image("JPEG")) == appeals.JPEG
    assert appeals.detect_type(real_docx()) == appeals.DOCX
    assert appeals.detect_type(real_xlsx()) == appeals.XLSX
    # Text, HTML, an arbitrary zip, a broken zip: none of the promised types.
    assert appeals.detect_type("申诉理由见下".encode()) is None
    assert appeals.detect_type(b"<html><script>alert(1)</script></html>") is None
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as package:
        package.writestr("word/document.xml", "<x/>")
    assert appeals.detect_type(plain.getvalue()) is None
    assert appeals.detect_type(b"PK\x03\x04 not really a zip") is None


#: Files whose names promise another type than their content; each must be refused.
DISGUISED = {
    "说明.pdf": "这不是 PDF，只是文本。".encode(),
    "照片.png": b"<html><body><script>alert(document.cookie)</script></body></html>",
    "截图.jpg": real_image("PNG"),
    "表格.xlsx": real_docx(),
    "报告.docx": b"%PDF-1.4 a PDF renamed",
}


def test_attachments_whose_content_is_not_their_type_are_refused(results_session: Any) -> None:
    _cycle, snapshot, unit = setup(results_session)
    for name, data in DISGUISED.items():
        with pytest.raises(ValidationError) as caught:
            appeals.file_appeal(
                results_session,
                snapshot,
                unit,
                reason="材料见附件",
                attachments=[appeals.Upload(name, data)],
                actor="liaison",
            )
        (problem,) = caught.value.problems
        assert problem.parameters["file"] == name and "content" in problem.message
    record_figures("appeal attachments: disguised files", inputs=len(DISGUISED))
    genuine = [
        appeals.Upload("认定书.pdf", real_pdf()),
        appeals.Upload("现场.png", real_image("PNG")),
        appeals.Upload("现场.jpeg", real_image("JPEG")),
        appeals.Upload("说明.docx", real_docx()),
        appeals.Upload("数据.xlsx", real_xlsx()),
    ]
    appeal = appeals.file_appeal(
        results_session, snapshot, unit, reason="材料见附件", attachments=genuine, actor="liaison"
    )
    assert [a.content_type for a in appeal.attachments] == [
        appeals.PDF,
        appeals.PNG,
        appeals.JPEG,
        appeals.DOCX,
        appeals.XLSX,
    ]


def test_a_disguised_attachment_is_refused_in_chinese_and_downloads_are_attachments(
    results_app: Flask,
) -> None:
    from survey.extensions import db

    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        cycle_id = cycle.id
    liaison = results_app.test_client()
    login(liaison, "liaison")
    for name, data in DISGUISED.items():
        refused = liaison.post(
            f"/liaison/cycles/{cycle_id}/appeals",
            data={"reason": "得分计算有误", "attachments": [(io.BytesIO(data), name)]},
            content_type="multipart/form-data",
            headers={"Accept-Language": "zh"},
        )
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and f"“{name}”的内容不是" in page, name
    with results_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Appeal)) == 0
    filed = liaison.post(
        f"/liaison/cycles/{cycle_id}/appeals",
        data={
            "reason": "得分计算有误",
            "attachments": [
                (io.BytesIO(real_pdf()), "事故认定书.pdf"),
                (io.BytesIO(real_docx()), "情况说明.docx"),
            ],
        },
        content_type="multipart/form-data",
    )
    assert filed.status_code == 302
    with results_app.app_context():
        appeal = db.session.scalars(sa.select(Appeal)).one()
        ids = [(a.id, a.filename, a.content_type) for a in appeal.attachments]
        appeal_id = appeal.id
    admin = results_app.test_client()
    login(admin, "admin")
    for attachment_id, filename, content_type in ids:
        download = admin.get(f"/office/appeals/{appeal_id}/attachments/{attachment_id}")
        assert download.status_code == 200
        assert download.mimetype == content_type
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;"), disposition
        assert f"filename*=UTF-8''{quote(filename, safe='')}" in disposition
        suffix = appeals.SUFFIXES[content_type]
        assert f'filename="appeal-{appeal_id}-{attachment_id}{suffix}"' in disposition


def test_an_attachment_stored_before_the_check_is_served_by_its_content(
    results_app: Flask,
) -> None:
    """An old row: text stored as application/pdf under a .pdf name, served as bytes."""
    from survey.extensions import db
    from survey.models.base import utc_now

    with results_app.app_context():
        _cycle, snapshot, unit = setup(db.session)
        appeal = Appeal(
            snapshot_id=snapshot.id,
            unit_id=unit.id,
            reason="旧申诉",
            filed_by="liaison",
            filed_at=utc_now(),
            attachments=[
                AppealAttachment(
                    filename="旧.pdf",
                    content_type=appeals.PDF,
                    size=4,
                    sha256="0" * 64,
                    data=b"<h1>",
                )
            ],
        )
        db.session.add(appeal)
        db.session.commit()
        path = f"/office/appeals/{appeal.id}/attachments/{appeal.attachments[0].id}"
    admin = results_app.test_client()
    login(admin, "admin")
    download = admin.get(path)
    assert download.mimetype == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
