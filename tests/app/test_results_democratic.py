"""Democratic evaluation: tokens, ballots (once each, also concurrently), tallies, grades."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.models import Ballot, Cycle, Unit
from survey.services import democratic
from survey.services.errors import ServiceError, ValidationError
from tests.app.helpers import login


def unit(session: Any, code: str) -> Unit:
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    found = next(entry for entry in cycle.units if entry.code == code)
    assert isinstance(found, Unit)
    return found


def test_ballots_tally_and_grade(demo_session: Any) -> None:
    g04 = unit(demo_session, "G04")
    head = democratic.add_official(demo_session, g04, name="张明", title="局长", actor="admin")
    deputy = democratic.add_official(demo_session, g04, name="李华", title="副局长", actor="admin")
    with pytest.raises(ValidationError, match="already listed"):
        democratic.add_official(demo_session, g04, name="张明", title="", actor="admin")
    tokens = democratic.issue_tokens(demo_session, g04, count=6, actor="admin")
    assert len(set(tokens)) == 6
    # 李华: 2 competent, 2 basically competent, 1 incompetent, 1 don't know → 3 of 5 valid
    # votes unfavourable (> 1/3); 张明: all excellent.
    deputy_votes = ["competent", "competent", "basically_competent", "incompetent"]
    deputy_votes += ["basically_competent", "dont_know"]
    for token, vote in zip(tokens, deputy_votes, strict=True):
        democratic.submit_ballot(demo_session, token, {head.id: "excellent", deputy.id: vote})
    with pytest.raises(ServiceError, match="already been submitted"):
        democratic.submit_ballot(demo_session, tokens[0], {head.id: "excellent", deputy.id: "x"})
    with pytest.raises(ServiceError, match="not valid"):
        democratic.open_ballot(demo_session, "not-a-token")
    rows, grading = democratic.results(demo_session, g04.cycle)
    by_name = {row.official.name: row for row in rows}
    assert by_name["李华"].tally.valid_votes == 5
    assert by_name["李华"].tally.unfavourable_votes == 3
    # (2·80 + 2·60 + 0) / 5 = 56.
    assert by_name["李华"].tally.score == pytest.approx(56.0)
    assert by_name["李华"].graded is not None
    assert by_name["李华"].graded.grade == "basically_competent"
    assert by_name["张明"].graded is not None and by_name["张明"].graded.grade == "competent"
    assert grading is not None and grading.quota == (0, 2, 0, 0)


def test_incomplete_ballot_lists_every_problem(demo_session: Any) -> None:
    g04 = unit(demo_session, "G04")
    first = democratic.add_official(demo_session, g04, name="王强", title="", actor="admin")
    second = democratic.add_official(demo_session, g04, name="赵丽", title="", actor="admin")
    (token,) = democratic.issue_tokens(demo_session, g04, count=1, actor="admin")
    with pytest.raises(ValidationError) as caught:
        democratic.submit_ballot(demo_session, token, {first.id: "great"})
    problems = [str(problem) for problem in caught.value.problems]
    assert f"column official-{first.id}: “great” is not a ballot option" in problems
    assert f"column official-{second.id}: no vote for 赵丽" in problems
    democratic.open_ballot(demo_session, token)  # still unused


def test_token_counts_once_under_concurrent_submissions(demo_app: Flask) -> None:
    from survey.extensions import db

    with demo_app.app_context():
        g04 = unit(db.session, "G04")
        official = democratic.add_official(db.session, g04, name="孙伟", title="", actor="admin")
        official_id = official.id
        (token,) = democratic.issue_tokens(db.session, g04, count=1, actor="admin")
        db.session.commit()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def submit() -> None:
        with demo_app.app_context():
            barrier.wait()
            try:
                democratic.submit_ballot(db.session, token, {official_id: "competent"})
                db.session.commit()
                outcomes.append("ok")
            except (ServiceError, sa.exc.OperationalError):
                db.session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 1


def test_ballot_through_the_web(demo_app: Flask) -> None:
    from survey.extensions import db

    with demo_app.app_context():
        cycle_id = db.session.scalars(sa.select(Cycle.id).where(Cycle.year == 2026)).one()
        g04_id = unit(db.session, "G04").id
    admin = demo_app.test_client()
    login(admin, "admin")
    response = admin.post(
        f"/office/cycles/{cycle_id}/officials",
        data={"unit": str(g04_id), "name": "周婷", "title": "局长"},
    )
    assert response.status_code == 302
    page = admin.post(
        f"/office/cycles/{cycle_id}/ballot-tokens", data={"unit": str(g04_id), "count": "2"}
    ).get_data(as_text=True)
    links = [part.split("</code>")[0] for part in page.split("<code>")[1:] if "/ballot/" in part]
    assert len(links) == 2
    path = links[0][links[0].index("/ballot/") :]
    rater = demo_app.test_client()
    form = rater.get(path, headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "周婷" in form and "基本称职" in form and "不了解" in form
    with demo_app.app_context():
        official_id = democratic.unit_officials(db.session, g04_id)[0].id
    incomplete = rater.post(path, data={})
    assert incomplete.status_code == 400
    done = rater.post(path, data={f"official-{official_id}": "excellent"})
    assert done.status_code == 200
    again = rater.post(path, data={f"official-{official_id}": "incompetent"})
    assert again.status_code == 409
    assert rater.get(path).status_code == 404
    results = admin.get(f"/office/cycles/{cycle_id}/democratic").get_data(as_text=True)
    assert "周婷" in results and "100.00" in results
