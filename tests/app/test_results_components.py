"""Importing score components: versioned, all-or-nothing, every problem listed."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from survey.models import ComponentImport, ComponentValue, Cycle, CycleStatus, ScoreComponent
from survey.services import components
from survey.services.errors import NotEditableError, ValidationError


def demo_cycle(session: Any) -> Cycle:
    cycle = session.scalars(sa.select(Cycle)).one()
    assert isinstance(cycle, Cycle)
    return cycle


def component(cycle: Cycle, code: str) -> ScoreComponent:
    return next(entry for entry in cycle.components if entry.code == code)


def csv_for(
    cycle: Cycle, *, extra: str = "", skip: str = "", header: str = "单位编码,得分"
) -> bytes:
    lines = [header]
    for index, unit in enumerate(sorted(cycle.units, key=lambda unit: unit.code)):
        if unit.code != skip:
            lines.append(f"{unit.code},{60 + index * 0.5}")
    return ("\n".join(lines) + "\n" + extra).encode()


def test_import_creates_versions(demo_session: Any) -> None:
    cycle = demo_cycle(demo_session)
    routine = component(cycle, "routine")
    first = components.import_component(
        demo_session, cycle, routine, filename="routine.csv", data=csv_for(cycle), actor="admin"
    )
    assert first.version == 1 and len(first.values) == 44
    second = components.import_component(
        demo_session,
        cycle,
        routine,
        filename="routine-v2.csv",
        data=csv_for(cycle).replace(b"C01,60.0", b"C01,99.5"),
        actor="admin",
    )
    assert second.version == 2
    current = components.current_values(demo_session, cycle)
    c01 = next(unit for unit in cycle.units if unit.code == "C01")
    assert current["routine"][c01.id].score == 99.5
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ComponentImport)) == 2


def test_xlsx_with_veto_and_target_completion(demo_session: Any) -> None:
    cycle = demo_cycle(demo_session)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["unit", "score", "一票否决", "量化指标完成率"])
    for unit in cycle.units:
        sheet.append([unit.code, 80, "是" if unit.code == "L05" else "", "55%"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    version = components.import_component(
        demo_session,
        cycle,
        component(cycle, "annual"),
        filename="annual.xlsx",
        data=buffer.getvalue(),
        actor="admin",
    )
    vetoed = [value for value in version.values if value.vetoed]
    assert len(vetoed) == 1
    assert all(value.lowest_target_completion == pytest.approx(0.55) for value in version.values)


def test_bad_file_lists_every_problem_and_changes_nothing(demo_session: Any) -> None:
    cycle = demo_cycle(demo_session)
    data = csv_for(cycle, skip="R04", extra="X99,70\nC01,70\nC02,abc\n").replace(
        b"P01,", b"P01,1"
    )  # P01's score becomes 1xx: out of range
    with pytest.raises(ValidationError) as caught:
        components.import_component(
            demo_session,
            cycle,
            component(cycle, "routine"),
            filename="bad.csv",
            data=data,
            actor="admin",
        )
    problems = [str(problem) for problem in caught.value.problems]
    # The command line's English, naming the column as the file's header writes it.
    assert "row 45, column 单位编码: unknown unit 'X99'" in problems
    assert "row 46, column 单位编码: unit C01 appears again (first on row 2)" in problems
    assert "row 47, column 得分: 'abc' is not a number" in problems
    assert any("column 得分" in problem and "outside 0–100" in problem for problem in problems)
    assert "unit R04 (市政协提案委员会) is missing from the file" in problems
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ComponentValue)) == 0


def test_missing_score_column_is_named(demo_session: Any) -> None:
    cycle = demo_cycle(demo_session)
    with pytest.raises(ValidationError, match="the header does not fit") as refused:
        components.import_component(
            demo_session,
            cycle,
            component(cycle, "routine"),
            filename="x.csv",
            data=b"unit,points\nC01,5\n",
            actor="admin",
        )
    (problem,) = refused.value.problems
    assert problem.row == 1 and problem.parameters["field"] == "得分"
    assert problem.parameters["columns"] == "unit、points"


def test_refusals(demo_session: Any) -> None:
    cycle = demo_cycle(demo_session)
    with pytest.raises(NotEditableError, match="computed from the surveys"):
        components.import_component(
            demo_session,
            cycle,
            component(cycle, "social_recognition"),
            filename="s.csv",
            data=csv_for(cycle),
            actor="admin",
        )
    cycle.status = CycleStatus.PUBLISHED
    with pytest.raises(NotEditableError, match="published"):
        components.import_component(
            demo_session,
            cycle,
            component(cycle, "routine"),
            filename="r.csv",
            data=csv_for(cycle),
            actor="admin",
        )


def test_cli_imports_a_component_and_refuses_a_bad_file(demo_app: Any, tmp_path: Any) -> None:
    """``minyi components import``: the page's rules on the command line, all-or-nothing."""
    from survey.extensions import db

    runner = demo_app.test_cli_runner()
    with demo_app.app_context():
        cycle = demo_cycle(db.session)
        cycle_id, good, units = cycle.id, csv_for(cycle), len(cycle.units)
        bad = csv_for(cycle, skip="C01", extra="Z99,50\nC02,101\n")
    listed = runner.invoke(args=["components", "list", str(cycle_id)])
    assert listed.exit_code == 0, listed.output
    assert "routine" in listed.output and "not imported yet" in listed.output

    bad_file = tmp_path / "routine-bad.csv"
    bad_file.write_bytes(bad)
    refused = runner.invoke(args=["components", "import", str(cycle_id), "routine", str(bad_file)])
    assert refused.exit_code == 2, refused.output
    assert "routine-bad.csv" in refused.output
    assert "unknown unit 'Z99'" in refused.output and "C01" in refused.output
    assert "appears again" in refused.output and "101" in refused.output
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ComponentImport)) == 0

    unknown = runner.invoke(args=["components", "import", str(cycle_id), "nope", str(bad_file)])
    assert unknown.exit_code != 0 and "no component 'nope'" in unknown.output
    assert "routine" in unknown.output  # the codes it does have are listed

    good_file = tmp_path / "routine.csv"
    good_file.write_bytes(good)
    done = runner.invoke(
        args=["components", "import", str(cycle_id), "routine", str(good_file), "--actor", "ops"]
    )
    assert done.exit_code == 0, done.output
    assert f"routine version 1 imported from {good_file}: {units} units" in done.output
    with demo_app.app_context():
        stored = db.session.scalars(sa.select(ComponentImport)).one()
        assert (stored.version, stored.imported_by, len(stored.values)) == (1, "ops", units)
    assert "imported, version 1" in runner.invoke(args=["components", "list", str(cycle_id)]).output
