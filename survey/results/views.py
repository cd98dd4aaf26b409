"""Public results pages, JSON API and XLSX download (GET only).

The category pages and the JSON API are the most read pages of the site on
publication day, and what they show changes only when something is published
or an appeal is filed or decided.  Each request therefore makes one cheap
query for the cycle's *state* (its name and status, the id of the snapshot in
force, and a summary of its appeals) and reuses the bytes rendered earlier for
the same state: a new snapshot or appeal changes the state, so nothing stale is
ever served.  Responses carry an ETag of the state for conditional requests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from survey.extensions import db
from survey.i18n import select_locale
from survey.models import Appeal, Cycle, ResultSnapshot
from survey.results import api, bp, charts
from survey.results.export import snapshot_workbook
from survey.results.report import AppealLine, report_pdf
from survey.services import appeals, publication
from survey.services.methods import MethodsStatement, methods_statement

GRADE_LABELS = {
    "first": _l("First grade"),
    "second": _l("Second grade"),
    "third": _l("Third grade"),
    "excellent": _l("Excellent"),
    "competent": _l("Competent"),
    "basically_competent": _l("Basically competent"),
    "incompetent": _l("Incompetent"),
}

SAMPLING_KIND_LABELS = {
    "probability": _l("Random sample"),
    "self_selected": _l("Self-selected (open QR codes at service points)"),
    "listed": _l("Everyone on a list"),
}

SELECTION_LABELS = {
    "srswor": _l("simple random sampling without replacement within strata"),
    "pps": _l("probability proportional to size within strata"),
}

ALLOCATION_LABELS = {
    "proportional": _l("proportional allocation"),
    "neyman": _l("Neyman allocation"),
    "equal": _l("equal allocation"),
    "optimal": _l("optimal allocation"),
}

DONT_KNOW_LABELS = {
    "exclude": _l("left out of the score"),
    "count_in_base": _l("kept in the base of the satisfaction rate, never satisfied"),
}

APPEAL_LABELS = {
    "pending": _l("Pending"),
    "upheld": _l("Upheld"),
    "rejected": _l("Rejected"),
}

REASON_LABELS = {
    "quota": _l("By quota"),
    "tie_at_boundary": _l("Tied at a grade boundary: shares the better grade"),
    "bottom_of_category": _l("Bottom of the category"),
    "democratic_bottom": _l("Bottom in the democratic evaluation"),
    "target_below_threshold": _l("Quantitative target below 60%"),
    "one_third_rule": _l("More than one third unfavourable votes"),
    "constraint_veto": _l("Constraint indicator failed (veto)"),
}


#: Rendered bodies kept per web process (pages × locales × states; a few MB at most).
CACHE_ENTRIES = 256
CycleState = tuple[Any, ...]


class RenderedCache:
    """A small LRU of rendered bodies, per application (tests run several side by side)."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self.lock:
            body = self.entries.get(key)
            if body is not None:
                self.entries.move_to_end(key)
            return body

    def put(self, key: tuple[Any, ...], body: bytes) -> None:
        with self.lock:
            self.entries[key] = body
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


def rendered_cache(app: Flask) -> RenderedCache:
    cache = app.extensions.get("minyi_results_cache")
    if cache is None:
        cache = app.extensions.setdefault("minyi_results_cache", RenderedCache())
    assert isinstance(cache, RenderedCache)
    return cache


