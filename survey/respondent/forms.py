"""Respondent forms, built from the questionnaire: one WTForms class per unit page.

No survey has hand-written fields: :func:`unit_form` turns the cycle's items
and scale into radio groups (the levels, don't-know last) and adds the
optional comment.  Field names are ``item_<item id>`` and ``comment``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import RadioField, StringField, TextAreaField
from wtforms.csrf.core import CSRF
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Regexp, ValidationError
from wtforms.widgets import RadioInput

from survey.services.responses import COMMENT_MAX_LENGTH, Questionnaire, UnitAnswers


def _level_id(value: Any) -> int:
    # A tampered value (text, an id from another cycle) becomes -1 and then
    # fails the choice check with our message instead of a coercion error.
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def link_csrf_token(link_token: str) -> str:
    """The CSRF token of an invitation link's forms: an HMAC of the link under the app's key.

    The link itself is the respondent's credential (nothing about it lives in a
    cookie), so a token bound to it protects exactly as much as one bound to a
    session, and needs none: answering by link sets no cookie, and a page left open
    for days can still be sent.  Another link's token, or a made-up one, is refused.
    """
    secret = str(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key)
    message = b"minyi invitation form\x00" + link_token.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class LinkCSRF(CSRF):
    """WTForms CSRF of invitation pages; use through :func:`link_form_meta`."""

    link_token = ""

    def setup_form(self, form: Any) -> Any:
        self.link_token = str(form.meta.csrf_context)
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        return link_csrf_token(self.link_token)

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        expected = link_csrf_token(self.link_token)
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        sent = field.data.encode() if isinstance(field.data, str) else b""
        if not hmac.compare_digest(sent, expected.encode()):
            raise ValidationError(
                str(_l("The page has expired. Please reload it and answer again."))
            )


def link_form_meta(link_token: str) -> dict[str, Any]:
    """Form options of an invitation link's pages (see :func:`link_csrf_token`)."""
    return {"csrf_class": LinkCSRF, "csrf_context": link_token}


class LevelRadioInput(RadioInput):
    """wtforms' radio input, with the same markup, minus its generic attribute machinery.

    A unit page renders 30 radio buttons (5 items × 6 levels); building each one's
    attributes through ``html_params`` (``dir()`` of the flags, sorting, one Markup
    format per attribute) was about a third of the page's CPU time.  Anything other
    than a plain call (extra attributes from a template) goes the generic way.
    """

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        if kwargs or getattr(field, "render_kw", None):
            return Markup(super().__call__(field, **kwargs))
        flags = field.flags
        # Attributes in html_params' (alphabetical) order.
        parts = ["<input"]
        if field.checked:
            parts.append(" checked")
        if getattr(flags, "disabled", False):
            parts.append(" disabled")
        parts.append(f' id="{escape(field.id)}" name="{escape(field.name)}"')
        if getattr(flags, "required", False):
            parts.append(" required")
        parts.append(f' type="radio" value="{escape(field._value())}">')
        return Markup("".join(parts))


class LevelField(RadioField):
    """A scale question; a value outside the scale gets a clear message."""

    option_widget = LevelRadioInput()

    def pre_validate(self, form: Any) -> None:
        allowed = {
            choice.value for choice in self.choices or [] if isinstance(choice, SelectChoice)
        }
        if self.data not in allowed:
            raise ValidationError(str(_l("This answer is not one of the scale's levels.")))


class UnitPageForm(FlaskForm):
    """Base of the generated per-unit forms."""

    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[
            Length(
                max=COMMENT_MAX_LENGTH,
                message=_l(
                    "The comment may have at most %(max)d characters.", max=COMMENT_MAX_LENGTH
                ),
            )
        ],
        render_kw={"rows": 3, "maxlength": COMMENT_MAX_LENGTH},
    )

    def item_fields(self) -> list[LevelField]:
        return [field for field in self if isinstance(field, LevelField)]

    def levels(self, *, valid_only: bool) -> dict[int, int]:
        """Item id → level id of the answered items (only error-free ones if ``valid_only``)."""
        return {
            int(field.name.removeprefix("item_")): int(field.data)
            for field in self.item_fields()
            if field.data is not None and field.raw_data and not (valid_only and field.errors)
        }


def unit_form(
    questionnaire: Questionnaire,
    *,
    english: bool,
    saved: UnitAnswers | None = None,
    **kwargs: Any,
) -> UnitPageForm:
    """The form for one unit page, pre-filled from the draft when there is one."""
    data: dict[str, Any] = {}
    if saved is not None:
        data = {f"item_{item}": level for item, level in saved.levels.items()}
        data["comment"] = saved.comment
    form: UnitPageForm = _form_class(questionnaire, english)(data=data, **kwargs)
    return form


#: Form classes kept per app; more than this starts afresh.
FORM_CLASSES_KEPT = 256


def _form_class(questionnaire: Questionnaire, english: bool) -> type[UnitPageForm]:
    """The generated class, built once per questionnaire and language while it cannot change."""
    if questionnaire.key is None:
        return _build_form_class(questionnaire, english)
    classes: dict[Any, type[UnitPageForm]] = current_app.extensions.setdefault(
        "minyi_unit_forms", {}
    )
    key = (questionnaire.key, english)
    form_class = classes.get(key)
    if form_class is None:
        form_class = _build_form_class(questionnaire, english)
        if len(classes) >= FORM_CLASSES_KEPT:
            classes.clear()
        classes[key] = form_class
    return form_class


def _build_form_class(questionnaire: Questionnaire, english: bool) -> type[UnitPageForm]:
    choices = [
        SelectChoice(level.id, (level.label_en or level.label) if english else level.label)  # type: ignore[arg-type]
        for level in questionnaire.levels
    ]
    attributes: dict[str, Any] = {}
    for item in questionnaire.items:
        attributes[f"item_{item.id}"] = LevelField(
            (item.name_en or item.name) if english else item.name,
            choices=choices,
            coerce=_level_id,
            validators=[InputRequired(message=_l("Please choose an answer."))],
        )
    return type("UnitForm", (UnitPageForm,), attributes)


class PosterStartForm(FlaskForm):
    """Screening question, mobile number, and a honeypot no person fills in."""

    served_here = RadioField(
        _l("Did you just do business here?"),
        choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))],
        validators=[InputRequired(message=_l("Please choose an answer."))],
    )
    phone = StringField(
        _l("Mobile number"),
        validators=[InputRequired(message=_l("Please enter your mobile number."))],
        render_kw={"inputmode": "tel", "autocomplete": "tel", "maxlength": 20},
    )
    # Hidden from people by CSS; bots that fill every field give themselves away.
    website = StringField(
        _l("Leave this field empty"), render_kw={"autocomplete": "off", "tabindex": "-1"}
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("Verification code"),
        validators=[
            InputRequired(message=_l("Please enter the code from the SMS.")),
            Regexp(r"^\s*\d{6}\s*$", message=_l("The code has 6 digits.")),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6},
    )
