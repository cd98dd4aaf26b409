"""Frames, do-not-call list, verifiable draws and reserve releases in the app."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from sampling.cli import main as sampling_cli
from survey.extensions import db
from survey.models import (
    DoNotCallEntry,
    FieldworkCase,
    FrameContact,
    FrameStatus,
    SampleDraw,
    SamplingFrame,
)
from tests.app.helpers import login, upload_and_confirm

DISTRICTS = {"东湖区": 120, "西城区": 60, "临江县": 20}


def frame_csv(extra_rows: str = "") -> bytes:
    lines = ["id,phone,district,age"]
    number = 0
    for district, count in DISTRICTS.items():
        for _ in range(count):
            number += 1
            lines.append(
                f"R{number:05d},{13800000000 + number * 7919},{district},"
                f"{'18-39' if number % 2 else '40+'}"
            )
    return ("\n".join(lines) + "\n" + extra_rows).encode()


def upload_frame(
    client: FlaskClient, data: bytes, name: str = "群众抽样框", strata: str = "district"
) -> tuple[int, str]:
    response = upload_and_confirm(
        client,
        "/fieldwork/cycles/1/frames",
        {
            "name": name,
            "rater_group_id": "1",
            "encoding": "utf-8",
            "id_column": "id",
            "phone_column": "phone",
            "strata_columns": strata,
            "size_column": "",
            "file": (io.BytesIO(data), "frame.csv"),
        },
    )
    return response.status_code, response.get_data(as_text=True)


def test_import_encrypts_numbers_and_leaves_out_do_not_call(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    response = demo_client.post(
        "/fieldwork/do-not-call", data={"numbers": f"+86 {13800000000 + 7919}\n"}
    )
    assert response.status_code == 302
    status, _page = upload_frame(demo_client, frame_csv())
    assert status == 302
    with demo_app.app_context():
        frame = db.session.scalars(sa.select(SamplingFrame)).one()
        assert frame.row_count == sum(DISTRICTS.values()) - 1
        assert frame.excluded_do_not_call == 1
        contact = db.session.scalars(
            sa.select(FrameContact).order_by(FrameContact.position)
        ).first()
        assert contact is not None and contact.external_id == "R00002"
        assert "13800015838" not in contact.phone_encrypted
        from survey.privacy import vault

        assert vault().decrypt(contact.phone_encrypted) == "+8613800015838"
        assert len(contact.phone_hash) == 64


def test_bad_frame_is_rejected_whole_with_every_problem(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    bad = (
        "X1,,东湖区,40+\n"  # missing phone
        "X2,12345,东湖区,40+\n"  # invalid phone
        "R00001,13912345678,东湖区,40+\n"  # duplicate id
        f"X3,{13800000000 + 7919},东湖区,40+\n"  # duplicate phone
        "X4,13912345679,,40+\n"  # empty stratum
        "=1+1,13912345670,东湖区,40+\n"  # formula-like id
    )
    status, page = upload_frame(demo_client, frame_csv(bad))
    assert status == 400
    problems = re.findall(r"<li>(.*?)</li>", page.split('class="problems"')[1].split("</ul>")[0])
    assert len(problems) == 6, problems
    assert problems[0] == "第 202 行“phone”列：缺少电话号码"
    assert problems[1] == "第 203 行“phone”列：&#39;12345&#39; 不是有效的电话号码"
    assert problems[2] == "第 204 行“id”列：编号 &#39;R00001&#39; 重复（第 2 行也有）"
    assert problems[3] == "第 205 行“phone”列：电话号码重复（第 2 行也有）"
    assert problems[4] == "第 206 行“district”列：缺少分层值"
    assert problems[5] == "第 207 行“id”列：像是电子表格公式"
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SamplingFrame)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FrameContact)) == 0


def test_unknown_column_lists_the_columns(demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    status, page = upload_frame(demo_client, frame_csv(), strata="region")
    assert status == 400
    assert "没有 “region” 列；文件中的列为：id、phone、district、age" in page


def seed_fields(seed: str) -> dict[str, str]:
    """The draw form's seed with a source announced today (after the frame's lock)."""
    return {
        "seed_source": "中国福利彩票双色球第2026141期开奖号码",
        "seed_event_date": datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat(),
        "seed": seed,
    }


def _frame_url(client: FlaskClient) -> str:
    """The page of the test's one frame (on PostgreSQL the preview's rolled-back import
    has used up an id of the sequence, so it is not always 1)."""
    with client.application.app_context():
        frame_id = db.session.scalars(sa.select(SamplingFrame.id)).one()
    return f"/fieldwork/frames/{frame_id}"


def _lock_and_draw(client: FlaskClient, reserve: int = 2, total: int = 40) -> str:
    frame_page = client.get(_frame_url(client)).get_data(as_text=True)
    assert "锁定抽样框" in frame_page
    unconfirmed = client.post(_frame_url(client) + "/lock")
    assert unconfirmed.status_code == 400 and "请勾选确认" in unconfirmed.get_data(as_text=True)
    assert client.post(_frame_url(client) + "/lock", data={"confirmed": "y"}).status_code == 302
    preview = client.get(
        f"{_frame_url(client)}?method=proportional&total={total}"
        f"&response_rate=0.5&minimum=0&reserve_batches={reserve}&seed=s"
    )
    assert preview.status_code == 200
    response = client.post(
        _frame_url(client) + "/draw",
        data={
            "method": "proportional",
            "total": str(total),
            "response_rate": "0.5",
            "minimum": "0",
            "reserve_batches": str(reserve),
            **seed_fields("03 07 12 18 25 31 09"),
            "confirmed": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return preview.get_data(as_text=True)


def test_lock_preview_draw_and_verify(
    demo_app: Flask, demo_client: FlaskClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    preview = _lock_and_draw(demo_client)
    # Proportional: 40 × (120, 60, 20) / 200 = 24, 12, 4; expected completes at 50%.
    rows = re.findall(r"<tr><td>(.+?)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td></tr>", preview)
    assert sorted(rows) == [
        ("东湖区", "120", "24", "12"),
        ("临江县", "20", "4", "2"),
        ("西城区", "60", "12", "6"),
    ]
    with demo_app.app_context():
        frame = db.session.scalars(sa.select(SamplingFrame)).one()
        assert frame is not None and frame.status == FrameStatus.DRAWN
        cases = db.session.scalars(sa.select(FieldworkCase)).all()
        assert len(cases) == 40 * 3
        main = [c for c in cases if c.replicate == 0]
        assert len(main) == 40 and all(c.released for c in main)
        assert not any(c.released for c in cases if c.replicate > 0)
        assert len({c.token for c in cases}) == len(cases)
        assert all(len(c.token) >= 20 for c in cases)
        weights = {c.stratum: c.design_weight for c in main}
        assert weights == {
            "东湖区": pytest.approx(5.0),
            "西城区": pytest.approx(5.0),
            "临江县": pytest.approx(5.0),
        }
        assert len({c.contact_id for c in cases}) == len(cases)

    protocol = tmp_path / "protocol.json"
    frame_file = tmp_path / "frame.csv"
    sample_file = tmp_path / "sample.csv"
    protocol.write_bytes(demo_client.get("/fieldwork/draws/1/protocol.json").data)
    frame_file.write_bytes(
        demo_client.get(_frame_url(demo_client) + "/verification-frame.csv").data
    )
    sample_bytes = demo_client.get("/fieldwork/draws/1/sample.csv").data
    phone = re.compile(rb"1[3-9]\d{9}")
    assert not phone.search(sample_bytes) and not phone.search(frame_file.read_bytes())
    sample_file.write_bytes(sample_bytes)
    assert sampling_cli(["verify", str(protocol), str(frame_file), str(sample_file)]) == 0
    assert "verified" in capsys.readouterr().out

    rows_out = list(csv.reader(io.StringIO(sample_bytes.decode())))
    other = next(
        r
        for r in list(csv.reader(frame_file.open()))[1:]
        if r[0] not in {row[0] for row in rows_out}
    )
    rows_out[1][0] = other[0]
    rows_out[1][1] = other[1]
    tampered = tmp_path / "tampered.csv"
    with tampered.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows_out)
    assert sampling_cli(["verify", str(protocol), str(frame_file), str(tampered)]) != 0


def test_draw_needs_a_lock_and_happens_once(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    response = demo_client.post(
        _frame_url(demo_client) + "/draw",
        data={
            "method": "proportional",
            "total": "10",
            "response_rate": "1",
            **seed_fields("x"),
            "confirmed": "y",
        },
    )
    assert response.status_code == 400
    assert "请先锁定抽样框（并公布其哈希值）再抽样。" in response.get_data(as_text=True)
    _lock_and_draw(demo_client)
    again = demo_client.post(
        _frame_url(demo_client) + "/draw",
        data={
            "method": "proportional",
            "total": "10",
            "response_rate": "1",
            **seed_fields("y"),
            "confirmed": "y",
        },
    )
    assert again.status_code == 400
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleDraw)) == 1


def test_too_large_n_is_refused(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    demo_client.post(_frame_url(demo_client) + "/lock", data={"confirmed": "y"})
    response = demo_client.get(
        _frame_url(demo_client) + "?method=proportional&total=5000&response_rate=1&seed=s"
    )
    assert response.status_code == 400
    assert "5000" in response.get_data(as_text=True)


def test_release_reserve_batches_in_order(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    _lock_and_draw(demo_client, reserve=2)
    unconfirmed = demo_client.post("/fieldwork/draws/1/release", data={"stratum": "临江县"})
    assert unconfirmed.status_code == 400
    release = {"stratum": "临江县", "confirmed": "y"}
    for expected in (1, 2):
        page = demo_client.post(
            "/fieldwork/draws/1/release", data=release, follow_redirects=True
        ).get_data(as_text=True)
        assert f"已为 临江县 启用第 {expected} 批备用样本" in page
    page = demo_client.post(
        "/fieldwork/draws/1/release", data=release, follow_redirects=True
    ).get_data(as_text=True)
    assert "分层“临江县”已没有备用样本批次。" in page
    with demo_app.app_context():
        released = db.session.scalars(
            sa.select(FieldworkCase.replicate).where(
                FieldworkCase.stratum == "临江县", FieldworkCase.released.is_(True)
            )
        ).all()
        assert sorted(set(released)) == [0, 1, 2]
        others = db.session.scalars(
            sa.select(FieldworkCase.replicate).where(
                FieldworkCase.stratum != "临江县", FieldworkCase.released.is_(True)
            )
        ).all()
        assert set(others) == {0}


def test_locked_frame_cannot_be_deleted(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    demo_client.post(_frame_url(demo_client) + "/lock", data={"confirmed": "y"})
    demo_client.post(_frame_url(demo_client) + "/delete")
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FrameContact)) == 200


def test_invalid_do_not_call_input_adds_nothing(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    page = demo_client.post(
        "/fieldwork/do-not-call", data={"numbers": "13912345678\nabc\n"}, follow_redirects=True
    ).get_data(as_text=True)
    assert (
        "第 2 行：&#39;abc&#39; 不是有效的电话号码" in page and "有 1 个号码无效，均未添加" in page
    )
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DoNotCallEntry)) == 0
