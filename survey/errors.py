"""HTTP errors as pages a citizen can read, Chinese first; under the JSON API, as JSON.

Werkzeug's own error pages are English and say nothing a respondent on a phone
can act on.  One handler for every ``HTTPException`` keeps a single place for
the choice between the API's JSON error body (the OpenAPI file's ``Error``)
and the HTML page.  The page never touches the database, so it renders during
an outage (:mod:`survey.outage` sends 503s through here too).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from survey.results import API_PREFIX

#: What to tell a person when the view gave no explanation of its own.
_EXPLANATIONS = {
    400: _l("The request could not be understood. Go back and try again."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist. Check the address, or scan the code again."),
    405: _l("This page cannot be used this way."),
    409: _l("This has already been done."),
    413: _l("What you sent is too large."),
    429: _l("Too many requests. Please wait a moment and try again."),
    503: _l("The service is temporarily unavailable. Please try again in a moment."),
}

_TITLES = {
    400: _l("Bad request"),
    403: _l("No access"),
    404: _l("Page not found"),
    405: _l("Not allowed"),
    409: _l("Already done"),
    413: _l("Too large"),
    429: _l("Too many requests"),
    503: _l("Temporarily unavailable"),
}


def _explanation(error: HTTPException) -> str:
    # A view that aborts with its own (translated) description knows better than we do.
    if error.description and error.description != type(error).description:
        return str(error.description)
    code = error.code or 500
    return str(_EXPLANATIONS.get(code, error.description or error.name))


def _is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def handle_http_error(error: HTTPException) -> HTTPException | tuple[Response | str, int]:
    """Answer ``error`` as JSON under the API prefix and as a Chinese-first page elsewhere."""
    if error.code is None:
        return error
    if _is_api_request():
        response = jsonify(
            {
                "status": error.code,
                "error": error.name.lower().replace(" ", "_"),
                "message": _explanation(error),
            }
        )
    else:
        page = render_template(
            "errors/http.html",
            code=error.code,
            title=_TITLES.get(error.code, error.name),
            explanation=_explanation(error),
        )
        response = Response(page, mimetype="text/html")
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, error.code


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
