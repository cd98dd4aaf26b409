"""Helpers shared by the admin controllers."""

from __future__ import annotations

from typing import TypeAlias

from flask import abort, flash
from werkzeug.wrappers import Response

from survey.auth.access import current_user
from survey.extensions import db
from survey.models import Cycle
from survey.services.errors import ServiceError

ViewResult: TypeAlias = str | Response | tuple[str, int]


def get_cycle(cycle_id: int) -> Cycle:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    return cycle


def actor() -> str:
    user = current_user()
    return user.username if user is not None else "system"


def report(error: ServiceError) -> None:
    """Undo the request's changes and show what was wrong."""
    db.session.rollback()
    flash(error.message, "error")
    for problem in error.problems:
        flash(str(problem), "problem")
