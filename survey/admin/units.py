"""Categories and units: forms and bulk import."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from survey.admin import bp, imports
from survey.admin.common import ViewResult, actor, csv_attachment, get_cycle, report
from survey.admin.forms import CategoryForm, ImportForm, UnitForm
from survey.extensions import db
from survey.models import Cycle, Unit, UnitCategory
from survey.services import units as unit_service
from survey.services.errors import ServiceError
from survey.services.tabular import mapped_labels
from survey.services.units import ImportSummary, units_by_category


def _unit_form(cycle: Cycle, unit: Unit | None = None) -> UnitForm:
    form = UnitForm(obj=unit)
    form.category_id.choices = [SelectChoice(c.id, c.name) for c in cycle.categories]
    form.parent_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(u.id, f"{u.code} {u.name}") for u in cycle.units if u is not unit
    ]
    if unit is not None and form.parent_id.data is None:
        form.parent_id.data = 0
    return form


def _units_page(cycle: Cycle, **forms: object) -> str:
    context = {
        "cycle": cycle,
        "grouped_units": units_by_category(db.session, cycle),
        "category_form": CategoryForm(),
        "unit_form": _unit_form(cycle),
        "import_form": ImportForm(),
    }
    context.update(forms)
    return render_template("admin/units.html", **context)


@bp.get("/cycles/<int:cycle_id>/units")
def units(cycle_id: int) -> str:
    return _units_page(get_cycle(cycle_id))


@bp.post("/cycles/<int:cycle_id>/categories")
def category_create(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = CategoryForm()
    if not form.validate_on_submit():
        return _units_page(cycle, category_form=form), 400
    try:
        unit_service.save_category(
            db.session, cycle, code=form.code.data or "", name=form.name.data or "", actor=actor()
        )
    except ServiceError as error:
        report(error, form)
        return _units_page(cycle, category_form=form), 400
    db.session.commit()
    flash(_("Category saved."), "success")
    return redirect(url_for("admin.units", cycle_id=cycle.id))


def _get_category(cycle: Cycle, category_id: int) -> UnitCategory:
    category = db.session.get(UnitCategory, category_id)
    if category is None or category.cycle_id != cycle.id:
        abort(404)
    return category


@bp.get("/cycles/<int:cycle_id>/categories/<int:category_id>")
def category_edit(cycle_id: int, category_id: int) -> str:
    cycle = get_cycle(cycle_id)
    category = _get_category(cycle, category_id)
    return render_template(
        "admin/category_form.html", cycle=cycle, category=category, form=CategoryForm(obj=category)
    )


@bp.post("/cycles/<int:cycle_id>/categories/<int:category_id>")
def category_update(cycle_id: int, category_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    category = _get_category(cycle, category_id)
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            unit_service.save_category(
                db.session,
                cycle,
                code=form.code.data or "",
                name=form.name.data or "",
                actor=actor(),
                category=category,
            )
        except ServiceError as error:
            report(error, form)
        else:
            db.session.commit()
            flash(_("Category saved."), "success")
            return redirect(url_for("admin.units", cycle_id=cycle.id))
    return render_template(
        "admin/category_form.html", cycle=cycle, category=category, form=form
    ), 400


@bp.post("/cycles/<int:cycle_id>/units")
def unit_create(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = _unit_form(cycle)
    if not form.validate_on_submit():
        return _units_page(cycle, unit_form=form), 400
    try:
        unit_service.save_unit(
            db.session,
            cycle,
            code=form.code.data or "",
            name=form.name.data or "",
            category_id=form.category_id.data,
            parent_id=form.parent_id.data or None,
            actor=actor(),
        )
    except ServiceError as error:
        report(error, form)
        return _units_page(cycle, unit_form=form), 400
    db.session.commit()
    flash(_("Unit saved."), "success")
    return redirect(url_for("admin.units", cycle_id=cycle.id))


def _get_unit(cycle: Cycle, unit_id: int) -> Unit:
    unit = db.session.get(Unit, unit_id)
    if unit is None or unit.cycle_id != cycle.id:
        abort(404)
    return unit


@bp.get("/cycles/<int:cycle_id>/units/<int:unit_id>")
def unit_edit(cycle_id: int, unit_id: int) -> str:
    cycle = get_cycle(cycle_id)
    unit = _get_unit(cycle, unit_id)
    return render_template(
        "admin/unit_form.html", cycle=cycle, unit=unit, form=_unit_form(cycle, unit)
    )


@bp.post("/cycles/<int:cycle_id>/units/<int:unit_id>")
def unit_update(cycle_id: int, unit_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    unit = _get_unit(cycle, unit_id)
    form = _unit_form(cycle, unit)
    if form.validate_on_submit():
        try:
            unit_service.save_unit(
                db.session,
                cycle,
                code=form.code.data or "",
                name=form.name.data or "",
                category_id=form.category_id.data,
                parent_id=form.parent_id.data or None,
                actor=actor(),
                unit=unit,
            )
        except ServiceError as error:
            report(error, form)
        else:
            db.session.commit()
            flash(_("Unit saved."), "success")
            return redirect(url_for("admin.units", cycle_id=cycle.id))
    return render_template("admin/unit_form.html", cycle=cycle, unit=unit, form=form), 400


@bp.post("/cycles/<int:cycle_id>/units/import")
def units_import(cycle_id: int) -> ViewResult:
    """Upload: check the file whole and show its preview; nothing is stored yet."""
    cycle = get_cycle(cycle_id)
    form = ImportForm()
    if not form.validate_on_submit():
        return _units_page(cycle, import_form=form), 400
    filename, data = form.file.data.filename or "upload", form.file.data.read()
    encoding = form.encoding.data or "auto"
    return imports.preview_page(
        kind=f"units:{cycle.id}",
        title=_("Import units") + " · " + cycle.name,
        filename=filename,
        data=data,
        encoding=encoding,
        fields={"encoding": encoding},
        mapped=lambda: mapped_labels(
            filename, data, encoding, unit_service.UNIT_COLUMNS, unit_service.UNIT_REQUIRED
        ),
        dry_run=lambda: _import(cycle, filename, data, encoding),
        confirm_url=url_for("admin.units_import_confirm", cycle_id=cycle.id),
        back_url=url_for("admin.units", cycle_id=cycle.id),
    )


def _import(cycle: Cycle, filename: str, data: bytes, encoding: str) -> ImportSummary:
    return unit_service.import_units(
        db.session,
        cycle,
        filename,
        data,
        actor=actor(),
        encoding=encoding,
        max_rows=current_app.config["IMPORT_MAX_ROWS"],
    )


@bp.post("/cycles/<int:cycle_id>/units/import/confirm")
def units_import_confirm(cycle_id: int) -> ViewResult:
    cycle = get_cycle(cycle_id)
    form = imports.ConfirmImportForm()
    back = redirect(url_for("admin.units", cycle_id=cycle.id))
    if not form.validate_on_submit():
        flash(_("The confirmation was not accepted; upload the file again."), "error")
        return back
    try:
        upload = imports.pending(form.token.data or "", f"units:{cycle.id}")
        summary = _import(cycle, upload.filename, upload.data, upload.fields["encoding"])
    except ServiceError as error:
        report(error)
        return back
    db.session.commit()
    imports.upload_store().delete(upload.token)
    flash(
        _(
            "Imported: %(created)d new units, %(updated)d updated.",
            created=summary.created,
            updated=summary.updated,
        ),
        "success",
    )
    return back


@bp.get("/cycles/<int:cycle_id>/units/template.csv")
def units_template(cycle_id: int) -> Response:
    cycle = get_cycle(cycle_id)
    first = cycle.categories[0].name if cycle.categories else "政务部门"
    header: list[object] = [spellings[0] for spellings in unit_service.UNIT_COLUMNS.values()]
    return csv_attachment([header, ["U001", "市发展和改革委员会", first, ""]], "units-template.csv")
