"""Oversized and invalid bodies, and Hypothesis on the CSV/XLSX parsers and imports.

* Public forms refuse bodies beyond ``PUBLIC_MAX_CONTENT_LENGTH`` (413) and text
  that is not UTF-8 or holds NUL, in the body, the query string or the path (400).
* The upload pages (units, frames, components) answer every broken file with a
  4xx page naming the problem, never a 5xx, and store nothing.
* :func:`survey.services.tabular.read_table` on random bytes, truncated or
  corrupted workbooks, the wrong encoding, ragged rows, formulas and huge cells
  either returns a table or raises the project's ``ValidationError`` naming the
  file (and row/column where there is one): never another exception.
* Through the services on both backends: a file with one bad row imports nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from survey.extensions import db
from survey.models import Cycle, RaterGroup, ScoreComponent
from survey.privacy import vault
from survey.services import components as component_service
from survey.services import frames as frame_service
from survey.services import units as unit_service
from survey.services.errors import ValidationError
from survey.services.tabular import read_table
from tests.app.helpers import login
from tests.app.respondent_helpers import prepare_fieldwork
from tests.app.test_fuzz_forms import row_counts
from tests.conftest import _test_config
from tests.figures import record_figures

PUBLIC_LIMIT = 64 * 1024
#: The upload limit of the app under test; production's is 64 MiB (same code path).
UPLOAD_LIMIT = 512 * 1024
COLUMNS = {"code": ["编码"], "name": ["名称"], "category": ["类别"], "parent": ["上级"]}


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def fuzz_app(demo_database_url: str) -> Iterator[Flask]:
    from survey import create_app

    app = create_app(
        _test_config(demo_database_url, RATELIMIT_ENABLED=False, MAX_CONTENT_LENGTH=UPLOAD_LIMIT)
    )
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def _counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = row_counts()
        db.session.rollback()
        return counts


def _status(client: FlaskClient, failures: list[str], method: str, url: str, **kw: Any) -> int:
    try:
        return client.open(url, method=method, **kw).status_code
    except Exception as error:  # the app raised: in production a 500
        failures.append(f"{method} {url}: {error!r}"[:300])
        return 500


# --- public forms: oversized bodies and invalid text -----------------------------------


def test_public_forms_refuse_oversized_and_invalid_bodies(fuzz_app: Flask, backend: str) -> None:
    with fuzz_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    token, code = fieldwork.tokens[0], fieldwork.poster_code
    client = fuzz_app.test_client()
    form = "application/x-www-form-urlencoded"
    urls = [f"/s/{token}/1", f"/q/{code}", f"/q/{code}/verify", "/ballot/x", "/auth/login"]
    cases: list[tuple[str, dict[str, Any], set[int], str]] = [
        (
            "oversized",
            {"data": b"comment=" + b"x" * PUBLIC_LIMIT, "content_type": form},
            {413},
            "提交的内容过大",
        ),
        (
            "oversized multipart",
            {"data": {"comment": "字" * PUBLIC_LIMIT}, "content_type": "multipart/form-data"},
            {413},
            "提交的内容过大",
        ),
        (
            "invalid UTF-8",
            {"data": b"comment=%FF%FE", "content_type": form},
            {400},
            "无效的文字字节",
        ),
        (
            "lone surrogate",
            {"data": b"phone=%ED%A0%80", "content_type": form},
            {400},
            "无效的文字字节",
        ),
        (
            "raw invalid bytes",
            {"data": b"code=\xc3", "content_type": form},
            {400},
            "无效的文字字节",
        ),
        (
            "NUL",
            {"data": b"username=a%00b&password=x", "content_type": form},
            {400},
            "无效的文字字节",
        ),
        ("NUL in query", {"query_string": "lang=%00"}, {400}, "无效的文字字节"),
        ("invalid query", {"query_string": "next=%C0%AF"}, {400}, "无效的文字字节"),
        ("JSON to a form", {"json": {"phone": "13800138000"}}, {302, 400, 401, 404, 409}, ""),
        ("no content type", {"data": b"\x00\x01\x02"}, {302, 400, 401, 404, 409}, ""),
    ]
    before = _counts(fuzz_app)
    failures: list[str] = []
    tried = errors = 0
    for url in urls:
        for name, kwargs, expected, message in cases:
            tried += 1
            try:
                response = client.post(url, **kwargs)
            except Exception as error:  # the app raised: in production a 500
                errors += 1
                failures.append(f"{name} {url}: {error!r}"[:300])
                continue
            if response.status_code >= 500:
                errors += 1
            if response.status_code not in expected or message not in response.get_data(True):
                failures.append(f"{name} {url}: {response.status_code}")
    # As a server hands them over: raw bytes, one latin-1 character each (PEP 3333); the
    # test client would otherwise decode them itself.
    for raw in (f"/s/{token}".encode() + b"\xff/1", b"/q/\x00", b"/ballot/\xed\xa0\x80"):
        path = raw.decode("latin-1")
        tried += 1
        status = _status(client, failures, "GET", path, environ_overrides={"PATH_INFO": path})
        errors += status >= 500
        if status != 400:
            failures.append(f"GET {raw!r}: {status}")
    # Twice the public limit is fine on a page that takes uploads (the admin's).
    login(client, "admin")
    big = client.post(
        "/admin/cycles/1/units/import",
        data={"encoding": "utf-8", "file": (io.BytesIO(b"x" * 2 * PUBLIC_LIMIT), "units.csv")},
        content_type="multipart/form-data",
    )
    tried += 1
    after = _counts(fuzz_app)
    record_figures(
        "bad bodies: public forms (oversized, invalid UTF-8, NUL)",
        backend=backend,
        inputs=tried,
        server_errors=errors,
    )
    assert errors == 0 and failures == [], failures[:8]
    assert big.status_code == 400 and 'class="flash error"' in big.get_data(True)
    assert after == before


# --- upload pages ------------------------------------------------------------------------


def _workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# Well-formed, but its category does not exist: a workbook that survives damage is still
# refused, so every upload below must store nothing.
GOOD_UNITS = _workbook([["code", "name", "category"], ["X1", "单位", "no-such-category"]])

files = st.one_of(
    st.tuples(st.binary(max_size=400), st.sampled_from(["a.csv", "a.xlsx", "a.txt", "a.pdf"])),
    st.tuples(
        st.integers(1, len(GOOD_UNITS) - 1).map(lambda cut: GOOD_UNITS[:cut]), st.just("t.xlsx")
    ),
    st.tuples(
        st.lists(st.integers(0, len(GOOD_UNITS) - 1), min_size=1, max_size=6).map(
            lambda spots: bytes(
                (byte ^ 0x5A) if index in spots else byte for index, byte in enumerate(GOOD_UNITS)
            )
        ),
        st.just("flipped.xlsx"),
    ),
    st.sampled_from(
        [
            ("编码,名称,类别\nX1,单位,无此类别\n".encode("gb18030"), "gbk.csv"),
            (_workbook([["code", "name", "category"], ["X1", "=1+1", "县市区"]]), "formula.xlsx"),
            (b'code,name,category\nX1,"unterminated,county\n', "quote.csv"),
            (b"code,name,category\nX1," + b"y" * 200_000 + b",county\n", "huge-cell.csv"),
            (b"x" * (UPLOAD_LIMIT + 1), "oversized.csv"),
            (b"PK\x03\x04" + b"\x00" * 100, "zip-header.xlsx"),
        ]
    ),
)


def _upload_targets() -> tuple[Cycle, RaterGroup, ScoreComponent]:
    """The demo's 2026 cycle, its citizens and a component other than social recognition."""
    cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    group = db.session.scalars(
        sa.select(RaterGroup).where(RaterGroup.cycle_id == cycle.id, RaterGroup.code == "citizens")
    ).one()
    component = db.session.scalars(
        sa.select(ScoreComponent).where(
            ScoreComponent.cycle_id == cycle.id, ScoreComponent.code != "social_recognition"
        )
    ).first()
    assert component is not None
    return cycle, group, component


