"""Service messages reach staff in Chinese: marked with N_, values apart, translated by views.

Services keep English (commands and logs read it); every fixed text is in the zh
catalogue and its values are filled in after translation, so a name or a number
never keeps a message out of the catalogue.
"""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from survey.models import Cycle, CycleStatus
from survey.services import appeals, calling, cycles, units, weights
from survey.services.errors import (
    N_,
    NotEditableError,
    Problem,
    ServiceError,
    Term,
    TransitionError,
    ValidationError,
    status_term,
)
from tests.app.helpers import zh_catalogue

ROOT = Path(__file__).parents[2]
#: The services converted to N_ (the sampling-library catch sites are converted apart).
CONVERTED = [
    "appeals",
    "callbacks",
    "calling",
    "components",
    "cycles",
    "democratic",
    "posters",
    "publication",
    "rectification",
    "units",
    "weights",
]
ERRORS = {"Problem", "ServiceError", "ValidationError", "TransitionError", "NotEditableError"}
#: Respondent pages word these themselves (survey.respondent.views maps the problem codes).
RESPONDENT_ONLY = {
    "'the phone number is not valid'",
    "'a code was sent to this number a moment ago'",
}


def _zh(message: ServiceError | Problem) -> str:
    return message.text(zh_catalogue().gettext)


