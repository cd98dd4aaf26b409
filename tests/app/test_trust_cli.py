"""``minyi audit verify``, ``minyi keys rotate`` and the auditor pages."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask

from survey.extensions import db
from survey.models import AuditLogEntry, Cycle, FrameContact
from tests.app.helpers import login
from tests.app.test_frames import frame_csv


def test_audit_verify_detects_tampering(demo_app: Flask) -> None:
    runner = demo_app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "audit log intact" in result.output
    with demo_app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(AuditLogEntry.id)))
    assert f"{total} entries (chain format 2: {total})" in result.output
    with demo_app.app_context():
        db.session.execute(
            sa.update(AuditLogEntry).where(AuditLogEntry.id == 3).values(details='{"x": 1}')
        )
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "audit log BROKEN" in result.output
    assert "the chain is broken at entries 3" in result.output


def test_keys_rotate_reencrypts_every_number(demo_app: Flask, tmp_path: Path) -> None:
    from survey import create_app
    from survey.privacy import vault

    source = tmp_path / "frame.csv"
    source.write_bytes(frame_csv())
    runner = demo_app.test_cli_runner()
    result = runner.invoke(
        args=[
            "frame",
            "import",
            "1",
            str(source),
            "--group",
            "citizens",
            "--name",
            "f",
            "--strata",
            "district",
        ]
    )
    assert result.exit_code == 0, result.output
    old_key = demo_app.config["DATA_KEYS"]
    new_key = Fernet.generate_key().decode()
    url = demo_app.config["DATABASE_URL"]
    both = create_app({**demo_app.config, "DATA_KEYS": f"{new_key},{old_key}", "DATABASE_URL": url})
    result = both.test_cli_runner().invoke(args=["keys", "rotate", "--batch-size", "64"])
    assert result.exit_code == 0 and "200 phone number(s) re-encrypted" in result.output
    only_new = create_app({**demo_app.config, "DATA_KEYS": new_key, "DATABASE_URL": url})
    with only_new.app_context():
        tokens = db.session.scalars(sa.select(FrameContact.phone_encrypted)).all()
        numbers = {vault().decrypt(token) for token in tokens}
        assert len(numbers) == 200 and all(n.startswith("+86138") for n in numbers)
    for app in (both, only_new):
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


def test_auditor_sees_chain_status_and_verifies_the_demo_draw(
    demo_app: Flask, tmp_path: Path
) -> None:
    from sampling.cli import main as sampling_cli
    from survey.privacy import vault
    from survey.services.demo_fieldwork import load_fieldwork_demo

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        load_fieldwork_demo(db.session, vault(), cycle)
        db.session.commit()
    client = demo_app.test_client()
    login(client, "auditor")
    page = client.get("/auditor/").get_data(as_text=True)
    assert "审计日志链完整" in page or "The audit log chain is intact" in page
    for name, url in (
        ("p.json", "/auditor/draws/1/protocol.json"),
        ("f.csv", "/auditor/frames/1/frame.csv"),
        ("s.csv", "/auditor/draws/1/sample.csv"),
    ):
        response = client.get(url)
        assert response.status_code == 200
        (tmp_path / name).write_bytes(response.data)
    assert sampling_cli(["verify", *(str(tmp_path / n) for n in ("p.json", "f.csv", "s.csv"))]) == 0
    assert client.get("/auditor/audit-log").status_code == 200
    assert (
        client.post(
            "/admin/cycles/1/status", data={"target": "closed", "confirmed": "y"}
        ).status_code
        == 403
    )
