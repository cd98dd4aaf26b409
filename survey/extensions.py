"""Flask extensions, created unbound and initialised in :func:`survey.create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
csrf = CSRFProtect()
babel = Babel()
#: Rate limits on public endpoints (DESIGN §5).  Storage comes from
#: ``MINYI_RATELIMIT_STORAGE_URI`` (``memory://`` by default; ``redis://…`` when
#: several web processes must share the counts).  Behind a proxy, wrap the app
#: in ``werkzeug.middleware.proxy_fix.ProxyFix`` so the client address is real.
limiter = Limiter(key_func=get_remote_address)