@functools.cache
def _state_query() -> sa.Select[Any]:
    """Built once: constructing the statement costs more than running it."""
    cycle_id = sa.bindparam("cycle_id", type_=sa.Integer)
    of_cycle = (
        sa.select(Appeal.id, Appeal.decided_at)
        .join(ResultSnapshot, Appeal.snapshot_id == ResultSnapshot.id)
        .where(ResultSnapshot.cycle_id == cycle_id)
        .subquery()
    )

    def summary(aggregate: Any) -> Any:
        return sa.select(aggregate).select_from(of_cycle).scalar_subquery()

    latest = (
        sa.select(ResultSnapshot.id)
        .where(ResultSnapshot.cycle_id == cycle_id)
        .order_by(ResultSnapshot.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Any cycle's newest snapshot: the year-on-year chart shows earlier cycles' results.
    newest_anywhere = sa.select(sa.func.max(ResultSnapshot.id)).scalar_subquery()
    return sa.select(
        Cycle.name,
        Cycle.status,
        latest,
        newest_anywhere,
        summary(sa.func.count(of_cycle.c.id)),
        summary(sa.func.max(of_cycle.c.id)),
        summary(sa.func.count(of_cycle.c.decided_at)),
        summary(sa.func.max(of_cycle.c.decided_at)),
    ).where(Cycle.id == cycle_id)


def cycle_state(cycle_id: int) -> CycleState | None:
    """Everything the public pages of a cycle depend on, in one query; ``None``: 404.

    Snapshots and appeals are only ever added, and an appeal changes once (when
    decided), so counts and maxima identify the state.
    """
    # A connection of its own in autocommit: one read needs no transaction to open
    # and roll back (two round trips saved on every cached request).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(_state_query(), {"cycle_id": cycle_id}).one_or_none()
    if row is None or row[2] is None:
        return None
    return tuple(row)


def _etag(key: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:32]


def _cached(key: tuple[Any, ...], mimetype: str, render: Any, *, store: bool = True) -> Response:
    """The body for ``key`` (rendered on a miss), or 304 when the client has it already."""
    etag = _etag(key)
    if store and request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        cache = rendered_cache(current_app)
        body = cache.get(key) if store else None
        if body is None:
            rendered = render()
            body = rendered.encode() if isinstance(rendered, str) else bytes(rendered)
            if store:
                cache.put(key, body)
        response = Response(body, mimetype=mimetype)
    if store:
        response.set_etag(etag)
        # Anyone may keep a copy, but must ask again before using it: an appeal
        # can replace the result at any time.
        response.headers["Cache-Control"] = "no-cache"
    return response


def _anonymous_page() -> bool:
    """Pages for signed-in users (their menu, a CSRF token) or with messages are not shared."""
    return g.get("user") is None and "_flashes" not in session


def _published(cycle_id: int) -> tuple[Cycle, ResultSnapshot, dict[str, Any]]:
    cycle = db.session.get(Cycle, cycle_id)
    if cycle is None:
        abort(404)
    snapshot = publication.latest_snapshot(db.session, cycle)
    if snapshot is None:
        abort(404)
    return cycle, snapshot, publication.snapshot_data(snapshot)


def _history(cycle: Cycle) -> list[ResultSnapshot]:
    return list(
        db.session.scalars(
            sa.select(ResultSnapshot)
            .where(ResultSnapshot.cycle_id == cycle.id)
            .order_by(ResultSnapshot.version)
        )
    )


@bp.get("/")
def index() -> str:
    snapshots = db.session.scalars(
        sa.select(ResultSnapshot).order_by(ResultSnapshot.cycle_id, ResultSnapshot.version)
    ).all()
    latest: dict[int, ResultSnapshot] = {}
    for snapshot in snapshots:
        latest[snapshot.cycle_id] = snapshot
    cycles = {
        cycle.id: cycle
        for cycle in db.session.scalars(sa.select(Cycle).where(Cycle.id.in_(list(latest))))
    }
    entries = [(cycles[cycle_id], snapshot) for cycle_id, snapshot in latest.items()]
    return render_template("results/index.html", entries=entries)


@bp.get("/<int:cycle_id>/")
def cycle_results(cycle_id: int) -> Any:
    _cycle, _snapshot, data = _published(cycle_id)
    # The first category with units: one without any has no tab either.
    categories = data["outputs"]["categories"]
    first = next((entry for entry in categories if entry["units"]), categories[0])["code"]
    return redirect(url_for("results.category", cycle_id=cycle_id, category_code=first))


@bp.get("/<int:cycle_id>/<category_code>")
def category(cycle_id: int, category_code: str) -> Response:
    state = cycle_state(cycle_id)
    if state is None:
        abort(404)
    key = ("category", cycle_id, category_code, select_locale(), state)
    response = _cached(
        key,
        "text/html",
        lambda: _render_category(cycle_id, category_code),
        store=_anonymous_page(),
    )
    # The language may come from the session cookie.
    response.vary.add("Cookie")
    return response


def _score_history(cycle: Cycle) -> dict[int, dict[str, float]]:
    """Each unit's total in the result in force of every cycle up to ``cycle``'s year."""
    rows = db.session.execute(
        sa.select(Cycle.year, ResultSnapshot.content)
        .join(ResultSnapshot, ResultSnapshot.cycle_id == Cycle.id)
        .where(Cycle.year <= cycle.year)
        .order_by(Cycle.year, ResultSnapshot.cycle_id, ResultSnapshot.version)
    ).all()
    latest: dict[int, str] = {}
    for year, content in rows:  # the last one of a year (its newest version) wins
        latest[year] = content
    history: dict[int, dict[str, float]] = {}
    for year, content in latest.items():
        history[year] = {
            unit["unit"]: unit["total"]["estimate"]
            for category in json.loads(content)["outputs"]["categories"]
            for unit in category["units"]
            if unit.get("total")
        }
    return history


def _charts(
    cycle: Cycle, categories: list[dict[str, Any]], current: dict[str, Any], level: float
) -> dict[str, Any]:
    """The category page's three charts, with their text alternatives in the page's language."""
    present = {unit["grade"] for category in categories for unit in category["units"]}
    grade_order = [grade for grade in GRADE_LABELS if grade in present]
    labels = {code: str(label) for code, label in GRADE_LABELS.items()}
    separator, separator_inner, end = _("; "), _(", "), _(".")
    return {
        "scores": charts.score_chart(
            current,
            grade_labels=labels,
            grade_order=grade_order,
            level=level,
            texts={
                "title": _("%(category)s: total scores with %(level)s%% confidence intervals"),
                "description": _(
                    "Total scores of %(category)s in rank order, with %(level)s%% "
                    "confidence intervals and grades: "
                ),
                "unit_item": _("%(name)s %(score)s (%(low)s–%(high)s), %(grade)s"),
                "separator": separator,
                "end": end,
            },
        ),
        "grades": charts.grade_distribution_chart(
            categories,
            grade_labels=labels,
            grade_order=grade_order,
            texts={
                "title": _("Grades by category"),
                "description": _("Number of units per grade in each category: "),
                "category_item": _("%(category)s: %(counts)s"),
                "count_item": _("%(grade)s %(count)s"),
                "separator": separator,
                "separator_inner": separator_inner,
                "end": end,
            },
        ),
        "history": charts.history_chart(
            current,
            _score_history(cycle),
            texts={
                "title": _("%(category)s: total scores by year"),
                "description": _(
                    "Total scores of the units of %(category)s in each published year: "
                ),
                "unit_item": _("%(name)s %(series)s"),
                "year_item": _("%(year)s %(score)s"),
                "separator": separator,
                "separator_inner": separator_inner,
                "end": end,
            },
        ),
    }


def _render_category(cycle_id: int, category_code: str) -> str:
    cycle, snapshot, data = _published(cycle_id)
    categories = data["outputs"]["categories"]
    current = next((entry for entry in categories if entry["code"] == category_code), None)
    if current is None:
        abort(404)
    groups = {group["code"]: group["name"] for group in data["inputs"]["groups"]}
    codes = {entry["unit"] for entry in current["units"]}
    category_appeals = [
        appeal for appeal in appeals.cycle_appeals(db.session, cycle) if appeal.unit.code in codes
    ]
    return render_template(
        "results/category.html",
        cycle=cycle,
        snapshot=snapshot,
        history=_history(cycle),
        categories=categories,
        category=current,
        outputs=data["outputs"],
        groups=groups,
        decisions=data["inputs"]["decisions"],
        grade_labels=GRADE_LABELS,
        reason_labels=REASON_LABELS,
        level=data["inputs"]["rules"]["level"],
        appeals=category_appeals,
        appeal_labels=APPEAL_LABELS,
        charts=_charts(cycle, categories, current, data["inputs"]["rules"]["level"]),
    )


@bp.get("/<int:cycle_id>/methods")
def methods(cycle_id: int) -> Response:
    """The methods statement (方法说明) of the result in force."""
    state = cycle_state(cycle_id)
    if state is None:
        abort(404)
    key = ("methods", cycle_id, select_locale(), state)
    response = _cached(key, "text/html", lambda: _render_methods(cycle_id), store=_anonymous_page())
    response.vary.add("Cookie")
    return response


def _statement(cycle: Cycle, snapshot: ResultSnapshot) -> MethodsStatement:
    """The methods statement with this deployment's sponsor, pollster and time zone."""
    return methods_statement(
        db.session,
        cycle,
        snapshot,
        sponsor=str(current_app.config["SPONSOR"]),
        pollster=str(current_app.config["POLLSTER"]),
        time_zone=str(current_app.config["TIMEZONE"]),
    )


def _render_methods(cycle_id: int) -> str:
    from survey.office.forms import GRADE_SCHEME_LABELS

    cycle, snapshot, data = _published(cycle_id)
    statement = _statement(cycle, snapshot)
    return render_template(
        "results/methods.html",
        cycle=cycle,
        snapshot=snapshot,
        categories=data["outputs"]["categories"],
        outputs=data["outputs"],
        statement=statement,
        kind_labels=SAMPLING_KIND_LABELS,
        selection_labels=SELECTION_LABELS,
        allocation_labels=ALLOCATION_LABELS,
        dont_know_labels=DONT_KNOW_LABELS,
        scheme_labels=GRADE_SCHEME_LABELS,
    )


@bp.get("/<int:cycle_id>/report.pdf")
def report(cycle_id: int) -> Response:
    """The printable 考核结果通报 of the result in force (the same bytes for the same snapshot)."""
    state = cycle_state(cycle_id)
    if state is None:
        abort(404)
    key = ("report", cycle_id, select_locale(), state)
    response = _cached(key, "application/pdf", lambda: _render_report(cycle_id))
    # Named by the snapshot it shows (state[2]): a later version is a different file.
    response.headers["Content-Disposition"] = f'inline; filename="report-{state[2]}.pdf"'
    return response


def _render_report(cycle_id: int) -> bytes:
    from survey.i18n import channel_label, decision_text, local_date

    cycle, snapshot, data = _published(cycle_id)
    statement = _statement(cycle, snapshot)
    appeal_lines = [
        AppealLine(
            unit=appeal.unit.name,
            filed=local_date(appeal.filed_at),
            status=str(APPEAL_LABELS[appeal.status.value]),
            decision=appeal.decision_reason or "",
        )
        for appeal in appeals.cycle_appeals(db.session, cycle)
    ]
    return report_pdf(
        cycle_name=cycle.name,
        data=data,
        version=snapshot.version,
        sha256=snapshot.sha256,
        published_on=local_date(snapshot.published_at),
        statement=statement,
        appeals=appeal_lines,
        grade_labels={code: str(label) for code, label in GRADE_LABELS.items()},
        reason_labels={code: str(label) for code, label in REASON_LABELS.items()},
        group_names={group["code"]: group["name"] for group in data["inputs"]["groups"]},
        channel_label=channel_label,
        decision_text=decision_text,
        method_labels={
            code: str(label) for code, label in (SELECTION_LABELS | ALLOCATION_LABELS).items()
        },
        translate=_,
    )


@bp.get("/<int:cycle_id>/results.xlsx")
def export_xlsx(cycle_id: int) -> Response:
    cycle, snapshot, data = _published(cycle_id)
    content = snapshot_workbook(
        data,
        sha256=snapshot.sha256,
        labels={code: str(label) for code, label in GRADE_LABELS.items()},
        reason_labels={code: str(label) for code, label in REASON_LABELS.items()},
        version=snapshot.version,
        translate=_,
    )
    filename = f"results-{cycle.year}-v{snapshot.version}.xlsx"
    return Response(
        content,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api.get("/<int:cycle_id>")
def api_results(cycle_id: int) -> Response:
    state = cycle_state(cycle_id)
    if state is None:
        abort(404)
    return _cached(("api", cycle_id, state), "application/json", lambda: _api_body(cycle_id))


def _api_body(cycle_id: int) -> bytes:
    cycle, snapshot, data = _published(cycle_id)
    return jsonify(
        {
            "cycle": {"id": cycle.id, "name": cycle.name, "year": cycle.year},
            "snapshot": {
                "id": snapshot.id,
                "version": snapshot.version,
                "sha256": snapshot.sha256,
                "supersedes": snapshot.supersedes_id,
                # SQLite returns stored UTC times naive; RFC 3339 needs the offset.
                "published_at": (
                    snapshot.published_at
                    if snapshot.published_at.tzinfo is not None
                    else snapshot.published_at.replace(tzinfo=UTC)
                ).isoformat(),
                "reason": snapshot.reason,
            },
            "history": [
                {"id": entry.id, "version": entry.version, "sha256": entry.sha256}
                for entry in _history(cycle)
            ],
            "format": data["format"],
            "smoothing": data["outputs"].get("smoothing"),
            "categories": data["outputs"]["categories"],
        }
    ).get_data()


@api.get("/snapshots/<int:snapshot_id>.json")
def api_snapshot(snapshot_id: int) -> Response:
    """The canonical JSON exactly as hashed, for anyone to verify."""
    snapshot = db.session.get(ResultSnapshot, snapshot_id)
    if snapshot is None:
        abort(404)
    return Response(snapshot.content, mimetype="application/json")
