"""Forms of the office results pages."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    FloatField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from sampling.grading import PRESETS
from survey.admin.forms import IrreversibleForm
from survey.models import Cycle
from survey.services.scoring import (
    SMOOTHING_FAY_HERRIOT,
    SMOOTHING_NONE,
    ResultRules,
    rules_for,
)

#: The grade schemes by the names the offices use, with the code beside them.
GRADE_SCHEME_LABELS = {
    "teams-15-80-5": _l("Leadership teams: first 15%, second 80%, third 5% (teams-15-80-5)"),
    "officials-15-80-4-1": _l(
        "Officials: excellent 15%, competent 80%, basically competent 4%, incompetent 1% "
        "(officials-15-80-4-1)"
    ),
    "awards-3-5-2": _l("Awards: first, second, third as 3:5:2 (awards-3-5-2)"),
}


class ResultChoices:
    """The choices a result depends on; 试算 shows them, publishing stores them."""

    grade_scheme = SelectField(
        _l("Grade scheme"),
        choices=[SelectChoice(name, GRADE_SCHEME_LABELS.get(name, name)) for name in PRESETS],
        default="teams-15-80-5",
    )
    robust_threshold = DecimalField(
        _l("Robustness threshold"),
        places=2,
        default=Decimal("0.80"),
        validators=[Optional(), NumberRange(min=Decimal("0.50"), max=Decimal("0.99"))],
        description=_l(
            "A grade whose probability is below this is marked not robust (from 0.50 to 0.99)."
        ),
    )
    smoothing = SelectField(
        _l("Social-recognition scores"),
        choices=[
            SelectChoice(SMOOTHING_NONE, _l("Direct estimates (no smoothing)")),
            SelectChoice(
                SMOOTHING_FAY_HERRIOT, _l("Fay–Herriot smoothing (borrows strength across units)")
            ),
        ],
        default=SMOOTHING_NONE,
    )
    decision = StringField(
        _l("Decision for units with rater groups below the minimum"),
        validators=[Optional(), Length(max=500)],
        description=_l("Leave empty to refuse publication while such units exist."),
    )

    def rules(self, cycle: Cycle) -> ResultRules:
        """The cycle's rules with these choices (grade scheme, threshold, smoothing)."""
        threshold = self.robust_threshold.data
        return rules_for(
            cycle,
            grade_scheme=self.grade_scheme.data,
            robust_threshold=f"{Decimal(threshold if threshold is not None else '0.80'):.2f}",
            smoothing=self.smoothing.data,
        )


class TrialForm(ResultChoices, FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing


class PublishForm(ResultChoices, IrreversibleForm):
    pass


class DecideForm(IrreversibleForm):
    outcome = RadioField(
        _l("Decision"),
        choices=[SelectChoice("rejected", _l("Reject")), SelectChoice("upheld", _l("Uphold"))],
        validators=[DataRequired()],
    )
    reason = TextAreaField(_l("Written reason"), validators=[DataRequired(), Length(max=5000)])
    component = SelectField(_l("Correct component (optional)"), choices=[], validate_choice=False)
    score = FloatField(_l("Corrected score"), validators=[Optional(), NumberRange(min=0, max=100)])
    vetoed = BooleanField(_l("Constraint indicator failed (veto)"))


class OfficialForm(FlaskForm):
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False)
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    title = StringField(_l("Position"), validators=[Optional(), Length(max=100)])


class TokensForm(FlaskForm):
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False)
    count = IntegerField(_l("Number of raters"), validators=[DataRequired(), NumberRange(1, 500)])


class WorkingDaysForm(FlaskForm):
    working_days = SelectField(
        _l("Time limit for units to deal with a comment"),
        choices=[
            SelectChoice("7", _l("7 working days")),
            SelectChoice("15", _l("15 working days")),
        ],
        validators=[DataRequired()],
    )
