"""The answering service (survey.services.answering) on its own: outcomes, and the
caller's commit being the only one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.models import Response, ResponseDraft
from survey.services import answering
from survey.services.answering import (
    Action,
    InvitationSitting,
    Next,
    Notice,
    Outcome,
    PageSent,
    Stored,
)
from survey.services.responses import ALREADY_ANSWERED, UNKNOWN
from tests.app.respondent_helpers import prepare_fieldwork


def _page(sitting: InvitationSitting, action: Action = Action.NEXT) -> PageSent:
    questionnaire = sitting.questionnaire
    levels = {item.id: questionnaire.levels[0].id for item in questionnaire.items}
    return PageSent(action=action, valid=True, valid_levels=levels, levels=levels, comment="")


def _open(token: str, page: int | None = None) -> InvitationSitting:
    sitting = answering.open_invitation(db.session, token, page=page)
    assert isinstance(sitting, InvitationSitting), sitting
    return sitting


def _count(model: type) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_an_invitation_sitting_walks_its_pages_and_only_the_caller_commits(
    demo_app: Flask,
) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session, units_per_respondent=2)
        db.session.commit()
        token = fieldwork.tokens[0]
        responses = _count(Response)

        sitting = _open(token)
        assert answering.welcome(sitting) == Outcome(Next.WELCOME, page=1)
        first = answering.send_page(db.session, sitting, 1, _page(sitting))
        assert (first.next, first.page, first.stored) == (Next.PAGE, 2, Stored.DRAFT)
        db.session.commit()

        sitting = _open(token, page=2)
        assert answering.welcome(sitting) == Outcome(Next.WELCOME, page=2, resuming=True)
        last = answering.send_page(db.session, sitting, 2, _page(sitting))
        assert (last.next, last.stored, last.ended) == (Next.THANKS, Stored.RESPONSE, True)
        assert last.response_id is not None
        # The service flushed and did not commit: rolling back leaves nothing behind.
        db.session.rollback()
        assert _count(Response) == responses
        assert _count(ResponseDraft) == 1

        sitting = _open(token, page=2)
        again = answering.send_page(db.session, sitting, 2, _page(sitting))
        assert again.next == Next.THANKS
        db.session.commit()
        assert _count(Response) == responses + 1
        assert _count(ResponseDraft) == 0

        used = answering.open_invitation(db.session, token)
        assert isinstance(used, Outcome) and used.next == Next.PROBLEM
        assert used.error is not None and used.error.reason == ALREADY_ANSWERED


def test_save_keeps_a_draft_and_back_leaves_the_page_and_bad_pages_are_problems(
    demo_app: Flask,
) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session, units_per_respondent=2)
        db.session.commit()
        token = fieldwork.tokens[1]

        missing = answering.open_invitation(db.session, token, page=3)
        assert isinstance(missing, Outcome)
        assert missing.error is not None and missing.error.reason == UNKNOWN

        sitting = _open(token, page=2)
        saved = answering.send_page(db.session, sitting, 2, _page(sitting, Action.SAVE))
        assert (saved.next, saved.page, saved.notice) == (Next.PAGE, 2, Notice.SAVED)
        assert saved.saved is not None and saved.saved.is_complete(sitting.questionnaire)
        back = answering.send_page(db.session, sitting, 1, _page(sitting, Action.BACK))
        assert (back.next, back.page, back.stored) == (Next.PAGE, 1, Stored.DRAFT)

        # The last page sent while the first is unanswered: back to the first open page.
        db.session.rollback()
        sitting = _open(token, page=2)
        early = answering.send_page(db.session, sitting, 2, _page(sitting))
        assert (early.next, early.page, early.stored) == (Next.PAGE, 1, Stored.DRAFT)

        invalid = answering.send_page(
            db.session,
            sitting,
            1,
            PageSent(action=Action.NEXT, valid=False, valid_levels={}, levels={}, comment=""),
        )
        assert (invalid.invalid, invalid.status, invalid.stored) == (True, 400, Stored.NOTHING)
        db.session.rollback()
