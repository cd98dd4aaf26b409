"""Auditor pages (纪检、人大观察员): read-only; verify the audit log and re-run draws."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response

from sampling.design.draw import verify_files
from sampling.errors import SamplingError, VerificationError
from survey.admin.common import csv_attachment
from survey.auth.access import require_roles
from survey.extensions import db
from survey.models import AuditLogEntry, FrameStatus, Role, SampleDraw, SamplingFrame
from survey.services import checkpoints
from survey.services import frames as frame_service

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
    newest = verdict.newest
    return render_template(
        "auditor/overview.html",
        newest_time=datetime.fromisoformat(newest.created_at) if newest else None,
        verify_files_form=VerifyFilesForm(),
        verify_draw_form=VerifyDrawForm(),
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


def _draw(draw_id: int) -> SampleDraw:
    sample_draw = db.session.get(SampleDraw, draw_id)
    if sample_draw is None:
        abort(404)
    return sample_draw


def _protocol_bytes(sample_draw: SampleDraw) -> bytes:
    return sample_draw.protocol_json.encode("utf-8")


@bp.get("/draws/<int:draw_id>/protocol.json")
def protocol(draw_id: int) -> Response:
    return Response(
        _protocol_bytes(_draw(draw_id)),
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=draw-{draw_id}-protocol.json"},
    )


@bp.get("/frames/<int:frame_id>/frame.csv")
def frame_csv(frame_id: int) -> Response:
    return _frame_response(frame_id)


def _frame_response(frame_id: int) -> Response:
    frame = db.session.get(SamplingFrame, frame_id)
    if frame is None or frame.status == FrameStatus.IMPORTED:
        abort(404)
    return csv_attachment(
        frame_service.verification_frame_rows(db.session, frame), f"frame-{frame_id}.csv"
    )


@bp.get("/draws/<int:draw_id>/sample.csv")
def sample_csv(draw_id: int) -> Response:
    return csv_attachment(
        frame_service.sample_rows(db.session, _draw(draw_id)), f"sample-{draw_id}.csv"
    )


class VerifyFilesForm(FlaskForm):
    protocol = FileField(_l("Protocol (protocol.json)"), validators=[FileRequired()])
    frame = FileField(_l("Frame (frame.csv)"), validators=[FileRequired()])
    sample = FileField(_l("Sample (sample.csv)"), validators=[FileRequired()])


class VerifyDrawForm(FlaskForm):
    """One click: the draw's own three files, exactly as they are offered for download."""


@dataclass(frozen=True)
class Verdict:
    verified: bool
    #: What ``python -m sampling verify`` says: ``verified``, or why not.
    detail: str
    #: The files could not be read as a protocol, frame and sample at all.
    unreadable: bool = False


def _verify(protocol: bytes, frame: bytes, sample: bytes) -> Verdict:
    """Run the same check as ``python -m sampling verify`` on the three files."""
    with tempfile.TemporaryDirectory(prefix="minyi-verify-") as folder:
        paths = [Path(folder) / name for name in ("protocol.json", "frame.csv", "sample.csv")]
        for path, content in zip(paths, (protocol, frame, sample), strict=True):
            path.write_bytes(content)
        try:
            verify_files(*(str(path) for path in paths))
        except VerificationError as error:
            return Verdict(False, str(error).replace(folder + "/", ""))
        except (SamplingError, UnicodeDecodeError) as error:
            return Verdict(False, str(error).replace(folder + "/", ""), unreadable=True)
    return Verdict(True, "verified")


@bp.post("/draws/<int:draw_id>/verify")
def verify_draw(draw_id: int) -> Any:
    sample_draw = _draw(draw_id)
    if not VerifyDrawForm().validate_on_submit():
        abort(400)
    verdict = _verify(
        _protocol_bytes(sample_draw),
        _frame_response(sample_draw.frame_id).get_data(),
        sample_csv(draw_id).get_data(),
    )
    return render_template(
        "auditor/verification.html", verdict=verdict, sample_draw=sample_draw, form=None
    )


@bp.post("/verify")
def verify_upload() -> Any:
    form = VerifyFilesForm()
    if not form.validate_on_submit():
        return render_template("auditor/verification.html", verdict=None, form=form), 400
    verdict = _verify(form.protocol.data.read(), form.frame.data.read(), form.sample.data.read())
    return render_template(
        "auditor/verification.html", verdict=verdict, sample_draw=None, form=VerifyFilesForm()
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
