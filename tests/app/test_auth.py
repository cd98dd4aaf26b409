"""Sign-in, sign-out, CSRF and redirects."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import login


def test_wrong_password_is_refused(demo_client: FlaskClient) -> None:
    response = demo_client.post("/auth/login", data={"username": "admin", "password": "nope-nope"})
    assert response.status_code == 401
    assert demo_client.get("/admin/").status_code == 302


def test_unknown_user_is_refused_like_a_wrong_password(demo_client: FlaskClient) -> None:
    response = demo_client.post("/auth/login", data={"username": "ghost", "password": "x" * 10})
    assert response.status_code == 401


def test_login_then_logout(demo_client: FlaskClient) -> None:
    login(demo_client, "admin")
    assert demo_client.get("/admin/").status_code == 200
    demo_client.post("/auth/logout")
    assert demo_client.get("/admin/").status_code == 302


def test_next_is_followed_only_within_the_site(demo_client: FlaskClient) -> None:
    data = {"username": "admin", "password": "minyi-demo"}
    response = demo_client.post("/auth/login?next=/admin/users", data=data)
    assert response.location == "/admin/users"
    demo_client.post("/auth/logout")
    response = demo_client.post("/auth/login?next=//evil.example/x", data=data)
    assert response.location == "/admin/"


def test_inactive_user_cannot_sign_in(demo_app: Flask, demo_client: FlaskClient) -> None:
    from survey.extensions import db
    from survey.models import User

    with demo_app.app_context():
        user = db.session.query(User).filter_by(username="pollster").one()
        user.active = False
        db.session.commit()
    response = demo_client.post(
        "/auth/login", data={"username": "pollster", "password": "minyi-demo"}
    )
    assert response.status_code == 401


def test_csrf_token_is_required_on_forms(demo_app: Flask) -> None:
    demo_app.config["WTF_CSRF_ENABLED"] = True
    client = demo_app.test_client()
    response = client.post("/auth/login", data={"username": "admin", "password": "minyi-demo"})
    assert response.status_code == 400
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    response = client.post(
        "/auth/login",
        data={"username": "admin", "password": "minyi-demo", "csrf_token": token.group(1)},
    )
    assert response.status_code == 302


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_failed_sign_ins_are_throttled_per_account(demo_client: FlaskClient) -> None:
    wrong = {"username": "admin", "password": "wrong-password"}
    for _attempt in range(5):
        assert demo_client.post("/auth/login", data=wrong).status_code == 401
    right = {"username": "admin", "password": "minyi-demo"}
    refused = demo_client.post("/auth/login", data=right)
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    # Another account from the same address is not locked out.
    other = demo_client.post("/auth/login", data={"username": "pollster", "password": "minyi-demo"})
    assert other.status_code == 302


def test_successful_sign_ins_are_not_counted(demo_client: FlaskClient) -> None:
    for _attempt in range(8):
        login(demo_client, "admin")
        demo_client.post("/auth/logout")


def test_a_new_secret_key_signs_out_unless_the_old_one_is_a_fallback(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    """The session's signing serializer is kept per key set (security.SigningSessionInterface):
    rotating the key must still be seen on the very next request."""
    login(demo_client, "admin")
    assert demo_client.get("/admin/").status_code == 200
    old_key = demo_app.secret_key
    demo_app.secret_key = "a-new-key-" + "x" * 40
    demo_app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert demo_client.get("/admin/").status_code == 200
    demo_app.config["SECRET_KEY_FALLBACKS"] = []
    assert demo_client.get("/admin/").status_code == 302
