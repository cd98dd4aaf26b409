"""``minyi results …``: publish, verify and export result snapshots (结果公示与核验)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
from flask.cli import AppGroup

from survey.extensions import db
from survey.models import Cycle, ResultSnapshot

results_group = AppGroup("results", help="Published results: publish, verify, export.")


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
def results_publish(cycle_id: int, actor: str, accept_reason: str | None) -> None:
    """Compute and publish the results of a closed cycle (immutable snapshot)."""
    from survey.services import publication, scoring
    from survey.services.errors import ServiceError

    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        raise click.ClickException(f"no cycle with id {cycle_id}")
    try:
        decisions: dict[str, str] = {}
        if accept_reason:
            run = scoring.trial(
                db.session, cycle, scoring.rules_for(cycle), accept_redistribution=accept_reason
            )
            decisions = run.inputs["decisions"]
        snapshot = publication.publish(db.session, cycle, actor=actor, decisions=decisions)
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


COMMANDS = (results_group,)
