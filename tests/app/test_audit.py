"""The audit log is a hash chain: tampering with any entry is detected."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

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
