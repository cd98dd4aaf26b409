"""Forms of the SMS invitations and of the review (复核) pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from survey.admin.forms import IrreversibleForm
from survey.services.review import DEFAULT_BASE_RATE, DEFAULT_FLAGGED_RATE


class SmsBatchForm(IrreversibleForm):
    """Start a batch of SMS invitations: the pollster ticks the confirmation box."""

    draw_id = SelectField(_l("Sample draw"), coerce=int, validators=[InputRequired()])


class ReviewDrawForm(FlaskForm):
    seed = StringField(_l("Seed (publicly announced numbers)"), validators=[Length(max=200)])
    seed_source = StringField(_l("Public source of the seed"), validators=[Length(max=200)])
    seed_event_date = DateField(_l("Date the source made it public"), validators=[InputRequired()])
    base_rate = FloatField(
        _l("Review share (0–1)"), default=DEFAULT_BASE_RATE, validators=[InputRequired()]
    )
    flagged_rate = FloatField(
        _l("Review share for flagged interviewers (0–1)"),
        default=DEFAULT_FLAGGED_RATE,
        validators=[InputRequired()],
    )
    flagged = TextAreaField(
        _l("Flagged interviewers (one a line)"), validators=[Optional(), Length(max=4000)]
    )


class ReviewResultForm(FlaskForm):
    status = RadioField(
        _l("Outcome"),
        choices=[
            SelectChoice("confirmed", _l("Confirmed")),
            SelectChoice("mismatch", _l("Mismatch")),
            SelectChoice("unreachable", _l("Unreachable")),
        ],
        validators=[InputRequired()],
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])
    void = BooleanField(_l("Void this interview (excluded from scoring)"))
