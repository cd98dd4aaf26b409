"""Open QR posters ``/q/<code>``: screening, SMS check, one answer per phone, limits."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse as FlaskResponse

from survey.extensions import db
from survey.integrations.telephony import SimulatedTelephony
from survey.models import Channel, Cycle, PosterVerification, RaterGroup, Response
from survey.services.posters import create_poster
from tests.app.respondent_helpers import Fieldwork, prepare_fieldwork
from tests.app.test_respondent_invitation import _first_level, _item_fields, race
from tests.figures import record_figures

PHONE = "138 0013 8000"
E164 = "+8613800138000"


@pytest.fixture
def fieldwork(demo_app: Flask) -> Fieldwork:
    with demo_app.app_context():
        return prepare_fieldwork(db.session)


def last_code(app: Flask, to: str = E164) -> str:
    outbox = app.extensions["minyi_telephony"]
    assert isinstance(outbox, SimulatedTelephony)
    messages = outbox.messages_to(to)
    assert messages, f"no SMS to {to}"
    match = re.search(r"\d{6}", messages[-1].body)
    assert match
    return match.group(0)


def start(client: FlaskClient, code: str, phone: str = PHONE, **extra: str) -> tuple[int, str]:
    data = {"served_here": "yes", "phone": phone, "website": ""}
    data.update(extra)
    response = client.post(f"/q/{code}", data=data)
    return response.status_code, response.get_data(as_text=True)


def verify(app: Flask, client: FlaskClient, code: str, phone_e164: str = E164) -> None:
    assert start(client, code, phone_e164)[0] == 302
    response = client.post(f"/q/{code}/verify", data={"code": last_code(app, phone_e164)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/q/{code}/rate")


def rate_data(client: FlaskClient, code: str, comment: str = "") -> dict[str, str]:
    page = client.get(f"/q/{code}/rate").get_data(as_text=True)
    data = {field: _first_level(page, field) for field in _item_fields(page)}
    data.update(action="submit", comment=comment)
    return data


def _responses() -> list[Response]:
    return list(db.session.scalars(sa.select(Response)))


def test_verified_phone_rates_once_as_self_selected(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    code = fieldwork.poster_code
    page = demo_client.get(f"/q/{code}")
    assert page.status_code == 200
    assert "市行政审批服务局" in page.get_data(as_text=True)
    assert "是否在这里办理" in page.get_data(as_text=True)
    verify(demo_app, demo_client, code)
    data = rate_data(demo_client, code, comment="身份证 11010119900307451X 办事很快")
    submitted = demo_client.post(f"/q/{code}/rate", data=data)
    assert submitted.headers["Location"].split("?")[0].endswith("/thanks")
    with demo_app.app_context():
        (response,) = _responses()
        group = db.session.get(RaterGroup, response.rater_group_id)
        assert group is not None and group.code == "service_recipients"
        assert response.channel == Channel.OPEN_QR and not response.channel.is_probability
        assert response.design_weight == 1.0 and response.stratum == ""
        assert {answer.unit_id for answer in response.answers} == {fieldwork.poster_unit_id}
        assert response.comments[0].text == "身份证 [身份证号] 办事很快"
        verification = db.session.scalars(sa.select(PosterVerification)).one()
        # Only a keyed hash of the number is stored, and not which response it gave.
        assert "13800138000" not in verification.phone_hash
        assert len(verification.phone_hash) == 64 and verification.completed_at is not None
    # The same number again, from a fresh browser: refused before any SMS is sent.
    other = demo_app.test_client()
    status, text = start(other, code)
    assert status == 409 and "已经作答" in text
    # The same browser after submitting: back to the start, nothing to submit.
    assert demo_client.post(f"/q/{code}/rate", data=data).status_code == 302
    with demo_app.app_context():
        assert len(_responses()) == 1


def test_wrong_code_counts_and_locks_after_five(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    code = fieldwork.poster_code
    assert start(demo_client, code)[0] == 302
    right = last_code(demo_app)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    first = demo_client.post(f"/q/{code}/verify", data={"code": wrong})
    assert first.status_code == 400 and "验证码不正确" in first.get_data(as_text=True)
    assert demo_client.post(f"/q/{code}/verify", data={"code": "12ab"}).status_code == 400
    for _ in range(4):
        demo_client.post(f"/q/{code}/verify", data={"code": wrong})
    locked = demo_client.post(f"/q/{code}/verify", data={"code": right})
    assert locked.status_code == 400 and "错误次数过多" in locked.get_data(as_text=True)
    assert demo_client.get(f"/q/{code}/rate").status_code == 302  # not verified
    with demo_app.app_context():
        assert db.session.scalars(sa.select(PosterVerification)).one().attempts == 5
        assert _responses() == []


def test_screening_honeypot_and_bad_phone_store_nothing(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    code = fieldwork.poster_code
    status, text = start(demo_client, code, served_here="no")
    assert status == 200 and "刚刚在此办理业务" in text
    status, text = start(demo_client, code, website="http://spam.example")
    assert status == 400 and "无法受理" in text
    status, text = start(demo_client, code, phone="12345")
    assert status == 400 and "11 位手机号码" in text
    status, text = start(demo_client, code, phone="010-12345678")
    assert status == 400 and "中国大陆手机号码" in text
    assert demo_client.get("/q/nonexistent-code").status_code == 404
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PosterVerification)) == 0
        assert demo_app.extensions["minyi_telephony"].outbox == []


def test_code_is_resent_only_after_a_minute(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    assert start(demo_client, fieldwork.poster_code)[0] == 302
    status, text = start(demo_client, fieldwork.poster_code)
    assert status == 400 and "一分钟后" in text
    assert len(demo_app.extensions["minyi_telephony"].outbox) == 1


def test_simulated_sms_is_shown_only_in_testing_with_the_simulator(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    start(demo_client, fieldwork.poster_code)
    page = demo_client.get(f"/q/{fieldwork.poster_code}/verify").get_data(as_text=True)
    assert "模拟短信" in page and last_code(demo_app) in page
    demo_app.config["ENV_NAME"] = "production"
    page = demo_client.get(f"/q/{fieldwork.poster_code}/verify").get_data(as_text=True)
    assert "模拟短信" not in page and last_code(demo_app) not in page


@pytest.fixture
def limited_app(demo_database_url: str) -> Iterator[Flask]:
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(
        _test_config(
            demo_database_url, RATELIMIT_SMS_IP="3 per hour", RATELIMIT_SMS_POSTER="1000/hour"
        )
    )
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def test_code_requests_are_rate_limited_per_address(limited_app: Flask) -> None:
    with limited_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    client = limited_app.test_client()
    statuses = [
        start(client, fieldwork.poster_code, phone=f"1390000000{digit}")[0] for digit in range(5)
    ]
    assert statuses == [302, 302, 302, 429, 429]
    assert "请求过于频繁" in start(client, fieldwork.poster_code, phone="13900000009")[1]
    assert len(limited_app.extensions["minyi_telephony"].outbox) == 3


def test_rate_limit_per_poster_code_across_addresses(demo_database_url: str) -> None:
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(demo_database_url, RATELIMIT_SMS_POSTER="2 per hour"))
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    statuses = []
    for digit in range(3):
        client = app.test_client()
        response = client.post(
            f"/q/{fieldwork.poster_code}",
            data={"served_here": "yes", "phone": f"1390000001{digit}", "website": ""},
            environ_base={"REMOTE_ADDR": f"10.0.0.{digit + 1}"},
        )
        statuses.append(response.status_code)
    assert statuses == [302, 302, 429]
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def unlimited_app(demo_database_url: str) -> Iterator[Flask]:
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(demo_database_url, RATELIMIT_ENABLED=False))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def test_fifty_concurrent_submissions_with_one_verified_phone_store_one(
    unlimited_app: Flask, backend: str
) -> None:
    with unlimited_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    client = unlimited_app.test_client()
    verify(unlimited_app, client, fieldwork.poster_code)
    data = rate_data(client, fieldwork.poster_code, comment="同一手机并发")
    cookie = client.get_cookie("session")
    assert cookie is not None
    statuses = race(
        unlimited_app, f"/q/{fieldwork.poster_code}/rate", data, {"session": cookie.value}
    )
    with unlimited_app.app_context():
        stored = len(_responses())
    record_figures(
        "concurrency: poster, one verified phone",
        backend=backend,
        inputs=len(statuses),
        parallel=len(statuses),
        server_errors=sum(status >= 500 for status in statuses),
        duplicates=max(stored - 1, 0),
    )
    assert len(statuses) == 50 and statuses.count(302) == 1, statuses
    assert set(statuses) == {302, 409}, statuses
    with unlimited_app.app_context():
        responses = _responses()
        assert len(responses) == 1
        assert responses[0].channel == Channel.OPEN_QR
        assert len(responses[0].comments) == 1


# --- SMS code limits: per number, per address, per poster (issue 20) -----------------


class Clock:
    """The limiter's clock (its in-memory storage), moved by hand: an hour in a second."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import limits.storage.memory

    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    return fake


