"""Personal data is masked in comments before they are stored (survey.services.redaction)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from survey.services.redaction import Span, find_personal_data, mask_personal_data, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mobile numbers, every common way of writing them
        ("电话13812345678", "电话[电话]"),
        ("电话 138 1234 5678。", "电话 [电话]。"),
        ("138-1234-5678", "[电话]"),
        ("+86 138 1234 5678", "[电话]"),
        ("+8613812345678", "[电话]"),
        ("0086-13812345678", "[电话]"),
        ("86 13812345678", "[电话]"),
        ("手机：１３８１２３４５６７８，谢谢", "手机：[电话]，谢谢"),
        ("打19912345678或15012345678", "打[电话]或[电话]"),
        # landlines with area code
        ("0571-88889999", "[电话]"),
        ("座机 010 1234 5678", "座机 [电话]"),
        ("(0755)12345678", "[电话]"),
        ("拨打0571 8888 9999转", "拨打[电话]转"),
        # ID-card numbers
        ("身份证110101199003074518", "身份证[身份证号]"),
        ("证号 11010119900307451X。", "证号 [身份证号]。"),
        ("11010119900307451x", "[身份证号]"),
        ("老证 110101900307451", "老证 [身份证号]"),
        # e-mail
        ("邮箱 zhang.san+1@example.com.cn 联系", "邮箱 [邮箱] 联系"),
        # bank cards and other long numbers
        ("卡号6222 0212 3456 7890 123", "卡号[号码]"),
        ("账号 6222021234567890", "账号 [号码]"),
        # names after common patterns
        ("窗口的李女士很耐心", "窗口的某女士很耐心"),
        ("张先生和王师傅", "某先生和某师傅"),
        ("欧阳女士", "某女士"),
        ("王小姐态度好", "某小姐态度好"),
        ("我叫王小明，住东湖区", "我叫某某，住东湖区"),
        ("姓名：李四", "姓名：某某"),
        ("本人赵刚反映", "本人某某反映"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "这位先生态度很好",
        "那个女士帮了我",
        "请拨打12345热线",
        "2024年办了3次，等了45分钟",
        "我是群众，我是本地人",
        "我是来办营业执照的",
        "收费 1280 元，编号 A-2024-0012",
        "局长很重视",
        "窗口 5 号",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert not result.changed


def test_counts_say_what_was_masked() -> None:
    result = redact("张先生 13812345678 / 0571-88889999, a@b.cn, 110101199003074518")
    assert result.masked["phone"] == 2
    assert result.masked["email"] == 1
    assert result.masked["id_number"] == 1
    assert result.masked["name"] == 1
    assert "13812345678" not in result.text and "110101" not in result.text


def test_long_comment_is_masked_throughout() -> None:
    text = "意见：13812345678。" * 2000
    masked = mask_personal_data(text)
    assert "138" not in masked and masked.count("[电话]") == 2000


# --- red-team probes (issue 20) -------------------------------------------------------

_PHONE = "13812345678"
_CN = "零一二三四五六七八九"
_CN_UPPER = "零壹贰叁肆伍陆柒捌玖"
_A, _B, _C = _PHONE[:3], _PHONE[3:7], _PHONE[7:]
#: One mobile number written the ways people slip numbers past a filter.
OBFUSCATED_PHONES = [
    f"{_A}.{_B}.{_C}",
    f"{_A}/{_B}/{_C}",
    f"{_A}_{_B}_{_C}",
    f"{_A} - {_B} - {_C}",
    f"{_A} / {_B} / {_C}",
    f"{_A}\u00a0{_B}\u00a0{_C}",
    f"{_A}\u3000{_B}\u3000{_C}",
    f"{_A}\u2009{_B}\u2009{_C}",
    f"{_A}\u200b{_B}\u200b{_C}",
    f"{_A}\u200c{_B}\u200d{_C}",
    f"{_A}\ufeff{_B}\u2060{_C}",
    "\u200b".join(_PHONE),
    " ".join(_PHONE),
    ".".join(_PHONE),
    f"{_A}–{_B}–{_C}",
    f"{_A}—{_B}—{_C}",
    f"{_A}·{_B}·{_C}",
    f"({_A}){_B}-{_C}",
    f"{_A}－{_B}－{_C}",
    f"{_A}．{_B}．{_C}",
    f"{_A}／{_B}／{_C}",
    "".join(_CN[int(d)] for d in _PHONE),
    "".join(_CN[int(d)] for d in _PHONE).replace("一", "幺"),
    "".join(_CN_UPPER[int(d)] for d in _PHONE),
    " ".join(_CN[int(d)] for d in _PHONE),
    _A + "".join(_CN[int(d)] for d in _B) + _C,
    "".join(_CN[int(d)] if i % 2 else d for i, d in enumerate(_PHONE)),
    "一三八 一二三四 五六七八",
    "幺三八-幺二三四-五六七八",
    "１３８ １２３４ ５６７８",
    "１３８.１２３４.５６７８",
    "13８1２3４5６7８",
    f"+86 {_A} {_B} {_C}",
    f"+86-{_A}-{_B}-{_C}",
    f"0086 {_PHONE}",
    f"86-{_PHONE}",
    f"{_A}-{_B}\u200b-{_C}",
    f"{_A}\u00ad{_B}\u00ad{_C}",
    "①③⑧①②③④⑤⑥⑦⑧",
    "𝟏𝟑𝟖𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",
]


def _digits_left(text: str) -> str:
    """Every digit still readable in ``text``, whatever script it is written in."""
    from survey.services.redaction import _digit

    return "".join(d for d in map(_digit, text) if d is not None)


@pytest.mark.parametrize("written", OBFUSCATED_PHONES)
def test_obfuscated_phone_numbers_are_masked(written: str) -> None:
    """Red-team probe: 16 of the first 36 forms came through in clear before."""
    text = f"有事请打{written}找我，谢谢"
    masked = mask_personal_data(text)
    assert "[电话]" in masked, masked
    assert "5678" not in _digits_left(masked), masked
    assert masked.startswith("有事请打") and masked.endswith("找我，谢谢")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Red-team probe: staff and citizens named in full reached the unit.
        ("工作人员张伟态度很差", "工作人员某某态度很差"),
        ("我叫 王小明，住东湖区", "我叫 某某，住东湖区"),
        ("接线员陈静记录很仔细", "接线员某某记录很仔细"),
        ("派出所的覃海涛警官帮我补办了户口本", "派出所的某某警官帮我补办了户口本"),
        ("李主任很负责，王科长也不错", "某主任很负责，某科长也不错"),
        ("小王和老李都很热情", "小某和老某都很热情"),
        ("我是欧阳娜娜，电话13912345678", "我是某某，电话[电话]"),
        ("谢谢张警官和赵姐", "谢谢某警官和某姐"),
        ("我姓王", "我姓某"),
        ("感谢柴文杰同志", "感谢某某同志"),
        ("身份证 320102 19850612 4413 办了暂住证", "身份证 [身份证号] 办了暂住证"),
        ("证号１１０１０１１９９００３０７４５１Ｘ", "证号[身份证号]"),
        ("座机 8765 4321 白天有人", "座机 [电话] 白天有人"),
        ("拨打12345 13812345678", "拨打12345 [电话]"),
    ],
)
def test_names_and_numbers_red_team(text: str, expected: str) -> None:
    assert mask_personal_data(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "今天很高兴，王府井的服务大厅环境好",
        "张家港来的外地人办证也很方便",
        "金华市黄山路向阳社区文明安全",
        "医保局王牌服务，江山路营业厅",
        "班主任老师和向老师反映过，向医生咨询过",
        "用小程序办的，一小时，不小于3次",
        "2024-03-05 10:30来的，等了45分钟",
        "2024.03.05 14.30.22 叫到 A023 号",
        "打了5次12345热线，110也打过，收费1,280元",
        "一二三四五个窗口只开了一个",
    ],
)
def test_look_alikes_stay(text: str) -> None:
    result = redact(text)
    assert result.text == text, result.text


def test_everything_outside_a_mask_stays_as_typed() -> None:
    text = "电话\u200b138.1234.5678，工作人员张伟，  空格  和 emoji 🙂 都在"
    spans = find_personal_data(text)
    masked = redact(text).text
    kept = [text[a.end : b.start] for a, b in itertools.pairwise([Span(0, 0, ""), *spans])]
    kept.append(text[spans[-1].end :])
    for piece in kept:
        assert piece in masked


# --- measured on the labelled comments ------------------------------------------------

_DATA = Path(__file__).parent / "data" / "redaction_comments.jsonl"
_NAME_KINDS = {"name", "surname"}
_NUMBER_KINDS = {"phone", "id_number", "card"}


def _score(rows: list[dict[str, Any]], kinds: set[str], found: set[str]) -> tuple[float, float]:
    """Recall (labelled spans fully masked) and precision (masks on a labelled span)."""
    from survey.services.redaction import _digit

    labelled = caught = predicted = right = 0
    for row in rows:
        text = row["text"]
        gold = [s for s in row["spans"] if s["kind"] in kinds]
        spans = [s for s in find_personal_data(text) if s.kind in found]
        covered = {i for s in spans for i in range(s.start, s.end)}
        for span in gold:
            labelled += 1
            # For numbers the digits must go; a bracket or "+" around them may stay.
            needed = [
                i
                for i in range(span["start"], span["end"])
                if kinds == _NAME_KINDS or _digit(text[i]) is not None or text[i] in "Xx"
            ]
            caught += all(i in covered for i in needed)
        for span in spans:
            predicted += 1
            right += any(span.start < g["end"] and g["start"] < span.end for g in gold)
    return caught / labelled, right / predicted


@pytest.fixture(scope="module")
def comments() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in _DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    return rows


# Measured 2026-12-06 (docs/security.md): names recall 0.881, precision 0.989 on all
# 519 comments, 0.814 / 0.974 on the 50 "final" ones written after all tuning (the
# pages promise "about 4 in 5"); numbers recall 1.000, precision 0.990 (the one
# extra mask is a 工单号, masked on purpose).  Margin: about two points.
@pytest.mark.parametrize(
    ("split", "min_recall", "min_precision"),
    [(None, 0.86, 0.97), ("final", 0.79, 0.94)],
)
def test_name_precision_and_recall(
    comments: list[dict[str, Any]], split: str | None, min_recall: float, min_precision: float
) -> None:
    rows = [row for row in comments if split in (None, row["split"])]
    recall, precision = _score(rows, _NAME_KINDS, {"name", "surname"})
    assert recall >= min_recall and precision >= min_precision, (recall, precision)


def test_number_precision_and_recall(comments: list[dict[str, Any]]) -> None:
    recall, precision = _score(comments, _NUMBER_KINDS, {"phone", "id_number", "card", "number"})
    assert recall == 1.0 and precision >= 0.97, (recall, precision)


def test_the_segmenter_loads_quietly_once() -> None:
    """jieba prints its start-up to stderr unless told not to; loading is per process."""
    code = (
        "import time; from survey.services.redaction import redact\n"
        "redact('工作人员张伟')\n"
        "t = time.perf_counter(); redact('工作人员李娜'); assert time.perf_counter() - t < 0.2\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("张王李欧阳小老主任的电话一三八零幺１2 .-_\u200b\u00a0Xx号很好"),
        max_size=60,
    )
)
def test_any_text_keeps_its_unmasked_parts_in_order(text: str) -> None:
    spans = find_personal_data(text)
    masked = redact(text).text
    position = 0
    last = 0
    for span in spans:
        assert last <= span.start < span.end <= len(text)
        piece = text[last : span.start]
        found = masked.find(piece, position)
        assert found >= 0
        position = found + len(piece)
        last = span.end
    assert masked.endswith(text[last:])
