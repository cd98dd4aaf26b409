"""The democratic-evaluation ballot (民主测评票), opened with a single-use token."""

from __future__ import annotations

import re

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from survey.admin.common import ViewResult, report
from survey.extensions import db
from survey.services import democratic
from survey.services.errors import ServiceError

bp = Blueprint("ballot", __name__, url_prefix="/ballot")

_OFFICIAL_ID = re.compile(r"[0-9]{1,9}")

VOTE_LABELS = {
    "excellent": _l("Excellent"),
    "competent": _l("Competent"),
    "basically_competent": _l("Basically competent"),
    "incompetent": _l("Incompetent"),
    "dont_know": _l("Don't know"),
}


class BallotForm(FlaskForm):
    """CSRF only; the votes are radio groups named ``official-<id>``."""


@bp.get("/<token>")
def ballot(token: str) -> ViewResult:
    try:
        _row, officials = democratic.open_ballot(db.session, token)
    except ServiceError as error:
        return render_template("results/ballot_closed.html", message=error.text(_)), 404
    return render_template(
        "results/ballot.html",
        token=token,
        officials=officials,
        labels=VOTE_LABELS,
        form=BallotForm(),
        chosen={},
    )


@bp.post("/<token>")
def ballot_submit(token: str) -> ViewResult:
    form = BallotForm()
    votes: dict[int, str] = {}
    for key, value in request.form.items():
        # A multipart part without a name has the key None; "²".isdigit() is true but
        # int() refuses it: only plain ASCII ids (any other key is not a vote).
        number = key.removeprefix("official-") if isinstance(key, str) else ""
        if number != key and _OFFICIAL_ID.fullmatch(number):
            votes[int(number)] = value
    try:
        if not form.validate_on_submit():
            return render_template("results/ballot_closed.html", message=_("Expired form.")), 400
        democratic.submit_ballot(db.session, token, votes)
    except ServiceError as error:
        report(error)
        try:
            _row, officials = democratic.open_ballot(db.session, token)
        except ServiceError as closed:
            return render_template("results/ballot_closed.html", message=closed.text(_)), 409
        return (
            render_template(
                "results/ballot.html",
                token=token,
                officials=officials,
                labels=VOTE_LABELS,
                form=form,
                chosen=votes,
            ),
            400,
        )
    db.session.commit()
    flash(_("Thank you: your ballot has been recorded."), "success")
    return render_template("results/ballot_closed.html", message=""), 200
