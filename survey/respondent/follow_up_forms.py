"""Forms of the closed loop's citizen pages (consent, rating the fix)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length


class ConsentForm(FlaskForm):
    agree = BooleanField(
        _l("I agree to be contacted once about how my comment was dealt with"),
        validators=[DataRequired()],
    )
    phone = StringField(_l("Mobile number"), validators=[InputRequired(), Length(max=30)])


class RatingForm(FlaskForm):
    rating = RadioField(
        _l("How satisfied are you with the fix?"),
        choices=[
            SelectChoice("5", _l("5 – very satisfied")),
            SelectChoice("4", _l("4 – satisfied")),
            SelectChoice("3", _l("3 – fair")),
            SelectChoice("2", _l("2 – dissatisfied")),
            SelectChoice("1", _l("1 – very dissatisfied")),
        ],
        validators=[InputRequired()],
    )
