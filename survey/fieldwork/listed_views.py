"""Listed raters (名单评价): roster import, letters with personal tokens, completion,
reminders, and on-site paper ballots entered twice."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from survey.admin import imports
from survey.admin.common import ViewResult, actor, get_cycle, report
from survey.admin.forms import ImportForm
from survey.auth.access import current_user
from survey.extensions import db
from survey.fieldwork import bp
from survey.fieldwork.printables_views import _public_url
from survey.integrations.telephony import telephony
from survey.models import Cycle, PaperBallot, PaperStatus, RaterGroup
from survey.privacy import vault
from survey.services import listed as listed_service
from survey.services import printables
from survey.services.errors import ServiceError
from survey.services.tabular import csv_text, mapped_labels


class CsrfForm(FlaskForm):
    """CSRF only."""


def _user_id() -> int:
    user = current_user()
    if user is None:
        abort(403)
    return int(user.id)


def _page(cycle: Cycle, *, import_form: ImportForm | None = None, status: int = 200) -> ViewResult:
    raters = listed_service.roster(db.session, cycle)
    groups = {group.id: group for group in cycle.rater_groups}
    page = render_template(
        "fieldwork/listed.html",
        cycle=cycle,
        groups=listed_service.listed_groups(cycle),
        group_names={group_id: group.name for group_id, group in groups.items()},
        raters=raters,
        completion=listed_service.completion(db.session, cycle),
        ballots=listed_service.paper_ballots(db.session, cycle),
        import_form=import_form or ImportForm(formdata=None),
        form=CsrfForm(formdata=None),
        links={rater.id: _public_url("respondent.listed", token=rater.token) for rater in raters},
    )
    return (page, status) if status != 200 else page


@bp.get("/cycles/<int:cycle_id>/listed")
def listed(cycle_id: int) -> ViewResult:
    """The listed groups' rosters, who has answered, reminders and paper ballots."""
    return _page(get_cycle(cycle_id))


def _import(cycle: Cycle, filename: str, data: bytes, encoding: str) -> object:
    return listed_service.import_roster(
        db.session, vault(), cycle, filename, data, actor=actor(), encoding=encoding
    )


@bp.post("/cycles/<int:cycle_id>/listed/import")
def listed_import(cycle_id: int) -> ViewResult:
    """Upload a roster: check it whole and show its preview; nothing is stored yet."""
    cycle = get_cycle(cycle_id)
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(cycle, import_form=form, status=400)
    filename, data = form.file.data.filename or "upload", form.file.data.read()
    encoding = form.encoding.data or "auto"
    return imports.preview_page(
        kind=f"roster:{cycle.id}",
        title=_("Import a roster") + " · " + cycle.name,
        filename=filename,
        data=data,
        encoding=encoding,
        fields={"encoding": encoding},
        mapped=lambda: mapped_labels(
            filename,
            data,
            encoding,
            listed_service.ROSTER_COLUMNS,
            listed_service.ROSTER_REQUIRED,
        ),
        dry_run=lambda: _import(cycle, filename, data, encoding),
        confirm_url=url_for("fieldwork.listed_import_confirm", cycle_id=cycle.id),
        back_url=url_for("fieldwork.listed", cycle_id=cycle.id),
    )


