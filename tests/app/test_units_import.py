"""Bulk import of units: all or nothing, every problem named with row and column."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook

from survey.extensions import db
from survey.models import AuditLogEntry, Unit
from tests.app.helpers import login

GOOD_CSV = (
    "code,name,category,parent\n"
    "N01,市数据局,政务部门,\n"
    "N02,市数据局信息中心,government,N01\n"
    "G01,市人民政府办公室,政务部门,\n"  # existing code: updated
)


def _upload(
    client: FlaskClient, filename: str, data: bytes, encoding: str = "utf-8"
) -> tuple[int, str]:
    response = client.post(
        "/admin/cycles/1/units/import",
        data={"file": (io.BytesIO(data), filename), "encoding": encoding},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def _unit_codes(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {code: name for code, name in db.session.execute(sa.select(Unit.code, Unit.name))}


def _problems(page: str) -> list[str]:
    block = re.search(r'<ul class="problems">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []


def test_good_csv_imports_and_updates(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    before = _unit_codes(demo_app)
    status, _page = _upload(demo_client, "units.csv", GOOD_CSV.encode())
    assert status == 302
    after = _unit_codes(demo_app)
    assert len(after) == len(before) + 2
    assert after["G01"] == "市人民政府办公室"
    with demo_app.app_context():
        child = db.session.scalars(sa.select(Unit).where(Unit.code == "N02")).one()
        assert child.parent is not None and child.parent.code == "N01"
        assert child.category.name == "政务部门"
        entry = db.session.scalars(
            sa.select(AuditLogEntry).where(AuditLogEntry.action == "unit.import")
        ).one()
        assert '"created": 2' in entry.details and '"updated": 1' in entry.details


def test_chinese_headers_and_bom_are_accepted(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    data = "\ufeff编码,名称,类别\nN01,市数据局,政务部门\n".encode()
    status, _page = _upload(demo_client, "单位.csv", data)
    assert status == 302
    assert "N01" in _unit_codes(demo_app)


def test_gbk_file_needs_the_gbk_choice(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    data = "code,name,category\nN01,市数据局,政务部门\n".encode("gb18030")
    status, page = _upload(demo_client, "units.csv", data)
    assert status == 400
    assert "not valid UTF-8 text at row 2" in page
    assert "N01" not in _unit_codes(demo_app)
    status, _page = _upload(demo_client, "units.csv", data, encoding="gb18030")
    assert status == 302
    assert _unit_codes(demo_app)["N01"] == "市数据局"


BAD_ROWS = [
    ("N01,,政务部门\n", "row 3, column name: name is missing"),
    ("N01,某局,不存在的类别\n", "row 3, column category: unknown category &#39;不存在的类别&#39;"),
    ("N00,重复,政务部门\n", "row 3, column code: duplicate code &#39;N00&#39; (also in row 2)"),
    ("N01,=HYPERLINK(&quot;x&quot;),政务部门\n", "looks like a spreadsheet formula"),
    (",无编码,政务部门\n", "row 3, column code: code is missing"),
]


@pytest.mark.parametrize(("bad_row", "expected"), BAD_ROWS)
def test_one_bad_row_rejects_the_whole_file(
    demo_app: Flask, demo_client: FlaskClient, bad_row: str, expected: str
) -> None:
    login(demo_client, "admin")
    before = _unit_codes(demo_app)
    data = (
        "code,name,category\nN00,好单位,政务部门\n"
        + bad_row.replace("&quot;", '"')
        + "N02,另一个好单位,政务部门\n"
    )
    status, page = _upload(demo_client, "units.csv", data.encode())
    assert status == 400
    assert "nothing was imported" in page
    assert any(expected in problem for problem in _problems(page)), _problems(page)
    assert _unit_codes(demo_app) == before


def test_every_problem_is_listed(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    data = "code,name,category,parent\nA,,x,\nA,b,政务部门,ZZ\n".encode()
    status, page = _upload(demo_client, "units.csv", data)
    assert status == 400
    assert len(_problems(page)) == 4  # missing name, unknown category, duplicate, parent


def test_missing_column_is_named(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    status, page = _upload(demo_client, "units.csv", b"code,name\nA,b\n")
    assert status == 400
    assert "missing column(s) category" in page


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_import(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    data = _xlsx(
        [
            ["编码", "名称", "类别"],
            ["X01", "市体育局", "社会发展部门"],
            [102, "数字编码局", "social"],
        ]
    )
    status, _page = _upload(demo_client, "units.xlsx", data)
    assert status == 302
    codes = _unit_codes(demo_app)
    assert codes["X01"] == "市体育局" and codes["102"] == "数字编码局"


def test_xlsx_formula_cell_is_rejected(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    data = _xlsx([["code", "name", "category"], ["X01", '=CONCAT("a","b")', "social"]])
    status, page = _upload(demo_client, "units.xlsx", data)
    assert status == 400
    assert "row 2, column B: formula cell" in page
    assert "X01" not in _unit_codes(demo_app)


def test_not_a_workbook(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    status, page = _upload(demo_client, "units.xlsx", b"this is not a zip file")
    assert status == 400
    assert "not a readable XLSX workbook" in page


def test_other_file_types_are_refused(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    status, page = _upload(demo_client, "units.pdf", b"%PDF-1.4")
    assert status == 400
    assert "仅支持 CSV 或 XLSX" in page
