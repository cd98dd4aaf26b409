"""After fieldwork closes, no query path joins a response to a phone number.

The paths are found from the schema itself (every chain of foreign keys from
``response`` to ``frame_contact``), so tables added later are covered too.  A
path that climbs to a shared parent and comes down again (response → cycle →
frame → contact) relates every response to every contact and identifies nobody;
the paths that can identify a person never do that.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.models import Base, Channel, Cycle, CycleStatus, FieldworkCase, Response
from tests.app.helpers import login

# (from table, column, to table, column, goes up to a referenced parent)
Edge = tuple[sa.Table, sa.Column, sa.Table, sa.Column, bool]


def _edges() -> list[Edge]:
    edges: list[Edge] = []
    for table in Base.metadata.tables.values():
        for fk in table.foreign_keys:
            parent = fk.parent
            target = fk.column
            edges.append((table, parent, target.table, target, True))
            edges.append((target.table, target, table, parent, False))
    return edges


def _paths(start: str, goal: str, limit: int = 4) -> Iterator[list[Edge]]:
    tables = Base.metadata.tables
    edges = _edges()

    def walk(table: sa.Table, path: list[Edge], seen: set[str]) -> Iterator[list[Edge]]:
        if table.name == goal:
            yield path
            return
        if len(path) == limit:
            return
        went_up = any(step[4] for step in path)
        for edge in edges:
            if went_up and not edge[4]:
                continue  # up, then down: through a shared parent, identifies nobody
            if edge[0] is table and edge[2].name not in seen:
                yield from walk(edge[2], [*path, edge], seen | {edge[2].name})

    yield from walk(tables[start], [], {start})


def _linked_rows(path: list[Edge]) -> int:
    query = sa.select(sa.func.count()).select_from(path[0][0])
    aliases: dict[int, sa.FromClause] = {0: path[0][0]}
    current: sa.FromClause = path[0][0]
    joined = current
    for index, (_from_table, from_column, to_table, to_column, _up) in enumerate(path, start=1):
        alias = to_table.alias(f"t{index}")
        joined = joined.join(alias, current.c[from_column.name] == alias.c[to_column.name])
        aliases[index] = alias
        current = alias
    return int(db.session.scalar(query.select_from(joined)) or 0)


def test_closing_fieldwork_cuts_every_path_from_responses_to_phones(demo_app: Flask) -> None:
    from survey.privacy import vault
    from survey.services import cycles, frames
    from tests.app.test_frames import frame_csv

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        citizens = next(g for g in cycle.rater_groups if g.code == "citizens")
        frame = frames.import_frame(
            db.session,
            vault(),
            cycle,
            citizens,
            name="f",
            filename="f.csv",
            data=frame_csv(),
            columns=frames.FrameColumns("id", "phone", ("district",)),
            actor="t",
        )
        frames.lock_frame(db.session, frame, actor="t")
        plan = frames.plan_allocation(db.session, frame, method="proportional", total=20)
        frames.draw_sample(db.session, frame, plan, seed="s", reserve_batches=0, actor="t")
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="t")
        cases = db.session.scalars(sa.select(FieldworkCase).limit(5)).all()
        for case in cases:
            response = Response(
                cycle_id=cycle.id,
                channel=Channel.INVITATION,
                rater_group_id=citizens.id,
                stratum=case.stratum,
                design_weight=case.design_weight,
            )
            db.session.add(response)
            db.session.flush()
            case.response_id = response.id
        db.session.commit()
        paths = list(_paths("response", "frame_contact"))
        assert paths, "expected the schema to link responses to contacts during fieldwork"
        assert sum(_linked_rows(path) for path in paths) >= 5  # the test can fail

    client = demo_app.test_client()
    login(client, "admin")
    assert (
        client.post(
            "/admin/cycles/1/status", data={"target": "closed", "confirmed": "y"}
        ).status_code
        == 302
    )
    with demo_app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.CLOSED  # type: ignore[union-attr]
        for path in _paths("response", "frame_contact"):
            names = " → ".join([path[0][0].name, *(edge[2].name for edge in path)])
            assert _linked_rows(path) == 0, f"responses still reach phone numbers via {names}"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 5
