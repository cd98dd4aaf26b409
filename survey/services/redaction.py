"""Masking personal data in free-text comments (个人信息脱敏) before they are stored.

Comments go verbatim to the unit they are about (DESIGN §4), so whatever
identifies a person must go first: phone numbers (mobile with or without +86,
spaced or hyphenated; landlines with area code), ID-card numbers (18 digits,
last may be X; old 15-digit ones), e-mail addresses, other long digit runs
(bank cards) and names in the usual forms ("张先生", "李女士", "我叫王小明").
The original text is never stored: callers store only :func:`redact`'s result.

Full-width digits (１３８…) are matched like ASCII ones; the replacement keeps
the rest of the comment exactly as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Replacement tokens: visible to the unit, so it knows something was removed.
MASK_PHONE = "[电话]"
MASK_ID_NUMBER = "[身份证号]"
MASK_EMAIL = "[邮箱]"
MASK_NUMBER = "[号码]"
MASK_NAME = "某"

# Full-width digits, plus, hyphen and parentheses → ASCII, one character for
# one, so match positions in the folded text are positions in the original.
_FOLD = str.maketrans("０１２３４５６７８９＋－（）　ｘＸ", "0123456789+-() xX")

_SEPARATOR = r"[ \-]?"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_MOBILE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)?86" + _SEPARATOR + r")?1[3-9]\d(?:" + _SEPARATOR + r"\d){8}(?!\d)"
)
_LANDLINE = re.compile(
    r"(?<![\d(])(?:\(0\d{2,3}\)|0\d{2,3})" + _SEPARATOR + r"\d{3,4}" + _SEPARATOR + r"\d{4}(?!\d)"
)
# Bank cards (16–19 digits, often in groups of four) before phone numbers, so
# that no phone-shaped piece of a card number is taken out of it alone.
_CARD = re.compile(r"(?<!\d)\d(?:" + _SEPARATOR + r"\d){15,18}(?!\d)")
# Anything else that is a long run of digits: bank cards, account numbers.
_LONG_DIGITS = re.compile(r"(?<!\d)\d(?:" + _SEPARATOR + r"\d){10,}(?!\d)")

_TITLES = "先生|女士|小姐|同志|师傅|阿姨|大爷|大妈|老师|医生|护士"
# The common surnames (百家姓 by frequency; they cover most people), so that
# "这位先生" or "那个女士" keep their words while "张先生" loses the name.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
    "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟"
    "殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
)
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|令狐|夏侯"
_NAME_WITH_TITLE = re.compile(
    r"(?:" + _COMPOUND_SURNAMES + r"|[" + _SURNAMES + r"])(?:[\u4e00-\u9fff](?="
    r"(?:" + _TITLES + r")))?(?=(?:" + _TITLES + r"))"
)
# "我叫王小明", "我是张三", "姓名：李四", "名字叫赵五": the name after.
_SELF_INTRODUCTION = re.compile(
    r"(?:我叫|我是|本人|姓名[:：]?\s*|名字[叫是]?[:：]?\s*)"
    # Three characters only when the name visibly ends there, else two.
    r"([\u4e00-\u9fff]{3}(?![\u4e00-\u9fff])|[\u4e00-\u9fff]{2})"
)
# Words that follow "我是" without being a name ("我是群众", "我是本地人").
_NOT_NAMES = (
    "群众",
    "市民",
    "居民",
    "村民",
    "老百姓",
    "本地",
    "外地",
    "一名",
    "一个",
    "个体",
    "企业",
    "学生",
    "退休",
    "来办",
    "第一",
    "去办",
    "在",
)


@dataclass(frozen=True)
class Redaction:
    """The masked text and how many pieces of each kind were masked."""

    text: str
    masked: dict[str, int]

    @property
    def changed(self) -> bool:
        return any(self.masked.values())


def _mask(text: str, pattern: re.Pattern[str], token: str) -> tuple[str, int]:
    folded = text.translate(_FOLD)
    pieces: list[str] = []
    last = 0
    count = 0
    for match in pattern.finditer(folded):
        pieces.append(text[last : match.start()])
        pieces.append(token)
        last = match.end()
        count += 1
    pieces.append(text[last:])
    return "".join(pieces), count


def _mask_self_introductions(text: str) -> tuple[str, int]:
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        name = match.group(1)
        if name.startswith(_NOT_NAMES):
            return match.group(0)
        count += 1
        return match.group(0)[: match.start(1) - match.start(0)] + MASK_NAME * len(name)

    return _SELF_INTRODUCTION.sub(replace, text), count


def redact(text: str) -> Redaction:
    """Mask personal data in ``text``; the order matters (longest patterns first)."""
    masked: dict[str, int] = {}
    text, masked["email"] = _mask(text, _EMAIL, MASK_EMAIL)
    text, masked["id_number"] = _mask(text, _ID_NUMBER, MASK_ID_NUMBER)
    text, masked["card"] = _mask(text, _CARD, MASK_NUMBER)
    text, masked["mobile"] = _mask(text, _MOBILE, MASK_PHONE)
    text, masked["landline"] = _mask(text, _LANDLINE, MASK_PHONE)
    text, masked["number"] = _mask(text, _LONG_DIGITS, MASK_NUMBER)
    text, masked["name"] = _mask(text, _NAME_WITH_TITLE, MASK_NAME)
    text, introductions = _mask_self_introductions(text)
    masked["name"] += introductions
    return Redaction(text=text, masked=masked)


def mask_personal_data(text: str) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text
