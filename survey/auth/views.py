"""Login and logout views."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from survey.extensions import db, limited
from survey.models import Role
from survey.services import users

bp = Blueprint("auth", __name__, url_prefix="/auth")

HOME_BY_ROLE = {
    Role.ADMIN: "admin.dashboard",
    Role.POLLSTER: "fieldwork.index",
    Role.LIAISON: "public.index",
    Role.AUDITOR: "auditor.overview",
}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    # Only local paths: an open redirect after login is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.get("/login")
def login() -> str:
    return render_template("auth/login.html", form=LoginForm())


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _login_key() -> str:
    # Per address and account: one guesser cannot lock everybody out of the office.
    return f"{get_remote_address()}|{(request.form.get('username') or '').strip().lower()}"


@bp.post("/login")
@limited(
    _login_limit, key_func=_login_key, deduct_when=lambda response: response.status_code == 401
)
def login_submit() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(db.session, form.username.data or "", form.password.data or "")
        if user is not None:
            language = session.get("lang")
            session.clear()
            session["user_id"] = user.id
            if language:
                session["lang"] = language
            return redirect(
                _safe_next(request.args.get("next")) or url_for(HOME_BY_ROLE[user.role])
            )
        flash(_("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form), 401  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("public.index"))


@bp.errorhandler(429)
def too_many_attempts(_error: Exception) -> tuple[str, int]:
    flash(_("Too many failed sign-in attempts. Please wait a few minutes."), "error")
    return render_template("auth/login.html", form=LoginForm()), 429
