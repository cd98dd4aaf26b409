"""Interviewer console (CATI), appointments, supervisor view and quality call-backs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.integrations.telephony import SimulatedTelephony, telephony
from survey.models import (
    CallbackStatus,
    CallMode,
    Channel,
    FieldworkCase,
    PhoneSettings,
    QualityCallback,
    Response,
    ScaleLevel,
)
from survey.services import callbacks, calling
from tests.app.helpers import login
from tests.app.phone_setup import WEDNESDAY_10AM, Clock, sample_cases, schedule


@pytest.fixture
def cati_app(demo_app: Flask) -> Flask:
    demo_app.config["CLOCK"] = Clock(WEDNESDAY_10AM)
    with demo_app.app_context():
        made = sample_cases({"东湖区": ["13800138101", "13800138102"]})
        calling.ensure_schedules(db.session)
        for case in made:
            schedule(case.case_id).channel = CallMode.CATI
        db.session.commit()
    return demo_app


def _answer_fields(page: str) -> list[str]:
    return re.findall(r'<select[^>]*name="(answer_q_\d+_\d+)"', page)


def _level_ids(app: Flask) -> dict[int, int]:
    with app.app_context():
        return {
            level.position: level.id
            for level in db.session.scalars(sa.select(ScaleLevel).where(ScaleLevel.cycle_id == 1))
        }


def test_interviewer_claims_dials_keys_answers_and_completes(
    cati_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    claimed = demo_client.post("/cati/claim")
    assert claimed.status_code == 302
    case_url = claimed.headers["Location"]
    case_id = int(case_url.rsplit("/", 1)[-1])
    page = demo_client.get(case_url).get_data(as_text=True)
    fields = _answer_fields(page)
    assert len(fields) == 10 and "群众满意度调查" in page
    levels = _level_ids(cati_app)
    answers = {name: str(levels[1 + i % 5]) for i, name in enumerate(fields)}
    # A result before the call is refused and changes nothing.
    early = demo_client.post(f"{case_url}/result", data={"disposition": "1.1", **answers})
    assert early.status_code == 400
    assert demo_client.post(f"{case_url}/dial").status_code == 302
    with cati_app.app_context():
        adapter = telephony()
        assert isinstance(adapter, SimulatedTelephony)
        (call,) = adapter.calls
        assert call.request.to == "+8613800138101" or call.request.to == "+8613800138102"
        assert "/telephony/connect?attempt=" in call.request.answer_url
    # A complete with a missing answer is refused, naming the question; nothing stored.
    incomplete = dict(answers)
    incomplete[fields[3]] = ""
    refused = demo_client.post(f"{case_url}/result", data={"disposition": "1.1", **incomplete})
    assert refused.status_code == 400
    with cati_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
    done = demo_client.post(f"{case_url}/result", data={"disposition": "1.1", **answers})
    assert done.status_code == 302
    with cati_app.app_context():
        case = db.session.get(FieldworkCase, case_id)
        assert case is not None and case.disposition == "1.1"
        response = db.session.get(Response, case.response_id)
        assert response is not None and response.channel == Channel.PHONE_CATI
        assert len(response.answers) == 10 and response.stratum == "东湖区"
    supervisor = demo_client.get("/cati/supervisor").get_data(as_text=True)
    row = re.search(r"<td>pollster</td><td>(\d+)</td><td>(\d+)</td>", supervisor)
    assert row is not None and row.groups() == ("1", "1")


def test_appointment_moves_into_the_calling_window_and_holds_the_case(
    cati_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    case_url = demo_client.post("/cati/claim").headers["Location"]
    case_id = int(case_url.rsplit("/", 1)[-1])
    demo_client.post(f"{case_url}/dial")
    missing = demo_client.post(f"{case_url}/result", data={"disposition": "2.21"})
    assert missing.status_code == 400
    booked = demo_client.post(
        f"{case_url}/result",
        data={"disposition": "2.21", "appointment_at": "2026-11-19T21:00"},
    )
    assert booked.status_code == 302
    with cati_app.app_context():
        held = schedule(case_id)
        friday_9 = datetime(2026, 11, 20, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert calling.as_utc(held.appointment_at) == friday_9.astimezone(UTC)  # type: ignore[arg-type]
        assert held.case.disposition == "2.21"
    # The other case is due now; after it, nothing until the appointment.
    second = demo_client.post("/cati/claim").headers["Location"]
    assert int(second.rsplit("/", 1)[-1]) != case_id
    assert demo_client.post("/cati/claim").headers["Location"].endswith("/cati/")
    cati_app.config["CLOCK"].moment = friday_9.astimezone(UTC)
    again = demo_client.post("/cati/claim").headers["Location"]
    assert int(again.rsplit("/", 1)[-1]) == case_id


def test_another_interviewers_case_is_refused(cati_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    case_url = demo_client.post("/cati/claim").headers["Location"]
    login(demo_client, "admin")
    assert demo_client.get(case_url).status_code == 403
    assert demo_client.post(f"{case_url}/dial").status_code == 403


def test_quality_callbacks_flag_mismatches(cati_app: Flask, demo_client: FlaskClient) -> None:
    levels = _level_ids(cati_app)
    with cati_app.app_context():
        for case_id in db.session.scalars(sa.select(FieldworkCase.id)):
            plan = calling.interview_plan(db.session, db.session.get(FieldworkCase, case_id))  # type: ignore[arg-type]
            calling.complete_interview(
                db.session,
                case_id,
                {(q.unit.id, q.item.id): levels[2] for q in plan},
                channel=Channel.PHONE_IVR,
                moment=WEDNESDAY_10AM,
            )
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        settings.quality_callback_share = 0.0
        assert callbacks.select_quality_callbacks(db.session) == 0
        settings.quality_callback_share = 1.0
        assert callbacks.select_quality_callbacks(db.session) == 2
        assert callbacks.select_quality_callbacks(db.session) == 0  # never drawn twice
        db.session.commit()
        ids = list(db.session.scalars(sa.select(QualityCallback.id).order_by(QualityCallback.id)))
    login(demo_client, "pollster")
    assert demo_client.get(f"/cati/callbacks/{ids[0]}").status_code == 200
    same = {
        "reached": "y",
        "confirmed": "y",
        "first_level_id": levels[2],
        "second_level_id": levels[2],
    }
    assert demo_client.post(f"/cati/callbacks/{ids[0]}", data=same).status_code == 302
    different = {**same, "second_level_id": levels[5]}
    assert demo_client.post(f"/cati/callbacks/{ids[1]}", data=different).status_code == 302
    with cati_app.app_context():
        statuses = [db.session.get(QualityCallback, i).status for i in ids]  # type: ignore[union-attr]
        assert statuses == [CallbackStatus.CONFIRMED, CallbackStatus.MISMATCH]
    supervisor = demo_client.get("/cati/supervisor").get_data(as_text=True)
    flagged = re.search(r'<ul id="flagged">(.*?)</ul>', supervisor, re.S)
    assert flagged is not None and flagged.group(1).count("<li>") == 1
