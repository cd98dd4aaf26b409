"""Auditor pages (纪检、人大观察员): read-only; verify the audit log and re-run draws."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from sampling.design.draw import verify_files
from sampling.errors import SamplingError, VerificationError
from survey.admin.common import actor, csv_attachment
from survey.auditor.actions import ACTION_NAMES, action_name
from survey.auth.access import require_roles
from survey.extensions import db
from survey.i18n import local_time
from survey.models import FrameStatus, Role, SampleDraw, SamplingFrame
from survey.models.base import as_utc, utc_now
from survey.results.export import table_workbook
from survey.services import audit_log as audit_log_service
from survey.services import checkpoints, verification
from survey.services import frames as frame_service
from survey.services.errors import sampling_text

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

#: The page's text of the tail check's own findings (``verification.TAIL_FINDING_TEXTS``).
TAIL_FINDING_TEXTS = {
    "verdict_forged": _l(
        "the stored verdict %(id)d does not carry a valid signature of a trusted key: "
        "verdict rows were written or changed in the database"
    ),
    "verified_head_missing": _l(
        "entry %(entry)d, the last one the full verification read, is missing: entries "
        "were deleted since"
    ),
    "verified_head_changed": _l(
        "entry %(entry)d no longer has the hash the full verification read: the log "
        "was rewritten since"
    ),
}


def _finding_text(finding: checkpoints.Finding) -> str:
    text = FINDING_TEXTS.get(finding.kind) or TAIL_FINDING_TEXTS[finding.kind]
    return str(text % finding.values)


@bp.get("/")
def overview() -> str:
    draws = db.session.scalars(sa.select(SampleDraw).order_by(SampleDraw.id.desc())).all()
    stored = verification.latest(db.session)
    if stored is None:
        # Never verified (a new installation, before the worker's first pass): once,
        # here; afterwards the worker's and the button's verdicts are shown.
        stored = verification.run_full(db.session, run_by=actor())[0]
        db.session.commit()
    tail = verification.check_since(db.session, stored)
    every = timedelta(minutes=float(current_app.config["AUDIT_VERIFY_MINUTES"]))
    return render_template(
        "auditor/overview.html",
        stored=stored,
        stored_findings=[_finding_text(f) for f in verification.findings_of(stored)],
        tail=tail,
        tail_findings=[_finding_text(f) for f in tail.findings],
        # Twice the worker's interval: a missed pass is normal, a stopped worker is not.
        stale=as_utc(stored.verified_at) < utc_now() - 2 * every,
        newest_time=tail.newest_checkpoint_time,
        verify_log_form=VerifyLogForm(),
        verify_files_form=VerifyFilesForm(),
        verify_draw_form=VerifyDrawForm(),
        public_key=checkpoints.current_signer().public_key,
        draws=draws,
    )


class VerifyLogForm(FlaskForm):
    """Verify the whole log now (the button 核验全部)."""


@bp.post("/verify-log")
def verify_log() -> Any:
    if not VerifyLogForm().validate_on_submit():
        abort(400)
    verification.run_full(db.session, run_by=actor())
    db.session.commit()
    return redirect(url_for("auditor.overview", _anchor="chain-status"))


class LogFilterForm(FlaskForm):
    """The audit log's filters (GET: a filtered page is a link one can keep)."""

    class Meta:
        csrf = False

    actor = StringField(_l("Actor"), validators=[Optional(), Length(max=80)])
    action = SelectField(_l("Action"), validators=[Optional()])
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=80)])
    object_id = StringField(_l("Object id"), validators=[Optional(), Length(max=80)])
    date_from = DateField(_l("From (date)"), validators=[Optional()])
    date_to = DateField(_l("To (date)"), validators=[Optional()])


def _filter_form() -> tuple[LogFilterForm, audit_log_service.LogFilter | None]:
    form = LogFilterForm(request.args)
    form.action.choices = [("", _("All actions"))] + [
        (code, f"{name}（{code}）") for code, name in sorted(ACTION_NAMES.items())
    ]
    if not form.validate():
        return form, None
    if form.date_from.data and form.date_to.data and form.date_from.data > form.date_to.data:
        form.date_to.errors = [_("The end date is before the start date.")]
        return form, None
    return form, audit_log_service.LogFilter(
        actor=(form.actor.data or "").strip(),
        action=form.action.data or "",
        object_type=(form.object_type.data or "").strip(),
        object_id=(form.object_id.data or "").strip(),
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        zone=str(current_app.config["TIMEZONE"]),
    )


