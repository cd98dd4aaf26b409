"""``minyi results …`` and ``minyi components …``: the office's results on the command line.

``results`` publishes, verifies and exports result snapshots (结果公示与核验);
``components`` imports the other score components (其他考核分项) with the same
checks as the office's upload page (all-or-nothing, every problem listed).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from survey.extensions import db
from survey.models import Cycle, ResultSnapshot, ScoreComponent
from survey.services.tabular import ENCODINGS

results_group = AppGroup("results", help="Published results: publish, verify, export.")
components_group = AppGroup(
    "components", help="Other score components (其他考核分项): list and import."
)


def _snapshot(snapshot_id: int) -> ResultSnapshot:
    snapshot = db.session.get(ResultSnapshot, snapshot_id)
    if snapshot is None:
        raise click.ClickException(f"no result snapshot with id {snapshot_id}")
    return snapshot


@results_group.command("publish")
@click.argument("cycle_id", type=int)
@click.option("--actor", default="cli", show_default=True)
@click.option(
    "--accept-redistribution",
    "accept_reason",
    default=None,
    help="Record this decision for every unit with rater groups below the minimum.",
)
@click.option(
    "--smoothing",
    type=click.Choice(["none", "fay-herriot"]),
    default="none",
    show_default=True,
    help="Fay–Herriot smoothing of the social-recognition scores.",
)
@click.option(
    "--robust-threshold",
    type=click.FloatRange(0.5, 0.99),
    default=0.8,
    show_default=True,
    help="A grade whose probability is below this is flagged not robust.",
)
def results_publish(
    cycle_id: int,
    actor: str,
    accept_reason: str | None,
    smoothing: str,
    robust_threshold: float,
) -> None:
    """Compute and publish the results of a closed cycle (immutable snapshot)."""
    from survey.services import publication, scoring
    from survey.services.errors import ServiceError

    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise click.ClickException(f"no cycle with id {cycle_id}")
    rules = scoring.rules_for(
        cycle, smoothing=smoothing, robust_threshold=f"{robust_threshold:.2f}"
    )
    try:
        decisions: dict[str, str] = {}
        if accept_reason:
            run = scoring.trial(
                db.session,
                cycle,
                rules,
                accept_redistribution=accept_reason,
                with_probabilities=False,
            )
            decisions = run.inputs["decisions"]
        snapshot = publication.publish(
            db.session, cycle, actor=actor, rules=rules, decisions=decisions
        )
    except ServiceError as error:
        db.session.rollback()
        click.echo(f"error: {error.message}", err=True)
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"published snapshot {snapshot.id} (version {snapshot.version}) {snapshot.sha256}")


@results_group.command("verify")
@click.argument("snapshot_id", type=int, required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an exported copy of a snapshot instead of a stored one.",
)
def results_verify(snapshot_id: int | None, path: Path | None) -> None:
    """Re-compute a snapshot from its inputs and compare with its outputs.

    Exit 0 and "identical" when every output and the SHA-256 match; exit 1
    and the differences otherwise.
    """
    from survey.services import publication
    from survey.services.errors import ServiceError

    if (snapshot_id is None) == (path is None):
        raise click.UsageError("give either SNAPSHOT_ID or --file PATH")
    try:
        if path is not None:
            result = publication.verify_content(path.read_text(encoding="utf-8"))
            label = str(path)
        else:
            assert snapshot_id is not None
            result = publication.verify_snapshot(_snapshot(snapshot_id))
            label = f"snapshot {snapshot_id}"
    except ServiceError as error:
        click.echo(f"error: {error.message}", err=True)
        sys.exit(2)
    if result.identical:
        click.echo(f"{label}: identical (sha256 {result.sha256})")
        return
    click.echo(f"{label}: DIFFERENT (sha256 {result.sha256})")
    if result.sha256_matches is False:
        click.echo("  - the content does not hash to the stored SHA-256")
    for difference in result.differences:
        click.echo(f"  - {difference}")
    sys.exit(1)


@results_group.command("export")
@click.argument("snapshot_id", type=int)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def results_export(snapshot_id: int, out: Path) -> None:
    """Write a snapshot's canonical JSON to a file (atomically)."""
    snapshot = _snapshot(snapshot_id)
    folder = out.resolve().parent
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".snapshot-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(snapshot.content)
    os.replace(temporary, out)
    click.echo(f"snapshot {snapshot_id} written to {out} (sha256 {snapshot.sha256})")


def _cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise click.ClickException(f"no cycle with id {cycle_id}")
    return cycle


@components_group.command("list")
@click.argument("cycle_id", type=int)
def components_list(cycle_id: int) -> None:
    """List a cycle's components: code, name, how it is filled, newest imported version."""
    from survey.services import components as component_service

    cycle = _cycle(cycle_id)
    imported = component_service.current_imports(db.session, cycle)
    for component in sorted(cycle.components, key=lambda c: c.code):
        if component.is_social_recognition:
            source = "computed from the surveys"
        elif component.code in imported:
            version = imported[component.code]
            source = f"imported, version {version.version} (sha256 {version.file_sha256[:12]}…)"
        else:
            source = "not imported yet"
        click.echo(f"{component.code}\t{component.name}\t{source}")


@components_group.command("import")
@click.argument("cycle_id", type=int)
@click.argument("component_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", type=click.Choice(list(ENCODINGS)), default="auto", show_default=True)
@click.option("--actor", default="cli", show_default=True)
def components_import(
    cycle_id: int, component_code: str, file: Path, encoding: str, actor: str
) -> None:
    """Import FILE (CSV or XLSX, one row per unit) as a new version of a component.

    The file is checked whole: any problem (unknown or missing unit, duplicate
    row, a score that is not a number or outside 0–100, a bad flag) is listed
    with its row and column and nothing is stored (exit 2).
    """
    from survey.services import components as component_service
    from survey.services.errors import ServiceError

    cycle = _cycle(cycle_id)
    component = db.session.scalar(
        sa.select(ScoreComponent).where(
            ScoreComponent.cycle_id == cycle.id, ScoreComponent.code == component_code
        )
    )
    if component is None:
        codes = ", ".join(sorted(c.code for c in cycle.components)) or "none"
        raise click.ClickException(
            f"cycle {cycle_id} has no component {component_code!r} (its components: {codes})"
        )
    try:
        version = component_service.import_component(
            db.session,
            cycle,
            component,
            filename=file.name,
            data=file.read_bytes(),
            actor=actor,
            encoding=encoding,
        )
    except ServiceError as error:
        db.session.rollback()
        click.echo(f"error: {file}: {error.message}", err=True)
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    rows = len(version.values)
    db.session.commit()
    click.echo(
        f"{component.code} version {version.version} imported from {file}: "
        f"{rows} units (sha256 {version.file_sha256})"
    )


COMMANDS = (results_group, components_group)
