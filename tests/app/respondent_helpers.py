"""Set-up shared by the respondent tests: a fielding demo cycle with a drawn sample."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import (
    Cycle,
    CycleStatus,
    FieldworkCase,
    Poster,
    RaterGroup,
    SampleDraw,
    Unit,
)
from survey.privacy import vault
from survey.services import cycles, posters
from survey.services import frames as frame_service


@dataclass(frozen=True)
class Fieldwork:
    cycle_id: int
    tokens: list[str]
    poster_code: str
    poster_unit_id: int


def frame_csv(rows: int = 30) -> bytes:
    lines = ["id,phone,district"]
    for number in range(1, rows + 1):
        district = "东湖区" if number % 3 else "临江县"
        lines.append(f"T{number:04d},{13900000000 + number * 7919},{district}")
    return ("\n".join(lines) + "\n").encode()


def draw_citizens(
    session: orm.Session, cycle: Cycle, citizens: RaterGroup, *, label: str, total: int
) -> SampleDraw:
    """Import :func:`frame_csv` for the citizens, lock it and draw ``total`` proportionally."""
    frame = frame_service.import_frame(
        session,
        vault(),
        cycle,
        citizens,
        name=f"{label} frame",
        filename="frame.csv",
        data=frame_csv(),
        columns=frame_service.FrameColumns(
            id_column="id", phone_column="phone", strata_columns=("district",), size_column=None
        ),
        actor="test",
    )
    frame_service.lock_frame(session, frame, actor="test")
    plan = frame_service.plan_allocation(session, frame, method="proportional", total=total)
    return frame_service.draw_sample(
        session, frame, plan, seed=label, reserve_batches=0, actor="test"
    )


def released_tokens(session: orm.Session, draw_id: int) -> list[str]:
    """The invitation tokens of a draw's released cases, in case order."""
    return list(
        session.scalars(
            sa.select(FieldworkCase.token)
            .where(FieldworkCase.draw_id == draw_id, FieldworkCase.released.is_(True))
            .order_by(FieldworkCase.id)
        )
    )


def prepare_fieldwork(session: orm.Session, *, units_per_respondent: int | None = 2) -> Fieldwork:
    """Draw 10 citizens from a small frame, put the cycle in fieldwork, make a poster."""
    cycle = session.scalars(sa.select(Cycle).order_by(Cycle.id)).first()
    assert cycle is not None
    citizens = session.scalar(
        sa.select(RaterGroup).where(RaterGroup.cycle_id == cycle.id, RaterGroup.code == "citizens")
    )
    assert citizens is not None
    citizens.units_per_respondent = units_per_respondent
    sample_draw = draw_citizens(session, cycle, citizens, label="respondent-test", total=10)
    if cycle.status == CycleStatus.DRAFT:
        cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="test")
    unit = session.scalar(sa.select(Unit).where(Unit.cycle_id == cycle.id, Unit.code == "G04"))
    assert unit is not None
    poster = session.scalar(sa.select(Poster).where(Poster.unit_id == unit.id))
    if poster is None:
        poster = posters.create_poster(
            session, cycle, unit, service_point="政务服务中心一楼", actor="test"
        )
    session.commit()
    tokens = released_tokens(session, sample_draw.id)
    return Fieldwork(
        cycle_id=cycle.id, tokens=tokens, poster_code=poster.code, poster_unit_id=unit.id
    )