@pytest.fixture
def sms_app(demo_database_url: str) -> Iterator[Flask]:
    """The app with the default SMS limits (the ones production runs with)."""
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(demo_database_url))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def _many_posters(app: Flask) -> list[str]:
    """Poster codes on every unit of the cycle, and a second poster on the first unit."""
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
        cycle = db.session.get(Cycle, fieldwork.cycle_id)
        assert cycle is not None
        codes = [fieldwork.poster_code]
        for unit in cycle.units[:9]:
            poster = create_poster(db.session, cycle, unit, service_point="窗口", actor="test")
            codes.append(poster.code)
        db.session.commit()
        return codes


def _ask(app: Flask, poster: str, phone: str, address: str) -> FlaskResponse:
    return app.test_client().post(
        f"/q/{poster}",
        data={"served_here": "yes", "phone": phone, "website": ""},
        environ_base={"REMOTE_ADDR": address},
    )


def _sent(app: Flask, to: str | None = None) -> int:
    outbox = app.extensions["minyi_telephony"]
    assert isinstance(outbox, SimulatedTelephony)
    return len(outbox.outbox if to is None else outbox.messages_to(to))


def test_one_number_rotating_addresses_units_and_posters_gets_its_allowance_only(
    sms_app: Flask, clock: Clock
) -> None:
    """40 addresses ask codes for one number over ten minutes, one request every 15 s,
    rotating over ten posters on nine units: five codes (one a minute, five an hour)."""
    posters = _many_posters(sms_app)
    statuses = []
    for attempt in range(40):
        reply = _ask(sms_app, posters[attempt % len(posters)], PHONE, f"10.1.0.{attempt + 1}")
        statuses.append(reply.status_code)
        clock.now += 15
    sent = _sent(sms_app, E164)
    record_figures("SMS codes: one number, 40 addresses", inputs=40, duplicates=sent - 5)
    assert sent == 5, (sent, statuses)
    assert statuses.count(302) == 5 and set(statuses) <= {302, 400, 429}, statuses


