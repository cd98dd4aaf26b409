"""``minyi frame``, ``minyi sample`` and ``minyi dnc``: the pollster's path on the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TypeVar
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from survey.extensions import db
from survey.models import Cycle, DoNotCallSource, RaterGroup, SampleDraw, SamplingFrame
from survey.privacy import vault
from survey.services import frames as frame_service
from survey.services.errors import ServiceError
from survey.services.tabular import ENCODINGS

frame_group = AppGroup("frame", help="Sampling frames (抽样框).")
sample_group = AppGroup("sample", help="Verifiable draws and reserve batches.")
dnc_group = AppGroup("dnc", help="The do-not-call list (免打扰名单).")

T = TypeVar("T")


def _fail(error: ServiceError) -> NoReturn:
    db.session.rollback()
    click.echo(f"error: {error.message}", err=True)
    for problem in error.problems[:50]:
        click.echo(f"  {problem}", err=True)
    if len(error.problems) > 50:
        click.echo(f"  … and {len(error.problems) - 50} more", err=True)
    sys.exit(2)


def _get(model: type[T], ident: int, what: str) -> T:
    found = db.session.get(model, ident)
    if found is None:
        click.echo(f"error: no {what} with id {ident}", err=True)
        sys.exit(2)
    return found


@frame_group.command("import")
@click.argument("cycle_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_code", required=True, help="Rater group code, e.g. citizens.")
@click.option("--name", required=True, help="Frame name, unique within the cycle.")
@click.option("--id-column", default="", help="Id column (default: found from the headers).")
@click.option("--phone-column", default="", help="Phone column (default: from the headers).")
@click.option("--strata", default="", help="Stratum column(s), comma-separated (default: 区县 …).")
@click.option("--size-column", default=None, help="Size measure column (PPS).")
@click.option("--encoding", type=click.Choice(list(ENCODINGS)), default="auto", show_default=True)
def frame_import(
    cycle_id: int,
    file: Path,
    group_code: str,
    name: str,
    id_column: str,
    phone_column: str,
    strata: str,
    size_column: str | None,
    encoding: str,
) -> None:
    """Import FILE (CSV or XLSX) as a frame of cycle CYCLE_ID, all or nothing."""
    cycle = _get(Cycle, cycle_id, "cycle")
    group = db.session.scalar(
        sa.select(RaterGroup).where(RaterGroup.cycle_id == cycle.id, RaterGroup.code == group_code)
    )
    if group is None:
        codes = ", ".join(g.code for g in cycle.rater_groups)
        click.echo(f"error: no rater group {group_code!r}; the codes are: {codes}", err=True)
        sys.exit(2)
    columns = frame_service.FrameColumns(
        id_column=id_column,
        phone_column=phone_column,
        strata_columns=tuple(c.strip() for c in strata.split(",") if c.strip()),
        size_column=size_column,
    )
    with click.progressbar(length=0, label="importing", show_pos=True) as bar:

        def progress(rows: int) -> None:
            bar.length = max(rows, bar.length or 0)
            bar.update(rows - bar.pos)

        try:
            frame = frame_service.import_frame(
                db.session,
                vault(),
                cycle,
                group,
                name=name,
                filename=file.name,
                data=file.read_bytes(),
                columns=columns,
                actor="cli",
                encoding=encoding,
                progress=progress,
            )
        except ServiceError as error:
            _fail(error)
    db.session.commit()
    click.echo(
        f"frame {frame.id} imported: {frame.row_count} contacts, "
        f"{frame.excluded_do_not_call} on the do-not-call list left out."
    )


@frame_group.command("lock")
@click.argument("frame_id", type=int)
def frame_lock(frame_id: int) -> None:
    """Lock a frame and print its SHA-256 (publish it before choosing the seed)."""
    frame = _get(SamplingFrame, frame_id, "frame")
    try:
        frame_service.lock_frame(db.session, frame, actor="cli")
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"frame {frame.id} locked; SHA-256 {frame.sha256}")


@sample_group.command("draw")
@click.argument("frame_id", type=int)
@click.option("--n", "total", type=int, default=None, help="Total sample size.")
@click.option("--margin", type=float, default=None, help="…or target margin per stratum.")
@click.option("--method", type=click.Choice(["proportional", "equal"]), default="proportional")
@click.option("--response-rate", type=float, default=1.0, show_default=True)
@click.option("--minimum", type=int, default=0, show_default=True)
@click.option("--reserve", type=int, default=0, show_default=True, help="Reserve batches.")
@click.option("--seed", required=True, help="The public numbers exactly as announced.")
@click.option(
    "--seed-source", required=True, help="Who announced them, e.g. a lottery and its draw number."
)
@click.option(
    "--seed-date",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day the source announced them (YYYY-MM-DD, local time).",
)
def sample_draw(
    frame_id: int,
    total: int | None,
    margin: float | None,
    method: str,
    response_rate: float,
    minimum: int,
    reserve: int,
    seed: str,
    seed_source: str,
    seed_date: datetime,
) -> None:
    """Draw the sample from a locked frame and create the fieldwork cases.

    The seed must come from a public source announced after the frame was
    locked; its source and date go into the protocol.
    """
    frame = _get(SamplingFrame, frame_id, "frame")
    try:
        plan = frame_service.plan_allocation(
            db.session,
            frame,
            method=method,
            total=total,
            margin=margin,
            response_rate=response_rate,
            minimum=minimum,
        )
        for stratum, population, size, completes in plan.rows:
            click.echo(
                f"  {stratum:<30} N={population:>8}  n={size:>6}  "
                f"expected completes={completes:,.0f}"
            )
        sample = frame_service.draw_sample(
            db.session,
            frame,
            plan,
            seed=seed,
            reserve_batches=reserve,
            actor="cli",
            seed_source=frame_service.SeedSource(
                name=seed_source,
                event_date=seed_date.date(),
                zone=ZoneInfo(current_app.config["TIMEZONE"]),
            ),
        )
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(
        f"draw {sample.id}: n={sample.sample_size} (+{reserve} reserve batches); "
        f"sample SHA-256 {sample.sample_sha256}"
    )


@sample_group.command("release")
@click.argument("draw_id", type=int)
@click.argument("stratum")
def sample_release(draw_id: int, stratum: str) -> None:
    """Release the next reserve batch of STRATUM."""
    sample = _get(SampleDraw, draw_id, "draw")
    try:
        batch = frame_service.release_reserve(db.session, sample, stratum, actor="cli")
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"reserve batch {batch} of {stratum!r} released.")


@sample_group.command("protocol")
@click.argument("draw_id", type=int)
def sample_protocol(draw_id: int) -> None:
    """Print a draw's protocol (JSON)."""
    click.echo(_get(SampleDraw, draw_id, "draw").protocol_json)


@dnc_group.command("add")
@click.argument("numbers", nargs=-1, required=True)
def dnc_add(numbers: tuple[str, ...]) -> None:
    """Add NUMBERS to the do-not-call list."""
    try:
        added = frame_service.add_do_not_call(
            db.session, vault(), numbers, source=DoNotCallSource.MANUAL, actor="cli"
        )
    except ServiceError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"{added} number(s) added.")


COMMANDS = (frame_group, sample_group, dnc_group)
