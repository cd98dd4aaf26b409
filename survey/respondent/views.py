"""Views of the respondent pages: welcome, one page per unit, submit, thanks.

The answering itself (which page next, what is stored, which error) is
:mod:`survey.services.answering`; a view reads the form, calls one of its steps,
commits once when the step stored something (rolls back otherwise), and renders
the outcome or redirects to it.  Anything that cannot be answered (unknown, used
or expired link, wrong code …) gets its own clear page and changes nothing, except
a wrong SMS code, which must count as an attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa
from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import orm
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response as HttpResponse

from survey.extensions import csrf, db, hit_limits, limited, limiter, seconds_until
from survey.i18n import select_locale
from survey.integrations.telephony import telephony
from survey.privacy import vault
from survey.respondent import bp, follow_up_views
from survey.respondent.forms import (
    CodeForm,
    PosterStartForm,
    UnitPageForm,
    link_csrf_token,
    link_form_meta,
    unit_form,
)
from survey.services import answering
from survey.services import posters as poster_service
from survey.services.answering import (
    Action,
    Next,
    Notice,
    Outcome,
    PageSent,
    PosterPass,
    PosterSitting,
    Sitting,
    StartSent,
    Stored,
)
from survey.services.responses import (
    ALREADY_ANSWERED,
    EXPIRED,
    NOT_OPEN,
    UNKNOWN,
    Questionnaire,
    RespondentError,
)

ViewResult = str | HttpResponse | tuple[str, int]

#: reason → (HTTP status, title, text) of the page shown instead of the questionnaire.
PROBLEM_PAGES: dict[str, tuple[int, Any, Any]] = {
    UNKNOWN: (
        404,
        _l("Link not found"),
        _l(
            "This link is not valid. Please check that it was copied completely, "
            "or scan the QR code again."
        ),
    ),
    ALREADY_ANSWERED: (
        409,
        _l("Already answered"),
        _l(
            "This questionnaire has already been answered; each invitation or phone number "
            "can answer once. Thank you for taking part."
        ),
    ),
    EXPIRED: (
        410,
        _l("Survey closed"),
        _l("This survey has closed, so the link can no longer be used. Thank you."),
    ),
    NOT_OPEN: (
        403,
        _l("Survey not open yet"),
        _l("This survey has not started yet. Please come back later."),
    ),
}

POSTER_SESSION_KEY = "minyi_poster"

PHONE_MESSAGES = {
    poster_service.PHONE_INVALID: _l("Please enter an 11-digit mobile number."),
    poster_service.PHONE_NOT_MAINLAND_MOBILE: _l("Please enter a mainland China mobile number."),
    poster_service.PHONE_WAIT: _l(
        "A code was just sent. Please wait a minute before asking again."
    ),
}


POSTER_SESSION_KEY = "minyi_poster"

PHONE_MESSAGES = {
    poster_service.PHONE_INVALID: _l("Please enter an 11-digit mobile number."),
    poster_service.PHONE_NOT_MAINLAND_MOBILE: _l("Please enter a mainland China mobile number."),
    poster_service.PHONE_WAIT: _l(
        "A code was just sent. Please wait a minute before asking again."
    ),
}

#: Pages with only a message: notice → (HTTP status, title, text).
NOTICE_PAGES: dict[Notice, tuple[Any, Any]] = {
    Notice.NOT_ACCEPTED: (
        _l("Not accepted"),
        _l("This form could not be accepted. Please reload the page and try again."),
    ),
    Notice.NOT_SERVED_HERE: (
        _l("Thank you"),
        _l("This survey asks people who have just been served here. Thank you for your interest."),
    ),
}


def _english() -> bool:
    return select_locale() == "en"


def _message(title: Any, text: Any, status: int = 200) -> tuple[str, int]:
    return render_template("respondent/message.html", title=title, text=text), status


def _problem_page(error: RespondentError | None) -> tuple[str, int]:
    db.session.rollback()
    assert error is not None
    status, title, text = PROBLEM_PAGES[error.reason]
    return _message(title, text, status)


def _stored(outcome: Outcome) -> Outcome:
    """Commit what the step stored, once; roll back a step that refused.

    A lost race that only shows at the commit (the unique constraints held) means
    whoever won has answered.
    """
    if outcome.stored == Stored.NOTHING:
        if outcome.error is not None or outcome.invalid:
            db.session.rollback()
        return outcome
    try:
        db.session.commit()
    except (sa.exc.IntegrityError, StaleDataError):
        if outcome.stored not in (Stored.DRAFT, Stored.RESPONSE):
            raise
        db.session.rollback()
        return Outcome(
            Next.PROBLEM, error=RespondentError(ALREADY_ANSWERED, "answered in parallel")
        )
    return outcome


def _render_unit(
    questionnaire: Questionnaire,
    number: int,
    form: UnitPageForm,
    *,
    back_allowed: bool = True,
    status: int = 200,
    notice: str = "",
    csrf_value: str | None = None,
) -> ViewResult:
    unit = questionnaire.units[number - 1]
    page = render_template(
        "respondent/unit.html",
        questionnaire=questionnaire,
        unit=unit,
        number=number,
        total=len(questionnaire.units),
        form=form,
        back_allowed=back_allowed and number > 1,
        notice=notice,
        dont_know_ids=[level.id for level in questionnaire.levels if level.is_dont_know],
        csrf_value=csrf_value,
    )
    return (page, status) if status != 200 else page


#: Stands for the CSRF token in a cached page; unguessable, so no answer text can hold it.
CSRF_PLACEHOLDER = "csrf-" + secrets.token_hex(16)
#: Rendered pages kept per app; more than this starts afresh.
PAGES_KEPT = 4096


def _cached_page(key: Hashable, render: Callable[[], str]) -> str:
    """A page rendered once per key and app (never while templates may change: debug)."""
    if current_app.debug or current_app.config.get("TEMPLATES_AUTO_RELOAD"):
        return render()
    pages: dict[Hashable, str] = current_app.extensions.setdefault("minyi_respondent_pages", {})
    page = pages.get(key)
    if page is None:
        page = render()
        if len(pages) >= PAGES_KEPT:
            pages.clear()
        pages[key] = page
    return page


def _blank_unit_page(questionnaire: Questionnaire, number: int, link_token: str) -> ViewResult:
    """The unit page with nothing filled in: the same markup for every respondent of
    the questionnaire but the CSRF token, so it is rendered once and the token put in."""
    if questionnaire.key is None:
        return _render_unit(
            questionnaire,
            number,
            unit_form(
                questionnaire, english=_english(), formdata=None, meta=link_form_meta(link_token)
            ),
        )
    csrf_on = bool(current_app.config.get("WTF_CSRF_ENABLED", True))
    locale = select_locale()
    key = (
        "unit",
        questionnaire.key,
        questionnaire.units[number - 1].id,
        number,
        len(questionnaire.units),
        locale,
        request.script_root,
        csrf_on,
    )

    def render() -> str:
        form = unit_form(questionnaire, english=locale == "en", formdata=None, meta={"csrf": False})
        page = _render_unit(
            questionnaire, number, form, csrf_value=CSRF_PLACEHOLDER if csrf_on else ""
        )
        assert isinstance(page, str)
        return page

    page = _cached_page(key, render)
    return (
        page.replace(CSRF_PLACEHOLDER, str(escape(link_csrf_token(link_token))))
        if csrf_on
        else page
    )


def _page_sent(form: UnitPageForm) -> PageSent:
    """What the unit page's form holds, for :func:`answering.send_page`."""
    valid = form.validate_on_submit()
    return PageSent(
        action=Action.of(request.form.get("action")),
        valid=valid,
        valid_levels=form.levels(valid_only=True),
        levels=form.levels(valid_only=False),
        comment=form.comment.data or "",
        blocked=bool(form.comment.errors or (form.meta.csrf and "csrf_token" in form.errors)),
    )


