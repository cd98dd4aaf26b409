"""Office results pages: import components, publish, decide appeals, follow rectification."""

from __future__ import annotations

import json
from urllib.parse import quote

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from survey.admin import imports as import_steps
from survey.admin.common import ViewResult, actor, csv_attachment, get_cycle, report
from survey.admin.forms import ImportForm
from survey.extensions import db
from survey.models import (
    Appeal,
    AppealAttachment,
    Cycle,
    CycleStatus,
    ResultSnapshot,
    ScoreComponent,
    Unit,
)
from survey.office import bp
from survey.office.forms import DecideForm, OfficialForm, PublishForm, TokensForm, TrialForm
from survey.results.views import APPEAL_LABELS, GRADE_LABELS, REASON_LABELS
from survey.services import (
    appeals,
    components,
    democratic,
    publication,
    rectification,
    scoring,
)
from survey.services.errors import ServiceError
from survey.services.tabular import mapped_labels


@bp.get("/")
def index() -> str:
    cycles = db.session.scalars(sa.select(Cycle).order_by(Cycle.year.desc())).all()
    pending = db.session.scalars(
        sa.select(Appeal).where(Appeal.status == "pending").order_by(Appeal.filed_at)
    ).all()
    return render_template(
        "office/index.html",
        cycles=cycles,
        pending=pending,
        is_overdue=appeals.is_overdue,
        decision_due=appeals.decision_due,
    )


def _cycle_page(cycle: Cycle, **forms: object) -> str:
    imports = components.current_imports(db.session, cycle)
    history = list(
        db.session.scalars(
            sa.select(ResultSnapshot)
            .where(ResultSnapshot.cycle_id == cycle.id)
            .order_by(ResultSnapshot.version)
        )
    )
    return render_template(
        "office/cycle.html",
        cycle=cycle,
        imports=imports,
        history=history,
        appeals=appeals.cycle_appeals(db.session, cycle),
        appeal_labels=APPEAL_LABELS,
        status=rectification.cycle_status(db.session, cycle),
        import_form=forms.get("import_form") or ImportForm(),
        # The component whose upload was refused: its row shows why.
        refused_component=forms.get("refused_component"),
        trial_form=TrialForm(formdata=None),
    )


@bp.get("/cycles/<int:cycle_id>")
def cycle_page(cycle_id: int) -> str:
    return _cycle_page(get_cycle(cycle_id))


def _component(cycle: Cycle, component_id: int) -> ScoreComponent:
    component = db.session.get(ScoreComponent, component_id)
    if component is None or component.cycle_id != cycle.id:
        abort(404)
    return component


@bp.post("/cycles/<int:cycle_id>/components/<int:component_id>")
def component_import(cycle_id: int, component_id: int) -> ViewResult:
    """Upload: check the file whole and show its preview; nothing is stored yet."""
    cycle = get_cycle(cycle_id)
    component = _component(cycle, component_id)
    form = ImportForm()
    if not form.validate_on_submit():
        return _cycle_page(cycle, import_form=form, refused_component=component.id), 400
    filename, data = form.file.data.filename or "upload", form.file.data.read()
    encoding = form.encoding.data or "auto"
    return import_steps.preview_page(
        kind=f"component:{component.id}",
        title=_("Import") + " · " + component.name,
        filename=filename,
        data=data,
        encoding=encoding,
        fields={"encoding": encoding},
        mapped=lambda: mapped_labels(
            filename,
            data,
            encoding,
            components.COMPONENT_COLUMNS,
            components.COMPONENT_REQUIRED,
        ),
        dry_run=lambda: components.import_component(
            db.session,
            cycle,
            component,
            filename=filename,
            data=data,
            actor=actor(),
            encoding=encoding,
        ),
        confirm_url=url_for(
            "office.component_import_confirm", cycle_id=cycle.id, component_id=component.id
        ),
        back_url=url_for("office.cycle_page", cycle_id=cycle.id),
    )


