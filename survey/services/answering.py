"""Answering (答卷): one respondent's sitting, from the door to the thanks page.

A *sitting* is one respondent answering one questionnaire, by either door:

* an invitation link ``/s/<token>`` (:func:`open_invitation`): the link is the
  credential; the questionnaire may have several unit pages;
* a listed rater's personal token ``/r/<token>`` (:func:`open_listed`): like an
  invitation, every unit the group rates, stored with the group's own channel;
* an open poster ``/q/<code>`` (:func:`open_poster`, :func:`request_code`,
  :func:`check_code`, :func:`open_rating`): a screening question and a one-time
  SMS code, then one unit page.  What the respondent's browser keeps between
  these steps is a :class:`PosterPass`.

Every step returns one :class:`Outcome`: which page comes next (:class:`Next`
and ``page``), what was stored (:class:`Stored`, which tells the view whether to
commit), and which error, if any (a :class:`RespondentError` whose ``reason``
picks the page, a sent form to show again, a wrong code, phone problems).  The
web views (``survey.respondent.views``) only read forms, call one step, commit
once when something was stored, and render or redirect.

The steps flush and never commit.  Submission is exactly-once under concurrency
(:mod:`survey.services.responses`): a lost race comes back as an outcome with
``ALREADY_ANSWERED``, and the view rolls back.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.exc import StaleDataError

from survey.integrations.provider import Telephony
from survey.models import Poster, PosterVerification
from survey.privacy import Vault
from survey.services import listed as listed_service
from survey.services import posters as poster_service
from survey.services import responses as response_service
from survey.services.errors import Problem, ServiceError
from survey.services.posters import CodeCheck
from survey.services.responses import (
    ALREADY_ANSWERED,
    UNKNOWN,
    Answers,
    InvitationCase,
    Questionnaire,
    RespondentError,
    UnitAnswers,
)

__all__ = [
    "Action",
    "CodeCheck",
    "InvitationSitting",
    "ListedSitting",
    "Next",
    "Notice",
    "Outcome",
    "PageSent",
    "PosterPass",
    "PosterSitting",
    "Sitting",
    "StartSent",
    "Stored",
    "check_code",
    "code_page",
    "first_open_page",
    "open_invitation",
    "open_listed",
    "open_poster",
    "open_rating",
    "poster_start",
    "rating_page",
    "request_code",
    "send_page",
    "welcome",
]


class Next(enum.StrEnum):
    """The page the respondent sees next."""

    #: The invitation's welcome page (``page``: where "start" leads).
    WELCOME = "welcome"
    #: The poster's first page: the screening question and the mobile number.
    POSTER_START = "poster_start"
    #: The poster's page asking for the SMS code.
    CODE = "code"
    #: Unit page number ``page`` (from 1).
    PAGE = "page"
    #: The thanks page: the response is stored.
    THANKS = "thanks"
    #: A page with only a message (:class:`Notice`), the sitting goes no further.
    MESSAGE = "message"
    #: The page of ``error.reason`` (unknown link, already answered, closed …).
    PROBLEM = "problem"


class Stored(enum.StrEnum):
    """What a step wrote (flushed, for the view to commit); ``NOTHING`` changes nothing."""

    NOTHING = "nothing"
    DRAFT = "draft"
    RESPONSE = "response"
    CODE_SENT = "code_sent"
    #: A code was checked: the attempt counts whatever the result.
    CODE_CHECKED = "code_checked"


class Notice(enum.StrEnum):
    """Fixed texts the view shows (it holds their translations)."""

    #: A unit page saved for later (暂存).
    SAVED = "saved"
    #: The honeypot field was filled in: a bot.
    NOT_ACCEPTED = "not_accepted"
    #: The screening question said the person was not just served here.
    NOT_SERVED_HERE = "not_served_here"


class Action(enum.StrEnum):
    """The button that sent a unit page."""

    BACK = "back"
    SAVE = "save"
    #: "Next", and on the last page "Submit".
    NEXT = "next"

    @classmethod
    def of(cls, value: str | None) -> Action:
        """The button named by the form; anything else counts as :attr:`NEXT`."""
        try:
            return cls(value or cls.NEXT)
        except ValueError:
            return cls.NEXT


@dataclass(frozen=True)
class PosterPass:
    """What the respondent's browser keeps between a poster's steps: which poster,
    which phone verification, and whether its code was confirmed."""

    code: str
    verification_id: int
    verified: bool


@dataclass(frozen=True)
class Outcome:
    """Where one step leads: the next page, what was stored, and which error.

    A view commits when ``stored`` is not :attr:`Stored.NOTHING` and otherwise rolls
    back on an error; it shows the page in place when ``next``/``page`` is the page
    it serves, else redirects there.
    """

    next: Next
    #: The unit page (``Next.PAGE``) or the welcome page's first page (``Next.WELCOME``).
    page: int = 0
    stored: Stored = Stored.NOTHING
    #: ``Next.PROBLEM``: why nothing can be answered here (its ``reason`` picks the page).
    error: RespondentError | None = None
    #: The form as sent is shown again with its errors (status 400).
    invalid: bool = False
    #: Problems of the sent mobile number (``survey.services.posters.PHONE_*`` messages).
    problems: Sequence[Problem] = ()
    #: The result of checking an SMS code (anything but ``VERIFIED`` is shown as an error).
    code_check: CodeCheck | None = None
    notice: Notice | None = None
    #: ``Stored.DRAFT`` on a page saved for later: the unit's answers to fill the page with.
    saved: UnitAnswers | None = None
    #: ``Stored.RESPONSE``: the new response.
    response_id: int | None = None
    #: ``Stored.RESPONSE``: it has a comment (the thanks page offers a follow-up, issue #22).
    commented: bool = False
    #: The invitation's welcome page: a draft exists.
    resuming: bool = False
    #: What the browser should keep from now on (``None``: keep what it has; after a
    #: poster response it is :attr:`ended` and forgotten).
    poster_pass: PosterPass | None = None
    #: The SMS code just sent, only for the demo's on-screen stand-in for a phone.
    sent_code: str | None = None

    @property
    def status(self) -> int:
        """The HTTP status of a page shown in place (problems have their own)."""
        if self.invalid or (self.code_check is not None and self.code_check != CodeCheck.VERIFIED):
            return 400
        if self.notice == Notice.NOT_ACCEPTED:
            return 400
        return 200

    @property
    def ended(self) -> bool:
        """The sitting is over: whatever the browser kept for it can go."""
        return self.next == Next.THANKS


def _problem(reason: str, message: str) -> Outcome:
    return Outcome(Next.PROBLEM, error=RespondentError(reason, message))


def _refused(error: RespondentError) -> Outcome:
    return Outcome(Next.PROBLEM, error=error)


def _answered_in_parallel() -> Outcome:
    return _problem(ALREADY_ANSWERED, "answered in parallel")


# --- sittings -------------------------------------------------------------------


class Sitting(abc.ABC):
    """One respondent answering one questionnaire; the door decides how answers are kept."""

    questionnaire: Questionnaire

    @abc.abstractmethod
    def owner(self) -> dict[str, int]:
        """Keyword arguments naming the draft's owner (a case or a phone verification)."""
        raise NotImplementedError

    @abc.abstractmethod
    def draft(self, session: orm.Session) -> Answers:
        """The saved draft: unit id → answers."""
        raise NotImplementedError

    @abc.abstractmethod
    def answered(self, session: orm.Session) -> bool:
        """Fresh from the database: has this sitting's response been stored?"""
        raise NotImplementedError

    @abc.abstractmethod
    def submit(self, session: orm.Session, answers: Answers) -> int:
        """Store the complete answers exactly once; the new response's id."""
        raise NotImplementedError

    def save_draft(self, session: orm.Session, unit_id: int, answers: UnitAnswers) -> None:
        response_service.save_draft(session, unit_id, answers, **self.owner())

    def unit_at(self, number: int) -> response_service.QuestionUnit | None:
        """Unit page ``number`` (from 1), or ``None``."""
        units = self.questionnaire.units
        return units[number - 1] if 1 <= number <= len(units) else None


