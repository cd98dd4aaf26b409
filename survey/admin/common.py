"""Helpers shared by the admin controllers."""

from __future__ import annotations

from typing import TypeAlias

from flask import abort, flash
from flask_babel import gettext
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from survey.auth.access import current_user
from survey.extensions import db
from survey.models import Cycle
from survey.services.errors import Problem, ServiceError
from survey.services.tabular import csv_text

ViewResult: TypeAlias = str | Response | tuple[str, int]


def get_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def actor() -> str:
    user = current_user()
    return user.username if user is not None else "system"


def report(error: ServiceError, form: FlaskForm | None = None) -> None:
    """Undo the request's changes and show what was wrong.

    A problem that names a field of ``form`` is shown under that field; the
    others are listed below the message.
    """
    db.session.rollback()
    # Messages marked with N_ are in the catalogue; others are shown as written.
    flash(error.text(gettext), "error")
    for problem in error.problems:
        field = form[problem.column] if form is not None and problem.column in form else None
        if field is not None and problem.row is None:
            field.errors = [*field.errors, problem.text(gettext)]
        else:
            flash(located(problem), "problem")


def located(problem: Problem) -> str:
    """``problem`` with where it is, for people: 第 3 行“手机号码”列：…

    The one place the location is worded (``str(problem)`` stays the English of the
    command line).
    """
    text = problem.text(gettext)
    if problem.row is not None and problem.column:
        return gettext(
            "row %(row)d, column “%(column)s”: %(message)s",
            row=problem.row,
            column=problem.column,
            message=text,
        )
    if problem.row is not None:
        return gettext("row %(row)d: %(message)s", row=problem.row, message=text)
    if problem.column:
        return gettext("column “%(column)s”: %(message)s", column=problem.column, message=text)
    return text


def csv_attachment(rows: list[list[object]], filename: str) -> Response:
    """A CSV download that Excel opens in Chinese (UTF-8 with BOM; readers here skip it)."""
    return Response(
        "\ufeff" + csv_text(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