def _unit_post(
    sitting: Sitting,
    number: int,
    *,
    page_url: Callable[[int], str],
    form_meta: dict[str, Any],
) -> tuple[Outcome, ViewResult]:
    """A unit page sent (``form_meta`` chooses its CSRF protection,
    :func:`link_form_meta` for links): the step's outcome, stored, and the page."""
    questionnaire = sitting.questionnaire
    form = unit_form(questionnaire, english=_english(), meta=form_meta)
    outcome = _stored(answering.send_page(db.session, sitting, number, _page_sent(form)))
    if outcome.next == Next.PROBLEM:
        return outcome, _problem_page(outcome.error)
    if outcome.next == Next.THANKS:
        return outcome, redirect(_thanks_url(outcome))
    if outcome.notice == Notice.SAVED:
        saved_form = unit_form(
            questionnaire, english=_english(), saved=outcome.saved, formdata=None, meta=form_meta
        )
        notice = _(
            "Your answers are saved. Open the same link again to continue, until the survey closes."
        )
        return outcome, _render_unit(questionnaire, number, saved_form, notice=notice)
    if outcome.invalid:
        return outcome, _render_unit(questionnaire, number, form, status=outcome.status)
    return outcome, redirect(page_url(outcome.page))


# --- invitation links -----------------------------------------------------------


