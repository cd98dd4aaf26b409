"""Anonymised microdata downloads for the pollster and the office (SPSS, Stata, CSV)."""

from __future__ import annotations

from flask import Response, abort, current_app
from flask_babel import gettext as _

from survey.admin.common import get_cycle
from survey.extensions import db
from survey.fieldwork import bp
from survey.i18n import CHANNEL_LABELS
from survey.services import microdata as microdata_service
from survey.services.errors import ServiceError

MIMETYPES = {
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "csv": "text/csv; charset=utf-8",
}


def _data(cycle_id: int) -> microdata_service.Microdata:
    """The cycle's microdata; a cycle still in fieldwork is refused (409) with the reason."""
    cycle = get_cycle(cycle_id)
    try:
        return microdata_service.microdata(
            db.session,
            cycle,
            key=str(current_app.config["SECRET_KEY"]).encode(),
            translate=_,
            channel_names={str(code.value): str(label) for code, label in CHANNEL_LABELS.items()},
            time_zone=str(current_app.config["TIMEZONE"]),
        )
    except ServiceError as error:
        abort(409, description=error.text(_))


@bp.get("/cycles/<int:cycle_id>/microdata.<file_format>")
def microdata(cycle_id: int, file_format: str) -> Response:
    if file_format not in microdata_service.FORMATS:
        abort(404)
    data = _data(cycle_id)
    return Response(
        microdata_service.write(data, file_format),
        mimetype=MIMETYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="microdata-{cycle_id}.{file_format}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/cycles/<int:cycle_id>/microdata-codebook.csv")
def microdata_codebook(cycle_id: int) -> Response:
    data = _data(cycle_id)
    return Response(
        microdata_service.codebook(data),
        mimetype=MIMETYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="codebook-{cycle_id}.csv"'},
    )
