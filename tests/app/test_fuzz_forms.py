"""Hypothesis against the public forms: garbage in, a 4xx out, nothing stored.

Every form anyone can post to without signing in — invitation pages, the QR
poster (start, SMS code, rating), the democratic-evaluation ballot and the
sign-in form — gets random field names and values: missing fields, wrong
types, huge values, NUL, lone surrogates, invalid UTF-8, and bodies sent as
JSON, multipart or with a made-up content type.  CSRF is off, so the
requests reach the validation layer (``test_garbage_with_csrf_on`` covers the
CSRF layer).  The oracle: no response is a 5xx (a raised exception counts as
one) and no table gains or loses a row; then one legitimate submission
still adds its rows, so the counting can see a change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey.extensions import db
from survey.models import Base, Unit
from survey.services import democratic
from tests.app.respondent_helpers import Fieldwork, prepare_fieldwork
from tests.app.test_respondent_poster import E164, last_code, rate_data
from tests.conftest import _test_config
from tests.figures import record_figures

#: Requests per form; 7 forms stay within a few seconds per backend.
EXAMPLES = 70
PUBLIC_LIMIT = 64 * 1024

SPECIAL_VALUES: list[bytes] = [
    b"",
    b"\x00",
    b"abc\x00def",
    b"\xed\xa0\x80",  # a lone surrogate (U+D800) as UTF-8 would spell it
    b"\xff\xfe\xfd",  # not UTF-8 at all
    b"\xc3",  # a truncated sequence
    "不了解".encode(),
    "𝕏🙂".encode(),
    b"-1",
    b"0",
    b"99999999999999999999999999",
    b"1e309",
    b"NaN",
    b"yes",
    b"<script>alert(1)</script>",
    b'=HYPERLINK("http://x")',
    b"' OR 1=1 --",
    b"x" * 5000,
]

values = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.text(max_size=40).map(lambda text: text.encode("utf-8")),
    st.binary(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda n: str(n).encode()),
)


@dataclass(frozen=True)
class Body:
    content_type: str | None
    data: bytes

    def send(self, client: FlaskClient, url: str) -> int:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return client.post(url, data=self.data, headers=headers).status_code


def _urlencode(fields: list[tuple[str, bytes]]) -> bytes:
    return b"&".join(
        quote_from_bytes(name.encode("utf-8", "surrogatepass")).encode()
        + b"="
        + quote_from_bytes(value).encode()
        for name, value in fields
    )


def _multipart(fields: list[tuple[str, bytes]], boundary: str = "fuzzboundary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode(
            "utf-8", "surrogatepass"
        )
        + value
        + b"\r\n"
        for name, value in fields
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@st.composite
def bodies(draw: st.DrawFn, names: list[str], bad: dict[str, list[bytes]]) -> Body:
    """A form body over ``names`` (plus random names), never a valid submission.

    ``bad`` maps a field to values it always gets (e.g. a scale answer that is
    not a level): the body is garbage by construction, so storing it is a bug.
    """
    chosen = draw(st.lists(st.sampled_from(names) | st.text(max_size=12), max_size=8))
    fields = [(name, draw(values)) for name in chosen]
    for name, options in bad.items():
        fields.append((name, draw(st.sampled_from(options) | values.filter(_not_in(options)))))
    if draw(st.integers(0, 30)) == 0:  # now and then far beyond the public limit
        fields.append(("comment", b"x" * (PUBLIC_LIMIT + draw(st.integers(1, 4096)))))
    kind = draw(st.sampled_from(["urlencoded", "urlencoded", "multipart", "json", "other"]))
    if kind == "urlencoded":
        return Body("application/x-www-form-urlencoded", _urlencode(fields))
    if kind == "multipart":
        boundary = draw(st.sampled_from(["fuzzboundary", ""]))  # "": no boundary given
        return Body(
            f"multipart/form-data; boundary={boundary}" if boundary else "multipart/form-data",
            _multipart(fields),
        )
    if kind == "json":
        payload = {name: value.decode("utf-8", "replace") for name, value in fields}
        return Body("application/json", json.dumps(payload).encode())
    content_type = draw(st.sampled_from([None, "text/plain", "application/xml", "foo/bar; x"]))
    return Body(content_type, _urlencode(fields))


def _not_in(options: list[bytes]) -> Any:
    return lambda value: value not in options


def row_counts() -> dict[str, int]:
    """Rows per table, except the staff sessions the test's own sign-ins create."""
    return {
        table.name: int(db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
        if table.name != "staff_session"
    }


@dataclass
class Tally:
    requests: int = 0
    server_errors: int = 0

    def post(self, client: FlaskClient, url: str, body: Body, failures: list[str]) -> int:
        self.requests += 1
        try:
            status = body.send(client, url)
        except Exception as error:  # the app raised: in production a 500
            status = 500
            failures.append(
                f"POST {url} {body.content_type}: {error!r} {body.data[:300]!r}"
                + __import__("traceback").format_exc()[-1500:]
            )
        if status >= 500:
            self.server_errors += 1
        return status


@dataclass(frozen=True)
class Setting:
    fieldwork: Fieldwork
    ballot_tokens: list[str]
    official_ids: list[int]


@pytest.fixture
def fuzz_app(demo_database_url: str) -> Iterator[Flask]:
    """The demo, without rate limits (they would answer most fuzz requests with 429)."""
    from survey import create_app

    app = create_app(_test_config(demo_database_url, RATELIMIT_ENABLED=False))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def _prepare(app: Flask) -> Setting:
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
        unit = db.session.get(Unit, fieldwork.poster_unit_id)
        assert unit is not None
        official = democratic.add_official(db.session, unit, name="周婷", title="局长", actor="t")
        tokens = democratic.issue_tokens(db.session, unit, count=2, actor="t")
        db.session.commit()
        return Setting(fieldwork, tokens, [official.id])


def _run(examples: int, strategy: Any, action: Any) -> None:
    settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(body=strategy)(action))()