def test_upload_pages_refuse_broken_files(fuzz_app: Flask, backend: str) -> None:
    with fuzz_app.app_context():
        cycle, group, component = _upload_targets()
        cycle_id, group_id, component_id = cycle.id, group.id, component.id
    admin = fuzz_app.test_client()
    login(admin, "admin")
    frame_fields = {
        "name": "fuzz frame",
        "rater_group_id": str(group_id),
        "id_column": "code",
        "phone_column": "name",
        "strata_columns": "category",
    }
    endpoints = [
        (f"/admin/cycles/{cycle_id}/units/import", {}),
        (f"/office/cycles/{cycle_id}/components/{component_id}", {}),
        (f"/fieldwork/cycles/{cycle_id}/frames", frame_fields),
    ]
    before = _counts(fuzz_app)
    failures: list[str] = []
    statuses: set[int] = set()
    tally = {"tried": 0, "errors": 0}

    @fuzz(80)
    @given(upload=files, encoding=st.sampled_from(["utf-8", "gb18030", "latin-1", ""]))
    def post(upload: tuple[bytes, str], encoding: str) -> None:
        content, filename = upload
        for url, extra in endpoints:
            data = {**extra, "encoding": encoding, "file": (io.BytesIO(content), filename)}
            tally["tried"] += 1
            status = _status(
                admin, failures, "POST", url, data=data, content_type="multipart/form-data"
            )
            statuses.add(status)
            tally["errors"] += status >= 500

    post()
    after = _counts(fuzz_app)
    record_figures(
        "fuzz: upload pages (units, frames, components)",
        backend=backend,
        inputs=tally["tried"],
        server_errors=tally["errors"],
    )
    assert tally["errors"] == 0, failures[:5]
    assert statuses <= {400, 413}, statuses
    assert statuses == {400, 413}
    assert after == before


