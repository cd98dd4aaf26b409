"""The questions of an IVR call are fixed when it is answered: changing the calling rules
mid-call changes the calls answered afterwards, never the call in progress."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import FieldworkCase, PhoneSettings, Response
from survey.worker import run_once
from tests.app.fake_twilio import ACCOUNT_SID, FakeCall
from tests.app.phone_setup import PhoneRig, build_rig, sample_cases

ITEMS = 5  # items of the demo questionnaire; the set-up asks about 2 units per interview


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def _action(twiml: str) -> str:
    found = re.search(r'<Gather action="([^"]+)"', twiml)
    assert found is not None, twiml
    return found.group(1).replace("&amp;", "&")


def _params(call: FakeCall) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.sid,
        "From": call.params["From"],
        "To": call.params["To"],
        "CallStatus": "in-progress",
    }


def _questions_stored(case_id: int) -> int:
    stored = db.session.get(FieldworkCase, case_id)
    assert stored is not None and stored.response_id is not None
    response = db.session.get(Response, stored.response_id)
    assert response is not None
    return len(response.answers)


def test_settings_changed_mid_call_keep_the_calls_plan_and_apply_to_the_next_call(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        cases = sample_cases({"东湖区": ["13800138041", "13800138042"]})
        assert run_once(db.session, telephony(), "worker-1").dialled == 2
    by_phone = {call.params["To"]: call for call in fake.calls}
    during, after = (by_phone[case.phone] for case in cases)
    base = _params(during)
    consent = fake.post(during.params["Url"], {**base, "AnsweredBy": "human"}).text
    first_question = fake.post(_action(consent), {**base, "Digits": "1"}).text
    assert "请评价" in first_question
    with app.app_context():
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        assert settings.units_per_interview == 2
        settings.units_per_interview = 3
        db.session.commit()
    rest = fake.walk(_action(first_question), {**base, "Digits": "4"}, ["4"] * 30)
    asked_during = 1 + sum("<Gather" in document for document in rest)
    assert "感谢您的支持" in rest[-1]
    # The call answered after the change asks about three units.
    documents = fake.walk(
        after.params["Url"], {**_params(after), "AnsweredBy": "human"}, ["1"] + ["4"] * 30
    )
    asked_after = sum("请评价" in document for document in documents)
    assert "感谢您的支持" in documents[-1]
    with app.app_context():
        assert (asked_during, _questions_stored(cases[0].case_id)) == (2 * ITEMS, 2 * ITEMS)
        assert (asked_after, _questions_stored(cases[1].case_id)) == (3 * ITEMS, 3 * ITEMS)