def _read_only_session() -> orm.Session:
    """The request's session for a page that only reads: its statements run in
    autocommit, so no BEGIN and no ROLLBACK (two round trips of a page's four).

    When the request has read already (a signed-in user was loaded), its transaction
    is open and simply goes on.
    """
    if not db.session.in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return db.session


#: The doors answered by a personal link: the step that opens the sitting and the
#: endpoint of its unit pages.  A listed rater's token works like an invitation.
_LINK_DOORS: dict[str, tuple[Callable[..., Any], str]] = {
    "invitation": (answering.open_invitation, "respondent.invitation_unit"),
    "listed": (answering.open_listed, "respondent.listed_unit"),
}


def _link_welcome(door: str, token: str) -> ViewResult:
    open_step, endpoint = _LINK_DOORS[door]
    sitting = open_step(_read_only_session(), token)
    if isinstance(sitting, Outcome):
        return _problem_page(sitting.error)
    outcome = answering.welcome(sitting)
    return render_template(
        "respondent/welcome.html",
        questionnaire=sitting.questionnaire,
        start_url=url_for(endpoint, token=token, number=outcome.page),
        resuming=outcome.resuming,
        channel=door,
    )


def _link_unit(door: str, token: str, number: int) -> ViewResult:
    open_step, _endpoint = _LINK_DOORS[door]
    sitting = open_step(_read_only_session(), token, page=number)
    if isinstance(sitting, Outcome):
        return _problem_page(sitting.error)
    saved = sitting.saved(number)
    if saved is None:
        return _blank_unit_page(sitting.questionnaire, number, token)
    return _render_unit(
        sitting.questionnaire,
        number,
        unit_form(
            sitting.questionnaire,
            english=_english(),
            saved=saved,
            formdata=None,
            meta=link_form_meta(token),
        ),
    )


def _link_unit_post(door: str, token: str, number: int) -> ViewResult:
    open_step, endpoint = _LINK_DOORS[door]
    sitting = open_step(db.session, token, page=number)
    if isinstance(sitting, Outcome):
        return _problem_page(sitting.error)
    _outcome, page = _unit_post(
        sitting,
        number,
        page_url=lambda page: url_for(endpoint, token=token, number=page),
        form_meta=link_form_meta(token),
    )
    return page


@bp.get("/s/<token>")
def invitation(token: str) -> ViewResult:
    return _link_welcome("invitation", token)


@bp.get("/s/<token>/<int:number>")
def invitation_unit(token: str, number: int) -> ViewResult:
    return _link_unit("invitation", token, number)


# The form carries a token bound to the link instead (forms.link_csrf_token): no session.
@csrf.exempt
@bp.post("/s/<token>/<int:number>")
def invitation_unit_post(token: str, number: int) -> ViewResult:
    return _link_unit_post("invitation", token, number)


# --- listed raters' personal tokens ----------------------------------------------


@bp.get("/r/<token>")
def listed(token: str) -> ViewResult:
    return _link_welcome("listed", token)


