"""Reading the audit log: filters and keyset pages (by id, never OFFSET).

A page is the entries with an id below (``before``) or above (``after``) a cursor,
newest first: one index range read, as fast on the last page of a million entries as
on the first.  Each filter has an index ending in ``id`` (migration 0015).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import AuditLogEntry
from survey.services.audit import _iso

_TABLE = cast(sa.Table, AuditLogEntry.__table__)


@dataclass(frozen=True)
class LogFilter:
    """What the auditor asked for; empty fields filter nothing.  Dates are calendar
    days in the office's time zone, both ends included."""

    actor: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    zone: str = "Asia/Shanghai"

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        for column, value in (
            (_TABLE.c.actor, self.actor),
            (_TABLE.c.action, self.action),
            (_TABLE.c.object_type, self.object_type),
            (_TABLE.c.object_id, self.object_id),
        ):
            if value:
                found.append(column == value)
        if self.date_from is not None:
            found.append(_TABLE.c.occurred_at >= self._start_of(self.date_from))
        if self.date_to is not None:
            found.append(_TABLE.c.occurred_at < self._start_of(self.date_to + timedelta(days=1)))
        return found

    def _start_of(self, day: date) -> datetime:
        # Midnight in the office's zone, in UTC as stored: 00:00 in Beijing is 16:00 UTC
        # the day before.
        local = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.zone))
        return local.astimezone(UTC)


@dataclass(frozen=True)
class LogPage:
    entries: Sequence[Any]
    """Rows of ``audit_log_entry``, newest first."""
    newer: int | None
    """The cursor of the newer page (``after``), if there is one."""
    older: int | None
    """The cursor of the older page (``before``), if there is one."""


def page(
    session: orm.Session,
    log_filter: LogFilter,
    *,
    size: int,
    before: int | None = None,
    after: int | None = None,
) -> LogPage:
    """One page of matching entries, newest first, below ``before`` or above ``after``."""
    statement = sa.select(_TABLE).where(*log_filter.conditions())
    if after is not None:
        rows = list(
            session.execute(
                statement.where(_TABLE.c.id > after).order_by(_TABLE.c.id).limit(size + 1)
            )
        )
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        older = rows[-1].id if rows else None
        newer = rows[0].id if rows and more_newer else None
        if older is not None and not _exists(session, log_filter, _TABLE.c.id < older):
            older = None
        return LogPage(rows, newer, older)
    if before is not None:
        statement = statement.where(_TABLE.c.id < before)
    rows = list(session.execute(statement.order_by(_TABLE.c.id.desc()).limit(size + 1)))
    more_older = len(rows) > size
    rows = rows[:size]
    newer = None
    if before is not None and rows and _exists(session, log_filter, _TABLE.c.id > rows[0].id):
        newer = rows[0].id
    return LogPage(rows, newer, rows[-1].id if rows and more_older else None)


def _exists(session: orm.Session, log_filter: LogFilter, where: sa.ColumnElement[bool]) -> bool:
    return bool(
        session.scalar(
            sa.select(sa.exists().where(*log_filter.conditions(), where).select_from(_TABLE))
        )
    )


def count(session: orm.Session, log_filter: LogFilter, *, limit: int) -> int:
    """Matching entries, counted up to ``limit + 1`` only (an export's cap)."""
    capped = sa.select(_TABLE.c.id).where(*log_filter.conditions()).limit(limit + 1).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0)


def matching(session: orm.Session, log_filter: LogFilter) -> Iterator[Any]:
    """Every matching entry in chain order (an export: re-verifiable from top to bottom)."""
    yield from session.connection().execute(
        sa.select(_TABLE)
        .where(*log_filter.conditions())
        .order_by(_TABLE.c.id)
        .execution_options(yield_per=5000)
    )


def hashed_time(entry: Any) -> str:
    """The entry's time exactly as its hash covers it (UTC, ISO 8601)."""
    return _iso(entry.occurred_at)
