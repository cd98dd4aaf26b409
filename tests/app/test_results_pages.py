"""Public results: category pages, JSON API, XLSX export (formula-safe)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from survey.models import Cycle, ResultSnapshot
from survey.results.export import snapshot_workbook


def cycle_id(app: Flask) -> int:
    from survey.extensions import db

    with app.app_context():
        found = db.session.scalar(sa.select(Cycle.id).where(Cycle.year == 2025))
        assert isinstance(found, int)
        return found


def test_category_page_lists_units_grades_and_flags(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = cycle_id(results_app)
    response = client.get(f"/results/{identifier}/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/county")
    page = client.get(f"/results/{identifier}/law_enforcement", headers={"Accept-Language": "zh"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "市应急管理局" in text and "约束性指标一票否决" in text and "三等" in text
    assert "市教育局" not in text  # another category
    assert "SHA-256" in text
    assert client.get(f"/results/{identifier}/nonexistent").status_code == 404
    assert client.get("/results/999999/").status_code == 404


def test_results_index_is_public(results_app: Flask) -> None:
    text = results_app.test_client().get("/results/").get_data(as_text=True)
    assert "2025年度江州市综合考核" in text
    assert "2026年度江州市综合考核" not in text  # not published


def test_json_api_matches_the_snapshot(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = cycle_id(results_app)
    payload = client.get(f"/api/results/{identifier}").get_json()
    snapshot = payload["snapshot"]
    raw = client.get(f"/api/results/snapshots/{snapshot['id']}.json")
    assert raw.status_code == 200
    import hashlib

    assert hashlib.sha256(raw.data).hexdigest() == snapshot["sha256"]
    assert payload["categories"] == json.loads(raw.data)["outputs"]["categories"]
    assert payload["categories"][0]["code"] == "county"


def test_results_routes_refuse_writes(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = cycle_id(results_app)
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(f"/api/results/{identifier}")
        assert response.status_code == 405
        response = getattr(client, method)(f"/results/{identifier}/county")
        assert response.status_code == 405


def test_xlsx_download_opens(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = cycle_id(results_app)
    response = client.get(f"/results/{identifier}/results.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    assert "执法监督部门" in workbook.sheetnames
    sheet = workbook["执法监督部门"]
    names = [sheet.cell(row=row, column=3).value for row in range(2, sheet.max_row + 1)]
    assert "市应急管理局" in names
    from survey.extensions import db

    with results_app.app_context():
        digest = db.session.scalar(sa.select(ResultSnapshot.sha256))
    assert workbook.worksheets[0].cell(row=3, column=2).value == digest


def test_xlsx_reads_in_chinese_with_widths_and_a_frozen_header(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = cycle_id(results_app)
    workbook = load_workbook(io.BytesIO(client.get(f"/results/{identifier}/results.xlsx").data))
    about = workbook.worksheets[0]
    assert about.title == "文件说明"
    assert [about.cell(row=r, column=1).value for r in range(1, 6)] == [
        "考核周期",
        "版本",
        "SHA-256",
        "计分规则版本",
        "置信水平",
    ]
    assert (about.cell(row=2, column=2).value, about.cell(row=5, column=2).value) == (1, "95%")
    sheet = workbook["执法监督部门"]
    header = [cell.value for cell in sheet[1]]
    assert header == [
        "排名",
        "单位编码",
        "单位",
        "综合得分",
        "95%置信区间下限",
        "95%置信区间上限",
        "社会公认度",
        "等次",
        "依据",
        "备注",
    ]
    assert sheet.freeze_panes == "D2"
    assert sheet.column_dimensions["C"].width == 26 and sheet.column_dimensions["I"].width == 30
    rows = {sheet.cell(row=r, column=2).value: r for r in range(2, sheet.max_row + 1)}
    vetoed = rows["L05"]
    assert sheet.cell(row=vetoed, column=8).value == "三等"
    assert "约束性指标一票否决" in str(sheet.cell(row=vetoed, column=9).value)
    total = sheet.cell(row=vetoed, column=4)
    assert isinstance(total.value, float) and total.number_format == "0.00"
    # No English machine text ("position 1 of 8; quota …") in any reason.
    for row in range(2, sheet.max_row + 1):
        reason = str(sheet.cell(row=row, column=9).value or "")
        assert not any("a" <= ch.lower() <= "z" for ch in reason), reason


@pytest.mark.parametrize("hostile", ['=HYPERLINK("http://x")', "+1+1", "@SUM(A1)", "-A1+1"])
def test_xlsx_cells_never_hold_formulas(hostile: str) -> None:
    data: dict[str, Any] = {
        "format": "minyi-results-v1",
        "inputs": {"cycle": {"name": hostile}},
        "outputs": {
            "categories": [
                {
                    "name": "类别",
                    "units": [
                        {
                            "rank": 1,
                            "unit": hostile,
                            "name": hostile,
                            "total": None,
                            "social": {"estimate": None, "redistributed": False},
                            "grade": None,
                            "reasons": [{"code": "quota", "detail": hostile}],
                        }
                    ],
                }
            ]
        },
    }
    content = snapshot_workbook(data, sha256="0" * 64, labels={}, translate=str)
    workbook = load_workbook(io.BytesIO(content))
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    assert workbook["类别"].cell(row=2, column=3).value == "'" + hostile


def test_unreliable_group_scores_are_marked_by_the_stated_rule(results_app: Flask) -> None:
    from scipy.stats import norm

    client = results_app.test_client()
    identifier = cycle_id(results_app)
    payload = client.get(f"/api/results/{identifier}").get_json()
    marked = expected = 0
    for category in payload["categories"]:
        html = client.get(f"/results/{identifier}/{category['code']}").get_data(as_text=True)
        assert "▲ 不可靠：有效样本少于最低要求，或在95%置信水平下误差范围超过±10分的得分" in html
        marked += html.count('<td class="unreliable">')
        for unit in category["units"]:
            for part in unit["social"]["groups"]:
                if part["estimate"] is None:
                    continue
                margin = norm.ppf(0.975) * part["se"]
                expected += bool(part["below_minimum"] or margin > 10)
    assert expected > 0  # the demo has groups below the minimum
    assert marked == expected