@bp.get("/r/<token>/<int:number>")
def listed_unit(token: str, number: int) -> ViewResult:
    return _link_unit("listed", token, number)


@csrf.exempt
@bp.post("/r/<token>/<int:number>")
def listed_unit_post(token: str, number: int) -> ViewResult:
    return _link_unit_post("listed", token, number)


def _thanks_url(outcome: Outcome) -> str:
    """The thanks page; after a comment, with the consent to a follow-up (closed loop)."""
    if outcome.commented and outcome.response_id is not None:
        return url_for("respondent.thanks", f=follow_up_views.seal_response(outcome.response_id))
    return url_for("respondent.thanks")


@bp.get("/thanks")
@limiter.exempt  # and in UNLIMITED_ENDPOINTS: the same cached bytes for everyone
def thanks() -> str:
    sealed = request.args.get("f")
    if sealed:
        page = follow_up_views.thanks_with_consent(sealed)
        if page is not None:
            return page
    return _cached_page(
        ("thanks", select_locale(), request.script_root),
        lambda: render_template("respondent/thanks.html"),
    )


# --- open posters ---------------------------------------------------------------


def _sms_ip_limit() -> str:
    return str(current_app.config["RATELIMIT_SMS_IP"])


def _sms_poster_limit() -> str:
    return str(current_app.config["RATELIMIT_SMS_POSTER"])


def _poster_key() -> str:
    return "poster:" + str((request.view_args or {}).get("code", ""))


#: The limiter's key for the SMS codes sent to one number (its keyed hash, never the number).
SMS_NUMBER = "sms-number"


def _limit_sms_number(phone_hash: str) -> None:
    """``RATELIMIT_SMS_NUMBER``, counted in the limiter's storage, so that it holds across
    units, posters, addresses and web processes: rotating any of them sends no more."""
    retry_at = hit_limits(str(current_app.config["RATELIMIT_SMS_NUMBER"]), SMS_NUMBER, phone_hash)
    if retry_at is not None:
        raise TooManyRequests(retry_after=seconds_until(retry_at))


def _show_simulated_sms() -> bool:
    """The demo's stand-in for a phone: only with the simulator, only outside production."""
    config = current_app.config
    return config.get("TELEPHONY") == "simulated" and config.get("ENV_NAME") in (
        "development",
        "testing",
    )


def _poster_pass(code: str) -> PosterPass | None:
    """What this browser keeps for the poster ``code`` (in the signed session cookie)."""
    state = session.get(POSTER_SESSION_KEY)
    if isinstance(state, dict) and state.get("code") == code:
        return PosterPass(code, int(state["verification"]), bool(state.get("verified")))
    return None


def _keep_poster_pass(outcome: Outcome) -> None:
    if outcome.poster_pass is not None:
        kept = outcome.poster_pass
        session[POSTER_SESSION_KEY] = {
            "code": kept.code,
            "verification": kept.verification_id,
            "verified": kept.verified,
        }
    elif outcome.ended:
        session.pop(POSTER_SESSION_KEY, None)


def _open_poster(code: str) -> PosterSitting | ViewResult:
    sitting = answering.open_poster(db.session, code, _poster_pass(code))
    if isinstance(sitting, Outcome):
        return _problem_page(sitting.error)
    return sitting


def _poster_start(sitting: PosterSitting, form: PosterStartForm) -> str:
    return render_template(
        "respondent/poster_start.html",
        poster=sitting.poster,
        questionnaire=sitting.questionnaire,
        form=form,
    )