def test_a_second_code_for_the_number_says_how_long_to_wait(sms_app: Flask) -> None:
    """Another unit, another poster, another address: the number still waits its minute,
    and the page says how long (429, Retry-After)."""
    posters = _many_posters(sms_app)
    assert _ask(sms_app, posters[0], PHONE, "10.2.0.1").status_code == 302
    reply = _ask(sms_app, posters[3], PHONE, "10.2.0.2")
    assert reply.status_code == 429
    wait = int(reply.headers["Retry-After"])
    assert 55 <= wait <= 60, wait
    assert f"请 {wait} 秒后再获取验证码" in reply.get_data(as_text=True)
    assert _sent(sms_app, E164) == 1


def test_a_hall_of_200_behind_one_address_is_served_in_an_hour(
    sms_app: Flask, clock: Clock
) -> None:
    """200 citizens at one service hall, one NAT address, one poster, over an hour."""
    poster = _many_posters(sms_app)[0]
    statuses = []
    for citizen in range(200):
        reply = _ask(sms_app, poster, f"1391000{citizen:04d}", "10.3.0.1")
        statuses.append(reply.status_code)
        clock.now += 3600 / 200 - 0.01
    served = statuses.count(302)
    record_figures("SMS codes: hall of 200, one address", inputs=200, faults=200 - served)
    assert served == 200 and _sent(sms_app) == 200, statuses


def test_a_flood_from_one_address_is_bounded_and_told_to_wait(sms_app: Flask, clock: Clock) -> None:
    """One address, a new number each request: 20 codes in a minute, 300 in an hour."""
    poster = _many_posters(sms_app)[0]
    burst = [_ask(sms_app, poster, f"1392000{n:04d}", "10.4.0.1") for n in range(60)]
    assert [reply.status_code for reply in burst] == [302] * 20 + [429] * 40
    assert _sent(sms_app) == 20
    refused = burst[-1]
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60 and f"请 {wait} 秒后再获取验证码" in refused.get_data(as_text=True)
    # Then a request every 10 s until the hour is nearly over: the hourly 300 holds.
    for n in range(60, 410):
        clock.now += 10
        _ask(sms_app, poster, f"1392000{n:04d}", "10.4.0.1")
    record_figures("SMS codes: flood from one address", inputs=410, duplicates=_sent(sms_app) - 300)
    assert _sent(sms_app) == 300


def test_when_the_limit_storage_is_down_one_number_is_still_limited(
    demo_database_url: str,
) -> None:
    """Redis unreachable: the number's codes are counted in the process's memory, so the
    per-number limit still holds and nobody gets a 500."""
    from survey import create_app
    from survey.extensions import hit_limits, limiter
    from tests.app.faults import free_port
    from tests.conftest import _test_config

    closed = free_port()  # nothing listens on it
    app = create_app(
        _test_config(demo_database_url, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed}/0")
    )
    try:
        # Counted directly, before the limiter itself has met the outage ...
        with app.test_request_context():
            assert not limiter._storage_dead
            first, second = (hit_limits("1 per minute", "probe", "x") for _ in range(2))
            assert first is None and second is not None
        # ... and through the poster pages.
        posters = _many_posters(app)
        statuses = [_ask(app, posters[n], PHONE, f"10.5.0.{n + 1}").status_code for n in range(4)]
        assert statuses == [302, 429, 429, 429], statuses
        assert _sent(app, E164) == 1
    finally:
        # The limiter object outlives the app: later tests must not start on its fallback.
        limiter._storage_dead = False
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
