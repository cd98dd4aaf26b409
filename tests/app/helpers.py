"""Helpers for application tests."""

from __future__ import annotations

import html
import re
from functools import cache
from pathlib import Path

from babel.support import Translations
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

DEMO_PASSWORD = "minyi-demo"
TRANSLATIONS = Path(__file__).parents[2] / "survey" / "translations"


@cache
def zh_catalogue() -> Translations:
    """The compiled Chinese catalogue, to read a service message as a view shows it."""
    return Translations.load(str(TRANSLATIONS), ["zh"])


def login(client: FlaskClient, username: str, password: str = DEMO_PASSWORD) -> None:
    response = client.post("/auth/login", data={"username": username, "password": password})
    assert response.status_code == 302, f"login as {username} failed ({response.status_code})"


def confirm_import(client: FlaskClient, preview: TestResponse) -> TestResponse:
    """Post the confirm form of an import's preview page (the step that stores)."""
    page = preview.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)" id="confirm-import">', page)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page)
    assert action and token, "the preview page has no confirm form"
    return client.post(html.unescape(action.group(1)), data={"token": token.group(1)})


def upload_and_confirm(client: FlaskClient, url: str, data: dict[str, object]) -> TestResponse:
    """Upload a file to an import; if its preview accepts it, confirm it."""
    preview = client.post(url, data=data, content_type="multipart/form-data")
    if preview.status_code != 200:
        return preview
    return confirm_import(client, preview)
