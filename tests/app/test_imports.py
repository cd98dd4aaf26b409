"""What every import shares: encoding detection, header synonyms, ragged rows, the
preview's waiting upload (token store) and all-or-nothing confirmation."""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import ComponentImport, Cycle, ScoreComponent, Unit
from survey.services.errors import Problem, ValidationError
from survey.services.frames import FrameColumns, resolve_columns
from survey.services.tabular import decode, header_key, read_table
from survey.services.units import UNIT_COLUMNS, UNIT_REQUIRED
from survey.services.uploads import LIFETIME_SECONDS, UploadStore
from tests.app.helpers import confirm_import, login, upload_and_confirm

UNITS = "单位编码,单位名称,类别\nN01,市数据局,政务部门\nN02,市体育局,社会发展部门\n"


def _units(
    filename: str, data: bytes, encoding: str = "auto"
) -> tuple[tuple[int, dict[str, str]], ...]:
    return read_table(
        filename, data, columns=UNIT_COLUMNS, required=UNIT_REQUIRED, encoding=encoding
    ).rows


# --- encoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (UNITS.encode("utf-8"), "UTF-8"),
        (codecs.BOM_UTF8 + UNITS.encode("utf-8"), "UTF-8"),
        (UNITS.encode("gb18030"), "GB18030"),
        (UNITS.encode("gbk"), "GB18030"),
        (UNITS.replace(",", "\t").encode("utf-16"), "UTF-16"),  # Excel "Unicode text"
        (UNITS.encode("utf-16-le"), "UTF-16"),  # no BOM
    ],
)
def test_encoding_is_detected(data: bytes, label: str) -> None:
    text, detected = decode("u.csv", data)
    assert detected == label
    assert text.lstrip("\ufeff").replace("\t", ",") == UNITS
    assert _units("u.csv", data) == (
        (2, {"code": "N01", "name": "市数据局", "category": "政务部门"}),
        (3, {"code": "N02", "name": "市体育局", "category": "社会发展部门"}),
    )


def test_bytes_that_are_no_text_are_refused_with_the_reason() -> None:
    garbage = bytes(range(128, 256)) * 4
    with pytest.raises(ValidationError) as refused:
        decode("x.csv", garbage)
    assert refused.value.message == (
        "x.csv: the file is not text in UTF-8, GB18030 (GBK) or UTF-16; "
        "save it from Excel as CSV or XLSX"
    )


def test_a_chosen_encoding_is_kept_and_a_wrong_one_named() -> None:
    with pytest.raises(ValidationError) as refused:
        decode("u.csv", UNITS.encode("gb18030"), "utf-8")
    assert "not valid UTF-8 text at row 1" in refused.value.message
    assert decode("u.csv", UNITS.encode("gb18030"), "gb18030")[1] == "GB18030"


# --- headers -------------------------------------------------------------------------


def test_headers_match_width_and_case_insensitively() -> None:
    assert header_key(" ＣＯＤＥ ") == header_key("code") == "code"
    assert header_key("Unit_Code") == header_key("unit code") == "unitcode"
    data = "\ufeffＣＯＤＥ,单位名称 ,Category\nN01,市数据局,政务部门\n".encode()
    assert _units("u.csv", data) == (
        (2, {"code": "N01", "name": "市数据局", "category": "政务部门"}),
    )


def test_two_columns_for_one_field_are_both_named() -> None:
    data = "编码,单位编码,名称,类别\nN01,N01,市数据局,政务部门\n".encode()
    with pytest.raises(ValidationError) as refused:
        _units("u.csv", data)
    (problem,) = refused.value.problems
    assert problem.parameters["columns"] == "“编码”、“单位编码”"
    assert problem.parameters["field"] == "单位编码"


def test_frame_roles_come_from_chinese_headers() -> None:
    header = ["样本编号", "手机号码", "区县", "年龄段", "备注"]
    found = resolve_columns("f.csv", 1, header, FrameColumns())
    assert found == FrameColumns("样本编号", "手机号码", ("区县", "年龄段"), None)
    typed = resolve_columns("f.csv", 1, header, FrameColumns(strata_columns=("区县",)))
    assert typed.strata_columns == ("区县",)
    with pytest.raises(ValidationError) as refused:
        resolve_columns("f.csv", 1, ["编号", "手机", "电话", "区县"], FrameColumns())
    assert refused.value.problems[0].parameters["columns"] == "“手机”、“电话”"