def _poster(
    client: FlaskClient, url: str, tally: Tally, failures: list[str], statuses: set[int]
) -> Any:
    def post(body: Body) -> None:
        statuses.add(tally.post(client, url, body, failures))

    return post


def _page_fields(client: FlaskClient, url: str) -> list[str]:
    page = client.get(url).get_data(as_text=True)
    return sorted(set(re.findall(r'name="([^"]+)"', page)))


def test_garbage_to_public_forms_stores_nothing(fuzz_app: Flask, backend: str) -> None:
    setting = _prepare(fuzz_app)
    code = setting.fieldwork.poster_code
    token = setting.fieldwork.tokens[0]
    # A pending SMS check and a verified sitting, made the legitimate way first.
    pending, verified = fuzz_app.test_client(), fuzz_app.test_client()
    assert pending.post(f"/q/{code}", data={"served_here": "yes", "phone": E164}).status_code == 302
    assert (
        verified.post(f"/q/{code}", data={"served_here": "yes", "phone": "13900139000"}).status_code
        == 302
    )
    sent = last_code(fuzz_app, "+8613900139000")
    assert verified.post(f"/q/{code}/verify", data={"code": sent}).status_code == 302
    anonymous = fuzz_app.test_client()
    level_page = _page_fields(anonymous, f"/s/{token}/1")
    item_fields = [name for name in level_page if name.startswith("item_")]
    assert item_fields
    not_a_level = [b"", b"-1", b"abc", b"0"]
    not_a_vote = [b"", b"great", b"EXCELLENT", b"1"]
    # Answers that are never a level, and an action that never saves a draft: garbage.
    unit_bad = {field: not_a_level for field in item_fields}
    unit_bad["action"] = [b"next", b"submit", b"", b"delete"]
    targets: list[tuple[FlaskClient, str, Any]] = [
        (anonymous, f"/s/{token}/1", bodies(level_page, unit_bad)),
        (anonymous, f"/s/{token}/2", bodies(level_page, unit_bad)),
        (anonymous, f"/q/{code}", bodies(["served_here", "phone", "website"], {})),
        (pending, f"/q/{code}/verify", bodies(["code"], {"code": [b"", b"12345", b"abcdef"]})),
        (verified, f"/q/{code}/rate", bodies(level_page, unit_bad)),
        (
            anonymous,
            f"/ballot/{setting.ballot_tokens[0]}",
            bodies(
                [f"official-{i}" for i in setting.official_ids],
                {f"official-{i}": not_a_vote for i in setting.official_ids},
            ),
        ),
        (anonymous, "/auth/login", bodies(["username", "password"], {})),
    ]
    with fuzz_app.app_context():
        before = row_counts()
        db.session.rollback()
    tally = Tally()
    failures: list[str] = []
    statuses: set[int] = set()
    for client, url, strategy in targets:
        _run(EXAMPLES, strategy, _poster(client, url, tally, failures, statuses))
    with fuzz_app.app_context():
        after = row_counts()
        db.session.rollback()
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    record_figures(
        "fuzz: public forms (Hypothesis)",
        backend=backend,
        inputs=tally.requests,
        server_errors=tally.server_errors,
        rows_lost=sum(max(0, old - new) for old, new in changed.values()),
    )
    assert tally.server_errors == 0, failures[:5]
    assert changed == {}, "garbage changed row counts"
    assert statuses <= {200, 302, 400, 401, 404, 409, 413, 415}, statuses
    assert {400, 413} <= statuses
    # The counting sees a legitimate submission: one response and its answers.
    data = rate_data(verified, code, comment="办事很快")
    assert verified.post(f"/q/{code}/rate", data=data).status_code == 302
    with fuzz_app.app_context():
        grown = row_counts()
    assert grown["response"] == before["response"] + 1
    assert grown["answer"] > before["answer"]