@dataclass
class InvitationSitting(Sitting):
    """A sampled contact answering by the invitation link ``token``."""

    token: str
    case: InvitationCase
    questionnaire: Questionnaire
    #: The draft as read with the case (one statement).
    answers: Answers

    def owner(self) -> dict[str, int]:
        return {"case_id": self.case.id}

    def draft(self, session: orm.Session) -> Answers:
        return self.answers

    def answered(self, session: orm.Session) -> bool:
        return response_service.case_answered(session, self.case.id)

    def submit(self, session: orm.Session, answers: Answers) -> int:
        return response_service.submit_invitation(
            session, self.case, self.questionnaire, answers, had_draft=bool(self.answers)
        )

    def saved(self, number: int) -> UnitAnswers | None:
        """The draft's answers for unit page ``number``."""
        unit = self.unit_at(number)
        return None if unit is None else self.answers.get(unit.id)


@dataclass
class PosterSitting(Sitting):
    """Someone who scanned the poster ``poster``; ``verification`` is their phone's
    check once the browser's :class:`PosterPass` names one for this poster's unit."""

    poster: Poster
    questionnaire: Questionnaire
    poster_pass: PosterPass | None
    verification: PosterVerification | None = field(default=None)

    def _verified(self) -> PosterVerification:
        if self.verification is None:
            raise RespondentError(UNKNOWN, "no verified phone number")
        return self.verification

    def owner(self) -> dict[str, int]:
        return {"verification_id": self._verified().id}

    def draft(self, session: orm.Session) -> Answers:
        return response_service.load_draft(session, verification_id=self._verified().id)

    def answered(self, session: orm.Session) -> bool:
        return response_service.verification_answered(session, self._verified().id)

    def submit(self, session: orm.Session, answers: Answers) -> int:
        return response_service.submit_open(session, self._verified(), self.questionnaire, answers)


