"""SMS invitations: a batch started from the pollster's page, sent through the real Twilio
client to the local fake Twilio, and its signed delivery-status callbacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.integrations.simulated import SimulatedTelephony
from survey.models import (
    AuditLogEntry,
    DoNotCallEntry,
    DoNotCallSource,
    FieldworkCase,
    SampleDraw,
    SmsMessage,
    SmsStatus,
)
from survey.privacy import normalise_phone, vault
from survey.services import sms_invitations
from tests.app.helpers import DEMO_PASSWORD, login
from tests.app.phone_setup import WEDNESDAY_10AM, Clock, PhoneRig, build_rig, sample_cases


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match is not None, page[:2000]
    return match.group(1)


def test_pollster_sends_a_batch_and_signed_status_callbacks_are_stored(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        made = sample_cases(
            {"东湖区": ["13800138201", "13800138202"], "西湖区": ["13800138203"]},
        )
        db.session.add(
            DoNotCallEntry(
                phone_hash=vault().phone_hash(normalise_phone("13800138203")),
                source=DoNotCallSource.OPT_OUT,
                added_by="test",
            )
        )
        db.session.commit()
        draw_id = db.session.scalars(sa.select(SampleDraw.id)).one()
        tokens = {case.phone: db.session.get(FieldworkCase, case.case_id).token for case in made}  # type: ignore[union-attr]
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    client.post(
        "/auth/login",
        data={"username": "pollster", "password": DEMO_PASSWORD, "csrf_token": _csrf(page)},
    )
    page = client.get("/cati/cycles/1/sms").get_data(as_text=True)
    assert "短信邀请" in page and "免打扰" in page
    assert re.search(rf'data-draw="{draw_id}">.*?<td class="to-send">2</td>', page, re.S)

    # Without the CSRF token, or without ticking the confirmation, nothing is sent.
    no_token = client.post("/cati/cycles/1/sms", data={"draw_id": draw_id, "confirmed": "y"})
    assert no_token.status_code == 400
    unconfirmed = client.post(
        "/cati/cycles/1/sms", data={"draw_id": draw_id, "csrf_token": _csrf(page)}
    )
    assert unconfirmed.status_code == 400 and "勾选" in unconfirmed.get_data(as_text=True)
    assert fake.messages == []

    sent = client.post(
        "/cati/cycles/1/sms",
        data={"draw_id": draw_id, "confirmed": "y", "csrf_token": _csrf(page)},
        follow_redirects=True,
    )
    assert sent.status_code == 200
    assert "已发送 2 条短信邀请" in sent.get_data(as_text=True)
    # The do-not-call number got nothing; the others their own invitation link.
    assert sorted(message["To"] for message in fake.messages) == [
        "+8613800138201",
        "+8613800138202",
    ]
    for message in fake.messages:
        assert f"/s/{tokens[message['To']]}" in message["Body"]
        assert "群众满意度调查" in message["Body"]
        assert message["StatusCallback"].startswith(
            rig.server.url + "/telephony/sms/status?message="
        )
    first, second = sorted(fake.messages, key=lambda message: message["To"])

    # Signed callbacks, as Twilio sends them; a replay and a late "sent" change nothing.
    for reply in fake.report_message(first, ["queued", "sent", "delivered"], times=2):
        assert reply.status_code == 204
    fake.report_message(first, ["sent"])
    fake.report_message(second, ["sent", "undelivered"], error_code="30005")
    # A forged callback (wrong signature) is refused and stores nothing.
    forged = requests.post(
        second["StatusCallback"],
        data={"MessageSid": second["sid"], "MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "forged"},
        timeout=10,
    )
    assert forged.status_code == 403
    # A callback naming another message's sid is ignored.
    fake.post(
        first["StatusCallback"],
        {"MessageSid": second["sid"], "MessageStatus": "failed", "ErrorCode": "30008"},
    )

    with app.app_context():
        stored = {
            message.message_sid: message for message in db.session.scalars(sa.select(SmsMessage))
        }
        assert len(stored) == 2
        assert stored[first["sid"]].status == SmsStatus.DELIVERED
        assert stored[first["sid"]].error_code is None
        assert stored[second["sid"]].status == SmsStatus.UNDELIVERED
        assert stored[second["sid"]].error_code == 30005
        # Contact-attempt information only: no case's disposition changed.
        assert db.session.scalars(sa.select(FieldworkCase.disposition)).all() == [None] * 3
        batch = db.session.scalars(
            sa.select(AuditLogEntry).where(AuditLogEntry.action == "sms.batch")
        ).one()
        assert '"skipped_do_not_call": 1' in batch.details
    dashboard = client.get("/cati/cycles/1/dashboard").get_data(as_text=True)
    overall = re.search(
        r'<tr data-stratum="__all__">(.*?)</tr>', dashboard.split('id="sms-summary"')[1], re.S
    )
    assert overall is not None
    assert 'data-status="delivered">已送达：1' in overall.group(1)
    assert 'data-status="undelivered">未送达：1' in overall.group(1)
    assert '<td class="number-errors">1</td>' in overall.group(1)

    # A second batch finds nobody left to invite.
    again = client.post(
        "/cati/cycles/1/sms",
        data={"draw_id": draw_id, "confirmed": "y", "csrf_token": _csrf(page)},
    )
    assert again.status_code == 400 and "没有可发送短信邀请的样本" in again.get_data(as_text=True)
    assert len(fake.messages) == 2


def test_a_callback_arriving_before_the_api_reply_is_kept(rig: PhoneRig) -> None:
    """Twilio may report a message before its API reply reaches the app: the later
    state stays (the view stores the MessageSid with a conditional UPDATE)."""
    app, fake = rig.app, rig.twilio
    with app.app_context():
        sample_cases({"东湖区": ["13800138231", "13800138232"]})
    fake.report_before_reply = ["sent", "delivered"]
    client = app.test_client()
    login(client, "pollster")
    sent = client.post("/cati/cycles/1/sms", data={"draw_id": 1, "confirmed": "y"})
    assert sent.status_code == 302
    assert len(fake.messages) == 2
    with app.app_context():
        stored = db.session.scalars(sa.select(SmsMessage).order_by(SmsMessage.id)).all()
        assert [message.status for message in stored] == [SmsStatus.DELIVERED] * 2
        assert sorted(m.message_sid or "" for m in stored) == sorted(
            m["sid"] for m in fake.messages
        )
        assert all(message.sent_at is not None for message in stored)


def test_no_sms_outside_the_calling_hours(demo_app: Flask) -> None:
    demo_app.config["CLOCK"] = Clock(WEDNESDAY_10AM + timedelta(hours=12))  # 22:00 in Shanghai
    with demo_app.app_context():
        sample_cases({"东湖区": ["13800138211"]})
    client = demo_app.test_client()
    login(client, "pollster")
    page = client.get("/cati/cycles/1/sms").get_data(as_text=True)
    assert 'id="quiet-hours"' in page
    refused = client.post("/cati/cycles/1/sms", data={"draw_id": 1, "confirmed": "y"})
    assert refused.status_code == 400
    assert "仅在拨打时段内发送" in refused.get_data(as_text=True)
    with demo_app.app_context():
        assert db.session.scalars(sa.select(SmsMessage)).all() == []
        from survey.integrations.telephony import telephony

        adapter = telephony()
        assert isinstance(adapter, SimulatedTelephony) and adapter.outbox == []


def test_the_simulated_provider_records_messages_with_their_callback(demo_app: Flask) -> None:
    with demo_app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138221"]})
        from survey.models import Cycle

        cycle = db.session.get(Cycle, 1)
        draw = db.session.scalars(sa.select(SampleDraw)).one()
        assert cycle is not None
        batch = sms_invitations.prepare_batch(
            db.session, cycle, draw, actor="pollster", moment=WEDNESDAY_10AM
        )
        adapter = SimulatedTelephony()
        accepted, failed = sms_invitations.send_prepared(
            db.session,
            adapter,
            vault(),
            demo_app.config,
            batch.messages,
            link=lambda token: f"https://example.test/s/{token}",
            moment=WEDNESDAY_10AM,
        )
        assert (accepted, failed) == (1, 0)
        (message,) = adapter.outbox
        assert message.to == case.phone
        assert message.status_callback_url is not None
        assert message.status_callback_url.endswith(
            f"/telephony/sms/status?message={batch.messages[0]}"
        )
        stored = db.session.get(SmsMessage, batch.messages[0])
        assert stored is not None and stored.message_sid == message.sid
        assert stored.status == SmsStatus.QUEUED
