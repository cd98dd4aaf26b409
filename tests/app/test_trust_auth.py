"""Red-team probes on staff sign-in (issue 20), against production settings.

The app here is built as production builds it (``ENV_NAME=production``: secure
session cookie, CSRF on, errors answered as pages instead of raised), on the
demo database, and spoken to over HTTPS as a browser would.  Each probe counts
what it tried and what got through before asserting, so a failure says how
far the defence fell short.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.app.helpers import DEMO_PASSWORD
from tests.conftest import TEST_AUDIT_SIGNING_KEY, TEST_DATA_KEY, _test_config
from tests.figures import record_figures

HOST = "minyi.example"
HTTPS = f"https://{HOST}"
EXPIRED = "会话已过期，请重新登录"


@pytest.fixture
def production_app(demo_database_url: str) -> Iterator[Flask]:
    from survey import create_app
    from survey.extensions import db

    app = create_app(
        _test_config(demo_database_url, ENV_NAME="production", TESTING=False, WTF_CSRF_ENABLED=True)
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


class Browser:
    """A test client that speaks HTTPS and carries the CSRF token of the page it last read."""

    def __init__(self, app: Flask, address: str = "203.0.113.1") -> None:
        self.client: FlaskClient = app.test_client()
        self.address = address

    def get(self, path: str, **options: Any) -> Any:
        return self.client.get(path, base_url=HTTPS, environ_base=self._environ(), **options)

    def post(self, path: str, data: dict[str, str], *, form_page: str | None = None) -> Any:
        page = self.get(form_page or path).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token is not None, f"no CSRF token on {form_page or path}"
        return self.client.post(
            path,
            data={**data, "csrf_token": token.group(1)},
            base_url=HTTPS,
            environ_base=self._environ(),
            # Flask-WTF checks over HTTPS that the form came from this site, as browsers say.
            headers={"Referer": f"{HTTPS}{form_page or path}"},
        )

    def sign_in(
        self, username: str, password: str = DEMO_PASSWORD, path: str = "/auth/login"
    ) -> Any:
        return self.post(
            path, {"username": username, "password": password}, form_page="/auth/login"
        )

    def sign_out(self) -> Any:
        return self.post("/auth/logout", {}, form_page="/admin/")

    def _environ(self) -> dict[str, str]:
        return {"REMOTE_ADDR": self.address}


def _session_cookie(response: Any) -> str:
    """The session cookie a response set, as an eavesdropper or a stolen browser would keep it."""
    for header in response.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == "session":
            assert "Secure" in header and "HttpOnly" in header
            return rest.split(";", 1)[0]
    raise AssertionError("no session cookie set")


def _replay(app: Flask, cookie: str, path: str) -> Any:
    """A fresh client presenting only the captured cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie, domain=HOST, secure=True)
    return client.get(path, base_url=HTTPS)


def _signed_in(response: Any) -> bool:
    return response.status_code == 200


def test_a_cookie_captured_before_sign_out_is_dead_after_it(
    production_app: Flask, backend: str
) -> None:
    browser = Browser(production_app)
    signed_in = browser.sign_in("admin")
    assert signed_in.status_code == 302
    captured = _session_cookie(signed_in)
    assert _signed_in(_replay(production_app, captured, "/admin/"))
    assert browser.sign_out().status_code == 302
    replays = [_replay(production_app, captured, path) for path in ("/admin/", "/admin/users")]
    through = sum(_signed_in(response) for response in replays)
    print(f"captured cookie replayed after sign-out: {through} of {len(replays)} signed in")
    record_figures(
        "auth: captured cookie replayed after sign-out", backend=backend, inputs=len(replays)
    )
    assert through == 0, f"{through} of {len(replays)} replays after sign-out were signed in"
    assert all(r.status_code == 302 and "/auth/login" in r.location for r in replays)
    # The browser that signed out is signed out too, and may sign in again.
    assert browser.get("/admin/").status_code == 302
    assert browser.sign_in("admin").status_code == 302
    assert browser.get("/admin/").status_code == 200