def test_ragged_rows_are_errors_not_trimmed() -> None:
    data = "code,name,category\nN01,市数据局,政务部门,多余\nN02,市体育局\nN03,好,政务部门\n"
    with pytest.raises(ValidationError) as refused:
        _units("u.csv", data.encode())
    assert [(p.row, p.parameters["cells"]) for p in refused.value.problems] == [(2, 4), (3, 2)]


def test_row_errors_are_located_in_chinese(demo_app: Flask) -> None:
    from survey.admin.common import located

    problem = Problem("the name is missing", row=3, column="单位名称")
    with demo_app.test_request_context():
        assert located(problem) == "第 3 行“单位名称”列：缺少名称"
    assert str(problem) == "row 3, column 单位名称: the name is missing"  # the command line


# --- the waiting upload --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_store_gives_an_upload_back_only_to_its_owner_while_fresh(tmp_path: Path) -> None:
    clock = Clock()
    store = UploadStore(tmp_path / "pending", clock)
    token = store.put("7:70", "units:1", "u.csv", b"data", {"encoding": "auto"})
    upload = store.get(token, "7:70", "units:1")
    assert (upload.filename, upload.data, upload.fields) == ("u.csv", b"data", {"encoding": "auto"})
    for owner, kind in [("7:71", "units:1"), ("8:70", "units:1"), ("7:70", "units:2")]:
        with pytest.raises(ValidationError, match="expired or is not yours"):
            store.get(token, owner, kind)
    clock.now += LIFETIME_SECONDS + 1
    with pytest.raises(ValidationError, match="expired or is not yours"):
        store.get(token, "7:70", "units:1")
    assert list((tmp_path / "pending").iterdir()) == []  # an expired upload is deleted


@pytest.mark.parametrize(
    "token", ["../secret", "..%2Fsecret", "/etc/passwd", "a" * 42, "a" * 44, "a" * 42 + "/", ""]
)
def test_store_refuses_tokens_that_are_not_its_own(tmp_path: Path, token: str) -> None:
    store = UploadStore(tmp_path / "pending")
    (tmp_path / "secret.json").write_text('{"owner": "1:1", "kind": "units:1", "filename": "x"}')
    (tmp_path / "secret.bin").write_bytes(b"x")
    with pytest.raises(ValidationError, match="expired or is not yours"):
        store.get(token, "1:1", "units:1")
    store.delete(token)
    assert (tmp_path / "secret.bin").exists()


# --- through the pages ---------------------------------------------------------------


def _unit_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) or 0


def _post_units(client: FlaskClient, data: bytes, filename: str = "单位.csv") -> object:
    return client.post(
        "/admin/cycles/1/units/import",
        data={"file": (io.BytesIO(data), filename), "encoding": "auto"},
        content_type="multipart/form-data",
    )


