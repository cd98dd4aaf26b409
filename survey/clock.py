"""The application's clock: the current UTC time, or the configured test clock
(``app.config["CLOCK"]``, a callable).  Needs an app context; services take times
as arguments instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import current_app

from survey.models.base import as_utc, utc_now


def now() -> datetime:
    """The current UTC time, or the configured test clock."""
    clock: Callable[[], datetime] | None = current_app.config.get("CLOCK")
    moment = clock() if clock is not None else utc_now()
    return as_utc(moment)
