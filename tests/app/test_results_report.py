"""The printable 考核结果通报: every category, grades, appeals and methods; the same bytes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from typing import Any

import sqlalchemy as sa
from pypdf import PdfReader

from survey.models import ResultSnapshot
from survey.results.views import rendered_cache

RENDER = """
import hashlib, sys
from survey import create_app
from tests.conftest import _test_config
app = create_app(_test_config(sys.argv[1]))
page = app.test_client().get(sys.argv[2])
assert page.status_code == 200, page.status_code
print(hashlib.sha256(page.data).hexdigest())
"""


def report_url(app: Any) -> tuple[str, dict[str, Any]]:
    from survey.extensions import db

    with app.app_context():
        snapshot = db.session.scalars(sa.select(ResultSnapshot)).one()
        return f"/results/{snapshot.cycle_id}/report.pdf", json.loads(snapshot.content)


def test_report_lists_every_unit_grade_and_the_methods(results_app: Any) -> None:
    url, data = report_url(results_app)
    response = results_app.test_client().get(url)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline; filename=")
    reader = PdfReader(io.BytesIO(response.data))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "2025年度江州市综合考核结果通报" in text
    for category in data["outputs"]["categories"]:
        assert category["name"] in text
        for unit in category["units"]:
            assert unit["name"] in text
            assert f"{unit['total']['estimate']:.2f}" in text
    for words in ("一票否决", "方法说明", "委托方", "误差范围", "有效样本不足最低要求", "问卷"):
        assert words in text, words
    assert "redistribution accepted" not in text  # the demo's stored decision, read in Chinese
    # The Chinese font travels inside the file (a subset), so it prints anywhere.
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any(name.endswith("WenQuanYiMicroHei-0") for name in fonts), fonts
    embedded = [
        font["/FontDescriptor"].get("/FontFile2")
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
        if "/FontDescriptor" in font
    ]
    assert embedded and all(entry is not None for entry in embedded)


def test_report_is_byte_stable_for_a_snapshot(results_app: Any, results_database_url: str) -> None:
    url, _data = report_url(results_app)
    first = results_app.test_client().get(url).data
    rendered_cache(results_app).entries.clear()  # render again, not from the cache
    assert results_app.test_client().get(url).data == first
    # Another process, other hash seeds: the same bytes.
    digests = set()
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        completed = subprocess.run(
            [sys.executable, "-c", RENDER, results_database_url, url],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
        )
        digests.add(completed.stdout.strip().splitlines()[-1])
    assert digests == {hashlib.sha256(first).hexdigest()}
