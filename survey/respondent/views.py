"""Views of the respondent pages: welcome, one page per unit, submit, thanks.

Each view commits at most once.  Anything that cannot be answered (unknown,
used or expired link, wrong code …) gets its own clear page and changes
nothing, except a wrong SMS code, which must count as an attempt.
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
from survey.models import Poster, PosterVerification
from survey.privacy import vault
from survey.respondent import bp
from survey.respondent.forms import (
    CodeForm,
    PosterStartForm,
    UnitPageForm,
    link_csrf_token,
    link_form_meta,
    unit_form,
)
from survey.services import posters as poster_service
from survey.services import responses as response_service
from survey.services.errors import ServiceError
from survey.services.responses import (
    ALREADY_ANSWERED,
    EXPIRED,
    NOT_OPEN,
    UNKNOWN,
    Answers,
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


def _english() -> bool:
    return select_locale() == "en"


def _message(title: Any, text: Any, status: int = 200) -> tuple[str, int]:
    return render_template("respondent/message.html", title=title, text=text), status


def _problem_page(error: RespondentError) -> tuple[str, int]:
    db.session.rollback()
    status, title, text = PROBLEM_PAGES[error.reason]
    return _message(title, text, status)


def _unit_at(questionnaire: Questionnaire, number: int) -> Any:
    if not 1 <= number <= len(questionnaire.units):
        return None
    return questionnaire.units[number - 1]


def _first_open_page(questionnaire: Questionnaire, answers: Answers) -> int:
    for number, unit in enumerate(questionnaire.units, start=1):
        if unit.id not in answers or not answers[unit.id].is_complete(questionnaire):
            return number
    return len(questionnaire.units)


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


def _handle_unit_post(
    questionnaire: Questionnaire,
    number: int,
    *,
    owner: dict[str, int],
    page_url: Callable[[int], str],
    submit: Callable[[Answers], int],
    is_answered: Callable[[], bool],
    draft: Callable[[], Answers],
    form_meta: dict[str, Any],
) -> ViewResult:
    """One unit page sent: back / save keep what is valid; next / submit need it all.

    ``form_meta`` chooses the page's CSRF protection (:func:`link_form_meta` for links).
    """
    unit = questionnaire.units[number - 1]
    action = request.form.get("action", "next")
    form = unit_form(questionnaire, english=_english(), meta=form_meta)
    valid = form.validate_on_submit()
    if action in ("back", "save"):
        if form.comment.errors or (form.meta.csrf and "csrf_token" in form.errors):
            return _render_unit(questionnaire, number, form, status=400)
        unit_answers = response_service.parse_unit_answers(
            questionnaire,
            unit.id,
            form.levels(valid_only=True),
            form.comment.data or "",
            require_all=False,
        )
        response_service.save_draft(db.session, unit.id, unit_answers, **owner)
        db.session.commit()
        if action == "back":
            return redirect(page_url(max(1, number - 1)))
        return _render_unit(
            questionnaire,
            number,
            unit_form(
                questionnaire,
                english=_english(),
                saved=unit_answers,
                formdata=None,
                meta=form_meta,
            ),
            notice=_(
                "Your answers are saved. Open the same link again to continue, "
                "until the survey closes."
            ),
        )
    if not valid:
        return _render_unit(questionnaire, number, form, status=400)
    try:
        unit_answers = response_service.parse_unit_answers(
            questionnaire,
            unit.id,
            form.levels(valid_only=False),
            form.comment.data or "",
            require_all=True,
        )
    except ServiceError:
        db.session.rollback()
        return _render_unit(questionnaire, number, form, status=400)
    if number < len(questionnaire.units):
        response_service.save_draft(db.session, unit.id, unit_answers, **owner)
        db.session.commit()
        return redirect(page_url(number + 1))
    # The last page: merge in memory and submit; the draft row is only written
    # when something is still missing, so parallel submits never fight over it.
    answers = dict(draft())
    answers[unit.id] = unit_answers
    try:
        response_service.check_complete(questionnaire, answers)
    except ServiceError:
        # Missing answers may mean a parallel request has just submitted (and
        # deleted the draft): then this one is a resubmission.
        if is_answered():
            return _problem_page(RespondentError(ALREADY_ANSWERED, "answered in parallel"))
        try:
            response_service.save_draft(db.session, unit.id, unit_answers, **owner)
            db.session.commit()
        except (sa.exc.IntegrityError, StaleDataError):
            db.session.rollback()
            return _problem_page(RespondentError(ALREADY_ANSWERED, "answered in parallel"))
        return redirect(page_url(_first_open_page(questionnaire, answers)))
    try:
        submit(answers)
        db.session.commit()
    except RespondentError as error:
        return _problem_page(error)
    except (sa.exc.IntegrityError, StaleDataError):
        # Lost a race the conditional update did not see (the unique
        # constraints held): whoever won has answered.
        db.session.rollback()
        return _problem_page(RespondentError(ALREADY_ANSWERED, "answered in parallel"))
    return redirect(url_for("respondent.thanks"))


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


@bp.get("/s/<token>")
def invitation(token: str) -> ViewResult:
    try:
        _case, questionnaire, answers = response_service.open_invitation_with_draft(
            _read_only_session(), token
        )
    except RespondentError as error:
        return _problem_page(error)
    return render_template(
        "respondent/welcome.html",
        questionnaire=questionnaire,
        start_url=url_for(
            "respondent.invitation_unit",
            token=token,
            number=_first_open_page(questionnaire, answers),
        ),
        resuming=bool(answers),
        channel="invitation",
    )


@bp.get("/s/<token>/<int:number>")
def invitation_unit(token: str, number: int) -> ViewResult:
    try:
        _case, questionnaire, answers = response_service.open_invitation_with_draft(
            _read_only_session(), token
        )
    except RespondentError as error:
        return _problem_page(error)
    unit = _unit_at(questionnaire, number)
    if unit is None:
        return _problem_page(RespondentError(UNKNOWN, "no such page"))
    saved = answers.get(unit.id)
    if saved is None:
        return _blank_unit_page(questionnaire, number, token)
    return _render_unit(
        questionnaire,
        number,
        unit_form(
            questionnaire,
            english=_english(),
            saved=saved,
            formdata=None,
            meta=link_form_meta(token),
        ),
    )


# The form carries a token bound to the link instead (forms.link_csrf_token): no session.
@csrf.exempt
@bp.post("/s/<token>/<int:number>")
def invitation_unit_post(token: str, number: int) -> ViewResult:
    try:
        case, questionnaire, answers = response_service.open_invitation_with_draft(
            db.session, token
        )
    except RespondentError as error:
        return _problem_page(error)
    if _unit_at(questionnaire, number) is None:
        return _problem_page(RespondentError(UNKNOWN, "no such page"))
    return _handle_unit_post(
        questionnaire,
        number,
        owner={"case_id": case.id},
        page_url=lambda page: url_for("respondent.invitation_unit", token=token, number=page),
        submit=lambda complete: response_service.submit_invitation(
            db.session, case, questionnaire, complete, had_draft=bool(answers)
        ),
        is_answered=lambda: response_service.case_answered(db.session, case.id),
        draft=lambda: answers,
        form_meta=link_form_meta(token),
    )


@bp.get("/thanks")
@limiter.exempt  # and in UNLIMITED_ENDPOINTS: the same cached bytes for everyone
def thanks() -> str:
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


def _pending(code: str) -> dict[str, Any] | None:
    state = session.get(POSTER_SESSION_KEY)
    if isinstance(state, dict) and state.get("code") == code:
        return state
    return None


def _verification(poster: Poster, *, verified: bool) -> PosterVerification | None:
    state = _pending(poster.code)
    if state is None or (verified and not state.get("verified")):
        return None
    verification = db.session.get(PosterVerification, int(state["verification"]))
    if (
        verification is None
        or verification.cycle_id != poster.cycle_id
        or verification.unit_id != poster.unit_id
    ):
        return None
    return verification


def _poster_start(poster: Poster, questionnaire: Questionnaire, form: PosterStartForm) -> str:
    return render_template(
        "respondent/poster_start.html", poster=poster, questionnaire=questionnaire, form=form
    )


@bp.get("/q/<code>")
def poster(code: str) -> ViewResult:
    try:
        poster, questionnaire = poster_service.open_poster(db.session, code)
    except RespondentError as error:
        return _problem_page(error)
    verification = _verification(poster, verified=True)
    if verification is not None and verification.completed_at is None:
        return redirect(url_for("respondent.poster_rate", code=code))
    return _poster_start(poster, questionnaire, PosterStartForm())


@bp.post("/q/<code>")
@limited(_sms_ip_limit)
@limited(_sms_poster_limit, key_func=_poster_key)
def poster_post(code: str) -> ViewResult:
    try:
        poster, questionnaire = poster_service.open_poster(db.session, code)
    except RespondentError as error:
        return _problem_page(error)
    form = PosterStartForm()
    if not form.validate_on_submit():
        return _poster_start(poster, questionnaire, form), 400
    if form.website.data:
        return _message(
            _l("Not accepted"),
            _l("This form could not be accepted. Please reload the page and try again."),
            400,
        )
    if form.served_here.data != "yes":
        return _message(
            _l("Thank you"),
            _l(
                "This survey asks people who have just been served here. "
                "Thank you for your interest."
            ),
        )
    try:
        sent = poster_service.request_code(
            db.session,
            vault(),
            telephony(),
            poster,
            form.phone.data or "",
            before_sending=_limit_sms_number,
        )
    except RespondentError as error:
        return _problem_page(error)
    except ServiceError as error:
        db.session.rollback()
        form.phone.errors = [
            str(PHONE_MESSAGES.get(problem.message, problem.message)) for problem in error.problems
        ]
        return _poster_start(poster, questionnaire, form), 400
    db.session.commit()
    session[POSTER_SESSION_KEY] = {
        "code": code,
        "verification": sent.verification.id,
        "verified": False,
    }
    if _show_simulated_sms():
        session["minyi_simulated_sms"] = sent.code
    return redirect(url_for("respondent.poster_verify", code=code))


def _verify_page(poster: Poster, form: CodeForm) -> str:
    return render_template(
        "respondent/poster_verify.html",
        poster=poster,
        form=form,
        simulated_code=session.get("minyi_simulated_sms") if _show_simulated_sms() else None,
    )


@bp.get("/q/<code>/verify")
def poster_verify(code: str) -> ViewResult:
    try:
        poster, _questionnaire = poster_service.open_poster(db.session, code)
    except RespondentError as error:
        return _problem_page(error)
    if _verification(poster, verified=False) is None:
        return redirect(url_for("respondent.poster", code=code))
    return _verify_page(poster, CodeForm())


CODE_MESSAGES = {
    poster_service.CodeCheck.WRONG: _l("The code is not correct. Please check the SMS."),
    poster_service.CodeCheck.EXPIRED: _l("The code has expired. Please ask for a new one."),
    poster_service.CodeCheck.TOO_MANY_ATTEMPTS: _l(
        "Too many wrong codes. Please ask for a new code."
    ),
}


@bp.post("/q/<code>/verify")
def poster_verify_post(code: str) -> ViewResult:
    try:
        poster, _questionnaire = poster_service.open_poster(db.session, code)
    except RespondentError as error:
        return _problem_page(error)
    verification = _verification(poster, verified=False)
    if verification is None:
        return redirect(url_for("respondent.poster", code=code))
    form = CodeForm()
    if not form.validate_on_submit():
        return _verify_page(poster, form), 400
    try:
        outcome = poster_service.check_code(db.session, vault(), verification, form.code.data or "")
    except RespondentError as error:
        return _problem_page(error)
    # The attempt is counted whatever the outcome.
    db.session.commit()
    if outcome != poster_service.CodeCheck.VERIFIED:
        form.code.errors = [str(CODE_MESSAGES[outcome])]
        return _verify_page(poster, form), 400
    session[POSTER_SESSION_KEY] = {"code": code, "verification": verification.id, "verified": True}
    session.pop("minyi_simulated_sms", None)
    return redirect(url_for("respondent.poster_rate", code=code))


def _poster_sitting(code: str) -> tuple[Questionnaire, PosterVerification] | ViewResult:
    try:
        poster, questionnaire = poster_service.open_poster(db.session, code)
    except RespondentError as error:
        return _problem_page(error)
    verification = _verification(poster, verified=True)
    if verification is None:
        return redirect(url_for("respondent.poster", code=code))
    if verification.completed_at is not None:
        return _problem_page(RespondentError(ALREADY_ANSWERED, "answered"))
    return questionnaire, verification


@bp.get("/q/<code>/rate")
def poster_rate(code: str) -> ViewResult:
    sitting = _poster_sitting(code)
    if not isinstance(sitting, tuple) or not isinstance(sitting[1], PosterVerification):
        return sitting
    questionnaire, verification = sitting
    saved = response_service.load_draft(db.session, verification_id=verification.id).get(
        questionnaire.units[0].id
    )
    return _render_unit(
        questionnaire, 1, unit_form(questionnaire, english=_english(), saved=saved, formdata=None)
    )


@bp.post("/q/<code>/rate")
def poster_rate_post(code: str) -> ViewResult:
    sitting = _poster_sitting(code)
    if not isinstance(sitting, tuple) or not isinstance(sitting[1], PosterVerification):
        return sitting
    questionnaire, verification = sitting
    result = _handle_unit_post(
        questionnaire,
        1,
        owner={"verification_id": verification.id},
        page_url=lambda _page: url_for("respondent.poster_rate", code=code),
        submit=lambda answers: response_service.submit_open(
            db.session, verification, questionnaire, answers
        ),
        is_answered=lambda: response_service.verification_answered(db.session, verification.id),
        draft=lambda: response_service.load_draft(db.session, verification_id=verification.id),
        form_meta={},
    )
    if isinstance(result, HttpResponse) and result.location == url_for("respondent.thanks"):
        session.pop(POSTER_SESSION_KEY, None)
    return result
