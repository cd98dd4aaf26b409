"""Shared set-up of the phone-channel tests: a sampled demo cycle and a fixed clock."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.models import (
    CaseSchedule,
    Cycle,
    FieldworkCase,
    FrameContact,
    FrameStatus,
    PhoneSettings,
    SampleDraw,
    SamplingFrame,
)
from survey.privacy import normalise_phone, vault
from tests.app.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.conftest import LiveServer, _test_config

#: Wednesday 18 November 2026, 10:00 in Shanghai (02:00 UTC): inside the weekday window.
WEDNESDAY_10AM = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


class Clock:
    """A settable clock for ``app.config["CLOCK"]``."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class SampledCase:
    case_id: int
    phone: str
    stratum: str
    weight: float


def sample_cases(
    strata: dict[str, list[str]], weights: dict[str, float] | None = None
) -> list[SampledCase]:
    """Frame, draw and released cases for the demo cycle (inside an app context)."""
    session = db.session
    cycle = session.scalars(sa.select(Cycle)).first()
    assert cycle is not None
    frame = SamplingFrame(
        cycle_id=cycle.id,
        rater_group_id=cycle.rater_groups[0].id,
        name="电话样本",
        strata_columns="district",
        status=FrameStatus.DRAWN,
        row_count=sum(len(v) for v in strata.values()),
        sha256="0" * 64,
        imported_by="test",
        locked_at=WEDNESDAY_10AM,
    )
    session.add(frame)
    session.flush()
    draw = SampleDraw(
        frame_id=frame.id,
        seed="test",
        algorithm_version="test",
        sample_size=frame.row_count,
        reserve_batches=0,
        sample_sha256="0" * 64,
        protocol_json="{}",
        drawn_by="test",
    )
    session.add(draw)
    session.flush()
    made = []
    position = 0
    for stratum, phones in strata.items():
        weight = (weights or {}).get(stratum, 10.0)
        for phone in phones:
            number = normalise_phone(phone)
            contact = FrameContact(
                frame_id=frame.id,
                position=position,
                external_id=f"X{position}",
                stratum=stratum,
                phone_encrypted=vault().encrypt(number.e164),
                phone_hash=vault().phone_hash(number),
            )
            session.add(contact)
            session.flush()
            case = FieldworkCase(
                cycle_id=cycle.id,
                draw_id=draw.id,
                contact_id=contact.id,
                token=secrets.token_urlsafe(16),
                stratum=stratum,
                replicate=0,
                inclusion_probability=1.0 / weight,
                design_weight=weight,
                released=True,
                released_at=WEDNESDAY_10AM,
            )
            session.add(case)
            session.flush()
            made.append(SampledCase(case.id, number.e164, stratum, weight))
            position += 1
    session.add(PhoneSettings(cycle_id=cycle.id, units_per_interview=2, max_attempts=3))
    session.commit()
    return made


def schedule(case_id: int) -> CaseSchedule:
    result = db.session.get(CaseSchedule, case_id)
    assert result is not None
    db.session.refresh(result)
    return result


def token_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class PhoneRig:
    """The app served over HTTP with the real Twilio adapter, and the fake Twilio."""

    app: Flask
    server: LiveServer
    twilio: FakeTwilio
    clock: Clock


def build_rig(demo_database_url: str) -> Iterator[PhoneRig]:
    """Body of the test modules' ``rig`` fixture."""
    twilio = FakeTwilio()
    clock = Clock(WEDNESDAY_10AM)
    from survey import create_app

    app = create_app(
        _test_config(
            demo_database_url,
            TELEPHONY="twilio",
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=FROM_NUMBER,
            TWILIO_API_BASE_URL=twilio.url,
            # Replaced by the live server's address below, before any call.
            PUBLIC_BASE_URL="http://127.0.0.1:1",
            CLOCK=clock,
        )
    )
    server = LiveServer(app)
    app.config["PUBLIC_BASE_URL"] = server.url
    yield PhoneRig(app, server, twilio, clock)
    server.stop()
    twilio.stop()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
