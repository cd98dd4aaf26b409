"""The audit log is a hash chain: tampering with any entry is detected."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.models import AuditLogEntry
from survey.services import audit


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