def _unmarked(path: Path) -> list[str]:
    """Calls of a service error or Problem whose message is not an ``N_("…")`` literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name not in ERRORS:
            continue
        first = node.args[0]
        candidates = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
        for candidate in candidates:
            marked = isinstance(candidate, ast.Call) and getattr(candidate.func, "id", "") == "N_"
            text = ast.unparse(candidate)
            if not marked and not isinstance(candidate, ast.Name) and text not in RESPONDENT_ONLY:
                found.append(f"{path.name}:{node.lineno}: {text[:80]}")
    return found


def test_every_message_of_the_converted_services_is_marked() -> None:
    found = [
        line
        for module in CONVERTED
        for line in _unmarked(ROOT / "survey" / "services" / f"{module}.py")
    ]
    assert not found, "messages without N_ (or with values inside the text):\n" + "\n".join(found)


def test_every_marked_service_message_is_translated() -> None:
    with (ROOT / "survey/translations/zh/LC_MESSAGES/messages.po").open("rb") as handle:
        catalogue = {message.id: message for message in read_po(handle) if message.id}
    missing = []
    for path in sorted((ROOT / "survey" / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "N_"
                and isinstance(node.args[0], ast.Constant)
            ):
                message = catalogue.get(node.args[0].value)
                if message is None or not message.string or message.fuzzy:
                    missing.append(f"{path.name}:{node.lineno}: {node.args[0].value[:70]}")
    assert not missing, "N_ messages without a Chinese translation:\n" + "\n".join(missing)


def test_terms_are_translated_with_their_message() -> None:
    error = TransitionError(
        N_("A cycle that is %(status)s cannot change to %(target)s."),
        parameters={"status": status_term(CycleStatus.DRAFT), "target": Term(N_("Published"))},
    )
    assert str(error) == "A cycle that is Draft cannot change to Published."
    assert _zh(error) == "状态为“草稿”的考核周期不能变更为“已公示”。"
    # A value that is not a Term is never looked up (a unit could be called “Closed”).
    plain = Problem(N_("the unit “%(code)s” exists"), parameters={"code": "Closed"})
    assert plain.text(lambda text: f"«{text}»") == "«the unit “Closed” exists»"


def test_cycle_refusals(demo_session: Any) -> None:
    cycle = demo_session.get(Cycle, 1)
    with pytest.raises(TransitionError) as illegal:
        cycles.transition_cycle(demo_session, cycle, CycleStatus.FINAL, actor="t")
    assert _zh(illegal.value) == "状态为“草稿”的考核周期不能变更为“已定案”。"
    bad = cycles.CycleSettings(
        name=cycle.name, year=2027, period_start=date(2027, 12, 1), period_end=date(2027, 1, 1)
    )
    with pytest.raises(ValidationError) as invalid:
        cycles.create_cycle(demo_session, bad, actor="t")
    assert _zh(invalid.value) == "考核周期设置未保存。"
    shown = {problem.column: _zh(problem) for problem in invalid.value.problems}
    assert shown == {"period_end": "截止日期早于起始日期", "name": "已有同名的考核周期"}
    empty = cycles.create_cycle(
        demo_session,
        cycles.CycleSettings(
            name="空白", year=2031, period_start=date(2031, 1, 1), period_end=date(2031, 2, 1)
        ),
        actor="t",
        with_defaults=False,
    )
    with pytest.raises(TransitionError) as unready:
        cycles.transition_cycle(demo_session, empty, CycleStatus.FIELDING, actor="t")
    assert [_zh(problem) for problem in unready.value.problems] == [
        "考核周期还没有单位",
        "问卷还没有评价内容",
        "考核周期还没有评价主体",
    ]


def test_weight_refusals_name_the_category_and_the_column(demo_session: Any) -> None:
    cycle = demo_session.get(Cycle, 1)
    category = cycle.categories[0]
    matrix = weights.RATER_GROUP_WEIGHTS.current(cycle)
    column = cycle.rater_groups[0]
    matrix[(category.id, column.id)] = 1.5
    with pytest.raises(ValidationError) as caught:
        weights.set_weights(demo_session, cycle, weights.RATER_GROUP_WEIGHTS, matrix, actor="t")
    assert _zh(caught.value) == "权重未保存。"
    assert _zh(caught.value.problems[0]) == (
        f"“{category.name}”的评价主体权重：“{column.name}”的权重须在 0 到 1 之间，现为 1.5"
    )
    assert str(caught.value.problems[0]).startswith("column ")  # English for the command line
    with pytest.raises(ValidationError) as items:
        weights.set_item_weights(
            demo_session, cycle, {item.id: 0.3 for item in cycle.items}, actor="t"
        )
    assert _zh(items.value.problems[0]) == "评价内容权重：权重之和为 1.5000，不等于 1"


def test_frozen_cycles_say_their_status(demo_session: Any) -> None:
    cycle = demo_session.get(Cycle, 1)
    cycles.transition_cycle(demo_session, cycle, CycleStatus.FIELDING, actor="t")
    with pytest.raises(NotEditableError) as frozen_units:
        units.save_category(demo_session, cycle, code="x", name="新类别", actor="t")
    assert _zh(frozen_units.value) == "调查开始后不能再修改单位（考核周期状态为“调查中”）。"
    with pytest.raises(NotEditableError) as frozen_weights:
        weights.add_item(demo_session, cycle, code="x", name="新内容", name_en="", actor="t")
    assert _zh(frozen_weights.value) == "调查开始后不能再修改权重（考核周期状态为“调查中”）。"


def test_unit_refusals_show_under_their_fields(demo_session: Any) -> None:
    cycle = demo_session.get(Cycle, 1)
    existing = cycle.units[0]
    with pytest.raises(ValidationError) as caught:
        units.save_unit(
            demo_session,
            cycle,
            code=existing.code,
            name="",
            category_id=-1,
            parent_id=-1,
            actor="t",
        )
    shown = {problem.column: _zh(problem) for problem in caught.value.problems}
    assert shown == {
        "code": f"已有编码为“{existing.code}”的单位",
        "name": "请填写名称",
        "category_id": "请选择一个类别",
        "parent_id": "上级单位须是本考核周期的其他单位",
    }


def test_calling_rule_refusals(demo_session: Any) -> None:
    settings = calling.phone_settings(demo_session, 1)
    values: dict[str, object] = {name: getattr(settings, name) for name in calling.SETTING_FIELDS}
    values.update(timezone="Mars/Olympus", max_attempts=0, quality_callback_share=2.0)
    with pytest.raises(ValidationError) as caught:
        calling.update_settings(demo_session, settings, values, actor="t")
    assert _zh(caught.value) == "拨打规则未修改。"
    shown = {problem.column: _zh(problem) for problem in caught.value.problems}
    assert shown == {
        "timezone": "“Mars/Olympus”不是有效的时区（例如 Asia/Shanghai）",
        "max_attempts": "不能小于 1",
        "quality_callback_share": "须在 0 到 1 之间",
    }


def test_a_superseding_snapshot_reason_is_stored_in_english_and_read_in_chinese(
    demo_app: Any,
) -> None:
    from flask import Flask

    from survey.i18n import snapshot_reason

    stored = appeals.SUPERSEDE_REASON.format(number=3, unit="G04", reason="数据录入有误")
    assert stored == "appeal 3 (G04) upheld: 数据录入有误"  # the stored (and API) text
    assert appeals.parse_supersede_reason(stored) == (3, "G04", "数据录入有误")
    assert appeals.parse_supersede_reason("同意") is None
    app: Flask = demo_app
    with app.test_request_context("/?lang=zh"):
        assert snapshot_reason(stored) == "第 3 号申诉（G04）成立：数据录入有误"
        assert snapshot_reason("人工更正") == "人工更正"
    with app.test_request_context("/?lang=en"):
        assert snapshot_reason(stored) == stored


def test_dispositions_have_one_chinese_name_each(demo_app: Any) -> None:
    from survey.i18n import DISPOSITION_NAMES, disposition_label
    from survey.services import dispositions

    codes = {
        value
        for name, value in vars(dispositions).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[0-9]\.[0-9]+", value)
    }
    assert codes == set(DISPOSITION_NAMES)
    with demo_app.test_request_context("/?lang=zh"):
        assert disposition_label("1.1") == "1.1 完成访问"
        assert disposition_label("2.11") == "2.11 拒访"
        assert disposition_label("3.90") == "3.90 呼叫失败"
        assert disposition_label("9.99") == "9.99"
        labels = [disposition_label(code) for code in sorted(codes)]
        assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels), labels


def test_the_dashboard_names_dispositions_in_chinese(demo_app: Any) -> None:
    from survey.extensions import db
    from survey.models import FieldworkCase
    from tests.app.helpers import login
    from tests.app.phone_setup import sample_cases

    with demo_app.app_context():
        sample_cases({"东湖区": ["13800138101", "13800138102"]})
        first = db.session.scalars(sa.select(FieldworkCase).order_by(FieldworkCase.id)).first()
        first.disposition = "2.11"
        db.session.commit()
    client = demo_app.test_client()
    login(client, "pollster")
    page = client.get("/cati/cycles/1/dashboard").get_data(as_text=True)
    assert "2.11 拒访：1" in page and "3.11 尚未拨打：" in page


def test_audit_details_name_their_codes(demo_app: Any) -> None:
    from survey.i18n import detail_notes

    with demo_app.test_request_context("/?lang=zh"):
        assert detail_notes('{"attempt": 1, "disposition": "2.11"}') == ["处置代码：2.11 拒访"]
        assert detail_notes('{"channel": "phone_cati", "units": 3}') == [
            "渠道：电话访员调查（CATI）"
        ]
        assert detail_notes('{"from": "draft", "to": "fielding"}') == [
            "原状态：草稿",
            "新状态：调查中",
        ]
        assert detail_notes("{}") == [] and detail_notes("not json") == []


def test_every_grade_reason_of_the_rules_reads_in_chinese_in_exports(demo_app: Any) -> None:
    """The grading engine's reason details stay English in snapshots; exports translate them."""
    from sampling.grading import TEAMS_15_80_5, UnitStanding, grade_category
    from survey.results.export import reason_text
    from survey.results.views import REASON_LABELS

    standings = [
        UnitStanding(unit=f"U{index:02d}", score=90 - index, democratic_score=80 - index)
        for index in range(40)
    ]
    # A tie across a grade boundary, a failed target, a vote against, a failed constraint.
    standings[5] = UnitStanding(unit="U05", score=84.0, democratic_score=75)
    standings[6] = UnitStanding(unit="U06", score=84.0, democratic_score=74)
    standings[1] = UnitStanding(
        unit="U01", score=89, lowest_target_completion=0.5, unfavourable_votes=5, valid_votes=9
    )
    standings[2] = UnitStanding(unit="U02", score=88, constraint_failed=True)
    grading = grade_category(standings, TEAMS_15_80_5)
    reasons = [
        {"code": reason.code.value, "detail": reason.detail}
        for unit in grading.units
        for reason in unit.reasons
    ]
    assert {reason["code"] for reason in reasons} == set(REASON_LABELS)
    with demo_app.test_request_context("/?lang=zh"):
        from flask_babel import gettext

        labels = {code: str(label) for code, label in REASON_LABELS.items()}
        for reason in reasons:
            text = reason_text(reason, gettext, labels)
            assert reason["detail"] not in text, reason
            assert not re.search(r"[A-Za-z]{3,}", text), text
            assert text.startswith(labels[reason["code"]] + "：")
        quota = next(reason for reason in reasons if reason["code"] == "quota")
        assert re.fullmatch(
            r"按比例确定：排名第 \d+（共 40 个）；名额 6/32/2", reason_text(quota, gettext, labels)
        )
    # A detail the rules did not word is shown as stored.
    assert reason_text({"code": "quota", "detail": "hand-made"}, str) == "hand-made"


def test_the_decision_earlier_demos_stored_reads_in_the_pages_language(demo_app: Any) -> None:
    from survey.i18n import decision_text
    from survey.services.synthetic import DEMO_DECISION, LEGACY_DEMO_DECISION

    assert not re.search(r"[A-Za-z]", DEMO_DECISION)  # new demos store Chinese only
    with demo_app.test_request_context("/?lang=zh"):
        assert decision_text(LEGACY_DEMO_DECISION) == "演示：同意按比例重新分配权重"
        assert decision_text("同意按比例分配权重") == "同意按比例分配权重"  # the office's words
    with demo_app.test_request_context("/?lang=en"):
        assert decision_text(LEGACY_DEMO_DECISION).startswith("Demo: ")
