"""IVR end to end: the worker dials through the real Twilio client against a local fake
Twilio, which answers and walks the interview with signed webhooks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import (
    Answer,
    CallAttempt,
    Channel,
    DoNotCallEntry,
    DoNotCallSource,
    FieldworkCase,
    IvrStep,
    Response,
    ScaleLevel,
    ScheduleState,
)
from survey.worker import run_once
from tests.app.fake_twilio import ACCOUNT_SID, Behaviour
from tests.app.phone_setup import PhoneRig, build_rig, sample_cases, schedule

QUESTIONS = 2 * 5  # two units per interview × five items of the demo questionnaire


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def test_worker_dials_and_ivr_interview_completes_with_stratum_weight_and_1_1(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138001"]}, {"东湖区": 37.5})
        report = run_once(db.session, telephony(), "worker-1")
        assert report.dialled == 1
    (call,) = fake.calls
    assert call.params["To"] == "+8613800138001"
    assert call.params["Url"].startswith(rig.server.url + "/telephony/voice?attempt=")
    assert call.params["StatusCallback"].startswith(rig.server.url + "/telephony/status")
    assert call.params["MachineDetection"] == "Enable"
    # consent, one invalid key (re-prompt), a repeat, then the answers; 9 = don't know
    answers = ["1", "2", "3", "4", "5", "9", "1", "2", "3", "4"]
    fake.run_call(call, Behaviour(keys=["1", "7", "0", *answers]))
    assert "您的按键无效" in call.twiml[2]
    assert call.twiml[-1].count("<Hangup") == 1 and "感谢您的支持" in call.twiml[-1]
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.1"
        response = db.session.get(Response, stored.response_id)
        assert response is not None
        assert response.channel == Channel.PHONE_IVR
        assert response.stratum == "东湖区"
        assert response.design_weight == 37.5
        assert len(response.answers) == QUESTIONS
        positions = sorted(
            db.session.scalars(
                sa.select(ScaleLevel.position)
                .select_from(Answer)
                .join(ScaleLevel, ScaleLevel.id == Answer.scale_level_id)
                .where(Answer.response_id == response.id)
            )
        )
        assert positions == sorted(int(key) for key in answers)
        assert schedule(case.case_id).state == ScheduleState.FINAL
        attempt = db.session.scalars(sa.select(CallAttempt)).one()
        assert attempt.call_sid == call.sid and attempt.status == "completed"
        assert attempt.disposition == "1.1"


def test_duplicated_webhook_deliveries_store_each_answer_once(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"西城区": ["13800138002"]})
        run_once(db.session, telephony(), "worker-1")
    (call,) = fake.calls
    fake.run_call(call, Behaviour(keys=["1"] + ["2"] * QUESTIONS, duplicate=True))
    # Replay the whole call once more with other keys.
    fake.run_call(call, Behaviour(keys=["1"] + ["5"] * QUESTIONS))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) == QUESTIONS
        steps = db.session.scalar(sa.select(sa.func.count()).select_from(IvrStep))
        assert steps == QUESTIONS + 1
        levels = set(
            db.session.scalars(
                sa.select(ScaleLevel.position)
                .select_from(Answer)
                .join(ScaleLevel, ScaleLevel.id == Answer.scale_level_id)
            )
        )
        assert levels == {2}  # the replay's different keys changed nothing
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.1"


def test_late_answer_after_the_status_callback_is_not_lost(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"西城区": ["13800138007"]})
        run_once(db.session, telephony(), "worker-1")
    (call,) = fake.calls
    base = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "in-progress"}
    # The last keypress is delayed: the caller hears re-prompts, then the call ends.
    documents = fake.walk(call.params["Url"], base, ["1"] + ["4"] * (QUESTIONS - 1))
    last_action = re.findall(r'action="([^"]+)"', documents[-2])[-1].replace("&amp;", "&")
    fake.post(call.params["StatusCallback"], {**base, "CallStatus": "completed"})
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.2"  # 9 of 10 answered
        partial = db.session.get(Response, stored.response_id)  # kept as a partial response
        assert partial is not None and len(partial.answers) == QUESTIONS - 1
    # The delayed delivery of the last keypress arrives after the status callback.
    reply = fake.post(last_action, {**base, "Digits": "4"})
    assert "感谢您的支持" in reply.text
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.1"
        response = db.session.get(Response, stored.response_id, populate_existing=True)
        assert response is not None and len(response.answers) == QUESTIONS
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_unsigned_or_wrongly_signed_webhooks_get_403_and_store_nothing(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        sample_cases({"东湖区": ["13800138003"]})
        run_once(db.session, telephony(), "worker-1")
    (call,) = fake.calls
    url = call.params["Url"]
    params = {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "in-progress"}
    unsigned = requests.post(url, data=params, timeout=10)
    assert unsigned.status_code == 403
    forged = requests.post(
        url, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, timeout=10
    )
    assert forged.status_code == 403
    # Signed for other parameters than the ones sent.
    tampered = requests.post(
        url,
        data={**params, "Digits": "5"},
        headers={"X-Twilio-Signature": fake.sign(url, params)},
        timeout=10,
    )
    assert tampered.status_code == 403
    answer_url = url.replace("/voice", "/ivr") + "&step=consent"
    forged_answer = requests.post(
        answer_url,
        data={**params, "Digits": "1"},
        headers={"X-Twilio-Signature": fake.sign(url, params)},
        timeout=10,
    )
    assert forged_answer.status_code == 403
    with app.app_context():
        attempt = db.session.scalars(sa.select(CallAttempt)).one()
        assert attempt.status == "queued"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IvrStep)) == 0
    # The same request correctly signed is accepted: the check is not refusing everything.
    assert fake.post(url, params).status_code == 200


def test_unknown_call_sid_is_hung_up_and_stores_nothing(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        sample_cases({"东湖区": ["13800138004"]})
        run_once(db.session, telephony(), "worker-1")
    (call,) = fake.calls
    fake.run_call(call, Behaviour(outcome="no-answer"))
    answer_url = call.params["Url"].replace("/voice", "/ivr") + "&step=consent"
    reply = fake.post(answer_url, {"CallSid": "CA" + "f" * 32, "Digits": "1"})
    assert reply.status_code == 200 and "<Hangup" in reply.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IvrStep)) == 0


def test_opt_out_key_puts_the_number_on_do_not_call_and_it_is_never_dialled_again(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case, other) = sample_cases({"东湖区": ["13800138005", "13800138006"]})
    with app.app_context():
        run_once(db.session, telephony(), "worker-1")
    first = next(c for c in fake.calls if c.params["To"] == case.phone)
    fake.run_call(first, Behaviour(keys=["8"]))
    with app.app_context():
        entry = db.session.scalars(sa.select(DoNotCallEntry)).one()
        assert entry.source == DoNotCallSource.OPT_OUT
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "2.11"
        # The other number is put on the list by hand before its retry.
        second = next(c for c in fake.calls if c.params["To"] == other.phone)
    fake.run_call(second, Behaviour(outcome="busy"))
    with app.app_context():
        from survey.privacy import vault
        from survey.services.frames import add_do_not_call

        add_do_not_call(
            db.session, vault(), [other.phone], source=DoNotCallSource.MANUAL, actor="test"
        )
        db.session.commit()
        rig.clock.moment += timedelta(hours=2)
        report = run_once(db.session, telephony(), "worker-1")
        assert report.dialled == 0
        assert schedule(other.case_id).state == ScheduleState.FINAL
    assert len(fake.calls) == 2
