"""Exactly-once under concurrency: IVR webhook duplicates and workers claiming cases.

Each test releases at least 50 attempts at the same moment (a barrier) and
counts what was stored: one answer per IVR step, one response per interview,
one claimant per case.  PostgreSQL is the backend that matters (row locks,
``FOR UPDATE SKIP LOCKED``); SQLite serialises writers and is checked too.
The measured counts go to the trust figures before they are asserted.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm
from sqlalchemy.pool import NullPool

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import (
    Answer,
    CallMode,
    CaseSchedule,
    FieldworkCase,
    IvrStep,
    Response,
)
from survey.services import calling
from survey.worker import run_once
from tests.app.fake_twilio import ACCOUNT_SID, FakeTwilio
from tests.app.phone_setup import WEDNESDAY_10AM, PhoneRig, build_rig, sample_cases
from tests.figures import record_figures

PARALLEL = 50
QUESTIONS = 2 * 5  # two units per interview × five items of the demo questionnaire

T = TypeVar("T")


def all_at_once(n: int, attempt: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``attempt(i)`` in ``n`` threads released together; results (or errors) in order."""
    barrier = threading.Barrier(n)
    results: list[T | BaseException] = [RuntimeError("did not finish")] * n

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = attempt(index)
        except BaseException as error:  # reported by the caller
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


# --- IVR webhook duplicates ---------------------------------------------------------


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def _gather_action(twiml: str) -> str:
    root = ElementTree.fromstring(twiml)
    gather = root.find("Gather")
    assert gather is not None, twiml
    return gather.attrib["action"]


def _valid_twiml(text: str) -> bool:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return False
    verbs = {child.tag for child in root}
    return root.tag == "Response" and bool(verbs & {"Gather", "Hangup"})


def _deliver_at_once(
    fake: FakeTwilio, url: str, params: dict[str, str]
) -> tuple[list[requests.Response], int]:
    """The same signed webhook delivered by PARALLEL threads at once."""
    signature = fake.sign(url, params)

    def deliver(_index: int) -> requests.Response:
        return requests.post(
            url, data=params, headers={"X-Twilio-Signature": signature}, timeout=60
        )

    outcomes = all_at_once(PARALLEL, deliver)
    replies = [o for o in outcomes if isinstance(o, requests.Response)]
    return replies, len(outcomes) - len(replies)


def test_fifty_parallel_deliveries_of_each_ivr_step_store_it_once(
    rig: PhoneRig, backend: str
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138031"]})
        assert run_once(db.session, telephony(), "worker-1").dialled == 1
    (call,) = fake.calls
    base = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.sid,
        "From": call.params["From"],
        "To": call.params["To"],
        "CallStatus": "in-progress",
    }
    twiml = fake.post(call.params["Url"], {**base, "AnsweredBy": "human"}).text
    # Consent, one question in the middle and the last one (which completes the
    # interview) are each delivered 50 times at once; the others once.
    parallel_steps = {0, 5, QUESTIONS}
    requests_sent = failed = server_errors = invalid = 0
    step_keys = ["1"] + ["4"] * QUESTIONS
    for index, key in enumerate(step_keys):
        action = _gather_action(twiml)
        params = {**base, "Digits": key}
        if index in parallel_steps:
            replies, errors = _deliver_at_once(fake, action, params)
        else:
            replies, errors = [fake.post(action, params)], 0
        requests_sent += len(replies) + errors
        failed += errors
        server_errors += sum(reply.status_code >= 500 for reply in replies)
        invalid += sum(
            reply.status_code != 200 or not _valid_twiml(reply.text) for reply in replies
        )
        documents = {reply.text for reply in replies if reply.status_code == 200}
        # Every duplicate got the same next prompt as the first delivery.
        assert len(documents) == 1, (index, len(documents))
        twiml = documents.pop()
    with app.app_context():
        steps = db.session.execute(
            sa.select(IvrStep.step, sa.func.count()).group_by(IvrStep.step)
        ).all()
        duplicate_steps = sum(count - 1 for _step, count in steps)
        responses = db.session.scalar(sa.select(sa.func.count()).select_from(Response)) or 0
        answers = db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) or 0
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None
    duplicates = duplicate_steps + max(responses - 1, 0) + max(answers - QUESTIONS, 0)
    record_figures(
        "concurrency: IVR webhook duplicates",
        backend=backend,
        inputs=requests_sent,
        parallel=PARALLEL * len(parallel_steps),
        server_errors=server_errors,
        duplicates=duplicates,
    )
    assert failed == 0 and server_errors == 0 and invalid == 0
    assert duplicates == 0, (steps, responses, answers)
    assert len(steps) == QUESTIONS + 1
    assert responses == 1 and answers == QUESTIONS
    assert stored.disposition == "1.1" and stored.response_id is not None
    assert "感谢您的支持" in twiml


# --- workers claiming cases ---------------------------------------------------------


def test_fifty_workers_claiming_at_once_never_share_a_case(
    demo_database_url: str, backend: str
) -> None:
    from survey import create_app
    from tests.conftest import _test_config

    app: Flask = create_app(_test_config(demo_database_url, CLOCK=lambda: WEDNESDAY_10AM))
    pool = 60
    with app.app_context():
        sample_cases({"白沙县": [f"1380014{n:04d}" for n in range(pool)]})
        calling.ensure_schedules(db.session)
        db.session.commit()
        url = db.engine.url
    # One connection per worker, as separate worker processes would have.  SQLite
    # runs the claims one after the other, so the locks are not held there.
    sqlite = backend == "sqlite"
    engine = sa.create_engine(
        url, poolclass=NullPool, connect_args={"timeout": 60} if sqlite else {}
    )
    hold = 0.0 if sqlite else 0.2

    def claim(index: int) -> list[int]:
        with app.app_context(), orm.Session(engine) as session:
            rows = calling.claim_due_cases(
                session,
                claimant=f"worker-{index}",
                channel=CallMode.IVR,
                moment=WEDNESDAY_10AM,
                limit=2,
            )
            claimed = [row.case_id for row in rows]
            time.sleep(hold)  # hold the row locks while the other workers run
            session.commit()
            return claimed

    try:
        outcomes = all_at_once(PARALLEL, claim)
    finally:
        engine.dispose()
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    claims = Counter(case_id for o in outcomes if isinstance(o, list) for case_id in o)
    duplicates = sum(count - 1 for count in claims.values())
    with app.app_context():
        holders = dict(
            db.session.execute(sa.select(CaseSchedule.case_id, CaseSchedule.claimed_by)).all()
        )
        for engine_ in db.engines.values():
            engine_.dispose()
    record_figures(
        "concurrency: workers claiming cases",
        backend=backend,
        inputs=PARALLEL,
        parallel=PARALLEL,
        server_errors=len(errors),
        duplicates=duplicates,
    )
    assert not errors, errors[:3]
    assert duplicates == 0, [case_id for case_id, count in claims.items() if count > 1]
    # 50 workers × 2 exceed the 60 due cases: every case is claimed, by exactly one.
    assert set(claims) == set(holders) and len(claims) == pool
    # The stored claimant is the one that got the case.
    for index, outcome in enumerate(outcomes):
        assert isinstance(outcome, list)
        for case_id in outcome:
            assert holders[case_id] == f"worker-{index}"
