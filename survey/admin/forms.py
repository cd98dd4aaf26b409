"""WTForms classes of the admin pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from survey.i18n import ROLE_LABELS
from survey.models import DontKnowHandling, ScalePreset
from survey.services.presets import SCALE_PRESET_LABELS


class IrreversibleForm(FlaskForm):
    """A form whose action cannot be undone: the user ticks a box first.

    The page says what cannot be undone next to the box (``confirm_box`` in
    ``_macros.html``); the box is ``required`` in HTML, so a browser without
    JavaScript still asks, and the server refuses a post without it.
    """

    confirmed = BooleanField(
        _l("I understand that this cannot be undone."),
        validators=[DataRequired(message=_l("Tick the box to confirm."))],
    )


class CycleForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(2000, 2100)])
    period_start = DateField(_l("Period start"), validators=[DataRequired()])
    period_end = DateField(_l("Period end"), validators=[DataRequired()])
    scale_preset = SelectField(
        _l("Rating scale"),
        choices=[
            SelectChoice(preset.value, label) for preset, label in SCALE_PRESET_LABELS.items()
        ],
        default=ScalePreset.FIVE_LEVEL.value,
    )
    dont_know_handling = SelectField(
        _l("Don't-know answers"),
        choices=[
            SelectChoice(DontKnowHandling.EXCLUDE.value, _l("Excluded from the base (default)")),
            SelectChoice(DontKnowHandling.COUNT_IN_BASE.value, _l("Counted in the base")),
        ],
        default=DontKnowHandling.EXCLUDE.value,
    )
    min_valid_responses = IntegerField(
        _l("Minimum valid responses per unit and rater group"),
        default=30,
        validators=[DataRequired(), NumberRange(1, 100000)],
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])


class NewCycleForm(CycleForm):
    with_defaults = BooleanField(
        _l("Set up the standard categories, rater groups, items and weights"), default=True
    )


class TransitionForm(IrreversibleForm):
    target = StringField(validators=[DataRequired()])


class CategoryForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])


class UnitForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category_id = SelectField(_l("Category"), coerce=int)
    parent_id = SelectField(_l("Parent unit"), coerce=int, default=0)


#: The encodings an import form offers; "auto" (detected) first and the default.
ENCODING_CHOICES = [
    SelectChoice("auto", _l("Detect automatically")),
    SelectChoice("utf-8", "UTF-8"),
    SelectChoice("gb18030", "GBK / GB18030 (Excel)"),
    SelectChoice("utf-16", _l("UTF-16 (Excel Unicode text)")),
]
UPLOAD_TYPES = FileAllowed(["csv", "xlsx", "txt"], _l("CSV, XLSX or TXT only"))


class ImportForm(FlaskForm):
    file = FileField(_l("File (CSV or XLSX)"), validators=[FileRequired(), UPLOAD_TYPES])
    encoding = SelectField(_l("CSV encoding"), choices=ENCODING_CHOICES, default="auto")


class ItemForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("English name"), validators=[Optional(), Length(max=100)])


class ScaleForm(FlaskForm):
    scale_preset = SelectField(
        _l("Rating scale"),
        choices=[
            SelectChoice(preset.value, label) for preset, label in SCALE_PRESET_LABELS.items()
        ],
    )


ROLE_CHOICES = [SelectChoice(role.value, label) for role, label in ROLE_LABELS.items()]


class UserForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[Optional(), Length(max=100)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    unit_id = SelectField(_l("Unit (liaisons only)"), coerce=int, default=0)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class NewUserForm(UserForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
