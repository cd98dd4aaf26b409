"""Chinese first, English available; every UI string has a Chinese translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "survey" / "translations" / "zh" / "LC_MESSAGES"


def test_chinese_by_default_english_on_request(client: FlaskClient) -> None:
    assert "登录" in client.get("/auth/login").get_data(as_text=True)
    client.get("/lang/en", headers={"Referer": "http://localhost/auth/login"})
    page = client.get("/auth/login").get_data(as_text=True)
    assert "Sign in" in page and "登录" not in page
    assert 'lang="en"' in page


def test_language_switch_does_not_redirect_off_site(client: FlaskClient) -> None:
    response = client.get("/lang/en", headers={"Referer": "https://evil.example/"})
    assert response.location == "/"


def test_every_message_is_translated_and_compiled(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-o",
            str(pot),
            "--no-location",
            str(ROOT / "survey"),
            str(ROOT / "templates"),
        ],
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        wanted = {message.id for message in read_po(handle) if message.id}
    with (TRANSLATIONS / "messages.po").open("rb") as handle:
        po = {m.id: m.string for m in read_po(handle) if m.id}
    with (TRANSLATIONS / "messages.mo").open("rb") as handle:
        mo = {m.id: m.string for m in read_mo(handle) if m.id}
    untranslated = sorted(m for m in wanted if not po.get(m))
    assert untranslated == [], "run `make translations` and translate these"
    stale = sorted(m for m in wanted if mo.get(m) != po.get(m))
    assert stale == [], "the .mo is out of date: run `make translations`"


def test_staff_read_times_in_beijing_time_to_the_minute(app: Flask) -> None:
    from datetime import UTC, datetime

    from flask_babel import force_locale

    from survey.i18n import local_date, local_time

    late_evening_utc = datetime(2026, 12, 6, 23, 30, 12, 345678, tzinfo=UTC)
    naive_from_sqlite = late_evening_utc.replace(tzinfo=None)
    with app.test_request_context("/"):
        assert local_time(late_evening_utc) == "2026-12-07 07:30（北京时间）"
        assert local_time(naive_from_sqlite, seconds=True) == "2026-12-07 07:30:12（北京时间）"
        assert local_date(late_evening_utc) == "2026-12-07"
        assert local_time(None) == "—"
        with force_locale("en"):
            assert local_time(late_evening_utc) == "2026-12-07 07:30 (Beijing time)"
        app.config["TIMEZONE"] = "Asia/Urumqi"
        assert local_time(late_evening_utc) == "2026-12-07 05:30 (Asia/Urumqi)"