@bp.post("/cycles/<int:cycle_id>/listed/import/confirm")
def listed_import_confirm(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = imports.ConfirmImportForm()
    back = redirect(url_for("fieldwork.listed", cycle_id=cycle.id))
    if not form.validate_on_submit():
        flash(_("The confirmation was not accepted; upload the file again."), "error")
        return back
    try:
        upload = imports.pending(form.token.data or "", f"roster:{cycle.id}")
        summary = listed_service.import_roster(
            db.session,
            vault(),
            cycle,
            upload.filename,
            upload.data,
            actor=actor(),
            encoding=upload.fields["encoding"],
        )
    except ServiceError as error:
        report(error)
        return back
    db.session.commit()
    imports.upload_store().delete(upload.token)
    flash(
        _(
            "Roster imported: %(created)d new raters, %(updated)d updated.",
            created=summary.created,
            updated=summary.updated,
        ),
        "success",
    )
    return back


def _letters(cycle: Cycle, *, unanswered_only: bool) -> list[printables.InvitationContent]:
    names = {group.id: group.name for group in cycle.rater_groups}
    return [
        printables.InvitationContent(
            url=_public_url("respondent.listed", token=rater.token),
            external_id=" · ".join(
                part
                for part in (rater.name, rater.organisation, names.get(rater.rater_group_id, ""))
                if part
            ),
            cycle_name=cycle.name,
            valid_until="",
        )
        for rater in listed_service.roster(db.session, cycle, unanswered_only=unanswered_only)
    ]


@bp.get("/cycles/<int:cycle_id>/listed/letters.pdf")
def listed_letters(cycle_id: int) -> Response:
    """One card per rater who has not answered: their name, the link and its QR code."""
    cycle = get_cycle(cycle_id)
    letters = _letters(cycle, unanswered_only=True)
    if not letters:
        abort(404)
    return Response(
        printables.invitation_cards_pdf(letters),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="listed-letters-{cycle.id}.pdf"'},
    )


@bp.get("/cycles/<int:cycle_id>/listed/roster.csv")
def listed_roster_csv(cycle_id: int) -> Response:
    """The roster with each rater's personal link and whether they have answered."""
    cycle = get_cycle(cycle_id)
    names = {group.id: group.name for group in cycle.rater_groups}
    sealer = vault()
    rows: list[list[object]] = [
        [_("Name"), _("Organisation"), _("Rater group"), _("Contact"), _("Answered"), _("Link")]
    ]
    for rater in listed_service.roster(db.session, cycle):
        rows.append(
            [
                rater.name,
                rater.organisation,
                names.get(rater.rater_group_id, ""),
                listed_service.contact_of(sealer, rater),
                _("yes") if rater.answered_at else _("no"),
                _public_url("respondent.listed", token=rater.token),
            ]
        )
    return Response(
        "\ufeff" + csv_text(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="listed-roster-{cycle.id}.csv"'},
    )


@bp.post("/cycles/<int:cycle_id>/listed/remind")
def listed_remind(cycle_id: int) -> ViewResult:
    """Send the link again by SMS to those who have not answered."""
    cycle = get_cycle(cycle_id)
    back = redirect(url_for("fieldwork.listed", cycle_id=cycle.id))
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        sent = listed_service.remind(
            db.session,
            vault(),
            telephony(),
            cycle,
            link=lambda token: _public_url("respondent.listed", token=token),
            actor=actor(),
        )
    except ServiceError as error:
        report(error)
        return back
    db.session.commit()
    flash(
        _(
            "Reminders sent by SMS: %(sent)d; without a mobile number: %(without)d "
            "(print their letters or use the links in the roster export).",
            sent=sent.sent,
            without=sent.without_phone,
        ),
        "success",
    )
    return back


def _group(cycle: Cycle, group_id: int) -> RaterGroup:
    group = db.session.get(RaterGroup, group_id)
    if group is None or group.cycle_id != cycle.id:
        abort(404)
    return group


def _sheet_form(
    cycle: Cycle, group: RaterGroup, *, status: int = 200, sheet: str = ""
) -> ViewResult:
    questionnaire = listed_service.paper_questionnaire(db.session, cycle, group)
    page = render_template(
        "fieldwork/paper_entry.html",
        cycle=cycle,
        group=group,
        questionnaire=questionnaire,
        form=CsrfForm(formdata=None),
        sheet=sheet,
        chosen=request.form if request.method == "POST" else {},
    )
    return (page, status) if status != 200 else page


@bp.get("/cycles/<int:cycle_id>/listed/paper/<int:group_id>")
def paper_entry(cycle_id: int, group_id: int) -> ViewResult:
    """Enter one paper sheet of a listed group (first or second entry)."""
    cycle = get_cycle(cycle_id)
    return _sheet_form(cycle, _group(cycle, group_id))


def _cell(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


@bp.post("/cycles/<int:cycle_id>/listed/paper/<int:group_id>")
def paper_entry_post(cycle_id: int, group_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    group = _group(cycle, group_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    questionnaire = listed_service.paper_questionnaire(db.session, cycle, group)
    levels: dict[int, dict[int, int]] = {}
    for unit in questionnaire.units:
        for item in questionnaire.items:
            value = _cell(f"cell_{unit.id}_{item.id}")
            if value is not None:
                levels.setdefault(unit.id, {})[item.id] = value
    sheet = request.form.get("sheet", "")
    try:
        ballot = listed_service.enter_paper(
            db.session, cycle, group, sheet, levels, user_id=_user_id(), actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _sheet_form(cycle, group, status=400, sheet=sheet)
    db.session.commit()
    messages = {
        PaperStatus.ENTERED_ONCE: _("Sheet %(sheet)s entered once; someone else enters it again."),
        PaperStatus.DISPUTED: _(
            "Sheet %(sheet)s: the two entries differ; a supervisor resolves the differences."
        ),
        PaperStatus.COUNTED: _("Sheet %(sheet)s: both entries agree; the sheet counts."),
    }
    flash(messages[ballot.status] % {"sheet": ballot.sheet}, "success")
    return redirect(url_for("fieldwork.paper_entry", cycle_id=cycle.id, group_id=group.id))


def _ballot(ballot_id: int) -> tuple[Cycle, RaterGroup, PaperBallot]:
    ballot = db.session.get(PaperBallot, ballot_id)
    if ballot is None:
        abort(404)
    cycle = get_cycle(ballot.cycle_id)
    return cycle, _group(cycle, ballot.rater_group_id), ballot


def _resolve_page(ballot_id: int, status: int = 200) -> ViewResult:
    cycle, group, ballot = _ballot(ballot_id)
    questionnaire = listed_service.paper_questionnaire(db.session, cycle, group)
    page = render_template(
        "fieldwork/paper_resolve.html",
        cycle=cycle,
        group=group,
        ballot=ballot,
        differences=listed_service.differences(ballot),
        units={unit.id: unit for unit in questionnaire.units},
        items={item.id: item for item in questionnaire.items},
        levels=questionnaire.levels,
        form=CsrfForm(formdata=None),
    )
    return (page, status) if status != 200 else page


@bp.get("/paper/<int:ballot_id>/resolve")
def paper_resolve(ballot_id: int) -> ViewResult:
    """A supervisor looks at the paper and settles each difference between the entries."""
    return _resolve_page(ballot_id)


@bp.post("/paper/<int:ballot_id>/resolve")
def paper_resolve_post(ballot_id: int) -> ViewResult:
    cycle, _unused, ballot = _ballot(ballot_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    chosen: dict[tuple[int, int], int] = {}
    for difference in listed_service.differences(ballot):
        value = _cell(f"cell_{difference.unit_id}_{difference.item_id}")
        if value is not None:
            chosen[(difference.unit_id, difference.item_id)] = value
    try:
        listed_service.resolve_paper(db.session, ballot, chosen, user_id=_user_id(), actor=actor())
    except ServiceError as error:
        report(error)
        return _resolve_page(ballot_id, status=400)
    db.session.commit()
    flash(_("Sheet %(sheet)s resolved; it counts.", sheet=ballot.sheet), "success")
    return redirect(url_for("fieldwork.listed", cycle_id=cycle.id))
