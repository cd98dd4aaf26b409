"""The demo's fieldwork: a synthetic citizens' frame, locked and drawn with a published seed."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations.simulated import SimulatedTelephony
from survey.models import (
    CallMode,
    CaseSchedule,
    Comment,
    Cycle,
    CycleStatus,
    FieldworkCase,
    FollowUp,
    RaterGroup,
    SampleDraw,
    User,
)
from survey.models.base import utc_now
from survey.privacy import Vault
from survey.services import calling, cycles, frames, listed
from survey.services.responses import UnitAnswers

#: District (stratum) → share of the adult population; the eight demo counties.
DEMO_DISTRICTS = {
    "东湖区": 0.21,
    "西城区": 0.17,
    "江南区": 0.15,
    "临江县": 0.12,
    "青山县": 0.10,
    "白沙县": 0.09,
    "云溪县": 0.08,
    "宁远市": 0.08,
}
AGE_BANDS = {"18-34": 0.32, "35-59": 0.45, "60+": 0.23}
MOBILE_PREFIXES = (
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "182",
    "183",
    "187",
    "188",
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "186",
    "133",
    "153",
    "180",
    "181",
    "189",
    "199",
    "191",
)

DEMO_FRAME_SIZE = 30_000
DEMO_SAMPLE_SIZE = 2_400
#: The seed is announced after the frame hash: here, a (fictional) lottery draw.
DEMO_SEED = "福彩双色球 2026135 期: 03 08 15 21 27 30 + 11"
DEMO_SEED_SOURCE = "中国福利彩票双色球第2026135期开奖号码"
DEMO_TIME_ZONE = ZoneInfo("Asia/Shanghai")
#: Released cases waiting for an interviewer (电话访员) in the demo's CATI console.
DEMO_CATI_CASES = 3


def demo_frame_csv(size: int = DEMO_FRAME_SIZE, seed: int = 2026) -> bytes:
    """A synthetic frame ``id,phone,district,age_band`` with distinct valid mobile numbers."""
    generator = np.random.default_rng(seed)
    districts = generator.choice(list(DEMO_DISTRICTS), size=size, p=list(DEMO_DISTRICTS.values()))
    ages = generator.choice(list(AGE_BANDS), size=size, p=list(AGE_BANDS.values()))
    prefixes = generator.choice(MOBILE_PREFIXES, size=size)
    # Distinct 8-digit subscriber parts: sample without replacement from 10^8.
    subscribers = generator.choice(100_000_000, size=size, replace=False)
    lines = ["id,phone,district,age_band"]
    lines += [
        f"JZ{index:06d},{prefix}{subscriber:08d},{district},{age}"
        for index, (prefix, subscriber, district, age) in enumerate(
            zip(prefixes, subscribers, districts, ages, strict=True), start=1
        )
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def load_fieldwork_demo(session: orm.Session, vault: Vault, cycle: Cycle) -> SampleDraw:
    """Import, lock and draw the demo frame; then open fieldwork (flushes only)."""
    citizens = next(group for group in cycle.rater_groups if group.code == "citizens")
    frame = frames.import_frame(
        session,
        vault,
        cycle,
        citizens,
        name="江州市民手机号码抽样框（模拟）",
        filename="demo-frame.csv",
        data=demo_frame_csv(),
        columns=frames.FrameColumns(
            id_column="id", phone_column="phone", strata_columns=("district",)
        ),
        actor="demo",
    )
    frames.lock_frame(session, frame, actor="demo")
    plan = frames.plan_allocation(
        session,
        frame,
        method="proportional",
        total=DEMO_SAMPLE_SIZE,
        response_rate=0.35,
        minimum=100,
    )
    sample = frames.draw_sample(
        session,
        frame,
        plan,
        seed=DEMO_SEED,
        reserve_batches=2,
        actor="demo",
        # The demo locks and draws in one go, so the "announcement" is today's.
        seed_source=frames.SeedSource(
            DEMO_SEED_SOURCE, utc_now().astimezone(DEMO_TIME_ZONE).date(), DEMO_TIME_ZONE
        ),
    )
    cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="demo")
    queue_demo_cati_cases(session, cycle)
    load_listed_demo(session, vault, cycle)
    return sample


#: The demo's roster of the deputies and members (两代表一委员), made up.
DEMO_ROSTER = (
    "姓名,工作单位,手机号,评价主体\n"
    "陈建国,市人大常委会,13800138101,两代表一委员\n"
    "林秀英,市人大常委会,13800138102,两代表一委员\n"
    "黄志强,市政协,13800138103,两代表一委员\n"
    "吴丽华,市政协,,两代表一委员\n"
    "周文斌,市工商联,13800138105,两代表一委员\n"
    "郑海燕,市总工会,,两代表一委员\n"
)


def load_listed_demo(session: orm.Session, vault: Vault, cycle: Cycle) -> None:
    """The deputies' roster: two have answered by their personal token, one paper sheet
    was entered twice and counts, a second one waits for a supervisor (flushes only)."""
    listed.import_roster(
        session, vault, cycle, "demo-roster.csv", DEMO_ROSTER.encode(), actor="demo"
    )
    raters = listed.roster(session, cycle)
    for index, rater in enumerate(raters[:2]):
        _rater, questionnaire, _draft = listed.open_listed(session, rater.token)
        levels = [level.id for level in questionnaire.levels if not level.is_dont_know]
        answers = {
            unit.id: UnitAnswers(
                levels={
                    item.id: levels[(index + position) % min(3, len(levels))]
                    for position, item in enumerate(questionnaire.items)
                }
            )
            for unit in questionnaire.units
        }
        listed.submit_listed(session, rater.id, questionnaire, answers)
    entered_by = {
        user.username: user.id
        for user in session.scalars(sa.select(User).where(User.username.in_(("admin", "pollster"))))
    }
    group = session.get(RaterGroup, raters[0].rater_group_id)
    assert group is not None
    questionnaire = listed.paper_questionnaire(session, cycle, group)
    levels = [level.id for level in questionnaire.levels if not level.is_dont_know]
    sheet = {
        unit.id: {item.id: levels[0] for item in questionnaire.items}
        for unit in questionnaire.units
    }
    disputed = {unit: dict(items) for unit, items in sheet.items()}
    first_unit = questionnaire.units[0].id
    first_item = questionnaire.items[0].id
    disputed[first_unit][first_item] = levels[1]
    for number, second in (("001", sheet), ("002", disputed)):
        listed.enter_paper(
            session, cycle, group, number, sheet, user_id=entered_by["admin"], actor="demo"
        )
        listed.enter_paper(
            session, cycle, group, number, second, user_id=entered_by["pollster"], actor="demo"
        )


def queue_demo_cati_cases(session: orm.Session, cycle: Cycle) -> list[int]:
    """Put the last few released cases in the interviewers' queue (flushes only).

    As if these citizens had asked the keypad interview for a person; the
    first released cases stay the web invitations ``minyi demo`` prints.
    """
    calling.ensure_schedules(session)
    case_ids = list(
        session.scalars(
            sa.select(FieldworkCase.id)
            .where(FieldworkCase.cycle_id == cycle.id, FieldworkCase.released.is_(True))
            .order_by(FieldworkCase.id.desc())
            .limit(DEMO_CATI_CASES)
        )
    )
    for schedule in session.scalars(
        sa.select(CaseSchedule).where(CaseSchedule.case_id.in_(case_ids))
    ):
        schedule.channel = CallMode.CATI
        schedule.next_attempt_at = None
    session.flush()
    return sorted(case_ids)


#: The demo citizen who agreed to a follow-up (a number of the reserved 0-prefix test
#: range would not validate; this one is made up and never dialled: the demo's SMS are
#: simulated).
DEMO_FOLLOW_UP_PHONE = "+8613800138000"


def load_loop_demo(
    session: orm.Session, vault: Vault, cycle: Cycle, today: date
) -> FollowUp | None:
    """One comment round the closed loop (flushes only): the liaison's unit gets a
    comment, the citizen agreed to a follow-up, the unit records the fix, the link is
    "sent" and the citizen rates the fix 4 of 5 (the contact is then deleted).  The
    unit's other comments stay open, so the office sees overdue ones."""
    from survey.services import loop
    from survey.services.demo import DEMO_LIAISON_UNIT

    unit = next((u for u in cycle.units if u.code == DEMO_LIAISON_UNIT), None)
    if unit is None:
        return None
    comment = session.scalar(
        sa.select(Comment).where(Comment.unit_id == unit.id).order_by(Comment.id).limit(1)
    )
    if comment is None:
        return None
    follow_up = loop.add_follow_up(session, vault, comment, DEMO_FOLLOW_UP_PHONE, today=today)
    tokens: list[str] = []

    def link(token: str) -> str:
        tokens.append(token)
        return f"http://127.0.0.1:5000/f/{token}"

    loop.record_fix(
        session,
        unit,
        comment.id,
        text="已安排专人回访，窗口增设导办员，取号等候时间由40分钟缩短到15分钟以内。",
        actor="demo",
        today=today,
        vault=vault,
        sender=SimulatedTelephony(),
        link=link,
    )
    for token in tokens:
        loop.rate(session, token, 4, today=today)
    return follow_up


def staff_links(session: orm.Session, base_url: str, moment: datetime) -> list[str]:
    """Lines for the console: where the interviewer and the liaison start in the demo
    (the calling hours around ``moment``)."""
    waiting = session.scalar(
        sa.select(sa.func.count())
        .select_from(CaseSchedule)
        .where(CaseSchedule.channel == CallMode.CATI, CaseSchedule.claimed_by.is_(None))
    )
    lines = [
        f"Interviewer console (电话访员工作台, as pollster): {base_url}/cati/"
        f"   {waiting} case(s) waiting for an interviewer"
    ]
    for hours in calling.calling_hours(session, moment):
        lines.append(
            f"  calling hours: weekdays {hours.weekday}, weekends {hours.weekend} "
            f"({hours.timezone}); claims only within these hours"
        )
    lines.append(f"Liaison (联络员) lands on the own unit: {base_url}/liaison/home")
    lines.append(
        "Closed loop of comments (好差评闭环, as admin): "
        f"{base_url}/office/cycles/<cycle>/loop; one comment of the liaison's unit has "
        "gone round it (consent, fix, rating 4/5)"
    )
    return lines
