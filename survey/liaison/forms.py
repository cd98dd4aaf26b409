"""Forms of the liaison pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length


class RectificationForm(FlaskForm):
    text = TextAreaField(_l("Rectification taken"), validators=[DataRequired(), Length(max=5000)])
    request_follow_up = BooleanField(_l("Request a follow-up call-back of consenting respondents"))


class FixForm(FlaskForm):
    text = TextAreaField(_l("What was done"), validators=[DataRequired(), Length(max=5000)])


class AppealForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for the appeal"), validators=[DataRequired(), Length(max=5000)]
    )
    attachments = MultipleFileField(_l("Attachments (PDF, images, DOCX, XLSX; up to 5)"))
