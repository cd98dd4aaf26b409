"""Listed rater groups (名单评价): rosters, personal tokens, completion, reminders, paper.

A listed group's raters are known by name (:class:`~survey.models.ListedRater`).
The office imports the roster (all or nothing, like every import), prints one
letter per rater with a personal token and its QR code, follows who has
answered — per group and organisation, never which answers — and reminds those
who have not.  A rater answers through :mod:`survey.services.answering`
(``ListedSitting``); the response goes in with the group's own channel
(:class:`~survey.services.rater_policy.RaterPolicy.door`) and without a link to
the rater.

On-site paper ballots (现场测评) are entered twice by two different staff
members; a sheet whose entries agree counts at once, a sheet whose entries
differ waits for a third person (a supervisor) to settle each difference.

Services flush and never commit.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations.provider import Telephony
from survey.models import (
    Cycle,
    CycleStatus,
    ListedRater,
    PaperBallot,
    PaperStatus,
    RaterGroup,
)
from survey.models.base import utc_now
from survey.privacy import InvalidPhoneNumber, Vault, normalise_phone
from survey.services import audit
from survey.services import responses as response_service
from survey.services.errors import N_, Problem, ServiceError, ValidationError
from survey.services.rater_policy import policy_of
from survey.services.responses import (
    ALREADY_ANSWERED,
    EXPIRED,
    NOT_OPEN,
    UNKNOWN,
    Answers,
    Questionnaire,
    RespondentError,
    UnitAnswers,
)
from survey.services.tabular import read_table

#: Accepted header spellings of the roster, Chinese first (the template's header).
ROSTER_COLUMNS = {
    "name": ["姓名", "名字", "评价人", "name"],
    "organisation": ["单位", "工作单位", "所在单位", "组织", "organisation", "organization"],
    "contact": ["联系方式", "手机", "手机号", "电话", "联系电话", "contact", "phone"],
    "group": ["评价主体", "群体", "类别", "组别", "group"],
}
ROSTER_REQUIRED = ("name", "group")

#: The reminder SMS (the raters are Chinese officials; like the poster's code SMS).
REMINDER_SMS = "【{cycle}】{name}，您好！您尚未完成评价，请通过以下链接作答：{link}"

#: Levels of one paper sheet: unit id → item id → scale level id.
SheetLevels = Mapping[int, Mapping[int, int]]


def listed_groups(cycle: Cycle) -> list[RaterGroup]:
    """The cycle's groups whose raters are known by name (their policy has a roster)."""
    return [group for group in cycle.rater_groups if policy_of(group).roster]


def _new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class RosterSummary:
    created: int
    updated: int


