"""Every admin route refuses anonymous visitors and non-admin roles.

The routes are enumerated from the app's URL map, so a new admin route is
covered without anybody remembering to add it here.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import login


def admin_requests(app: Flask) -> list[tuple[str, str]]:
    """(method, url) for every admin rule, with 1 for every path argument."""
    requests = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin."):
                continue
            url = rule.build({name: 1 for name in rule.arguments})[1]  # type: ignore[index]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                requests.append((method, url))
    return requests


def test_there_are_admin_routes_to_check(demo_app: Flask) -> None:
    requests = admin_requests(demo_app)
    assert len(requests) >= 20
    assert ("POST", "/admin/cycles/1/units/import") in requests


def test_anonymous_visitor_is_sent_to_sign_in_everywhere(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    for method, url in admin_requests(demo_app):
        response = demo_client.open(url, method=method)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.location.startswith("/auth/login"), (method, url)


@pytest.mark.parametrize("username", ["liaison", "pollster", "auditor"])
def test_other_roles_are_refused_everywhere(
    demo_app: Flask, demo_client: FlaskClient, username: str
) -> None:
    login(demo_client, username)
    for method, url in admin_requests(demo_app):
        response = demo_client.open(url, method=method)
        assert response.status_code == 403, (username, method, url, response.status_code)


def test_admin_may_open_every_admin_page(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    for method, url in admin_requests(demo_app):
        if method == "GET":
            response = demo_client.get(url)
            assert response.status_code == 200, (url, response.status_code)


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