@dataclass
class ListedSitting(Sitting):
    """A rater on a listed group's roster answering by their personal token."""

    token: str
    rater_id: int
    questionnaire: Questionnaire
    #: The draft as read with the rater.
    answers: Answers

    def owner(self) -> dict[str, int]:
        return {"rater_id": self.rater_id}

    def draft(self, session: orm.Session) -> Answers:
        return self.answers

    def save_draft(self, session: orm.Session, unit_id: int, answers: UnitAnswers) -> None:
        listed_service.save_draft(session, self.rater_id, unit_id, answers)
        self.answers[unit_id] = answers

    def answered(self, session: orm.Session) -> bool:
        return listed_service.answered(session, self.rater_id)

    def submit(self, session: orm.Session, answers: Answers) -> int:
        return listed_service.submit_listed(session, self.rater_id, self.questionnaire, answers)

    def saved(self, number: int) -> UnitAnswers | None:
        """The draft's answers for unit page ``number``."""
        unit = self.unit_at(number)
        return None if unit is None else self.answers.get(unit.id)


def first_open_page(questionnaire: Questionnaire, answers: Answers) -> int:
    """The first unit page not fully answered (the last page when all are)."""
    for number, unit in enumerate(questionnaire.units, start=1):
        if unit.id not in answers or not answers[unit.id].is_complete(questionnaire):
            return number
    return len(questionnaire.units)


# --- invitation links -----------------------------------------------------------


def open_invitation(
    session: orm.Session, token: str, *, page: int | None = None
) -> InvitationSitting | Outcome:
    """The sitting behind ``/s/<token>``, or the problem page instead.

    With ``page``, that unit page must exist.  Reads only (one statement for the
    case, its questionnaire and its draft).
    """
    try:
        case, questionnaire, answers = response_service.open_invitation_with_draft(session, token)
    except RespondentError as error:
        return _refused(error)
    sitting = InvitationSitting(
        token=token, case=case, questionnaire=questionnaire, answers=answers
    )
    if page is not None and sitting.unit_at(page) is None:
        return _problem(UNKNOWN, "no such page")
    return sitting


def open_listed(
    session: orm.Session, token: str, *, page: int | None = None
) -> ListedSitting | Outcome:
    """The sitting behind a listed rater's ``/r/<token>``, or the problem page instead."""
    try:
        rater, questionnaire, answers = listed_service.open_listed(session, token)
    except RespondentError as error:
        return _refused(error)
    sitting = ListedSitting(
        token=token, rater_id=rater.id, questionnaire=questionnaire, answers=answers
    )
    if page is not None and sitting.unit_at(page) is None:
        return _problem(UNKNOWN, "no such page")
    return sitting