@bp.get("/q/<code>")
def poster(code: str) -> ViewResult:
    sitting = _open_poster(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    if answering.poster_start(sitting).next == Next.PAGE:
        return redirect(url_for("respondent.poster_rate", code=code))
    return _poster_start(sitting, PosterStartForm())


@bp.post("/q/<code>")
@limited(_sms_ip_limit)
@limited(_sms_poster_limit, key_func=_poster_key)
def poster_post(code: str) -> ViewResult:
    sitting = _open_poster(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    form = PosterStartForm()
    if not form.validate_on_submit():
        return _poster_start(sitting, form), 400
    sent = StartSent(
        honeypot=bool(form.website.data),
        served_here=form.served_here.data == "yes",
        phone=form.phone.data or "",
    )
    outcome = _stored(
        answering.request_code(
            db.session, vault(), telephony(), sitting, sent, before_sending=_limit_sms_number
        )
    )
    if outcome.next == Next.PROBLEM:
        return _problem_page(outcome.error)
    if outcome.next == Next.MESSAGE:
        assert outcome.notice is not None
        title, text = NOTICE_PAGES[outcome.notice]
        return _message(title, text, outcome.status)
    if outcome.invalid:
        form.phone.errors = [
            str(PHONE_MESSAGES.get(problem.message, problem.message))
            for problem in outcome.problems
        ]
        return _poster_start(sitting, form), outcome.status
    _keep_poster_pass(outcome)
    if _show_simulated_sms():
        session["minyi_simulated_sms"] = outcome.sent_code
    return redirect(url_for("respondent.poster_verify", code=code))


def _verify_page(sitting: PosterSitting, form: CodeForm) -> str:
    return render_template(
        "respondent/poster_verify.html",
        poster=sitting.poster,
        form=form,
        simulated_code=session.get("minyi_simulated_sms") if _show_simulated_sms() else None,
    )


@bp.get("/q/<code>/verify")
def poster_verify(code: str) -> ViewResult:
    sitting = _open_poster(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    if answering.code_page(sitting).next == Next.POSTER_START:
        return redirect(url_for("respondent.poster", code=code))
    return _verify_page(sitting, CodeForm())


CODE_MESSAGES = {
    poster_service.CodeCheck.WRONG: _l("The code is not correct. Please check the SMS."),
    poster_service.CodeCheck.EXPIRED: _l("The code has expired. Please ask for a new one."),
    poster_service.CodeCheck.TOO_MANY_ATTEMPTS: _l(
        "Too many wrong codes. Please ask for a new code."
    ),
}


@bp.post("/q/<code>/verify")
def poster_verify_post(code: str) -> ViewResult:
    sitting = _open_poster(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    if answering.code_page(sitting).next == Next.POSTER_START:
        return redirect(url_for("respondent.poster", code=code))
    form = CodeForm()
    if not form.validate_on_submit():
        return _verify_page(sitting, form), 400
    outcome = _stored(answering.check_code(db.session, vault(), sitting, form.code.data or ""))
    if outcome.next == Next.PROBLEM:
        return _problem_page(outcome.error)
    if outcome.next == Next.CODE:
        assert outcome.code_check is not None
        form.code.errors = [str(CODE_MESSAGES[outcome.code_check])]
        return _verify_page(sitting, form), outcome.status
    _keep_poster_pass(outcome)
    session.pop("minyi_simulated_sms", None)
    return redirect(url_for("respondent.poster_rate", code=code))


def _rating(code: str) -> PosterSitting | ViewResult:
    """The poster's sitting ready to rate, or the page to show instead."""
    sitting = answering.open_rating(db.session, code, _poster_pass(code))
    if isinstance(sitting, PosterSitting):
        return sitting
    if sitting.next == Next.POSTER_START:
        return redirect(url_for("respondent.poster", code=code))
    return _problem_page(sitting.error)


@bp.get("/q/<code>/rate")
def poster_rate(code: str) -> ViewResult:
    sitting = _rating(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    questionnaire = sitting.questionnaire
    saved = answering.rating_page(db.session, sitting)
    return _render_unit(
        questionnaire, 1, unit_form(questionnaire, english=_english(), saved=saved, formdata=None)
    )


@bp.post("/q/<code>/rate")
def poster_rate_post(code: str) -> ViewResult:
    sitting = _rating(code)
    if not isinstance(sitting, PosterSitting):
        return sitting
    outcome, page = _unit_post(
        sitting,
        1,
        page_url=lambda _page: url_for("respondent.poster_rate", code=code),
        form_meta={},
    )
    _keep_poster_pass(outcome)
    return page
