"""The demo prefecture (江州市, fictional) that ``make run`` loads."""

from __future__ import annotations

from datetime import date

from sqlalchemy import orm

from survey.models import Cycle, Role, Unit
from survey.services import cycles, posters, users

DEMO_PASSWORD = "minyi-demo"

#: (username, role, description)
DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "考评办管理员 assessment office admin"),
    ("pollster", Role.POLLSTER, "第三方调查机构 pollster"),
    ("liaison", Role.LIAISON, "市行政审批服务局联络员 unit liaison"),
    ("auditor", Role.AUDITOR, "纪检/人大观察员 auditor"),
)

DEMO_LIAISON_UNIT = "G04"

#: category code → [(unit code, name)]
DEMO_UNITS: dict[str, list[tuple[str, str]]] = {
    "county": [
        ("C01", "江州市东湖区"),
        ("C02", "江州市西城区"),
        ("C03", "江州市江南区"),
        ("C04", "临江县"),
        ("C05", "青山县"),
        ("C06", "白沙县"),
        ("C07", "云溪县"),
        ("C08", "宁远市"),
    ],
    "party": [
        ("P01", "市纪委监委机关"),
        ("P02", "市委组织部"),
        ("P03", "市委宣传部"),
        ("P04", "市委统战部"),
        ("P05", "市委政法委"),
    ],
    "mass_org": [
        ("M01", "市总工会"),
        ("M02", "团市委"),
        ("M03", "市妇联"),
        ("M04", "市科协"),
    ],
    "government": [
        ("G01", "市政府办公室"),
        ("G02", "市发展和改革委员会"),
        ("G03", "市财政局"),
        ("G04", "市行政审批服务局"),
        ("G05", "市政务服务数据管理局"),
    ],
    "economic": [
        ("E01", "市工业和信息化局"),
        ("E02", "市商务局"),
        ("E03", "市自然资源和规划局"),
        ("E04", "市住房和城乡建设局"),
        ("E05", "市交通运输局"),
        ("E06", "市农业农村局"),
    ],
    "social": [
        ("S01", "市教育局"),
        ("S02", "市卫生健康委员会"),
        ("S03", "市人力资源和社会保障局"),
        ("S04", "市民政局"),
        ("S05", "市医疗保障局"),
        ("S06", "市文化广电旅游局"),
    ],
    "law_enforcement": [
        ("L01", "市公安局"),
        ("L02", "市市场监督管理局"),
        ("L03", "市生态环境局"),
        ("L04", "市城市管理局"),
        ("L05", "市应急管理局"),
        ("L06", "市税务局"),
    ],
    "congress_cppcc": [
        ("R01", "市人大常委会办公室"),
        ("R02", "市人大法制委员会"),
        ("R03", "市政协办公室"),
        ("R04", "市政协提案委员会"),
    ],
}


def create_demo_cycle(session: orm.Session, *, year: int, description: str) -> Cycle:
    """The demo prefecture's cycle for ``year`` with its 44 units (flushes only)."""
    cycle = cycles.create_cycle(
        session,
        cycles.CycleSettings(
            name=f"{year}年度江州市综合考核",
            year=year,
            period_start=date(year, 1, 1),
            period_end=date(year, 12, 31),
            description=description,
        ),
        actor="demo",
    )
    by_code = {category.code: category for category in cycle.categories}
    for category_code, units in DEMO_UNITS.items():
        for code, name in units:
            cycle.units.append(Unit(code=code, name=name, category=by_code[category_code]))
    session.flush()
    return cycle


def load_demo(session: orm.Session, *, year: int = 2026) -> Cycle:
    """Create the demo cycle with its units and one user per role (flushes only)."""
    cycle = create_demo_cycle(
        session,
        year=year,
        description="演示数据：江州市为虚构地区。Demo data; 江州市 is fictional.",
    )
    liaison_unit = next(u for u in cycle.units if u.code == DEMO_LIAISON_UNIT)
    for username, role, description in DEMO_USERS:
        users.create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            actor="demo",
            unit_id=liaison_unit.id if role == Role.LIAISON else None,
            display_name=description.split(" ")[0],
        )
    posters.load_collection_demo(session, cycle)
    return cycle
