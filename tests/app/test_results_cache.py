"""The cached public results: fast, and never stale.

The category pages and the JSON API reuse rendered bytes while the cycle's
state (snapshot in force, appeals, name and status) is unchanged.  These tests
change that state through the services, as the office does, and check that
the very next request shows the change, in every language and for the API.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import Appeal, Cycle, ResultSnapshot, Unit
from survey.results.views import rendered_cache
from survey.services import appeals, publication
from tests.app.helpers import login

PAGE = "law_enforcement"  # holds L05 (市应急管理局), third grade by its veto


def _cycle_id(app: Flask) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Cycle.id).where(Cycle.year == 2025))
        assert isinstance(found, int)
        return found


def _grade(payload: dict[str, object], code: str) -> str:
    for category in payload["categories"]:  # type: ignore[attr-defined]
        for unit in category["units"]:
            if unit["unit"] == code:
                return str(unit["grade"])
    raise AssertionError(code)


def _file_appeal(app: Flask, *, decide: str | None = None) -> None:
    """File an appeal for L05 and optionally decide it (``"upheld"`` or ``"rejected"``)."""
    with app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
        snapshot = publication.latest_snapshot(db.session, cycle)
        assert snapshot is not None
        unit = db.session.scalars(
            sa.select(Unit).where(Unit.cycle_id == cycle.id, Unit.code == "L05")
        ).one()
        appeal = appeals.file_appeal(
            db.session, snapshot, unit, reason="事故不属于本单位责任", actor="liaison"
        )
        if decide == "upheld":
            appeals.decide_appeal(
                db.session,
                appeal,
                upheld=True,
                reason="复核属实，撤销一票否决",
                actor="admin",
                corrections=[appeals.Correction("annual", "L05", 88.0)],
            )
        elif decide == "rejected":
            appeals.decide_appeal(
                db.session, appeal, upheld=False, reason="事故认定书合法有效", actor="admin"
            )
        db.session.commit()


def _versions(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ResultSnapshot.version)))


def test_new_snapshot_from_an_upheld_appeal_is_served_at_once(results_app: Flask) -> None:
    client = results_app.test_client()
    identifier = _cycle_id(results_app)
    page_url, api_url = f"/results/{identifier}/{PAGE}", f"/api/results/{identifier}"
    first_page, first_api = client.get(page_url), client.get(api_url)
    assert first_page.status_code == first_api.status_code == 200
    before = first_api.get_json()
    assert before["snapshot"]["version"] == 1 and _grade(before, "L05") == "third"
    # Served again from the cache: same bytes, same validator, an entry per page.
    again_page, again_api = client.get(page_url), client.get(api_url)
    assert again_page.data == first_page.data and again_api.data == first_api.data
    assert again_page.headers["ETag"] == first_page.headers["ETag"]
    assert len(rendered_cache(results_app).entries) == 2

    _file_appeal(results_app, decide="upheld")
    assert _versions(results_app) == [1, 2]

    after = client.get(api_url).get_json()
    assert after["snapshot"]["version"] == 2
    assert after["snapshot"]["sha256"] != before["snapshot"]["sha256"]
    assert _grade(after, "L05") != "third"
    assert [entry["version"] for entry in after["history"]] == [1, 2]
    page = client.get(page_url)
    text = page.get_data(as_text=True)
    # The full hash is shown for the snapshot in force only (the history shows prefixes).
    assert after["snapshot"]["sha256"] in text and before["snapshot"]["sha256"] not in text
    assert "复核属实，撤销一票否决" in text
    # A browser holding the old page must not be told it is still fresh.
    stale = client.get(page_url, headers={"If-None-Match": first_page.headers["ETag"]})
    assert stale.status_code == 200 and stale.headers["ETag"] != first_page.headers["ETag"]
    stale_api = client.get(api_url, headers={"If-None-Match": first_api.headers["ETag"]})
    assert stale_api.status_code == 200 and stale_api.get_json()["snapshot"]["version"] == 2


def test_appeals_without_a_new_snapshot_show_at_once(results_app: Flask) -> None:
    client = results_app.test_client()
    page_url = f"/results/{_cycle_id(results_app)}/{PAGE}?lang=en"
    assert "Pending" not in client.get(page_url).get_data(as_text=True)
    _file_appeal(results_app)
    assert "Pending" in client.get(page_url).get_data(as_text=True)
    with results_app.app_context():
        appeal = db.session.scalars(sa.select(Appeal)).one()
        appeals.decide_appeal(
            db.session, appeal, upheld=False, reason="事故认定书合法有效", actor="admin"
        )
        db.session.commit()
    text = client.get(page_url).get_data(as_text=True)
    assert "Rejected" in text and "事故认定书合法有效" in text and "Pending" not in text
    assert _versions(results_app) == [1]


def test_conditional_requests_get_304_until_the_state_changes(results_app: Flask) -> None:
    client = results_app.test_client()
    api_url = f"/api/results/{_cycle_id(results_app)}"
    first = client.get(api_url)
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    unchanged = client.get(api_url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    _file_appeal(results_app)
    changed = client.get(api_url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and json.loads(changed.data)["snapshot"]["version"] == 1


def test_languages_and_signed_in_pages_are_never_mixed_up(results_app: Flask) -> None:
    anonymous: FlaskClient = results_app.test_client()
    page_url = f"/results/{_cycle_id(results_app)}/{PAGE}"
    chinese = anonymous.get(page_url).get_data(as_text=True)
    english = anonymous.get(page_url + "?lang=en").get_data(as_text=True)
    assert "三等" in chinese and "Third grade" in english and "三等" not in english
    admin = results_app.test_client()
    login(admin, "admin")
    signed_in = admin.get(page_url)
    assert "/auth/logout" in signed_in.get_data(as_text=True)
    assert "ETag" not in signed_in.headers
    # The anonymous copy is unchanged by the admin's visit, and never shows a sign-out form.
    assert anonymous.get(page_url).get_data(as_text=True) == chinese
    assert "/auth/logout" not in chinese
