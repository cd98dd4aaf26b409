"""Problems reported by :mod:`sampling` reach a person in Chinese (issue #19).

The engine raises errors that carry a code, an English template marked with
``N_`` and the values apart; the app asks its catalogue for the template where
it shows the error.  The first tests read the converted modules and the zh
catalogue, so an error added without a code or a translation fails here; the
others drive the web pages in the zh locale with bad input and read what they
say.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient

from sampling.design.allocation import StratumSpec, allocate
from sampling.design.draw import DrawDesign, Protocol, draw, frame_from_rows, verify_sample
from sampling.design.frame import read_csv_text_table
from sampling.errors import (
    ConvergenceError,
    DesignError,
    InputError,
    SamplingError,
    VerificationError,
)
from sampling.estimation.design import RowSource, SurveyDesign
from sampling.rates import DispositionCounts, response_rates
from sampling.weighting import rake
from sampling.weighting.calibrate import Margin
from survey.extensions import db
from survey.models import Cycle, FrameContact, Item, SamplingFrame
from tests.app.helpers import login
from tests.app.test_chinese_pages import english_prose
from tests.app.test_frames import _frame_url, frame_csv, seed_fields, upload_frame
from tests.app.test_results_trial import _closed_cycle

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "survey" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
#: The modules whose messages can reach a person through the web app: all of
#: ``sampling`` but the command line's own (its argument errors are English, for
#: the terminal), so a module added later is checked too.
CONVERTED = sorted(
    str(path.relative_to(ROOT))
    for path in (ROOT / "sampling").rglob("*.py")
    if (ROOT / "sampling" / "cli") not in path.parents
)
ERROR_CLASSES = {
    cls.__name__ for cls in (SamplingError, InputError, DesignError, ConvergenceError)
} | {VerificationError.__name__}
#: Templates that are passed on rather than written at the raise site: a table of
#: N_-marked templates picked by role, or the template of a caught error.
FORWARDED = {
    "_MISSING[role]",
    "_NO_COLUMN[role]",
    "negative",
    "wrong_sum",
    "template",
    "problem.template",
    "error.template",
}


def _is_marked(node: ast.expr) -> bool:
    if isinstance(node, ast.IfExp):
        return _is_marked(node.body) and _is_marked(node.orelse)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "N_"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _raise_sites() -> Iterator[tuple[str, int, str, ast.Call]]:
    for name in CONVERTED:
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and (node.func.id in ERROR_CLASSES or node.func.id == "Problem")
            ):
                yield name, node.lineno, node.func.id, node


def _templates() -> set[str]:
    found: set[str] = set()
    for name in CONVERTED:
        for node in ast.walk(ast.parse((ROOT / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _is_marked(node):
                argument = node.args[0]
                assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
                found.add(argument.value)
    return found


def test_every_error_of_the_converted_modules_has_a_code_and_a_marked_template() -> None:
    sites = list(_raise_sites())
    assert len(sites) > 120  # the walk does see the raise sites
    unmarked = []
    for name, line, kind, call in sites:
        if name == "sampling/errors.py":
            continue  # the classes themselves
        if kind == "Problem":
            code = call.args[0] if call.args else None
            template = call.args[1] if len(call.args) > 1 else None
        else:
            code = next((k.value for k in call.keywords if k.arg == "code"), None)
            template = call.args[0] if call.args else None
        has_code = code is not None and not (
            isinstance(code, ast.Constant) and not isinstance(code.value, str)
        )
        marked = template is not None and (
            _is_marked(template) or ast.unparse(template) in FORWARDED
        )
        if not (has_code and marked):
            unmarked.append(f"{name}:{line}: {ast.unparse(call)[:90]}")
    assert not unmarked, "errors without a code or an N_-marked template:\n" + "\n".join(unmarked)


def test_every_sampling_template_has_a_chinese_translation() -> None:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    templates = _templates()
    assert len(templates) > 140
    missing = []
    for template in sorted(templates):
        message = catalogue.get(template)
        # A copy of the English is no translation (even "%(file)s: %(message)s"
        # changes: its colon is full-width).
        if message is None or message.fuzzy or message.string in ("", template):
            missing.append(template)
    assert not missing, "untranslated sampling messages:\n" + "\n".join(missing)
    assert not [error for _message, errors in catalogue.check() for error in errors]


@pytest.fixture(scope="module")
def zh() -> Translations:
    catalogue = Translations.load(str(ROOT / "survey" / "translations"), ["zh"])
    assert isinstance(catalogue, Translations)  # not the English fallback
    return catalogue


def _raised(action: object) -> SamplingError:
    assert callable(action)
    with pytest.raises(SamplingError) as caught:
        action()
    return caught.value


def test_errors_keep_the_english_and_translate_with_their_place(zh: Translations) -> None:
    duplicate = _raised(lambda: frame_from_rows(["a", "b", "a"], ["x", "y", "x"]))
    assert duplicate.code == "frame.duplicate_id"
    assert str(duplicate) == "column 'id': id 'a' is not unique: rows 1 and 3"
    assert duplicate.text(zh.gettext) == "'id'：编号 'a' 不唯一：第 1 行和第 3 行"

    frame = frame_from_rows([f"u{n}" for n in range(5)], ["东湖区"] * 3 + ["临江县"] * 2)
    too_many = _raised(lambda: draw(frame, DrawDesign.build({"东湖区": 2, "临江县": 3}), "s"))
    assert too_many.code == "draw.n_exceeds_population"
    assert str(too_many) == "stratum '临江县': n = 3 exceeds its population N = 2"
    assert too_many.text(zh.gettext) == "层 '临江县'：样本量 n = 3 超过了该层总体数 N = 2"

    raking = _raised(
        lambda: rake([1.0, 1.0], [Margin("sex", ["m", "f"], {"m": 1.0, "f": 2.0, "x": 3.0})])
    )
    assert raking.code == "weighting.unreachable_margin"
    assert raking.text(zh.gettext) == "边际 sex=x 的总数为 3，但样本中没有权数"
    # An error whose raise site names no code (yet) still works, in English.
    assert DesignError("plain text with 100%").code == "design.invalid"
    assert DesignError("plain text with 100%").text(zh.gettext) == "plain text with 100%"


def test_allocation_and_estimation_problems_translate(zh: Translations) -> None:
    strata = [StratumSpec("东湖区", 10), StratumSpec("临江县", 5)]
    short = _raised(lambda: allocate(strata, 8, "proportional", minimum=6))
    assert short.code == "allocation.minimum_exceeds_total"
    assert short.parameters["stratum"] == "临江县" and short.parameters["needed"] == 11
    assert str(short) == (
        "the minimum of 6 per stratum needs 11 units but n = 8: "
        "stratum '临江县' (and any after it) cannot get its minimum"
    )
    assert short.text(zh.gettext) == (
        "每层至少 6 个单位，共需 11 个单位，但 n = 8：层 '临江县'（及其后各层）达不到最少样本量"
    )

    # A design error found at a line of a file says where, like an input error.
    source = RowSource(file="d.csv", first_line=2, columns={"strata": "district"})
    lonely = _raised(
        lambda: SurveyDesign(
            [1.0] * 4, strata=["a", "a", "b", "b"], psu=[1, 2, 3, 3], source=source
        )
    )
    assert isinstance(lonely, DesignError) and lonely.code == "estimation.lonely_psu"
    assert str(lonely).startswith("d.csv, line 4, column 'district': stratum 'b' has only one PSU")
    assert lonely.text(zh.gettext).startswith(
        "d.csv 第 4 行 'district' 列：层 'b' 只有一个初级抽样单元（PSU），无法估计其方差；"
    )
    assert not english_prose(lonely.text(zh.gettext).replace("certainty、remove、adjust", ""))

    # Without a source the row is part of the message, in either language.
    fpc = _raised(lambda: SurveyDesign([1.0] * 4, strata=["a", "a", "b", "b"], fpc=[5, 5, 5, 6]))
    assert fpc.code == "estimation.fpc_varies"
    assert str(fpc) == (
        "column 'fpc': population size 6 in row 4 differs from 5 elsewhere in stratum b; "
        "fpc must be constant within a stratum"
    )
    assert fpc.text(zh.gettext) == (
        "'fpc'：层 b 中第 4 行的总体数 6 与其他行的 5 不同；同一层内的有限总体校正（fpc）必须相同"
    )

    undefined = _raised(lambda: response_rates(DispositionCounts(UH=1), e=0.5))
    assert undefined.code == "rates.zero_denominator"
    assert undefined.text(zh.gettext) == "RR5 无法计算：分母为零（没有合格个案）"


def test_verification_differences_are_listed_in_chinese(tmp_path: Path, zh: Translations) -> None:
    frame = frame_from_rows([f"u{n}" for n in range(6)], ["a"] * 6)
    result = draw(frame, DrawDesign.build({"a": 3}), "seed")
    protocol = Protocol.from_result(result, frame)
    sample = tmp_path / "sample.csv"
    chosen = {f"u{row}" for row in result.rows.tolist()}
    stranger = next(f"u{n}" for n in range(6) if f"u{n}" not in chosen)
    sample.write_text(
        f"id,stratum,replicate,inclusion_probability,design_weight\n{stranger},a,0,0.5,2\n"
    )
    error = _raised(
        lambda: verify_sample(
            protocol, frame, read_csv_text_table(sample), sample_source=str(sample), limit=2
        )
    )
    assert error.code == "verify.sample_differs"
    assert str(error).startswith(f"the sample differs from the draw: line 2: id {stranger!r}")
    chinese = error.text(zh.gettext)
    assert chinese.startswith(f"样本与抽样结果不符：第 2 行：编号 {stranger!r} 不在抽样结果中；")
    assert chinese.endswith("另有 2 处"), chinese
    assert not english_prose(chinese)


# -- the web pages ---------------------------------------------------------------------


def _page_problems(page: str) -> list[str]:
    """The flashed messages and problems of a page."""
    block = re.search(r'<div class="messages" role="alert">(.*?)</div>', page, re.S)
    return re.findall(r"<(?:p|li)[^>]*>(.*?)</(?:p|li)>", block.group(1)) if block else []


def _blank_stratum(app: Flask, external_id: str) -> int:
    """Empty one stored contact's stratum (what a bad restore or a hand edit leaves);
    return its row number in the frame as the engine counts them (1-based)."""
    with app.app_context():
        frame_id = db.session.scalars(sa.select(SamplingFrame.id)).one()
        ids = db.session.scalars(
            sa.select(FrameContact.external_id)
            .where(FrameContact.frame_id == frame_id)
            .order_by(FrameContact.position)
        ).all()
        db.session.execute(
            sa.update(FrameContact)
            .where(FrameContact.frame_id == frame_id, FrameContact.external_id == external_id)
            .values(stratum="")
        )
        db.session.commit()
    return ids.index(external_id) + 1


def test_a_frame_that_cannot_be_locked_is_explained_in_chinese(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    row = _blank_stratum(demo_app, "R00007")
    response = demo_client.post(
        _frame_url(demo_client) + "/lock", data={"confirmed": "y"}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    shown = _page_problems(page)
    assert f"抽样框无法锁定：&#39;stratum&#39;：第 {row} 行：分层值为空" in shown, shown
    assert not [text for text in shown if english_prose(text)], shown
    assert "is empty" not in page and "cannot be locked" not in page


def test_a_refused_draw_is_explained_in_chinese(demo_app: Flask, demo_client: FlaskClient) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    assert demo_client.post(_frame_url(demo_client) + "/lock", data={"confirmed": "y"}).status_code
    row = _blank_stratum(demo_app, "R00150")
    response = demo_client.post(
        _frame_url(demo_client) + "/draw",
        data={
            "method": "proportional",
            "total": "40",
            "response_rate": "0.5",
            "minimum": "0",
            "reserve_batches": "1",
            **seed_fields("03 07 12 18 25 31 09"),
            "confirmed": "y",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    shown = _page_problems(page)
    assert f"无法分配样本：&#39;stratum&#39;：第 {row} 行：分层值为空" in shown, shown
    assert not [text for text in shown if english_prose(text)], shown


def test_an_allocation_that_cannot_meet_its_minimum_is_explained_in_chinese(
    demo_client: FlaskClient,
) -> None:
    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    assert demo_client.post(_frame_url(demo_client) + "/lock", data={"confirmed": "y"}).status_code
    response = demo_client.post(
        _frame_url(demo_client) + "/draw",
        data={
            "method": "proportional",
            "total": "40",
            "response_rate": "1",
            "minimum": "30",
            "reserve_batches": "1",
            **seed_fields("03 07 12 18 25 31 09"),
            "confirmed": "y",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    shown = _page_problems(page)
    # Strata in the frame's order (东湖区 120, 临江县 20, 西城区 60): the minimums
    # 30 + 20 + 30 need 80 units, and the second stratum is where n = 40 runs out.
    expected = (
        "无法分配样本：每层至少 30 个单位，共需 80 个单位，但 n = 40："
        "层 &#39;临江县&#39;（及其后各层）达不到最少样本量"
    )
    assert expected in shown, shown
    assert not [text for text in shown if english_prose(text)], shown
    assert "cannot get its minimum" not in page and "per stratum needs" not in page


def test_the_auditor_reads_why_a_tampered_sample_fails_in_chinese(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    from tests.app.test_frames import _lock_and_draw

    login(demo_client, "pollster")
    upload_frame(demo_client, frame_csv())
    _lock_and_draw(demo_client)
    protocol = demo_client.get("/fieldwork/draws/1/protocol.json").data
    frame = demo_client.get(_frame_url(demo_client) + "/verification-frame.csv").data
    rows = list(csv.reader(io.StringIO(demo_client.get("/fieldwork/draws/1/sample.csv").text)))
    drawn = {row[0] for row in rows[1:]}
    outsider = next(
        row for row in list(csv.reader(io.StringIO(frame.decode())))[1:] if row[0] not in drawn
    )
    replaced = rows[1][0]
    rows[1][0], rows[1][1] = outsider[0], outsider[1]
    tampered = io.StringIO()
    csv.writer(tampered, lineterminator="\n").writerows(rows)

    auditor = demo_app.test_client()
    login(auditor, "auditor")
    response = auditor.post(
        "/auditor/verify",
        data={
            "protocol": (io.BytesIO(protocol), "protocol.json"),
            "frame": (io.BytesIO(frame), "frame.csv"),
            "sample": (io.BytesIO(tampered.getvalue().encode()), "sample.csv"),
        },
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "核验未通过" in page
    detail = re.search(r'id="verdict">.*?<code>(.*?)</code>', page, re.S)
    assert detail, page
    text = detail.group(1)
    assert text.startswith(
        f"样本与抽样结果不符：第 2 行：编号 &#39;{outsider[0]}&#39; 不在抽样结果中；"
    ), text
    assert f"抽样结果中的编号 &#39;{replaced}&#39;（第 0 批）在样本中缺失" in text, text
    assert not english_prose(text) and "differs" not in text and "minyi-verify" not in text


def test_an_unscorable_rater_group_is_named_in_chinese(results_app: Flask) -> None:
    cycle_id = _closed_cycle(results_app, with_components=True)
    with results_app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        assert cycle is not None
        first = min(cycle.items, key=lambda item: item.code)
        total = sum(item.weight for item in cycle.items) + 0.5
        # Item weights that no longer sum to 1 (a hand edit of the database).
        db.session.execute(
            sa.update(Item).where(Item.id == first.id).values(weight=first.weight + 0.5)
        )
        group = cycle.rater_groups[0].name
        db.session.commit()
    client = results_app.test_client()
    login(client, "admin")
    response = client.get(f"/office/cycles/{cycle_id}/trial")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    problems = _page_problems(page)
    expected = f"{group}无法计分：评价内容权重之和必须为 1，实际为 {total:g}"
    assert any(expected in problem for problem in problems), problems
    assert "item weights must sum" not in page
    assert not [problem for problem in problems if english_prose(problem)], problems
