"""Chinese translations use full-width punctuation (，。：；（）？！) next to Chinese text.

ASCII punctuation stays where it belongs to a code, a number, a file suffix or a
URL (``1.1``, ``.csv``, ``SHA-256``) and inside placeholders (``%(name)s``).  A
placeholder in a Chinese message counts as Chinese text: ``%(unit)s (%(code)s)``
reads as 东湖区 (G04) and must be ``%(unit)s（%(code)s）``.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).parents[2] / "survey/translations/zh/LC_MESSAGES/messages.po"
#: Chinese characters and the full-width marks that sit among them.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef“”‘’…—"
HAS_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\([A-Za-z_0-9]+\)[-+ #0-9.]*[sdfgrx]|%[-+ #0-9.]*[sdfgr]|%%")
ASCII_MARKS = ",.:;()?!"
#: An ASCII mark with Chinese on one side (spaces between them do not excuse it).
BESIDE_CJK = re.compile(
    f"[{CJK}][ \t]*[{re.escape(ASCII_MARKS)}]|[{re.escape(ASCII_MARKS)}][ \t]*[{CJK}]"
)
#: Part of a code, number, file suffix or address: “.csv”, “1.1”, “http://”.
CODE_LIKE = re.compile(r"\.[A-Za-z0-9]|[A-Za-z0-9][.:][A-Za-z0-9/]|://")

#: msgid → why its translation keeps an ASCII mark beside Chinese text.
EXCEPTIONS: dict[str, str] = {
    "inclusion probability must be in (0, 1], got %(value)s in row %(row)s": (
        "(0, 1] is an interval in mathematical notation, written the same in Chinese"
    ),
}


def ascii_beside_chinese(text: str) -> list[str]:
    """The ASCII marks in ``text`` that touch Chinese characters, each with its context."""
    if not HAS_CJK.search(text):
        return []
    # A placeholder in a Chinese sentence stands for Chinese text (a name, a message).
    plain = PLACEHOLDER.sub("\u4e00", text)
    masked = CODE_LIKE.sub(lambda match: "x" * len(match.group(0)), plain)
    return [plain[max(0, m.start() - 3) : m.end() + 3] for m in BESIDE_CJK.finditer(masked)]


def test_the_check_finds_ascii_marks_and_spares_codes() -> None:
    assert ascii_beside_chinese("权重之和为 %(total)s, 不是 1") == ["和为 一, 不是"]
    assert ascii_beside_chinese("未导入 (请导入)")
    assert ascii_beside_chinese("%(unit)s (%(code)s)：人数太少")
    assert ascii_beside_chinese("保存成功.")
    assert ascii_beside_chinese("是否继续?")
    assert ascii_beside_chinese("单位：%(unit)s；原因：%(reason)s。") == []
    assert ascii_beside_chinese("只能导入 .csv 和 .xlsx 文件") == []
    assert ascii_beside_chinese("1.1 完成访问") == []
    assert ascii_beside_chinese("见 https://example.org/a 页面") == []
    assert ascii_beside_chinese("Weights saved.") == []


def test_chinese_translations_use_full_width_punctuation() -> None:
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    found = []
    for message in catalogue:
        if not message.id or message.id in EXCEPTIONS:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in EXCEPTIONS:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        for text in strings:
            for context in ascii_beside_chinese(text or ""):
                found.append(f"{key[:50]!r}: …{context}…")
    assert not found, "ASCII punctuation beside Chinese text:\n" + "\n".join(found)


def test_every_exception_is_still_in_the_catalogue() -> None:
    with CATALOGUE.open("rb") as handle:
        ids = {message.id for message in read_po(handle) if message.id}
    assert set(EXCEPTIONS) <= ids