@bp.post("/cycles/<int:cycle_id>/components/<int:component_id>/confirm")
def component_import_confirm(cycle_id: int, component_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    component = _component(cycle, component_id)
    form = import_steps.ConfirmImportForm()
    back = redirect(url_for("office.cycle_page", cycle_id=cycle.id))
    if not form.validate_on_submit():
        flash(_("The confirmation was not accepted; upload the file again."), "error")
        return back
    try:
        upload = import_steps.pending(form.token.data or "", f"component:{component.id}")
        version = components.import_component(
            db.session,
            cycle,
            component,
            filename=upload.filename,
            data=upload.data,
            actor=actor(),
            encoding=upload.fields["encoding"],
        )
    except ServiceError as error:
        report(error)
        return back
    db.session.commit()
    import_steps.upload_store().delete(upload.token)
    flash(
        _(
            "%(name)s imported as version %(version)d.",
            name=component.name,
            version=version.version,
        ),
        "success",
    )
    return back


@bp.get("/cycles/<int:cycle_id>/components/template.csv")
def component_template(cycle_id: int) -> ViewResult:
    """Every unit of the cycle under the Chinese headers the import reads."""
    cycle = get_cycle(cycle_id)
    header: list[object] = [
        components.COMPONENT_COLUMNS["unit"][0],
        "单位名称",  # for the person filling it in; the import leaves it aside
        *(components.COMPONENT_COLUMNS[name][0] for name in ("score", "veto", "target_completion")),
    ]
    rows: list[list[object]] = [
        [unit.code, unit.name, "", "否", ""] for unit in sorted(cycle.units, key=lambda u: u.code)
    ]
    return csv_attachment([header, *rows], "components-template.csv")


@bp.get("/cycles/<int:cycle_id>/trial")
def trial(cycle_id: int) -> ViewResult:
    """试算: every unit's score, interval, grade and reasons as publishing would store them.

    Nothing is written; the page ends with the publish form holding the same choices.
    """
    cycle = get_cycle(cycle_id)
    form = TrialForm(request.args)
    if not form.validate():
        return _cycle_page(cycle), 400
    return _trial_page(cycle, form)


def _trial_page(
    cycle: Cycle, choices: TrialForm, publish_form: PublishForm | None = None
) -> ViewResult:
    rules = choices.rules(cycle)
    try:
        run = scoring.trial(
            db.session, cycle, rules, accept_redistribution=choices.decision.data or ""
        )
    except ServiceError as error:
        report(error)
        return _cycle_page(cycle), 400
    finally:
        db.session.rollback()  # a trial never writes, whatever a service might have flushed
    groups = {group["code"]: group["name"] for group in run.inputs["groups"]}
    units = {unit["code"]: unit["name"] for unit in run.inputs["units"]}
    components_named = {component.code: component.name for component in cycle.components}
    page = render_template(
        "office/trial.html",
        cycle=cycle,
        run=run,
        groups=groups,
        problems=[
            _problem_text(problem, units, groups, components_named) for problem in run.problems
        ],
        decisions=run.inputs["decisions"],
        grade_labels=GRADE_LABELS,
        reason_labels=REASON_LABELS,
        level=run.inputs["rules"]["level"],
        excluded_reasons=run.inputs.get("excluded_reasons", []),
        choices=choices,
        publish_form=publish_form or PublishForm(formdata=None),
        can_publish=cycle.status == CycleStatus.CLOSED
        and publication.latest_snapshot(db.session, cycle) is None,
    )
    return (page, 400) if publish_form is not None else page


def _problem_text(
    problem: scoring.ScoringProblem,
    units: dict[str, str],
    groups: dict[str, str],
    components_named: dict[str, str],
) -> str:
    return problem.problem(units, groups, components_named).text(_)


@bp.post("/cycles/<int:cycle_id>/publish")
def publish(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = PublishForm()
    if not form.validate_on_submit():
        return _trial_page(cycle, form, publish_form=form)
    rules = form.rules(cycle)
    try:
        decisions: dict[str, str] = {}
        if (form.decision.data or "").strip():
            run = scoring.trial(
                db.session,
                cycle,
                rules,
                accept_redistribution=form.decision.data or "",
                with_probabilities=False,
            )
            decisions = run.inputs["decisions"]
        snapshot = publication.publish(
            db.session, cycle, actor=actor(), rules=rules, decisions=decisions
        )
    except ServiceError as error:
        report(error)
        return _trial_page(cycle, form, publish_form=form)
    db.session.commit()
    flash(_("Published: snapshot %(sha)s.", sha=snapshot.sha256[:16]), "success")
    return redirect(url_for("office.cycle_page", cycle_id=cycle.id))


def _appeal(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        abort(404)
    return appeal


def _decide_form(appeal: Appeal, form: DecideForm | None = None) -> DecideForm:
    form = form or DecideForm()
    data = json.loads(appeal.snapshot.content)
    cycle = db.session.get(Cycle, appeal.snapshot.cycle_id)
    names = {component.code: component.name for component in cycle.components} if cycle else {}
    form.component.choices = [SelectChoice("", "—")] + [
        SelectChoice(code, f"{names.get(code, code)} ({code})")
        for code in sorted(data["inputs"]["components"])
    ]
    return form


@bp.get("/appeals/<int:appeal_id>")
def appeal_page(appeal_id: int, form: DecideForm | None = None) -> str:
    appeal = _appeal(appeal_id)
    return render_template(
        "office/appeal.html",
        appeal=appeal,
        form=_decide_form(appeal, form),
        appeal_labels=APPEAL_LABELS,
        due=appeals.decision_due(appeal),
        overdue=appeals.is_overdue(appeal),
    )


@bp.post("/appeals/<int:appeal_id>")
def appeal_decide(appeal_id: int) -> ViewResult:
    appeal = _appeal(appeal_id)
    form = _decide_form(appeal)
    if not form.validate_on_submit():
        return appeal_page(appeal_id, form), 400
    corrections = []
    if form.component.data:
        if form.score.data is None:
            flash(_("Give the corrected score for the component."), "error")
            return appeal_page(appeal_id, form), 400
        corrections.append(
            appeals.Correction(
                form.component.data, appeal.unit.code, form.score.data, bool(form.vetoed.data)
            )
        )
    try:
        appeals.decide_appeal(
            db.session,
            appeal,
            upheld=form.outcome.data == "upheld",
            reason=form.reason.data or "",
            actor=actor(),
            corrections=corrections,
        )
    except ServiceError as error:
        report(error)
        return appeal_page(appeal_id, form), 400
    db.session.commit()
    flash(_("Decision recorded."), "success")
    return redirect(url_for("office.cycle_page", cycle_id=appeal.snapshot.cycle_id))


@bp.get("/appeals/<int:appeal_id>/attachments/<int:attachment_id>")
def appeal_attachment(appeal_id: int, attachment_id: int) -> Response:
    attachment = db.session.get(AppealAttachment, attachment_id)
    if attachment is None or attachment.appeal_id != appeal_id:
        abort(404)
    current_app.logger.info("attachment %s downloaded by %s", attachment.id, actor())
    # The type is read from the bytes again, not the stored type: attachments filed
    # before content was checked may be anything under any name.
    content_type = appeals.detect_type(attachment.data) or "application/octet-stream"
    fallback = f"appeal-{appeal_id}-{attachment.id}{appeals.SUFFIXES.get(content_type, '')}"
    return Response(
        attachment.data,
        mimetype=content_type,
        headers={
            # Always a download, never shown inline; the Chinese name travels in
            # filename* (RFC 6266), the ASCII fallback for old clients.
            "Content-Disposition": f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(attachment.filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _unit_choices(cycle: Cycle) -> list[SelectChoice]:
    return [
        SelectChoice(str(unit.id), f"{unit.code} {unit.name}")
        for unit in sorted(cycle.units, key=lambda unit: unit.code)
    ]


def _democratic_page(cycle: Cycle, *, tokens: list[str] | None = None, **forms: object) -> str:
    official_form = forms.get("official_form") or OfficialForm()
    tokens_form = forms.get("tokens_form") or TokensForm()
    assert isinstance(official_form, OfficialForm) and isinstance(tokens_form, TokensForm)
    official_form.unit.choices = _unit_choices(cycle)
    tokens_form.unit.choices = _unit_choices(cycle)
    rows, grading = democratic.results(db.session, cycle)
    return render_template(
        "office/democratic.html",
        cycle=cycle,
        rows=rows,
        grading=grading,
        official_form=official_form,
        tokens_form=tokens_form,
        tokens=tokens or [],
        grade_labels=GRADE_LABELS,
        reason_labels=REASON_LABELS,
    )


def _form_unit(cycle: Cycle, value: str | None) -> Unit:
    unit = db.session.get(Unit, int(value)) if value and value.isdigit() else None
    if unit is None or unit.cycle_id != cycle.id:
        abort(404)
    return unit


@bp.get("/cycles/<int:cycle_id>/democratic")
def democratic_page(cycle_id: int) -> str:
    return _democratic_page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/officials")
def official_create(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = OfficialForm()
    if not form.validate_on_submit():
        return _democratic_page(cycle, official_form=form), 400
    try:
        democratic.add_official(
            db.session,
            _form_unit(cycle, form.unit.data),
            name=form.name.data or "",
            title=form.title.data or "",
            actor=actor(),
        )
    except ServiceError as error:
        report(error)
        return _democratic_page(cycle, official_form=form), 400
    db.session.commit()
    flash(_("Official added."), "success")
    return redirect(url_for("office.democratic_page", cycle_id=cycle.id))


@bp.post("/cycles/<int:cycle_id>/ballot-tokens")
def tokens_create(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = TokensForm()
    if not form.validate_on_submit():
        return _democratic_page(cycle, tokens_form=form), 400
    try:
        tokens = democratic.issue_tokens(
            db.session, _form_unit(cycle, form.unit.data), count=form.count.data or 0, actor=actor()
        )
    except ServiceError as error:
        report(error)
        return _democratic_page(cycle, tokens_form=form), 400
    db.session.commit()
    # The tokens are shown this once; only their hashes are stored.
    return _democratic_page(cycle, tokens=tokens)
