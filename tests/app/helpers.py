"""Helpers for application tests."""

from __future__ import annotations

from flask.testing import FlaskClient

DEMO_PASSWORD = "minyi-demo"


def login(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> None:
    response = client.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 302, f"login as {username} failed ({response.status_code})"