PATH_GARBAGE = st.one_of(
    st.text(min_size=1, max_size=30).map(lambda text: quote_from_bytes(text.encode())),
    st.binary(min_size=1, max_size=20).map(quote_from_bytes),
    st.sampled_from(["%00", "a%00b", "%ED%A0%80", "%FF", "..%2F..%2Fetc", "x" * 3000]),
)


def test_garbage_in_public_paths_and_queries(fuzz_app: Flask, backend: str) -> None:
    """Tokens, poster codes and query strings of any bytes: 4xx, never 5xx."""
    setting = _prepare(fuzz_app)
    client = fuzz_app.test_client()
    code = setting.fieldwork.poster_code
    tally = Tally()
    failures: list[str] = []
    statuses: set[int] = set()
    templates = [
        "/s/{}",
        "/s/{}/1",
        "/q/{}",
        "/q/{}/verify",
        "/q/{}/rate",
        "/ballot/{}",
        "/results/{}/",
        "/api/results/{}",
        f"/q/{code}?lang={{}}",
        "/auth/login?next={}",
    ]

    def get(body: str) -> None:
        for template in templates:
            url = template.format(body)
            tally.requests += 1
            try:
                status = client.get(url).status_code
            except Exception as error:  # the app raised: in production a 500
                status = 500
                failures.append(f"GET {url}: {error!r}"[:300])
            statuses.add(status)
            if status >= 500:
                tally.server_errors += 1

    with fuzz_app.app_context():
        before = row_counts()
        db.session.rollback()
    settings(
        max_examples=40,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(body=PATH_GARBAGE)(get))()
    with fuzz_app.app_context():
        after = row_counts()
    record_figures(
        "fuzz: public paths and query strings",
        backend=backend,
        inputs=tally.requests,
        server_errors=tally.server_errors,
    )
    assert tally.server_errors == 0, failures[:5]
    assert after == before
    assert 400 in statuses and 404 in statuses


def test_garbage_with_csrf_on(demo_database_url: str, backend: str) -> None:
    """With CSRF on (as in production), garbage is refused before anything is read."""
    from survey import create_app

    app = create_app(
        _test_config(demo_database_url, RATELIMIT_ENABLED=False, WTF_CSRF_ENABLED=True)
    )
    setting = _prepare(app)
    client = app.test_client()
    token = setting.fieldwork.tokens[0]
    urls = [
        f"/s/{token}/1",
        f"/q/{setting.fieldwork.poster_code}",
        f"/ballot/{setting.ballot_tokens[0]}",
        "/auth/login",
    ]
    with app.app_context():
        before = row_counts()
        db.session.rollback()
    tally = Tally()
    failures: list[str] = []
    statuses: set[int] = set()

    def post(body: Body) -> None:
        for url in urls:
            statuses.add(tally.post(client, url, body, failures))

    _run(25, bodies(["csrf_token", "comment", "phone", "username"], {}), post)
    with app.app_context():
        after = row_counts()
        for engine in db.engines.values():
            engine.dispose()
    record_figures(
        "fuzz: public forms, CSRF on",
        backend=backend,
        inputs=tally.requests,
        server_errors=tally.server_errors,
    )
    assert tally.server_errors == 0, failures[:5]
    assert after == before
    assert statuses <= {400, 401, 404, 413, 415}, statuses
