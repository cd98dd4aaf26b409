"""A database that cannot be reached is a 503 the client may retry, never a 500.

PostgreSQL restarting, failing over or refusing connections surfaces as
SQLAlchemy's ``OperationalError`` (``InterfaceError`` for a connection the
driver already knows is closed).  The request did not commit, so retrying it
is safe; the page says so and ``Retry-After`` tells machines (Twilio, API
clients) when.  The error goes through the app's HTTP error handlers, so the
JSON API answers in its own error format.  Nothing here touches the database:
the page must render while it is down.  And a connection that dies after the
response is ready must not turn that response into a 500 when the session is
closed (:func:`close_session`).
"""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import ServiceUnavailable

#: Seconds a client should wait before retrying (a PostgreSQL restart takes a few).
RETRY_AFTER = 5


def database_unavailable(error: sa.exc.DBAPIError) -> ResponseReturnValue:
    from survey.extensions import db

    current_app.logger.warning(
        "database unavailable during %s %s: %s",
        request.method,
        request.path,
        str(error.orig or error).splitlines()[0],
    )
    # The connection may be gone: the pool then discards it when the session is removed.
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        db.session.rollback()
    unavailable = ServiceUnavailable(
        description=_("The service is temporarily unavailable. Please try again in a moment."),
        retry_after=RETRY_AFTER,
    )
    return current_app.handle_http_exception(unavailable)


def close_session(_error: BaseException | None) -> None:
    """End the request's session without letting a dropped connection turn into a 500.

    The response is ready when this runs; if PostgreSQL went away meanwhile,
    the rollback that closing sends fails.  Whatever the request committed is
    committed, and nothing else was, so the connection is simply discarded.
    """
    from survey.extensions import db

    session = db.session
    try:
        session.close()
    except sa.exc.DBAPIError as error:
        current_app.logger.warning(
            "database connection lost while closing the session: %s",
            str(error.orig or error).splitlines()[0],
        )
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            session.invalidate()


def init_app(app: Flask) -> None:
    """Call after :func:`survey.database.init_app`: teardowns run newest first, so
    :func:`close_session` closes the session before the extension's own teardown does."""
    app.register_error_handler(sa.exc.OperationalError, database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, database_unavailable)
    app.teardown_appcontext(close_session)