def import_roster(
    session: orm.Session,
    vault: Vault,
    cycle: Cycle,
    filename: str,
    data: bytes,
    *,
    actor: str,
    encoding: str = "auto",
    max_rows: int = 100_000,
) -> RosterSummary:
    """Add the raters of a roster file (CSV/XLSX), all or nothing.

    Columns: name, group (code or name of a listed group of the cycle), and
    optionally organisation and contact (a mobile number or an e-mail address,
    stored encrypted).  A rater already on the roster (same group, name and
    organisation) keeps their token; their contact is updated.  Every problem is
    reported with its row and column.
    """
    if cycle.status not in (CycleStatus.DRAFT, CycleStatus.FIELDING):
        raise ServiceError(
            N_(
                "Rosters can be imported only before or during fieldwork (%(cycle)s is %(status)s)."
            ),
            parameters={"cycle": cycle.name, "status": cycle.status.value},
        )
    table = read_table(
        filename,
        data,
        columns=ROSTER_COLUMNS,
        required=ROSTER_REQUIRED,
        encoding=encoding,
        max_rows=max_rows,
    )
    groups: dict[str, RaterGroup] = {}
    for group in listed_groups(cycle):
        groups[group.code.lower()] = group
        groups[group.name.lower()] = group
    column = table.column
    problems: list[Problem] = []
    seen: dict[tuple[int, str, str], int] = {}
    for number, row in table.rows:
        if not row["name"]:
            problems.append(Problem(N_("the name is missing"), number, column("name")))
        if len(row["name"]) > 100:
            problems.append(
                Problem(N_("the name is longer than 100 characters"), number, column("name"))
            )
        if len(row.get("organisation", "")) > 200:
            problems.append(
                Problem(
                    N_("the organisation is longer than 200 characters"),
                    number,
                    column("organisation"),
                )
            )
        found = groups.get(row["group"].lower())
        if not row["group"]:
            problems.append(Problem(N_("the rater group is missing"), number, column("group")))
        elif found is None:
            problems.append(
                Problem(
                    N_("%(group)s is not a listed rater group of this cycle"),
                    number,
                    column("group"),
                    {"group": repr(row["group"])},
                )
            )
        contact = row.get("contact", "")
        if contact and "@" not in contact:
            try:
                normalise_phone(contact)
            except InvalidPhoneNumber:
                problems.append(
                    Problem(
                        N_("%(contact)s is neither a mobile number nor an e-mail address"),
                        number,
                        column("contact"),
                        {"contact": repr(contact)},
                    )
                )
        if found is not None and row["name"]:
            key = (found.id, row["name"], row.get("organisation", ""))
            if key in seen:
                problems.append(
                    Problem(
                        N_("%(name)s is listed twice (also in row %(other)d)"),
                        number,
                        column("name"),
                        {"name": row["name"], "other": seen[key]},
                    )
                )
            else:
                seen[key] = number
    if problems:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    existing = {
        (rater.rater_group_id, rater.name, rater.organisation): rater
        for rater in session.scalars(sa.select(ListedRater).where(ListedRater.cycle_id == cycle.id))
    }
    created = updated = 0
    for _number, row in table.rows:
        group = groups[row["group"].lower()]
        organisation = row.get("organisation", "")
        contact = row.get("contact", "")
        if contact and "@" not in contact:
            contact = normalise_phone(contact).e164
        sealed = vault.encrypt(contact) if contact else ""
        rater = existing.get((group.id, row["name"], organisation))
        if rater is None:
            session.add(
                ListedRater(
                    cycle_id=cycle.id,
                    rater_group_id=group.id,
                    name=row["name"],
                    organisation=organisation,
                    contact_encrypted=sealed,
                    token=_new_token(),
                    reminders=0,
                )
            )
            created += 1
        else:
            rater.contact_encrypted = sealed
            updated += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="roster.import",
        object_type="cycle",
        object_id=cycle.id,
        details={"file": filename, "created": created, "updated": updated},
    )
    return RosterSummary(created=created, updated=updated)


def roster(
    session: orm.Session, cycle: Cycle, *, unanswered_only: bool = False
) -> list[ListedRater]:
    """The cycle's listed raters, by group, organisation and name."""
    query = sa.select(ListedRater).where(ListedRater.cycle_id == cycle.id)
    if unanswered_only:
        query = query.where(ListedRater.answered_at.is_(None))
    return list(
        session.scalars(
            query.order_by(ListedRater.rater_group_id, ListedRater.organisation, ListedRater.name)
        )
    )


@dataclass(frozen=True)
class Completion:
    """How many of one group's raters in one organisation have answered (never what)."""

    group: str
    organisation: str
    listed: int
    answered: int


def completion(session: orm.Session, cycle: Cycle) -> list[Completion]:
    """Who has answered, counted per group and organisation."""
    names = {group.id: group.name for group in cycle.rater_groups}
    rows = session.execute(
        sa.select(
            ListedRater.rater_group_id,
            ListedRater.organisation,
            sa.func.count(),
            sa.func.count(ListedRater.answered_at),
        )
        .where(ListedRater.cycle_id == cycle.id)
        .group_by(ListedRater.rater_group_id, ListedRater.organisation)
        .order_by(ListedRater.rater_group_id, ListedRater.organisation)
    )
    return [
        Completion(names.get(group_id, str(group_id)), organisation, int(listed), int(answered))
        for group_id, organisation, listed, answered in rows
    ]


