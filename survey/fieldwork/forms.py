"""Forms of the pollster pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from survey.admin.forms import ENCODING_CHOICES, UPLOAD_TYPES, IrreversibleForm


class FrameImportForm(FlaskForm):
    name = StringField(_l("Frame name"), validators=[DataRequired(), Length(max=200)])
    rater_group_id = SelectField(_l("Rater group"), coerce=int)
    file = FileField(_l("File (CSV or XLSX)"), validators=[FileRequired(), UPLOAD_TYPES])
    encoding = SelectField(_l("CSV encoding"), choices=ENCODING_CHOICES, default="auto")
    # Blank: found from the file's own headers (编号, 手机号码, 区县 …); the preview
    # shows what was found before anything is stored.
    id_column = StringField(_l("Id column"), validators=[Optional(), Length(max=100)])
    phone_column = StringField(_l("Phone column"), validators=[Optional(), Length(max=100)])
    strata_columns = StringField(
        _l("Stratum columns (comma-separated)"), validators=[Optional(), Length(max=400)]
    )
    size_column = StringField(_l("Size column (PPS only)"), validators=[Optional()])


METHOD_CHOICES = [
    SelectChoice("proportional", _l("Proportional to N_h")),
    SelectChoice("equal", _l("Equal per stratum")),
]


class DesignForm(FlaskForm):
    method = SelectField(_l("Allocation"), choices=METHOD_CHOICES, default="proportional")
    total = IntegerField(_l("Total sample size n"), validators=[Optional(), NumberRange(1)])
    margin = DecimalField(
        _l("…or target margin of error per stratum (e.g. 0.05)"),
        places=4,
        validators=[Optional(), NumberRange(0.001, 0.5)],
    )
    response_rate = DecimalField(
        _l("Expected response rate"),
        places=3,
        default=1,
        validators=[DataRequired(), NumberRange(0.01, 1)],
    )
    minimum = IntegerField(
        _l("Minimum per stratum"), default=0, validators=[Optional(), NumberRange(0)]
    )
    reserve_batches = IntegerField(
        _l("Reserve batches"), default=2, validators=[Optional(), NumberRange(0, 20)]
    )


class DrawForm(DesignForm, IrreversibleForm):
    """The design plus the public seed: never generated here, so nobody at the
    pollster can know it before the frame's hash is out."""

    seed_source = StringField(
        _l("Public source of the seed"),
        description=_l("e.g. China Welfare Lottery Double Color Ball, draw 2026141"),
        validators=[DataRequired(), Length(max=200)],
    )
    seed_event_date = DateField(_l("Date the source announced it"), validators=[DataRequired()])
    seed = StringField(
        _l("Seed: the numbers exactly as announced"),
        validators=[DataRequired(), Length(max=200)],
    )


class ReleaseForm(IrreversibleForm):
    stratum = StringField(validators=[DataRequired()])


class LockForm(IrreversibleForm):
    """Locking fixes the frame's contents and its hash for good."""


class DoNotCallForm(FlaskForm):
    numbers = TextAreaField(_l("Phone numbers, one per line"), validators=[DataRequired()])
