"""Flask extensions, created unbound and initialised in :func:`survey.create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
csrf = CSRFProtect()
babel = Babel()
