"""``minyi frame|sample|dnc`` commands and the demo's fieldwork."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from survey.extensions import db
from survey.models import Cycle, CycleStatus, FieldworkCase, SampleDraw
from tests.app.test_frames import frame_csv


def test_import_lock_draw_release_on_the_command_line(demo_app: Flask, tmp_path: Path) -> None:
    runner: FlaskCliRunner = demo_app.test_cli_runner()
    source = tmp_path / "frame.csv"
    source.write_bytes(frame_csv())
    result = runner.invoke(
        args=[
            "frame",
            "import",
            "1",
            str(source),
            "--group",
            "citizens",
            "--name",
            "CLI frame",
            "--strata",
            "district,age",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "frame 1 imported: 200 contacts" in result.output
    result = runner.invoke(args=["frame", "lock", "1"])
    assert result.exit_code == 0 and "SHA-256" in result.output
    draw = ["sample", "draw", "1", "--n", "30", "--reserve", "1", "--seed", "published 01 02 03"]
    source = ["--seed-source", "双色球第2026141期"]
    result = runner.invoke(args=[*draw, *source, "--seed-date", "2020-01-01"])
    assert result.exit_code == 2
    assert "before the frame was locked" in result.output
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    result = runner.invoke(args=[*draw, *source, "--seed-date", today])
    assert result.exit_code == 0, result.output
    assert "东湖区 | 18-39" in result.output
    result = runner.invoke(args=["sample", "release", "1", "临江县 | 40+"])
    assert result.exit_code == 0, result.output
    assert "reserve batch 1" in result.output
    with demo_app.app_context():
        sample_draw = db.session.get(SampleDraw, 1)
        assert sample_draw is not None and sample_draw.seed_source == "双色球第2026141期"
        provenance = json.loads(sample_draw.protocol_json)["seed_provenance"]
        assert provenance["source"] == "双色球第2026141期" and provenance["event_date"] == today
        released = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(FieldworkCase)
            .where(FieldworkCase.released.is_(True))
        )
        assert released == 30 + db.session.scalar(
            sa.select(sa.func.count())
            .select_from(FieldworkCase)
            .where(FieldworkCase.stratum == "临江县 | 40+", FieldworkCase.replicate == 1)
        )


def test_bad_frame_on_the_command_line_names_rows(demo_app: Flask, tmp_path: Path) -> None:
    runner = demo_app.test_cli_runner()
    source = tmp_path / "frame.csv"
    source.write_bytes(frame_csv("X9,notaphone,东湖区,40+\n"))
    result = runner.invoke(
        args=[
            "frame",
            "import",
            "1",
            str(source),
            "--group",
            "citizens",
            "--name",
            "bad",
            "--strata",
            "district",
        ]
    )
    assert result.exit_code == 2
    assert "row 202, column phone" in result.output
    result = runner.invoke(
        args=[
            "frame",
            "import",
            "1",
            str(source),
            "--group",
            "nobody",
            "--name",
            "bad",
            "--strata",
            "district",
        ]
    )
    assert result.exit_code == 2 and "the codes are: citizens" in result.output


def test_demo_fieldwork_is_drawn_and_verifiable(demo_app: Flask, tmp_path: Path) -> None:
    from sampling.cli import main as sampling_cli
    from survey.privacy import vault
    from survey.services.demo_fieldwork import DEMO_SAMPLE_SIZE, DEMO_SEED, load_fieldwork_demo

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        sample = load_fieldwork_demo(db.session, vault(), cycle)
        db.session.commit()
        assert cycle.status == CycleStatus.FIELDING
        assert sample.sample_size == DEMO_SAMPLE_SIZE and sample.seed == DEMO_SEED
        main = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(FieldworkCase)
            .where(FieldworkCase.replicate == 0)
        )
        assert main == DEMO_SAMPLE_SIZE
        draw_id = db.session.scalars(sa.select(SampleDraw.id)).one()
    client = demo_app.test_client()
    client.post("/auth/login", data={"username": "auditor", "password": "minyi-demo"})
    assert client.get("/fieldwork/").status_code == 403
    client.post("/auth/logout")
    client.post("/auth/login", data={"username": "pollster", "password": "minyi-demo"})
    files = {
        "protocol.json": f"/fieldwork/draws/{draw_id}/protocol.json",
        "frame.csv": "/fieldwork/frames/1/verification-frame.csv",
        "sample.csv": f"/fieldwork/draws/{draw_id}/sample.csv",
    }
    for name, url in files.items():
        (tmp_path / name).write_bytes(client.get(url).data)
    assert sampling_cli(["verify", *(str(tmp_path / name) for name in files)]) == 0


def test_frame_import_finds_columns_and_encoding_on_the_command_line(
    demo_app: Flask, tmp_path: Path
) -> None:
    """A frame Excel saved as GB18030 with Chinese headers: no option needed but the names."""
    runner = demo_app.test_cli_runner()
    source = tmp_path / "抽样框.csv"
    chinese = frame_csv().decode().replace("id,phone,district,age", "编号,手机号码,区县,年龄段")
    source.write_bytes(chinese.encode("gb18030"))
    args = ["frame", "import", "1", str(source), "--group", "citizens", "--name", "自动识别"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "imported: 200 contacts" in result.output
    with demo_app.app_context():
        from survey.models import SamplingFrame

        frame = db.session.scalars(sa.select(SamplingFrame)).one()
        assert frame.strata_columns == "区县 | 年龄段"
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes((chinese + "Z1,13912345678,东湖区,40+,多\n").encode("gb18030"))
    result = runner.invoke(args=["frame", "import", "1", str(ragged), "--group", "citizens",
                                 "--name", "参差"])  # fmt: skip
    assert result.exit_code == 2
    assert "row 202: the row has 5 cells but the header has 4 columns" in result.output