def contact_of(vault: Vault, rater: ListedRater) -> str:
    return vault.decrypt(rater.contact_encrypted) if rater.contact_encrypted else ""


@dataclass(frozen=True)
class Reminders:
    #: Reminders sent by SMS.
    sent: int
    #: Raters without a mobile number (their link is in the roster export / letter).
    without_phone: int


def remind(
    session: orm.Session,
    vault: Vault,
    sender: Telephony | None,
    cycle: Cycle,
    *,
    link: Callable[[str], str],
    actor: str,
    now: datetime | None = None,
) -> Reminders:
    """Send the link again by SMS to every rater who has not answered and has a mobile.

    ``link`` makes the absolute URL of a token.  Without an SMS provider (``sender``
    is ``None``) nothing is sent: the links are in the roster export.
    """
    now = now or utc_now()
    sent = without = 0
    for rater in roster(session, cycle, unanswered_only=True):
        contact = contact_of(vault, rater)
        if sender is None or not contact.startswith("+"):
            without += 1
            continue
        sender.send_sms(
            contact, REMINDER_SMS.format(cycle=cycle.name, name=rater.name, link=link(rater.token))
        )
        rater.reminded_at = now
        rater.reminders += 1
        sent += 1
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="roster.remind",
        object_type="cycle",
        object_id=cycle.id,
        details={"sent": sent, "without_phone": without},
    )
    return Reminders(sent=sent, without_phone=without)


# --- answering by token -------------------------------------------------------------


def open_listed(session: orm.Session, token: str) -> tuple[ListedRater, Questionnaire, Answers]:
    """The rater behind ``/r/<token>``, their questionnaire (every unit the group rates)
    and their draft, or a :class:`RespondentError`."""
    rater = session.scalar(sa.select(ListedRater).where(ListedRater.token == token))
    if rater is None:
        raise RespondentError(UNKNOWN, "this link is not known")
    if rater.answered_at is not None:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    cycle = session.get(Cycle, rater.cycle_id)
    group = session.get(RaterGroup, rater.rater_group_id)
    assert cycle is not None and group is not None
    if cycle.status != CycleStatus.FIELDING:
        reason = NOT_OPEN if cycle.status == CycleStatus.DRAFT else EXPIRED
        raise RespondentError(reason, f"the survey is {cycle.status.value}")
    structure, _key = response_service.group_structure(session, cycle, group)
    questionnaire = response_service.build_questionnaire(session, cycle, group, structure.units)
    return rater, questionnaire, _parse(rater.draft_json)


def _parse(answers_json: str | None) -> Answers:
    if not answers_json:
        return {}
    stored = json.loads(answers_json)
    return {
        int(unit_id): UnitAnswers(
            levels={int(item): int(level) for item, level in entry["items"].items()},
            comment=str(entry.get("comment", "")),
        )
        for unit_id, entry in stored.items()
    }


