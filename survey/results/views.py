"""Public results pages, JSON API and XLSX download (GET only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, abort, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from survey.extensions import db
from survey.models import Cycle, ResultSnapshot
from survey.results import api, bp
from survey.results.export import snapshot_workbook
from survey.services import appeals, publication

GRADE_LABELS = {
    "first": _l("First grade"),
    "second": _l("Second grade"),
    "third": _l("Third grade"),
    "excellent": _l("Excellent"),
    "competent": _l("Competent"),
    "basically_competent": _l("Basically competent"),
    "incompetent": _l("Incompetent"),
}

APPEAL_LABELS = {
    "pending": _l("Pending"),
    "upheld": _l("Upheld"),
    "rejected": _l("Rejected"),
}

REASON_LABELS = {
    "quota": _l("By quota"),
    "tie_at_boundary": _l("Tied at a grade boundary: shares the better grade"),
    "bottom_of_category": _l("Bottom of the category"),
    "democratic_bottom": _l("Bottom in the democratic evaluation"),
    "target_below_threshold": _l("Quantitative target below 60%"),
    "one_third_rule": _l("More than one third unfavourable votes"),
    "constraint_veto": _l("Constraint indicator failed (veto)"),
}


def _published(cycle_id: int) -> tuple[Cycle, ResultSnapshot, dict[str, Any]]:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    snapshot = publication.latest_snapshot(db.session, cycle)
    if snapshot is None:
        abort(404)
    return cycle, snapshot, publication.snapshot_data(snapshot)


def _history(cycle: Cycle) -> list[ResultSnapshot]:
    return list(
        db.session.scalars(
            sa.select(ResultSnapshot)
            .where(ResultSnapshot.cycle_id == cycle.id)
            .order_by(ResultSnapshot.version)
        )
    )


@bp.get("/")
def index() -> str:
    snapshots = db.session.scalars(
        sa.select(ResultSnapshot).order_by(ResultSnapshot.cycle_id, ResultSnapshot.version)
    ).all()
    latest: dict[int, ResultSnapshot] = {}
    for snapshot in snapshots:
        latest[snapshot.cycle_id] = snapshot
    cycles = {
        cycle.id: cycle
        for cycle in db.session.scalars(sa.select(Cycle).where(Cycle.id.in_(list(latest))))
    }
    entries = [(cycles[cycle_id], snapshot) for cycle_id, snapshot in latest.items()]
    return render_template("results/index.html", entries=entries)


@bp.get("/<int:cycle_id>/")
def cycle_results(cycle_id: int) -> Any:
    _cycle, _snapshot, data = _published(cycle_id)
    first = data["outputs"]["categories"][0]["code"]
    return redirect(url_for("results.category", cycle_id=cycle_id, category_code=first))


@bp.get("/<int:cycle_id>/<category_code>")
def category(cycle_id: int, category_code: str) -> str:
    cycle, snapshot, data = _published(cycle_id)
    categories = data["outputs"]["categories"]
    current = next((entry for entry in categories if entry["code"] == category_code), None)
    if current is None:
        abort(404)
    groups = {group["code"]: group["name"] for group in data["inputs"]["groups"]}
    codes = {entry["unit"] for entry in current["units"]}
    category_appeals = [
        appeal for appeal in appeals.cycle_appeals(db.session, cycle) if appeal.unit.code in codes
    ]
    return render_template(
        "results/category.html",
        cycle=cycle,
        snapshot=snapshot,
        history=_history(cycle),
        categories=categories,
        category=current,
        groups=groups,
        decisions=data["inputs"]["decisions"],
        grade_labels=GRADE_LABELS,
        reason_labels=REASON_LABELS,
        level=data["inputs"]["rules"]["level"],
        appeals=category_appeals,
        appeal_labels=APPEAL_LABELS,
    )


@bp.get("/<int:cycle_id>/results.xlsx")
def export_xlsx(cycle_id: int) -> Response:
    cycle, snapshot, data = _published(cycle_id)
    content = snapshot_workbook(
        data,
        sha256=snapshot.sha256,
        labels={code: str(label) for code, label in GRADE_LABELS.items()},
        translate=_,
    )
    filename = f"results-{cycle.year}-v{snapshot.version}.xlsx"
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api.get("/<int:cycle_id>")
def api_results(cycle_id: int) -> Any:
    cycle, snapshot, data = _published(cycle_id)
    return jsonify(
        {
            "cycle": {"id": cycle.id, "name": cycle.name, "year": cycle.year},
            "snapshot": {
                "id": snapshot.id,
                "version": snapshot.version,
                "sha256": snapshot.sha256,
                "supersedes": snapshot.supersedes_id,
                "published_at": snapshot.published_at.isoformat(),
                "reason": snapshot.reason,
            },
            "history": [
                {"id": entry.id, "version": entry.version, "sha256": entry.sha256}
                for entry in _history(cycle)
            ],
            "categories": data["outputs"]["categories"],
        }
    )


@api.get("/snapshots/<int:snapshot_id>.json")
def api_snapshot(snapshot_id: int) -> Response:
    """The canonical JSON exactly as hashed, for anyone to verify."""
    snapshot = db.session.get(ResultSnapshot, snapshot_id)
    if snapshot is None:
        abort(404)
    return Response(snapshot.content, mimetype="application/json")