def _filter_args() -> dict[str, str]:
    """The current filters as query arguments (for the page links and the exports)."""
    names = ("actor", "action", "object_type", "object_id", "date_from", "date_to")
    return {name: request.args[name] for name in names if request.args.get(name)}


@bp.get("/audit-log")
def audit_log() -> Any:
    form, log_filter = _filter_form()
    if log_filter is None:
        page = audit_log_service.LogPage([], None, None)
        status = 400
    else:
        page = audit_log_service.page(
            db.session,
            log_filter,
            size=PAGE_SIZE,
            before=request.args.get("before", type=int),
            after=request.args.get("after", type=int),
        )
        status = 200
    return render_template(
        "auditor/audit_log.html",
        form=form,
        page=page,
        filters=_filter_args(),
        action_name=action_name,
    ), status


#: An export holds at most this many entries; narrow the filters for more.
EXPORT_MAX_ROWS = 200_000


def _export_rows() -> list[list[object]] | Response:
    form, log_filter = _filter_form()
    if log_filter is None:
        return Response(
            _("The filters are not valid: %(problems)s", problems=_form_problems(form)),
            status=400,
            mimetype="text/plain",
        )
    if audit_log_service.count(db.session, log_filter, limit=EXPORT_MAX_ROWS) > EXPORT_MAX_ROWS:
        return Response(
            _(
                "More than %(n)d entries match: narrow the filters (e.g. the dates).",
                n=EXPORT_MAX_ROWS,
            ),
            status=400,
            mimetype="text/plain",
        )
    rows: list[list[object]] = [[str(title) for title in EXPORT_HEADER]]
    for entry in audit_log_service.matching(db.session, log_filter):
        rows.append(
            [
                entry.id,
                local_time(entry.occurred_at, seconds=True),
                audit_log_service.hashed_time(entry),
                entry.actor,
                action_name(entry.action),
                entry.action,
                entry.object_type,
                entry.object_id,
                entry.details,
                entry.previous_hash,
                entry.entry_hash,
                entry.chain_format,
            ]
        )
    return rows


def _form_problems(form: FlaskForm) -> str:
    return "; ".join(
        f"{form[name].label.text}: {' '.join(map(str, errors))}"
        for name, errors in form.errors.items()
    )


#: The export's columns: enough to re-verify every entry's hash offline
#: (docs/security.md gives the formula; the UTC time is the one hashed).
EXPORT_HEADER = (
    _l("Entry"),
    _l("Time"),
    _l("Time hashed (UTC)"),
    _l("Actor"),
    _l("Action"),
    _l("Action code"),
    _l("Object type"),
    _l("Object id"),
    _l("Details"),
    _l("Previous hash"),
    _l("Entry hash"),
    _l("Chain format"),
)
EXPORT_WIDTHS = (10, 28, 21, 18, 24, 24, 16, 14, 50, 66, 66, 8)


@bp.get("/audit-log.csv")
def audit_log_csv() -> Response:
    rows = _export_rows()
    if isinstance(rows, Response):
        return rows
    return csv_attachment(rows, "audit-log.csv")


@bp.get("/audit-log.xlsx")
def audit_log_xlsx() -> Response:
    rows = _export_rows()
    if isinstance(rows, Response):
        return rows
    return Response(
        table_workbook(rows, title=_("Audit log"), widths=EXPORT_WIDTHS),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="audit-log.xlsx"'},
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
    #: What ``python -m sampling verify`` says (``verified``, or why not), in the
    #: reader's language.
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
            return Verdict(False, sampling_text(error, _).replace(folder + "/", ""))
        except SamplingError as error:
            detail = sampling_text(error, _).replace(folder + "/", "")
            return Verdict(False, detail, unreadable=True)
        except UnicodeDecodeError as error:
            detail = _("not UTF-8 text (%(reason)s)", reason=error.reason)
            return Verdict(False, detail, unreadable=True)
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
