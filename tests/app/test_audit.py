"""The audit log is a hash chain: tampering with any entry is detected."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.database import alembic_config
from survey.extensions import db
from survey.models import AuditLogEntry
from survey.services import audit
from tests.app.helpers import login


def test_demo_changes_are_logged_and_chained(demo_session: sa.orm.Session) -> None:
    entries = demo_session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
    assert [e.action for e in entries][:1] == ["cycle.create"]
    assert {"user.create"} <= {e.action for e in entries}
    assert entries[0].previous_hash == audit.GENESIS_HASH
    assert all(b.previous_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert audit.verify_chain(demo_session) == []


def test_tampered_entry_is_detected(demo_session: sa.orm.Session) -> None:
    entry = demo_session.scalars(
        sa.select(AuditLogEntry).order_by(AuditLogEntry.id).offset(2).limit(1)
    ).one()
    demo_session.execute(
        sa.update(AuditLogEntry).where(AuditLogEntry.id == entry.id).values(actor="someone-else")
    )
    demo_session.commit()
    demo_session.expire_all()
    assert audit.verify_chain(demo_session) == [entry.id]


def test_deleted_entry_breaks_the_chain(demo_session: sa.orm.Session) -> None:
    ids = demo_session.scalars(sa.select(AuditLogEntry.id).order_by(AuditLogEntry.id)).all()
    demo_session.execute(sa.delete(AuditLogEntry).where(AuditLogEntry.id == ids[1]))
    demo_session.commit()
    assert audit.verify_chain(demo_session) == [ids[2]]


def test_writers_at_once_never_chain_to_the_same_predecessor(app: Flask, backend: str) -> None:
    """Appends from several transactions at once, as office actions and submissions
    arrive together: each waits for the chain's lock and then sees the entry of
    whoever held it last (``audit_chain_head_locked()``), so the chain stays one line."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers with its database lock")
    writers, appends = 4, 25
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(number: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for count in range(appends):
                    audit.record(
                        db.session,
                        actor=f"writer-{number}",
                        action="test.append",
                        object_type="test",
                        object_id=count,
                    )
                    db.session.commit()
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with app.app_context():
        entries = db.session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        appended = [entry for entry in entries if entry.action == "test.append"]
        assert len(appended) == writers * appends
        predecessors = [entry.previous_hash for entry in entries]
        assert len(set(predecessors)) == len(predecessors)
        assert audit.verify_chain(db.session) == []


# The chain formats, written out here from their definition (docs/security.md) rather
# than imported, so a change to the app's hashing cannot pass unnoticed.
def _format_1(previous: str, when: str, fields: tuple[str, str, str, str, str]) -> str:
    actor, action, object_type, object_id, details = fields
    payload = [previous, when, actor, action, object_type, object_id, details]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _format_2(entry: AuditLogEntry) -> str:
    when = entry.occurred_at.replace(tzinfo=None).isoformat()
    content = ["minyi-audit-2", when, entry.actor, entry.action, entry.object_type]
    text = json.dumps([*content, entry.details], ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    linked = f"{entry.previous_hash}\n{entry.object_id}\n{digest}"
    return hashlib.sha256(linked.encode("utf-8")).hexdigest()


def _migrate(app: Flask, revision: str, *, down: bool = False) -> None:
    from alembic import command

    with app.app_context(), db.engine.begin() as connection:
        config = alembic_config(db.engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_database_hashes_an_entry_as_the_definition_says(app: Flask) -> None:
    """On PostgreSQL the entry's hash is computed in SQL (UTF-8 text included)."""
    with app.app_context():
        first = audit.record(
            db.session,
            actor="科室 A",
            action="results.publish",
            object_type="snapshot",
            object_id="二〇二六-一",
            details={"说明": '公示 "引号" \\ 反斜杠', "n": 3},
        )
        second = audit.record(
            db.session, actor="office", action="cycle.close", object_type="cycle", object_id=7
        )
        db.session.commit()
        db.session.expire_all()
        stored = db.session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        assert [entry.id for entry in stored] == [first.id, second.id]
        assert [entry.entry_hash for entry in stored] == [first.entry_hash, second.entry_hash]
        assert stored[0].previous_hash == audit.GENESIS_HASH
        assert stored[1].previous_hash == stored[0].entry_hash
        assert [_format_2(entry) for entry in stored] == [e.entry_hash for e in stored]
        assert {entry.chain_format for entry in stored} == {2}
        assert audit.verify_chain(db.session) == []


def test_entries_written_before_format_2_still_verify(app: Flask) -> None:
    """The upgrade keeps the entries already written, in format 1; the chain continues
    in format 2 and verifies across the change; tampering with either is found."""
    _migrate(app, "0008", down=True)
    when = datetime(2026, 11, 1, 8, 30)
    previous = audit.GENESIS_HASH
    with app.app_context(), db.engine.begin() as connection:
        for number in range(3):
            fields = ("office", "cycle.create", "cycle", str(number), '{"name": "二〇二六"}')
            entry_hash = _format_1(previous, when.isoformat(), fields)
            connection.execute(
                sa.text(
                    "INSERT INTO audit_log_entry (occurred_at, actor, action, object_type, "
                    "object_id, details, previous_hash, entry_hash) VALUES "
                    "(:when, :actor, :action, :object_type, :object_id, :details, "
                    ":previous, :entry_hash)"
                ),
                dict(
                    zip(
                        ("actor", "action", "object_type", "object_id", "details"),
                        fields,
                        strict=True,
                    ),
                    when=when,
                    previous=previous,
                    entry_hash=entry_hash,
                ),
            )
            previous = entry_hash
    _migrate(app, "head")
    with app.app_context():
        for number in range(2):
            audit.record(
                db.session,
                actor="office",
                action="cycle.open",
                object_type="cycle",
                object_id=number,
            )
        db.session.commit()
        entries = db.session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)).all()
        assert [entry.chain_format for entry in entries] == [1, 1, 1, 2, 2]
        assert entries[3].previous_hash == previous
        assert audit.verify_chain(db.session) == []
    verdict = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert "intact: 5 entries (chain format 1: 3, chain format 2: 2)" in verdict.output
    with app.app_context():
        old, new = entries[1], entries[3]
        # A format-1 entry edited, or an entry claiming the other format, breaks the chain.
        for entry_id, change in ((old.id, {"details": "{}"}), (new.id, {"chain_format": 1})):
            db.session.execute(
                sa.update(AuditLogEntry).where(AuditLogEntry.id == entry_id).values(**change)
            )
            assert audit.verify_chain(db.session) == [entry_id]
            db.session.rollback()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.update(AuditLogEntry).where(AuditLogEntry.id == new.id).values(chain_format=3)
            )
        db.session.rollback()
    # Going back to format 1 only would strand the format-2 entries: refused.
    with pytest.raises(RuntimeError, match="2 entries of chain format 2"):
        _migrate(app, "0008", down=True)


def test_draw_verification_upload_names_what_is_missing(demo_app: Flask) -> None:
    client = demo_app.test_client()
    login(client, "auditor")
    response = client.post("/auditor/verify", data={}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert page.count('class="error"') == 3 and "Traceback" not in page
    garbage = client.post(
        "/auditor/verify",
        data={
            "protocol": (io.BytesIO(b"not json"), "protocol.json"),
            "frame": (io.BytesIO(b"\xff\xfe\x00"), "frame.csv"),
            "sample": (io.BytesIO(b"id\n"), "sample.csv"),
        },
        content_type="multipart/form-data",
    )
    text = garbage.get_data(as_text=True)
    assert garbage.status_code == 200 and "无法将这些文件读取为" in text and "不是 JSON" in text
