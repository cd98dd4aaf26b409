"""Login and logout views."""

from __future__ import annotations

import math

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

from survey.auth.access import STAFF_SESSION_KEY, current_session_id, session_lifetime
from survey.extensions import breached_limit_retry_after, db, limited
from survey.models import Role
from survey.models.base import utc_now
from survey.services import staff_sessions, users

bp = Blueprint("auth", __name__, url_prefix="/auth")

HOME_BY_ROLE = {
    Role.ADMIN: "admin.dashboard",
    Role.POLLSTER: "fieldwork.index",
    Role.LIAISON: "liaison.home",
    Role.AUDITOR: "auditor.overview",
}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else ``None`` (the home page).

    An open redirect after sign-in is a phishing aid.  Browsers drop tab, CR and LF
    inside a URL and read a backslash as a slash, so "/%09/evil.example" leads off-site
    though it starts with one slash; a newline would also make the Location header
    invalid (a 500).  So: one leading slash, then printable characters and no backslash.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or not target.isprintable()
    ):
        return None
    return target


@bp.get("/login")
def login() -> str:
    return render_template("auth/login.html", form=LoginForm())


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _account_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN_ACCOUNT"])


def _account() -> str:
    return (request.form.get("username") or "").strip().lower()


def _login_key() -> str:
    # Per address and account: one guesser cannot lock everybody out of the office.
    return f"{get_remote_address()}|{_account()}"


def _account_key() -> str:
    # Per account from anywhere: guesses spread over many addresses still add up.
    return f"account:{_account()}"


def _failed(response: Response) -> bool:
    # Only failures count: the rightful user signing in often is never throttled.
    return response.status_code == 401


@bp.post("/login")
@limited(_login_limit, key_func=_login_key, deduct_when=_failed)
@limited(_account_limit, key_func=_account_key, deduct_when=_failed)
def login_submit() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(db.session, form.username.data or "", form.password.data or "")
        if user is not None:
            now = utc_now()
            earlier = session.get(STAFF_SESSION_KEY)
            if earlier is not None:
                # Signing in again in this browser: the session it held ends here.
                staff_sessions.end(db.session, str(earlier), now)
            token = staff_sessions.start(db.session, user, session_lifetime(), now)
            db.session.commit()
            language = session.get("lang")
            # A fresh cookie: nothing a visitor put in it before carries into the session.
            session.clear()
            session[STAFF_SESSION_KEY] = token
            if language:
                session["lang"] = language
            return redirect(
                _safe_next(request.args.get("next")) or url_for(HOME_BY_ROLE[user.role])
            )
        flash(_("Wrong username or password."), "error")
    return render_template("auth/login.html", form=form), 401  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    token = session.get(STAFF_SESSION_KEY)
    if token is not None and current_session_id() is not None:
        staff_sessions.end(db.session, str(token), utc_now())
        db.session.commit()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("public.index"))


@bp.errorhandler(429)
def too_many_attempts(_error: Exception) -> tuple[str, int]:
    minutes = math.ceil((breached_limit_retry_after() or 60) / 60)
    flash(
        _(
            "Too many failed sign-in attempts for this account. "
            "Please try again in %(minutes)d minutes.",
            minutes=minutes,
        ),
        "error",
    )
    return render_template("auth/login.html", form=LoginForm()), 429
