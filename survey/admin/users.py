"""User accounts."""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from survey.admin import bp
from survey.admin.common import ViewResult, actor, report
from survey.admin.forms import NewUserForm, UserForm
from survey.auth.access import current_session_id
from survey.extensions import db
from survey.models import Cycle, Role, Unit, User
from survey.services import users as user_service
from survey.services.errors import ServiceError


def _unit_choices() -> list[SelectChoice]:
    rows = db.session.execute(
        sa.select(Unit.id, Unit.code, Unit.name, Cycle.name)
        .join(Cycle, Unit.cycle_id == Cycle.id)
        .order_by(Cycle.year.desc(), Unit.code)
    ).all()
    return [SelectChoice(0, "—")] + [
        SelectChoice(uid, f"{cycle} · {code} {name}") for uid, code, name, cycle in rows
    ]


FormT = TypeVar("FormT", bound=UserForm)


def _with_units(form: FormT) -> FormT:
    form.unit_id.choices = _unit_choices()
    return form


@bp.get("/users")
def user_list() -> str:
    users = db.session.scalars(sa.select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", users=users)


@bp.get("/users/new")
def user_new() -> str:
    return render_template("admin/user_form.html", form=_with_units(NewUserForm()), user=None)


@bp.post("/users/new")
def user_create() -> ViewResult:
    form = _with_units(NewUserForm())
    if not form.validate_on_submit():
        return render_template("admin/user_form.html", form=form, user=None), 400
    try:
        user_service.create_user(
            db.session,
            username=form.username.data or "",
            password=form.password.data or "",
            role=Role(form.role.data),
            unit_id=form.unit_id.data or None,
            display_name=form.display_name.data or "",
            actor=actor(),
        )
    except ServiceError as error:
        report(error, form)
        return render_template("admin/user_form.html", form=form, user=None), 400
    db.session.commit()
    flash(_("User created."), "success")
    return redirect(url_for("admin.user_list"))


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users/<int:user_id>")
def user_edit(user_id: int) -> str:
    user = _get_user(user_id)
    form = _with_units(UserForm(obj=user))
    form.role.data = user.role.value
    form.unit_id.data = user.unit_id or 0
    return render_template("admin/user_form.html", form=form, user=user)


@bp.post("/users/<int:user_id>")
def user_update(user_id: int) -> ViewResult:
    user = _get_user(user_id)
    form = _with_units(UserForm())
    if not form.validate_on_submit():
        return render_template("admin/user_form.html", form=form, user=user), 400
    try:
        user_service.update_user(
            db.session,
            user,
            role=Role(form.role.data),
            unit_id=form.unit_id.data or None,
            display_name=form.display_name.data or "",
            active=form.active.data,
            password=form.password.data or None,
            actor=actor(),
            keep_session=current_session_id(),
        )
    except ServiceError as error:
        report(error, form)
        return render_template("admin/user_form.html", form=form, user=user), 400
    db.session.commit()
    flash(_("User saved."), "success")
    return redirect(url_for("admin.user_list"))