def test_preview_stores_nothing_until_confirmed(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    before = _unit_count(demo_app)
    preview = demo_client.post(
        "/admin/cycles/1/units/import",
        data={"file": (io.BytesIO(UNITS.encode("gb18030")), "单位.csv"), "encoding": "auto"},
        content_type="multipart/form-data",
    )
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "GB18030" in page and 'id="import-rows">2<' in page
    assert "<td>单位编码</td><td>→ 单位编码</td>" in page
    assert "<td>N02</td><td>市体育局</td>" in page
    assert _unit_count(demo_app) == before
    assert confirm_import(demo_client, preview).status_code == 302
    assert _unit_count(demo_app) == before + 2
    again = confirm_import(demo_client, preview)  # the same token a second time
    assert "此次上传已过期或不属于您" in demo_client.get(again.location).get_data(as_text=True)
    assert _unit_count(demo_app) == before + 2


def test_another_session_cannot_confirm_the_upload(demo_app: Flask) -> None:
    first, second = demo_app.test_client(), demo_app.test_client()
    login(first, "admin")
    login(second, "admin")  # the same person signed in elsewhere: another session
    before = _unit_count(demo_app)
    preview = first.post(
        "/admin/cycles/1/units/import",
        data={"file": (io.BytesIO(UNITS.encode()), "u.csv"), "encoding": "auto"},
        content_type="multipart/form-data",
    )
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', preview.get_data(as_text=True))
    assert token is not None
    refused = second.post("/admin/cycles/1/units/import/confirm", data={"token": token.group(1)})
    assert refused.status_code == 302
    assert _unit_count(demo_app) == before
    elsewhere = first.post("/admin/cycles/2/units/import/confirm", data={"token": token.group(1)})
    assert elsewhere.status_code in (302, 404)
    assert _unit_count(demo_app) == before
    assert confirm_import(first, preview).status_code == 302
    assert _unit_count(demo_app) == before + 2


def test_refused_file_shows_the_rows_and_every_error(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "admin")
    before = _unit_count(demo_app)
    data = UNITS + "N03,市文旅局\n"
    response = demo_client.post(
        "/admin/cycles/1/units/import",
        data={"file": (io.BytesIO(data.encode("gb18030")), "u.csv"), "encoding": "auto"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "第 4 行：该行有 2 个单元格，表头却有 3 列" in page
    assert 'id="confirm-import"' not in page and "<td>N02</td>" in page
    assert _unit_count(demo_app) == before


def test_units_template_imports_unchanged(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    template = demo_client.get("/admin/cycles/1/units/template.csv").data
    assert template.startswith(codecs.BOM_UTF8)
    assert template.decode("utf-8-sig").splitlines()[0] == "单位编码,单位名称,类别,上级单位编码"
    response = upload_and_confirm(
        demo_client,
        "/admin/cycles/1/units/import",
        {"file": (io.BytesIO(template), "units-template.csv"), "encoding": "auto"},
    )
    assert response.status_code == 302
    with demo_app.app_context():
        assert db.session.scalars(sa.select(Unit).where(Unit.code == "U001")).one()


def test_component_template_imports_once_scores_are_filled_in(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "admin")
    with demo_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle)).one()
        routine = next(c for c in cycle.components if c.code == "routine")
        cycle_id, component_id = cycle.id, routine.id
    text = demo_client.get(f"/office/cycles/{cycle_id}/components/template.csv").data.decode(
        "utf-8-sig"
    )
    lines = text.splitlines()
    assert lines[0] == "单位编码,单位名称,得分,一票否决,量化指标最低完成率"
    filled = [lines[0]] + [re.sub(r",,否,$", ",80,否,", line) for line in lines[1:]]
    response = upload_and_confirm(
        demo_client,
        f"/office/cycles/{cycle_id}/components/{component_id}",
        {"file": (io.BytesIO("\n".join(filled).encode("gb18030")), "c.csv"), "encoding": "auto"},
    )
    assert response.status_code == 302
    with demo_app.app_context():
        version = db.session.scalars(
            sa.select(ComponentImport).where(ComponentImport.component_id == component_id)
        ).one()
        assert len(version.values) == len(lines) - 1
        assert db.session.get(ScoreComponent, component_id) is not None


def test_a_waiting_frame_is_sealed_on_disk_and_tampering_refused(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    from survey.models import SamplingFrame
    from tests.app.test_frames import frame_csv

    login(demo_client, "pollster")
    data = frame_csv()
    preview = demo_client.post(
        "/fieldwork/cycles/1/frames",
        data={"name": "封存", "rater_group_id": "1", "encoding": "auto",
              "file": (io.BytesIO(data), "frame.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert preview.status_code == 200, preview.get_data(as_text=True)
    (waiting,) = Path(demo_app.config["IMPORT_PENDING_FOLDER"]).glob("*.bin")
    sealed = waiting.read_bytes()
    assert b"13800007919" not in sealed and "东湖区".encode() not in sealed
    waiting.write_bytes(sealed[:-2] + (b"AA" if sealed[-2:] != b"AA" else b"BB"))
    refused = confirm_import(demo_client, preview)
    assert "此次上传已过期或不属于您" in demo_client.get(refused.location).get_data(as_text=True)
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SamplingFrame)) == 0