def save_draft(
    session: orm.Session, rater_id: int, unit_id: int, unit_answers: UnitAnswers
) -> None:
    """Merge one unit's answers into the rater's draft (暂存)."""
    rater = session.get(ListedRater, rater_id)
    if rater is None or rater.answered_at is not None:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    answers = _parse(rater.draft_json)
    answers[unit_id] = unit_answers
    rater.draft_json = json.dumps(
        {
            str(unit): {
                "items": {str(item): level for item, level in entry.levels.items()},
                "comment": entry.comment,
            }
            for unit, entry in answers.items()
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    session.flush()


def answered(session: orm.Session, rater_id: int) -> bool:
    return (
        session.scalar(sa.select(ListedRater.answered_at).where(ListedRater.id == rater_id))
        is not None
    )


def submit_listed(
    session: orm.Session, rater_id: int, questionnaire: Questionnaire, answers: Answers
) -> int:
    """Store a listed rater's response once: the rater is marked answered by a
    conditional ``UPDATE`` (a parallel submission gets ``ALREADY_ANSWERED``), the
    draft goes, and the response is stored without a link to the rater."""
    response_service.check_complete(questionnaire, answers)
    claimed = session.execute(
        sa.update(ListedRater)
        .where(ListedRater.id == rater_id, ListedRater.answered_at.is_(None))
        .values(answered_at=utc_now(), draft_json=None)
        .execution_options(synchronize_session=False)
    )
    if response_service.rows_changed(claimed) != 1:
        raise RespondentError(ALREADY_ANSWERED, "this link has already been answered")
    loaded = session.identity_map.get(orm.util.identity_key(ListedRater, rater_id))
    if loaded is not None:
        session.expire(loaded)
    group = session.get(RaterGroup, questionnaire.rater_group.id)
    assert group is not None
    return _store(session, questionnaire, answers, group)


def _store(
    session: orm.Session, questionnaire: Questionnaire, answers: Answers, group: RaterGroup
) -> int:
    return response_service._store_response(
        session,
        questionnaire,
        answers,
        channel=policy_of(group).door,
        stratum="",
        design_weight=1.0,
    )


# --- paper ballots (现场测评) --------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One cell where the two entries of a paper sheet differ."""

    unit_id: int
    item_id: int
    first: int | None
    second: int | None


def _sheet_json(levels: SheetLevels) -> str:
    return json.dumps(
        {
            str(unit): {str(item): int(level) for item, level in items.items()}
            for unit, items in levels.items()
        },
        sort_keys=True,
    )


def _sheet(text: str | None) -> dict[int, dict[int, int]]:
    stored = json.loads(text or "{}")
    return {
        int(unit): {int(item): int(level) for item, level in items.items()}
        for unit, items in stored.items()
    }


def paper_questionnaire(session: orm.Session, cycle: Cycle, group: RaterGroup) -> Questionnaire:
    """The sheet of a listed group: every unit it rates, every item."""
    structure, _key = response_service.group_structure(session, cycle, group)
    return response_service.build_questionnaire(session, cycle, group, structure.units)


def _check_sheet(questionnaire: Questionnaire, levels: SheetLevels) -> None:
    level_ids = {level.id for level in questionnaire.levels}
    problems = [
        Problem(N_("no answer entered"), column=f"{unit.code} · {item.name}")
        for unit in questionnaire.units
        for item in questionnaire.items
        if levels.get(unit.id, {}).get(item.id) not in level_ids
    ]
    if problems:
        raise ValidationError(
            N_("Enter every answer on the sheet (a blank on paper is “don’t know”)."), problems
        )


def enter_paper(
    session: orm.Session,
    cycle: Cycle,
    group: RaterGroup,
    sheet: str,
    levels: SheetLevels,
    *,
    user_id: int,
    actor: str,
) -> PaperBallot:
    """Enter one paper sheet.  The first entry waits; the second, by someone else,
    counts the sheet when it agrees and marks it disputed when it does not."""
    if cycle.status != CycleStatus.FIELDING:
        raise ServiceError(N_("Paper ballots are entered during fieldwork."))
    if not policy_of(group).roster:
        raise ServiceError(
            N_("%(group)s is not a listed rater group."), parameters={"group": group.name}
        )
    sheet = sheet.strip()
    if not sheet:
        raise ValidationError(
            N_("The sheet number is required."), [Problem(N_("required"), column="sheet")]
        )
    questionnaire = paper_questionnaire(session, cycle, group)
    _check_sheet(questionnaire, levels)
    ballot = session.scalar(
        sa.select(PaperBallot).where(
            PaperBallot.rater_group_id == group.id, PaperBallot.sheet == sheet
        )
    )
    if ballot is None:
        ballot = PaperBallot(
            cycle_id=cycle.id,
            rater_group_id=group.id,
            sheet=sheet,
            status=PaperStatus.ENTERED_ONCE,
            first_json=_sheet_json(levels),
            first_by=user_id,
        )
        session.add(ballot)
        session.flush()
        action = "paper.enter_first"
    elif ballot.status != PaperStatus.ENTERED_ONCE:
        raise ServiceError(
            N_("Sheet %(sheet)s has already been entered twice."), parameters={"sheet": sheet}
        )
    elif ballot.first_by == user_id:
        raise ServiceError(
            N_("Sheet %(sheet)s must be entered the second time by someone else."),
            parameters={"sheet": sheet},
        )
    else:
        ballot.second_json = _sheet_json(levels)
        ballot.second_by = user_id
        if differences(ballot):
            ballot.status = PaperStatus.DISPUTED
            action = "paper.disputed"
        else:
            _count(session, ballot, questionnaire, group, _sheet(ballot.first_json))
            action = "paper.counted"
        session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="paper_ballot",
        object_id=ballot.id,
        details={"group": group.code, "sheet": sheet},
    )
    return ballot


def differences(ballot: PaperBallot) -> list[Difference]:
    """The cells where the two entries differ (none before the second entry)."""
    if ballot.second_json is None:
        return []
    first, second = _sheet(ballot.first_json), _sheet(ballot.second_json)
    cells = sorted(
        {(unit, item) for unit, items in first.items() for item in items}
        | {(unit, item) for unit, items in second.items() for item in items}
    )
    return [
        Difference(unit, item, first.get(unit, {}).get(item), second.get(unit, {}).get(item))
        for unit, item in cells
        if first.get(unit, {}).get(item) != second.get(unit, {}).get(item)
    ]


def resolve_paper(
    session: orm.Session,
    ballot: PaperBallot,
    chosen: Mapping[tuple[int, int], int],
    *,
    user_id: int,
    actor: str,
) -> None:
    """A supervisor — neither of the two who entered the sheet — settles every
    difference by looking at the paper; then the sheet counts."""
    if ballot.status != PaperStatus.DISPUTED:
        raise ServiceError(
            N_("Sheet %(sheet)s has no differences to resolve."), parameters={"sheet": ballot.sheet}
        )
    if user_id in (ballot.first_by, ballot.second_by):
        raise ServiceError(
            N_(
                "Differences are resolved by a third person, not by either of those who "
                "entered the sheet."
            ),
        )
    cycle = session.get(Cycle, ballot.cycle_id)
    group = session.get(RaterGroup, ballot.rater_group_id)
    assert cycle is not None and group is not None
    questionnaire = paper_questionnaire(session, cycle, group)
    level_ids = {level.id for level in questionnaire.levels}
    levels = _sheet(ballot.first_json)
    problems = []
    for difference in differences(ballot):
        value = chosen.get((difference.unit_id, difference.item_id))
        if value not in level_ids:
            problems.append(
                Problem(
                    N_("choose the answer on the paper"),
                    column=f"cell_{difference.unit_id}_{difference.item_id}",
                )
            )
        else:
            levels.setdefault(difference.unit_id, {})[difference.item_id] = int(value)  # type: ignore[arg-type]
    if problems:
        raise ValidationError(N_("Settle every difference before the sheet counts."), problems)
    ballot.resolved_by = user_id
    _count(session, ballot, questionnaire, group, levels)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="paper.resolved",
        object_type="paper_ballot",
        object_id=ballot.id,
        details={"group": group.code, "sheet": ballot.sheet},
    )


def _count(
    session: orm.Session,
    ballot: PaperBallot,
    questionnaire: Questionnaire,
    group: RaterGroup,
    levels: SheetLevels,
) -> None:
    answers = {
        unit.id: UnitAnswers(
            levels={item.id: int(levels[unit.id][item.id]) for item in questionnaire.items}
        )
        for unit in questionnaire.units
    }
    _store(session, questionnaire, answers, group)
    ballot.status = PaperStatus.COUNTED
    ballot.counted_at = utc_now()


def paper_ballots(session: orm.Session, cycle: Cycle) -> list[PaperBallot]:
    return list(
        session.scalars(
            sa.select(PaperBallot)
            .where(PaperBallot.cycle_id == cycle.id)
            .order_by(PaperBallot.rater_group_id, PaperBallot.sheet)
        )
    )
