"""gunicorn settings for serving minyi: ``gunicorn -c gunicorn.conf.py 'survey:create_app()'``.

Measured choices (docs/benchmarks.md, "System benchmarks", on 2 cores):

* ``gthread`` workers with a few threads each, not the default ``sync``:
  sync workers close the connection after every response, so a browser or a
  proxy reconnects for each request; gthread keeps connections alive and lets
  a worker wait on PostgreSQL for one request while it renders another.  On the
  2-core bench machine this roughly doubled the requests per second of the
  public results pages (about 650 → about 2,000 with 200 readers).
* 2 threads per worker, not 4: with 24 simulated citizens answering at once,
  2 threads completed more QR submissions a second than 1, 3 or 4 in every
  interleaved pair (median about 330 against 265 with 4), at a lower p95, and
  the results pages and IVR webhooks were faster too.  More threads do not
  overlap more work on 2 cores already busy with the app, PostgreSQL and the
  load; they only add GIL hand-offs and context switches.  Two per worker still
  lets one wait on PostgreSQL while the other runs.
* 2 workers per 2 cores: the app is CPU-bound Python; more processes than
  cores only adds context switches.  Scale past one machine by running more
  of these behind a proxy against one PostgreSQL (see docs/benchmarks.md).

Every value can be overridden from the environment (``GUNICORN_WORKERS``,
``GUNICORN_THREADS``, ``GUNICORN_BIND``) or on the command line.
"""

from __future__ import annotations

import os

from sampling.cpu_features import prefer_avx2_sorting

# Set in the master before the workers import the app (and numpy): see the module.
prefer_avx2_sorting()

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
#: Seconds an idle keep-alive connection stays open (a proxy in front usually holds it).
keepalive = 5
#: Room for bursts: connections wait in the kernel's queue, not refused.
backlog = 2048
timeout = 60
graceful_timeout = 30


def post_worker_init(worker: object) -> None:
    """Load the name tagger's dictionary before the worker takes requests.

    Otherwise the first citizen who writes a comment waits about a second for it
    (survey/services/redaction.py); this way each worker loads it once.
    """
    from survey.services.redaction import warm_up

    warm_up()