def welcome(sitting: InvitationSitting | ListedSitting) -> Outcome:
    """The welcome page: start at the first page not fully answered."""
    return Outcome(
        Next.WELCOME,
        page=first_open_page(sitting.questionnaire, sitting.answers),
        resuming=bool(sitting.answers),
    )


# --- unit pages -----------------------------------------------------------------


@dataclass(frozen=True)
class PageSent:
    """One unit page as the respondent sent it, after the form's own checks."""

    action: Action
    #: Every field passed its checks.
    valid: bool
    #: Item id → level id of the answered items that passed their checks.
    valid_levels: Mapping[int, int]
    #: Item id → level id of every answered item.
    levels: Mapping[int, int]
    comment: str
    #: Something that stops even keeping a draft: a comment too long, a bad form token.
    blocked: bool = False


def send_page(session: orm.Session, sitting: Sitting, number: int, sent: PageSent) -> Outcome:
    """A unit page sent: back / save keep what is valid; next / submit need it all.

    The last page submits: the draft and this page are merged in memory and stored as
    the response, exactly once; the draft row is only written when something is still
    missing, so parallel submits never fight over it.
    """
    questionnaire = sitting.questionnaire
    unit = questionnaire.units[number - 1]
    if sent.action in (Action.BACK, Action.SAVE):
        if sent.blocked:
            return Outcome(Next.PAGE, page=number, invalid=True)
        unit_answers = response_service.parse_unit_answers(
            questionnaire, unit.id, sent.valid_levels, sent.comment, require_all=False
        )
        sitting.save_draft(session, unit.id, unit_answers)
        if sent.action == Action.BACK:
            return Outcome(Next.PAGE, page=max(1, number - 1), stored=Stored.DRAFT)
        return Outcome(
            Next.PAGE, page=number, stored=Stored.DRAFT, saved=unit_answers, notice=Notice.SAVED
        )
    if not sent.valid:
        return Outcome(Next.PAGE, page=number, invalid=True)
    try:
        unit_answers = response_service.parse_unit_answers(
            questionnaire, unit.id, sent.levels, sent.comment, require_all=True
        )
    except ServiceError:
        return Outcome(Next.PAGE, page=number, invalid=True)
    if number < len(questionnaire.units):
        sitting.save_draft(session, unit.id, unit_answers)
        return Outcome(Next.PAGE, page=number + 1, stored=Stored.DRAFT)
    answers = dict(sitting.draft(session))
    answers[unit.id] = unit_answers
    try:
        response_service.check_complete(questionnaire, answers)
    except ServiceError:
        # Missing answers may mean a parallel request has just submitted (and
        # deleted the draft): then this one is a resubmission.
        if sitting.answered(session):
            return _answered_in_parallel()
        try:
            sitting.save_draft(session, unit.id, unit_answers)
        except (sa.exc.IntegrityError, StaleDataError):
            return _answered_in_parallel()
        return Outcome(Next.PAGE, page=first_open_page(questionnaire, answers), stored=Stored.DRAFT)
    try:
        response_id = sitting.submit(session, answers)
    except RespondentError as error:
        return _refused(error)
    except (sa.exc.IntegrityError, StaleDataError):
        # Lost a race the conditional update did not see (the unique
        # constraints held): whoever won has answered.
        return _answered_in_parallel()
    commented = any(given.comment.strip() for given in answers.values())
    return Outcome(
        Next.THANKS, stored=Stored.RESPONSE, response_id=response_id, commented=commented
    )


# --- open posters ---------------------------------------------------------------


