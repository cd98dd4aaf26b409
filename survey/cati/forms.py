"""Forms of the interviewer console."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Optional

from survey.i18n import lazy_disposition_label
from survey.models import ScaleLevel
from survey.services import calling
from survey.services import dispositions as codes


class ActionForm(FlaskForm):
    """A button: claim the next case, dial."""


class ResultForm(FlaskForm):
    disposition = SelectField(
        _l("Disposition"),
        choices=[
            SelectChoice(code, lazy_disposition_label(code)) for code in codes.INTERVIEWER_CODES
        ],
        validators=[DataRequired()],
    )
    appointment_at = DateTimeLocalField(
        _l("Appointment (local time)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )


def answer_field_name(step: str) -> str:
    return "answer_" + step.replace("-", "_")


def result_form(questions: Sequence[calling.Question], levels: Sequence[ScaleLevel]) -> ResultForm:
    """The result form with one select per question of the case's script."""

    class CaseResultForm(ResultForm):
        pass

    choices = [SelectChoice("", "—")] + [
        SelectChoice(str(level.id), f"{level.position} {level.label}") for level in levels
    ]
    for question in questions:
        setattr(
            CaseResultForm,
            answer_field_name(question.step),
            SelectField(
                f"{question.unit.name} · {question.item.name}",
                choices=choices,
                validators=[Optional()],
            ),
        )
    return CaseResultForm()


class CallbackForm(FlaskForm):
    reached = BooleanField(_l("Respondent reached"), default=True)
    confirmed = BooleanField(_l("Respondent confirms the interview took place"))
    first_level_id = SelectField(_l("First answer given now"), validators=[Optional()])
    second_level_id = SelectField(_l("Second answer given now"), validators=[Optional()])


class PhoneSettingsForm(FlaskForm):
    """A cycle's calling rules (电话调查设置)."""

    timezone = StringField(_l("Respondents' time zone"), validators=[DataRequired()])
    weekday_start = TimeField(_l("Weekday window opens"), validators=[DataRequired()])
    weekday_end = TimeField(_l("Weekday window closes"), validators=[DataRequired()])
    weekend_start = TimeField(_l("Weekend window opens"), validators=[DataRequired()])
    weekend_end = TimeField(_l("Weekend window closes"), validators=[DataRequired()])
    max_attempts = IntegerField(_l("Maximum attempts per case"), validators=[InputRequired()])
    retry_busy_minutes = IntegerField(
        _l("Retry after busy (minutes)"), validators=[InputRequired()]
    )
    retry_no_answer_minutes = IntegerField(
        _l("Retry after no answer (minutes)"), validators=[InputRequired()]
    )
    retry_machine_minutes = IntegerField(
        _l("Retry after answering machine (minutes)"), validators=[InputRequired()]
    )
    calls_per_minute = IntegerField(_l("Calls per minute"), validators=[InputRequired()])
    max_concurrent_calls = IntegerField(_l("Concurrent calls"), validators=[InputRequired()])
    units_per_interview = IntegerField(_l("Units per interview"), validators=[InputRequired()])
    record_calls = BooleanField(_l("Record calls (announced to the respondent)"))
    recording_retention_days = IntegerField(
        _l("Keep recordings (days)"), validators=[InputRequired()]
    )
    quality_callback_share = FloatField(
        _l("Share of completes for quality call-backs (0–1)"), validators=[InputRequired()]
    )
    partial_min_share = FloatField(
        _l("Share of questions answered for a partial interview (AAPOR 1.2, 0–1)"),
        validators=[InputRequired()],
    )


class CallingDayForm(FlaskForm):
    """A date the office adds to or removes from the calling days (holidays, 调休)."""

    day = DateField(_l("Date"), validators=[DataRequired()])
    calling = SelectField(
        _l("Calls on this day"),
        choices=[
            SelectChoice("yes", _l("Yes (weekday hours)")),
            SelectChoice("no", _l("No calls")),
            SelectChoice("default", _l("As the holiday calendar says")),
        ],
        default="no",
    )
