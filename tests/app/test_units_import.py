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
from tests.app.helpers import login, upload_and_confirm

GOOD_CSV = (
    "code,name,category,parent\n"
    "N01,市数据局,政务部门,\n"
    "N02,市数据局信息中心,government,N01\n"
    "G01,市人民政府办公室,政务部门,\n"  # existing code: updated
)


def _upload(
    client: FlaskClient, filename: str, data: bytes, encoding: str = "utf-8"
) -> tuple[int, str]:
    response = upload_and_confirm(
        client,
        "/admin/cycles/1/units/import",
        {"file": (io.BytesIO(data), filename), "encoding": encoding},
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


def test_gbk_file_is_detected_and_a_wrong_choice_named(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "admin")
    data = "code,name,category\nN01,市数据局,政务部门\n".encode("gb18030")
    status, page = _upload(demo_client, "units.csv", data, encoding="utf-8")
    assert status == 400
    assert "第 2 行（第 23 字节）不是有效的 UTF-8 文本" in page
    assert "N01" not in _unit_codes(demo_app)
    status, _page = _upload(demo_client, "units.csv", data, encoding="auto")
    assert status == 302
    assert _unit_codes(demo_app)["N01"] == "市数据局"


BAD_ROWS = [
    ("N01,,政务部门\n", "第 3 行“name”列：缺少名称"),
    ("N01,某局,不存在的类别\n", "第 3 行“category”列：未知类别 &#39;不存在的类别&#39;"),
    ("N00,重复,政务部门\n", "第 3 行“code”列：编码 &#39;N00&#39; 重复（第 2 行也有）"),
    (
        "N01,=HYPERLINK(&quot;x&quot;),政务部门\n",
        "第 3 行“name”列：&#39;=HYPERLINK(&#34;x&#34;)&#39; 像是电子表格公式",
    ),
    (",无编码,政务部门\n", "第 3 行“code”列：缺少编码"),
    ("N01,多一列,政务部门,\n", "第 3 行：该行有 4 个单元格，表头却有 3 列"),
    ("N01,少一列\n", "第 3 行：该行有 2 个单元格，表头却有 3 列"),
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
    assert "未导入任何内容" in page
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
    assert "缺少“类别”列（表头可写作：类别、分类、单位类别）；文件中的列为：code、name" in page


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
    assert "第 2 行“B”列：公式单元格，请粘贴数值" in page
    assert "X01" not in _unit_codes(demo_app)


def test_not_a_workbook(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    status, page = _upload(demo_client, "units.xlsx", b"this is not a zip file")
    assert status == 400
    assert "不是可读取的 XLSX 工作簿" in page


def test_other_file_types_are_refused(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    status, page = _upload(demo_client, "units.pdf", b"%PDF-1.4")
    assert status == 400
    assert "仅支持 CSV、XLSX 或 TXT 文件" in page
