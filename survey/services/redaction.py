"""Masking personal data in free-text comments (个人信息脱敏) before they are stored.

Comments go verbatim to the unit they are about (DESIGN §4), so whatever
identifies a person must go first.  The original text is never stored: callers
store only :func:`redact`'s result.

Numbers (phone, ID card, bank card, other long digit runs) are found after
normalising what people use to slip them past a filter: full-width and other
Unicode digits, Chinese numerals (一三八…, 幺, 壹贰叁…, 〇/○), invisible
characters (zero-width spaces, joiners, BOM, word joiner, soft hyphen) and any
separators between digits (spaces of every width, ``.`` ``/`` ``_`` ``-``
``" - "``, brackets).  Each match is mapped back onto the span of the original
text it came from, so the rest of the comment stays exactly as typed.  Short
numbers stay readable: dates, amounts, "3 次", the 12345 hotline.

Names of people, citizens' and staff members' alike, are found with jieba's
segmenter (its dictionary's person-name tag ``nr``, and new words its HMM
finds that start with a surname) checked against a list of surnames, plus
rules for the forms the tagger misses: surname + title ("李主任", "张警官",
"王女士" → "某主任"), surname + given name + title ("覃海涛警官"), familiar
forms ("小王", "老李" → "小某"), a name after a staff noun ("工作人员张伟",
"接线员陈静") or a self-introduction ("我叫王小明", "我姓王").  A full name
becomes "某某" whatever its length; a surname alone becomes "某", so the role
stays readable.  Place and organisation names that start like a name
(张家港, 王府井) and common words the tagger calls names (文明, 谢谢, 向阳)
stay.  How many names this catches is measured on a labelled set of comments
(tests/app/data/redaction_comments.jsonl, docs/security.md).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Replacement tokens: visible to the unit, so it knows something was removed.
MASK_PHONE = "[电话]"
MASK_ID_NUMBER = "[身份证号]"
MASK_EMAIL = "[邮箱]"
MASK_NUMBER = "[号码]"
MASK_NAME = "某"
#: A full name, whatever its length (the length would say something).
MASK_FULL_NAME = "某某"


@dataclass(frozen=True)
class Span:
    """A piece of personal data in the original text: ``text[start:end]``."""

    start: int
    end: int
    kind: str  # "phone", "id_number", "card", "number", "email", "name", "surname"


@dataclass(frozen=True)
class Redaction:
    """The masked text and how many pieces of each kind were masked."""

    text: str
    masked: dict[str, int]

    @property
    def changed(self) -> bool:
        return any(self.masked.values())


_TOKENS = {
    "phone": MASK_PHONE,
    "id_number": MASK_ID_NUMBER,
    "card": MASK_NUMBER,
    "number": MASK_NUMBER,
    "email": MASK_EMAIL,
    "name": MASK_FULL_NAME,
    "surname": MASK_NAME,
}

# --- normalisation -----------------------------------------------------------------

_CHINESE_DIGITS = {
    **dict.fromkeys("零〇○０", "0"),
    **dict.fromkeys("一壹幺", "1"),
    **dict.fromkeys("二贰貳", "2"),
    **dict.fromkeys("三叁參叄", "3"),
    **dict.fromkeys("四肆", "4"),
    **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆陸", "6"),
    **dict.fromkeys("七柒", "7"),
    **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖", "9"),
}
# Between two digits of one number; what is not here (":", ",", "、", letters,
# other words) ends it, so "10:30" or "1,280" are never joined to a neighbour.
_SEPARATORS = frozenset("-‐‑‒–—―−－﹣.．。·・•/／\\＼_＿()（）[]【】~～*＊")
#: At most this many separator characters between two digits (" - " is three).
_MAX_GAP = 3
# Invisible characters that are not format characters (Cf) in Unicode.
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u034f\u180b\u180c\u180d")


def _is_invisible(char: str) -> bool:
    return char in _INVISIBLE_EXTRA or unicodedata.category(char) == "Cf"


def _is_space(char: str) -> bool:
    return unicodedata.category(char) == "Zs" or char == "\t"


def _digit(char: str) -> str | None:
    if "0" <= char <= "9":
        return char
    if char < "\u00b2":  # the rest of ASCII and Latin-1 up to the superscripts
        return None
    chinese = _CHINESE_DIGITS.get(char)
    if chinese is not None:
        return chinese
    # Full-width, Arabic-Indic, mathematical, circled (①) and superscript digits.
    value = unicodedata.digit(char, None)
    return None if value is None else str(value)


def _normalised(text: str) -> tuple[str, list[int]]:
    """``text`` without invisible characters and with full-width forms folded.

    Returns the folded text and, for each of its characters, the index in
    ``text`` it came from (one folded character per kept original one).
    """
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if _is_invisible(char):
            continue
        if "\uff01" <= char <= "\uff5e":
            char = chr(ord(char) - 0xFEE0)
        elif char == "\u3000":
            char = " "
        chars.append(char)
        origin.append(index)
    return "".join(chars), origin


# --- numbers -----------------------------------------------------------------------

_MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
# Area code (0 + two or three digits) and a seven- or eight-digit number.
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")
_ID_18 = re.compile(r"\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]")
_ID_15 = re.compile(r"\d{6}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
_YEAR = re.compile(r"(?:19|20)\d{2}")
#: Longest digit string that can be one thing (a +86 mobile is 15, a card 19).
_LONGEST = 19
#: A number of unknown shape this long is masked anyway (account numbers, cards).
_LONG_NUMBER = 11
# A short number right after one of these words is a phone number ("座机 8765 4321").
_PHONE_CONTEXT = re.compile(
    r"(?:电话|手机|座机|号码|联系|拨打|致电|打给|tel|call|qq|微信|vx)", re.I
)


def _shape(groups: list[_Group]) -> str | None:
    """What a run of digit groups is, if it is one of the shapes masked."""
    digits = "".join(group.digits for group in groups)
    if "X" in digits[:-1]:
        return None
    if len(digits) == 18 and _ID_18.fullmatch(digits):
        return "id_number"
    if "X" in digits:
        return None
    if _MOBILE.fullmatch(digits):
        return "phone"
    # The area code is written apart or not at all ("2024.03.05 14.30" is no number).
    if _LANDLINE.fullmatch(digits) and (len(groups) == 1 or 3 <= len(groups[0].digits) <= 4):
        return "phone"
    if len(digits) == 15 and _ID_15.fullmatch(digits):
        return "id_number"
    # Cards are written in one piece or in equal groups ("6222 0212 3456 7890 123"),
    # so "12345 13812345678" is the hotline and a mobile, not a card.
    equal_groups = len({len(group.digits) for group in groups[:-1]}) <= 1 and (
        len(groups) == 1 or len(groups[-1].digits) <= len(groups[0].digits)
    )
    if 16 <= len(digits) <= _LONGEST and equal_groups:
        return "card"
    return None


@dataclass
class _Group:
    """Digits written without a separator between them, and where they are."""

    digits: str
    start: int
    end: int


def _digit_runs(text: str) -> Iterator[list[_Group]]:
    """Runs of digit groups joined by at most :data:`_MAX_GAP` separators."""
    run: list[_Group] = []
    gap = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        digit = _digit(char)
        if digit is None and char in "XxＸｘ" and run and gap == 0:
            # The check character of an ID number ends the run it closes.
            digit = "X"
        if digit is not None:
            if run and gap == 0:
                run[-1].digits += digit
                run[-1].end = index + 1
            else:
                run.append(_Group(digit, index, index + 1))
            gap = 0
        elif _is_invisible(char):
            pass
        elif run and (char in _SEPARATORS or _is_space(char)) and gap < _MAX_GAP:
            gap += 1
        elif run:
            yield run
            run, gap = [], 0
        index += 1
    if run:
        yield run


def _date_like(groups: list[_Group]) -> bool:
    return len(groups) > 1 and bool(_YEAR.fullmatch(groups[0].digits))


def _number_spans(text: str) -> Iterator[Span]:
    for run in _digit_runs(text):
        kept: list[_Group] = []
        i = 0
        while i < len(run):
            best: tuple[int, str] | None = None
            length = 0
            for j in range(i, len(run)):
                length += len(run[j].digits)
                if length > _LONGEST:
                    break
                kind = _shape(run[i : j + 1])
                if kind is not None:
                    best = (j + 1, kind)
            if best is None:
                kept.append(run[i])
                i += 1
                continue
            yield from _long_number(kept)
            kept = []
            end, kind = best
            yield Span(_extend_left(text, run[i].start), run[end - 1].end, kind)
            i = end
        yield from _long_number(kept)
        if len(run) <= 2 and 7 <= sum(len(g.digits) for g in run) <= 10:
            # A local number without area code is only a phone number when the
            # comment says so just before it.
            before = text[max(0, run[0].start - 8) : run[0].start]
            if _PHONE_CONTEXT.search(before) and not _date_like(run):
                yield Span(run[0].start, run[-1].end, "phone")


def _long_number(groups: list[_Group]) -> Iterator[Span]:
    """Consecutive groups that matched no shape: masked when they are long."""
    if sum(len(g.digits) for g in groups) >= _LONG_NUMBER and not _date_like(groups):
        yield Span(groups[0].start, groups[-1].end, "number")


def _extend_left(text: str, start: int) -> int:
    """Take a "+" or an opening bracket just before a number with it."""
    if start > 0 and text[start - 1] in "+＋(（":
        return start - 1
    return start


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


def _email_spans(folded: str, origin: list[int]) -> Iterator[Span]:
    for match in _EMAIL.finditer(folded):
        yield Span(origin[match.start()], origin[match.end() - 1] + 1, "email")


# --- names -------------------------------------------------------------------------

# 百家姓 and the surnames of today's census, most frequent first; characters
# that are far more often a word than a surname (于 as "in", 向 as "towards",
# 时, 明, 全 …) are in _WEAK_SURNAMES and only count with stronger evidence.
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙"
    "史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟"
    "殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游"
    "辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费"
    "卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池"
    "查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海"
    "阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏"
    "鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭"
    "干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由萧訾禤仉亓郏缑言凤钮酆郦贲璩桓庹逄郗郇琚虢靖宦谯隗佴牧"
)
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "令狐",
    "夏侯",
    "端木",
    "西门",
    "南宫",
    "独孤",
    "澹台",
    "公冶",
    "宗政",
    "濮阳",
    "淳于",
    "单于",
    "申屠",
    "轩辕",
    "钟离",
    "闻人",
    "万俟",
    "呼延",
    "百里",
    "东郭",
    "拓跋",
    "赫连",
)
_WEAK_SURNAMES = frozenset("于向时明全和国平来都海南原位区门云成万文安高方常江林马白金黄石程")
# After a surname, a title or form of address: "李主任", "张警官", "王女士", "赵姐".
_TITLES = (
    "先生|女士|小姐|同志|师傅|阿姨|大爷|大妈|大姐|大哥|姐|哥|老师|医生|大夫|护士|护士长|"
    "主任|科长|处长|局长|所长|警官|队长|站长|书记|经理|组长|股长|院长|部长|主管|专员|干事|"
    "会计|律师|法官|社工|委员|厅长|区长|县长|市长|镇长|乡长|村长|行长|馆长|校长|台长|秘书|"
    "助理|师父|工|总"
)
_TITLE = re.compile(r"(?:副|代|老)?(?:" + _TITLES + r")")
# Nouns for a staff member or a person, after which a name often follows
# ("工作人员张伟", "接线员陈静"), and self-introductions ("我叫王小明").
_CUES = (
    "工作人员",
    "接线员",
    "话务员",
    "民警",
    "辅警",
    "警官",
    "警察",
    "医生",
    "护士",
    "同志",
    "柜员",
    "客服",
    "社工",
    "网格员",
    "干部",
    "书记",
    "主任",
    "科长",
    "局长",
    "所长",
    "老师",
    "专员",
    "经办人",
    "办理人",
    "人员",
    "负责人",
    "窗口人员",
    "办事员",
    "审批员",
    "受理员",
    "管理员",
    "协管员",
    "业务员",
    "保安",
    "导办员",
    "志愿者",
    "师傅",
    "我叫",
    "我是",
    "本人",
    "姓名",
    "名字",
    "叫做",
    "名叫",
    "叫",
    "找了",
    "找",
    "问了",
    "感谢",
    "谢谢",
    "表扬",
    "投诉",
)
# Words the tagger calls names or that open like one after a cue, and place
# names that begin with a surname.
_NOT_NAMES = frozenset(
    [
        "张家港",
        "张家口",
        "张家界",
        "王府井",
        "文明",
        "谢谢",
        "向阳",
        "高兴",
        "王牌",
        "金华",
        "黄山",
        "安全",
        "常规",
        "方便",
        "江山",
        "林业",
        "马上",
        "成本",
        "周到",
        "石头",
        "程序",
        "文化",
        "万一",
        "于是",
        "白跑",
        "高效",
        "明白",
        "明确",
        "全部",
        "平安",
        "和平",
        "国家",
        "海关",
        "南京",
        "原来",
        "来回",
        "都是",
        "时间",
        "时候",
        "区域",
        "门口",
        "云南",
        "黄河",
        "长江",
        "江西",
        "江苏",
        "湖南",
        "沈阳",
        "洛阳",
        "贵阳",
        "南阳",
        "信阳",
        "岳阳",
        "邵阳",
        "阳光",
        "白云",
        "温州",
        "常州",
        "高新",
        "高速",
        "金融",
        "朱家角",
        "周庄",
        "宋庄",
        "李村",
        "黄埔",
        "武汉",
        "武昌",
        "宁波",
        "宁夏",
        "苏州",
        "杭州",
        "徐州",
        "邢台",
        "邯郸",
        "包头",
        "柳州",
        "贺州",
        "韶关",
        "连云港",
        "石家庄",
        "唐山",
        "秦皇岛",
        "廊坊",
        "孟州",
        "梅州",
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
        "业主",
        "家属",
        "患者",
        "病人",
        "老人",
        "残疾人",
        "低保户",
        "党员",
        "志愿者",
        "代表",
        "房东",
        "租户",
        "申请人",
        "当事人",
        "工作",
        "态度",
        "服务",
        "效率",
        "窗口",
        "排队",
        "热线",
        "大厅",
        "负责",
        "耐心",
        "热情",
        "及时",
        "认真",
        "专业",
        "细心",
        "解决",
        "办理",
        "华为",
        "海尔",
        "万达",
        "万科",
        "国美",
        "苏宁",
        "京东",
        "顺丰",
        "中通",
        "申通",
        "圆通",
        "韵达",
        "美团",
        "白云区",
        "天河",
        "海淀",
        "朝阳",
        "宝安",
        "龙岗",
        "南山",
        "福田",
        "罗湖",
        "江北",
        "江南",
        "黄浦",
        "徐汇",
        "长宁",
        "静安",
        "浦东",
        "闵行",
        "宝山",
        "嘉定",
        "金山",
        "主任",
        "科长",
        "局长",
        "所长",
        "警官",
        "医生",
        "护士",
        "老师",
        "同志",
        "先生",
        "女士",
        "师傅",
    ]
)
#: A dictionary word this frequent is a word, even when jieba's dictionary tags
#: it as a name (文明 6584, 温馨 335, 银行卡 216); names it knows are rarer
#: (刘德华 37, 王小明 3).
_COMMON_WORD = 100
# A three-character word ending like this is a place or an office (高新区, 车管所).
_PLACE_ENDINGS = tuple("路街区市县镇乡村港道巷桥湾庄所局厅站院处馆场园")
_PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
# Prepositions, conjunctions, pronouns, particles, numerals, punctuation.
_PARTICLE_TAGS = frozenset({"p", "c", "r", "m", "q", "uj", "ul", "uv", "uz", "f", "x", "y"})
# The same and adverbs and verbs.
_FUNCTION_TAGS = frozenset(
    {"p", "c", "d", "r", "v", "m", "q", "uj", "ul", "uv", "uz", "f", "x", "y"}
)
_CJK = re.compile(r"[\u3400-\u9fff]")
# Words that "小"/"老" + surname form and that are not people.
_FAMILIAR_WORDS = frozenset(
    [
        "小于",
        "小时",
        "小区",
        "小康",
        "小平",
        "小学",
        "小组",
        "小姐",
        "小米",
        "小程",
        "老年",
        "老师",
        "老家",
        "老乡",
        "老化",
        "老旧",
        "老式",
        "老百",
        "老板",
        "老人",
        "老鼠",
        "老虎",
        "老大",
        "老实",
        "老是",
        "老化",
        "老字",
        "老公",
        "老婆",
        "老总",
        "老爷",
        "小儿",
        "小孩",
        "小车",
        "小吃",
        "小店",
        "小说",
        "小型",
        "小微",
        "小额",
        "小孔",
        "小路",
        "小门",
        "小屋",
        "小项",
        "小票",
        "小白",
        "老城",
        "小明",
        "小区",
        "小国",
        "老国",
        "小平",
        "小和",
        "小来",
        "小都",
        "小海",
        "小南",
        "小原",
        "小位",
        "小门",
        "老门",
        "小云",
        "小成",
        "小万",
        "小全",
        "小时",
        "老时",
        "老于",
        "小向",
        "老向",
        "小安",
        "小文",
        "小江",
        "小金",
        "小石",
        "小方",
        "小高",
        "小程",
        "老程",
        "小常",
        "老常",
    ]
)

_lock = threading.Lock()
_tagger: Any = None
_frequency: dict[str, int] = {}


def warm_up() -> None:
    """Load the segmenter's dictionary (about a second) once for this process.

    Called lazily by the first comment; gunicorn calls it when a worker starts
    (gunicorn.conf.py) so that no citizen waits for it.
    """
    global _tagger, _frequency
    if _tagger is not None:
        return
    with _lock:
        if _tagger is not None:
            return
        import jieba

        # jieba logs its start-up to stderr at DEBUG; keep its warnings only.
        jieba.setLogLevel(logging.WARNING)
        # The dictionary cache goes to the system temporary directory
        # (jieba.cache); jieba writes it atomically, so processes can share it.
        jieba.dt.initialize()
        import jieba.posseg

        _frequency = jieba.dt.FREQ
        _tagger = jieba.posseg.dt


@dataclass
class _Token:
    word: str
    flag: str
    start: int  # in the folded text
    end: int


def _tokens(folded: str) -> list[_Token]:
    """jieba's words with their dictionary tags.

    jieba.posseg's own HMM would also tag the words it does not know, but it
    costs three to four times as much for the same accuracy on comments written
    blind (docs/respondent.md), so the plain segmenter is used.
    """
    warm_up()
    tokens: list[_Token] = []
    position = 0
    tags = _tagger.word_tag_tab
    for word in _tagger.tokenizer.cut(folded):
        flag = tags.get(word)
        if flag is None:
            # Found by the HMM, not in the dictionary: a new word, which in a
            # comment is most often a name.
            flag = "nr" if _new_word_is_name(word) else "x"
        tokens.append(_Token(word, flag, position, position + len(word)))
        position += len(word)
    return tokens


def _new_word_is_name(word: str) -> bool:
    """Whether a word the HMM found (not in the dictionary) is taken for a name."""
    surname = _surname_length(word)
    return (
        bool(surname)
        and 2 <= len(word) <= 3 + (surname == 2)
        # "来测", "管一管": a verb phrase, not 来/管 and a given name.
        and word[:surname] not in _WEAK_SURNAMES
        and "一" not in word
        and _all_cjk(word)
    )


def _surname_length(word: str) -> int:
    """How many leading characters of ``word`` are a surname (0: none)."""
    if word[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in _SURNAMES else 0


def _is_common_word(word: str) -> bool:
    return (
        word in _NOT_NAMES
        or _frequency.get(word, 0) >= _COMMON_WORD
        or bool(_TITLE.fullmatch(word))
        or (len(word) == 3 and word.endswith(_PLACE_ENDINGS))
        # "戴眼镜": a surname character and a frequent word is a phrase.
        or (len(word) == 3 and _frequency.get(word[1:], 0) >= 10 * _COMMON_WORD)
    )


def _all_cjk(word: str) -> bool:
    return all(_CJK.match(char) for char in word)


class _NameFinder:
    """Names in one (folded) text; spans are in folded positions."""

    def __init__(self, folded: str) -> None:
        self.text = folded
        self.tokens = _tokens(folded)
        self.starts = {token.start: k for k, token in enumerate(self.tokens)}
        self.spans: list[Span] = []

    def find(self) -> list[Span]:
        tokens = self.tokens
        for k, token in enumerate(tokens):
            if token.flag in _PERSON_TAGS or (
                # "窦|志远": an untagged surname before a tagged given name
                len(token.word) == _surname_length(token.word)
                and k + 1 < len(tokens)
                and tokens[k + 1].flag in _PERSON_TAGS
            ):
                self._tagged(k)
            if self.text.endswith(_CUES, 0, token.end):
                self._after_cue(k)
        self._titles()
        self._familiar()
        self._surname_stated()
        return self.spans

    def _add(self, start: int, end: int, kind: str) -> None:
        self.spans.append(Span(start, end, kind))

    def _name_at(self, k: int, *, cued: bool) -> int:
        """The end of a full name starting at token ``k``, or -1.

        A name is two to four CJK characters starting with a surname, from one
        token or a surname token and a one- or two-character given name.
        """
        tokens = self.tokens
        if k >= len(tokens):
            return -1
        token = tokens[k]
        word = token.word
        surname = _surname_length(word)
        if not surname or not _all_cjk(word):
            return -1
        if word[:surname] in _WEAK_SURNAMES and not cued and token.flag not in _PERSON_TAGS:
            return -1
        if len(word) == surname and k + 1 < len(tokens):
            if token.flag in _FUNCTION_TAGS:
                return -1  # "和" in "警官和赵姐" is "and"
            given = tokens[k + 1]
            if given.flag in _PERSON_TAGS and _surname_length(given.word):
                return -1  # the next token is a name of its own
            if not (1 <= len(given.word) <= 2 and _all_cjk(given.word)):
                return -1
            if given.flag in _PERSON_TAGS and not _TITLE.fullmatch(given.word):
                return given.end  # "杜|宇航", "欧阳|娜娜"
            if (
                not _is_common_word(given.word)
                and (cued or token.flag in _PERSON_TAGS or surname == 2)
                and given.flag not in _FUNCTION_TAGS
            ):
                return given.end
            # A two-character given name is often a word too (立新, 建平, 海鹰):
            # after a tagged surname or a cue, only frequent words and
            # particles are refused.
            if (
                len(given.word) == 2
                and (cued or token.flag in _PERSON_TAGS)
                and given.flag not in _PARTICLE_TAGS
                and given.word not in _NOT_NAMES
                and not _TITLE.fullmatch(given.word)
                and _frequency.get(given.word, 0) < 10 * _COMMON_WORD
            ):
                return given.end
            return -1
        if not 2 <= len(word) <= 3 + (surname == 2) or len(word) == surname:
            return -1
        if word.endswith(_PLACE_ENDINGS) and len(word) == 3:
            return -1
        # After a cue a tagged name counts even when it is also a word (高峰, 李娜).
        if (not cued or token.flag not in _PERSON_TAGS) and _is_common_word(word):
            return -1
        if word in _NOT_NAMES or _TITLE.fullmatch(word[surname:]):
            return -1
        # After a cue, an unknown word is a name too; a known one must be tagged so.
        if token.flag in _PERSON_TAGS or _frequency.get(word, 0) == 0:
            return token.end
        return -1

    def _tagged(self, k: int) -> None:
        token = self.tokens[k]
        surname = _surname_length(token.word)
        if k + 1 < len(self.tokens) and self.tokens[k + 1].word in _PLACE_ENDINGS:
            return  # "林荫|路"
        if _TITLE.match(self.text, token.end) or (
            surname and _TITLE.fullmatch(token.word[surname:])
        ):
            return  # "李主任", "王强主任", "赵姐": the title rule decides
        end = self._name_at(k, cued=False)
        if end > 0:
            self._add(token.start, end, "name")

    def _after_cue(self, k: int) -> None:
        tokens = self.tokens
        nxt = k + 1
        # "工作人员：张伟", "我叫 王小明"
        while nxt < len(tokens) and tokens[nxt].word.strip() in ("", ":", "：", "是"):
            nxt += 1
        if nxt >= len(tokens):
            return
        end = self._name_at(nxt, cued=True)
        if end < 0:
            # The tagger glued the name to the next word ("接线员陈静说"): take
            # a surname and the given name up to the end of a token.
            token = tokens[nxt]
            if (
                len(token.word) == 3
                and _surname_length(token.word)
                and _all_cjk(token.word)
                and _frequency.get(token.word, 0) == 0
                and not _is_common_word(token.word)
            ):
                end = token.end
        if end > 0 and not _TITLE.match(self.text, end):
            self._add(tokens[nxt].start, end, "name")

    def _titles(self) -> None:
        """Surname (+ given name) right before a title: "李主任", "覃海涛警官"."""
        text = self.text
        for match in _TITLE.finditer(text):
            title_start = match.start()
            for surname in (2, 1):
                for given in (0, 1, 2):
                    start = title_start - given - surname
                    if start < 0:
                        continue
                    head = text[start : start + surname]
                    if surname == 2 and head not in _COMPOUND_SURNAMES:
                        continue
                    if surname == 1 and head not in _SURNAMES:
                        continue
                    if not self._title_name(start, surname, given, title_start):
                        continue
                    kind = "surname" if given == 0 else "name"
                    self._add(start, title_start, kind)
                    break
                else:
                    continue
                break

    def _title_name(self, start: int, surname: int, given: int, title_start: int) -> bool:
        text = self.text
        if not _all_cjk(text[start:title_start]):
            return False
        k = self.starts.get(start)
        if k is None:
            # Inside a word ("班主任老师"), unless the tagger glued it to "的".
            if not (
                start > 0 and text[start - 1] == "的" and self.starts.get(start - 1) is not None
            ):
                return False
        elif (
            # "向老师反映", "和赵姐": the character is not a name here, unless a
            # tagged given name follows ("戴|志强|处长").
            self.tokens[k].flag in _FUNCTION_TAGS - {"q"}
            and self.tokens[k].word == text[start : start + surname]
            and not (given and self._tagged_person(start + surname))
        ):
            return False
        if given:
            given_text = text[start + surname : title_start]
            # Any single character is a frequent word; only two-character ones say something.
            if (
                given == 2 and _is_common_word(given_text) and not self._tagged_person(start)
            ) or _TITLE.fullmatch(given_text):
                return False
            if given == 2 and self.starts.get(title_start) is None:
                return False
            # The name is not part of an ordinary word ("办公室主任", "黄山路所长").
            whole = text[start:title_start]
            if _frequency.get(whole, 0) and not self._tagged_person(start):
                return False
            if not (self._tagged_person(start) or start + surname in self.starts or surname == 2):
                return False
            previous = start - 1
            if previous >= 0 and _surname_length(text[previous]) and self._tagged_person(previous):
                return False
        else:
            # A title on its own ("医生") is not a surname + title; the surname
            # must end right before it.
            if self.starts.get(title_start) is None and not self._tagged_person(start):
                return False
            if text[title_start:].startswith(("总是", "总共", "总体", "总算", "工作")):
                return False
        return True

    def _tagged_person(self, start: int) -> bool:
        k = self.starts.get(start)
        return k is not None and self.tokens[k].flag in _PERSON_TAGS

    def _familiar(self) -> None:
        """ "小王", "老李": the surname goes, "小"/"老" stays."""
        text = self.text
        for match in re.finditer(r"[小老]([\u4e00-\u9fff])", text):
            surname = match.group(1)
            if surname not in _SURNAMES or match.group(0) in _FAMILIAR_WORDS:
                continue
            start = match.start()
            end = match.end()
            starts_token = start in self.starts or (start > 0 and text[start - 1] == "的")
            ends_token = end in self.starts or end == len(text)
            if not (starts_token and ends_token):
                continue
            self._add(start + 1, end, "surname")

    def _surname_stated(self) -> None:
        """ "我姓王", "他姓李"."""
        for match in re.finditer(r"姓([\u4e00-\u9fff]{1,2})", self.text):
            word = match.group(1)
            length = _surname_length(word)
            if length and word[:length] != "名":
                self._add(match.start(1), match.start(1) + length, "surname")


# --- putting it together -----------------------------------------------------------


def find_personal_data(text: str) -> list[Span]:
    """Every piece of personal data in ``text``, in order, not overlapping."""
    folded, origin = _normalised(text)
    spans = list(_number_spans(text))
    spans.extend(_email_spans(folded, origin))
    if _CJK.search(folded):
        for span in _NameFinder(folded).find():
            spans.append(Span(origin[span.start], origin[span.end - 1] + 1, span.kind))
    # Longest first at each position; a span inside one already taken is dropped.
    spans.sort(key=lambda span: (span.start, -span.end))
    kept: list[Span] = []
    for span in spans:
        if kept and span.start < kept[-1].end:
            continue
        kept.append(span)
    return kept


def redact(text: str) -> Redaction:
    """Mask personal data in ``text``; everything else stays as typed."""
    pieces: list[str] = []
    masked = dict.fromkeys(("email", "id_number", "card", "phone", "number", "name"), 0)
    last = 0
    for span in find_personal_data(text):
        pieces.append(text[last : span.start])
        pieces.append(_TOKENS[span.kind])
        masked["name" if span.kind == "surname" else span.kind] += 1
        last = span.end
    pieces.append(text[last:])
    return Redaction(text="".join(pieces), masked=masked)


def mask_personal_data(text: str) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text