def _edit_user(admin: Browser, app: Flask, username: str, **changes: str) -> None:
    from survey.extensions import db
    from survey.models import User

    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == username)).one()
        user_id, role, display_name = user.id, user.role.value, user.display_name
    data = {
        "role": role,
        "unit_id": "0",
        "display_name": display_name,
        "active": "y",
        "password": "",
        **changes,
    }
    if data["active"] == "":
        del data["active"]
    response = admin.post(f"/admin/users/{user_id}", data)
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "then_signs_in_with"),
    [
        ({"password": "a-new-password-1"}, "a-new-password-1"),
        ({"role": "auditor"}, DEMO_PASSWORD),
        ({"active": ""}, None),
    ],
    ids=["password", "role", "deactivated"],
)
def test_changing_password_or_role_signs_the_user_out_everywhere(
    production_app: Flask, backend: str, change: dict[str, str], then_signs_in_with: str | None
) -> None:
    admin = Browser(production_app, "203.0.113.1")
    assert admin.sign_in("admin").status_code == 302
    # The pollster signed in on two devices; one cookie was also captured.
    desk, phone = Browser(production_app, "203.0.113.2"), Browser(production_app, "203.0.113.3")
    captured = _session_cookie(desk.sign_in("pollster"))
    assert phone.sign_in("pollster").status_code == 302
    assert _signed_in(desk.get("/fieldwork/"))

    _edit_user(admin, production_app, "pollster", **change)

    # The captured cookie, on the old and the new role's pages, and both devices.
    after = [
        _replay(production_app, captured, "/fieldwork/"),
        _replay(production_app, captured, "/auditor/"),
        desk.get("/fieldwork/", follow_redirects=True),
        phone.get("/auditor/"),
    ]
    through = sum(_signed_in(r) and r.request.path != "/auth/login" for r in after)
    print(f"{change}: {through} of {len(after)} requests still signed in")
    record_figures(
        f"auth: sessions kept after a change ({next(iter(change))})",
        backend=backend,
        inputs=len(after),
    )
    assert through == 0, f"{through} of {len(after)} requests still signed in after the change"
    assert after[2].request.path == "/auth/login"
    assert EXPIRED in after[2].get_data(as_text=True)
    # The admin who made the change stays signed in.
    assert _signed_in(admin.get("/admin/users"))
    if then_signs_in_with is not None:
        assert Browser(production_app).sign_in("pollster", then_signs_in_with).status_code == 302
    else:
        assert Browser(production_app).sign_in("pollster").status_code == 401


def test_an_admin_changing_their_own_password_keeps_this_session_only(
    production_app: Flask,
) -> None:
    here, elsewhere = Browser(production_app, "203.0.113.1"), Browser(production_app, "203.0.113.9")
    assert here.sign_in("admin").status_code == 302
    assert elsewhere.sign_in("admin").status_code == 302
    _edit_user(here, production_app, "admin", password="a-new-password-1")
    assert _signed_in(here.get("/admin/"))
    assert elsewhere.get("/admin/").status_code == 302


def _backdate(app: Flask, **ages: timedelta) -> None:
    """Move every staff session's clock readings back, as if that much time had passed."""
    from survey.extensions import db
    from survey.models import StaffSession

    with app.app_context():
        for row in db.session.scalars(sa.select(StaffSession)):
            for column, age in ages.items():
                setattr(row, column, getattr(row, column) - age)
        db.session.commit()


def test_an_idle_session_expires(production_app: Flask) -> None:
    browser = Browser(production_app)
    assert browser.sign_in("admin").status_code == 302
    idle = timedelta(minutes=production_app.config["SESSION_IDLE_MINUTES"])
    _backdate(
        production_app,
        created_at=idle - timedelta(minutes=2),
        last_seen_at=idle - timedelta(minutes=2),
    )
    assert _signed_in(browser.get("/admin/")), "a session used within the idle time stays valid"
    _backdate(
        production_app,
        created_at=idle + timedelta(minutes=1),
        last_seen_at=idle + timedelta(minutes=1),
    )
    response = browser.get("/admin/", follow_redirects=True)
    assert response.request.path == "/auth/login"
    assert EXPIRED in response.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 302


