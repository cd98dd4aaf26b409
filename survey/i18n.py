"""Chinese first, English available: locale from the user's choice, else Chinese."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from survey.extensions import babel
from survey.models import CycleStatus, FrameStatus, Role
from survey.models.base import as_utc

STATUS_LABELS = {
    CycleStatus.DRAFT: _l("Draft"),
    CycleStatus.FIELDING: _l("Fieldwork"),
    CycleStatus.CLOSED: _l("Closed"),
    CycleStatus.PUBLISHED: _l("Published"),
    CycleStatus.FINAL: _l("Final"),
}
FRAME_STATUS_LABELS = {
    FrameStatus.IMPORTED: _l("Imported"),
    FrameStatus.LOCKED: _l("Locked"),
    FrameStatus.DRAWN: _l("Drawn"),
}
ROLE_LABELS = {
    Role.ADMIN: _l("Assessment office admin"),
    Role.POLLSTER: _l("Pollster"),
    Role.LIAISON: _l("Unit liaison"),
    Role.AUDITOR: _l("Auditor"),
}


def select_locale() -> str:
    languages: list[str] = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in languages:
        return str(chosen)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def local_time(moment: datetime | None, *, seconds: bool = False) -> str:
    """A stored (UTC) time in the office's time zone, labelled, to the minute.

    The zone is ``MINYI_TIMEZONE`` (Asia/Shanghai by default): staff read
    Beijing time, never UTC with microseconds.
    """
    if moment is None:
        return "—"
    zone_name = str(current_app.config["TIMEZONE"])
    text = (
        as_utc(moment)
        .astimezone(ZoneInfo(zone_name))
        .strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    )
    if zone_name == "Asia/Shanghai":
        return _("%(time)s (Beijing time)", time=text)
    return f"{text} ({zone_name})"


def local_date(moment: datetime | None) -> str:
    """The local calendar day of a stored (UTC) time: 23:30 UTC is the next day in Beijing."""
    if moment is None:
        return "—"
    zone = ZoneInfo(str(current_app.config["TIMEZONE"]))
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d")


def set_language(code: str) -> Response:
    """Remember the chosen language and go back where the user was."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    target = request.referrer or url_for("public.index")
    # Only follow the referrer back into this site.
    if not target.startswith(request.host_url):
        target = url_for("public.index")
    return redirect(target)


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.add_url_rule("/lang/<code>", "set_language", set_language)

    @app.context_processor
    def inject_locale() -> dict[str, object]:
        return {"current_locale": select_locale()}

    # Globals, not context: imported macros see globals only.
    app.jinja_env.globals.update(
        status_label=lambda status: str(STATUS_LABELS[status]),
        role_label=lambda role: str(ROLE_LABELS[role]),
        frame_status_label=lambda status: str(FRAME_STATUS_LABELS[status]),
        local_time=local_time,
        local_date=local_date,
    )
