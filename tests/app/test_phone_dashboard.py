"""Fieldwork dashboard: AAPOR rates equal :mod:`sampling.rates`; live precision per unit."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from sampling.rates import counts_from_codes, response_rates
from survey.extensions import db
from survey.models import Channel, FieldworkCase, PhoneSettings, ScaleLevel
from survey.services import calling
from tests.app.helpers import login
from tests.app.phone_setup import WEDNESDAY_10AM, sample_cases

#: stratum → dispositions of its cases ("" = released, not yet worked)
DISPOSITIONS = {
    "东湖区": ["1.1", "1.1", "1.1", "1.2", "2.11", "3.13", "3.13", "4.10", ""],
    "临江县": ["1.1", "1.1", "2.12", "3.12", "3.14", "3.13", "", ""],
}


def _rate_cells(page: str, stratum: str) -> dict[str, float]:
    row = re.search(rf'<tr data-stratum="{stratum}">(.*?)</tr>', page, re.S)
    assert row is not None, stratum
    return {
        name: float(value)
        for name, value in re.findall(r'data-rate="(\w+)" data-value="([0-9.]+)"', row.group(1))
    }


@pytest.fixture
def dashboard_app(demo_app: Flask) -> Flask:
    demo_app.config["CLOCK"] = lambda: WEDNESDAY_10AM
    with demo_app.app_context():
        made = sample_cases(
            {
                stratum: [f"1390000{100 * s + i:04d}" for i in range(len(codes))]
                for s, (stratum, codes) in enumerate(DISPOSITIONS.items())
            },
            {"东湖区": 20.0, "临江县": 50.0},
        )
        calling.ensure_schedules(db.session)
        levels = {
            level.position: level.id
            for level in db.session.scalars(sa.select(ScaleLevel).where(ScaleLevel.cycle_id == 1))
        }
        codes = [code for stratum in DISPOSITIONS for code in DISPOSITIONS[stratum]]
        for number, (case, code) in enumerate(zip(made, codes, strict=True)):
            if code == "1.1":
                stored = db.session.get(FieldworkCase, case.case_id)
                assert stored is not None
                plan = calling.interview_plan(db.session, stored)
                calling.complete_interview(
                    db.session,
                    case.case_id,
                    {
                        (q.unit.id, q.item.id): levels[1 + (number + i) % 5]
                        for i, q in enumerate(plan)
                    },
                    channel=Channel.PHONE_IVR,
                    moment=WEDNESDAY_10AM,
                )
            elif code:
                stored = db.session.get(FieldworkCase, case.case_id)
                assert stored is not None
                stored.disposition = code
        db.session.commit()
    return demo_app


def test_dashboard_rates_equal_the_sampling_library(
    dashboard_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    response = demo_client.get("/cati/cycles/1/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    everything: Counter[str] = Counter()
    for stratum, codes in DISPOSITIONS.items():
        counts = Counter(code or "3.11" for code in codes)
        everything.update(counts)
        expected = response_rates(counts_from_codes(counts))
        shown = _rate_cells(page, stratum)
        assert shown["RR1"] == pytest.approx(expected.RR1, abs=1e-9)
        assert shown["RR3"] == pytest.approx(expected.RR3, abs=1e-9)
        assert shown["COOP1"] == pytest.approx(expected.COOP1, abs=1e-9)
    overall = response_rates(counts_from_codes(everything))
    shown = _rate_cells(page, "__all__")
    assert shown["RR1"] == pytest.approx(overall.RR1, abs=1e-9)
    assert shown["RR3"] == pytest.approx(overall.RR3, abs=1e-9)
    assert overall.RR1 != overall.RR3  # the two rates differ here, so the check is sharp
    assert shown["RR1"] == pytest.approx(5 / 16, abs=1e-9)  # 4.10 is not eligible
    # live precision: units with phone completes show an index and a CI half-width
    assert re.search(r"<td>±\d+\.\d</td>", page)
    projection = re.search(r'<p id="projection">(.*?)</p>', page, re.S)
    assert projection is not None
    assert re.findall(r"\d+", projection.group(1))[:2] == ["5", "17"]


def test_dashboard_requires_the_pollster_role(
    dashboard_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "liaison")
    assert demo_client.get("/cati/cycles/1/dashboard").status_code == 403


SETTINGS = {
    "timezone": "Asia/Shanghai",
    "weekday_start": "09:00",
    "weekday_end": "18:00",
    "weekend_start": "10:00",
    "weekend_end": "16:00",
    "max_attempts": "4",
    "retry_busy_minutes": "20",
    "retry_no_answer_minutes": "120",
    "retry_machine_minutes": "240",
    "calls_per_minute": "12",
    "max_concurrent_calls": "4",
    "units_per_interview": "3",
    "recording_retention_days": "60",
    "quality_callback_share": "0.1",
    "partial_min_share": "0.6",
}


def test_calling_rules_are_edited_per_cycle_and_bad_input_changes_nothing(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    assert demo_client.get("/cati/cycles/1/settings").status_code == 200
    bad = {
        **SETTINGS,
        "timezone": "Mars/Olympus",
        "weekday_end": "08:00",
        "max_attempts": "0",
        "partial_min_share": "0",
    }
    refused = demo_client.post("/cati/cycles/1/settings", data=bad)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "“Mars/Olympus”不是有效的时区（例如 Asia/Shanghai）" in page
    assert "结束时间须晚于开始时间" in page
    assert "不能小于 1" in page
    assert "须大于 0 且不超过 1" in page
    with demo_app.app_context():
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        assert settings.max_attempts == 6 and settings.timezone == "Asia/Shanghai"
    saved = demo_client.post("/cati/cycles/1/settings", data=SETTINGS)
    assert saved.status_code == 302
    with demo_app.app_context():
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        assert settings.max_attempts == 4 and settings.quality_callback_share == 0.1
        assert settings.partial_min_share == 0.6
        # Wednesday 18:30 in Shanghai is now outside the weekday window.
        evening = WEDNESDAY_10AM.replace(hour=10, minute=30)
        assert not calling.in_calling_window(settings, evening)
        assert calling.in_calling_window(settings, WEDNESDAY_10AM)


def test_the_office_adds_and_removes_calling_days_on_the_settings_page(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    removed = demo_client.post(
        "/cati/cycles/1/calling-days", data={"day": "2026-11-18", "calling": "no"}
    )
    assert removed.status_code == 302
    added = demo_client.post(
        "/cati/cycles/1/calling-days", data={"day": "2026-10-02", "calling": "yes"}
    )
    assert added.status_code == 302
    assert demo_client.post("/cati/cycles/1/calling-days", data={"day": ""}).status_code == 400
    page = demo_client.get("/cati/cycles/1/settings").get_data(as_text=True)
    table = re.search(r'<table class="list" id="calling-days">(.*?)</table>', page, re.S)
    assert table is not None and "2026-10-02" in table.group(1) and "2026-11-18" in table.group(1)
    with demo_app.app_context():
        settings = calling.phone_settings(db.session, 1)
        assert not calling.in_calling_window(settings, WEDNESDAY_10AM)  # removed
        national_day = datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
        assert calling.in_calling_window(settings, national_day)  # added
    back = demo_client.post(
        "/cati/cycles/1/calling-days", data={"day": "2026-11-18", "calling": "default"}
    )
    assert back.status_code == 302
    with demo_app.app_context():
        settings = calling.phone_settings(db.session, 1)
        assert calling.in_calling_window(settings, WEDNESDAY_10AM)
