"""Chinese first, English available: locale from the user's choice, else Chinese."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from werkzeug.wrappers import Response

from survey.extensions import babel
from survey.models import CallMode, Channel, CycleStatus, FrameStatus, Role
from survey.models.base import as_utc
from survey.models.telephony import CallbackStatus

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

#: AAPOR final disposition codes (Standard Definitions, 2023) by their Chinese names
#: as Chinese survey practice words them; shown with the code: “1.1 完成访问”.
DISPOSITION_NAMES = {
    "1.1": _l("complete interview"),
    "1.2": _l("partial interview"),
    "2.11": _l("refusal"),
    "2.12": _l("break-off"),
    "2.21": _l("respondent unavailable (appointment)"),
    "3.11": _l("not yet dialled"),
    "3.12": _l("always busy"),
    "3.13": _l("no answer"),
    "3.14": _l("answering machine"),
    "3.90": _l("call failed"),
    "4.10": _l("not eligible"),
    "4.20": _l("fax or data line"),
    "4.30": _l("non-working or invalid number"),
}
#: How a response came in (the respondent's channel).
CHANNEL_LABELS = {
    Channel.INVITATION: _l("Invitation (letter or link)"),
    Channel.PHONE_IVR: _l("Automated phone survey (IVR)"),
    Channel.PHONE_CATI: _l("Interviewer phone survey (CATI)"),
    Channel.OPEN_QR: _l("Open QR poster"),
    Channel.LISTED: _l("Listed raters"),
}
#: What kind of call an attempt was.
CALL_MODE_LABELS = {
    CallMode.IVR: _l("Automated (IVR)"),
    CallMode.CATI: _l("Interviewer (CATI)"),
    CallMode.INBOUND: _l("Inbound call"),
    CallMode.QUALITY: _l("Quality call-back"),
}
#: A call's state as the telephony provider reports it (Twilio's CallStatus values).
CALL_STATUS_LABELS = {
    "queued": _l("Queued"),
    "ringing": _l("Ringing"),
    "in-progress": _l("In progress"),
    "completed": _l("Ended"),
    "busy": _l("Busy"),
    "no-answer": _l("No answer"),
    "failed": _l("Failed"),
    "canceled": _l("Cancelled"),
}
CALLBACK_STATUS_LABELS = {
    CallbackStatus.PENDING: _l("Pending"),
    CallbackStatus.CONFIRMED: _l("Confirmed"),
    CallbackStatus.MISMATCH: _l("Mismatch (for the supervisor)"),
    CallbackStatus.UNREACHABLE: _l("Unreachable"),
}

#: An SMS invitation's delivery state (Twilio's MessageStatus values kept by minyi).
SMS_STATUS_LABELS = {
    "pending": _l("Not yet sent"),
    "queued": _l("Queued"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "undelivered": _l("Undelivered"),
    "failed": _l("Failed"),
}
#: A review's (复核) outcome.
REVIEW_STATUS_LABELS = {
    "pending": _l("Pending"),
    "confirmed": _l("Confirmed"),
    "mismatch": _l("Mismatch"),
    "unreachable": _l("Unreachable"),
}


def disposition_label(code: str | None) -> str:
    """An AAPOR code with its Chinese name beside it: “2.11 拒访” (unknown codes as they are)."""
    if not code:
        return ""
    name = DISPOSITION_NAMES.get(code)
    return f"{code} {name}" if name is not None else code


def lazy_disposition_label(code: str) -> LazyString:
    """:func:`disposition_label` for choices defined at import time (translated when shown)."""
    return LazyString(disposition_label, code)


def _label(labels: dict[Any, Any], value: object) -> str:
    """The label of an enum value (or its text), else the value itself."""
    for key, label in labels.items():
        if key == value or str(getattr(key, "value", key)) == str(value):
            return str(label)
    return str(getattr(value, "value", value))


def channel_label(channel: object) -> str:
    return _label(CHANNEL_LABELS, channel)


def exclusion_reason(code: str) -> str:
    """Why responses were left out of their group's scores (a rater policy's reason)."""
    from survey.services.rater_policy import REASON_LABELS

    return _(REASON_LABELS[code]) if code in REASON_LABELS else code


def call_mode_label(mode: object) -> str:
    return _label(CALL_MODE_LABELS, mode)


def call_status_label(status: object) -> str:
    return _label(CALL_STATUS_LABELS, status)


def callback_status_label(status: object) -> str:
    return _label(CALLBACK_STATUS_LABELS, status)


def sms_status_label(status: object) -> str:
    return _label(SMS_STATUS_LABELS, status)


def review_status_label(status: object) -> str:
    return _label(REVIEW_STATUS_LABELS, status)


def detail_notes(details: object) -> list[str]:
    """Coded values in an audit entry's details, named for people (the details stay as stored).

    ``{"disposition": "2.11"}`` → “处置代码：2.11 拒访”; channels, call modes and a
    cycle's statuses likewise.
    """
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return []
    if not isinstance(details, dict):
        return []
    statuses = {status.value: label for status, label in STATUS_LABELS.items()}
    named = {
        "disposition": (_("Disposition"), disposition_label),
        "channel": (_("Channel"), channel_label),
        "mode": (_("Call"), call_mode_label),
        "from": (_("From"), lambda value: str(statuses.get(str(value), value))),
        "to": (_("To"), lambda value: str(statuses.get(str(value), value))),
    }
    notes = []
    for key, (label, name) in named.items():
        value = details.get(key)
        if isinstance(value, str) and value:
            notes.append(_("%(field)s: %(value)s", field=label, value=name(value)))
    return notes


def snapshot_reason(text: str | None) -> str:
    """A snapshot's stored reason in the reader's language (“appeal 3 (G04) upheld: …”)."""
    from survey.services.appeals import parse_supersede_reason

    parsed = parse_supersede_reason(text)
    if parsed is None:
        return text or ""
    number, unit, reason = parsed
    return _(
        "appeal %(number)d (%(unit)s) upheld: %(reason)s", number=number, unit=unit, reason=reason
    )


def decision_text(text: str | None) -> str:
    """The office's decision on a unit as stored in a snapshot, in the reader's language.

    Decisions are the office's own words; only the fixed text earlier demos stored
    is machine-written English, and it is shown translated (the snapshot is not changed).
    """
    from survey.services.synthetic import LEGACY_DEMO_DECISION

    if text == LEGACY_DEMO_DECISION:
        return _("Demo: the weights are redistributed pro rata (accepted)")
    return text or ""


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
        disposition_label=disposition_label,
        channel_label=channel_label,
        exclusion_reason=exclusion_reason,
        call_mode_label=call_mode_label,
        callback_status_label=callback_status_label,
        call_status_label=call_status_label,
        sms_status_label=sms_status_label,
        review_status_label=review_status_label,
        snapshot_reason=snapshot_reason,
        detail_notes=detail_notes,
        # A service's Problem or ServiceError as the reader's language words it.
        message_text=lambda message: message.text(_),
        decision_text=decision_text,
        local_time=local_time,
        local_date=local_date,
    )