# --- the parser itself (no database) -----------------------------------------------------


def _parse(filename: str, data: bytes, encoding: str = "utf-8") -> Any:
    try:
        return read_table(
            filename, data, columns=COLUMNS, required=("code", "name"), encoding=encoding
        )
    except ValidationError as error:
        assert error.message.startswith(filename) or "encoding" in error.message, error.message
        return error


PARSER_INPUTS = {"count": 0}


def _count() -> None:
    PARSER_INPUTS["count"] += 1


@fuzz(300)
@given(data=st.binary(max_size=600), name=st.sampled_from(["f.csv", "f.xlsx", "f.txt", "f.doc"]))
def test_random_bytes_are_a_table_or_a_named_error(data: bytes, name: str) -> None:
    _count()
    _parse(name, data)
    _parse(name, data, "gb18030")
    _parse(name, data, "auto")


def _csv_bytes(rows: list[list[str]], codec: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(codec)


cell_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)


@fuzz(200)
@given(rows=st.lists(st.lists(cell_text, max_size=6), max_size=12))
def test_ragged_rows_are_errors_with_their_row_numbers(rows: list[list[str]]) -> None:
    _count()
    data = _csv_bytes([["code", "name", "category"], *rows])
    result = _parse("ragged.csv", data, "auto")
    expected = [
        (number, row) for number, row in enumerate(rows, start=2) if any(c.strip() for c in row)
    ]
    ragged = [number for number, row in expected if len(row) != 3]
    if isinstance(result, ValidationError):
        # Refused for ragged rows (each named by its row, never trimmed or padded)
        # and for cells that look like formulas (named by row and column).
        named = [p.row for p in result.problems if p.column is None]
        assert named == ragged
        assert all(p.parameters["columns"] == 3 for p in result.problems if not p.column)
        assert all("formula" in p.message for p in result.problems if p.column)
        return
    assert ragged == []
    assert [number for number, _ in result.rows] == [number for number, _ in expected]
    for (_, values), (_, row) in zip(result.rows, expected, strict=True):
        assert values == {
            "code": row[0].strip(),
            "name": row[1].strip(),
            "category": row[2].strip(),
        }


@fuzz(100)
@given(
    text=st.text(alphabet="编码名称类别单位县市区局委员会中华人民共和国", min_size=1, max_size=20)
)
def test_gbk_file_is_detected_or_named_when_read_as_utf8(text: str) -> None:
    _count()
    data = _csv_bytes([["编码", "名称"], ["A1", text]], "gb18030")
    error = _parse("gbk.csv", data)
    assert isinstance(error, ValidationError)
    assert "not valid UTF-8" in error.message and error.problems[0].row in (1, 2)
    table = _parse("gbk.csv", data, "gb18030")
    assert table.rows == ((2, {"code": "A1", "name": text}),)
    assert _parse("gbk.csv", data, "auto").rows == table.rows
    with_bom = codecs.BOM_UTF8 + _csv_bytes([["编码", "名称"], ["A1", text]])
    assert _parse("bom.csv", with_bom).rows == table.rows
    assert _parse("bom.csv", with_bom, "auto").rows == table.rows
    utf16 = _csv_bytes([["编码", "名称"], ["A1", text]], "utf-16")
    assert _parse("u16.csv", utf16, "auto").rows == table.rows


