"""Auditor pages (纪检、人大观察员): read-only; verify the audit log and re-run draws."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from survey.auth.access import require_roles
from survey.extensions import db
from survey.models import AuditLogEntry, FrameStatus, Role, SampleDraw, SamplingFrame
from survey.services import checkpoints
from survey.services import frames as frame_service
from survey.services.tabular import csv_text

bp = Blueprint("auditor", __name__, url_prefix="/auditor")
PAGE_SIZE = 50


@bp.before_request
def restrict_to_auditors() -> Any:
    return require_roles(Role.AUDITOR, Role.ADMIN)


#: The page's text of each finding of ``checkpoints.verify_log`` (same msgids as
#: ``checkpoints.FINDING_TEXTS``, which the CLI prints).
FINDING_TEXTS = {
    "entries_broken": _l("the chain is broken at entries %(ids)s"),
    "entry_missing": _l(
        "checkpoint %(seq)d names entry %(entry)d, which is missing (the log ends at "
        "entry %(head)s): entries were deleted"
    ),
    "entry_changed": _l(
        "entry %(entry)d does not have the hash signed in checkpoint %(seq)d: the log "
        "was rewritten up to it"
    ),
    "count_changed": _l(
        "checkpoint %(seq)d counted %(signed)d entries up to entry %(entry)d, the log "
        "now has %(now)d: entries were deleted or added"
    ),
    "checkpoint_forged": _l("checkpoint %(seq)d does not carry a valid signature of a trusted key"),
    "checkpoint_unlinked": _l(
        "checkpoint %(seq)d does not follow checkpoint %(before)s: checkpoint rows were "
        "changed, inserted or deleted"
    ),
    "checkpoint_missing": _l(
        "checkpoint %(seq)d (in %(source)s) is missing from the database: checkpoint "
        "rows were deleted"
    ),
    "checkpoint_differs": _l(
        "checkpoint %(seq)d in the database differs from the one in %(source)s"
    ),
    "anchor_unreadable": _l("%(source)s: %(problem)s"),
}


@bp.get("/")
def overview() -> str:
    draws = db.session.scalars(sa.select(SampleDraw).order_by(SampleDraw.id.desc())).all()
    verdict = checkpoints.verify_log(db.session)
    return render_template(
        "auditor/overview.html",
        verdict=verdict,
        findings=[str(FINDING_TEXTS[f.kind] % f.values) for f in verdict.findings],
        public_key=checkpoints.current_signer().public_key,
        draws=draws,
    )


@bp.get("/audit-log")
def audit_log() -> str:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    entries = db.session.scalars(
        sa.select(AuditLogEntry)
        .order_by(AuditLogEntry.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    return render_template(
        "auditor/audit_log.html",
        entries=entries[:PAGE_SIZE],
        page=page,
        has_next=len(entries) > PAGE_SIZE,
    )


def _csv(rows: list[list[object]], filename: str) -> Response:
    return Response(
        csv_text(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


def _draw(draw_id: int) -> SampleDraw:
    sample_draw = db.session.get(SampleDraw, draw_id)
    if sample_draw is None:
        abort(404)
    return sample_draw


@bp.get("/draws/<int:draw_id>/protocol.json")
def protocol(draw_id: int) -> Response:
    return Response(
        _draw(draw_id).protocol_json,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=draw-{draw_id}-protocol.json"},
    )


@bp.get("/frames/<int:frame_id>/frame.csv")
def frame_csv(frame_id: int) -> Response:
    frame = db.session.get(SamplingFrame, frame_id)
    if frame is None or frame.status == FrameStatus.IMPORTED:
        abort(404)
    return _csv(frame_service.verification_frame_rows(db.session, frame), f"frame-{frame_id}.csv")


@bp.get("/draws/<int:draw_id>/sample.csv")
def sample_csv(draw_id: int) -> Response:
    return _csv(frame_service.sample_rows(db.session, _draw(draw_id)), f"sample-{draw_id}.csv")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
