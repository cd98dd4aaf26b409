"""Frames, design preview, draws, reserve releases and the do-not-call list."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from survey.admin import imports
from survey.admin.common import ViewResult, actor, csv_attachment, get_cycle, report
from survey.extensions import db
from survey.fieldwork import bp
from survey.fieldwork.forms import (
    DesignForm,
    DoNotCallForm,
    DrawForm,
    FrameImportForm,
    LockForm,
    ReleaseForm,
)
from survey.models import (
    Cycle,
    DoNotCallEntry,
    DoNotCallSource,
    FrameStatus,
    SampleDraw,
    SamplingFrame,
)
from survey.privacy import vault
from survey.services import frames as frame_service
from survey.services.errors import ServiceError


def _frame(frame_id: int) -> SamplingFrame:
    frame = db.session.get(SamplingFrame, frame_id)
    if frame is None:
        abort(404)
    return frame


def _draw(draw_id: int) -> SampleDraw:
    sample_draw = db.session.get(SampleDraw, draw_id)
    if sample_draw is None:
        abort(404)
    return sample_draw


def _import_form(cycle: Cycle) -> FrameImportForm:
    form = FrameImportForm()
    form.rater_group_id.choices = [(g.id, g.name) for g in cycle.rater_groups]
    return form


@bp.get("/")
def index() -> str:
    cycles = db.session.scalars(sa.select(Cycle).order_by(Cycle.year.desc(), Cycle.id.desc())).all()
    return render_template("fieldwork/index.html", cycles=cycles)


def _sampling_page(cycle: Cycle, form: FrameImportForm | None = None) -> str:
    frames = db.session.scalars(
        sa.select(SamplingFrame)
        .where(SamplingFrame.cycle_id == cycle.id)
        .order_by(SamplingFrame.id)
    ).all()
    do_not_call = db.session.scalar(sa.select(sa.func.count()).select_from(DoNotCallEntry))
    return render_template(
        "fieldwork/sampling.html",
        cycle=cycle,
        frames=frames,
        form=form or _import_form(cycle),
        do_not_call=do_not_call,
        dnc_form=DoNotCallForm(),
    )


@bp.get("/cycles/<int:cycle_id>/sampling")
def sampling(cycle_id: int) -> str:
    return _sampling_page(get_cycle(cycle_id))


def _typed_columns(fields: Mapping[str, str]) -> frame_service.FrameColumns:
    return frame_service.FrameColumns(
        id_column=fields.get("id_column", "").strip(),
        phone_column=fields.get("phone_column", "").strip(),
        strata_columns=tuple(
            c.strip()
            for c in fields.get("strata_columns", "").replace("，", ",").split(",")
            if c.strip()
        ),
        size_column=fields.get("size_column", "").strip() or None,
    )


def _import(cycle: Cycle, filename: str, data: bytes, fields: Mapping[str, str]) -> SamplingFrame:
    group = next((g for g in cycle.rater_groups if str(g.id) == fields["rater_group_id"]), None)
    if group is None:
        abort(404)
    return frame_service.import_frame(
        db.session,
        vault(),
        cycle,
        group,
        name=fields["name"],
        filename=filename,
        data=data,
        columns=_typed_columns(fields),
        actor=actor(),
        encoding=fields["encoding"],
    )


def _roles(filename: str, data: bytes, fields: Mapping[str, str]) -> dict[str, str]:
    found = frame_service.frame_columns(filename, data, _typed_columns(fields), fields["encoding"])
    roles = {found.id_column: _("Id column"), found.phone_column: _("Phone column")}
    roles.update({column: _("Stratum column") for column in found.strata_columns})
    if found.size_column:
        roles[found.size_column] = _("Size column (PPS only)")
    return roles


@bp.post("/cycles/<int:cycle_id>/frames")
def frame_import(cycle_id: int) -> ViewResult:
    """Upload: check the file whole and show its preview; nothing is stored yet."""
    cycle = get_cycle(cycle_id)
    form = _import_form(cycle)
    if not form.validate_on_submit():
        return _sampling_page(cycle, form), 400
    filename, data = form.file.data.filename or "upload", form.file.data.read()
    fields = {
        "name": form.name.data or "",
        "rater_group_id": str(form.rater_group_id.data),
        "encoding": form.encoding.data or "auto",
        "id_column": form.id_column.data or "",
        "phone_column": form.phone_column.data or "",
        "strata_columns": form.strata_columns.data or "",
        "size_column": form.size_column.data or "",
    }
    return imports.preview_page(
        kind=f"frame:{cycle.id}",
        title=_("Import a frame") + " · " + fields["name"],
        filename=filename,
        data=data,
        encoding=fields["encoding"],
        fields=fields,
        mapped=lambda: _roles(filename, data, fields),
        dry_run=lambda: _import(cycle, filename, data, fields),
        confirm_url=url_for("fieldwork.frame_import_confirm", cycle_id=cycle.id),
        back_url=url_for("fieldwork.sampling", cycle_id=cycle.id),
    )


@bp.post("/cycles/<int:cycle_id>/frames/confirm")
def frame_import_confirm(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = imports.ConfirmImportForm()
    if not form.validate_on_submit():
        flash(_("The confirmation was not accepted; upload the file again."), "error")
        return redirect(url_for("fieldwork.sampling", cycle_id=cycle.id))
    try:
        upload = imports.pending(form.token.data or "", f"frame:{cycle.id}")
        frame = _import(cycle, upload.filename, upload.data, upload.fields)
    except ServiceError as error:
        report(error)
        return redirect(url_for("fieldwork.sampling", cycle_id=cycle.id))
    db.session.commit()
    imports.upload_store().delete(upload.token)
    flash(
        _(
            "Frame imported: %(rows)d contacts, %(excluded)d on the do-not-call list left out.",
            rows=frame.row_count,
            excluded=frame.excluded_do_not_call,
        ),
        "success",
    )
    return redirect(url_for("fieldwork.frame_detail", frame_id=frame.id))


def _preview_form(source: MultiDict[str, str]) -> DesignForm:
    # A GET from the design form: nothing changes, so no token is asked for.
    return DesignForm(formdata=source, meta={"csrf": False})


def _plan(form: DesignForm, frame: SamplingFrame) -> frame_service.AllocationPlan:
    return frame_service.plan_allocation(
        db.session,
        frame,
        method=form.method.data or "proportional",
        total=form.total.data,
        margin=float(form.margin.data) if form.margin.data else None,
        response_rate=float(form.response_rate.data or 1),
        minimum=form.minimum.data or 0,
    )


def _frame_page(
    frame: SamplingFrame,
    form: DesignForm | None = None,
    plan: frame_service.AllocationPlan | None = None,
    draw_form: DrawForm | None = None,
    *,
    lock_form: LockForm | None = None,
    release_form: ReleaseForm | None = None,
) -> str:
    sample_draw = frame.draws[0] if frame.draws else None
    if plan is not None and draw_form is None:
        # The draw form repeats the previewed design; the seed is typed in there.
        draw_form = DrawForm(formdata=None, data=form.data if form else None)
    return render_template(
        "fieldwork/frame.html",
        frame=frame,
        cycle=db.session.get(Cycle, frame.cycle_id),
        populations=frame_service.strata_populations(db.session, frame),
        form=form or DesignForm(),
        plan=plan,
        draw_form=draw_form,
        sample_draw=sample_draw,
        summary=frame_service.draw_summary(db.session, sample_draw) if sample_draw else [],
        release_form=release_form or ReleaseForm(),
        lock_form=lock_form or LockForm(),
    )


@bp.get("/frames/<int:frame_id>")
def frame_detail(frame_id: int) -> ViewResult:
    frame = _frame(frame_id)
    if "total" in request.args or "margin" in request.args:
        form = _preview_form(request.args)
        if not form.validate():
            return _frame_page(frame, form), 400
        try:
            plan = _plan(form, frame)
        except ServiceError as error:
            report(error)
            return _frame_page(frame, form), 400
        return _frame_page(frame, form, plan)
    return _frame_page(frame)


@bp.post("/frames/<int:frame_id>/lock")
def frame_lock(frame_id: int) -> ViewResult:
    frame = _frame(frame_id)
    form = LockForm()
    if not form.validate_on_submit():
        return _frame_page(frame, lock_form=form), 400
    try:
        frame_service.lock_frame(db.session, frame, actor=actor())
    except ServiceError as error:
        report(error)
        return redirect(url_for("fieldwork.frame_detail", frame_id=frame_id))
    db.session.commit()
    flash(_("Frame locked. Publish its SHA-256 before choosing the seed."), "success")
    return redirect(url_for("fieldwork.frame_detail", frame_id=frame.id))


@bp.post("/frames/<int:frame_id>/delete")
def frame_delete(frame_id: int) -> ViewResult:
    frame = _frame(frame_id)
    cycle_id = frame.cycle_id
    try:
        frame_service.delete_frame(db.session, frame, actor=actor())
    except ServiceError as error:
        report(error)
        return redirect(url_for("fieldwork.frame_detail", frame_id=frame_id))
    db.session.commit()
    flash(_("Frame deleted."), "success")
    return redirect(url_for("fieldwork.sampling", cycle_id=cycle_id))


@bp.post("/frames/<int:frame_id>/draw")
def frame_draw(frame_id: int) -> ViewResult:
    frame = _frame(frame_id)
    form = DrawForm()
    if not form.validate_on_submit():
        return _redraw(frame, form), 400
    try:
        plan = _plan(form, frame)
        frame_service.draw_sample(
            db.session,
            frame,
            plan,
            seed=form.seed.data or "",
            reserve_batches=form.reserve_batches.data or 0,
            actor=actor(),
            seed_source=frame_service.SeedSource(
                name=form.seed_source.data or "",
                event_date=form.seed_event_date.data,  # type: ignore[arg-type]
                zone=ZoneInfo(current_app.config["TIMEZONE"]),
            ),
        )
    except ServiceError as error:
        report(error, form)
        return _redraw(frame, form), 400
    db.session.commit()
    flash(_("Sample drawn."), "success")
    return redirect(url_for("fieldwork.frame_detail", frame_id=frame.id))


def _redraw(frame: SamplingFrame, form: DrawForm) -> str:
    """The frame page again with the refused draw form and, if it can, the preview."""
    try:
        plan = _plan(form, frame)
    except ServiceError:
        plan = None
    return _frame_page(frame, form, plan, draw_form=form)


@bp.post("/draws/<int:draw_id>/release")
def draw_release(draw_id: int) -> ViewResult:
    sample_draw = _draw(draw_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _frame_page(sample_draw.frame, release_form=form), 400
    try:
        batch = frame_service.release_reserve(
            db.session, sample_draw, form.stratum.data or "", actor=actor()
        )
    except ServiceError as error:
        report(error)
    else:
        db.session.commit()
        flash(
            _(
                "Reserve batch %(batch)d released for %(stratum)s.",
                batch=batch,
                stratum=form.stratum.data,
            ),
            "success",
        )
    return redirect(url_for("fieldwork.frame_detail", frame_id=sample_draw.frame_id))


@bp.get("/draws/<int:draw_id>/protocol.json")
def draw_protocol(draw_id: int) -> Response:
    sample_draw = _draw(draw_id)
    return Response(
        sample_draw.protocol_json,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=draw-{draw_id}-protocol.json"},
    )


@bp.get("/frames/<int:frame_id>/verification-frame.csv")
def frame_verification_csv(frame_id: int) -> Response:
    """The frame's canonical columns (no phone numbers), for ``python -m sampling verify``."""
    frame = _frame(frame_id)
    if frame.status == FrameStatus.IMPORTED:
        abort(409)
    return csv_attachment(
        frame_service.verification_frame_rows(db.session, frame), f"frame-{frame.id}.csv"
    )


@bp.get("/draws/<int:draw_id>/sample.csv")
def draw_sample_csv(draw_id: int) -> Response:
    """The drawn sample without contact data (replicate, then frame order)."""
    sample_draw = _draw(draw_id)
    return csv_attachment(
        frame_service.sample_rows(db.session, sample_draw), f"sample-{draw_id}.csv"
    )


@bp.post("/do-not-call")
def do_not_call_add() -> ViewResult:
    form = DoNotCallForm()
    target = request.form.get("back") or url_for("fieldwork.index")
    if not target.startswith("/"):
        target = url_for("fieldwork.index")
    if form.validate_on_submit():
        try:
            added = frame_service.add_do_not_call(
                db.session,
                vault(),
                (form.numbers.data or "").splitlines(),
                source=DoNotCallSource.MANUAL,
                actor=actor(),
            )
        except ServiceError as error:
            report(error)
        else:
            db.session.commit()
            flash(_("%(added)d number(s) added to the do-not-call list.", added=added), "success")
    return redirect(target)
