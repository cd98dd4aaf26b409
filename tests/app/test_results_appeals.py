"""Appeals: filing in the publicity period, decisions, corrected snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from survey.models import AppealStatus, Cycle, CycleStatus, ResultSnapshot, Unit
from survey.services import appeals, publication
from survey.services.errors import ServiceError, ValidationError


def setup(session: Any) -> tuple[Cycle, ResultSnapshot, Unit]:
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
    snapshot = publication.latest_snapshot(session, cycle)
    assert snapshot is not None
    unit = next(unit for unit in cycle.units if unit.code == "L05")
    return cycle, snapshot, unit


def grade_of(snapshot: ResultSnapshot, code: str) -> str:
    for category in json.loads(snapshot.content)["outputs"]["categories"]:
        for unit in category["units"]:
            if unit["unit"] == code:
                return str(unit["grade"])
    raise AssertionError(code)


def test_publicity_period_counts_working_days() -> None:
    # Published on Friday 2025-11-21: Mon 24 … Fri 28 are the five working days.
    friday = datetime(2025, 11, 21, 9, 30, tzinfo=UTC)
    assert appeals.publicity_ends(friday) == datetime(2025, 11, 29, tzinfo=UTC)
    # Published on a Wednesday: Thu, Fri, Mon, Tue, Wed.
    wednesday = datetime(2025, 11, 19, 9, 30, tzinfo=UTC)
    assert appeals.publicity_ends(wednesday) == datetime(2025, 11, 27, tzinfo=UTC)


def test_file_and_reject(results_session: Any) -> None:
    _cycle, snapshot, unit = setup(results_session)
    appeal = appeals.file_appeal(
        results_session,
        snapshot,
        unit,
        reason="安全生产事故认定有误",
        attachments=[appeals.Upload("认定书.pdf", b"%PDF-1.4 demo")],
        actor="liaison",
    )
    assert appeal.status == AppealStatus.PENDING
    assert appeal.attachments[0].size == 13 and len(appeal.attachments[0].sha256) == 64
    assert appeals.decision_due(appeal) > appeal.filed_at.replace(tzinfo=UTC)
    with pytest.raises(ValidationError) as caught:
        appeals.file_appeal(
            results_session,
            snapshot,
            unit,
            reason=" ",
            attachments=[appeals.Upload("run.exe", b"MZ")],
            actor="liaison",
        )
    problems = [str(problem) for problem in caught.value.problems]
    assert any("written reason is required" in problem for problem in problems)
    assert any("'run.exe': only" in problem for problem in problems)
    assert any(f"appeal {appeal.id} of this unit is still pending" in p for p in problems)
    with pytest.raises(ValidationError, match="written reason"):
        appeals.decide_appeal(results_session, appeal, upheld=False, reason="", actor="admin")
    appeals.decide_appeal(
        results_session, appeal, upheld=False, reason="事故认定书合法有效", actor="admin"
    )
    assert appeal.status == AppealStatus.REJECTED and appeal.resulting_snapshot_id is None
    with pytest.raises(ServiceError, match="already decided"):
        appeals.decide_appeal(results_session, appeal, upheld=True, reason="x", actor="admin")


def test_upheld_appeal_publishes_a_corrected_snapshot(results_session: Any) -> None:
    cycle, snapshot, unit = setup(results_session)
    assert grade_of(snapshot, "L05") == "third"
    appeal = appeals.file_appeal(
        results_session, snapshot, unit, reason="事故不属于本单位责任", actor="liaison"
    )
    with pytest.raises(ValidationError) as caught:
        appeals.decide_appeal(
            results_session,
            appeal,
            upheld=True,
            reason="复核属实",
            actor="admin",
            corrections=[
                appeals.Correction("annual", "L05", 120.0),
                appeals.Correction("nonexistent", "L05", 80.0),
            ],
        )
    assert len(caught.value.problems) == 2
    assert publication.latest_snapshot(results_session, cycle) is snapshot
    appeals.decide_appeal(
        results_session,
        appeal,
        upheld=True,
        reason="复核属实，撤销一票否决",
        actor="admin",
        corrections=[appeals.Correction("annual", "L05", 88.0)],
    )
    replacement = publication.latest_snapshot(results_session, cycle)
    assert replacement is not None and replacement.id == appeal.resulting_snapshot_id
    assert replacement.supersedes_id == snapshot.id and replacement.version == 2
    assert grade_of(replacement, "L05") != "third"
    assert publication.verify_snapshot(replacement).identical
    assert json.loads(replacement.content)["inputs"]["appeals"][0]["appeal"] == appeal.id
    # The old snapshot is untouched and still verifies.
    assert grade_of(snapshot, "L05") == "third"
    assert publication.verify_snapshot(snapshot).identical


def test_deadlines(results_session: Any) -> None:
    cycle, snapshot, unit = setup(results_session)
    late = snapshot.published_at.replace(tzinfo=UTC) + timedelta(days=10)
    with pytest.raises(ServiceError, match="publicity period ended"):
        appeals.file_appeal(
            results_session, snapshot, unit, reason="晚了", actor="liaison", now=late
        )
    appeal = appeals.file_appeal(results_session, snapshot, unit, reason="申诉", actor="liaison")
    with pytest.raises(ServiceError, match="not over yet"):
        appeals.finalize(results_session, cycle, actor="admin")
    with pytest.raises(ServiceError, match="still pending"):
        appeals.finalize(results_session, cycle, actor="admin", now=late)
    assert appeals.is_overdue(appeal, late)
    appeals.decide_appeal(results_session, appeal, upheld=False, reason="不成立", actor="admin")
    appeals.finalize(results_session, cycle, actor="admin", now=late)
    assert cycle.status == CycleStatus.FINAL
    with pytest.raises(ServiceError, match="appeals are closed"):
        appeals.file_appeal(results_session, snapshot, unit, reason="再次", actor="liaison")