def test_a_busy_session_still_ends_at_the_absolute_limit(production_app: Flask) -> None:
    browser = Browser(production_app)
    assert browser.sign_in("auditor").status_code == 302
    hours = timedelta(hours=production_app.config["SESSION_ABSOLUTE_HOURS"])
    _backdate(production_app, created_at=hours - timedelta(minutes=5))
    assert _signed_in(browser.get("/auditor/"))
    _backdate(production_app, created_at=timedelta(minutes=6))
    response = browser.get("/auditor/", follow_redirects=True)
    assert response.request.path == "/auth/login"
    assert EXPIRED in response.get_data(as_text=True)


def test_failed_sign_ins_to_one_account_are_throttled_across_addresses(
    production_app: Flask, backend: str
) -> None:
    attempts = 40
    statuses = [
        Browser(production_app, f"198.51.100.{n}").sign_in("admin", f"guess-{n:04d}").status_code
        for n in range(1, attempts + 1)
    ]
    checked = statuses.count(401)
    print(
        f"wrong passwords from {attempts} addresses: "
        f"{checked} checked, {statuses.count(429)} refused"
    )
    record_figures(
        "auth: wrong passwords to one account from 40 addresses", backend=backend, inputs=attempts
    )
    limit = int(production_app.config["RATELIMIT_LOGIN_ACCOUNT"].split()[0])
    assert set(statuses) <= {401, 429}
    assert checked <= limit, f"{checked} of {attempts} guesses were checked (limit {limit})"
    assert statuses[:limit] == [401] * limit
    # The right password from a new address is refused too, with how long to wait.
    refused = Browser(production_app, "198.51.100.200").sign_in("admin")
    assert refused.status_code == 429
    text = refused.get_data(as_text=True)
    minutes = re.search(r"该账号登录失败次数过多，请 (\d+) 分钟后再试", text)
    assert minutes is not None, text
    assert 1 <= int(minutes.group(1)) <= 15
    assert int(refused.headers["Retry-After"]) > 0
    # The same people's other accounts, from the same addresses, are not affected.
    for n in (1, 2):
        assert Browser(production_app, f"198.51.100.{n}").sign_in("pollster").status_code == 302


def test_successful_sign_ins_do_not_count_towards_the_account_limit(
    production_app: Flask,
) -> None:
    limit = int(production_app.config["RATELIMIT_LOGIN_ACCOUNT"].split()[0])
    addresses = iter(f"192.0.2.{n}" for n in range(1, 100))
    for _ in range(limit - 1):
        assert (
            Browser(production_app, next(addresses)).sign_in("admin", "wrong-one").status_code
            == 401
        )
    for _ in range(limit):
        assert Browser(production_app, next(addresses)).sign_in("admin").status_code == 302
    assert Browser(production_app, next(addresses)).sign_in("admin", "wrong-one").status_code == 401
    assert Browser(production_app, next(addresses)).sign_in("admin").status_code == 429


#: ``next`` values a phisher would send; each must land on this site or on the home page.
HOSTILE_NEXT = [
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D/evil.example",
    "/%0D%0ALocation:%20https://evil.example",
    "%09//evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "%20//evil.example",
    "/%E2%80%A8/evil.example",
    "/%7F/evil.example",
    "/%1B/evil.example",
    "%0A",
    "%0D",
    "",
]


def _browser_target(location: str) -> str:
    """Where a browser goes: it drops tab and newlines and reads a backslash as a slash."""
    cleaned = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    return urljoin(f"{HTTPS}/auth/login", cleaned)