@fuzz(60)
@given(
    formula=st.sampled_from(["=1+1", '=HYPERLINK("x")', "+SUM(A1)", "@cmd", "-2+3"]),
    row=st.integers(2, 6),
    as_xlsx=st.booleans(),
)
def test_formula_cells_are_refused_by_row_and_column(formula: str, row: int, as_xlsx: bool) -> None:
    _count()
    rows: list[list[Any]] = [["code", "name"]] + [[f"U{n}", "单位"] for n in range(2, 7)]
    rows[row - 1][1] = formula
    error = _parse("f.xlsx", _workbook(rows)) if as_xlsx else _parse("f.csv", _csv_bytes(rows))
    assert isinstance(error, ValidationError)
    assert [(p.row, p.column) for p in error.problems] in ([(row, "name")], [(row, "B")])


@fuzz(80)
@given(cut=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_corrupt_workbooks_are_a_named_error(cut: int, seed: int) -> None:
    _count()
    good = _workbook([["code", "name"], ["U1", "单位"], ["U2", "单位"]])
    truncated = good[: len(good) * cut // 100]
    noise = random.Random(seed)
    damaged = bytearray(good)
    for _ in range(1 + seed % 8):
        damaged[noise.randrange(len(damaged))] = noise.randrange(256)
    for data in (truncated, bytes(damaged)):
        result = _parse("broken.xlsx", data)
        if not isinstance(result, ValidationError):
            assert [number for number, _ in result.rows] == [2, 3]


def test_huge_cells_are_a_named_error_or_read() -> None:
    _count()
    error = _parse("huge.csv", b"code,name\nU1," + b"y" * 200_000 + b"\n")
    assert isinstance(error, ValidationError) and "row 2" in error.message
    table = _parse("big.csv", b"code,name\nU1," + b"y" * 100_000 + b"\n")
    assert len(table.rows[0][1]["name"]) == 100_000


def test_record_parser_figures() -> None:
    """Runs after the property tests of this module (file order) and records their count."""
    record_figures("fuzz: CSV/XLSX parser (Hypothesis)", inputs=PARSER_INPUTS["count"])
    assert PARSER_INPUTS["count"] > 0 or pytest.skip("parser properties not run")


# --- through the services, both backends -------------------------------------------------


@st.composite
def bad_unit_files(draw: st.DrawFn) -> tuple[str, bytes, int, str]:
    """A units file with valid rows and one broken cell: (filename, bytes, row, column)."""
    count = draw(st.integers(1, 8))
    rows = [["code", "name", "category"]] + [
        [f"F{n:03d}", f"单位{n}", "县市区"] for n in range(count)
    ]
    bad_row = draw(st.integers(2, count + 1))
    column, value = draw(
        st.sampled_from(
            [("code", ""), ("name", ""), ("category", "no-such-category"), ("name", "=1+1")]
        )
    )
    rows[bad_row - 1][["code", "name", "category"].index(column)] = value
    if draw(st.booleans()):
        return "units.xlsx", _workbook(rows), bad_row, column
    return (
        "units.csv",
        _csv_bytes(rows, draw(st.sampled_from(["utf-8", "utf-8-sig"]))),
        bad_row,
        column,
    )


def test_imports_with_one_bad_row_store_nothing(demo_app: Flask, backend: str) -> None:
    tried = {"count": 0}
    with demo_app.app_context():
        cycle, group, component = _upload_targets()
        before = row_counts()

        @fuzz(25)
        @given(upload=bad_unit_files())
        def attempt(upload: tuple[str, bytes, int, str]) -> None:
            filename, data, row, column = upload
            tried["count"] += 3
            with pytest.raises(ValidationError) as units_error:
                unit_service.import_units(db.session, cycle, filename, data, actor="fuzz")
            db.session.rollback()
            assert any(
                p.row == row and p.column in (column, "B", "C") for p in units_error.value.problems
            )
            # The same bytes as a component file (no unit/score columns) and a frame.
            with pytest.raises(ValidationError):
                component_service.import_component(
                    db.session, cycle, component, filename=filename, data=data, actor="fuzz"
                )
            db.session.rollback()
            with pytest.raises(ValidationError) as frame_error:
                frame_service.import_frame(
                    db.session,
                    vault(),
                    cycle,
                    group,
                    name="fuzz",
                    filename=filename,
                    data=data,
                    columns=frame_service.FrameColumns(
                        id_column="code",
                        phone_column="name",
                        strata_columns=("category",),
                        size_column=None,
                    ),
                    actor="fuzz",
                )
            db.session.rollback()
            assert frame_error.value.problems

        attempt()
        after = row_counts()
    record_figures(
        "fuzz: imports through the services (all or nothing)",
        backend=backend,
        inputs=tried["count"],
        rows_lost=sum(max(0, before[name] - after[name]) for name in before),
    )
    assert after == before
