"""Anonymised microdata for analysts: SPSS, Stata and CSV with labels, read back (issue #24)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pyreadstat
import sqlalchemy as sa
from flask import Flask

from survey.models import Answer, Cycle, Response
from survey.services import microdata
from tests.app.helpers import login


def cycle_ids(app: Flask) -> tuple[int, int]:
    from survey.extensions import db

    with app.app_context():
        published = db.session.scalar(sa.select(Cycle.id).where(Cycle.year == 2025))
        fielding = db.session.scalar(sa.select(Cycle.id).where(Cycle.year == 2026))
        assert isinstance(published, int) and isinstance(fielding, int)
        return published, fielding


def read_back(content: bytes, suffix: str, **options: Any) -> tuple[Any, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data.{suffix}"
        path.write_bytes(content)
        reader = pyreadstat.read_sav if suffix == "sav" else pyreadstat.read_dta
        return reader(str(path), **options)


def test_microdata_round_trips_with_labels(results_app: Flask) -> None:
    from survey.extensions import db

    published, _fielding = cycle_ids(results_app)
    client = results_app.test_client()
    login(client, "pollster")
    with results_app.app_context():
        cycle = db.session.get(Cycle, published)
        assert cycle is not None
        key = str(results_app.config["SECRET_KEY"]).encode()
        expected = microdata.microdata(db.session, cycle, key=key)
        pairs = db.session.execute(
            sa.select(sa.func.count(sa.distinct(Answer.response_id * 100_000 + Answer.unit_id)))
            .join(Response, Answer.response_id == Response.id)
            .where(Response.cycle_id == published)
        ).scalar_one()
        responses = db.session.scalar(
            sa.select(sa.func.count()).select_from(Response).where(Response.cycle_id == published)
        )
        item_names = [item.name for item in sorted(cycle.items, key=lambda i: (i.position, i.code))]
        dont_know = next(level.position for level in cycle.scale_levels if level.is_dont_know)
    assert len(expected.rows) == pairs
    assert {row[0] for row in expected.rows} == set(range(1, responses + 1))

    sav = client.get(f"/fieldwork/cycles/{published}/microdata.sav")
    assert sav.status_code == 200 and sav.headers["Content-Disposition"].endswith('.sav"')
    frame, meta = read_back(sav.data, "sav", user_missing=True)
    assert len(frame) == pairs
    assert meta.column_names_to_labels["rater_group"] == "评价主体"
    assert meta.column_names_to_labels["item_1"] == item_names[0]
    assert meta.variable_value_labels["item_1"][1.0].startswith("很满意")
    assert "（100分）" in meta.variable_value_labels["item_1"][1.0]
    assert meta.variable_value_labels["item_1"][float(dont_know)] == "不了解"
    assert meta.missing_ranges["item_1"] == [{"lo": float(dont_know), "hi": float(dont_know)}]
    assert set(meta.variable_value_labels["channel"].values()) >= {"公开二维码海报"}
    # The same rows come back, value for value.
    rows = sorted(
        tuple(None if value != value else value for value in record)  # NaN → None
        for record in frame.itertuples(index=False)
    )
    assert rows == sorted(tuple(row) for row in expected.rows)

    dta = client.get(f"/fieldwork/cycles/{published}/microdata.dta")
    frame, meta = read_back(dta.data, "dta")
    assert len(frame) == pairs
    assert meta.column_names_to_labels["unit"] == "单位"
    assert meta.variable_value_labels["item_1"][float(dont_know)] == "不了解"

    text = client.get(f"/fieldwork/cycles/{published}/microdata.csv").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["respondent", "rater_group", "channel"]
    assert lines[1][5] == "答卷日期" and len(lines) == pairs + 2
    codebook = client.get(f"/fieldwork/cycles/{published}/microdata-codebook.csv")
    book = list(csv.reader(io.StringIO(codebook.data.decode("utf-8-sig"))))
    assert ["item_1", "", str(dont_know), "不了解"] in book


def test_nothing_that_identifies_a_respondent_travels(results_app: Flask) -> None:
    from survey.extensions import db

    published, _fielding = cycle_ids(results_app)
    with results_app.app_context():
        cycle = db.session.get(Cycle, published)
        assert cycle is not None
        data = microdata.microdata(db.session, cycle, key=b"secret")
        again = microdata.microdata(db.session, cycle, key=b"secret")
        other = microdata.microdata(db.session, cycle, key=b"another")
        stored = sorted(
            db.session.scalars(sa.select(Response.id).where(Response.cycle_id == published))
        )
    names = [variable.name for variable in data.variables]
    assert not {"comment", "phone", "case", "submitted_at"} & set(names)
    assert all(len(row[5]) == 10 for row in data.rows)  # the day only
    assert data.rows == again.rows  # stable from one download to the next
    assert [row[0] for row in data.rows] != [row[0] for row in other.rows]  # keyed
    # Every respondent numbered once, 1…n.
    first = {}
    for row in data.rows:
        first.setdefault(row[0], row)
    assert sorted(first) == list(range(1, len(stored) + 1))


def test_only_closed_cycles_export_and_only_to_staff(results_app: Flask) -> None:
    _published, fielding = cycle_ids(results_app)
    client = results_app.test_client()
    login(client, "pollster")
    refused = client.get(f"/fieldwork/cycles/{fielding}/microdata.sav")
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "调查结束后才能导出微观数据（本周期当前为草稿）。" in text
    assert client.get(f"/fieldwork/cycles/{fielding}/microdata.xls").status_code == 404
    liaison = results_app.test_client()
    login(liaison, "liaison")
    assert liaison.get(f"/fieldwork/cycles/{fielding}/microdata.csv").status_code == 403
