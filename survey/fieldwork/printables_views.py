"""Posters and invitations to print (印刷品): QR codes, A4 posters, invitation cards, CSV.

Links in QR codes point at ``PUBLIC_BASE_URL`` when it is set (the address
citizens reach from outside), else at the address of this request.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.extensions import db
from survey.fieldwork import bp
from survey.models import (
    Cycle,
    FieldworkCase,
    FrameContact,
    Poster,
    SampleDraw,
    SamplingFrame,
    Unit,
)
from survey.services import posters as poster_service
from survey.services import printables
from survey.services.errors import ServiceError


class PosterForm(FlaskForm):
    unit_id = SelectField(_l("Unit"), coerce=int)
    service_point = StringField(
        _l("Service point (optional)"),
        validators=[Length(max=200)],
        description=_l("Where the poster hangs, e.g. the service hall's second floor."),
    )


class ToggleForm(FlaskForm):
    """CSRF only."""


def _public_url(endpoint: str, **values: Any) -> str:
    base = str(current_app.config.get("PUBLIC_BASE_URL") or request.url_root).rstrip("/")
    return base + url_for(endpoint, **values)


def _poster_form(cycle: Cycle) -> PosterForm:
    form = PosterForm()
    form.unit_id.choices = [
        SelectChoice(unit.id, f"{unit.code} {unit.name}")  # type: ignore[arg-type]
        for unit in cycle.units
    ]
    return form


def _poster(poster_id: int) -> Poster:
    poster = db.session.get(Poster, poster_id)
    if poster is None:
        abort(404)
    return poster


def _draws(cycle: Cycle) -> list[SampleDraw]:
    return list(
        db.session.scalars(
            sa.select(SampleDraw)
            .join(SamplingFrame, SampleDraw.frame_id == SamplingFrame.id)
            .where(SamplingFrame.cycle_id == cycle.id)
            .order_by(SampleDraw.id)
        )
    )


def _page(cycle: Cycle, form: PosterForm | None = None) -> str:
    posters = db.session.scalars(
        sa.select(Poster).where(Poster.cycle_id == cycle.id).order_by(Poster.id)
    ).all()
    return render_template(
        "fieldwork/printables.html",
        cycle=cycle,
        posters=posters,
        poster_urls={p.id: _public_url("respondent.poster", code=p.code) for p in posters},
        draws=_draws(cycle),
        form=form or _poster_form(cycle),
        toggle_form=ToggleForm(),
    )


@bp.get("/cycles/<int:cycle_id>/printables")
def printables_page(cycle_id: int) -> str:
    return _page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/posters")
def poster_create(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = _poster_form(cycle)
    if not form.validate_on_submit():
        return _page(cycle, form), 400
    unit = db.session.get(Unit, form.unit_id.data)
    assert unit is not None  # the select only offers this cycle's units
    try:
        poster_service.create_poster(
            db.session, cycle, unit, service_point=form.service_point.data or "", actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _page(cycle, form), 400
    db.session.commit()
    flash(_("Poster created."), "success")
    return redirect(url_for("fieldwork.printables_page", cycle_id=cycle.id))


@bp.post("/posters/<int:poster_id>/active")
def poster_toggle(poster_id: int) -> ViewResult:
    poster = _poster(poster_id)
    if not ToggleForm().validate_on_submit():
        abort(400)
    poster_service.set_active(db.session, poster, not poster.active, actor=actor())
    db.session.commit()
    flash(_("Poster switched on.") if poster.active else _("Poster switched off."), "success")
    return redirect(url_for("fieldwork.printables_page", cycle_id=poster.cycle_id))


@bp.get("/posters/<int:poster_id>/qr.<kind>")
def poster_qr(poster_id: int, kind: str) -> Response:
    poster = _poster(poster_id)
    url = _public_url("respondent.poster", code=poster.code)
    if kind == "svg":
        return Response(printables.qr_svg(url), mimetype="image/svg+xml")
    if kind == "png":
        return Response(printables.qr_png(url), mimetype="image/png")
    abort(404)


def _poster_content(poster: Poster) -> printables.PosterContent:
    return printables.PosterContent(
        url=_public_url("respondent.poster", code=poster.code),
        unit_name=poster.unit.name,
        service_point=poster.service_point,
        cycle_name=poster.cycle.name,
    )


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/posters/<int:poster_id>/poster.pdf")
def poster_pdf(poster_id: int) -> Response:
    poster = _poster(poster_id)
    return _pdf(printables.posters_pdf([_poster_content(poster)]), f"poster-{poster.id}.pdf")


@bp.get("/cycles/<int:cycle_id>/posters.pdf")
def posters_pdf(cycle_id: int) -> Response:
    cycle = get_cycle(cycle_id)
    posters = db.session.scalars(
        sa.select(Poster)
        .where(Poster.cycle_id == cycle.id, Poster.active.is_(True))
        .order_by(Poster.id)
    ).all()
    if not posters:
        abort(404)
    return _pdf(
        printables.posters_pdf([_poster_content(p) for p in posters]), f"posters-{cycle.id}.pdf"
    )


def _invitations(draw_id: int) -> tuple[SampleDraw, list[printables.InvitationContent]]:
    sample_draw = db.session.get(SampleDraw, draw_id)
    if sample_draw is None:
        abort(404)
    cycle = db.session.get(Cycle, sample_draw.frame.cycle_id)
    assert cycle is not None
    rows = db.session.execute(
        sa.select(FieldworkCase.token, FrameContact.external_id)
        .outerjoin(FrameContact, FieldworkCase.contact_id == FrameContact.id)
        .where(
            FieldworkCase.draw_id == sample_draw.id,
            FieldworkCase.released.is_(True),
            FieldworkCase.completed_at.is_(None),
        )
        .order_by(FieldworkCase.id)
    ).all()
    return sample_draw, [
        printables.InvitationContent(
            url=_public_url("respondent.invitation", token=token),
            external_id=external_id or "",
            cycle_name=cycle.name,
            valid_until="",
        )
        for token, external_id in rows
    ]


@bp.get("/draws/<int:draw_id>/invitations.csv")
def invitations_csv(draw_id: int) -> Response:
    sample_draw, invitations = _invitations(draw_id)
    return Response(
        printables.invitations_csv(invitations),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="invitations-{sample_draw.id}.csv"'},
    )


@bp.get("/draws/<int:draw_id>/invitations.pdf")
def invitations_pdf(draw_id: int) -> Response:
    sample_draw, invitations = _invitations(draw_id)
    if not invitations:
        abort(404)
    return _pdf(printables.invitation_cards_pdf(invitations), f"invitations-{sample_draw.id}.pdf")


@bp.get("/draws/<int:draw_id>/invitations.html")
def invitation_cards(draw_id: int) -> str:
    """The invitation cards as a printable web page (the browser prints them to paper)."""
    sample_draw, invitations = _invitations(draw_id)
    case_ids = db.session.scalars(
        sa.select(FieldworkCase.id)
        .where(
            FieldworkCase.draw_id == sample_draw.id,
            FieldworkCase.released.is_(True),
            FieldworkCase.completed_at.is_(None),
        )
        .order_by(FieldworkCase.id)
    ).all()
    return render_template(
        "fieldwork/printables_cards.html",
        sample_draw=sample_draw,
        cards=list(zip(case_ids, invitations, strict=True)),
    )


@bp.get("/cases/<int:case_id>/qr.png")
def case_qr(case_id: int) -> Response:
    case = db.session.get(FieldworkCase, case_id)
    if case is None or not case.released:
        abort(404)
    url = _public_url("respondent.invitation", token=case.token)
    return Response(printables.qr_png(url, box_size=6), mimetype="image/png")
