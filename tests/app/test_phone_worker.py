"""``minyi worker`` with the simulated provider whose simulated respondents answer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from sampling.rates import category_of_code
from survey.extensions import db
from survey.models import CallAttempt, FieldworkCase, Response
from tests.app.phone_setup import WEDNESDAY_10AM, sample_cases
from tests.conftest import _test_config


@pytest.fixture
def simulated_app(demo_database_url: str) -> Iterator[Flask]:
    from survey import create_app

    app = create_app(
        _test_config(
            demo_database_url,
            TELEPHONY_SIMULATE_RESPONDENTS=True,
            CLOCK=lambda: WEDNESDAY_10AM,
        )
    )
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def test_worker_command_dials_at_the_paced_rate_and_every_call_gets_a_disposition(
    simulated_app: Flask,
) -> None:
    with simulated_app.app_context():
        sample_cases({"云溪县": [f"1370000{n:04d}" for n in range(14)]})
    result = simulated_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    # Pacing: at most 10 concurrent calls (the default), so 10 of the 14 cases are dialled.
    assert "dialled 10" in result.output
    with simulated_app.app_context():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            open_calls = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(CallAttempt)
                .where(CallAttempt.ended_at.is_(None))
            )
            db.session.rollback()
            if open_calls == 0:
                break
            time.sleep(0.2)
        attempts = db.session.scalars(sa.select(CallAttempt)).all()
        assert len(attempts) == 10
        assert all(a.ended_at is not None and a.disposition for a in attempts)
        codes = [
            c.disposition for c in db.session.scalars(sa.select(FieldworkCase)) if c.disposition
        ]
        assert len(codes) == 10
        for code in codes:
            category_of_code(code)  # every code is a valid AAPOR code
        completes = codes.count("1.1")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == completes
