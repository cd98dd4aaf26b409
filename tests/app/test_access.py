"""Every route's access rule, enumerated from the app's URL map.

Each blueprint must appear in ``RULES`` (the roles it admits) or in
``PUBLIC``: a new area that is in neither fails this test, so nobody can add
pages without deciding who may see them.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import login

ROLES = ("admin", "pollster", "liaison", "auditor")

#: Blueprint → roles admitted; everyone else gets 403, anonymous visitors the sign-in page.
RULES: dict[str, set[str]] = {
    "admin": {"admin"},
    "fieldwork": {"admin", "pollster"},
    "auditor": {"admin", "auditor"},
    "cati": {"admin", "pollster"},
    "office": {"admin"},
    "liaison": {"liaison"},
}
#: Endpoints (or blueprints, ending in ".") open to everyone.
PUBLIC = {"static", "set_language", "public.", "auth."}
#: Twilio webhooks: no session, every request must carry a valid X-Twilio-Signature
#: (tests/app/test_phone_ivr.py checks the 403s).
PUBLIC.add("telephony.")
#: Respondent pages (/s/<token>, /q/<code>): the token, or the poster plus an
#: SMS-verified phone, is the credential (tests/app/test_respondent_*.py).
PUBLIC.add("respondent.")
#: Published results (GET only) and the democratic-evaluation ballot, whose
#: single-use token is the credential (tests/app/test_results_*.py).
PUBLIC.update({"results.", "results_api.", "ballot."})


def _blueprint(endpoint: str) -> str:
    return endpoint.split(".", 1)[0] if "." in endpoint else ""


def _is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC or any(
        endpoint.startswith(prefix) for prefix in PUBLIC if prefix.endswith(".")
    )


def guarded_requests(app: Flask) -> list[tuple[str, str, str]]:
    """(blueprint, method, url) for every non-public rule, with 1 for every argument."""
    requests = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if _is_public(rule.endpoint):
                continue
            arguments = {name: 1 for name in rule.arguments}
            url = rule.build(arguments)[1]  # type: ignore[index]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                requests.append((_blueprint(rule.endpoint), method, url))
    return requests


def test_every_area_has_an_access_rule(demo_app: Flask) -> None:
    unknown = {bp for bp, _m, _u in guarded_requests(demo_app) if bp not in RULES}
    assert unknown == set(), f"add these blueprints to RULES or PUBLIC: {sorted(unknown)}"
    requests = guarded_requests(demo_app)
    assert len(requests) >= 30
    assert ("admin", "POST", "/admin/cycles/1/units/import") in requests


def test_anonymous_visitor_is_sent_to_sign_in_everywhere(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    for _bp, method, url in guarded_requests(demo_app):
        response = demo_client.open(url, method=method)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.location.startswith("/auth/login"), (method, url)


@pytest.mark.parametrize("username", ROLES)
def test_roles_are_refused_outside_their_areas(
    demo_app: Flask, demo_client: FlaskClient, username: str
) -> None:
    login(demo_client, username)
    checked = 0
    for blueprint, method, url in guarded_requests(demo_app):
        if username in RULES.get(blueprint, set()):
            continue
        response = demo_client.open(url, method=method)
        assert response.status_code == 403, (username, method, url, response.status_code)
        checked += 1
    assert checked > 0 or username == "admin"


@pytest.mark.parametrize("username", ["admin", "pollster", "auditor"])
def test_admitted_roles_may_open_their_pages(
    demo_app: Flask, demo_client: FlaskClient, username: str
) -> None:
    login(demo_client, username)
    for blueprint, method, url in guarded_requests(demo_app):
        if method == "GET" and username in RULES.get(blueprint, set()):
            response = demo_client.get(url)
            # 404: the demo has no object with id 1 of that kind (e.g. no frame yet).
            assert response.status_code in (200, 404, 409), (url, response.status_code)
            assert response.status_code != 403


def test_refused_post_changes_nothing(demo_app: Flask, demo_client: FlaskClient) -> None:
    from survey.extensions import db
    from survey.models import Unit

    login(demo_client, "liaison")
    response = demo_client.post(
        "/admin/cycles/1/units",
        data={"code": "X1", "name": "入侵单位", "category_id": 1, "parent_id": 0},
    )
    assert response.status_code == 403
    with demo_app.app_context():
        assert db.session.query(Unit).filter_by(code="X1").count() == 0