def open_poster(
    session: orm.Session, code: str, poster_pass: PosterPass | None
) -> PosterSitting | Outcome:
    """The sitting behind ``/q/<code>``, or the problem page instead.  ``poster_pass``
    is what the browser kept; its verification is looked up only if it is for this poster."""
    try:
        poster, questionnaire = poster_service.open_poster(session, code)
    except RespondentError as error:
        return _refused(error)
    if poster_pass is not None and poster_pass.code != code:
        poster_pass = None
    sitting = PosterSitting(poster=poster, questionnaire=questionnaire, poster_pass=poster_pass)
    if poster_pass is not None:
        verification = session.get(PosterVerification, poster_pass.verification_id)
        if (
            verification is not None
            and verification.cycle_id == poster.cycle_id
            and verification.unit_id == poster.unit_id
        ):
            sitting.verification = verification
    return sitting


def _confirmed(sitting: PosterSitting) -> PosterVerification | None:
    """The sitting's verification if its code was confirmed in this browser."""
    if sitting.poster_pass is None or not sitting.poster_pass.verified:
        return None
    return sitting.verification


def poster_start(sitting: PosterSitting) -> Outcome:
    """The poster's first page, or straight to rating when this browser has confirmed
    a code and not answered yet."""
    verification = _confirmed(sitting)
    if verification is not None and verification.completed_at is None:
        return Outcome(Next.PAGE, page=1)
    return Outcome(Next.POSTER_START)


@dataclass(frozen=True)
class StartSent:
    """The poster's first page as sent (its form passed its own checks)."""

    #: The field hidden from people was filled in.
    honeypot: bool
    served_here: bool
    phone: str


def request_code(
    session: orm.Session,
    vault: Vault,
    sender: Telephony,
    sitting: PosterSitting,
    sent: StartSent,
    *,
    before_sending: Callable[[str], None],
) -> Outcome:
    """Screen the respondent and send a one-time code to the number given.

    ``before_sending`` is :func:`survey.services.posters.request_code`'s (the
    per-number rate limit).
    """
    if sent.honeypot:
        return Outcome(Next.MESSAGE, notice=Notice.NOT_ACCEPTED)
    if not sent.served_here:
        return Outcome(Next.MESSAGE, notice=Notice.NOT_SERVED_HERE)
    try:
        code_sent = poster_service.request_code(
            session, vault, sender, sitting.poster, sent.phone, before_sending=before_sending
        )
    except RespondentError as error:
        return _refused(error)
    except ServiceError as error:
        return Outcome(Next.POSTER_START, invalid=True, problems=tuple(error.problems))
    return Outcome(
        Next.CODE,
        stored=Stored.CODE_SENT,
        poster_pass=PosterPass(sitting.poster.code, code_sent.verification.id, verified=False),
        sent_code=code_sent.code,
    )


def code_page(sitting: PosterSitting) -> Outcome:
    """The page asking for the code, or back to the start when no code was sent to
    this browser."""
    if sitting.verification is None:
        return Outcome(Next.POSTER_START)
    return Outcome(Next.CODE)


def check_code(session: orm.Session, vault: Vault, sitting: PosterSitting, code: str) -> Outcome:
    """Check the code sent; the attempt counts whatever the result (so it is stored)."""
    verification = sitting.verification
    if verification is None:
        return Outcome(Next.POSTER_START)
    try:
        checked = poster_service.check_code(session, vault, verification, code)
    except RespondentError as error:
        return _refused(error)
    if checked != CodeCheck.VERIFIED:
        return Outcome(Next.CODE, stored=Stored.CODE_CHECKED, code_check=checked)
    return Outcome(
        Next.PAGE,
        page=1,
        stored=Stored.CODE_CHECKED,
        code_check=checked,
        poster_pass=PosterPass(sitting.poster.code, verification.id, verified=True),
    )


def open_rating(
    session: orm.Session, code: str, poster_pass: PosterPass | None
) -> PosterSitting | Outcome:
    """The poster's sitting ready to rate (a confirmed code, no response yet), or
    where to go instead."""
    sitting = open_poster(session, code, poster_pass)
    if isinstance(sitting, Outcome):
        return sitting
    verification = _confirmed(sitting)
    if verification is None:
        return Outcome(Next.POSTER_START)
    if verification.completed_at is not None:
        return _problem(ALREADY_ANSWERED, "answered")
    return sitting


def rating_page(session: orm.Session, sitting: PosterSitting) -> UnitAnswers | None:
    """The draft's answers for the poster's one unit page."""
    return sitting.draft(session).get(sitting.questionnaire.units[0].id)
