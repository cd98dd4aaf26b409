"""The citizen's side of the closed loop (好差评闭环): consent after the survey, rating the fix.

* After a response with a comment, the thanks page asks whether the citizen may be
  asked later how the comment was dealt with (``/thanks?f=…``).  ``f`` is the response
  id sealed with the data key and its time (Fernet): it says nothing readable in a log,
  and it is accepted for :data:`CONSENT_SECONDS` only.
* ``/f/<token>``: the personal link sent when the unit has recorded the fix; the
  citizen rates the fix 1–5 and the phone number is deleted.

Forms are bound to the sealed value or the token for CSRF (like invitation links), so
the pages set no cookie.
"""

from __future__ import annotations

import json

from flask import abort, render_template, request, url_for
from flask_babel import gettext
from flask_babel import gettext as _

from survey.admin.common import ViewResult
from survey.extensions import csrf, db
from survey.privacy import vault
from survey.respondent import bp
from survey.respondent.follow_up_forms import ConsentForm, RatingForm
from survey.respondent.forms import link_form_meta
from survey.services import loop
from survey.services.errors import ValidationError

#: How long after submitting the consent form is accepted.
CONSENT_SECONDS = 3600


def seal_response(response_id: int) -> str:
    """The thanks page's ``f``: the response id, encrypted with its time."""
    return vault().encrypt(json.dumps({"r": response_id}))


def _unseal(sealed: str) -> int | None:
    if not sealed or len(sealed) > 500:
        return None
    try:
        response_id = json.loads(vault().decrypt_recent(sealed, CONSENT_SECONDS))["r"]
    except (ValueError, KeyError, TypeError):
        return None
    return response_id if isinstance(response_id, int) else None


def thanks_with_consent(sealed: str) -> str | None:
    """The thanks page with the consent form, if ``sealed`` is valid; else ``None``."""
    if _unseal(sealed) is None:
        return None
    return _consent_page(sealed, ConsentForm(meta=link_form_meta(sealed)))


def _consent_page(sealed: str, form: ConsentForm, status: int = 200) -> str:
    return render_template("respondent/thanks.html", consent_form=form, sealed=sealed)


@bp.post("/thanks/follow-up")
@csrf.exempt  # the form carries a token bound to the sealed value (link_form_meta)
def follow_up_consent() -> ViewResult:
    sealed = request.form.get("f", "")
    response_id = _unseal(sealed)
    if response_id is None:
        return (
            render_template(
                "respondent/message.html",
                title=_("Link expired"),
                text=_("This page has expired. Thank you for taking part."),
            ),
            400,
        )
    form = ConsentForm(meta=link_form_meta(sealed))
    if not form.validate_on_submit():
        return _consent_page(sealed, form), 400
    try:
        loop.consent(
            db.session, vault(), response_id, form.phone.data or "", today=loop.china_today()
        )
    except ValidationError as error:
        db.session.rollback()
        form.phone.errors = [error.text(gettext)]
        return _consent_page(sealed, form), 400
    db.session.commit()
    return render_template(
        "respondent/message.html",
        title=_("Thank you"),
        text=_(
            "We will send you a link by SMS when the unit has dealt with your comment, "
            "so that you can rate how it was fixed. Your number is kept apart from your "
            "answers and deleted after the follow-up."
        ),
    )


def _follow_up_page(token: str, form: RatingForm, status: int = 200) -> ViewResult:
    opened = loop.open_follow_up(db.session, token)
    if opened is None:
        return (
            render_template(
                "respondent/message.html",
                title=_("Follow-up"),
                text=_("This follow-up link is not valid or has already been used."),
            ),
            404,
        )
    return (
        render_template(
            "respondent/follow_up.html",
            opened=opened,
            form=form,
            action=url_for("respondent.follow_up_rate", token=token),
        ),
        status,
    )


@bp.get("/f/<token>")
def follow_up(token: str) -> ViewResult:
    return _follow_up_page(token, RatingForm(meta=link_form_meta(token)))


@bp.post("/f/<token>")
@csrf.exempt  # the form carries a token bound to the link (link_form_meta)
def follow_up_rate(token: str) -> ViewResult:
    form = RatingForm(meta=link_form_meta(token))
    if not form.validate_on_submit():
        return _follow_up_page(token, form, 400)
    try:
        loop.rate(db.session, token, int(form.rating.data or 0), today=loop.china_today())
    except ValidationError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    return render_template(
        "respondent/message.html",
        title=_("Thank you"),
        text=_("Your rating of the fix has been received. Your phone number has been deleted."),
    )