def test_next_only_ever_leads_within_the_site(production_app: Flask, backend: str) -> None:
    off_site = server_errors = 0
    for probe in HOSTILE_NEXT:
        browser = Browser(production_app)
        response = browser.sign_in("admin", path=f"/auth/login?next={probe}")
        if response.status_code >= 500:
            server_errors += 1
            continue
        assert response.status_code == 302, (probe, response.status_code)
        if urlsplit(_browser_target(response.location)).netloc != HOST:
            off_site += 1
    print(f"hostile next: {off_site} off-site, {server_errors} 5xx of {len(HOSTILE_NEXT)}")
    record_figures(
        "auth: hostile next after sign-in",
        backend=backend,
        inputs=len(HOSTILE_NEXT),
        server_errors=server_errors,
    )
    assert (off_site, server_errors) == (0, 0), (
        f"of {len(HOSTILE_NEXT)} hostile next values {off_site} led off-site, "
        f"{server_errors} gave a server error"
    )
    for local in ("/admin/users", "/admin/users?page=2", "/fieldwork/"):
        response = Browser(production_app).sign_in("admin", path=f"/auth/login?next={local}")
        assert response.location == local


def test_hsts_only_over_tls(production_app: Flask) -> None:
    client = production_app.test_client()
    secure = client.get("/", base_url=HTTPS)
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    plain = client.get("/", base_url=f"http://{HOST}")
    assert "Strict-Transport-Security" not in plain.headers
    # Behind a proxy on this machine, gunicorn trusts its X-Forwarded-Proto; the app
    # sees what the server says (wsgi.url_scheme), never the header itself.
    forged = client.get("/", base_url=f"http://{HOST}", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers


@pytest.mark.parametrize("value", [0, -5, "thirty", True])
def test_a_session_lifetime_that_is_not_a_positive_number_stops_start_up(
    database_url: str, value: object
) -> None:
    from survey import create_app
    from survey.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="MINYI_SESSION_IDLE_MINUTES must be a positive"):
        create_app(_test_config(database_url, SESSION_IDLE_MINUTES=value))


def test_signing_in_again_in_the_same_browser_ends_the_session_it_held(
    production_app: Flask,
) -> None:
    browser = Browser(production_app)
    first = _session_cookie(browser.sign_in("admin"))
    assert browser.sign_in("auditor").status_code == 302
    assert _replay(production_app, first, "/admin/").status_code == 302
    assert _signed_in(browser.get("/auditor/"))


def test_hsts_behind_a_tls_proxy_on_this_machine(demo_database_url: str, tmp_path: Path) -> None:
    """As deployed: gunicorn (gunicorn.conf.py) behind a proxy on the same machine that
    ends TLS and says so in ``X-Forwarded-Proto``.  gunicorn trusts that header only from
    ``forwarded_allow_ips`` (default 127.0.0.1 and ::1), so no ProxyFix is needed for it."""
    from tests.app.test_trust_ratelimit_redis import Server, _wait

    environment = {
        **os.environ,
        "MINYI_ENV_NAME": "production",
        "MINYI_SECRET_KEY": "test-secret-key",
        "MINYI_DATABASE_URL": demo_database_url,
        "MINYI_DATA_KEYS": TEST_DATA_KEY,
        "MINYI_HASH_KEY": "test-hash-key",
        "MINYI_AUDIT_SIGNING_KEY": TEST_AUDIT_SIGNING_KEY,
        "MINYI_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl"),
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "1",
    }
    log = tmp_path / "gunicorn.log"
    root = Path(__file__).resolve().parents[2]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-c",
                str(root / "gunicorn.conf.py"),
                "survey:create_app()",
            ],
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    server = Server(process, log)
    try:
        _wait(server)
        proxied = requests.get(server.url + "/", headers={"X-Forwarded-Proto": "https"}, timeout=30)
        plain = requests.get(server.url + "/", timeout=30)
    finally:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker still booting on a loaded machine
            process.kill()
            process.wait(timeout=10)
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in plain.headers
